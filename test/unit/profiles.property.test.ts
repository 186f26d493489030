import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pairKey, pairsOfDialog, ProfileCounter, type LimitRule, type ProfileCount, type ProfilePair } from '../../service/callstore/core/profiles.js';

/*
 * The profile counter (design section 4.4) through the incremental calls the service makes:
 * dialogs set and removed in any order (duplicates too), reservations made, turned into dialogs
 * and expired, remote lists replaced and dropped. Each property compares the counter with an
 * oracle computed from the final state alone.
 */

const NAMES = ['trunk', 'user', 'total', 'domain'];
const VALUES = [null, 'a', 'b', ''];
const pairArb: fc.Arbitrary<ProfilePair> = fc.record({ name: fc.constantFrom(...NAMES), value: fc.constantFrom(...VALUES) });
const callIdArb = fc.constantFrom('c1', 'c2', 'c3', 'c4', 'c5', 'c6');
const pairsArb = fc.array(pairArb, { minLength: 0, maxLength: 4 });

type Op =
  | { op: 'set'; callId: string; pairs: ProfilePair[] }
  | { op: 'remove'; callId: string }
  | { op: 'reserve'; callId: string; pairs: ProfilePair[]; ttl: number }
  | { op: 'tick'; by: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), callId: callIdArb, pairs: pairsArb }),
  fc.record({ op: fc.constant('remove' as const), callId: callIdArb }),
  fc.record({ op: fc.constant('reserve' as const), callId: callIdArb, pairs: pairsArb, ttl: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ op: fc.constant('tick' as const), by: fc.integer({ min: 0, max: 30 }) }),
);

/** The true local count: every dialog up, every reservation unexpired and not turned into a dialog, each pair once per call. */
function oracle(dialogs: Map<string, ProfilePair[]>, reservations: Map<string, { pairs: ProfilePair[]; expiresAt: number }>, now: number): Map<string, number> {
  const out = new Map<string, number>();
  const add = (pairs: ProfilePair[]) => {
    for (const k of new Set(pairs.map((p) => pairKey(p.name, p.value)))) out.set(k, (out.get(k) ?? 0) + 1);
  };
  for (const pairs of dialogs.values()) add(pairs);
  for (const [id, r] of reservations) if (!dialogs.has(id) && r.expiresAt > now) add(r.pairs);
  return out;
}

function asMap(counts: readonly ProfileCount[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of counts) out.set(pairKey(c.name, c.value), c.count);
  return out;
}

