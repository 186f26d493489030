import type { ResolvedInstance } from '../config/roles.js';
import type { Logger } from '../logger.js';
import type { RoleRuntime } from '../roles/host.js';

/**
 * A vmail role instance on this site: the mailboxes of the domains its group serves
 * (design section 5).
 */
export class VmailInstance implements RoleRuntime {
  constructor(
    private instance: ResolvedInstance,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.log.debug({ group: this.instance.group }, 'vmail ready');
  }

  async stop(): Promise<void> {}

  reconfigure(instance: ResolvedInstance): void {
    this.instance = instance;
  }
}
