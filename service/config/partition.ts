import type { RoleType } from '../../shared/api/roles.js';
import { normalizeDomain, suffixesOf } from './domains.js';
import type { ResolvedInstance } from './roles.js';

/**
 * Active-Passive within a group (design section 3): the active instance is the enabled one with
 * the lowest `order` whose site is up. Pure: the caller says which sites are up.
 */
export function activeInstanceOf(
  groupMembers: readonly ResolvedInstance[],
  isSiteUp: (siteId: string) => boolean,
): ResolvedInstance | undefined {
  let best: ResolvedInstance | undefined;
  for (const i of groupMembers) {
    if (!i.enabled || !isSiteUp(i.site)) continue;
    if (!best || i.order < best.order) best = i;
  }
  return best;
}

export function groupKey(i: Pick<ResolvedInstance, 'roletype' | 'group'>): string {
  return `${i.roletype}:${i.group}`;
}

/** Instances by `roletype:group`, each group in Active-Passive order. */
export function groupsOf(instances: readonly ResolvedInstance[]): Map<string, ResolvedInstance[]> {
  const groups = new Map<string, ResolvedInstance[]>();
  for (const i of instances) {
    const key = groupKey(i);
    const members = groups.get(key) ?? [];
    members.push(i);
    groups.set(key, members);
  }
  for (const members of groups.values()) members.sort((a, b) => a.order - b.order);
  return groups;
}

/** Names of the active instance of every group. */
export function activeInstances(instances: readonly ResolvedInstance[], isSiteUp: (siteId: string) => boolean): Set<string> {
  const active = new Set<string>();
  for (const members of groupsOf(instances).values()) {
    const a = activeInstanceOf(members, isSiteUp);
    if (a) active.add(a.name);
  }
  return active;
}

export interface PartitionMatch {
  group: number;
  /** the include_domains entry that matched; null when the default group took the domain */
  matched: string | null;
  /** enabled members in Active-Passive order */
  members: ResolvedInstance[];
}

/**
 * Domain-tree partitioning (design section 3), built once per configuration and queried per
 * event: the group whose include_domains holds the longest suffix of the domain on label
 * boundaries serves it; the default group (empty include_domains) serves the rest.
 * A group's members are its enabled instances. A group whose instances are all disabled still
 * holds its domains, with no member: its domains are not served now (no active instance, a
 * temporary state: sources keep their events for when an instance is enabled again) rather than
 * silently handed to the default group. Its claims come after those of enabled instances, whose
 * fields alone are validated. A validated configuration claims each domain once per roletype;
 * on an invalid one the lowest group number wins, so the answer is still deterministic.
 */
export class PartitionTable {
  private readonly byRole = new Map<RoleType, { claims: Map<string, number>; defaultGroup: number | undefined; groups: Map<number, ResolvedInstance[]> }>();

  constructor(instances: readonly ResolvedInstance[]) {
    const sorted = [...instances].sort((a, b) => a.group - b.group || a.order - b.order);
    const roleOf = (roletype: RoleType) => {
      let role = this.byRole.get(roletype);
      if (!role) {
        role = { claims: new Map(), defaultGroup: undefined, groups: new Map() };
        this.byRole.set(roletype, role);
      }
      return role;
    };
    const claim = (role: ReturnType<typeof roleOf>, i: ResolvedInstance) => {
      if (i.includeDomains.length === 0) role.defaultGroup ??= i.group;
      for (const d of i.includeDomains) {
        const key = normalizeDomain(d);
        if (!role.claims.has(key)) role.claims.set(key, i.group);
      }
    };
    for (const i of sorted.filter((x) => x.enabled)) {
      const role = roleOf(i.roletype);
      const members = role.groups.get(i.group) ?? [];
      members.push(i);
      role.groups.set(i.group, members);
      claim(role, i);
    }
    for (const i of sorted.filter((x) => !x.enabled)) {
      const role = roleOf(i.roletype);
      if (role.groups.get(i.group)?.length) continue;
      role.groups.set(i.group, []);
      claim(role, i);
    }
  }

  lookup(roletype: RoleType, domain: string): PartitionMatch | undefined {
    const role = this.byRole.get(roletype);
    if (!role) return undefined;
    for (const suffix of suffixesOf(normalizeDomain(domain))) {
      const group = role.claims.get(suffix);
      if (group !== undefined) return { group, matched: suffix, members: role.groups.get(group) ?? [] };
    }
    return this.defaultGroup(roletype);
  }

  /** The group serving every domain no other group claims, if the roletype has one. */
  defaultGroup(roletype: RoleType): PartitionMatch | undefined {
    const role = this.byRole.get(roletype);
    if (role?.defaultGroup === undefined) return undefined;
    return { group: role.defaultGroup, matched: null, members: role.groups.get(role.defaultGroup) ?? [] };
  }
}
