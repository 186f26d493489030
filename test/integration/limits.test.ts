import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LiveMessage } from '../../shared/api/live.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually, postEvents } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';

/*
 * Call limits and admission (design section 4.4) on a real service process: the limits' CRUD and
 * its refusals, admission against a limit with each admitted call followed by its invite event,
 * the reservation's expiry, the counts after a kill -9, and the 503 of a site without a callstore.
 */

const DOMAIN = 'office.example';

describe('limits and admission', () => {
  let svc: RunningTestService;
  let admin: ReturnType<typeof apiClient>;
  let pbx: ReturnType<typeof apiClient>;
  let eventsToken: string;
  let readOnly: ReturnType<typeof apiClient>;
  const script = new CallScript('pbx-lim', Date.now() - 60_000, DOMAIN);

  const invite = async (callId: string, profiles?: { name: string; value?: string }[]) => {
    const before = script.events.length;
    script.invite(script.events.length, callId, '100', '200', profiles ? { profiles } : {});
    const res = await postEvents(svc.url, eventsToken, script.events.slice(before));
    expect(res.status).toBe(200);
  };
  const end = async (callId: string) => {
    const before = script.events.length;
    script.end(script.events.length, callId);
    expect((await postEvents(svc.url, eventsToken, script.events.slice(before))).status).toBe(200);
  };
  const total = async () => ((await admin.get('/api/v1/profiles')).body.items as { name: string; local: number; reserved: number }[]).find((i) => i.name === 'total');
  const clearLimits = async () => {
    for (const l of (await admin.get('/api/v1/limits')).body.items as { id: string }[]) expect((await admin.delete(`/api/v1/limits/${l.id}`)).status).toBe(204);
  };

  beforeAll(async () => {
    svc = await startService();
    admin = apiClient(svc.url, await login(svc));
    eventsToken = (await admin.post('/api/v1/tokens', { name: 'pbx-events', scopes: ['events'] })).body.token;
    pbx = apiClient(svc.url, (await admin.post('/api/v1/tokens', { name: 'pbx-admission', scopes: ['admission'] })).body.token);
    readOnly = apiClient(svc.url, (await admin.post('/api/v1/tokens', { name: 'viewer', scopes: ['read'] })).body.token);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('creates, lists, reads, replaces and deletes limits; refuses bad input with its path and stores nothing', async () => {
    const created = await admin.post('/api/v1/limits', { profile: 'trunk', value: 'sip1', max: 30, description: 'the shared trunk' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ profile: 'trunk', value: 'sip1', max: 30, description: 'the shared trunk' });
    const id = created.body.id as string;
    const perDomain = await admin.post('/api/v1/limits', { profile: 'domain', max: 10 });
    expect(perDomain.body).toMatchObject({ profile: 'domain', value: null, description: null });
    // a domain value is compared as partitioning compares domains
    const oneDomain = await admin.post('/api/v1/limits', { profile: 'domain', value: 'Office.Example.', max: 5 });
    expect(oneDomain.body.value).toBe('office.example');

    expect((await readOnly.get('/api/v1/limits')).body.items.map((l: { profile: string; value: string | null }) => `${l.profile}=${l.value}`)).toEqual(['domain=null', 'domain=office.example', 'trunk=sip1']);
    expect((await readOnly.get(`/api/v1/limits/${id}`)).body).toMatchObject({ id, max: 30 });
    const saved = await admin.put(`/api/v1/limits/${id}`, { profile: 'trunk', value: 'sip1', max: 31 });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ id, max: 31, description: null, createdAt: created.body.createdAt });

    for (const [body, path] of [
      [{ profile: '', max: 1 }, '/profile'],
      [{ profile: 'x', max: -1 }, '/max'],
      [{ profile: 'x', max: 1.5 }, '/max'],
      [{ profile: 'x', max: '3' }, '/max'],
      [{ profile: 'x' }, '/max'],
      [{ profile: 'x', max: 1, colour: 'red' }, '/colour'],
      [{ profile: 'x', value: 7, max: 1 }, '/value'],
    ] as const) {
      const res = await admin.post('/api/v1/limits', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.details.map((d: { path: string }) => d.path), JSON.stringify(body)).toContain(path);
      expect(res.body.error.details.every((d: { message: string }) => d.message.length > 0)).toBe(true);
    }
    const badPut = await admin.put(`/api/v1/limits/${id}`, { profile: 'trunk', max: -3 });
    expect(badPut.status).toBe(400);
    // a second rule for the same profile and value: refused, with a sentence naming the first
    const twice = await admin.post('/api/v1/limits', { profile: 'domain', value: 'office.example', max: 9 });
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toContain(oneDomain.body.id);
    expect(twice.body.error.details[0].path).toBe('/value');
    expect((await admin.put(`/api/v1/limits/${id}`, { profile: 'domain', max: 2 })).status).toBe(409);
    // nothing of the refused writes was stored
    const after = (await admin.get('/api/v1/limits')).body.items;
    expect(after).toHaveLength(3);
    expect(after.find((l: { id: string }) => l.id === id)).toMatchObject({ profile: 'trunk', value: 'sip1', max: 31 });

    // scopes: read reads, admin writes, admission admits only
    expect((await readOnly.post('/api/v1/limits', { profile: 'x', max: 1 })).status).toBe(403);
    expect((await pbx.get('/api/v1/limits')).status).toBe(403);
    expect((await readOnly.post('/api/v1/admission', { callId: 'x', domain: DOMAIN })).status).toBe(403);

    expect((await admin.delete(`/api/v1/limits/${id}`)).status).toBe(204);
    expect((await admin.get(`/api/v1/limits/${id}`)).status).toBe(404);
    expect((await admin.delete(`/api/v1/limits/${id}`)).status).toBe(404);
    expect((await admin.put(`/api/v1/limits/${id}`, { profile: 'trunk', max: 1 })).status).toBe(404);
    await clearLimits();
  });

  it('a limit of N on total admits N calls, refuses the next naming the limit, and admits again once one ends', async () => {
    const limit = (await admin.post('/api/v1/limits', { profile: 'total', max: 3 })).body;
    for (let i = 0; i < 3; i++) {
      const res = await pbx.post('/api/v1/admission', { callId: `n-${i}`, domain: DOMAIN, from: 'sip:100@office.example', to: 'sip:200@office.example' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ allow: true, reason: 'ok' });
      expect(res.body.counts[0]).toEqual({ name: 'total', value: null, count: i, local: i, remote: 0 });
      await invite(`n-${i}`);
    }
    expect(await total()).toMatchObject({ local: 3, reserved: 0 });
    const refused = await pbx.post('/api/v1/admission', { callId: 'n-3', domain: DOMAIN });
    expect(refused.body).toEqual({
      allow: false,
      reason: 'limit',
      limit: { id: limit.id, profile: 'total', value: null, max: 3, perValue: true },
      counts: [
        { name: 'total', value: null, count: 3, local: 3, remote: 0 },
        { name: 'domain', value: DOMAIN, count: 3, local: 3, remote: 0 },
      ],
    });
    // a retransmitted INVITE of an admitted call is admitted again, and counts once
    expect((await pbx.post('/api/v1/admission', { callId: 'n-1', domain: DOMAIN })).body).toMatchObject({ allow: true });
    expect(await total()).toMatchObject({ local: 3 });
    await end('n-0');
    expect((await pbx.post('/api/v1/admission', { callId: 'n-3', domain: DOMAIN })).body).toMatchObject({ allow: true, reason: 'ok' });
    await invite('n-3');
    expect(await total()).toMatchObject({ local: 3, reserved: 0 });
    for (const id of ['n-1', 'n-2', 'n-3']) await end(id);
    expect(await total()).toBeUndefined();
    await clearLimits();
  });

  it('a rule without a value applies to each value on its own; a denial by one names its value', async () => {
    const rule = (await admin.post('/api/v1/limits', { profile: 'user', max: 1 })).body;
    const ask = (callId: string, user: string) => pbx.post('/api/v1/admission', { callId, domain: DOMAIN, profiles: [{ name: 'user', value: user }] });
    expect((await ask('u-1', '101')).body.allow).toBe(true);
    await invite('u-1', [{ name: 'user', value: '101' }]);
    expect((await ask('u-2', '101')).body).toMatchObject({ allow: false, reason: 'limit', limit: { id: rule.id, profile: 'user', value: '101', max: 1, perValue: true } });
    expect((await ask('u-3', '102')).body.allow).toBe(true);
    const listed = (await admin.get('/api/v1/profiles')).body;
    expect(listed).toMatchObject({ synced: true, sites: [] });
    expect(listed.items).toEqual(
      expect.arrayContaining([
        { name: 'user', value: '101', count: 1, local: 1, reserved: 0, remote: [] },
        { name: 'user', value: '102', count: 1, local: 1, reserved: 1, remote: [] },
      ]),
    );
    await invite('u-3', [{ name: 'user', value: '102' }]);
    await end('u-1');
    await end('u-3');
    await clearLimits();
  });

  it('sends limits (by position) and the profile counts on the live feed, and documents every route', async () => {
    const ws = new WebSocket(`${svc.url.replace(/^http/, 'ws')}/api/v1/live`, { headers: { authorization: `Bearer ${(await login(svc))}` } });
    const messages: LiveMessage[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as LiveMessage));
    try {
      await eventually(async () => messages[0]?.type === 'hello', 10_000, 'hello');
      expect(messages[0]).toMatchObject({ type: 'hello', positioned: expect.arrayContaining(['limits']), collections: expect.arrayContaining(['limits', 'profiles']) });
      const changes = () => messages.flatMap((m) => (m.type === 'changes' ? m.changes : []));
      const limit = (await admin.post('/api/v1/limits', { profile: 'total', max: 7 })).body;
      const sent = await eventually(async () => changes().find((c) => c.collection === 'limits' && c.id === limit.id), 10_000, 'the limit on the live feed');
      expect(sent).toMatchObject({ op: 'put', doc: { _id: limit.id, profile: 'total', max: 7 }, seq: expect.any(Number) });
      expect((await pbx.post('/api/v1/admission', { callId: 'live-1', domain: DOMAIN })).body.allow).toBe(true);
      const counts = await eventually(async () => changes().filter((c) => c.collection === 'profiles' && (c.doc as { items: { name: string; reserved: number }[] }).items.some((i) => i.name === 'total' && i.reserved === 1))[0], 10_000, 'the counts on the live feed');
      expect(counts).toMatchObject({ op: 'put', id: 'counts' });
      expect((counts.doc as { items: { name: string; reserved: number }[] }).items).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'total', reserved: 1 })]));
      await invite('live-1');
      await end('live-1');
      await clearLimits();
    } finally {
      ws.terminate();
    }
    const doc = (await readOnly.get('/api/v1/openapi.json')).body as { paths: Record<string, Record<string, { operationId: string }>> };
    const ops = (path: string) => Object.entries(doc.paths[path] ?? {}).map(([method, op]) => `${method} ${op.operationId}`);
    expect(ops('/api/v1/limits')).toEqual(expect.arrayContaining(['get listLimits', 'post createLimit']));
    expect(ops('/api/v1/limits/{id}')).toEqual(expect.arrayContaining(['get getLimit', 'put saveLimit', 'delete deleteLimit']));
    expect(ops('/api/v1/admission')).toEqual(['post admitCall']);
    expect(ops('/api/v1/profiles')).toEqual(['get listProfiles']);
  });

  it('a reservation whose invite never comes ends after reservation_ttl', async () => {
    const config = (await admin.get('/api/v1/config/roles')).body;
    expect((await admin.put('/api/v1/config/roles', { revision: config.revision, instances: [cs({ ext: { reservation_ttl: 0.3 } }), vm()] })).status).toBe(200);
    await admin.post('/api/v1/limits', { profile: 'total', max: 1 });
    expect((await pbx.post('/api/v1/admission', { callId: 't-1', domain: DOMAIN })).body.allow).toBe(true);
    expect((await pbx.post('/api/v1/admission', { callId: 't-2', domain: DOMAIN })).body).toMatchObject({ allow: false, reason: 'limit' });
    expect(await total()).toMatchObject({ local: 1, reserved: 1 });
    // the count drops on its own (the reservation's timer), without another admission
    await eventually(async () => (await total()) === undefined, 10_000, 'the reservation to end');
    expect((await pbx.post('/api/v1/admission', { callId: 't-2', domain: DOMAIN })).body.allow).toBe(true);
    await clearLimits();
    const now = (await admin.get('/api/v1/config/roles')).body;
    await admin.put('/api/v1/config/roles', { revision: now.revision, instances: [cs(), vm()] });
  });
});

