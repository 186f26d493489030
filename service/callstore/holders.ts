import type { ResolvedInstance } from '../config/roles.js';
import { groupKey, localHolderOf } from '../config/election.js';
import { groupsOf } from '../config/partition.js';

interface KnownInstance {
  /** `callstore:<group>` */
  group: string;
  /** the group's first include_domains entry; null for a default group (it serves what no other claims) */
  domain: string | null;
}

/**
 * Which callstore instance of this site holds the calls of a group (design section 7: every
 * instance of a group folds the group's calls, active or passive), found from the name of any
 * instance of the group, this site's or a peer's: a peer's event names the instance that took it
 * in there. Built from the configuration at each apply; the instances of a configuration a peer
 * sends are learnt as soon as its entry is received (`learn`), so its events that come in the
 * same batch, before the configuration is applied here, already find their group.
 */
export class GroupHolders {
  private readonly instances = new Map<string, KnownInstance>();
  private holders = new Map<string, string>();
  private local: string[] = [];

  constructor(private readonly selfSite: string) {}

  apply(resolved: readonly ResolvedInstance[]): void {
    const holders = new Map<string, string>();
    for (const [key, members] of groupsOf(resolved.filter((i) => i.roletype === 'callstore'))) {
      const holder = localHolderOf(members, this.selfSite);
      if (holder) holders.set(key, holder.name);
    }
    for (const i of resolved) if (i.roletype === 'callstore') this.instances.set(i.name, { group: groupKey(i), domain: i.includeDomains[0] ?? null });
    this.holders = holders;
    this.local = resolved.filter((i) => i.roletype === 'callstore' && i.site === this.selfSite).map((i) => i.name);
  }

  /** Learns the callstore instances of a configuration document a peer sent (its `instances`), without forgetting any. */
  learn(config: unknown): void {
    const list = (config as { instances?: unknown } | null)?.instances;
    if (!Array.isArray(list)) return;
    for (const raw of list) {
      const i = raw as { name?: unknown; roletype?: unknown; group?: unknown; include_domains?: unknown };
      if (typeof i.name !== 'string' || i.roletype !== 'callstore' || typeof i.group !== 'number') continue;
      if (this.instances.has(i.name)) continue;
      const domains = Array.isArray(i.include_domains) ? i.include_domains.filter((d): d is string => typeof d === 'string') : [];
      this.instances.set(i.name, { group: `callstore:${i.group}`, domain: domains[0] ?? null });
    }
  }

  /** The instance here that holds the calls of the group of `instance` (of any site), if the group has one here. */
  holderOf(instance: string): string | undefined {
    const known = this.instances.get(instance);
    return known ? this.holders.get(known.group) : undefined;
  }

  /** This site's callstore instances, enabled or not. */
  localInstances(): readonly string[] {
    return this.local;
  }

  /**
   * A domain the calls of an instance's group belong to, for replication's domain filter: the
   * group's first include_domains entry (a site serving the group serves it); undefined for a
   * default group (every site that serves "all"), and for an instance not known here.
   */
  domainOfInstance(instance: string): string | undefined {
    return this.instances.get(instance)?.domain ?? undefined;
  }
}
