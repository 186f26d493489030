import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveMessage } from '../../shared/api/live.js';
import { apiClient, type ApiResponse } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually, postEvents, StreamSource } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';

/** A service with an admin client and an `events` token, and a call script that starts now. */
async function setup() {
  const svc = await startService();
  const admin = apiClient(svc.url, await login(svc));
  const eventsToken = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token as string;
  return { svc, admin, eventsToken };
}

const now = () => Date.now() - 60_000;

describe('callstore over HTTP', () => {
  let svc: RunningTestService;
  let admin: ReturnType<typeof apiClient>;
  let eventsToken: string;

  beforeAll(async () => {
    ({ svc, admin, eventsToken } = await setup());
  });
  afterAll(async () => {
    await svc.stop();
  });

  const cdr = (id: string) => eventually(async () => {
    const r = await admin.get(`/api/v1/cdrs/${encodeURIComponent(id)}`);
    return r.status === 200 ? r.body : undefined;
  }, 10_000, `the CDR of ${id}`);

  it('tracks a call live and writes its CDR once it has ended', async () => {
    const s = new CallScript('pbx1', now());
    s.invite(0, 'basic-1', '101', '102', { direction: 'internal' }).ring(200, 'basic-1');
    expect((await postEvents(svc.url, eventsToken, s.events)).body).toEqual({ accepted: 2, stored: 2, duplicates: 0, rejected: [] });

    const live = await admin.get('/api/v1/calls');
    expect(live.body.items.map((c: { id: string; state: string; instance: string }) => [c.id, c.state, c.instance])).toContainEqual(['basic-1', 'ringing', 'callstore1']);
    const detail = await admin.get('/api/v1/calls/basic-1');
    expect(detail.body.events.map((e: { type: string }) => e.type)).toEqual(['invite', 'progress']);

    const rest = new CallScript('pbx1', s.t0);
    rest.answer(3000, 'basic-1').end(33_000, 'basic-1', 'callee');
    rest.events.forEach((e, i) => Object.assign(e, { id: `pbx1-basic-1-${i}`, seq: 100 + i }));
    await postEvents(svc.url, eventsToken, rest.events);
    const record = await cdr('basic-1');
    expect(record).toMatchObject({ disposition: 'ANSWERED', billsec: 30, ringSec: 3, duration: 33, hangup: { by: 'callee' }, endReason: 'normal', direction: 'internal' });
    expect((await admin.get('/api/v1/calls/basic-1')).status).toBe(404);
    const raw = await admin.get('/api/v1/cdrs/basic-1/events');
    expect(raw.body.items.map((e: { type: string; id: string }) => e.type)).toEqual(['invite', 'progress', 'answer', 'end']);
    expect(raw.body.items.map((e: { id: string }) => e.id)).toEqual(record.eventIds);
    expect((await admin.get('/api/v1/cdrs/nope/events')).status).toBe(404);
  });

  it('takes NDJSON and stores each event id once', async () => {
    const s = new CallScript('ndj', now()).invite(0, 'nd-1', '1', '2').fail(100, 'nd-1', 486);
    const body = s.events.map((e) => JSON.stringify(e)).join('\n');
    expect((await postEvents(svc.url, eventsToken, body, 'application/x-ndjson')).body).toMatchObject({ stored: 2, duplicates: 0 });
    expect((await postEvents(svc.url, eventsToken, s.events)).body).toMatchObject({ accepted: 2, stored: 0, duplicates: 2 });
    expect((await cdr('nd-1')).disposition).toBe('BUSY');
  });

  it('stores the valid events of a batch and reports each invalid one with its index, path and reason', async () => {
    const s = new CallScript('mix', now()).invite(0, 'mix-1', '1', '2').fail(100, 'mix-1', 480);
    const bad = [{ ...s.events[0], id: 'mix-bad-1', ts: 'not a time' }, { ...s.events[0], id: 'mix-bad-2', type: 'reinvite' }, 'text'];
    const res = await postEvents(svc.url, eventsToken, [s.events[0], ...bad, s.events[1]] as never);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toBe('3 events are invalid; the 2 valid ones were stored.');
    expect(res.body.error.details).toEqual([
      { path: '/1/ts', message: 'must match format "date-time"' },
      { path: '/2/type', message: expect.stringMatching(/^must be one of "invite"/) },
      { path: '/3', message: 'must be an event object' },
    ]);
    // each problem once: in details, not again beside them
    expect(res.body).toEqual({ error: expect.any(Object), accepted: 2, stored: 2, duplicates: 0 });
    expect((await cdr('mix-1')).disposition).toBe('NO_ANSWER');
  });

  it('refuses malformed JSON, an empty batch and a batch over the limit', async () => {
    expect((await postEvents(svc.url, eventsToken, '[{"id":')).body.error.code).toBe('invalid_json');
    expect((await postEvents(svc.url, eventsToken, [])).status).toBe(400);
    const s = new CallScript('big', now());
    for (let i = 0; i < 5001; i++) s.invite(i, `big-${i}`, '1', '2');
    const res = await postEvents(svc.url, eventsToken, s.events);
    expect(res.status).toBe(413);
    expect(res.body.error.message).toBe('The batch has 5001 events; at most 5000 are taken at once.');
    expect((await admin.get('/api/v1/calls?number=big')).body.total).toBe(0);
  });

  it('refuses events without the events scope', async () => {
    const readToken = (await admin.post('/api/v1/tokens', { name: 'ro', scopes: ['read'] })).body.token;
    expect((await postEvents(svc.url, readToken, new CallScript().invite(0, 'x', '1', '2').events)).status).toBe(403);
    expect((await postEvents(svc.url, 'sct_nope', new CallScript().invite(0, 'x', '1', '2').events)).status).toBe(401);
  });

  it('keeps events of calls that never had an invite as orphans, visible and harmless', async () => {
    const s = new CallScript('orph', now()).answer(0, 'orphan-1').end(1000, 'orphan-1');
    s.events.forEach((e) => (e.domain = 'office.example'));
    expect((await postEvents(svc.url, eventsToken, s.events)).status).toBe(200);
    const orphans = await admin.get('/api/v1/calls?state=orphan');
    expect(orphans.body.items.map((c: { legs: { callId: string }[]; orphan: boolean }) => [c.legs[0]?.callId, c.orphan])).toContainEqual(['orphan-1', true]);
    // the invite comes late: the call is whole and gets its record
    const invite = new CallScript('orph', s.t0).invite(-500, 'orphan-1', '7', '8').events[0]!;
    await postEvents(svc.url, eventsToken, { ...invite, id: 'orph-late-invite', seq: 99 });
    expect(await cdr('orphan-1')).toMatchObject({ disposition: 'ANSWERED', billsec: 1, duration: 1.5 });
  });

  it('lets the admin terminate a call: the CDR says admin', async () => {
    const s = new CallScript('adm', now()).invite(0, 'adm-1', '1', '2').answer(100, 'adm-1');
    await postEvents(svc.url, eventsToken, s.events);
    const res = await admin.delete('/api/v1/calls/adm-1');
    expect(res.status).toBe(200);
    expect(res.body.cdr).toMatchObject({ id: 'adm-1', endReason: 'admin', synthesized: true, hangup: { by: 'system' }, disposition: 'ANSWERED' });
    expect((await cdr('adm-1')).endReason).toBe('admin');
    expect((await admin.delete('/api/v1/calls/adm-1')).status).toBe(404);
  });

  it('acknowledges over the WebSocket with the highest seq stored', async () => {
    const source = await StreamSource.open(svc.url, eventsToken);
    try {
      const s = new CallScript('wsrc', now()).invite(0, 'ws-1', '1', '2').answer(100, 'ws-1').end(2100, 'ws-1');
      expect(await source.send(s.events[0])).toEqual({ ack: 1, stored: 1, duplicates: 0 });
      expect(await source.send(s.events.slice(1))).toEqual({ ack: 3, stored: 2, duplicates: 0 });
      expect(await source.send(s.events)).toEqual({ ack: 3, stored: 0, duplicates: 3 });
      const reply = await source.send([{ ...s.events[0], id: 'ws-bad', type: 'nope' }]);
      expect(reply).toMatchObject({ ack: null, stored: 0, rejected: [{ index: 0, id: 'ws-bad', path: '/type' }] });
      expect(await source.send('{broken')).toMatchObject({ ack: null, error: { code: 'invalid_json' } });
      expect((await cdr('ws-1')).billsec).toBe(2);
    } finally {
      source.close();
    }
  });

  it('refuses a WebSocket without a token or with the wrong scope', async () => {
    await expect(StreamSource.open(svc.url, 'sct_wrong')).rejects.toThrow(/401/);
    const readToken = (await admin.post('/api/v1/tokens', { name: 'ro2', scopes: ['read'] })).body.token;
    await expect(StreamSource.open(svc.url, readToken, true)).rejects.toThrow(/403/);
  });

  it('pushes call and CDR changes on /api/v1/live', async () => {
    const token = await login(svc);
    const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/api/v1/live?token=${token}`);
    const messages: LiveMessage[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    try {
      const s = new CallScript('live', now()).invite(0, 'live-1', '1', '2').answer(100, 'live-1');
      await postEvents(svc.url, eventsToken, s.events);
      const seen = () => messages.flatMap((m) => (m.type === 'changes' ? m.changes : []));
      await eventually(async () => seen().some((c) => c.collection === 'calls' && c.id === 'live-1' && (c.doc as { state: string }).state === 'talking'));
      await postEvents(svc.url, eventsToken, new CallScript('live2', s.t0).end(5000, 'live-1').events);
      await eventually(async () => seen().some((c) => c.collection === 'cdrs' && c.id === 'live-1'));
      await eventually(async () => seen().some((c) => c.collection === 'calls' && c.id === 'live-1' && c.op === 'delete'));
      expect(messages[0]).toMatchObject({ type: 'hello' });
      expect(seen().some((c) => ['users', 'tokens', 'sessions'].includes(c.collection))).toBe(false);
    } finally {
      ws.close();
    }
  });
});

describe('call records API', () => {
  it('filters, sorts and pages CDRs and streams the same rows as CSV in a time zone', async () => {
    const { svc, admin, eventsToken } = await setup();
    try {
      const t0 = Date.parse('2026-10-31T22:30:00.000Z');
      const s = new CallScript('rec', t0);
      for (let i = 0; i < 12; i++) {
        const id = `rec-${String(i).padStart(2, '0')}`;
        s.invite(i * 3_600_000, id, `10${i}`, i % 2 ? '200' : '300', { direction: i % 3 ? 'inbound' : 'outbound' });
        if (i % 4 === 3) s.fail(i * 3_600_000 + 5000, id, 486);
        else s.answer(i * 3_600_000 + 2000, id).end(i * 3_600_000 + 62_000, id);
      }
      await postEvents(svc.url, eventsToken, s.events);
      await eventually(async () => (await admin.get('/api/v1/cdrs')).body.total === 12, 10_000, '12 CDRs');

      const busy = await admin.get('/api/v1/cdrs?disposition=BUSY&sort=startedAt');
      expect(busy.body.items.map((c: { id: string }) => c.id)).toEqual(['rec-03', 'rec-07', 'rec-11']);
      const page = await admin.get('/api/v1/cdrs?number=200&sort=-startedAt&limit=2&offset=2');
      expect(page.body.total).toBe(6);
      expect(page.body.items.map((c: { id: string }) => c.id)).toEqual(['rec-07', 'rec-05']);
      // November starts at rec-02 (00:30Z): the range crosses the month partitions
      const nov = await admin.get(`/api/v1/cdrs?from=${encodeURIComponent('2026-11-01T00:00:00Z')}&until=${encodeURIComponent('2026-11-01T03:00:00Z')}&direction=inbound`);
      expect(nov.body.items.map((c: { id: string }) => c.id).sort()).toEqual(['rec-02', 'rec-04']);
      expect((await admin.get('/api/v1/cdrs?search=REC-1')).body.total).toBe(2);
      expect((await admin.get('/api/v1/cdrs?limit=0')).body.error.details[0].path).toBe('/limit');

      const csv = await fetch(`${svc.url}/api/v1/cdrs/export?format=csv&tz=Europe/Berlin&disposition=BUSY`, { headers: { authorization: `Bearer ${await login(svc)}` } });
      expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
      expect(csv.headers.get('content-disposition')).toMatch(/attachment; filename="sitecall-cdrs-.*\.csv"/);
      const lines = (await csv.text()).trim().split(/\r?\n/);
      expect(lines[0]).toMatch(/^id,startedAt,/);
      expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['rec-03', 'rec-07', 'rec-11']);
      expect(lines[1]).toContain('2026-11-01 02:30:00.000 +01:00');
      const badTz = await admin.get('/api/v1/cdrs/export?format=csv&tz=Nowhere/City');
      expect(badTz.status).toBe(400);
    } finally {
      await svc.stop();
    }
  });
});

describe('active calls list', () => {
  it('pages by cursor, newest first, with the total; a count alone with limit=0', async () => {
    const { svc, admin, eventsToken } = await setup();
    try {
      // 2,400 calls, a second apart, two of every three in office.example; each tenth starts with
      // the one before it (ties are broken by id)
      const t0 = Date.now() - 3 * 3600_000;
      const s = new CallScript('pg', t0);
      const o = new CallScript('pg-o', t0, 'other.example');
      const calls: { id: string; at: number; domain: string }[] = [];
      for (let i = 0; i < 2400; i++) {
        const at = (i % 10 === 9 ? i - 1 : i) * 1000;
        const id = `pg-${String(i).padStart(4, '0')}`;
        const script = i % 3 === 2 ? o : s;
        script.invite(at, id, String(100 + (i % 7)), '200');
        calls.push({ id, at, domain: script.domain });
      }
      for (const script of [s, o]) expect((await postEvents(svc.url, eventsToken, script.events)).status).toBe(200);
      const order = (xs: typeof calls) => [...xs].sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : 1)).map((c) => c.id);

      // Unpaged as before, an old client gets the first 1,000 (the default) and the total.
      const first = await admin.get('/api/v1/calls');
      expect(first.status).toBe(200);
      expect([first.body.items.length, first.body.total, typeof first.body.nextCursor]).toEqual([1000, 2400, 'string']);
      expect(first.body.items.map((c: { id: string }) => c.id)).toEqual(order(calls).slice(0, 1000));

      // Walking the pages gives every call once, in order, while calls start and end meanwhile.
      const walked: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: ApiResponse<{ items: { id: string }[]; nextCursor: string | null }> = await admin.get(`/api/v1/calls?limit=700${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(page.status).toBe(200);
        walked.push(...page.body.items.map((c) => c.id));
        cursor = page.body.nextCursor;
        if (++pages === 1) {
          // newer calls (not on later pages) and the end of calls not reached yet
          const more = new CallScript('pg-late', Date.now()).invite(0, 'pg-late-1', '1', '2').invite(10, 'pg-late-2', '1', '2');
          const ends = new CallScript('pg-end', t0).end(0, 'pg-0000').end(0, 'pg-0001');
          await postEvents(svc.url, eventsToken, [...more.events, ...ends.events]);
          await eventually(async () => (await admin.get('/api/v1/calls?limit=0')).body.total === 2400, 10_000, 'the two ended calls gone');
        }
      } while (cursor);
      expect(pages).toBe(4);
      expect(walked).toEqual(order(calls).filter((id) => id !== 'pg-0000' && id !== 'pg-0001'));

      // The count alone, and filters with paging.
      expect((await admin.get('/api/v1/calls?limit=0')).body).toEqual({ items: [], total: 2400, nextCursor: null });
      const office = calls.filter((c) => c.domain === 'office.example' && c.id !== 'pg-0000' && c.id !== 'pg-0001');
      const p1 = await admin.get('/api/v1/calls?domain=office.example&number=103&limit=100');
      const wanted = order(office.filter((c) => Number(c.id.slice(3)) % 7 === 3));
      expect([p1.body.total, p1.body.items.map((c: { id: string }) => c.id)]).toEqual([wanted.length, wanted.slice(0, 100)]);
      const p2 = await admin.get(`/api/v1/calls?domain=office.example&number=103&limit=100&cursor=${encodeURIComponent(p1.body.nextCursor)}`);
      expect(p2.body.items.map((c: { id: string }) => c.id)).toEqual(wanted.slice(100, 200));

      // Bad paging input: one sentence, the path.
      const bad = await admin.get('/api/v1/calls?cursor=bm90LWEtY3Vyc29y');
      expect([bad.status, bad.body.error.details]).toEqual([400, [{ path: '/cursor', message: 'is not a cursor of this list' }]]);
      expect((await admin.get('/api/v1/calls?limit=5001')).status).toBe(400);
    } finally {
      await svc.stop();
    }
  });
});

