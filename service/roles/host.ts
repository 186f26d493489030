import type { RoleInstanceStatus } from '../../shared/api/status.js';
import type { RoleType } from '../../shared/api/roles.js';
import type { ResolvedInstance } from '../config/roles.js';
import type { Logger } from '../logger.js';

/** A running role instance. The roles (callstore/, vmail/) implement it; the host only starts and stops. */
export interface RoleRuntime {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A changed definition of the same instance (order, domains, ext): applied without a restart. */
  reconfigure(instance: ResolvedInstance): void;
}

export type RoleFactory = (instance: ResolvedInstance, log: Logger) => RoleRuntime;

interface Running {
  instance: ResolvedInstance;
  runtime: RoleRuntime;
  startedAt: string;
}

/**
 * Runs the enabled instances of this site and keeps them in line with the configuration:
 * `apply` starts what is new, stops what went away or was disabled, reconfigures the rest.
 */
export class RoleHost {
  private readonly running = new Map<string, Running>();
  private configured: ResolvedInstance[] = [];

  constructor(
    private readonly selfSiteId: string,
    private readonly factories: Record<RoleType, RoleFactory>,
    private readonly log: Logger,
  ) {}

  async apply(instances: readonly ResolvedInstance[]): Promise<void> {
    this.configured = [...instances];
    const wanted = new Map(instances.filter((i) => i.enabled && i.site === this.selfSiteId).map((i) => [i.name, i]));
    for (const [name, r] of this.running) {
      const next = wanted.get(name);
      if (!next || next.roletype !== r.instance.roletype) await this.stopOne(name);
    }
    for (const instance of wanted.values()) {
      const current = this.running.get(instance.name);
      if (current) {
        current.runtime.reconfigure(instance);
        current.instance = instance;
        continue;
      }
      const log = this.log.child({ role: instance.roletype, instance: instance.name });
      const runtime = this.factories[instance.roletype](instance, log);
      await runtime.start();
      this.running.set(instance.name, { instance, runtime, startedAt: new Date().toISOString() });
      log.info({ group: instance.group, order: instance.order }, 'role instance started');
    }
  }

  async stopAll(): Promise<void> {
    for (const name of [...this.running.keys()].reverse()) await this.stopOne(name);
  }

  private async stopOne(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    this.running.delete(name);
    await r.runtime.stop();
    this.log.info({ role: r.instance.roletype, instance: name }, 'role instance stopped');
  }

  /** The configured instances with their state here; `active`: the instances the Active-Passive election names. */
  status(active: ReadonlySet<string>): RoleInstanceStatus[] {
    return this.configured.map((i) => {
      const running = this.running.get(i.name);
      return {
        name: i.name,
        roletype: i.roletype,
        group: i.group,
        order: i.order,
        site: i.site,
        includeDomains: i.includeDomains,
        enabled: i.enabled,
        state: !i.enabled ? 'disabled' : i.site !== this.selfSiteId ? 'remote' : running ? 'running' : 'stopped',
        active: active.has(i.name),
        startedAt: running?.startedAt ?? null,
      };
    });
  }
}
