import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CallEvent } from '../../shared/api/events.js';
import type { SyncDialog } from '../../shared/api/sources.js';
import { CallstoreMetrics } from '../../service/callstore/metrics.js';
import { CallstoreService } from '../../service/callstore/service.js';
import { SourceRegistry } from '../../service/callstore/sources.js';
import { ChangeFeed } from '../../service/storage/changes.js';
import { DocumentStore } from '../../service/storage/documents.js';
import { CallScript } from '../support/call-events.js';
import { startTestInstance, type TestInstance } from '../support/callstore-instance.js';

/**
 * A source's dialog list (POST /api/v1/sources/{id}/sync) against what the callstore holds, through
 * the CallstoreService that plans and applies it, a real SourceRegistry (nedb) and a running
 * CallstoreInstance (SQLite journal), on a fake clock.
 */

const SETTLE_MS = 5000;
/** how long a finished call's write may wait to share the commit of the next append (EventJournal.finish), and a little more */
const FINISH_WAIT_MS = 60;
const DOMAIN = 'office.example';

interface Setup {
  service: CallstoreService;
  t: TestInstance;
  close(): Promise<void>;
}

let setup: Setup | undefined;

beforeEach(() => {
  // The journal commits on a real setImmediate: an ingest resolves once its events are committed.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});

afterEach(async () => {
  await setup?.close();
  setup = undefined;
  vi.useRealTimers();
});

async function start(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-resync-'));
  const service = new CallstoreService((domain) => ({ domain: domain ?? DOMAIN, group: 1, matched: null, instances: ['callstore1'], active: 'callstore1' }), new CallstoreMetrics(new Registry()));
  const sources = await SourceRegistry.open(new DocumentStore(dir, new ChangeFeed()), service.sourceEvents());
  service.attachSources(sources);
  const t = await startTestInstance({ finish_settle_ms: SETTLE_MS });
  service.register(t.instance);
  setup = {
    service,
    t,
    async close() {
      service.unregister(t.instance);
      await sources.close();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return setup;
}

/** Sends each event when its source's clock (`skewMs` ahead of ours) shows its time. */
async function send(service: CallstoreService, events: readonly CallEvent[], skewMs = 0): Promise<void> {
  for (const e of events) {
    const due = Date.parse(e.ts) - skewMs;
    if (due > Date.now()) await vi.advanceTimersByTimeAsync(due - Date.now());
    const report = await service.ingest([e]);
    expect(report.rejected).toEqual([]);
  }
}

const listed = (callId: string, answeredAt?: number, state: SyncDialog['state'] = 'confirmed'): SyncDialog => ({
  callId,
  fromTag: `ft-${callId}`,
  toTag: 'tt1',
  state,
  from: `sip:101@${DOMAIN}`,
  to: `sip:102@${DOMAIN}`,
  domain: DOMAIN,
  ...(answeredAt !== undefined ? { answeredAt: new Date(answeredAt).toISOString() } : {}),
});

describe('a resync against calls the callstore has seen end', () => {
  it('a dialog its source ended, listed as up while its call settles: the list is older than the end', async () => {
    const { service, t } = await start();
    const t0 = Date.now();
    await send(service, new CallScript('kam1', t0).invite(0, 's-1', '101', '102').answer(1000, 's-1').end(2000, 's-1').events);
    await vi.advanceTimersByTimeAsync(2500);
    const result = await service.sync('kam1', [listed('s-1', t0 + 1000)]);
    expect(result).toEqual({ kept: [], reconstructed: [], refused: [], terminated: [], dropped: ['s-1'] });
    await vi.advanceTimersByTimeAsync(SETTLE_MS + FINISH_WAIT_MS);
    expect(t.cdrs.records.get('s-1')).toMatchObject({ endReason: 'normal', synthesized: false, billsec: 1 });
    expect([...t.cdrs.records.keys()]).toEqual(['s-1']);
    expect(service.list()).toEqual([]);
  });

  it('the same after its record is written: no second, resumed record for a call its source ended', async () => {
    const { service, t } = await start();
    const t0 = Date.now();
    await send(service, new CallScript('kam1', t0).invite(0, 'w-1', '101', '102').answer(1000, 'w-1').end(2000, 'w-1').events);
    await vi.advanceTimersByTimeAsync(SETTLE_MS + FINISH_WAIT_MS);
    expect(t.cdrs.records.has('w-1')).toBe(true);
    expect((await service.sync('kam1', [listed('w-1', t0 + 1000)])).dropped).toEqual(['w-1']);
    expect(service.list()).toEqual([]);
  });

  it('a dialog the callstore ended for its lost source, listed as up while its call settles: it is up, the call goes on as one record', async () => {
    const { service, t } = await start();
    const t0 = Date.now();
    // a call over two sources: the caller's leg on kam1, the callee's on pbx2
    const a = new CallScript('kam1', t0).invite(0, 'a-leg', '101', '102', { callRef: 'two' }).answer(1000, 'a-leg');
    const b = new CallScript('pbx2', t0).invite(10, 'b-leg', '101', '102', { callRef: 'two' }).answer(900, 'b-leg');
    await send(service, [...a.events, ...b.events].sort((x, y) => x.ts.localeCompare(y.ts)));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.instance.endSource('kam1', 'source_lost')).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    await send(service, [{ ...new CallScript('pbx2', t0).end(11_000, 'b-leg').events[0]!, id: 'pbx2-b-end', seq: 9 }]);
    // settling now (every leg ended); kam1 is back and lists its leg as up
    await vi.advanceTimersByTimeAsync(1000);
    expect(await service.sync('kam1', [listed('a-leg', t0 + 1000)])).toMatchObject({ kept: ['a-leg'], reconstructed: [], dropped: [] });
    await vi.advanceTimersByTimeAsync(SETTLE_MS + FINISH_WAIT_MS);
    expect(t.cdrs.records.size).toBe(0);
    expect(service.get('two').call).toMatchObject({ state: 'talking' });
    await send(service, [{ ...new CallScript('kam1', t0).end(60_000, 'a-leg', 'caller').events[0]!, id: 'kam1-a-end', seq: 9 }]);
    await vi.advanceTimersByTimeAsync(SETTLE_MS + FINISH_WAIT_MS);
    const cdr = t.cdrs.records.get('two');
    expect(cdr).toMatchObject({ endReason: 'normal', synthesized: false, billsec: 59.1, endedAt: new Date(t0 + 60_000).toISOString() });
    expect(cdr?.anomalies).toContainEqual(expect.stringMatching(/^a-leg was ended by the callstore \(source_lost\) and listed as up by kam1/));
    expect([...t.cdrs.records.keys()]).toEqual(['two']);
  });

  it('a dialog the callstore ended, listed as up after its record was written: a resumed record from where the first ended', async () => {
    const { service, t } = await start();
    const t0 = Date.now();
    await send(service, new CallScript('kam1', t0).invite(0, 'adm-1', '101', '102').answer(1000, 'adm-1').events);
    await vi.advanceTimersByTimeAsync(20_000);
    const first = service.terminate('adm-1');
    expect(first).toMatchObject({ endReason: 'admin', billsec: 20 });
    await vi.advanceTimersByTimeAsync(5000);
    expect((await service.sync('kam1', [listed('adm-1', t0 + 1000)])).reconstructed).toEqual(['adm-1']);
    const resumed = service.list().find((c) => c.id.startsWith('adm-1~resumed-'));
    // billed from the end of the first record on, not again from the answer
    expect(resumed).toMatchObject({ links: [{ kind: 'resumed', callId: 'adm-1' }], answeredAt: first?.endedAt });
  });

  it('an unknown dialog from a source whose clock runs ahead keeps the answer time it reported', async () => {
    const { service } = await start();
    const t0 = Date.now();
    const skewMs = 60_000;
    await send(service, new CallScript('kam-ahead', t0 + skewMs).invite(0, 'other', '1', '2').events, skewMs);
    await vi.advanceTimersByTimeAsync(30_000);
    // answered 10 s ago by the source's clock: that is 50 s ahead of ours
    expect((await service.sync('kam-ahead', [listed('other'), listed('new-1', t0 + skewMs + 20_000)])).reconstructed).toEqual(['new-1']);
    expect(service.get('new-1').call.answeredAt).toBe(new Date(t0 + skewMs + 20_000).toISOString());
  });
});
