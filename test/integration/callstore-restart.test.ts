import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../../shared/api/events.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually, postEvents, StreamSource } from '../support/events-client.js';
import { login, startService } from '../support/service.js';

/** `n` calls of one source: invite, answer and end each, the ends after every answer. */
function calls(n: number, source: string): { events: CallEvent[]; ids: string[] } {
  const s = new CallScript(source, Date.now() - 3_600_000);
  const ids = Array.from({ length: n }, (_, i) => `${source}-call-${i}`);
  ids.forEach((id, i) => s.invite(i * 10, id, `1${i}`, `2${i}`).answer(i * 10 + 5, id));
  ids.forEach((id, i) => s.end(n * 10 + i, id));
  return { events: s.events, ids };
}

async function allCdrIds(url: string, token: string): Promise<string[]> {
  const res = await fetch(`${url}/api/v1/cdrs/export?format=ndjson`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
}

describe('callstore state across restarts', () => {
  it('restores active calls after a clean restart with state_save async', async () => {
    const first = await startService();
    const admin = apiClient(first.url, await login(first));
    const token = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token;
    const { events, ids } = calls(20, 'asy');
    const ends = events.filter((e) => e.type === 'end');
    await postEvents(first.url, token, events.filter((e) => e.type !== 'end'));
    expect((await admin.get('/api/v1/calls')).body.total).toBe(20);
    expect(await first.stop({ keepData: true })).toBe(0);

    const second = await startService({ dataDir: first.dataDir });
    try {
      const admin2 = apiClient(second.url, await login(second));
      const restored = (await admin2.get('/api/v1/calls')).body.items;
      expect(restored.map((c: { id: string; state: string }) => `${c.id}:${c.state}`).sort()).toEqual(ids.map((id) => `${id}:talking`).sort());
      await postEvents(second.url, token, ends);
      await eventually(async () => (await admin2.get('/api/v1/cdrs?limit=100')).body.total === 20, 10_000, '20 CDRs');
      const cdr = (await admin2.get(`/api/v1/cdrs/${ids[3]}`)).body;
      expect(cdr).toMatchObject({ disposition: 'ANSWERED', endReason: 'normal', synthesized: false });
      expect(cdr.eventIds).toHaveLength(3);
    } finally {
      await second.stop();
    }
  });

  it('forgets active calls with state_save none (the sources resync them)', async () => {
    const first = await startService();
    const admin = apiClient(first.url, await login(first));
    await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs({ state_save: 'none' }), vm()] });
    const token = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token;
    await postEvents(first.url, token, calls(3, 'non').events.filter((e) => e.type !== 'end'));
    await first.stop({ keepData: true });
    const second = await startService({ dataDir: first.dataDir });
    try {
      expect((await apiClient(second.url, await login(second)).get('/api/v1/calls')).body.total).toBe(0);
    } finally {
      await second.stop();
    }
  });

  it('loses no acknowledged event to kill -9 under load with state_save transactional, and writes no CDR twice', async () => {
    const first = await startService();
    const admin = apiClient(first.url, await login(first));
    await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs({ state_save: 'transactional' }), vm()] });
    const token = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token;
    const { events, ids } = calls(1500, 'txn');
    const batches: CallEvent[][] = [];
    for (let i = 0; i < events.length; i += 25) batches.push(events.slice(i, i + 25));

    // Stream batches with several in flight; kill the service while acks are coming back.
    const source = await StreamSource.open(first.url, token);
    let acked = 0;
    let sent = 0;
    const inflight = new Set<Promise<void>>();
    let killed = false;
    source.ws.on('close', () => (killed = true));
    const killAt = Math.floor(batches.length / 2);
    while (sent < batches.length && !killed) {
      const batch = batches[sent++] as CallEvent[];
      const p: Promise<void> = source.send(batch).then((reply: { ack: number | null }) => {
        if (typeof reply.ack === 'number') acked = Math.max(acked, reply.ack);
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      if (inflight.size >= 8) await Promise.race(inflight);
      if (sent === killAt) await first.kill();
    }
    expect(acked).toBeGreaterThan(0);

    // Restart on the same data: every acknowledged event must be there.
    const second = await startService({ dataDir: first.dataDir });
    try {
      const admin2 = apiClient(second.url, await login(second));
      const ackedEvents = events.filter((e) => e.seq <= acked);
      const activeIds = new Set<string>();
      for (const call of (await admin2.get('/api/v1/calls?limit=5000')).body.items as { id: string }[]) {
        for (const e of (await admin2.get(`/api/v1/calls/${call.id}`)).body.events as { id: string }[]) activeIds.add(e.id);
      }
      const cdrEventIds = new Set<string>();
      for (const id of await allCdrIds(second.url, await login(second))) {
        for (const e of (await admin2.get(`/api/v1/cdrs/${id}`)).body.eventIds as string[]) cdrEventIds.add(e);
      }
      const missing = ackedEvents.filter((e) => !activeIds.has(e.id) && !cdrEventIds.has(e.id));
      expect(missing.map((e) => e.id)).toEqual([]);

      // The source resends everything not acknowledged (and some that was: duplicates are harmless).
      const rest = events.filter((e) => e.seq > acked - 100);
      for (let i = 0; i < rest.length; i += 500) await postEvents(second.url, token, rest.slice(i, i + 500));
      await eventually(async () => (await admin2.get('/api/v1/cdrs?limit=1')).body.total === ids.length && (await admin2.get('/api/v1/calls')).body.total === 0, 20_000, 'every CDR');
      const written = await allCdrIds(second.url, await login(second));
      expect(written).toHaveLength(ids.length);
      expect(new Set(written).size).toBe(ids.length);
    } finally {
      await second.stop();
    }
  }, 120_000);
});
