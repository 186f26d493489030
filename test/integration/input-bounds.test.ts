import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_LIMITS } from '../../shared/api/events.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { eventually, postEvents, StreamSource } from '../support/events-client.js';
import { assertAlive } from '../support/liveness.js';
import { login, startService, type RunningTestService } from '../support/service.js';

const DAY = 24 * 3600_000;

/** Numbers, nesting, times and report sizes at the edge: bounded, refused with a path, nothing stored half. */
describe('input bounds', () => {
  let svc: RunningTestService;
  let admin: ReturnType<typeof apiClient>;
  let eventsToken: string;

  beforeAll(async () => {
    svc = await startService();
    admin = apiClient(svc.url, await login(svc));
    eventsToken = (await admin.post('/api/v1/tokens', { name: 'bounds', scopes: ['events'] })).body.token;
  });
  afterAll(async () => {
    await svc.stop();
  });

  const monthFiles = () => {
    const dir = join(svc.dataDir, 'cdr', 'COPM3_dialogs');
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sqlite')) : [];
  };

  describe('integers', () => {
    it('refuses "seq": 1e400 over HTTP (JSON and NDJSON) and stores nothing of that event', async () => {
      const invite = new CallScript('inf', Date.now()).invite(0, 'inf-1', '1', '2').events[0]!;
      const text = JSON.stringify(invite).replace(/"seq":\d+/, '"seq":1e400');
      for (const [body, type] of [
        [`[${text}]`, 'application/json'],
        [text, 'application/x-ndjson'],
      ] as const) {
        const res = await postEvents(svc.url, eventsToken, body, type);
        expect([res.status, res.body.error?.details], type).toEqual([400, [{ path: '/0/seq', message: 'must be integer' }]]);
        expect(res.body).toMatchObject({ accepted: 0, stored: 0 });
      }
      expect((await admin.get('/api/v1/calls/inf-1')).status).toBe(404);
      const metrics = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${await login(svc)}` } });
      expect(metrics.status).toBe(200);
    });

    it('refuses a seq past the safe integers and below 0, and over the WebSocket', async () => {
      const source = await StreamSource.open(svc.url, eventsToken);
      try {
        const invite = new CallScript('inf2', Date.now()).invite(0, 'inf-2', '1', '2').events[0]!;
        for (const seq of ['1e400', '-1e400', '9007199254740993', '-1']) {
          const reply = await source.send(`[${JSON.stringify(invite).replace(/"seq":\d+/, `"seq":${seq}`)}]`);
          expect(reply, seq).toMatchObject({ ack: null, stored: 0, rejected: [{ index: 0, path: '/seq' }] });
        }
        expect(await source.send([invite])).toMatchObject({ ack: invite.seq, stored: 1 });
      } finally {
        source.close();
      }
    });

    it('refuses revision 1e400 on PUT /config/roles and changes nothing', async () => {
      const before = (await admin.get('/api/v1/config/roles')).body;
      const body = JSON.stringify({ revision: 0, instances: before.instances }).replace('"revision":0', '"revision":1e400');
      const res = await admin.put('/api/v1/config/roles', body);
      expect([res.status, res.body.error.details]).toEqual([400, [{ path: '/revision', message: 'must be integer' }]]);
      expect((await admin.get('/api/v1/config/roles')).body.revision).toBe(before.revision);
    });
  });

  describe('the ext of a role instance', () => {
    const nest = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    const withExt = async (ext: unknown) => {
      const current = (await admin.get('/api/v1/config/roles')).body;
      return { revision: current.revision as number, instances: current.instances.map((i: { name: string }, k: number) => (k === 0 ? { ...i, ext } : i)) };
    };

    it('takes an ext nested 8 levels deep', async () => {
      const res = await admin.put('/api/v1/config/roles', await withExt({ a: nest(7) }));
      expect(res.status).toBe(200);
    });

    it.each([25, 1000, 3000, 200_000])('refuses an ext with arrays nested %i deep at once, naming where, and changes nothing', async (depth) => {
      // Written as text: JSON.stringify itself would overflow the stack on the deepest ones.
      const body = await withExt({ a: 'DEEP' });
      const deep = (value: unknown) => JSON.stringify(value).replace('"DEEP"', `${'['.repeat(depth)}${']'.repeat(depth)}`);
      for (const [method, path] of [
        ['put', '/api/v1/config/roles'],
        ['post', '/api/v1/config/validate'],
      ] as const) {
        const started = Date.now();
        const res = await (method === 'put' ? admin.put(path, deep(body)) : admin.post(path, deep({ instances: body.instances })));
        expect(Date.now() - started, `${method} ${path}`).toBeLessThan(1500);
        expect([res.status, res.body.error?.details?.[0]], `${method} ${path}`).toEqual([400, { path: '/instances/0/ext/a/0/0/0/0/0/0/0', message: 'nests deeper than 8 levels of objects and arrays' }]);
      }
      await assertAlive(svc, `an ext ${depth} deep`);
      expect((await admin.get('/api/v1/config/roles')).body.revision).toBe(body.revision);
    });

    it('refuses an ext larger than 64 KiB', async () => {
      const body = await withExt({ note: 'x'.repeat(70 * 1024) });
      const res = await admin.put('/api/v1/config/roles', body);
      expect([res.status, res.body.error?.details]).toEqual([400, [{ path: '/instances/0/ext', message: 'is larger than 65536 bytes as JSON' }]]);
    });
  });

  describe('event times', () => {
    it('refuses times in year 0000 and 9999 and opens no month file for them', async () => {
      for (const [t0, source] of [
        [Date.parse('9999-12-31T00:00:00Z'), 'far-future'],
        [Date.parse('0000-01-01T00:00:00Z'), 'far-past'],
        [Date.now() + 8 * DAY, 'ahead'],
        [Date.now() - 400 * DAY, 'behind'],
      ] as const) {
        const s = new CallScript(source, t0).invite(0, `${source}-1`, '1', '2').answer(100, `${source}-1`).end(5000, `${source}-1`);
        const res = await postEvents(svc.url, eventsToken, s.events);
        expect(res.status, source).toBe(400);
        expect(res.body.error.details.map((d: { path: string }) => d.path), source).toEqual(['/0/ts', '/1/ts', '/2/ts']);
        expect((await admin.get(`/api/v1/calls/${source}-1`)).status).toBe(404);
      }
      expect(monthFiles().filter((f) => /^(9999|0000)-/.test(f))).toEqual([]);
    });

    it('takes the backlog of a source that was away for 30 days, into the month file of then', async () => {
      const t0 = Date.now() - 30 * DAY;
      const s = new CallScript('backlog', t0).invite(0, 'backlog-1', '1', '2').answer(1000, 'backlog-1').end(61_000, 'backlog-1');
      expect((await postEvents(svc.url, eventsToken, s.events)).body).toMatchObject({ stored: 3, rejected: [] });
      const cdr = await eventually(async () => {
        const r = await admin.get('/api/v1/cdrs/backlog-1');
        return r.status === 200 ? r.body : undefined;
      });
      expect(cdr.billsec).toBe(60);
      expect(monthFiles()).toContain(`${new Date(t0).toISOString().slice(0, 7)}.sqlite`);
    });
  });

  describe('a body with very many problems', () => {
    it('is refused at once, with the first 100 problems and a count of the others', async () => {
      const started = Date.now();
      const res = await admin.post('/api/v1/tokens', { name: 'many', scopes: Array.from({ length: 20_000 }, () => 0) });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.status).toBe(400);
      expect(res.body.error.details).toHaveLength(101);
      // two problems per item (not a string, not a scope) and whatever else the schema says
      expect(res.body.error.details[100]).toEqual({ path: '/', message: expect.stringMatching(/^and 399\d\d more problems, not listed$/) });
      expect(res.body.error.message).toMatch(/; and 399\d\d more problems\.$/);
      await assertAlive(svc, 'a body with 40,000 problems');
    });
  });

  describe('the report of refused events', () => {
    it('lists each problem of a 5,000-event batch once, at most 100, and counts the rest', async () => {
      const s = new CallScript('noisy', Date.now());
      for (let i = 0; i < EVENT_LIMITS.batchEvents; i++) s.invite(i, `noisy-${i}`, '1', '2');
      const bad = s.events.map((e) => ({ ...e, colour: 'red', size: 'xl', weight: 3 }));
      const res = await fetch(`${svc.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${eventsToken}`, 'content-type': 'application/json' }, body: JSON.stringify(bad) });
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(text.length).toBeLessThan(32 * 1024);
      const body = JSON.parse(text);
      expect(body.error.details).toHaveLength(100);
      expect(body.rejected).toBeUndefined();
      expect(body).toMatchObject({ accepted: 0, stored: 0, duplicates: 0, truncated: 3 * EVENT_LIMITS.batchEvents - 100 });
      expect(body.error.message).toBe('5000 events are invalid; the first 100 problems are listed, 14900 more are not.');
      expect(new Set(body.error.details.map((d: { path: string }) => d.path)).size).toBe(100);
    });

    it('caps the acknowledgement on the WebSocket the same way', async () => {
      const source = await StreamSource.open(svc.url, eventsToken);
      try {
        const s = new CallScript('noisy-ws', Date.now());
        for (let i = 0; i < 1000; i++) s.invite(i, `noisy-ws-${i}`, '1', '2');
        const reply = await source.send(s.events.map((e) => ({ ...e, colour: 'red' })));
        expect(reply.rejected).toHaveLength(100);
        expect(reply).toMatchObject({ ack: null, stored: 0, truncated: 900 });
      } finally {
        source.close();
      }
    });
  });
});
