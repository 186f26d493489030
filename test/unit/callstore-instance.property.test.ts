import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { Cdr, Disposition } from '../../shared/api/cdr.js';
import type { CallEvent } from '../../shared/api/events.js';
import { buildCdr, foldCall, type CoreEvent } from '../../service/callstore/core/call.js';
import { CallScript, toCore } from '../support/call-events.js';
import { startTestInstance, type TestInstance } from '../support/callstore-instance.js';

/**
 * The record builder as production runs it: a real CallstoreInstance (SQLite journal in a temporary
 * directory, the call table, the settle queue, the sweep) fed generated calls incrementally, in
 * the order their events would arrive and in batches of any size, on a fake clock. The sources'
 * clocks are off from the appliance's; some events are sent twice under one id with other content;
 * some CANCELs cross their 200; one call may flood past the per-call limit; some calls are ended by
 * the callstore (admin, source lost, resync, timeout); stragglers come after the records.
 *
 * The records go to an in-memory CdrWriter that answers as the store does (idempotent per id) and
 * counts every attempt: the store itself is tested elsewhere (cdr-store.test.ts, integration).
 *
 * Properties: one record per call and no other; a record equal to buildCdr(foldCall(the events
 * stored)) (for a call past the limit: of the events it kept, plus the anomaly); no negative
 * duration, billsec, ringSec or holdSec; the disposition rules; every end kept; ends the callstore
 * made stamped in the source's time and never before the call's last event.
 */

const SETTLE_MS = 4000;
const CALL_TIMEOUT_S = 600;
/** the sweep runs every min(10 s, call_timeout / 4) */
const SWEEP_EVERY_MS = 10_000;
const MAX_DELAY_MS = 3000;
/** a duplicate may carry a `ts` this far from the original's (it then speaks for the source's clock) */
const MAX_DUPLICATE_SHIFT_MS = 500;
const CTX = { site: 'site-a', instance: 'callstore1' };

type Outcome = 'answered' | 'crossing' | 'cancel' | 'fail486' | 'fail600' | 'fail480' | 'fail408' | 'fail404';
type B2buaOutcome = 'answered' | 'ring-timeout' | 'caller-gave-up' | 'busy';
type Synthesized = 'admin' | 'source_lost' | 'resync_missing' | 'timeout';
type Party = 'caller' | 'callee';

interface CallSpec {
  kind: 'simple' | 'b2bua' | 'synthesized' | 'flood';
  source: number;
  startMs: number;
  ringMs: number;
  talkMs: number;
  outcome: Outcome;
  b2buaOutcome: B2buaOutcome;
  synthesized: Synthesized;
  whileRinging: boolean;
  crossMs: number;
  holds: { by: Party; at: number; length: number }[];
  hangupBy: Party;
  flood: 'hold' | 'progress';
}

const party = fc.constantFrom<Party>('caller', 'callee');
const callSpec: fc.Arbitrary<CallSpec> = fc.record({
  kind: fc.oneof({ arbitrary: fc.constant('simple' as const), weight: 4 }, { arbitrary: fc.constant('b2bua' as const), weight: 3 }, { arbitrary: fc.constant('synthesized' as const), weight: 3 }, { arbitrary: fc.constant('flood' as const), weight: 1 }),
  source: fc.nat({ max: 2 }),
  startMs: fc.integer({ min: 0, max: 30_000 }),
  ringMs: fc.integer({ min: 200, max: 8000 }),
  talkMs: fc.integer({ min: 1, max: 40_000 }),
  outcome: fc.oneof({ arbitrary: fc.constant<Outcome>('answered'), weight: 5 }, { arbitrary: fc.constant<Outcome>('crossing'), weight: 2 }, fc.constantFrom<Outcome>('cancel', 'fail486', 'fail600', 'fail480', 'fail408', 'fail404')),
  b2buaOutcome: fc.oneof({ arbitrary: fc.constant<B2buaOutcome>('answered'), weight: 2 }, fc.constantFrom<B2buaOutcome>('ring-timeout', 'caller-gave-up', 'busy')),
  synthesized: fc.constantFrom<Synthesized>('admin', 'source_lost', 'resync_missing', 'timeout'),
  whileRinging: fc.boolean(),
  crossMs: fc.integer({ min: 1, max: 40 }),
  // where a hold starts and how long it lasts, in thousandths of the talk time
  holds: fc.array(fc.record({ by: party, at: fc.integer({ min: 0, max: 900 }), length: fc.integer({ min: 20, max: 1000 }) }), { maxLength: 4 }),
  hangupBy: party,
  flood: fc.constantFrom<'hold' | 'progress'>('hold', 'progress'),
});

