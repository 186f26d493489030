import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
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
    expect(resumed?.links).toEqual([{ kind: 'resumed', callId: 'again-1', fromCallId: 'again-1', at: expect.any(String) }]);
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

/** A dialog of a sync list, as Kamailio's dlg.list gives it. */
const dialogOf = (callId: string, state = 'confirmed', domain = 'office.example', answeredAt?: string) => ({
  callId,
  fromTag: `f-${callId}`,
  toTag: `t-${callId}`,
  state,
  from: 'sip:7@office.example',
  to: 'sip:8@office.example',
  domain,
  ...(answeredAt ? { answeredAt } : {}),
});
const ndjson = (dialogs: object[]) => dialogs.map((d) => `${JSON.stringify(d)}\n`).join('');

/**
 * A sync sent in parts, as a slow link or a long list arrives: `parts` are written one by one,
 * `between(i)` runs after part i (before the next is written); `abort` cuts the request after the
 * last part instead of ending it.
 */
function syncInParts(url: string, token: string, source: string, parts: string[], between: (i: number) => Promise<void>, abort = false): Promise<{ status: number; body: any } | 'aborted'> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v1/sources/${source}/sync`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', (err) => (abort ? resolve('aborted') : reject(err)));
    void (async () => {
      for (let i = 0; i < parts.length; i++) {
        await new Promise<void>((done) => req.write(parts[i], () => done()));
        await between(i);
      }
      if (abort) {
        req.destroy();
        resolve('aborted');
      } else req.end();
    })().catch(reject);
  });
}

describe('dialog lists taken in as they arrive (NDJSON)', () => {
  it('reconstructs the dialogs of each part as it comes, and ends the known ones the list does not name only once it has all come', async () => {
    const { svc, admin, token, events } = await setup();
    const t0 = Date.now() - 60_000;
    await events.post('/api/v1/events', new CallScript('kam10', t0).invite(0, 'st-known', '1', '2').answer(10, 'st-known').invite(20, 'st-missing', '3', '4').answer(30, 'st-missing').events);
    const answeredAt = new Date(t0 + 5000).toISOString();
    const result = await syncInParts(
      svc.url,
      token,
      'kam10',
      [ndjson([dialogOf('st-known'), dialogOf('st-new-1', 'confirmed', 'office.example', answeredAt), dialogOf('st-early', 'early')]), ndjson([dialogOf('st-new-2', 'confirmed', 'office.example', answeredAt)])],
      async (i) => {
        if (i > 0) return;
        // the first part is taken in before the rest has been sent; nothing is ended yet
        await eventually(async () => (await admin.get('/api/v1/calls/st-new-1')).status === 200, 10_000, 'st-new-1 reconstructed from the first part');
        expect((await admin.get('/api/v1/calls/st-missing')).body.state).toBe('talking');
        expect((await admin.get('/api/v1/calls/st-new-2')).status).toBe(404);
      },
    );
    expect(result).toEqual({ status: 200, body: { kept: ['st-known'], reconstructed: ['st-new-1', 'st-new-2'], refused: [], terminated: ['st-missing'], dropped: ['st-early'] } });
    expect(await cdrOf(admin, 'st-missing')).toMatchObject({ endReason: 'resync_missing' });
    expect((await admin.get('/api/v1/calls/st-new-2')).body).toMatchObject({ state: 'talking', answeredAt, source: 'kam10' });
  });

  it('ends nothing when the list is cut off, or refused on the way; what came before is kept', async () => {
    const { svc, admin, token, events } = await setup();
    await events.post('/api/v1/events', new CallScript('kam11', Date.now() - 60_000).invite(0, 'cut-known', '1', '2').answer(10, 'cut-known').events);
    // cut off after its first part
    const cut = await syncInParts(svc.url, token, 'kam11', [ndjson([dialogOf('cut-new-1')])], async () => {
      await eventually(async () => (await admin.get('/api/v1/calls/cut-new-1')).status === 200, 10_000, 'the first part taken in');
    }, true);
    expect(cut).toBe('aborted');
    // a bad line: refused there, with its index and field; still nothing ended
    const bad = await events.post('/api/v1/sources/kam11/sync', ndjson([dialogOf('cut-new-2'), { ...dialogOf('cut-new-3'), state: 'ringing' }]), { 'content-type': 'application/x-ndjson' });
    expect([bad.status, bad.body.error.details]).toEqual([400, [{ path: '/1/state', message: 'must be one of "early", "confirmed", "terminating"' }]]);
    const twice = await events.post('/api/v1/sources/kam11/sync', ndjson([dialogOf('cut-new-2'), dialogOf('cut-new-2')]), { 'content-type': 'application/x-ndjson' });
    expect([twice.status, twice.body.error.details]).toEqual([400, [{ path: '/1/callId', message: '"cut-new-2" is listed twice (first at /0)' }]]);
    const notJson = await events.post('/api/v1/sources/kam11/sync', `${JSON.stringify(dialogOf('cut-new-4'))}\n{"callId":`, { 'content-type': 'application/x-ndjson' });
    expect([notJson.status, notJson.body.error.details]).toEqual([400, [{ path: '/1', message: 'is not valid JSON' }]]);
    const wrongType = await events.post('/api/v1/sources/kam11/sync', 'dialogs', { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    const wrongEncoding = await events.post('/api/v1/sources/kam11/sync', ndjson([dialogOf('cut-new-5')]), { 'content-type': 'application/x-ndjson', 'content-encoding': 'compress' });
    expect([wrongEncoding.status, wrongEncoding.headers.get('accept-encoding')]).toEqual([415, 'gzip, deflate, br']);
    expect((await admin.get('/api/v1/calls/cut-known')).body.state).toBe('talking');
    for (const id of ['cut-new-1', 'cut-new-2', 'cut-new-4']) expect((await admin.get(`/api/v1/calls/${id}`)).body.state).toBe('talking');
    // the whole list, gzip'd: taken in, and now the known dialog it does not name ends
    const whole = await fetch(`${svc.url}/api/v1/sources/kam11/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
      body: gzipSync(ndjson([dialogOf('cut-new-1'), dialogOf('cut-new-2')])),
    });
    expect(whole.status).toBe(200);
    expect(await whole.json()).toMatchObject({ kept: ['cut-new-1', 'cut-new-2'], terminated: expect.arrayContaining(['cut-known', 'cut-new-4']) });
  });

  it('answers 503 with Retry-After while the group of a dialog to reconstruct has no active instance, ending nothing; the same list goes through once it has one', async () => {
    const svc = await startService();
    services.push(svc);
    const admin = apiClient(svc.url, await login(svc));
    const instances = (salesEnabled: boolean) => [cs(), cs({ name: 'sales', group: 5, include_domains: ['sales.example'], enabled: salesEnabled }), vm()];
    await admin.put('/api/v1/config/roles', { revision: 1, instances: instances(false) });
    const token = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token as string;
    const events = apiClient(svc.url, token);
    await events.post('/api/v1/events', new CallScript('kam12', Date.now() - 60_000).invite(0, 'un-known', '1', '2').answer(10, 'un-known').events);
    const list = ndjson([dialogOf('un-office'), dialogOf('un-sales', 'confirmed', 'sales.example')]);
    const refused = await events.post('/api/v1/sources/kam12/sync', list, { 'content-type': 'application/x-ndjson' });
    expect([refused.status, refused.headers.get('retry-after'), refused.body.error.code, refused.body.error.details]).toEqual([503, '2', 'unavailable', [{ path: '/1/domain', message: 'callstore group 5 (serving sales.example) has no active instance' }]]);
    expect((await admin.get('/api/v1/calls/un-known')).body.state).toBe('talking');
    const { revision } = (await admin.get('/api/v1/config/roles')).body;
    await admin.put('/api/v1/config/roles', { revision, instances: instances(true) });
    const taken = await events.post('/api/v1/sources/kam12/sync', list, { 'content-type': 'application/x-ndjson' });
    expect(taken.body).toEqual({ kept: ['un-office'], reconstructed: ['un-sales'], refused: [], terminated: ['un-known'], dropped: [] });
    expect((await admin.get('/api/v1/calls/un-sales')).body.instance).toBe('sales');
  });

  it('takes a list of thousands of dialogs in chunks, as NDJSON and as JSON, with the same result', async () => {
    const { admin, events } = await setup();
    await events.post('/api/v1/sources/kam13/heartbeat', { intervalMs: 60_000 });
    const answeredAt = new Date(Date.now() - 600_000).toISOString();
    const many = Array.from({ length: 5000 }, (_, i) => dialogOf(`many-${i}`, i % 10 === 0 ? 'early' : 'confirmed', 'office.example', answeredAt));
    const first = await events.post('/api/v1/sources/kam13/sync', ndjson(many), { 'content-type': 'application/x-ndjson' });
    expect(first.status).toBe(200);
    expect([first.body.reconstructed.length, first.body.dropped.length]).toEqual([4500, 500]);
    expect((await admin.get('/api/v1/calls?limit=0')).body.total).toBe(4500);
    // again as JSON, with the first thousand gone: kept, and those ended
    const second = await events.post('/api/v1/sources/kam13/sync', { dialogs: many.slice(1000) });
    expect(second.status).toBe(200);
    expect([second.body.kept.length, second.body.reconstructed.length, second.body.terminated.length, second.body.dropped.length]).toEqual([3600, 0, 900, 400]);
    await eventually(async () => (await admin.get('/api/v1/calls?limit=0')).body.total === 3600, 15_000, 'the ended calls gone');
  });
});

