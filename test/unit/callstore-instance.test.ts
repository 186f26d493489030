import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import type { CallEvent } from '../../shared/api/events.js';
import { CallScript, toCore } from '../support/call-events.js';
import { startTestInstance, type TestInstance } from '../support/callstore-instance.js';

/**
 * The record builder through a running CallstoreInstance (journal on SQLite, the call table, the
 * settle queue), on a fake clock: events are delivered at the appliance time they would arrive,
 * stamped with their source's own clock.
 */

const SETTLE_MS = 1000;
/** how long a finished call's write may wait to share the commit of the next append (EventJournal.finish), and a little more */
const FINISH_WAIT_MS = 60;
const opened: TestInstance[] = [];

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(async () => {
  vi.useRealTimers();
  for (const t of opened.splice(0)) await t.close();
});

async function start(ext: Record<string, unknown> = {}, opts: Parameters<typeof startTestInstance>[1] = {}): Promise<TestInstance> {
  const t = await startTestInstance({ finish_settle_ms: SETTLE_MS, ...ext }, opts);
  opened.push(t);
  return t;
}

/** Delivers each event when its source's clock shows its `ts` (the source runs `skewMs` ahead of the appliance). */
async function deliverAtTheirTime(t: TestInstance, events: readonly CallEvent[], skewMs: number): Promise<void> {
  for (const e of [...events].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts))) {
    const due = Date.parse(e.ts) - skewMs;
    if (due > Date.now()) await vi.advanceTimersByTimeAsync(due - Date.now());
    t.instance.ingest([toCore(e)]);
  }
}