describe('the profile counter (design section 4.4)', () => {
  it('property: any order of sets, removes, reservations and expiries settles at the true count and never goes negative', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const counter = new ProfileCounter();
        const dialogs = new Map<string, ProfilePair[]>();
        const reservations = new Map<string, { pairs: ProfilePair[]; expiresAt: number }>();
        let now = 1000;
        for (const o of ops) {
          switch (o.op) {
            case 'set':
              counter.setDialog(o.callId, o.pairs);
              dialogs.set(o.callId, o.pairs);
              reservations.delete(o.callId);
              break;
            case 'remove':
              counter.setDialog(o.callId, null);
              dialogs.delete(o.callId);
              reservations.delete(o.callId);
              break;
            case 'reserve': {
              const live = reservations.get(o.callId);
              const took = counter.reserve(o.callId, o.pairs, now + o.ttl);
              // a call id that counts already is not reserved twice
              expect(took).toBe(!dialogs.has(o.callId) && !(live && live.expiresAt > now));
              if (took) reservations.set(o.callId, { pairs: o.pairs, expiresAt: now + o.ttl });
              break;
            }
            case 'tick':
              now += o.by;
              counter.expire(now);
              for (const [id, r] of reservations) if (r.expiresAt <= now) reservations.delete(id);
              break;
          }
          for (const c of counter.localCounts()) expect(c.count).toBeGreaterThan(0);
          expect(asMap(counter.localCounts())).toEqual(oracle(dialogs, reservations, now));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('property: the same dialogs set in any order, with duplicate sets and removes, give the same counts', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(callIdArb, pairsArb), { maxLength: 12 }), fc.array(callIdArb, { maxLength: 6 }), fc.integer(), (sets, removes, seed) => {
        const apply = (order: (['set', string, ProfilePair[]] | ['remove', string])[]) => {
          const counter = new ProfileCounter();
          for (const step of order) counter.setDialog(step[1], step[0] === 'set' ? step[2] : null);
          return asMap(counter.localCounts());
        };
        // the last set of each call, then every remove (each twice): the true state
        const last = new Map(sets.map(([id, pairs]) => [id, pairs]));
        const steps: (['set', string, ProfilePair[]] | ['remove', string])[] = [...last].map(([id, pairs]) => ['set', id, pairs]);
        const withDuplicates = [...steps, ...steps];
        const shuffled = shuffle(withDuplicates, seed);
        const removals: ['remove', string][] = removes.flatMap((id) => [['remove', id] as ['remove', string], ['remove', id] as ['remove', string]]);
        const expected = new Map([...last].filter(([id]) => !removes.includes(id)));
        expect(apply([...shuffled, ...removals])).toEqual(asMap(countsOf(expected)));
      }),
      { numRuns: 300 },
    );
  });

  it('a duplicate end does nothing; a reservation turns into its dialog without counting twice', () => {
    const counter = new ProfileCounter();
    const pairs = pairsOfDialog('Office.Example.', [{ name: 'trunk', value: 'sip1' }]);
    expect(pairs).toEqual([
      { name: 'total', value: null },
      { name: 'domain', value: 'office.example' },
      { name: 'trunk', value: 'sip1' },
    ]);
    expect(counter.reserve('c1', pairs, 10_000)).toBe(true);
    expect(counter.localCount('total', null)).toBe(1);
    expect(counter.reservedCount('total', null)).toBe(1);
    counter.setDialog('c1', pairs);
    expect(counter.localCount('total', null)).toBe(1);
    expect(counter.reservedCount('total', null)).toBe(0);
    expect(counter.holds('c1')).toBe('dialog');
    counter.setDialog('c1', null);
    counter.setDialog('c1', null);
    expect(counter.localCount('total', null)).toBe(0);
    expect(counter.localCounts()).toEqual([]);
    // the reservation is gone with the dialog: expiry later takes nothing more
    expect(counter.expire(20_000)).toBe(0);
  });

  it('a reservation counts until its time is up, then not', () => {
    const counter = new ProfileCounter();
    counter.reserve('a', [{ name: 'total', value: null }], 1_000);
    counter.reserve('b', [{ name: 'total', value: null }], 500);
    expect(counter.nextExpiry()).toBe(500);
    expect(counter.expire(499)).toBe(0);
    expect(counter.localCount('total', null)).toBe(2);
    expect(counter.expire(500)).toBe(1);
    expect(counter.localCount('total', null)).toBe(1);
    expect(counter.nextExpiry()).toBe(1_000);
    expect(counter.expire(5_000)).toBe(1);
    expect(counter.localCount('total', null)).toBe(0);
    expect(counter.nextExpiry()).toBeUndefined();
  });

  it("property: an origin's new list replaces its old one; a dropped origin counts nothing; the sum never goes negative", () => {
    const countArb = fc.record({ name: fc.constantFrom(...NAMES), value: fc.constantFrom(...VALUES), count: fc.integer({ min: 0, max: 5 }) });
    const stepArb = fc.oneof(
      fc.record({ op: fc.constant('set' as const), origin: fc.constantFrom('A', 'B', 'C'), list: fc.array(countArb, { maxLength: 6 }) }),
      fc.record({ op: fc.constant('drop' as const), origin: fc.constantFrom('A', 'B', 'C') }),
    );
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
        const counter = new ProfileCounter();
        const lists = new Map<string, ProfileCount[]>();
        for (const s of steps) {
          if (s.op === 'set') {
            counter.setRemote(s.origin, s.list);
            lists.set(s.origin, s.list);
          } else {
            counter.dropRemote(s.origin);
            lists.delete(s.origin);
          }
          const expected = new Map<string, number>();
          for (const list of lists.values()) for (const c of list) if (c.count > 0) expected.set(pairKey(c.name, c.value), (expected.get(pairKey(c.name, c.value)) ?? 0) + c.count);
          for (const name of NAMES) {
            for (const value of VALUES) {
              const n = counter.remoteCount(name, value);
              expect(n).toBeGreaterThanOrEqual(0);
              expect(n).toBe(expected.get(pairKey(name, value)) ?? 0);
              expect(counter.count(name, value)).toBe(n);
            }
          }
          expect(counter.remoteOrigins().sort()).toEqual([...lists.keys()].sort());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: a rule without a value applies to each value on its own; a rule with one to that value only', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 4 })), { maxLength: 10 }),
        fc.integer({ min: 0, max: 5 }),
        fc.option(fc.constantFrom('a', 'b'), { nil: null }),
        fc.constantFrom('a', 'b', 'c'),
        (calls, max, ruleValue, asked) => {
          const counter = new ProfileCounter();
          const rule: LimitRule = { id: 'r1', profile: 'user', value: ruleValue, max };
          counter.setLimits([rule]);
          const perValue = new Map<string, number>();
          calls.forEach(([value, remoteExtra], i) => {
            counter.setDialog(`local-${i}`, [{ name: 'user', value }]);
            perValue.set(value, (perValue.get(value) ?? 0) + 1);
            if (remoteExtra) {
              counter.setRemote(`site-${i}`, [{ name: 'user', value, count: remoteExtra }]);
              perValue.set(value, (perValue.get(value) ?? 0) + remoteExtra);
            }
          });
          const decision = counter.admit('new', [{ name: 'user', value: asked }], { nowMs: 0, expiresAtMs: 10, synced: true });
          const applies = ruleValue === null || ruleValue === asked;
          const full = (perValue.get(asked) ?? 0) >= max;
          expect(decision.allow).toBe(!(applies && full));
          if (!decision.allow && decision.reason === 'limit') expect(decision.limit).toEqual({ id: 'r1', profile: 'user', value: asked, max, perValue: ruleValue === null });
          expect(decision.counts).toEqual([{ name: 'user', value: asked, count: perValue.get(asked) ?? 0, local: calls.filter(([v]) => v === asked).length, remote: (perValue.get(asked) ?? 0) - calls.filter(([v]) => v === asked).length }]);
          // an allowed call holds a place: asked again it is allowed without a second one
          if (decision.allow) {
            expect(counter.localCount('user', asked)).toBe(calls.filter(([v]) => v === asked).length + 1);
            const again = counter.admit('new', [{ name: 'user', value: asked }], { nowMs: 1, expiresAtMs: 11, synced: true });
            expect(again).toMatchObject({ allow: true, repeated: true });
            expect(counter.localCount('user', asked)).toBe(calls.filter(([v]) => v === asked).length + 1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: admitting against a limit of N on total admits exactly N while none end, and one more after one ends', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 10 }), (max, remote) => {
        const counter = new ProfileCounter();
        counter.setLimits([{ id: 'all', profile: 'total', value: null, max }]);
        counter.setRemote('peer', [{ name: 'total', value: null, count: remote }]);
        const pairs = pairsOfDialog('x.example', []);
        let admitted = 0;
        for (let i = 0; i < max + 5; i++) {
          const d = counter.admit(`c${i}`, pairs, { nowMs: 0, expiresAtMs: 1_000, synced: true });
          if (d.allow) {
            admitted++;
            // its invite comes: the reservation turns into the dialog
            counter.setDialog(`c${i}`, pairs);
          } else expect(d).toMatchObject({ reason: 'limit', limit: { id: 'all', max } });
        }
        expect(admitted).toBe(Math.max(0, max - remote));
        if (admitted > 0) {
          counter.setDialog('c0', null);
          expect(counter.admit('again', pairs, { nowMs: 0, expiresAtMs: 1_000, synced: true }).allow).toBe(true);
        }
      }),
    );
  });

  it('refuses with syncing until synced, but a call already admitted is admitted again', () => {
    const counter = new ProfileCounter();
    const pairs = pairsOfDialog('x.example', []);
    expect(counter.admit('a', pairs, { nowMs: 0, expiresAtMs: 100, synced: true }).allow).toBe(true);
    expect(counter.admit('b', pairs, { nowMs: 0, expiresAtMs: 100, synced: false })).toMatchObject({ allow: false, reason: 'syncing' });
    expect(counter.admit('a', pairs, { nowMs: 0, expiresAtMs: 100, synced: false })).toMatchObject({ allow: true, repeated: true });
    // expired, it is a new call again
    expect(counter.admit('a', pairs, { nowMs: 200, expiresAtMs: 300, synced: false })).toMatchObject({ allow: false, reason: 'syncing' });
  });
});

function countsOf(dialogs: Map<string, ProfilePair[]>): ProfileCount[] {
  const m = oracle(dialogs, new Map(), 0);
  return [...m].map(([key, count]) => {
    const [name, rest] = key.split('\u0000') as [string, string];
    return { name, value: rest === '' ? null : rest.slice(1), count };
  });
}

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