describe('dashboard figures', () => {
  it('counts recorded and active calls in /api/v1/stats/calls', async () => {
    const { svc, admin, eventsToken } = await setup();
    try {
      const t0 = Date.now() - 30 * 60_000;
      const s = new CallScript('st', t0, 'sales.example')
        .invite(0, 'st-1', '1', '2').answer(1000, 'st-1').end(61_000, 'st-1')
        .invite(2000, 'st-2', '1', '3').fail(3000, 'st-2', 486)
        .invite(4000, 'st-3', '1', '4').answer(5000, 'st-3');
      await postEvents(svc.url, eventsToken, s.events);
      await eventually(async () => (await admin.get('/api/v1/cdrs')).body.total === 2);
      const stats = (await admin.get('/api/v1/stats/calls?hours=2&bucketMinutes=10&tz=Asia/Kolkata')).body;
      expect(stats.active).toBe(1);
      expect(stats.bucketMinutes).toBe(10);
      expect(stats.perHour.reduce((n: number, h: { ANSWERED: number; BUSY: number }) => n + h.ANSWERED + h.BUSY, 0)).toBe(2);
      expect(stats.perHour[0].hour).toMatch(/:30:00\.000Z$/);
      expect(stats.topDomains).toEqual([{ domain: 'sales.example', calls: 2, answered: 1 }]);
      // the active call counts from its start to now
      expect(stats.concurrency.at(-1).calls).toBe(1);
      expect(Math.max(...stats.concurrency.map((b: { calls: number }) => b.calls))).toBe(3);
      const bad = await admin.get('/api/v1/stats/calls?tz=Mars/Olympus');
      expect([bad.status, bad.body.error.details]).toEqual([400, [{ path: '/tz', message: 'is not a known IANA time zone' }]]);
    } finally {
      await svc.stop();
    }
  });
});

