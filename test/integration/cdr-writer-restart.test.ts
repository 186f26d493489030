import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RECORD_BACKLOG_LIMIT } from '../../service/callstore/service.js';
import { CdrWriterDownError } from '../../service/storage/cdr/writer.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { breakCdrIndex, callstoreDefinition, journalOnDisk, startHarness } from '../support/callstore-harness.js';
import { eventually, StreamSource } from '../support/events-client.js';
import { login, startService, tempDir } from '../support/service.js';

/** A promise's state, without waiting for it. */
function track<T>(p: Promise<T>): { readonly settled: boolean } {
  const state = { settled: false };
  void p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

describe('the CDR writer thread dies', () => {
  it('keeps the records of a callstore instance, holds its backlog, and writes them once the thread runs again', async () => {
    const dir = tempDir('sitecall-writer-');
    const h = await startHarness(dir, callstoreDefinition('async', { finish_settle_ms: 20 }), { testHooks: true, restartMinMs: 50, restartMaxMs: 200 });
    try {
      expect(await h.cdrThread.get('nothing')).toBeUndefined();
      // The thread dies, and cannot start again while its store cannot be opened.
      const fault = breakCdrIndex(dir);
      h.cdrThread.exitThreadForTest();
      await eventually(async () => h.cdrThread.unavailable !== undefined, 20_000, 'the thread to be down');
      await expect(h.cdrThread.get('nothing')).rejects.toBeInstanceOf(CdrWriterDownError);

      const s = new CallScript('pbx1', Date.now() - 60_000);
      s.invite(0, 'c1', '101', '102').answer(2000, 'c1').end(9000, 'c1');
      await h.ingest(s.events);
      const held = track(h.instance.belowBacklog(RECORD_BACKLOG_LIMIT));
      await eventually(async () => h.writer.inserts.length >= 1, 20_000, 'the record to be sent to the store');
      const restartsThen = h.cdrThread.restarts;
      await eventually(async () => h.cdrThread.restarts >= restartsThen + 2, 20_000, 'two more restarts that fail');

      // Down all this while: the record waits (not dropped: it is an entry of the log, committed
      // with the finish of its call), and the acks wait.
      expect(h.cdrThread.unavailable).toMatch(/exited with code/);
      expect(h.instance.recordBacklog).toBe(1);
      expect([...journalOnDisk(h.journalFile).cdrEntries]).toEqual(['c1']);
      expect([...journalOnDisk(h.journalFile).active]).toEqual([]);
      expect(held.settled).toBe(false);
      expect(h.health.reasons()).toEqual([{ component: 'callstore callstore1', message: expect.stringMatching(/1 call records wait for the CDR store/), since: expect.any(String) }]);

      fault.repair();
      await eventually(async () => held.settled, 20_000, 'the backlog to be released');
      expect((await h.cdrThread.get('c1'))?.disposition).toBe('ANSWERED');
      await eventually(async () => journalOnDisk(h.journalFile).active.size === 0, 20_000, 'the dialog to leave the active set');
      expect(h.health.reasons()).toEqual([]);
    } finally {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in the service: /healthz says degraded with the reason, acks wait, nothing is lost, and it recovers', async () => {
    const svc = await startService({ env: { SITECALL_TEST_HOOKS: '1' } });
    try {
      const admin = apiClient(svc.url, await login(svc));
      const token = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token as string;
      const source = await StreamSource.open(svc.url, token);
      const s = new CallScript('pbx1', Date.now() - 60_000);
      s.invite(0, 'w1', '101', '102').answer(2000, 'w1').end(9000, 'w1');
      s.invite(10_000, 'w2', '103', '104').answer(12_000, 'w2');
      const [invite1, answer1, end1, invite2, answer2] = s.events;
      expect((await source.send([invite1, answer1, end1])).ack).toBe(3);
      await eventually(async () => (await admin.get('/api/v1/cdrs/w1')).status === 200, 20_000, 'the record of w1');

      const fault = breakCdrIndex(svc.dataDir);
      svc.proc.kill('SIGUSR2');
      const degraded = await eventually(async () => {
        const res = await fetch(`${svc.url}/healthz`);
        const body = (await res.json()) as { status: string; reasons?: { component: string; message: string }[] };
        return body.status === 'degraded' && res.status === 200 ? body : undefined;
      }, 20_000, '/healthz to say degraded');
      expect(degraded.reasons).toEqual([expect.objectContaining({ component: 'cdr-writer', message: expect.stringMatching(/CDR writer thread exited/) })]);
      // A record cannot be read meanwhile: a temporary refusal, not a failure.
      expect((await admin.get('/api/v1/cdrs/w1')).status).toBe(503);

      // Events sent now are stored but not acknowledged while the thread is down.
      const reply = source.send([invite2, answer2]);
      const replied = track(reply);
      const restarts = async () => Number(/^sitecall_cdr_writer_restarts\{[^}]*\} (\d+)/m.exec((await admin.get('/metrics')).text)?.[1] ?? 0);
      await eventually(async () => (await restarts()) >= 2, 30_000, 'two restarts that fail');
      await eventually(async () => (await admin.get('/api/v1/calls/w2')).status === 200, 10_000, 'w2 to be taken in');
      expect(replied.settled).toBe(false);

      fault.repair();
      expect((await reply).ack).toBe(5);
      expect((await (await fetch(`${svc.url}/healthz`)).json()).status).toBe('ok');
      expect((await admin.get('/api/v1/cdrs/w1')).body.id).toBe('w1');
      source.close();
    } finally {
      await svc.stop();
    }
  }, 90_000);
});
