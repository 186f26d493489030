import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { electActive, groupStateOf, localHolderOf, names, servedDomainsOf, termToRaise, type RoleTerm, type SiteView } from '../../service/config/election.js';
import type { ResolvedInstance } from '../../service/config/roles.js';
import { mergeVersions, putVersion, type VersionedDoc } from '../../service/storage/changelog/core/merge.js';
import { decodeHlc, encodeHlc, HybridClock } from '../../service/storage/changelog/core/hlc.js';

function instance(name: string, order: number, site: string, enabled = true, includeDomains: string[] = []): ResolvedInstance {
  return { name, roletype: 'callstore', iface: 'lo', ext: {}, enabled, group: 1, order, includeDomains, site };
}

function view(reachable: readonly string[], synced: readonly string[]): SiteView {
  return { isReachable: (s) => reachable.includes(s), isSynced: (s) => synced.includes(s) };
}

const term = (n: number, inst: string, site: string): RoleTerm => ({ term: n, instance: inst, site, since: '2026-01-01T00:00:00.000Z' });

describe('the election (design section 7)', () => {
  const members = [instance('a1', 1, 'A'), instance('b1', 2, 'B'), instance('c1', 3, 'C')];

  it('elects the lowest order among the instances whose site is reachable and synced', () => {
    expect(electActive(members, view(['A', 'B', 'C'], ['A', 'B', 'C']))?.name).toBe('a1');
    // A reachable but catching up: B's instance stays active until A is synced
    expect(electActive(members, view(['A', 'B', 'C'], ['B', 'C']))?.name).toBe('b1');
    expect(electActive(members, view(['B'], ['A', 'B']))?.name).toBe('b1');
    expect(electActive([instance('a1', 1, 'A', false), ...members.slice(1)], view(['A', 'B'], ['A', 'B']))?.name).toBe('b1');
    expect(electActive(members, view(['A', 'B'], []))).toBeUndefined();
  });

  it('says active, takeover or none', () => {
    const all = view(['A', 'B', 'C'], ['A', 'B', 'C']);
    expect(groupStateOf(members, all, term(3, 'a1', 'A'))).toMatchObject({ state: 'active' });
    expect(groupStateOf(members, all, term(3, 'b1', 'B'))).toMatchObject({ state: 'takeover' });
    expect(groupStateOf(members, all, undefined)).toMatchObject({ state: 'takeover' });
    // reachable, still catching up: a takeover is coming
    expect(groupStateOf(members, view(['A'], []), term(3, 'b1', 'B'))).toMatchObject({ elected: undefined, state: 'takeover' });
    expect(groupStateOf([instance('x', 1, 'X')], view(['A'], ['A']), undefined)).toMatchObject({ elected: undefined, state: 'none' });
  });

  it('property: the elected instance is enabled, reachable and synced, and no such member has a lower order', () => {
    const member = fc.record({ order: fc.integer({ min: 0, max: 50 }), enabled: fc.boolean(), site: fc.constantFrom('A', 'B', 'C') });
    fc.assert(
      fc.property(fc.array(member, { maxLength: 10 }), fc.subarray(['A', 'B', 'C']), fc.subarray(['A', 'B', 'C']), (spec, reachable, synced) => {
        const ms = spec.map((m, i) => instance(`i${i}`, m.order, m.site, m.enabled));
        const v = view(reachable, synced);
        const eligible = ms.filter((m) => m.enabled && reachable.includes(m.site) && synced.includes(m.site));
        const elected = electActive(ms, v);
        if (eligible.length === 0) return elected === undefined;
        return elected !== undefined && eligible.includes(elected) && eligible.every((m) => m.order >= elected.order);
      }),
    );
  });

  it('the holder of a group on a site is its enabled member there with the lowest order', () => {
    const ms = [instance('a2', 5, 'A'), instance('a1', 2, 'A', false), instance('a3', 7, 'A'), instance('b1', 1, 'B')];
    expect(localHolderOf(ms, 'A')?.name).toBe('a2');
    expect(localHolderOf(ms, 'C')).toBeUndefined();
  });

  it('serves: the include_domains of the groups with an enabled instance here, both roletypes; all with a default group', () => {
    const vm = (name: string, site: string, domains: string[], enabled = true): ResolvedInstance => ({ ...instance(name, 1, site, enabled, domains), roletype: 'vmail', group: 2 });
    expect(servedDomainsOf([instance('a', 1, 'A', true, ['B.Example.', 'c.example']), vm('v', 'A', ['d.example']), instance('b', 2, 'B', true, [])], 'A')).toEqual(['b.example', 'c.example', 'd.example']);
    expect(servedDomainsOf([instance('a', 1, 'A', true, ['b.example']), vm('v', 'A', [])], 'A')).toBe('all');
    expect(servedDomainsOf([instance('a', 1, 'A', false, []), instance('b', 2, 'B', true, [])], 'A')).toEqual([]);
  });
});