describe('callstore routing and settings', () => {
  it('routes events by domain to the active instance of the serving group', async () => {
    const { svc, admin, eventsToken } = await setup();
    try {
      const saved = await admin.put('/api/v1/config/roles', {
        revision: 1,
        instances: [cs(), cs({ name: 'sales', group: 5, include_domains: ['sales.example'] }), cs({ name: 'salesB', group: 5, order: 2, include_domains: ['sales.example'] }), vm()],
      });
      expect(saved.status).toBe(200);
      const a = new CallScript('r1', now(), 'eu.sales.example').invite(0, 'route-1', '1', '2');
      const b = new CallScript('r2', now(), 'office.example').invite(0, 'route-2', '1', '2');
      await postEvents(svc.url, eventsToken, [...a.events, ...b.events]);
      const calls = (await admin.get('/api/v1/calls')).body.items;
      expect(calls.map((c: { id: string; instance: string }) => [c.id, c.instance]).sort()).toEqual([
        ['route-1', 'sales'],
        ['route-2', 'callstore1'],
      ]);
      // later events of a known call follow the call even without a domain
      await postEvents(svc.url, eventsToken, new CallScript('r1-later', a.t0).answer(10, 'route-1').events);
      expect((await admin.get('/api/v1/calls/route-1')).body.state).toBe('talking');
    } finally {
      await svc.stop();
    }
  });

  it('refuses events for a domain no group serves', async () => {
    const { svc, admin, eventsToken } = await setup();
    try {
      await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs({ include_domains: ['office.example'] }), vm()] });
      const res = await postEvents(svc.url, eventsToken, new CallScript('x', now(), 'elsewhere.example').invite(0, 'nowhere', '1', '2').events);
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([{ path: '/0/domain', message: 'no callstore group serves the domain elsewhere.example' }]);
    } finally {
      await svc.stop();
    }
  });

  it('refuses a whole batch for now (503, Retry-After, nothing stored) while a group has no active instance; a domain no group serves stays a per-event 400', async () => {
    const { svc, admin, eventsToken } = await setup();
    try {
      // sales.example: group 5, its only instance disabled; office.example: group 1; nothing else is served
      const instances = (salesEnabled: boolean) => [cs({ include_domains: ['office.example'] }), cs({ name: 'sales', group: 5, include_domains: ['sales.example'], enabled: salesEnabled }), vm()];
      expect((await admin.put('/api/v1/config/roles', { revision: 1, instances: instances(false) })).status).toBe(200);
      const office = new CallScript('u-office', now(), 'office.example').invite(0, 'unrouted-office', '1', '2');
      const sales = new CallScript('u-sales', now(), 'sales.example').invite(0, 'unrouted-sales', '1', '2').answer(100, 'unrouted-sales');
      const nowhere = new CallScript('u-nowhere', now(), 'elsewhere.example').invite(0, 'unrouted-nowhere', '1', '2');
      const batch = [...office.events, ...sales.events, ...nowhere.events];

      const res = await postEvents(svc.url, eventsToken, batch);
      expect([res.status, res.headers.get('retry-after')]).toEqual([503, '2']);
      expect(res.body.error).toEqual({
        code: 'unavailable',
        message: 'An event of this batch cannot be stored here now: callstore group 5 (serving sales.example) has no active instance. Nothing of the batch was stored; send it again in 2 s.',
        details: [{ path: '/1/domain', message: 'callstore group 5 (serving sales.example) has no active instance' }],
      });
      // nothing of the batch, not even the event group 1 could have taken
      expect((await admin.get('/api/v1/calls')).body.total).toBe(0);

      // The stream: an error the source can tell is temporary; the message sent right behind it
      // (the answer, without its domain) is refused too rather than stored out of order.
      const ws = await StreamSource.open(svc.url, eventsToken);
      const [first, second] = await Promise.all([ws.send([sales.events[0]]), ws.send([sales.events[1], ...office.events])]);
      expect(first).toEqual({ ack: null, error: { code: 'unavailable', message: expect.stringContaining('callstore group 5 (serving sales.example) has no active instance'), retryAfter: 2 } });
      expect(second).toMatchObject({ ack: null, error: { code: 'unavailable', message: expect.stringContaining('refused too, so that nothing is stored out of order'), retryAfter: expect.any(Number) } });
      expect((await admin.get('/api/v1/calls')).body.total).toBe(0);

      // With an instance again, the same batch: stored, and the unserved domain refused for good.
      const { revision } = (await admin.get('/api/v1/config/roles')).body;
      expect((await admin.put('/api/v1/config/roles', { revision, instances: instances(true) })).status).toBe(200);
      const again = await postEvents(svc.url, eventsToken, batch);
      expect(again.status).toBe(400);
      expect(again.body).toMatchObject({ stored: 3, error: { details: [{ path: '/3/domain', message: 'no callstore group serves the domain elsewhere.example' }] } });
      expect((await admin.get('/api/v1/calls/unrouted-sales')).body).toMatchObject({ instance: 'sales', state: 'talking' });
      // the stream takes its messages again once the retry time has passed
      const taken = await eventually(async () => {
        const reply = await ws.send(sales.events);
        return reply.ack !== null ? reply : undefined;
      }, 5000, 'the stream taking messages again');
      expect(taken).toMatchObject({ ack: 2, stored: 0, duplicates: 2 });
      ws.close();
    } finally {
      await svc.stop();
    }
  });

  it('sweeps calls whose events stopped, after call_timeout, with endReason timeout', async () => {
    const { svc, admin, eventsToken } = await setup();
    try {
      await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs({ ext: { call_timeout: 1 } }), vm()] });
      await postEvents(svc.url, eventsToken, new CallScript('t', now()).invite(0, 'silent-1', '1', '2').ring(10, 'silent-1').events);
      const record = await eventually(async () => {
        const r = await admin.get('/api/v1/cdrs/silent-1');
        return r.status === 200 ? r.body : undefined;
      }, 8000);
      expect(record).toMatchObject({ endReason: 'timeout', disposition: 'NO_ANSWER', synthesized: true });
    } finally {
      await svc.stop();
    }
  });

  it.each([
    ['cdr_mode off', { cdr_mode: 'off' }, [false, false]],
    ['cdr_mode flagged', { cdr_mode: 'flagged' }, [true, false]],
    ['cdr_aggregation false', { cdr_aggregation: false }, [false, false]],
  ])('obeys %s', async (_what, settings, expected) => {
    const { svc, admin, eventsToken } = await setup();
    try {
      await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs(settings), vm()] });
      const s = new CallScript('m', now()).invite(0, 'flag-1', '1', '2', { cdr: true }).fail(10, 'flag-1', 486).invite(20, 'flag-2', '1', '2').fail(30, 'flag-2', 486);
      await postEvents(svc.url, eventsToken, s.events);
      await eventually(async () => (await admin.get('/api/v1/calls')).body.total === 0);
      await new Promise((r) => setTimeout(r, 300));
      const present = await Promise.all(['flag-1', 'flag-2'].map(async (id) => (await admin.get(`/api/v1/cdrs/${id}`)).status === 200));
      expect(present).toEqual(expected);
    } finally {
      await svc.stop();
    }
  });
});
