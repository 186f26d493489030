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
  await vi.advanceTimersByTimeAsync(SETTLE_MS + 10);
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