const scenario = fc.record({
  skews: fc.array(fc.integer({ min: -90_000, max: 90_000 }), { minLength: 3, maxLength: 3 }),
  calls: fc.array(callSpec, { minLength: 1, maxLength: 5 }).map((calls) => {
    // one flood at most: it is ten thousand events
    let floods = 0;
    return calls.map((c) => (c.kind === 'flood' && floods++ > 0 ? { ...c, kind: 'simple' as const } : c));
  }),
  delays: fc.infiniteStream(fc.integer({ min: 0, max: MAX_DELAY_MS })),
  chunks: fc.infiniteStream(fc.integer({ min: 1, max: 8 })),
  duplicates: fc.array(fc.record({ pick: fc.nat(), change: fc.constantFrom('ts', 'reason', 'by', 'to', 'code'), lagMs: fc.integer({ min: -1000, max: 1000 }) }), { maxLength: 6 }),
  stragglers: fc.array(fc.nat(), { maxLength: 2 }),
});

interface PlannedCall {
  id: string;
  spec: CallSpec;
  source: string;
  skewMs: number;
  dialogs: string[];
  events: CallEvent[];
  expected: { disposition: Disposition; billsec?: number; holdSec?: number };
  /** the events of a flood go out as they happen, without the random delays */
  floodIds: Set<string>;
}

/** Builds the calls' events in their sources' clocks: appliance time + the source's skew. */
function planCalls(t0: number, skews: readonly number[], specs: readonly CallSpec[]): PlannedCall[] {
  const scripts = new Map<string, CallScript>();
  const scriptOf = (name: string, skewMs: number) => {
    let s = scripts.get(name);
    if (!s) scripts.set(name, (s = new CallScript(name, t0 + skewMs)));
    return s;
  };
  return specs.map((spec, k) => {
    const id = `call-${k}`;
    const a = `k${k}-a`;
    const b = `k${k}-b`;
    // a call whose source gets lost has a source of its own: the loss ends every call of a source
    const source = spec.kind === 'synthesized' && spec.synthesized === 'source_lost' ? `lost${k}` : `pbx${spec.source}`;
    const skewMs = skews[spec.source] as number;
    const s = scriptOf(source, skewMs);
    const from = s.events.length;
    const { startMs: st, ringMs: ring, talkMs: talk } = spec;
    const ref = { callRef: id };
    let expected: PlannedCall['expected'];
    const floodIds = new Set<string>();
    const dialogs = [a];
    /** holds by either side, overlapping as they come; returns the time on hold, overlaps counted once */
    const holdsIn = (answerAt: number, endAt: number): number => {
      const intervals: [number, number][] = [];
      const open = new Map<Party, number>();
      for (const h of spec.holds) {
        const on = answerAt + Math.floor((h.at / 1000) * (endAt - answerAt));
        const off = Math.min(on + Math.floor((h.length / 1000) * (endAt - answerAt)), endAt - 1);
        // a side holds again only after it resumed: its holds do not overlap one another
        if (on >= off || (open.get(h.by) ?? -1) >= on) continue;
        s.hold(on, a, h.by).resume(off, a, h.by);
        open.set(h.by, off);
        intervals.push([on, off]);
      }
      let total = 0;
      let reach = -Infinity;
      for (const [on, off] of intervals.sort((x, y) => x[0] - y[0])) {
        total += Math.max(0, off - Math.max(on, reach));
        reach = Math.max(reach, off);
      }
      return total / 1000;
    };
    switch (spec.kind) {
      case 'simple': {
        s.invite(st, a, '101', '102', ref).ring(st + 100, a, 'br1');
        const at = st + ring;
        if (spec.outcome === 'answered') {
          s.answer(at, a, 'br1');
          const holdSec = holdsIn(at, at + talk);
          s.end(at + talk, a, spec.hangupBy);
          expected = { disposition: 'ANSWERED', billsec: talk / 1000, holdSec };
        } else if (spec.outcome === 'crossing') {
          // the caller's CANCEL and the callee's 200 cross: answered, and the caller's BYE follows
          s.cancel(at, a).answer(at + spec.crossMs, a, 'br1').end(at + spec.crossMs + talk, a, 'caller');
          expected = { disposition: 'ANSWERED', billsec: talk / 1000 };
        } else if (spec.outcome === 'cancel') {
          s.cancel(at, a);
          expected = { disposition: 'CANCELLED' };
        } else {
          const code = Number(spec.outcome.slice(4));
          s.fail(at, a, code);
          expected = { disposition: code === 486 || code === 600 ? 'BUSY' : code === 408 || code === 480 ? 'NO_ANSWER' : 'FAILED' };
        }
        break;
      }
      case 'b2bua': {
        dialogs.push(b);
        s.invite(st, a, '101', '200', ref).invite(st + 20, b, '101', '201').link(st + 20, b, a, 'b2bua').ring(st + 50, b, 'bb').ring(st + 60, a, 'ba');
        const at = st + ring;
        if (spec.b2buaOutcome === 'answered') {
          s.answer(at, b, 'bb').answer(at + 10, a, 'ba');
          const holdSec = holdsIn(at + 10, at + talk);
          s.end(at + talk, a, spec.hangupBy).end(at + talk + 5, b, spec.hangupBy);
          expected = { disposition: 'ANSWERED', billsec: (talk + 5) / 1000, holdSec };
        } else if (spec.b2buaOutcome === 'ring-timeout') {
          // the B2BUA gives up ringing the callee and tells the caller 480
          s.cancel(at, b).fail(at + 10, a, 480);
          expected = { disposition: 'NO_ANSWER' };
        } else if (spec.b2buaOutcome === 'caller-gave-up') {
          s.cancel(at, a).cancel(at + 5, b);
          expected = { disposition: 'CANCELLED' };
        } else {
          s.fail(at, b, 486).fail(at + 10, a, 486);
          expected = { disposition: 'BUSY' };
        }
        break;
      }
      case 'synthesized': {
        s.invite(st, a, '101', '102', ref).ring(st + 100, a, 'br1');
        if (!spec.whileRinging) s.answer(st + ring, a, 'br1');
        expected = { disposition: !spec.whileRinging ? 'ANSWERED' : spec.synthesized === 'timeout' ? 'NO_ANSWER' : 'FAILED' };
        break;
      }
      case 'flood': {
        const at = st + ring;
        const floodTalk = 12_000 + talk;
        s.invite(st, a, '101', '102', ref).ring(st + 100, a, 'br1').answer(at, a, 'br1');
        for (let i = 0; s.events.length - from < 10_150; i++) {
          const t = at + 1 + Math.floor(i / 2);
          if (spec.flood === 'progress') s.ring(t, a, 'br1', 183);
          else if (i % 2 === 0) s.hold(t, a, 'callee');
          else s.resume(t, a, 'callee');
          floodIds.add((s.events.at(-1) as CallEvent).id);
        }
        s.end(at + floodTalk, a, spec.hangupBy);
        expected = { disposition: 'ANSWERED', billsec: floodTalk / 1000 };
        break;
      }
    }
    return { id, spec, source, skewMs, dialogs, events: s.events.slice(from), expected, floodIds };
  });
}

