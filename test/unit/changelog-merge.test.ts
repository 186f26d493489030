import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClockDriftError, compareHlc, decodeHlc, encodeHlc, HybridClock, type Hlc } from '../../service/storage/changelog/core/hlc.js';
import {
  applyVersion,
  mergeStates,
  mergeVersions,
  putVersion,
  stateKey,
  tombstoneVersion,
  type DocState,
  type MergePolicy,
  type VersionedDoc,
} from '../../service/storage/changelog/core/merge.js';

const POLICIES: Record<string, MergePolicy> = { config: 'last-writer-wins', tokens: 'delete-wins', cdrs: 'add-only' };
const policyOf = (kind: string): MergePolicy => POLICIES[kind] ?? 'last-writer-wins';

// Few keys, stamps and origins, so that generated changes collide often (the interesting case);
// a few stamps with the same (hlc, origin) and different bodies too, which no correct site makes
// but the merge must still order the same way everywhere.
const hlcArb = fc.record({ wall: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_004 }), counter: fc.integer({ min: 0, max: 2 }) }).map(encodeHlc);
const bodyArb = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('x', 'y')), { maxKeys: 3 });
const versionArb = (kinds: string[], keys: string[]): fc.Arbitrary<VersionedDoc> =>
  fc.record({
    kind: fc.constantFrom(...kinds),
    key: fc.constantFrom(...keys),
    hlc: hlcArb,
    origin: fc.constantFrom('site-a', 'site-b', 'site-c'),
    tombstone: fc.boolean(),
    body: bodyArb,
  }).map((v) => (v.tombstone ? tombstoneVersion(v.kind, v.key, v.hlc, v.origin) : putVersion(v.kind, v.key, v.hlc, v.origin, v.body)));
const KINDS = Object.keys(POLICIES);
const anyVersions = fc.array(versionArb(KINDS, ['k1', 'k2', 'k3']), { maxLength: 40 });