describe('terms (design section 7)', () => {
  const a1 = instance('a1', 1, 'A');
  const b1 = instance('b1', 2, 'B');

  it('only the site of the elected instance raises, when the term names another instance, to the highest seen + 1', () => {
    expect(termToRaise(a1, undefined, 0, 'A')).toBe(1);
    expect(termToRaise(a1, undefined, 0, 'B')).toBeUndefined();
    expect(termToRaise(a1, term(4, 'b1', 'B'), 4, 'A')).toBe(5);
    expect(termToRaise(a1, term(4, 'b1', 'B'), 9, 'A')).toBe(10);
    expect(termToRaise(a1, term(4, 'a1', 'A'), 4, 'A')).toBeUndefined();
    expect(termToRaise(undefined, term(4, 'a1', 'A'), 4, 'A')).toBeUndefined();
    // the current term names it, but a higher one was seen (it lost the merge): raised past it
    expect(termToRaise(a1, term(4, 'a1', 'A'), 6, 'A')).toBe(7);
    // a term naming the same name at another site (a joining site's instance before its rename) is not its
    expect(names(term(2, 'a1', 'B'), a1)).toBe(false);
    expect(termToRaise(a1, term(2, 'a1', 'B'), 2, 'A')).toBe(3);
    expect(termToRaise(b1, term(2, 'a1', 'A'), 2, 'B')).toBe(3);
  });

  /*
   * Sites exchanging their term documents as the change log does (last writer wins by hybrid
   * clock and origin, the receiver's clock moved past what it receives), each running the rules
   * on its own view: its reachable sites are those it is linked to, a linked site synced as it is.
   */
  interface SimSite {
    id: string;
    clock: HybridClock;
    doc: VersionedDoc<RoleTerm> | undefined;
    highest: number;
    synced: boolean;
  }

  type Action = { kind: 'cut' | 'heal'; a: number; b: number } | { kind: 'synced'; site: number; synced: boolean } | { kind: 'tick' };

  function simulate(sitesCount: number, orders: number[], actions: Action[]) {
    let wall = 1_000_000;
    const sites: SimSite[] = Array.from({ length: sitesCount }, (_, i) => ({ id: `S${i}`, clock: new HybridClock({ physicalNow: () => wall }), doc: undefined, highest: 0, synced: true }));
    const members = sites.map((s, i) => instance(`i${i}`, orders[i] as number, s.id));
    const linked = new Set<string>();
    const linkKey = (a: number, b: number) => (a < b ? `${a}-${b}` : `${b}-${a}`);
    for (let a = 0; a < sitesCount; a++) for (let b = a + 1; b < sitesCount; b++) linked.add(linkKey(a, b));
    const raises: { tick: number; site: string; term: number; seenBefore: number }[] = [];
    let ticks = 0;
    const receive = (to: SimSite, doc: VersionedDoc<RoleTerm>) => {
      to.clock.receive(decodeHlc(doc.hlc));
      to.highest = Math.max(to.highest, doc.body?.term ?? 0);
      to.doc = to.doc ? mergeVersions(to.doc, doc, 'last-writer-wins') : doc;
    };
    const tick = () => {
      ticks++;
      wall += 10;
      // each link carries each side's document (the log sends every entry; the winner is what matters)
      for (let a = 0; a < sitesCount; a++) {
        for (let b = 0; b < sitesCount; b++) {
          if (a === b || !linked.has(linkKey(a, b))) continue;
          const doc = (sites[a] as SimSite).doc;
          if (doc) receive(sites[b] as SimSite, doc);
        }
      }
      for (let i = 0; i < sitesCount; i++) {
        const s = sites[i] as SimSite;
        const reachable = sites.filter((o, j) => j === i || linked.has(linkKey(i, j))).map((o) => o.id);
        const v: SiteView = { isReachable: (id) => reachable.includes(id), isSynced: (id) => sites.find((o) => o.id === id)?.synced === true };
        const elected = electActive(members, v);
        const raise = termToRaise(elected, s.doc?.body ?? undefined, s.highest, s.id);
        if (raise === undefined || !elected) continue;
        raises.push({ tick: ticks, site: s.id, term: raise, seenBefore: s.highest });
        s.doc = putVersion('role_term', 'callstore:1', encodeHlc(s.clock.now()), s.id, term(raise, elected.name, s.id));
        s.highest = Math.max(s.highest, raise);
      }
    };
    for (const action of actions) {
      if (action.kind === 'tick') tick();
      else if (action.kind === 'synced') (sites[action.site % sitesCount] as SimSite).synced = action.synced;
      else {
        const a = action.a % sitesCount;
        const b = action.b % sitesCount;
        if (a === b) continue;
        if (action.kind === 'cut') linked.delete(linkKey(a, b));
        else linked.add(linkKey(a, b));
      }
    }
    return { sites, members, linked, raises, tick, heal: () => { for (let a = 0; a < sitesCount; a++) for (let b = a + 1; b < sitesCount; b++) linked.add(linkKey(a, b)); }, ticks: () => ticks };
  }

  const actionArb: fc.Arbitrary<Action> = fc.oneof(
    fc.record({ kind: fc.constantFrom('cut' as const, 'heal' as const), a: fc.nat(5), b: fc.nat(5) }),
    fc.record({ kind: fc.constant('synced' as const), site: fc.nat(5), synced: fc.boolean() }),
    fc.constant({ kind: 'tick' as const }),
  );

  it('property: any cut, heal and catch-up; each raise goes past every term its site had seen; once the links are whole and every site synced, one raise at most settles it, the same term naming the lowest order on every site, and nobody raises again', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3 }), fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { minLength: 3, maxLength: 3 }), fc.array(actionArb, { maxLength: 40 }), (n, orders, actions) => {
        const sim = simulate(n, orders, actions);
        for (const r of sim.raises) expect(r.term).toBeGreaterThan(r.seenBefore);
        // heal everything, everyone synced: the views agree from here on
        sim.heal();
        for (const s of sim.sites) s.synced = true;
        const from = sim.raises.length;
        for (let i = 0; i < 6; i++) sim.tick();
        const after = sim.raises.slice(from);
        // the first tick after the heal exchanges the documents, so at most one raise follows
        expect(after.length).toBeLessThanOrEqual(1);
        const lowest = [...sim.members].sort((x, y) => x.order - y.order)[0] as ResolvedInstance;
        const docs = sim.sites.map((s) => JSON.stringify(s.doc?.body));
        expect(new Set(docs).size).toBe(1);
        expect(sim.sites[0]?.doc?.body).toMatchObject({ instance: lowest.name, site: lowest.site });
        // no flip-flop: further rounds change nothing
        const settled = sim.raises.length;
        for (let i = 0; i < 5; i++) sim.tick();
        expect(sim.raises.length).toBe(settled);
      }),
      { numRuns: 300 },
    );
  });

  it('a cut: each side raises once and names its own instance; the heal settles with one more raise by the lowest order', () => {
    const sim = simulate(2, [1, 2], [{ kind: 'tick' }, { kind: 'tick' }]);
    expect(sim.raises.map((r) => [r.site, r.term])).toEqual([['S0', 1]]);
    expect(sim.sites[1]?.doc?.body).toMatchObject({ term: 1, instance: 'i0' });
    // the cut: S1 is alone and takes the group over; S0 keeps it
    sim.linked.clear();
    sim.tick();
    sim.tick();
    expect(sim.raises.slice(1).map((r) => [r.site, r.term])).toEqual([['S1', 2]]);
    // S0 restarts during the cut and raises again (its own term was current: no raise), S1 raises nothing more
    sim.tick();
    expect(sim.raises.length).toBe(2);
    // heal: S1's term 2 (later) wins on both; S0 is elected and raises 3 once
    sim.heal();
    sim.tick();
    sim.tick();
    sim.tick();
    expect(sim.raises.slice(2).map((r) => [r.site, r.term])).toEqual([['S0', 3]]);
    expect(sim.sites.map((s) => s.doc?.body?.instance)).toEqual(['i0', 'i0']);
  });

  it('a site that is reachable but catching up does not take its role back until it is synced', () => {
    const sim = simulate(2, [1, 2], [{ kind: 'tick' }, { kind: 'tick' }]);
    sim.linked.clear();
    sim.tick();
    sim.tick();
    expect(sim.raises.at(-1)).toMatchObject({ site: 'S1', term: 2 });
    // S0 comes back and is linked, still catching up
    (sim.sites[0] as SimSite).synced = false;
    sim.heal();
    for (let i = 0; i < 3; i++) sim.tick();
    expect(sim.raises.length).toBe(2);
    expect(sim.sites.map((s) => s.doc?.body?.instance)).toEqual(['i1', 'i1']);
    (sim.sites[0] as SimSite).synced = true;
    sim.tick();
    sim.tick();
    expect(sim.raises.at(-1)).toMatchObject({ site: 'S0', term: 3 });
    expect(sim.raises.length).toBe(3);
  });
});