/** Lets the settle delay pass and the record writer run. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(SETTLE_MS + FINISH_WAIT_MS);
}

function recordOf(t: TestInstance, id: string): Cdr {
  const cdr = t.cdrs.records.get(id);
  if (!cdr) throw new Error(`no record of ${id}; records: ${[...t.cdrs.records.keys()].join(', ') || 'none'}`);
  return cdr;
}

describe('disposition through the instance', () => {
  it('a B2BUA that cancels its leg to the callee on ring timeout while the caller’s leg ends 480 is NO_ANSWER', async () => {
    const t = await start();
    const s = new CallScript('b2bua1', Date.now())
      .invite(0, 'a-leg', '+4930111', '200', { callRef: 'x-480' })
      .invite(20, 'b-leg', '+4930111', '201')
      .link(20, 'b-leg', 'a-leg', 'b2bua')
      .ring(50, 'b-leg')
      .ring(60, 'a-leg')
      .cancel(30_000, 'b-leg')
      .fail(30_010, 'a-leg', 480);
    await deliverAtTheirTime(t, s.events, 0);
    await settle();
    expect(recordOf(t, 'x-480')).toMatchObject({ disposition: 'NO_ANSWER', hangup: { by: 'callee', code: 480 } });
  });

  it('the caller giving up on the root leg is CANCELLED, whatever the other legs end with', async () => {
    const t = await start();
    const s = new CallScript('b2bua1', Date.now())
      .invite(0, 'a-leg', '+4930111', '200', { callRef: 'x-cancel' })
      .invite(20, 'b-leg', '+4930111', '201')
      .link(20, 'b-leg', 'a-leg', 'b2bua')
      .ring(50, 'b-leg')
      .cancel(9000, 'a-leg')
      .fail(9010, 'b-leg', 486);
    await deliverAtTheirTime(t, s.events, 0);
    await settle();
    expect(recordOf(t, 'x-cancel').disposition).toBe('CANCELLED');
  });
});

describe('synthesized ends are stamped in the source’s time', () => {
  it.each([
    ['60 s ahead', 60_000],
    ['60 s behind', -60_000],
  ])('an admin end of a call from a source %s: billsec and duration as the call lasted', async (_what, skewMs) => {
    const t = await start();
    const t0 = Date.now();
    const s = new CallScript('pbx-skewed', t0 + skewMs).invite(0, 'adm-1', '101', '102').ring(200, 'adm-1').answer(1000, 'adm-1');
    await deliverAtTheirTime(t, s.events, skewMs);
    await vi.advanceTimersByTimeAsync(t0 + 3000 - Date.now());
    const cdr = t.instance.terminate('adm-1', 'admin');
    expect(cdr).toMatchObject({ endReason: 'admin', synthesized: true, disposition: 'ANSWERED', duration: 3, billsec: 2, ringSec: 1 });
    await vi.advanceTimersByTimeAsync(10);
    expect(recordOf(t, 'adm-1')).toMatchObject({ duration: 3, billsec: 2, endedAt: new Date(t0 + skewMs + 3000).toISOString() });
  });

  it('a lost source’s calls end at the source’s time of the loss', async () => {
    const t = await start();
    const t0 = Date.now();
    const skewMs = 45_000;
    const s = new CallScript('kam-ahead', t0 + skewMs).invite(0, 'lost-1', '101', '102').answer(500, 'lost-1');
    await deliverAtTheirTime(t, s.events, skewMs);
    await vi.advanceTimersByTimeAsync(t0 + 20_500 - Date.now());
    expect(t.instance.endSource('kam-ahead', 'source_lost')).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(recordOf(t, 'lost-1')).toMatchObject({ endReason: 'source_lost', billsec: 20, duration: 20.5 });
  });

  it('one late sample does not move the estimate: a backlog replayed after a reconnect', async () => {
    const t = await start();
    const t0 = Date.now();
    const skewMs = 30_000;
    const s = new CallScript('pbx-backlog', t0 + skewMs).invite(0, 'bl-1', '101', '102').answer(500, 'bl-1');
    await deliverAtTheirTime(t, s.events, skewMs);
    // a call of a minute ago, delivered only now (the adapter resends its spool): its samples say
    // "90 s behind", which is delay, not clock
    await vi.advanceTimersByTimeAsync(10_000);
    const old = new CallScript('pbx-backlog', t0 + skewMs - 60_000).invite(0, 'bl-old', '101', '103').answer(100, 'bl-old').end(200, 'bl-old');
    t.instance.ingest(old.events.map(toCore));
    const cdr = t.instance.terminate('bl-1', 'admin');
    expect(cdr).toMatchObject({ billsec: 10, duration: 10.5 });
  });

  it('never before the call’s last event, even when the source’s offset is not known (after a restart)', async () => {
    const first = await start();
    const t0 = Date.now();
    const skewMs = 60_000;
    const s = new CallScript('pbx-ahead', t0 + skewMs).invite(0, 'rs-1', '101', '102').answer(1000, 'rs-1');
    await deliverAtTheirTime(first, s.events, skewMs);
    await first.instance.stop();
    opened.splice(opened.indexOf(first), 1);
    const again = await start({}, { dataDir: first.dataDir, cdrs: first.cdrs });
    await vi.advanceTimersByTimeAsync(2000);
    const cdr = again.instance.terminate('rs-1', 'admin');
    expect(cdr?.billsec).toBeGreaterThan(0);
    expect(cdr?.duration).toBeGreaterThanOrEqual(1);
    expect(Date.parse(cdr?.endedAt ?? '')).toBeGreaterThan(Date.parse(s.events[1]!.ts));
  });
});

describe('holds through the instance', () => {
  it('caller and callee on hold at once: both holds are kept, the time on hold counted once', async () => {
    const t = await start();
    const t0 = Date.now();
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    const s = new CallScript('pbx1', t0)
      .invite(0, 'h2', '101', '102')
      .answer(1000, 'h2')
      .hold(10_000, 'h2', 'caller')
      .hold(12_000, 'h2', 'callee')
      .resume(15_000, 'h2', 'caller')
      .resume(20_000, 'h2', 'callee')
      .end(30_000, 'h2');
    await deliverAtTheirTime(t, s.events, 0);
    await settle();
    const cdr = recordOf(t, 'h2');
    expect(cdr.holds).toEqual([
      { callId: 'h2', by: 'caller', on: at(10_000), off: at(15_000) },
      { callId: 'h2', by: 'callee', on: at(12_000), off: at(20_000) },
    ]);
    expect(cdr.holdSec).toBe(10);
  });
});

describe('a call past the per-call limit of events', () => {
  it('is acknowledged, journaled, and still finishes with its end and an anomaly', async () => {
    const t = await start();
    const t0 = Date.now();
    const s = new CallScript('pbx-chatty', t0).invite(0, 'flood', '101', '102').answer(1000, 'flood');
    for (let i = 0; s.events.length < 10_200; i++) s.hold(2000 + i * 2, 'flood', 'callee').resume(2001 + i * 2, 'flood', 'callee');
    s.end(60_000, 'flood', 'caller');
    const events = s.events.map(toCore);
    for (let i = 0; i < events.length; i += 500) t.instance.ingest(events.slice(i, i + 500));
    await vi.advanceTimersByTimeAsync(SETTLE_MS + FINISH_WAIT_MS);
    const cdr = recordOf(t, 'flood');
    expect(cdr).toMatchObject({ endedAt: new Date(t0 + 60_000).toISOString(), billsec: 59, hangup: { by: 'caller' } });
    expect(cdr.anomalies).toContainEqual(expect.stringMatching(/^200 events past the limit of events per call were left out/));
    expect(t.instance.rawEvents(['flood'])).toHaveLength(events.length);
  });
});

describe('the settle queue', () => {
  it('a call that finishes again after a CANCEL crossed its 200 waits the whole settle delay from its real end', async () => {
    const t = await start();
    const t0 = Date.now();
    const s = new CallScript('pbx1', t0).invite(0, 'x-1', '101', '102').ring(100, 'x-1', 'b1').cancel(5000, 'x-1').answer(5001, 'x-1', 'b1').end(5900, 'x-1');
    const [invite, ring, cancel, answer, end] = s.events;
    const late = new CallScript('pbx1', t0).ring(4000, 'x-1', 'b2').events[0]!;
    await deliverAtTheirTime(t, [invite!, ring!, cancel!], 0);
    // the 200 and the BYE come just before the cancelled call's settle delay is out
    await vi.advanceTimersByTimeAsync(SETTLE_MS - 50);
    t.instance.ingest([answer!, end!].map(toCore));
    // a branch stamped earlier straggles in after that: still within the delay counted from the end
    await vi.advanceTimersByTimeAsync(200);
    t.instance.ingest([{ ...toCore(late), id: 'pbx1-late-branch' }]);
    await settle();
    const cdr = recordOf(t, 'x-1');
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', billsec: 0.899 });
    expect(cdr.forks.map((f) => [f.toTag, f.outcome])).toEqual([
      ['b1', 'answered'],
      ['b2', 'lose_race'],
    ]);
  });
});
