import { afterEach, describe, expect, it } from 'vitest';
import type { SiteView } from '../../service/config/election.js';
import type { ResolvedInstance } from '../../service/config/roles.js';
import { createLogger } from '../../service/logger.js';
import { ActivePassive, type ElectedRole } from '../../service/roles/active-passive.js';
import { TERM_KIND, TermLedger } from '../../service/sync/terms.js';
import { link, openSite, removeSiteDirs, until, type TestLink, type TestSite } from '../support/replication-link.js';

/*
 * The election's edge (roles/active-passive.ts) with the terms in real change logs (sync/terms.ts),
 * two sites linked by real replication sessions that the test cuts and heals. What each site
 * knows of the other (reachable, synced) is set by the test: the standing has its own test in
 * the multi-process suite; here the subject is the terms: raised once per takeover, by the
 * elected site only, both sides during a cut, one more on heal, none after.
 */

const sites: TestSite[] = [];
const links: TestLink[] = [];
const stoppers: (() => void)[] = [];
afterEach(async () => {
  for (const s of stoppers.splice(0)) s();
  for (const l of links.splice(0)) await l.cut().catch(() => undefined);
  for (const s of sites.splice(0)) await s.log.close().catch(() => undefined);
  removeSiteDirs();
});

const instances: ResolvedInstance[] = [
  { name: 'csA', roletype: 'callstore', iface: 'lo', ext: {}, enabled: true, group: 1, order: 1, includeDomains: [], site: 'site-a' },
  { name: 'csB', roletype: 'callstore', iface: 'lo', ext: {}, enabled: true, group: 1, order: 2, includeDomains: [], site: 'site-b' },
];

interface Node {
  site: TestSite;
  terms: TermLedger;
  election: ActivePassive;
  /** whether this site reaches the other, as the test says */
  linked: boolean;
  synced: Record<string, boolean>;
  roles: Map<string, ElectedRole>;
  raises(): number;
  setView(change: () => void): void;
}

