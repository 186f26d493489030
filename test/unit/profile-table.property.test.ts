import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pairKey, ProfileTable, SendPlan, type ProfileCount } from '../../service/sync/profile-table.js';

/*
 * The pure core of the profile exchange (sync/profile-table.ts), driven through the calls the
 * edge makes (linkOpened, linkLost, offer, expire, synced) with the time the test controls.
 * The properties are said independently of how the table keeps its state: by what the test
 * itself saw happen (which lists each origin sent, when its links opened and closed).
 */

const ORIGINS = ['peer-a', 'peer-b', 'peer-c'];
const NAMES = ['total', 'domain', 'trunk'];
const VALUES = [null, '', 'x', 'y'];

const countsArb: fc.Arbitrary<ProfileCount[]> = fc
  .uniqueArray(fc.record({ name: fc.constantFrom(...NAMES), value: fc.constantFrom(...VALUES), count: fc.integer({ min: 0, max: 50 }) }), { selector: (c) => pairKey(c.name, c.value), maxLength: 6 })
  .map((cs) => cs.filter((c) => c.count > 0));

const settings = (ttl: number, timeout: number) => () => ({ remoteTtlMs: ttl, syncTimeoutMs: timeout });

function sumOf(table: ProfileTable, name: string, value: string | null): number {
  let n = 0;
  for (const list of table.remote().values()) for (const c of list.counts) if (c.name === name && c.value === value) n += c.count;
  return n;
}

type Step =
  | { t: 'open'; o: number }
  | { t: 'lose'; o: number }
  | { t: 'offer'; o: number; boot: number; seq: number; counts: ProfileCount[] }
  | { t: 'wait'; ms: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ t: fc.constant('open' as const), o: fc.integer({ min: 0, max: ORIGINS.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('lose' as const), o: fc.integer({ min: 0, max: ORIGINS.length - 1 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('offer' as const), o: fc.integer({ min: 0, max: ORIGINS.length - 1 }), boot: fc.integer({ min: 1, max: 3 }), seq: fc.integer({ min: 1, max: 20 }), counts: countsArb }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 4_000 }) }) },
);

