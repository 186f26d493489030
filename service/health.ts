import type { HealthReason } from '../shared/api/status.js';

/** What a part of the service tells /healthz about itself: any part may use it (roles, stores). */
export interface HealthReporter {
  /** this part is impaired: /healthz says `degraded` with the message until recover() */
  degrade(component: string, message: string): void;
  recover(component: string): void;
}

/** The reasons the service is degraded now, one per component, each with the time it began. */
export class HealthBoard implements HealthReporter {
  private readonly current = new Map<string, HealthReason>();

  degrade(component: string, message: string): void {
    const since = this.current.get(component)?.since ?? new Date().toISOString();
    this.current.set(component, { component, message, since });
  }

  recover(component: string): void {
    this.current.delete(component);
  }

  reasons(): HealthReason[] {
    return [...this.current.values()];
  }
}