function node(id: string, other: string, linked = false): Node {
  const site = openSite(id);
  sites.push(site);
  const terms = new TermLedger(site.log);
  const listeners = new Set<() => void>();
  const n = {} as Node;
  const view: SiteView & { onChange(l: () => void): () => void } = {
    isReachable: (s) => s === id || (s === other && n.linked),
    isSynced: (s) => n.synced[s] === true,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const roles = new Map<string, ElectedRole>();
  const election = new ActivePassive({ selfSite: id, instances: () => instances, sites: view, terms, roleChanged: (name, role) => roles.set(name, role), everyMs: 50, log: createLogger('silent') });
  Object.assign(n, {
    site,
    terms,
    election,
    linked,
    synced: { [id]: true, [other]: linked },
    roles,
    // the entries of this site's own origin of the term kind: its raises
    raises: () => site.log.database.prepare('SELECT count(*) FROM entries e JOIN origins o ON o.id = e.origin WHERE e.kind = ? AND o.name = ?').pluck().get(TERM_KIND, id) as number,
    setView(change: () => void) {
      change();
      for (const l of listeners) l();
    },
  });
  election.start();
  stoppers.push(() => election.stop(), () => terms.close());
  return n;
}

const termOf = (n: Node) => n.terms.current('callstore:1');

describe('Active-Passive terms on real change logs', () => {
  it('one raise per takeover; a cut raises on each side; the heal settles with one raise by the lowest order, and nothing after', async () => {
    // linked and synced from the start: A's instance is elected on both, A raises term 1 once
    const a = node('site-a', 'site-b', true);
    const b = node('site-b', 'site-a', true);
    let ab = await link(a.site, b.site);
    links.push(ab);
    await until('term 1 on both', () => termOf(a)?.term === 1 && termOf(b)?.term === 1, 10_000);
    expect(termOf(b)).toMatchObject({ instance: 'csA', site: 'site-a' });
    await until('A active', () => a.roles.get('csA')?.active === true, 5_000);
    expect(b.roles.get('csB')).toMatchObject({ active: false, term: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect([a.raises(), b.raises()]).toEqual([1, 0]);

    // the cut: each side alone; B takes over (term 2), A keeps its term (no raise)
    links.splice(links.indexOf(ab), 1);
    await ab.cut();
    a.setView(() => (a.linked = false));
    b.setView(() => (b.linked = false));
    await until('B active in term 2', () => b.roles.get('csB')?.active === true && b.roles.get('csB')?.term === 2, 5_000);
    expect(termOf(b)).toMatchObject({ term: 2, instance: 'csB', site: 'site-b' });
    expect(a.roles.get('csA')).toMatchObject({ active: true, term: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect([a.raises(), b.raises()]).toEqual([1, 1]);
    // a takeover from an unreachable site writes at once
    expect((b.roles.get('csB') as ElectedRole).writableAtMs).toBeLessThanOrEqual(Date.now());

    // heal: linked again, both sites catching up (a healed link: neither is synced until it holds
    // what the other held); meanwhile nobody is elected and nobody raises
    const catchingUp = { 'site-a': false, 'site-b': false };
    a.setView(() => Object.assign(a, { linked: true, synced: { ...catchingUp } }));
    b.setView(() => Object.assign(b, { linked: true, synced: { ...catchingUp } }));
    ab = await link(a.site, b.site);
    links.push(ab);
    // the logs exchange the terms: both hold B's term 2 (the later one)
    await until('both holding term 2', () => termOf(a)?.term === 2 && termOf(b)?.term === 2, 10_000);
    expect(a.election.groups()[0]?.state).toBe('takeover');
    expect(a.roles.get('csA')?.active).toBe(false);
    expect(b.roles.get('csB')?.active).toBe(false);
    // both synced: both elect A; A raises 3, once
    a.setView(() => (a.synced = { 'site-a': true, 'site-b': true }));
    b.setView(() => (b.synced = { 'site-a': true, 'site-b': true }));
    await until('A active in term 3 on both', () => termOf(a)?.term === 3 && termOf(b)?.term === 3 && a.roles.get('csA')?.active === true && b.roles.get('csB')?.active === false, 10_000);
    expect(termOf(b)).toMatchObject({ instance: 'csA', site: 'site-a' });
    // taking over from a reachable instance: a moment before the first record
    expect((a.roles.get('csA') as ElectedRole).writableAtMs).toBeGreaterThan(Date.now() - 1_000);
    // no flip-flop: several rounds of the election later, still three raises in all
    await new Promise((r) => setTimeout(r, 500));
    expect([a.raises(), b.raises()]).toEqual([2, 1]);
    expect(a.election.groups()).toEqual([expect.objectContaining({ roletype: 'callstore', group: 1, active: 'csA', activeSite: 'site-a', term: 3, state: 'active' })]);
  });

  it('a term that lost the merge to a lower concurrent one is raised past: the next term goes above every term seen', async () => {
    const a = node('site-a', 'site-b');
    const b = node('site-b', 'site-a');
    // a cut from the start: each side raises term 1 for its own instance
    await until('both raised', () => termOf(a)?.term === 1 && termOf(b)?.term === 1, 5_000);
    // A went on to term 3 during the cut (its view changed twice), B wrote term 2 later
    a.terms.raise('callstore:1', { term: 3, instance: 'csA', site: 'site-a', since: new Date().toISOString() });
    await new Promise((r) => setTimeout(r, 5));
    b.terms.raise('callstore:1', { term: 2, instance: 'csB', site: 'site-b', since: new Date().toISOString() });
    // heal: both views agree at once (the link is up), then the logs merge: B's later term 2 wins on both
    a.setView(() => Object.assign(a, { linked: true, synced: { 'site-a': true, 'site-b': true } }));
    b.setView(() => Object.assign(b, { linked: true, synced: { 'site-a': true, 'site-b': true } }));
    links.push(await link(a.site, b.site));
    // A is elected, the merged term names B's instance: A raises past the highest seen (3), not to 3 again
    await until('term 4 naming A on both', () => termOf(a)?.term === 4 && termOf(b)?.term === 4, 10_000);
    expect(termOf(b)).toMatchObject({ instance: 'csA', site: 'site-a' });
    expect(b.terms.highestSeen('callstore:1')).toBe(4);
    await new Promise((r) => setTimeout(r, 400));
    expect([a.raises(), b.raises()]).toEqual([3, 2]);
    expect(a.roles.get('csA')).toMatchObject({ active: true, term: 4 });
    expect(b.roles.get('csB')).toMatchObject({ active: false, term: 4 });
  });
});