describe('ProfileTable (property)', () => {
  it("an origin's lists: the one with the highest (boot, seq) holds, whatever the order they arrive in", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ boot: fc.integer({ min: 1, max: 4 }), seq: fc.integer({ min: 1, max: 1_000 }) }), { selector: (s) => `${s.boot}/${s.seq}`, minLength: 1, maxLength: 30 }).chain((stamps) =>
          fc.tuple(fc.constant(stamps), fc.shuffledSubarray(stamps, { minLength: stamps.length, maxLength: stamps.length })),
        ),
        ([stamps, arrival]) => {
          const table = new ProfileTable(settings(30_000, 5_000), 0, []);
          table.linkOpened('peer-a', 0);
          // each list names its stamp in its count, so the list held says which one it is
          for (const s of arrival) table.offer('peer-a', s, [{ name: 'total', value: null, count: s.boot * 10_000 + s.seq }], 1);
          const best = [...stamps].sort((x, y) => y.boot - x.boot || y.seq - x.seq)[0] as { boot: number; seq: number };
          expect(table.remote().get('peer-a')?.counts).toEqual([{ name: 'total', value: null, count: best.boot * 10_000 + best.seq }]);
          expect(table.remoteTotal('total', null)).toBe(best.boot * 10_000 + best.seq);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the first list of a new link from another boot replaces the held one, even an older boot (a clock set back across a restart)', () => {
    const table = new ProfileTable(settings(30_000, 5_000), 0, []);
    table.linkOpened('peer-a', 0);
    expect(table.offer('peer-a', { boot: 2_000, seq: 9 }, [{ name: 'total', value: null, count: 5 }], 1)).toBe('taken');
    table.linkLost('peer-a', 2);
    table.linkOpened('peer-a', 3);
    expect(table.offer('peer-a', { boot: 1_000, seq: 1 }, [{ name: 'total', value: null, count: 2 }], 4)).toBe('taken');
    // after it, that boot's order holds again
    expect(table.offer('peer-a', { boot: 2_000, seq: 10 }, [{ name: 'total', value: null, count: 7 }], 5)).toBe('taken');
    expect(table.offer('peer-a', { boot: 2_000, seq: 3 }, [{ name: 'total', value: null, count: 1 }], 6)).toBe('stale');
    expect(table.remoteTotal('total', null)).toBe(7);
  });

  it('any run of links, losses, lists and time: totals are the sum of the lists held, never negative; only lost origins expire, after the TTL; the gate holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 8_000 }), fc.subarray(ORIGINS), fc.array(stepArb, { maxLength: 60 }), (ttl, timeout, paired, steps) => {
        let now = 0;
        const table = new ProfileTable(settings(ttl, timeout), now, paired);
        // what the test saw: per origin whether its link is open, when it was lost, whether it sent a list since its link opened
        const open = new Set<string>();
        const lostAt = new Map<string, number>();
        const answeredSinceOpen = new Set<string>();
        const neverLinked = new Set(paired);
        const held = new Set<string>();
        // when the site last became unsynced (the gate's wait starts there)
        let unsyncedSince: number | undefined = table.synced(now) ? undefined : now;

        const check = () => {
          const dropped = table.expire(now);
          for (const o of dropped) {
            // only a lost origin expires, and only once its TTL has passed
            expect(open.has(o)).toBe(false);
            expect(now - (lostAt.get(o) as number)).toBeGreaterThanOrEqual(ttl);
            held.delete(o);
          }
          for (const o of held) {
            // a held list stays while its origin is reachable, or lost for less than the TTL
            const present = table.remote().has(o);
            expect(present).toBe(true);
            if (!open.has(o)) expect(now - (lostAt.get(o) as number)).toBeLessThan(ttl);
          }
          expect([...table.remote().keys()].every((o) => held.has(o))).toBe(true);
          for (const name of NAMES)
            for (const value of VALUES) {
              const total = table.remoteTotal(name, value);
              expect(total).toBeGreaterThanOrEqual(0);
              expect(total).toBe(sumOf(table, name, value));
            }
          const synced = table.synced(now);
          if (!synced) {
            unsyncedSince ??= now;
            // unsynced: for less than sync_timeout, and some reachable (or not yet linked) peer has not answered
            expect(now - unsyncedSince).toBeLessThan(timeout);
            const waiting = [...open].some((o) => !answeredSinceOpen.has(o)) || [...neverLinked].some((o) => !answeredSinceOpen.has(o));
            expect(waiting).toBe(true);
          } else {
            unsyncedSince = undefined;
          }
        };

        check();
        for (const step of steps) {
          const o = step.t === 'wait' ? '' : (ORIGINS[step.o] as string);
          if (step.t === 'wait') now += step.ms;
          else if (step.t === 'open') {
            table.linkOpened(o, now);
            open.add(o);
            neverLinked.delete(o);
            answeredSinceOpen.delete(o);
            lostAt.delete(o);
            // a link that opens while synced makes the site unsynced until the peer answers
            expect(table.synced(now)).toBe(false);
          } else if (step.t === 'lose') {
            if (open.has(o)) lostAt.set(o, now);
            table.linkLost(o, now);
            open.delete(o);
          } else {
            const result = table.offer(o, { boot: step.boot, seq: step.seq }, step.counts, now);
            if (!open.has(o)) expect(result).toBe('unreachable');
            else {
              answeredSinceOpen.add(o);
              if (result === 'taken') held.add(o);
            }
          }
          check();
        }
        // the gate's wait ends: at the latest sync_timeout after the site became unsynced
        now += timeout;
        expect(table.synced(now)).toBe(true);
        // and every lost origin's list is gone a TTL after its loss
        now += ttl;
        table.expire(now);
        expect([...table.remote().keys()].every((k) => open.has(k))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('synced: at once with no paired peer; with peers, once every reachable one answered, or at sync_timeout', () => {
    expect(new ProfileTable(settings(1_000, 5_000), 0, []).synced(0)).toBe(true);
    const t = new ProfileTable(settings(1_000, 5_000), 0, ['peer-a', 'peer-b']);
    expect(t.synced(0)).toBe(false);
    t.linkOpened('peer-a', 10);
    t.offer('peer-a', { boot: 1, seq: 1 }, [], 20);
    // peer-b, paired, may still be up: waited for until the timeout
    expect(t.synced(4_999)).toBe(false);
    expect(t.synced(5_000)).toBe(true);
    // a reconnect: unsynced again until the peer answers
    t.linkOpened('peer-b', 6_000);
    expect(t.synced(6_001)).toBe(false);
    expect(t.nextDeadline()).toBe(11_000);
    t.offer('peer-b', { boot: 1, seq: 1 }, [], 6_002);
    expect(t.synced(6_002)).toBe(true);
    // a peer lost before it answered is no longer waited for
    t.linkOpened('peer-a', 7_000);
    t.linkLost('peer-a', 7_001);
    expect(t.synced(7_001)).toBe(true);
  });
});

describe('SendPlan (property)', () => {
  it('sends planned on changes are at least the gap apart, and a change is never left unsent', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ dt: fc.integer({ min: 0, max: 300 }), request: fc.boolean() }), { maxLength: 80 }), (changes) => {
        const GAP = 100;
        const plan = new SendPlan(GAP);
        let now = 0;
        let lastPlannedSend: number | undefined;
        let unsentSince: number | undefined;
        const fire = (until: number) => {
          const at = plan.planned;
          if (at !== undefined && at <= until) {
            if (lastPlannedSend !== undefined) expect(at - lastPlannedSend).toBeGreaterThanOrEqual(GAP);
            lastPlannedSend = at;
            plan.sent(at);
            unsentSince = undefined;
          }
        };
        for (const c of changes) {
          fire(now + c.dt);
          now += c.dt;
          if (c.request) {
            // an answer to a request goes at once and holds every change so far
            plan.sent(now);
            lastPlannedSend = now;
            unsentSince = undefined;
          }
          plan.changed(now);
          unsentSince ??= now;
          // the change goes within the gap
          expect((plan.planned as number) - unsentSince).toBeLessThanOrEqual(GAP);
        }
      }),
      { numRuns: 300 },
    );
  });
});
