import type { RoleType } from '../../shared/api/roles.js';
import type { ServedDomains } from '../../shared/sync/replication.js';
import { normalizeDomain } from './domains.js';
import { groupKey, groupsOf } from './partition.js';
import type { ResolvedInstance } from './roles.js';

/*
 * Active-Passive across sites (design section 7), pure: which instance of a group is active, the
 * state of each group, and when a site raises a group's term. The I/O around it (what a site
 * knows of the others, the terms in the change log) is roles/active-passive.ts.
 */

/** What one site knows of the sites of the installation when it elects. */
export interface SiteView {
  /** this site always; a peer while the link to it is up */
  isReachable(siteId: string): boolean;
  /**
   * this site once it holds what each reachable peer held when their link opened; a peer as it
   * last said so over the link (not synced until it has said it)
   */
  isSynced(siteId: string): boolean;
}

/** A group's term as the change log holds it (kind `role_term`, key `roletype:group`). */
export interface RoleTerm {
  /** raised by one at each takeover */
  term: number;
  /** the instance that took the group over */
  instance: string;
  /** the site that wrote it (the instance's) */
  site: string;
  /** when the term began (ISO 8601) */
  since: string;
}

export type GroupState = 'active' | 'takeover' | 'none';

/**
 * The active instance of a group: the enabled one with the lowest `order` among the instances
 * whose site is reachable and synced.
 */
export function electActive(members: readonly ResolvedInstance[], view: SiteView): ResolvedInstance | undefined {
  let best: ResolvedInstance | undefined;
  for (const i of members) {
    if (!i.enabled || !view.isReachable(i.site) || !view.isSynced(i.site)) continue;
    if (!best || i.order < best.order) best = i;
  }
  return best;
}

/**
 * A group's state: `active` when the elected instance holds the current term; `takeover` when
 * one is elected and the term does not name it yet, or when no instance is elected but one runs
 * on a reachable site that is still catching up; `none` when no enabled instance is reachable.
 */
export function groupStateOf(members: readonly ResolvedInstance[], view: SiteView, term: RoleTerm | undefined): { elected: ResolvedInstance | undefined; state: GroupState } {
  const elected = electActive(members, view);
  if (elected) return { elected, state: names(term, elected) ? 'active' : 'takeover' };
  const reachable = members.some((m) => m.enabled && view.isReachable(m.site));
  return { elected: undefined, state: reachable ? 'takeover' : 'none' };
}

/**
 * The term this site writes for a group now, or undefined. Only the site of the elected instance
 * writes, and only when the current term names another instance, or names it with a number below
 * the highest this site has seen (two sites raised during a cut and the lower one won the
 * last-writer-wins merge): it writes the highest term seen + 1, naming the elected instance.
 * When the views agree, the elected instance's site raises at most once and nobody after it: the
 * term then names the elected instance with the highest number, and the other sites elect the
 * same instance, which is not theirs.
 */
export function termToRaise(elected: ResolvedInstance | undefined, current: RoleTerm | undefined, highestSeen: number, selfSite: string): number | undefined {
  if (!elected || elected.site !== selfSite) return undefined;
  const highest = Math.max(highestSeen, current?.term ?? 0);
  if (names(current, elected) && (current as RoleTerm).term >= highest) return undefined;
  return highest + 1;
}

/**
 * Whether a term names this instance: by name and site (a term written before a joining site's
 * instance was renamed names the old name at the other site, and is not this instance's).
 */
export function names(term: RoleTerm | undefined, instance: Pick<ResolvedInstance, 'name' | 'site'>): boolean {
  return term !== undefined && term.instance === instance.name && term.site === instance.site;
}

/** What the election says of one group, as the status shows it. */
export interface GroupElection {
  key: string;
  roletype: RoleType;
  group: number;
  /** enabled members in Active-Passive order */
  members: ResolvedInstance[];
  elected: ResolvedInstance | undefined;
  state: GroupState;
}

/** The election of every group of the configuration (groups with an enabled member), by key. */
export function electAll(instances: readonly ResolvedInstance[], view: SiteView, termOf: (key: string) => RoleTerm | undefined): GroupElection[] {
  const out: GroupElection[] = [];
  for (const [key, all] of groupsOf(instances)) {
    const members = all.filter((m) => m.enabled);
    const first = all[0] as ResolvedInstance;
    const { elected, state } = groupStateOf(members, view, termOf(key));
    out.push({ key, roletype: first.roletype, group: first.group, members, elected, state });
  }
  return out.sort((a, b) => (a.roletype < b.roletype ? -1 : a.roletype > b.roletype ? 1 : a.group - b.group));
}

/**
 * The instance of a group that holds its calls on this site: its enabled member here with the
 * lowest order (one per site in a normal installation). Events of the group reaching this site,
 * from a source or from a peer, go to it, active or passive.
 */
export function localHolderOf(members: readonly ResolvedInstance[], selfSite: string): ResolvedInstance | undefined {
  let best: ResolvedInstance | undefined;
  for (const i of members) {
    if (!i.enabled || i.site !== selfSite) continue;
    if (!best || i.order < best.order) best = i;
  }
  return best;
}

/**
 * The domains this site serves (replication's filter, design section 7): the include_domains of
 * the groups, of both roletypes, with an enabled instance on this site; `all` when one of them is
 * a default group (it serves every domain no other group claims). A site with no instance serves
 * none of the domains: it still gets configuration, users and tokens.
 */
export function servedDomainsOf(instances: readonly ResolvedInstance[], selfSite: string): ServedDomains {
  const domains = new Set<string>();
  for (const i of instances) {
    if (!i.enabled || i.site !== selfSite) continue;
    if (i.includeDomains.length === 0) return 'all';
    for (const d of i.includeDomains) domains.add(normalizeDomain(d));
  }
  return [...domains].sort();
}

export { groupKey };