describe('admission across a restart and without a callstore', () => {
  it('counts the active calls again after a kill -9 (rebuilt from them, not from saved counts)', async () => {
    const first = await startService();
    let second: RunningTestService | undefined;
    try {
      const admin = apiClient(first.url, await login(first));
      const events = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events', 'admission'] })).body.token as string;
      const pbx = apiClient(first.url, events);
      await admin.post('/api/v1/limits', { profile: 'total', max: 3 });
      const s = new CallScript('pbx-k', Date.now() - 60_000, DOMAIN);
      for (const id of ['k-1', 'k-2']) {
        expect((await pbx.post('/api/v1/admission', { callId: id, domain: DOMAIN, profiles: [{ name: 'trunk', value: 'sip1' }] })).body.allow).toBe(true);
        s.invite(0, id, '1', '2', { profiles: [{ name: 'trunk', value: 'sip1' }] }).answer(10, id);
      }
      expect((await postEvents(first.url, events, s.events)).status).toBe(200);
      // admitted, its invite not sent before the crash: a reservation is not state, it is not restored
      expect((await pbx.post('/api/v1/admission', { callId: 'k-3', domain: DOMAIN })).body.allow).toBe(true);
      await first.kill();

      second = await startService({ dataDir: first.dataDir });
      const admin2 = apiClient(second.url, await login(second));
      const items = (await admin2.get('/api/v1/profiles')).body.items;
      expect(items).toEqual(
        expect.arrayContaining([
          { name: 'total', value: null, count: 2, local: 2, reserved: 0, remote: [] },
          { name: 'trunk', value: 'sip1', count: 2, local: 2, reserved: 0, remote: [] },
        ]),
      );
      const pbx2 = apiClient(second.url, events);
      expect((await pbx2.post('/api/v1/admission', { callId: 'k-4', domain: DOMAIN })).body.allow).toBe(true);
      expect((await pbx2.post('/api/v1/admission', { callId: 'k-5', domain: DOMAIN })).body).toMatchObject({ allow: false, reason: 'limit' });
    } finally {
      await second?.stop();
      await first.stop();
    }
  });

  it('answers 503 with Retry-After when no callstore instance runs on this site', async () => {
    const svc = await startService();
    try {
      const admin = apiClient(svc.url, await login(svc));
      const config = (await admin.get('/api/v1/config/roles')).body;
      expect((await admin.put('/api/v1/config/roles', { revision: config.revision, instances: [vm()] })).status).toBe(200);
      const res = await eventually(async () => {
        const r = await admin.post('/api/v1/admission', { callId: 'x-1', domain: DOMAIN });
        return r.status === 503 ? r : undefined;
      });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.body.error.code).toBe('unavailable');
      expect((await admin.get('/api/v1/profiles')).status).toBe(200);
    } finally {
      await svc.stop();
    }
  });
});
