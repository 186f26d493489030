import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ActiveCall } from '../../shared/api/cdr.js';
import { apiClient } from '../support/api.js';
import { eventually } from '../support/events-client.js';
import { login, startService } from '../support/service.js';
import { AdapterProcess, findMessage, freePorts, KamailioProcess, msBetween, sipp, SKIP_REASON, sleep, type SippRun } from './harness.js';
import { cdrOf, exportCdrs, sourceOf, startStack, stopStack, type Admin, type Stack } from './stack.js';

/**
 * Nothing lost across restarts: of the appliance (events buffered by the adapter and sent again),
 * of Kamailio (its calls end with source_lost after resync_timeout; back, it resyncs), and of the
 * adapter (the dialog list fills in what evapi dropped while nobody listened).
 */

const TOLERANCE_MS = 100;

if (SKIP_REASON) console.warn(`Kamailio restart tests skipped: ${SKIP_REASON}`);

describe.skipIf(SKIP_REASON !== null)('Kamailio end to end: restarts and resync', () => {
  let stack: Stack | undefined;
  const sipps: SippRun[] = [];
  const extraDirs: string[] = [];

  afterEach(async () => {
    for (const s of sipps.splice(0)) await s.kill();
    await stopStack(stack);
    stack = undefined;
    for (const d of extraDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const activeCalls = async (admin: Admin) => (await admin.get<{ items: ActiveCall[] }>('/api/v1/calls')).body.items;

  /** A callee that answers every call (SIPp's built-in uas) on a free port. */
  async function callee(): Promise<number> {
    const [port] = (await freePorts(1)) as [number];
    sipps.push(sipp({ scenario: 'uas', localPort: port }));
    await sleep(300);
    return port;
  }

  async function caller(s: Stack, uasPort: number, name: string, opts: { calls: number; duration: number; rate?: number }): Promise<SippRun> {
    const [port] = (await freePorts(1)) as [number];
    const run = sipp({ scenario: 'uac_txn.xml', localPort: port, proxy: s.proxy, target: `127.0.0.1:${uasPort}`, calls: opts.calls, duration: opts.duration, rate: opts.rate ?? 10, traceFile: join(s.dir, `${name}.log`), timeoutS: 60 });
    sipps.push(run);
    return run;
  }

  it('the appliance stops mid-call and starts again: no call missing, no CDR twice', async () => {
    const s = (stack = await startStack({ resyncTimeout: 10 }));
    const uas = await callee();
    const callA = await caller(s, uas, 'a', { calls: 1, duration: 9000 });
    await eventually(async () => (await activeCalls(s.admin)).some((c) => c.state === 'talking'), 10_000, 'call A talking');

    const { dataDir, port } = s.svc;
    extraDirs.push(resolve(dataDir, '..'));
    await s.svc.stop({ keepData: true });
    await s.adapter.waitForLog((l) => l.msg === 'event stream closed', 5000, 'the adapter to notice');
    // while the appliance is down: three short calls come and go, a fourth starts
    const callsB = await caller(s, uas, 'b', { calls: 3, duration: 300 });
    const callC = await caller(s, uas, 'c', { calls: 1, duration: 4000 });
    expect((await callsB.done).successful).toBe(3);
    await sleep(500);

    s.svc = await startService({ dataDir, port });
    s.admin = apiClient(s.svc.url, await login(s.svc));
    const [a, c, b] = await Promise.all([callA.done, callC.done, callsB.done]);
    expect(a.successful + c.successful).toBe(2);

    const callIds = [a, b, c].flatMap((r) => [...new Set(r.messages.filter((m) => m.method === 'INVITE').map((m) => m.callId))]);
    expect(callIds).toHaveLength(5);
    for (const [result, ids] of [
      [a, callIds.slice(0, 1)],
      [b, callIds.slice(1, 4)],
      [c, callIds.slice(4)],
    ] as const) {
      for (const callId of ids) {
        const cdr = await cdrOf(s.admin, callId, 15_000);
        expect(cdr).toMatchObject({ disposition: 'ANSWERED', endReason: 'normal', synthesized: false, hangup: { by: 'caller' } });
        expect(msBetween(cdr.startedAt, findMessage(result.messages, callId, 'sent', (m) => m.method === 'INVITE').at)).toBeLessThan(TOLERANCE_MS);
        // (the caller stamps a reply when it reads it: late on a busy machine; calls.test.ts checks both ends)
        expect(Date.parse(cdr.answeredAt ?? '')).toBeLessThanOrEqual(findMessage(result.messages, callId, 'received', (m) => m.status === 200 && m.cseq === '1 INVITE').at + TOLERANCE_MS);
        expect(msBetween(cdr.endedAt, findMessage(result.messages, callId, 'sent', (m) => m.method === 'BYE').at)).toBeLessThan(TOLERANCE_MS);
      }
    }
    // exactly one record per call
    const all = await exportCdrs(s.admin);
    expect(all.map((r) => r.id).sort()).toEqual([...callIds].sort());
    expect(await sourceOf(s.admin, s.source)).toMatchObject({ state: 'connected', gaps: 0, activeCalls: 0 });
    // the adapter sent the buffered events again and resynced after the restart
    const lines = s.adapter.lines();
    const reopened = lines.map((l) => l.msg).lastIndexOf('event stream open');
    expect(reopened).toBeGreaterThan(lines.findIndex((l) => l.msg === 'event stream closed'));
    expect(lines.slice(reopened).some((l) => l.msg === 'sync applied by the appliance')).toBe(true);
  });

  it('Kamailio is killed with calls up: after resync_timeout they end with source_lost; back, it resyncs', async () => {
    const s = (stack = await startStack({ resyncTimeout: 2 }));
    const uas = await callee();
    await caller(s, uas, 'long', { calls: 2, duration: 60_000 });
    const up = await eventually(async () => {
      const calls = await activeCalls(s.admin);
      return calls.filter((c) => c.state === 'talking').length === 2 ? calls : undefined;
    }, 10_000, 'two calls talking');

    const killedAt = Date.now();
    await s.kam.kill();
    await eventually(async () => (await sourceOf(s.admin, s.source))?.state === 'lost', 8000, 'the source lost');
    for (const call of up) {
      const cdr = await cdrOf(s.admin, call.id, 10_000);
      expect(cdr).toMatchObject({ disposition: 'ANSWERED', endReason: 'source_lost', synthesized: true, hangup: { by: 'system' } });
      // ended once the resync timeout ran out, not before
      expect(Date.parse(cdr.endedAt)).toBeGreaterThanOrEqual(killedAt + 2000 - TOLERANCE_MS);
      expect(Date.parse(cdr.endedAt)).toBeLessThan(killedAt + 2000 + 5000);
    }
    expect(await sourceOf(s.admin, s.source)).toMatchObject({ state: 'lost', syncRequested: true, activeCalls: 0 });
    for (const r of sipps.splice(0)) await r.kill();

    const restartedAt = Date.now();
    s.kam = await KamailioProcess.start(s.kam.opts);
    const hello = await s.adapter.waitForLog((l) => l.msg === 'kamailio hello' && l.restarted === true, 20_000, 'the hello of the new Kamailio');
    expect(hello.missed).toBe(0);
    const synced = await s.adapter.waitForLog((l) => l.msg === 'sync applied by the appliance' && String(l.reason).includes('restarted'), 20_000, 'the resync');
    expect(synced.dialogs).toBe(0);
    const src = await eventually(async () => {
      const x = await sourceOf(s.admin, s.source);
      return x?.state === 'connected' ? x : undefined;
    }, 5000, 'the source connected again');
    expect(src.syncRequested).toBe(false);
    expect(Date.parse(src.lastSyncAt ?? '')).toBeGreaterThanOrEqual(restartedAt);
    // no record twice
    const all = await exportCdrs(s.admin);
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
  });

  it('the adapter restarted with 30 calls up: the dialog list (about 20 kB, past the 8 kB the cfg once sent it through) is read, every call kept', async () => {
    const s = (stack = await startStack());
    const uas = await callee();
    await caller(s, uas, 'many', { calls: 30, duration: 60_000, rate: 30 });
    await eventually(async () => (await activeCalls(s.admin)).filter((c) => c.state === 'talking').length === 30, 20_000, 'thirty calls talking');
    await s.adapter.stop();
    s.adapter = new AdapterProcess(s.adapter.opts);
    const synced = await s.adapter.waitForLog((l) => l.msg === 'sync applied by the appliance', 20_000, 'the dialog list applied');
    expect(synced).toMatchObject({ dialogs: 30, kept: 30, reconstructed: [], terminated: [] });
    const taken = s.adapter.lines().find((l) => l.msg === 'resync: dialog list taken');
    expect(taken).toMatchObject({ placed: 'exact', dialogs: 30 });
    expect(s.adapter.lines().filter((l) => l.msg === 'resync: cannot read the dialog list')).toEqual([]);
  });

  it('calls set up while the adapter was away are reconstructed from the dialog list, and counted as a gap', async () => {
    const s = (stack = await startStack());
    const uas = await callee();
    // one call first, so the appliance knows where the source's numbering stands
    const first = await caller(s, uas, 'first', { calls: 1, duration: 100 });
    expect((await first.done).successful).toBe(1);
    await eventually(async () => (await sourceOf(s.admin, s.source))?.eventsReceived === 4, 5000, 'the first call stored');
    await s.adapter.stop();
    const run = await caller(s, uas, 'away', { calls: 1, duration: 4000 });
    await eventually(async () => {
      const list = (await s.kam.rpc('dlg.list')) as { state: number }[] | null;
      return Boolean(list?.some((d) => d.state === 4));
    }, 10_000, 'the dialog confirmed in Kamailio');

    s.adapter = new AdapterProcess(s.adapter.opts);
    const synced = await s.adapter.waitForLog((l) => l.msg === 'sync applied by the appliance' && l.reconstructed?.length === 1, 20_000, 'the reconstruction');
    // invite, 180 (unless it came after the 200 and tm dropped it) and answer
    const missed = s.adapter.lines().find((l) => l.msg === 'kamailio hello')?.missed as number;
    expect([2, 3]).toContain(missed);
    const result = await run.done;
    expect(result.successful).toBe(1);
    const callId = synced.reconstructed[0] as string;
    const cdr = await cdrOf(s.admin, callId);
    // the start and answer come from the dialog list (the answer time Kamailio kept), the end from the BYE
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', endReason: 'normal', hangup: { by: 'caller' } });
    const ok = findMessage(result.messages, callId, 'received', (m) => m.status === 200 && m.cseq === '1 INVITE');
    expect(Date.parse(cdr.answeredAt ?? '')).toBeLessThanOrEqual(ok.at + TOLERANCE_MS);
    expect(Date.parse(cdr.answeredAt ?? '')).toBeGreaterThanOrEqual(findMessage(result.messages, callId, 'sent', (m) => m.method === 'INVITE').at);
    expect(msBetween(cdr.endedAt, findMessage(result.messages, callId, 'sent', (m) => m.method === 'BYE').at)).toBeLessThan(TOLERANCE_MS);
    // the events emitted while nobody listened: the appliance counts them as a gap
    expect(await sourceOf(s.admin, s.source)).toMatchObject({ gaps: missed, state: 'connected' });
  });
});