/** A permutation of 0..n-1 from random sort keys. */
const permutationOf = <T>(items: readonly T[]) =>
  fc.array(fc.double({ noNaN: true }), { minLength: items.length, maxLength: items.length }).map((keys) =>
    items
      .map((item, i) => ({ item, k: keys[i] as number }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.item),
  );

function fold(entries: readonly VersionedDoc[]): DocState {
  const state: DocState = new Map();
  for (const e of entries) applyVersion(state, e, policyOf);
  return state;
}

/** A state as a plain sorted list, for equality that ignores the map's insertion order. */
function snapshot(state: DocState): [string, VersionedDoc][] {
  return [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('merge of versioned documents (properties)', () => {
  const sameKeyPairs = (policy: string) => fc.tuple(versionArb([policy], ['k']), versionArb([policy], ['k']), versionArb([policy], ['k']));

  for (const kind of KINDS) {
    it(`${POLICIES[kind]}: the merge of two versions is commutative, associative and idempotent`, () => {
      fc.assert(
        fc.property(sameKeyPairs(kind), ([a, b, c]) => {
          const p = policyOf(kind);
          expect(mergeVersions(a, b, p)).toEqual(mergeVersions(b, a, p));
          expect(mergeVersions(mergeVersions(a, b, p), c, p)).toEqual(mergeVersions(a, mergeVersions(b, c, p), p));
          expect(mergeVersions(a, a, p)).toEqual(a);
          // the join is one of its inputs: nothing is made up
          expect([a, b]).toContainEqual(mergeVersions(a, b, p));
        }),
        { numRuns: 2000 },
      );
    });
  }

  it('the merge of whole states is commutative, associative and idempotent', () => {
    fc.assert(
      fc.property(anyVersions, anyVersions, anyVersions, (xs, ys, zs) => {
        const [a, b, c] = [fold(xs), fold(ys), fold(zs)];
        expect(snapshot(mergeStates(a, b, policyOf))).toEqual(snapshot(mergeStates(b, a, policyOf)));
        expect(snapshot(mergeStates(mergeStates(a, b, policyOf), c, policyOf))).toEqual(snapshot(mergeStates(a, mergeStates(b, c, policyOf), policyOf)));
        expect(snapshot(mergeStates(a, a, policyOf))).toEqual(snapshot(a));
      }),
      { numRuns: 500 },
    );
  });

  it('applying the same entries one by one in any order, any number of times, gives the same state', () => {
    const withOrders = anyVersions.chain((entries) => fc.tuple(fc.constant(entries), permutationOf(entries), fc.array(fc.nat({ max: Math.max(0, entries.length - 1) }), { maxLength: 10 })));
    fc.assert(
      fc.property(withOrders, ([entries, shuffled, repeats]) => {
        const expected = snapshot(fold(entries));
        expect(snapshot(fold(shuffled))).toEqual(expected);
        // replays (a reader resuming, a peer sending twice) change nothing
        const replayed = [...shuffled, ...repeats.filter((i) => i < entries.length).map((i) => entries[i] as VersionedDoc)];
        expect(snapshot(fold(replayed))).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('the incremental path agrees with merging the states of any split of the entries (two sites, then a swap)', () => {
    const split = anyVersions.chain((entries) => fc.tuple(fc.constant(entries), fc.array(fc.boolean(), { minLength: entries.length, maxLength: entries.length })));
    fc.assert(
      fc.property(split, ([entries, onA]) => {
        const a = fold(entries.filter((_, i) => onA[i]));
        const b = fold(entries.filter((_, i) => !onA[i]));
        // each side applies the other's state entry by entry, as a receiving store does
        const aAfter = new Map(a);
        for (const v of b.values()) applyVersion(aAfter, v, policyOf);
        const bAfter = new Map(b);
        for (const v of a.values()) applyVersion(bAfter, v, policyOf);
        expect(snapshot(aAfter)).toEqual(snapshot(fold(entries)));
        expect(snapshot(bAfter)).toEqual(snapshot(aAfter));
      }),
      { numRuns: 1000 },
    );
  });

  it('applyVersion says whether the state changed', () => {
    fc.assert(
      fc.property(anyVersions, versionArb(KINDS, ['k1', 'k2']), (entries, next) => {
        const state = fold(entries);
        const before = state.get(stateKey(next.kind, next.key));
        const changed = applyVersion(state, next, policyOf);
        const after = state.get(stateKey(next.kind, next.key));
        if (changed) expect(after).toBe(changed);
        else expect(after).toBe(before);
        expect(applyVersion(state, next, policyOf)).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });
});

describe('merge rules, case by case', () => {
  const t = (wall: number, counter = 0) => encodeHlc({ wall, counter });

  it('last writer wins by hlc, then by origin', () => {
    const older = putVersion('config', 'roles', t(10), 'site-b', { revision: 1 });
    const newer = putVersion('config', 'roles', t(11), 'site-a', { revision: 2 });
    expect(mergeVersions(older, newer, 'last-writer-wins')).toBe(newer);
    const tieA = putVersion('config', 'roles', t(11), 'site-a', { revision: 3 });
    const tieB = putVersion('config', 'roles', t(11), 'site-b', { revision: 4 });
    expect(mergeVersions(tieA, tieB, 'last-writer-wins')).toBe(tieB);
  });

  it('a tombstone beats older puts and loses to newer ones (last-writer-wins)', () => {
    const put = putVersion('users', 'bob', t(10), 'site-a', { scopes: ['read'] });
    const del = tombstoneVersion('users', 'bob', t(11), 'site-b');
    const again = putVersion('users', 'bob', t(12), 'site-a', { scopes: ['admin'] });
    expect(fold([del, put]).get(stateKey('users', 'bob'))).toBe(del);
    expect(fold([again, del, put]).get(stateKey('users', 'bob'))).toBe(again);
  });

  it('a revoked token stays revoked whatever the stamp of a concurrent lastUsedAt write (delete-wins)', () => {
    const revoke = tombstoneVersion('tokens', 'tok-1', t(10), 'site-a');
    const touched = putVersion('tokens', 'tok-1', t(20), 'site-b', { name: 'pbx', lastUsedAt: '2026-01-01T00:00:00Z' });
    expect(fold([revoke, touched]).get(stateKey('tokens', 'tok-1'))).toBe(revoke);
    expect(fold([touched, revoke]).get(stateKey('tokens', 'tok-1'))).toBe(revoke);
  });

  it('add-only kinds keep the first version of an id', () => {
    const first = putVersion('cdrs', 'call-1', t(10), 'site-b', { duration: 5 });
    const dup = putVersion('cdrs', 'call-1', t(30), 'site-a', { duration: 6 });
    expect(fold([dup, first]).get(stateKey('cdrs', 'call-1'))).toBe(first);
    expect(fold([first, dup]).get(stateKey('cdrs', 'call-1'))).toBe(first);
  });
});

describe('hybrid logical clock', () => {
  it('the encoding is fixed-width and sorts as the clock does', () => {
    const hlc = fc.record({ wall: fc.integer({ min: 0, max: 2 ** 48 - 1 }), counter: fc.integer({ min: 0, max: 2 ** 16 - 1 }) });
    fc.assert(
      fc.property(hlc, hlc, (a, b) => {
        const [ea, eb] = [encodeHlc(a), encodeHlc(b)];
        expect(ea).toHaveLength(16);
        expect(decodeHlc(ea)).toEqual(a);
        expect(Math.sign(ea < eb ? -1 : ea > eb ? 1 : 0)).toBe(Math.sign(compareHlc(a, b)));
      }),
    );
    expect(() => decodeHlc('zz')).toThrow(RangeError);
  });

  it('never goes backwards, even when the physical clock does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 200 }), (physical) => {
        let i = 0;
        const clock = new HybridClock({ physicalNow: () => 1_000_000 + (physical[i++ % physical.length] as number) });
        let last: Hlc = { wall: 0, counter: 0 };
        for (let n = 0; n < physical.length; n++) {
          const next = clock.now();
          expect(compareHlc(next, last)).toBeGreaterThan(0);
          last = next;
        }
      }),
    );
  });

  it('stamps after a received stamp are greater than it; seed continues after a restart', () => {
    let physical = 5_000;
    const clock = new HybridClock({ physicalNow: () => physical });
    const remote = { wall: 5_030, counter: 7 }; // 30 ms ahead: within the bound
    expect(compareHlc(clock.receive(remote), remote)).toBeGreaterThan(0);
    expect(compareHlc(clock.now(), remote)).toBeGreaterThan(0);
    physical = 1_000; // the clock was stepped back while the service was stopped
    const restarted = new HybridClock({ physicalNow: () => physical });
    restarted.seed(clock.current);
    expect(compareHlc(restarted.now(), clock.current)).toBeGreaterThan(0);
  });

  it('refuses a stamp further ahead than the bound and keeps its own time', () => {
    const physical = 1_000_000;
    const clock = new HybridClock({ physicalNow: () => physical, maxDriftMs: 60_000 });
    const before = clock.now();
    expect(() => clock.receive({ wall: physical + 60_001, counter: 0 })).toThrow(ClockDriftError);
    expect(clock.current).toEqual(before);
    expect(clock.receive({ wall: physical + 60_000, counter: 0 }).wall).toBe(physical + 60_000);
  });

  it('a full counter pushes the wall on by a millisecond', () => {
    const clock = new HybridClock({ physicalNow: () => 42 });
    clock.seed({ wall: 42, counter: 2 ** 16 - 1 });
    expect(clock.now()).toEqual({ wall: 43, counter: 0 });
  });
});