interface Delivery {
  event: CallEvent;
  call: PlannedCall;
  /** appliance time the event happened, and when it arrives */
  happenedAt: number;
  arrivesAt: number;
}

function changed(e: CallEvent, change: string, lagMs: number): CallEvent {
  switch (change) {
    case 'ts':
      // only where a shifted time cannot turn the call's outcome around
      return e.type === 'progress' || e.type === 'hold' || e.type === 'resume' ? { ...e, ts: new Date(Date.parse(e.ts) + Math.sign(lagMs) * Math.min(Math.abs(lagMs), MAX_DUPLICATE_SHIFT_MS)).toISOString() } : { ...e, reason: 'resent' };
    case 'by':
      return e.by ? { ...e, by: e.by === 'caller' ? 'callee' : 'caller' } : { ...e, reason: 'resent' };
    case 'to':
      return e.type === 'invite' ? { ...e, to: 'sip:999@office.example' } : { ...e, reason: 'resent' };
    case 'code':
      return e.type === 'progress' ? { ...e, code: 183 } : { ...e, reason: 'resent' };
    default:
      return { ...e, reason: 'resent' };
  }
}

const TERMINAL = new Set(['end', 'fail', 'cancel']);

describe('a CallstoreInstance fed calls as they come', () => {
  it('property: one record per call, as the pure fold of its stored events makes it, right at the edges', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ skews, calls: specs, delays, chunks, duplicates, stragglers }) => {
        vi.useFakeTimers();
        let t: TestInstance | undefined;
        try {
          t = await startTestInstance({ finish_settle_ms: SETTLE_MS, call_timeout: CALL_TIMEOUT_S });
          const instance = t.instance;
          const t0 = Date.now() + 1000;
          const calls = planCalls(t0, skews, specs);
          const delay = delays[Symbol.iterator]();
          const chunk = chunks[Symbol.iterator]();

          // when each event arrives: after it happened, late by a random delay (a flood as it happens)
          const deliveries: Delivery[] = calls.flatMap((call) =>
            call.events.map((event) => {
              const happenedAt = Date.parse(event.ts) - call.skewMs;
              return { event, call, happenedAt, arrivesAt: happenedAt + (call.floodIds.has(event.id) ? 0 : (delay.next().value as number)) };
            }),
          );
          // the same id once more with other content, before or after the original
          const originals = deliveries.filter((d) => !d.call.floodIds.has(d.event.id));
          for (const dup of duplicates) {
            const of = originals[dup.pick % originals.length] as Delivery;
            deliveries.push({ ...of, event: changed(of.event, dup.change, dup.lagMs), arrivesAt: Math.max(of.happenedAt, of.arrivesAt + dup.lagMs) });
          }
          deliveries.sort((x, y) => x.arrivesAt - y.arrivesAt);

          // batches of consecutive arrivals, each delivered when its last event is in
          const batches: { at: number; items: Delivery[] }[] = [];
          for (let i = 0; i < deliveries.length; ) {
            const size = chunk.next().value as number;
            const items: Delivery[] = [];
            // a flood comes in bursts: its events go in batches of up to 500
            const limit = (d: Delivery) => (d.call.floodIds.has(d.event.id) ? 500 : size);
            while (i < deliveries.length && (items.length === 0 || (items.length < limit(deliveries[i] as Delivery) && (deliveries[i] as Delivery).arrivesAt - (items[0] as Delivery).arrivesAt < 300))) items.push(deliveries[i++] as Delivery);
            batches.push({ at: (items.at(-1) as Delivery).arrivesAt, items });
          }

          // the callstore's own ends: a while after the call's last event came in
          const lastArrival = new Map<PlannedCall, number>();
          for (const b of batches) for (const d of b.items) lastArrival.set(d.call, Math.max(lastArrival.get(d.call) ?? 0, b.at));
          const actions = calls
            .filter((c) => c.spec.kind === 'synthesized' && c.spec.synthesized !== 'timeout')
            .map((c) => ({ at: (lastArrival.get(c) as number) + 1000 + c.spec.talkMs, call: c }));

          const firstSeen = new Map<string, CallEvent>();
          const worstDelay = new Map<string, number>();
          const actedAt = new Map<PlannedCall, number>();
          const steps = [...batches.map((b) => ({ at: b.at, batch: b })), ...actions.map((a) => ({ at: a.at, action: a }))].sort((x, y) => x.at - y.at || ('batch' in x ? -1 : 1));
          for (const step of steps) {
            if (step.at > Date.now()) await vi.advanceTimersByTimeAsync(step.at - Date.now());
            if ('batch' in step && step.batch) {
              const events = step.batch.items.map((d) => d.event);
              const { fresh } = instance.ingest(events.map(toCore));
              step.batch.items.forEach((d, i) => {
                // the first of an id is stored, whatever a later one says
                expect(fresh[i]).toBe(!firstSeen.has(d.event.id));
                if (!firstSeen.has(d.event.id)) firstSeen.set(d.event.id, d.event);
                worstDelay.set(d.call.source, Math.max(worstDelay.get(d.call.source) ?? 0, Date.now() - d.happenedAt));
              });
            } else if ('action' in step && step.action) {
              const { call } = step.action;
              actedAt.set(call, Date.now());
              if (call.spec.synthesized === 'admin') expect(instance.terminate(call.id, 'admin')).toBeDefined();
              else if (call.spec.synthesized === 'source_lost') expect(instance.endSource(call.source, 'source_lost')).toBe(1);
              else instance.endDialogs(new Set(call.dialogs), 'resync_missing');
            }
          }
          // the settle delay: every call is written but those whose events stopped
          await vi.advanceTimersByTimeAsync(SETTLE_MS + 100);
          const waiting = calls.filter((c) => c.spec.kind === 'synthesized' && c.spec.synthesized === 'timeout');
          expect(instance.activeCount).toBe(waiting.length);

          // stragglers: events of finished calls after their records, kept in the journal only
          const finished = calls.filter((c) => !waiting.includes(c));
          const recordsBefore = new Map([...t.cdrs.records].map(([id, cdr]) => [id, structuredClone(cdr)]));
          for (const [n, pick] of finished.length ? stragglers.entries() : []) {
            const call = finished[pick % finished.length] as PlannedCall;
            const last = call.events.at(-1) as CallEvent;
            const straggler = { ...last, id: `${call.id}-straggler-${n}`, type: 'hold' as const, by: 'callee' as const, ts: new Date(Date.parse(last.ts) - 1).toISOString() };
            expect(instance.ingest([toCore(straggler)]).fresh).toEqual([true]);
            expect(instance.rawEvents([last.callId]).map((e) => e.id)).toContain(straggler.id);
          }
          await vi.advanceTimersByTimeAsync(SETTLE_MS + 100);
          expect(instance.activeCount).toBe(waiting.length);
          expect(t.cdrs.records).toEqual(recordsBefore);

          // call_timeout for the calls whose events stopped
          await vi.advanceTimersByTimeAsync(CALL_TIMEOUT_S * 1000 + SWEEP_EVERY_MS + 100);
          expect(instance.activeCount).toBe(0);

          // one record per call, and no other
          expect([...t.cdrs.attempts.keys()].sort()).toEqual(calls.map((c) => c.id).sort());
          for (const [id, n] of t.cdrs.attempts) expect(n, `attempts to write ${id}`).toBe(1);

          for (const call of calls) {
            const cdr = t.cdrs.records.get(call.id) as Cdr;
            const stored = call.events.map((e) => firstSeen.get(e.id) as CallEvent).map(toCore);
            const synthesized: CoreEvent[] = instance.rawEvents(call.dialogs).filter((e) => e.synthesized);
            const label = `${call.id} (${call.spec.kind})`;

            for (const value of [cdr.duration, cdr.billsec, cdr.ringSec, cdr.holdSec]) expect(value, `${label}: no negative time`).toBeGreaterThanOrEqual(0);
            expect(cdr.disposition, `${label}: disposition`).toBe(call.expected.disposition);
            if (call.expected.billsec !== undefined) expect(cdr.billsec, `${label}: billsec`).toBeCloseTo(call.expected.billsec, 3);
            // time on hold as the holds were made, when no duplicate changed one of them
            const asSent = call.events.every((e) => firstSeen.get(e.id) === e);
            if (call.expected.holdSec !== undefined && asSent) expect(cdr.holdSec, `${label}: holdSec`).toBeCloseTo(call.expected.holdSec, 3);
            expect(cdr.legs.every((l) => l.state === 'terminated')).toBe(true);
            // every end kept
            for (const e of stored) if (TERMINAL.has(e.type)) expect(cdr.eventIds, `${label}: its ${e.type} ${e.id}`).toContain(e.id);

            if (call.spec.kind === 'flood') {
              // past the limit: the record is the fold of what it kept, and says what it left out
              const kept = stored.filter((e) => cdr.eventIds.includes(e.id));
              const reference = buildCdr(foldCall(kept), CTX);
              expect({ ...cdr, anomalies: [] }).toEqual({ ...reference, anomalies: [] });
              expect(cdr.anomalies).toEqual([...reference.anomalies, expect.stringMatching(new RegExp(`^${stored.length - kept.length} events past the limit`))]);
              expect(stored.length - kept.length).toBeGreaterThan(0);
              continue;
            }

            expect(cdr, label).toEqual(buildCdr(foldCall([...stored, ...synthesized]), CTX));
            if (call.spec.kind !== 'synthesized') {
              expect(synthesized).toEqual([]);
              continue;
            }

            // ended by the callstore: in the source's time, never before the call's last event
            expect(synthesized).toHaveLength(1);
            expect(cdr).toMatchObject({ synthesized: true, endReason: call.spec.synthesized });
            const lastTs = foldCall(stored).lastEventAt;
            const end = (synthesized[0] as CoreEvent).tsMs;
            const [earliestAct, latestAct] =
              call.spec.synthesized === 'timeout'
                ? [(lastArrival.get(call) as number) + CALL_TIMEOUT_S * 1000, (lastArrival.get(call) as number) + CALL_TIMEOUT_S * 1000 + SWEEP_EVERY_MS]
                : [actedAt.get(call) as number, actedAt.get(call) as number];
            expect(end, `${label}: after the last event`).toBeGreaterThan(lastTs);
            expect(end, `${label}: not later than now in the source's time`).toBeLessThanOrEqual(Math.max(latestAct + call.skewMs + MAX_DUPLICATE_SHIFT_MS, lastTs + 1));
            expect(end, `${label}: not earlier than its estimate allows`).toBeGreaterThanOrEqual(Math.max(earliestAct + call.skewMs - (worstDelay.get(call.source) as number) - MAX_DUPLICATE_SHIFT_MS, lastTs + 1));
          }
        } finally {
          await t?.close();
          vi.useRealTimers();
        }
      }),
      { numRuns: 30 },
    );
  }, 240_000);
});
