import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually, postEvents, StreamSource } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';

const services: RunningTestService[] = [];
afterEach(async () => {
  while (services.length) await services.pop()?.stop();
});

/** A service whose callstore gives lost sources `resyncTimeout` seconds, with an admin and an events client. */
async function setup(ext: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const svc = await startService();
  services.push(svc);
  const admin = apiClient(svc.url, await login(svc));
  await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs({ ext: { resync_timeout: 1, ...ext }, ...extra }), vm()] });
  const token = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token as string;
  return { svc, admin, token, events: apiClient(svc.url, token) };
}

const cdrOf = (admin: ReturnType<typeof apiClient>, id: string) =>
  eventually(async () => {
    const r = await admin.get(`/api/v1/cdrs/${encodeURIComponent(id)}`);
    return r.status === 200 ? r.body : undefined;
  }, 10_000, `the CDR of ${id}`);

const sourceOf = async (admin: ReturnType<typeof apiClient>, id: string) => ((await admin.get('/api/v1/sources')).body.items as { id: string }[]).find((s) => s.id === id) as Record<string, any>;

describe('sources and crash handling (caf-call-legs-resync)', () => {
  it('a blip shorter than resync_timeout terminates nothing', async () => {
    const { svc, admin, token } = await setup({ resync_timeout: 2 });
    const first = await StreamSource.open(svc.url, token);
    await first.send(new CallScript('kam1', Date.now() - 5000).invite(0, 'blip-1', '1', '2').answer(100, 'blip-1').events);
    expect(await sourceOf(admin, 'kam1')).toMatchObject({ transport: 'websocket', state: 'connected', activeCalls: 1, eventsReceived: 2 });
    first.close();
    await eventually(async () => (await sourceOf(admin, 'kam1')).state === 'lost', 5000, 'the source lost');
    const again = await StreamSource.open(svc.url, token);
    await again.send({ ...new CallScript('kam1', Date.now()).hold(0, 'blip-1').events[0], id: 'kam1-hold', seq: 3 });
    expect((await sourceOf(admin, 'kam1')).state).toBe('connected');
    await new Promise((r) => setTimeout(r, 2500));
    expect((await admin.get('/api/v1/calls/blip-1')).body.state).toBe('on_hold');
    again.close();
  });

  it('after resync_timeout the lost source’s calls end with source_lost and get their CDRs; other sources’ calls stay', async () => {
    const { svc, admin, token, events } = await setup();
    const ws = await StreamSource.open(svc.url, token);
    await ws.send(new CallScript('kam2', Date.now() - 5000).invite(0, 'lost-1', '1', '2').answer(100, 'lost-1').invite(200, 'lost-2', '3', '4').events);
    await events.post('/api/v1/events', new CallScript('other', Date.now() - 5000).invite(0, 'other-1', '5', '6').answer(10, 'other-1').events);
    ws.close();
    const answered = await cdrOf(admin, 'lost-1');
    expect(answered).toMatchObject({ endReason: 'source_lost', synthesized: true, disposition: 'ANSWERED', hangup: { by: 'system', reason: 'source_lost' } });
    expect(await cdrOf(admin, 'lost-2')).toMatchObject({ endReason: 'source_lost', disposition: 'FAILED' });
    expect((await admin.get('/api/v1/calls/other-1')).body.state).toBe('talking');
    expect(await sourceOf(admin, 'kam2')).toMatchObject({ state: 'lost', syncRequested: true, activeCalls: 0 });
  });

  it('an HTTP source is lost after three missed heartbeats', async () => {
    const { admin, events } = await setup();
    expect((await events.post('/api/v1/sources/http1/heartbeat', { intervalMs: 200 })).body).toEqual({ state: 'connected', syncRequested: false });
    await events.post('/api/v1/events', new CallScript('http1', Date.now() - 5000).invite(0, 'hb-1', '1', '2').answer(10, 'hb-1').events);
    expect((await sourceOf(admin, 'http1')).transport).toBe('http');
    expect(await cdrOf(admin, 'hb-1')).toMatchObject({ endReason: 'source_lost' });
    // back after its calls were ended: it is asked for its dialogs
    expect((await events.post('/api/v1/sources/http1/heartbeat', { intervalMs: 200 })).body).toEqual({ state: 'resyncing', syncRequested: true });
    expect((await events.post('/api/v1/sources/http1/sync', { dialogs: [] })).status).toBe(200);
    expect(await sourceOf(admin, 'http1')).toMatchObject({ state: 'connected', syncRequested: false, lastSyncAt: expect.any(String) });
  });

  it('a sync keeps known dialogs, reconstructs unknown answered ones, ends missing ones and drops transient ones', async () => {
    const { admin, events } = await setup();
    const t0 = Date.now() - 60_000;
    await events.post('/api/v1/events', new CallScript('kam3', t0).invite(0, 'known-1', '1', '2').answer(10, 'known-1').invite(20, 'missing-1', '3', '4').answer(30, 'missing-1').events);
    const dialog = (callId: string, state: string, answeredAt?: string) => ({ callId, fromTag: `f-${callId}`, toTag: `t-${callId}`, state, from: 'sip:7@office.example', to: 'sip:8@office.example', domain: 'office.example', ...(answeredAt ? { answeredAt } : {}) });
    const answeredAt = new Date(t0 + 5000).toISOString();
    const res = await events.post('/api/v1/sources/kam3/sync', { dialogs: [dialog('known-1', 'confirmed'), dialog('new-1', 'confirmed', answeredAt), dialog('early-1', 'early'), dialog('bye-1', 'terminating')] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ kept: ['known-1'], reconstructed: ['new-1'], refused: [], terminated: ['missing-1'], dropped: ['early-1', 'bye-1'] });
    expect(await cdrOf(admin, 'missing-1')).toMatchObject({ endReason: 'resync_missing', synthesized: true });
    const rebuilt = (await admin.get('/api/v1/calls/new-1')).body;
    expect(rebuilt).toMatchObject({ state: 'talking', answeredAt, from: 'sip:7@office.example', source: 'kam3' });
    expect(rebuilt.anomalies[0]).toMatch(/reconstructed from the dialog list of kam3/);
    expect((await admin.get('/api/v1/calls/known-1')).body.state).toBe('talking');
    // the reconstructed call goes on with the source's events
    await events.post('/api/v1/events', { ...new CallScript('kam3', t0).end(65_000, 'new-1').events[0], id: 'kam3-new-1-end', seq: 50 });
    expect(await cdrOf(admin, 'new-1')).toMatchObject({ endReason: 'normal', answeredAt, billsec: 60 });
  });

  it('refuses unknown answered dialogs with resync_unknown refuse', async () => {
    const { events } = await setup({ resync_unknown: 'refuse' });
    await events.post('/api/v1/sources/kam4/heartbeat', {});
    const res = await events.post('/api/v1/sources/kam4/sync', { dialogs: [{ callId: 'x-1', fromTag: 'a', toTag: 'b', state: 'confirmed', from: 'sip:1@o.example', to: 'sip:2@o.example', domain: 'o.example' }] });
    expect(res.body).toMatchObject({ reconstructed: [], refused: ['x-1'] });
  });

  it('a call reconstructed after its CDR was written starts a new record linked to the old one', async () => {
    const { admin, events } = await setup();
    await events.post('/api/v1/events', new CallScript('kam5', Date.now() - 60_000).invite(0, 'again-1', '1', '2').answer(10, 'again-1').events);
    // ended by the callstore (here an admin), not by its source: a source that still lists it knows better
    expect((await admin.delete('/api/v1/calls/again-1')).status).toBe(200);
    await cdrOf(admin, 'again-1');
    const res = await events.post('/api/v1/sources/kam5/sync', { dialogs: [{ callId: 'again-1', fromTag: 'ft-again-1', toTag: 'tt1', state: 'confirmed', from: 'sip:1@office.example', to: 'sip:2@office.example', domain: 'office.example' }] });
    expect(res.body.reconstructed).toEqual(['again-1']);
    const calls = (await admin.get('/api/v1/calls')).body.items as { id: string; links: unknown[] }[];
    const resumed = calls.find((c) => c.id.startsWith('again-1~resumed-'));
    expect(resumed?.links).toEqual([{ kind: 'resumed', callId: 'again-1' }]);
    expect((await admin.delete(`/api/v1/calls/${resumed?.id}`)).status).toBe(200);
    expect(await cdrOf(admin, resumed?.id ?? '')).toMatchObject({ links: [{ kind: 'resumed', callId: 'again-1' }], endReason: 'admin' });
    expect((await admin.get('/api/v1/cdrs/again-1')).body.endReason).toBe('admin');
  });

  it('a restart with state_save none asks the sources for a sync', async () => {
    const { svc, events } = await setup({}, { state_save: 'none' });
    await events.post('/api/v1/sources/kam6/heartbeat', { intervalMs: 60_000 });
    await svc.stop({ keepData: true });
    services.pop();
    const again = await startService({ dataDir: svc.dataDir });
    services.push(again);
    const token = (await apiClient(again.url, await login(again)).post('/api/v1/tokens', { name: 'pbx2', scopes: ['events'] })).body.token;
    expect((await apiClient(again.url, token).post('/api/v1/sources/kam6/heartbeat', { intervalMs: 60_000 })).body.syncRequested).toBe(true);
    // a WebSocket source is asked as soon as it speaks
    const ws = await StreamSource.open(again.url, token);
    const requests: unknown[] = [];
    ws.ws.on('message', (d) => {
      const msg = JSON.parse(d.toString());
      if (msg.type === 'sync_request') requests.push(msg);
    });
    await ws.send(new CallScript('kam7', Date.now()).invite(0, 'n-1', '1', '2').events);
    await eventually(async () => requests.length > 0, 3000, 'a sync request');
    expect(requests[0]).toEqual({ type: 'sync_request', source: 'kam7' });
    ws.close();
  });

  it('a WebSocket source that names itself with ?source= is connected before its first event', async () => {
    const { svc, admin, token, events } = await setup();
    const url = `${svc.url.replace('http', 'ws')}/api/v1/events/stream?source=kam9`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await eventually(async () => (await sourceOf(admin, 'kam9'))?.state === 'connected', 3000, 'kam9 connected');
    expect(await sourceOf(admin, 'kam9')).toMatchObject({ transport: 'websocket', eventsReceived: 0 });
    expect((await events.post('/api/v1/sources/kam9/sync', { dialogs: [] })).status).toBe(200);
    ws.close();
    await eventually(async () => (await sourceOf(admin, 'kam9')).state === 'lost', 3000, 'kam9 lost');
    const bad = new WebSocket(`${svc.url.replace('http', 'ws')}/api/v1/events/stream?source=${encodeURIComponent('no good')}`, { headers: { authorization: `Bearer ${token}` } });
    const status = await new Promise((resolve) => bad.once('unexpected-response', (_req, res) => resolve(res.statusCode)));
    expect(status).toBe(400);
  });

  it('refuses bad sync and heartbeat requests and changes nothing', async () => {
    const { svc, admin, events } = await setup();
    await events.post('/api/v1/events', new CallScript('kam8', Date.now() - 1000).invite(0, 'keep-1', '1', '2').answer(1, 'keep-1').events);
    const unknown = await events.post('/api/v1/sources/never-seen/sync', { dialogs: [] });
    expect([unknown.status, unknown.body.error.message]).toEqual([404, 'Unknown source never-seen: it has sent no event or heartbeat to this site.']);
    const d = { callId: 'keep-1', fromTag: 'a', toTag: 'b', state: 'confirmed', from: 'sip:1@x.example', to: 'sip:2@x.example', domain: 'x.example' };
    const twice = await events.post('/api/v1/sources/kam8/sync', { dialogs: [d, { ...d, callId: 'z' }, d] });
    expect(twice.status).toBe(400);
    expect(twice.body.error.details).toEqual([{ path: '/dialogs/2/callId', message: '"keep-1" is listed twice (first at /dialogs/0)' }]);
    const badState = await events.post('/api/v1/sources/kam8/sync', { dialogs: [{ ...d, state: 'ringing' }] });
    expect(badState.body.error.details[0].path).toBe('/dialogs/0/state');
    expect((await apiClient(svc.url, 'sct_wrong').post('/api/v1/sources/kam8/heartbeat', {})).status).toBe(401);
    const readOnly = (await admin.post('/api/v1/tokens', { name: 'ro', scopes: ['read'] })).body.token;
    expect((await apiClient(svc.url, readOnly).post('/api/v1/sources/kam8/heartbeat', {})).status).toBe(403);
    const odd = await events.post(`/api/v1/sources/${encodeURIComponent('kam 8/../x')}/heartbeat`, {});
    expect(odd.status).toBe(400);
    expect(odd.body.error.details[0].path).toBe('/id');
    expect((await events.post('/api/v1/sources/kam8/heartbeat', { intervalMs: 5 })).status).toBe(400);
    // nothing changed: the call is still up, the odd source was never registered
    expect((await admin.get('/api/v1/calls/keep-1')).body.state).toBe('talking');
    expect(((await admin.get('/api/v1/sources')).body.items as { id: string }[]).map((s) => s.id).sort()).toEqual(['kam8']);
  });
});
