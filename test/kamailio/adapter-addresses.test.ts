import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressChoice, type AddressRules } from '../../integrations/kamailio/adapter/addresses.js';

/**
 * The adapter's choice among several appliance addresses (addresses.ts), a pure core: which one
 * it dials, when a down one is probed, when it is taken back. Driven here the way ApplianceLink
 * drives it: dial what pick() names, then report open, failure, purposeful close and probes.
 */

const RULES: AddressRules = { probeMinMs: 1000, probeMaxMs: 8000, returnAfter: 2, stableMs: 60_000 };

describe('appliance addresses: the choice', () => {
  it('uses the first; one failure moves to the next at once; the failed one is probed after 1, 2, 4 s … up to the longest pause', () => {
    const c = new AddressChoice(3, RULES);
    let now = 1_000_000;
    expect(c.pick(now)).toEqual({ index: 0, delayMs: 0 });
    c.opened(0, now);
    now += 5000;
    c.failed(0, now, 'connection refused');
    expect(c.pick(now)).toEqual({ index: 1, delayMs: 0 });
    c.opened(1, now);
    expect(c.current).toBe(1);
    expect(c.probesDue(now)).toEqual([]);
    expect(c.nextProbeTime()).toBe(now + 1000);
    const pauses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const at = c.nextProbeTime() as number;
      pauses.push(at - now);
      now = at;
      expect(c.probesDue(now)).toEqual([0]);
      expect(c.probed(0, false, now, 'refused')).toBe(false);
    }
    expect(pauses).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    // healthy twice in a row (1 s apart): up again, and preferred to the one in use
    now = c.nextProbeTime() as number;
    expect(c.probed(0, true, now)).toBe(false);
    expect(c.preferred(now)).toBeNull();
    expect(c.nextProbeTime()).toBe(now + 1000);
    now += 1000;
    expect(c.probed(0, true, now)).toBe(true);
    expect(c.preferred(now)).toBe(0);
    c.closed(1, now);
    expect(c.pick(now)).toEqual({ index: 0, delayMs: 0 });
  });

  it('a healthy probe after a failed one starts the count again', () => {
    const c = new AddressChoice(2, RULES);
    let now = 0;
    c.opened(0, now);
    c.failed(0, now, 'closed');
    c.opened(1, now);
    now += 1000;
    c.probed(0, true, now);
    now += 1000;
    c.probed(0, false, now);
    now = c.nextProbeTime() as number;
    expect(c.probed(0, true, now)).toBe(false);
    now += 1000;
    expect(c.probed(0, true, now)).toBe(true);
  });

  it('a Retry-After keeps an address from being probed or dialled before it has passed', () => {
    const c = new AddressChoice(2, RULES);
    let now = 0;
    c.opened(0, now);
    c.failed(0, now, 'the appliance cannot store events now', 5000);
    c.opened(1, now);
    expect(c.nextProbeTime()).toBe(5000);
    expect(c.probesDue(4999)).toEqual([]);
    now = 5000;
    c.probed(0, true, now);
    now += 1000;
    expect(c.probed(0, true, now)).toBe(true);
    // every address down: dialled in turn, the banned one only once its ban is over
    const d = new AddressChoice(2, RULES);
    d.failed(0, 0, 'refused', 10_000);
    d.failed(1, 0, 'refused');
    expect(d.pick(100, 250)).toEqual({ index: 1, delayMs: 250 });
    d.failed(1, 200, 'refused', 20_000);
    expect(d.pick(300, 250)).toEqual({ index: 0, delayMs: 9700 });
  });

  it('every address down: each is dialled in turn, the one that failed longest ago first', () => {
    const c = new AddressChoice(3, RULES);
    let now = 0;
    for (const i of [0, 1, 2]) c.failed(i, (now += 10), 'refused');
    const order: number[] = [];
    for (let k = 0; k < 6; k++) {
      const p = c.pick(now, 250);
      expect(p.delayMs).toBe(250);
      order.push(p.index);
      now += 250;
      c.failed(p.index, now, 'refused');
    }
    expect(order).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('damps flapping: an address that fails again soon after it was taken back keeps its long pause; a stable link resets it', () => {
    const c = new AddressChoice(2, RULES);
    let now = 0;
    c.opened(0, now);
    c.failed(0, now, 'closed');
    c.opened(1, now);
    // back after 2 healthy probes, taken, and failing again within a second: 2 s, then 4 s
    const cycle = () => {
      now = c.nextProbeTime() as number;
      c.probed(0, true, now);
      now += 1000;
      expect(c.probed(0, true, now)).toBe(true);
      c.closed(1, now);
      c.opened(0, now);
      now += 500;
      c.failed(0, now, 'closed');
      c.opened(1, now);
      return (c.nextProbeTime() as number) - now;
    };
    expect([cycle(), cycle(), cycle(), cycle()]).toEqual([2000, 4000, 8000, 8000]);
    now = c.nextProbeTime() as number;
    c.probed(0, true, now);
    now += 1000;
    c.probed(0, true, now);
    c.closed(1, now);
    c.opened(0, now);
    now += 60_000;
    c.failed(0, now, 'closed');
    expect((c.nextProbeTime() as number) - now).toBe(1000);
  });

  type Op =
    | { kind: 'wait'; ms: number }
    | { kind: 'dial'; ok: boolean; retryAfterMs: number | undefined }
    | { kind: 'drop'; retryAfterMs: number | undefined }
    | { kind: 'leave' }
    | { kind: 'probe'; healthy: boolean };
  // most failures name no Retry-After, as most of the adapter's do
  const retryAfter = fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 20_000 }), weight: 1 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 12_000 }) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('dial' as const), ok: fc.boolean(), retryAfterMs: retryAfter }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('drop' as const), retryAfterMs: retryAfter }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('leave' as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('probe' as const), healthy: fc.boolean() }), weight: 2 },
  );

  it('keeps its rules whatever happens (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 120 }), (count, ops) => {
        const c = new AddressChoice(count, RULES);
        let now = 1_000_000;
        // healthy probes in a row of each address since it last went down
        const okRun = Array.from({ length: count }, () => 0);
        // the addresses dialled while every one was down, since the last open
        let allDownDials: { index: number; noneBanned: boolean }[] = [];
        for (const o of ops) {
          if (o.kind === 'wait') now += o.ms;
          else if (o.kind === 'dial') {
            if (c.current !== null) continue;
            const p = c.pick(now, 250);
            // the most preferred address that is up is dialled at once; none up: a pause
            const firstUp = c.states.findIndex((s) => s.up && s.notBefore <= now);
            if (firstUp >= 0) expect(p).toEqual({ index: firstUp, delayMs: 0 });
            else expect(p.delayMs).toBeGreaterThanOrEqual(250);
            now += p.delayMs;
            // never dialled before its Retry-After
            expect(c.states[p.index]?.notBefore ?? 0).toBeLessThanOrEqual(now);
            if (firstUp >= 0) allDownDials = [];
            else {
              allDownDials.push({ index: p.index, noneBanned: c.states.every((s) => s.notBefore <= now) });
              // in turn: while no Retry-After is in force, none is dialled twice before each had its go
              const last = allDownDials.slice(-count);
              if (last.length === count && last.every((d) => d.noneBanned)) expect(new Set(last.map((d) => d.index)).size).toBe(count);
            }
            if (o.ok) {
              c.opened(p.index, now);
              allDownDials = [];
            } else {
              c.failed(p.index, now, 'refused', o.retryAfterMs);
              okRun[p.index] = 0;
            }
          } else if (o.kind === 'drop' || o.kind === 'leave') {
            const cur = c.current;
            if (cur === null) continue;
            if (o.kind === 'drop') {
              c.failed(cur, now, 'closed', o.retryAfterMs);
              okRun[cur] = 0;
            } else c.closed(cur, now);
          } else {
            for (const i of c.probesDue(now)) {
              // never probed before its Retry-After, nor the address in use
              expect(now).toBeGreaterThanOrEqual(c.states[i]?.notBefore ?? 0);
              expect(i).not.toBe(c.current);
              okRun[i] = o.healthy ? (okRun[i] as number) + 1 : 0;
              const upAgain = c.probed(i, o.healthy, now);
              // up again only after returnAfter healthy probes in a row
              if (upAgain) {
                expect(okRun[i]).toBeGreaterThanOrEqual(RULES.returnAfter);
                okRun[i] = 0;
              }
            }
          }
          for (const [i, s] of c.states.entries()) {
            expect(s.probeDelayMs).toBeGreaterThanOrEqual(RULES.probeMinMs);
            expect(s.probeDelayMs).toBeLessThanOrEqual(RULES.probeMaxMs);
            if (!s.up) {
              expect(s.nextProbeAt).toBeGreaterThanOrEqual(s.notBefore);
              expect(i).not.toBe(c.current);
            }
          }
          const better = c.preferred(now);
          if (better !== null) {
            expect(better).toBeLessThan(c.current as number);
            expect(c.states[better]?.up).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
