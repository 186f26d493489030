import type { HealthReason, HealthTask } from '../shared/api/status.js';

/** What a part of the service tells /healthz about itself: any part may use it (roles, stores). */
export interface HealthReporter {
  /** this part is impaired: /healthz says `degraded` with the message until recover() */
  degrade(component: string, message: string): void;
  recover(component: string): void;
}

/** Where a part reports work it runs in the background (a store check after the service listens): /healthz lists it. */
export interface TaskReporter {
  task(component: string, task: string, state: HealthTask['state'], message: string): void;
}

/** The reasons the service is degraded now, one per component, each with the time it began; and the background tasks. */
export class HealthBoard implements HealthReporter, TaskReporter {
  private readonly current = new Map<string, HealthReason>();
  private readonly running = new Map<string, HealthTask>();

  task(component: string, task: string, state: HealthTask['state'], message: string): void {
    const id = `${component}\u0000${task}`;
    const now = new Date().toISOString();
    const startedAt = state === 'running' ? now : (this.running.get(id)?.startedAt ?? now);
    this.running.set(id, { component, task, state, message, startedAt, finishedAt: state === 'running' ? null : now });
  }

  tasks(): HealthTask[] {
    return [...this.running.values()];
  }

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
