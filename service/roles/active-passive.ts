import type { GroupStatus } from '../../shared/api/status.js';
import { electAll, names, termToRaise, type GroupElection, type RoleTerm, type SiteView } from '../config/election.js';
import type { ResolvedInstance } from '../config/roles.js';
import type { Logger } from '../logger.js';

/** An instance's part in its group, as the callstore and vmail roles are told it. */
export interface ElectedRole {
  active: boolean;
  /** the group's term now (0 before the first) */
  term: number;
  /** no record before this (epoch ms): see HANDOVER_GRACE_MS */
  writableAtMs: number;
}

/** Where the terms are (sync/terms.ts: documents of the change log). */
export interface TermStore {
  current(key: string): RoleTerm | undefined;
  highestSeen(key: string): number;
  raise(key: string, term: RoleTerm): void;
  onChange(listener: () => void): () => void;
}

export interface ActivePassiveDeps {
  selfSite: string;
  /** the configuration's instances, every site's */
  instances(): readonly ResolvedInstance[];
  /** what this site knows of the others (sync/standing.ts), told when it changes */
  sites: SiteView & { onChange(listener: () => void): () => void };
  terms: TermStore;
  /** told each time the role of an instance of this site changes */
  roleChanged(instance: string, role: ElectedRole): void;
  /** how long after taking a group over from a reachable instance its records are let in before this site writes (default HANDOVER_GRACE_MS) */
  handoverGraceMs?: number;
  /** how often the election runs when nothing told it to (default 1 s) */
  everyMs?: number;
  now?: () => number;
  log: Logger;
}

/**
 * After a takeover from an instance whose site is still reachable (a site that comes back takes
 * its role back), that instance may write a few records before it hears of the new term. They
 * come within a round trip and a commit; for this long the new active instance holds the records
 * of calls it has finished, and drops those whose record arrives.
 */
export const HANDOVER_GRACE_MS = 1_000;

const PASSIVE: ElectedRole = { active: false, term: 0, writableAtMs: 0 };

/**
 * Active-Passive across sites (design section 7), the I/O edge of config/election.ts: runs the
 * election of every group when what it depends on changes (a link, a peer's standing, this site's
 * synced state, a term written elsewhere, the configuration) and every second; writes the term
 * when this site's instance is elected and the term names another; and tells each instance of
 * this site whether it is the active one of the current term.
 */
export class ActivePassive {
  private readonly roles = new Map<string, ElectedRole>();
  private readonly unsubscribe: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly deps: ActivePassiveDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.unsubscribe.push(
      this.deps.sites.onChange(() => this.schedule()),
      this.deps.terms.onChange(() => this.schedule()),
    );
    this.timer = setInterval(() => this.schedule(), this.deps.everyMs ?? 1_000);
    this.timer.unref();
    this.evaluate();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const u of this.unsubscribe) u();
  }

  /** Runs the election soon (once for any number of calls before it runs). */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.stopped) this.evaluate();
    });
  }

  /** The role of an instance of this site now (passive until the election names it). */
  roleOf(instance: string): ElectedRole {
    return this.roles.get(instance) ?? PASSIVE;
  }

  /** Runs the election now: raises the terms this site must, and tells the instances whose role changed. */
  evaluate(): GroupElection[] {
    const { selfSite, terms, sites } = this.deps;
    const instances = this.deps.instances();
    const elections = electAll(instances, sites, (key) => terms.current(key));
    const now = this.now();
    const handedOver = new Set<string>();
    for (const e of elections) {
      const current = terms.current(e.key);
      const raise = termToRaise(e.elected, current, terms.highestSeen(e.key), selfSite);
      if (raise === undefined || !e.elected) continue;
      const term: RoleTerm = { term: raise, instance: e.elected.name, site: selfSite, since: new Date(now).toISOString() };
      try {
        terms.raise(e.key, term);
      } catch (err) {
        this.deps.log.error({ err, group: e.key }, 'the group’s term could not be written; the election runs again in a moment');
        continue;
      }
      e.state = 'active';
      if (current && current.site !== selfSite && sites.isReachable(current.site)) handedOver.add(e.elected.name);
      this.deps.log.info({ group: e.key, term: raise, instance: e.elected.name, before: current ? { term: current.term, instance: current.instance } : null }, 'took the group over: term raised');
    }
    const grace = this.deps.handoverGraceMs ?? HANDOVER_GRACE_MS;
    const byGroup = new Map(elections.map((e) => [e.key, e]));
    for (const i of instances) {
      if (i.site !== selfSite) continue;
      const key = `${i.roletype}:${i.group}`;
      const e = byGroup.get(key);
      const current = terms.current(key);
      const active = i.enabled && e?.elected?.name === i.name && names(current, i);
      const term = current?.term ?? 0;
      const before = this.roles.get(i.name);
      if (before && before.active === active && before.term === term) continue;
      const writableAtMs = active && !before?.active ? now + (handedOver.has(i.name) ? grace : 0) : (before?.writableAtMs ?? 0);
      const role: ElectedRole = { active, term, writableAtMs };
      this.roles.set(i.name, role);
      if (before?.active !== active) this.deps.log.info({ instance: i.name, group: key, term, active }, active ? 'instance active in its group' : 'instance passive in its group');
      this.deps.roleChanged(i.name, role);
    }
    for (const name of [...this.roles.keys()]) if (!instances.some((i) => i.name === name && i.site === selfSite)) this.roles.delete(name);
    return elections;
  }

  /** Every group as the election here sees it (GET /api/v1/status). */
  groups(): GroupStatus[] {
    const { terms, sites } = this.deps;
    return electAll(this.deps.instances(), sites, (key) => terms.current(key)).map((e) => {
      const t = terms.current(e.key);
      return { roletype: e.roletype, group: e.group, active: e.elected?.name ?? null, activeSite: e.elected?.site ?? null, term: t?.term ?? 0, since: t?.since ?? null, state: e.state };
    });
  }

  /** The names of the elected instance of every group. */
  elected(): Set<string> {
    const out = new Set<string>();
    for (const e of electAll(this.deps.instances(), this.deps.sites, (key) => this.deps.terms.current(key))) if (e.elected) out.add(e.elected.name);
    return out;
  }
}
