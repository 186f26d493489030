import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveMessage, LivePosition } from '../../shared/api/live.js';
import { LIVE_MAX_BUFFERED_BYTES, LIVE_MAX_CATCHUP_RECORDS, LIVE_PAGE_ENTRIES, logKindOf } from '../../service/api/live-feed.js';
import { changeLogFile } from '../../service/storage/changelog/files.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { ChangeLogReader, type LogEntry } from '../../service/storage/changelog/reader.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { eventually, postEvents } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';

/**
 * Issue 16: the console's live feed reads the change log by position. A reader that goes away
 * mid-stream (or whose service restarts) and comes back with its position misses nothing and
 * sees nothing twice; every message is checked against the log itself, read from the file.
 */

interface LiveSession {
  ws: WebSocket;
  messages: LiveMessage[];
  /** stop taking messages (those in flight are lost, as they are when a connection drops) */
  stop(): void;
  closed: Promise<void>;
}

/** `dropWhen`: checked on each message taken; true drops the connection there, at once. */
function openLive(url: string, token: string, after?: LivePosition, dropWhen?: (messages: LiveMessage[]) => boolean): Promise<LiveSession> {
  const query = after ? `?after=${encodeURIComponent(JSON.stringify(after))}` : '';
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live${query}`, { headers: { authorization: `Bearer ${token}` } });
  const messages: LiveMessage[] = [];
  let taking = true;
  ws.on('message', (data) => {
    if (!taking) return;
    messages.push(JSON.parse(data.toString()) as LiveMessage);
    if (dropWhen?.(messages)) {
      taking = false;
      ws.terminate();
    }
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`live feed refused: ${res.statusCode}`)));
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        closed,
        stop() {
          taking = false;
          ws.terminate();
        },
      }),
    );
  });
}

/** The answer to an upgrade the service refuses: status and JSON body. */
function refusal(url: string, token: string, rawAfter: string): Promise<{ status: number; body: { error: { code: string; message: string; details?: { path: string; message: string }[] } } }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live?after=${encodeURIComponent(rawAfter)}`, { headers: { authorization: `Bearer ${token}` } });
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error(`the upgrade with after=${rawAfter} was accepted`)));
    ws.once('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
  });
}

const lastPosition = (s: LiveSession): LivePosition => {
  const last = s.messages.at(-1);
  if (!last) throw new Error('no message yet');
  return last.position;
};
const covers = (position: LivePosition, head: Record<string, number>) => Object.entries(head).every(([o, seq]) => (position[o] ?? 0) >= seq);

/**
 * Checks the sessions of one reader, one after the other, against the log: each session starts
 * where the one before it ended (nothing twice, nothing skipped), and each message carries, for
 * exactly the visible documents its entries changed, the last entry of each (coalesced).
 */
function checkAgainstLog(file: string, sessions: LiveSession[], startedAt: LivePosition): { keys: Map<string, number>; messages: number } {
  const reader = ChangeLogReader.open(file);
  try {
    let from = startedAt;
    const seen = new Set<string>();
    const keys = new Map<string, number>();
    let messages = 0;
    for (const s of sessions) {
      const hello = s.messages[0];
      if (hello?.type !== 'hello') throw new Error(`a session began with ${JSON.stringify(hello)?.slice(0, 100)}`);
      expect(hello.position).toEqual(from);
      const visible = new Set(hello.positioned.map(logKindOf));
      for (const m of s.messages.slice(1)) {
        expect(m.type, JSON.stringify(m).slice(0, 200)).toBe('changes');
        if (m.type !== 'changes') continue;
        const expected = new Map<string, number>();
        for (const [origin, to] of Object.entries(m.position)) {
          const have = from[origin] ?? 0;
          expect(to, `the position of ${origin} went back`).toBeGreaterThanOrEqual(have);
          let entries: LogEntry[] = [];
          for (let after = have; after < to; after = entries.at(-1)?.seq ?? to) {
            entries = reader.after(origin, after, 1000).filter((e) => e.seq <= to);
            if (entries.length === 0) break;
            for (const e of entries) if (visible.has(e.kind)) expected.set(`${e.kind}/${e.key}`, e.seq);
          }
        }
        const got = new Map<string, number>();
        for (const c of m.changes) {
          expect(hello.collections).toContain(c.collection);
          expect(['users', 'tokens', 'sessions']).not.toContain(c.collection);
          if (!visible.has(logKindOf(c.collection))) continue;
          const id = `${logKindOf(c.collection)}/${c.id}`;
          expect(got.has(id), `${id} twice in one message`).toBe(false);
          got.set(id, c.seq as number);
          const once = `${id}#${c.origin}:${c.seq}`;
          expect(seen.has(once), `${once} sent twice`).toBe(false);
          seen.add(once);
          keys.set(id, c.seq as number);
        }
        expect(got).toEqual(expected);
        from = m.position;
        messages++;
      }
    }
    return { keys, messages };
  } finally {
    reader.close();
  }
}

/** Appends config documents straight to the log (the service stopped): a long log to read in pages. */
function appendBulk(dataDir: string, origin: string, count: number, keys: number, padBytes: number, prefix: string): void {
  const log = ChangeLog.open(changeLogFile(dataDir), { origin, policyOf, durability: 'os' });
  try {
    for (let i = 0; i < count; i += 200) {
      const chunk = Array.from({ length: Math.min(200, count - i) }, (_, j) => {
        const n = i + j;
        const key = `${prefix}-${n % keys}`;
        return { kind: 'config', key, body: { _id: key, n, pad: 'x'.repeat(padBytes) } };
      });
      log.appendMany(chunk);
    }
  } finally {
    void log.close();
  }
}

function logHead(dataDir: string): Record<string, number> {
  const reader = ChangeLogReader.open(changeLogFile(dataDir));
  try {
    return reader.head();
  } finally {
    reader.close();
  }
}

describe('the live feed reads the change log by position', () => {
  let svc: RunningTestService;
  let dataDir: string;
  let readToken: string;
  let adminToken: string;
  let origin: string;
  let position: LivePosition;

  /** Restarts the service; returns what the stopped one wrote. */
  const restart = async (): Promise<string> => {
    await svc.stop();
    const output = svc.logs();
    svc = await startService({ dataDir });
    adminToken = await login(svc);
    return output;
  };
  const saveConfig = async (times: number) => {
    const api = apiClient(svc.url, adminToken);
    for (let i = 0; i < times; i++) {
      const current = (await api.get('/api/v1/config/roles')).body;
      const put = await api.put('/api/v1/config/roles', { revision: current.revision, instances: current.instances });
      expect(put.status, put.text).toBe(200);
    }
  };

  beforeAll(async () => {
    svc = await startService();
    dataDir = svc.dataDir;
    adminToken = await login(svc);
    const api = apiClient(svc.url, adminToken);
    readToken = (await api.post('/api/v1/tokens', { name: 'console', scopes: ['read'] })).body.token;
    origin = (await api.get('/api/v1/status')).body.site.id;
    await svc.stop({ keepData: true });
    // 1,500 changes over 40 documents: fifteen pages and more, each coalesced.
    appendBulk(dataDir, origin, 1500, 40, 200, 'live-bulk');
    svc = await startService({ dataDir });
    adminToken = await login(svc);
  }, 60_000);

  afterAll(async () => {
    await svc?.stop();
    if (dataDir) rmSync(dirname(dataDir), { recursive: true, force: true });
  });

  it('refuses a malformed position with 400, the JSON path and a sentence; an unknown origin is fine', async () => {
    for (const [raw, path] of [
      ['not json', '/after'],
      ['[1]', '/after'],
      ['{"a":-1}', '/after/a'],
      ['{"a":1.5}', '/after/a'],
      ['{"a":"7"}', '/after/a'],
    ] as const) {
      const r = await refusal(svc.url, readToken, raw);
      expect(r.status, raw).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message).toMatch(/\?after=.*\.$/);
      expect(r.body.error.details?.[0]?.path, raw).toBe(path);
    }
    const head = logHead(dataDir);
    const live = await openLive(svc.url, readToken, { 'some-other-site': 12, ...head });
    await eventually(async () => live.messages.length >= 1, 10_000, 'hello');
    expect(live.messages[0]).toMatchObject({ type: 'hello', positioned: ['cdrs', 'config', 'limits'], position: { 'some-other-site': 12, ...head } });
    live.stop();
  });

  it('a reader that drops mid-stream and comes back with its position misses nothing and sees nothing twice', async () => {
    const file = changeLogFile(dataDir);
    // It drops after four pages, the rest of what was on its way lost with the connection.
    const first = await openLive(svc.url, readToken, {}, (messages) => messages.filter((m) => m.type === 'changes').length >= 4);
    // Changes keep coming while it reads the log's past.
    const saving = saveConfig(15);
    await first.closed;
    const resumeFrom = lastPosition(first);
    expect(covers(resumeFrom, logHead(dataDir)), 'the first session should have stopped mid-stream').toBe(false);
    const second = await openLive(svc.url, readToken, resumeFrom);
    await saving;
    const head = logHead(dataDir);
    await eventually(async () => second.messages.length > 1 && covers(lastPosition(second), head), 30_000, 'the second session to catch up');
    second.stop();
    const { keys, messages } = checkAgainstLog(file, [first, second], {});
    expect(messages).toBeGreaterThanOrEqual(1500 / LIVE_PAGE_ENTRIES);
    // every bulk document, at its last entry, and the configuration at its last save
    for (let k = 0; k < 40; k++) expect(keys.get(`config/live-bulk-${k}`), `live-bulk-${k}`).toBeDefined();
    const reader = ChangeLogReader.open(file);
    try {
      const lastRoles = reader
        .after(origin, 0, 100_000)
        .filter((e) => e.kind === 'config' && e.key === 'roles')
        .at(-1);
      expect(keys.get('config/roles')).toBe(lastRoles?.seq);
    } finally {
      reader.close();
    }
    position = lastPosition(second);
  }, 90_000);

  it('the same across a restart of the service', async () => {
    const file = changeLogFile(dataDir);
    const before = await openLive(svc.url, readToken, position);
    await saveConfig(5);
    await eventually(async () => before.messages.some((m) => m.type === 'changes'), 10_000, 'a change before the restart');
    const started = position;
    const stoppedOutput = await restart();
    await before.closed;
    // The feed stopped reading with the service: no fault reading a closed log on the way out.
    expect(stoppedOutput).not.toMatch(/reading the change log|"level":50/);
    await saveConfig(5);
    const after = await openLive(svc.url, readToken, lastPosition(before));
    await saveConfig(3);
    const head = logHead(dataDir);
    await eventually(async () => after.messages.length > 1 && covers(lastPosition(after), head), 20_000, 'the reader to catch up after the restart');
    after.stop();
    const { keys } = checkAgainstLog(file, [before, after], started);
    expect(keys.has('config/roles')).toBe(true);
    position = lastPosition(after);
  }, 90_000);

  it('tells a reader behind the compacted log to reload, and goes on from the position it gives', async () => {
    await svc.stop();
    const log = ChangeLog.open(changeLogFile(dataDir), { origin, policyOf, durability: 'os' });
    const { removed, base } = log.compact({ minAgeMs: 0 });
    await log.close();
    expect(removed).toBeGreaterThan(0);
    svc = await startService({ dataDir });
    adminToken = await login(svc);
    const behind = { [origin]: (base[origin] ?? 1) - 1 };
    const live = await openLive(svc.url, readToken, behind);
    await eventually(async () => live.messages.some((m) => m.type === 'reload'), 10_000, 'the reload message');
    const reload = live.messages.find((m) => m.type === 'reload');
    expect(live.messages[0]?.type).toBe('hello');
    expect(reload?.reason).toMatch(/compacted/);
    expect(reload?.position[origin]).toBe(logHead(dataDir)[origin]);
    await saveConfig(1);
    await eventually(async () => live.messages.some((m) => m.type === 'changes' && m.changes.some((c) => c.collection === 'config' && c.id === 'roles')), 10_000, 'a change after the reload');
    const change = live.messages.find((m) => m.type === 'changes');
    expect(change?.position[origin]).toBeGreaterThan(reload?.position[origin] ?? Infinity);
    live.stop();
  }, 60_000);
});

describe('a live reader that does not read', () => {
  let svc: RunningTestService;
  let dataDir: string;
  let adminToken: string;
  const BULK = 2000;
  const PAD = 24_000;

  beforeAll(async () => {
    svc = await startService();
    dataDir = svc.dataDir;
    adminToken = await login(svc);
    const origin = (await apiClient(svc.url, adminToken).get('/api/v1/status')).body.site.id;
    await svc.stop({ keepData: true });
    // 2,000 documents of 24 kB: 48 MB to send, far more than the socket and the kernel hold.
    appendBulk(dataDir, origin, BULK, BULK, PAD, 'live-big');
    svc = await startService({ dataDir });
    adminToken = await login(svc);
  }, 120_000);

  afterAll(async () => {
    await svc?.stop();
    if (dataDir) rmSync(dirname(dataDir), { recursive: true, force: true });
  });

  const metric = async (name: string): Promise<number> => {
    const res = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
    const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    if (!line) throw new Error(`no ${name} in /metrics`);
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const rssBytes = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${svc.proc.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

  it('holds at most the limit and a page for it, stops reading the log, and goes on from its position once it reads', async () => {
    const rssBefore = rssBytes();
    const live = await openLive(svc.url, adminToken, {});
    live.ws.pause();
    // A page of 100 documents of 24 kB is the largest message; nothing more is queued while it waits.
    const bound = LIVE_MAX_BUFFERED_BYTES + LIVE_PAGE_ENTRIES * (PAD + 200);
    // The server stops reading for it (one connection waits for its socket to drain), or it has
    // queued more than it may: either ends the wait.
    const samples: number[] = [];
    await eventually(
      async () => {
        samples.push(await metric('sitecall_live_buffered_bytes'));
        return (samples.at(-1) ?? 0) > bound || (await metric('sitecall_live_waiting_connections')) === 1;
      },
      60_000,
      'the feed to wait for the socket',
    );
    expect(Math.max(...samples), 'bytes queued for a reader that does not read').toBeLessThanOrEqual(bound);
    for (let i = 0; i < 20; i++) {
      samples.push(await metric('sitecall_live_buffered_bytes'));
      expect(await metric('sitecall_live_waiting_connections')).toBe(1);
    }
    const rssWaiting = rssBytes();
    console.log(`live feed, a reader that does not read: buffered ${Math.max(...samples)} bytes at most (bound ${bound}, limit ${LIVE_MAX_BUFFERED_BYTES}); RSS ${Math.round(rssBefore / 2 ** 20)} MB before, ${Math.round(rssWaiting / 2 ** 20)} MB while it waits; ${BULK * PAD} bytes to send`);
    expect(Math.max(...samples)).toBeLessThanOrEqual(bound);
    expect(Math.max(...samples)).toBeGreaterThan(LIVE_MAX_BUFFERED_BYTES);
    // It has not been sent everything: the rest waits in the log, not in memory.
    const got = live.messages.flatMap((m) => (m.type === 'changes' ? m.changes : [])).filter((c) => c.id.startsWith('live-big-')).length;
    expect(got).toBeLessThan(BULK);
    // A call meanwhile (no position): dropped, not queued; the reader is told to resync once it reads.
    const eventsToken = (await apiClient(svc.url, adminToken).post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token as string;
    const call = new CallScript('livelost', Date.now() - 1000).invite(0, 'live-lost-1', '1', '2');
    expect((await postEvents(svc.url, eventsToken, call.events.splice(0))).status).toBe(200);
    await eventually(async () => (await metric('sitecall_live_dropped_changes_total')) >= 1, 10_000, 'the call change to be dropped');

    live.ws.resume();
    const head = logHead(dataDir);
    await eventually(async () => live.messages.length > 1 && covers(lastPosition(live), head), 60_000, 'the reader to catch up');
    const ids = live.messages.flatMap((m) => (m.type === 'changes' ? m.changes : [])).filter((c) => c.id.startsWith('live-big-')).map((c) => c.id);
    expect(ids.length).toBe(BULK);
    expect(new Set(ids).size).toBe(BULK);
    await eventually(async () => live.messages.some((m) => m.type === 'resync'), 10_000, 'resync');
    const resyncAt = live.messages.findIndex((m) => m.type === 'resync');
    const callChangesAt = live.messages.flatMap((m, i) => (m.type === 'changes' && m.changes.some((c) => c.collection === 'calls' && c.id === 'live-lost-1') ? [i] : []));
    expect(callChangesAt.every((i) => i > resyncAt), 'the dropped call change came anyway').toBe(true);
    // and after it the calls come live again
    call.answer(100, 'live-lost-1');
    await postEvents(svc.url, eventsToken, call.events.splice(0));
    await eventually(async () => live.messages.some((m, i) => i > resyncAt && m.type === 'changes' && m.changes.some((c) => c.collection === 'calls' && c.id === 'live-lost-1')), 10_000, 'the call after the resync');
    await eventually(async () => (await metric('sitecall_live_waiting_connections')) === 0, 10_000, 'the feed to stop waiting');
    live.stop();
  }, 180_000);

  it('a reader that does not read does not trouble the stop of the service', async () => {
    const live = await openLive(svc.url, adminToken, {});
    live.ws.pause();
    await eventually(async () => (await metric('sitecall_live_waiting_connections')) === 1, 60_000, 'the feed to wait for the socket');
    const started = Date.now();
    expect(await svc.stop()).toBe(0);
    const took = Date.now() - started;
    console.log(`stopped in ${took} ms with a reader that does not read`);
    // (it waited for the closing handshake, 30 s, before: a frame behind megabytes never gets read)
    expect(took).toBeLessThan(15_000);
    expect(svc.logs()).not.toMatch(/reading the change log|"level":50|"level":60/);
    live.ws.terminate();
  }, 120_000);
});

describe('call records on the live feed', () => {
  let svc: RunningTestService;
  let readToken: string;
  let eventsToken: string;
  let adminToken: string;
  const t0 = Date.now() - 60_000;

  beforeAll(async () => {
    svc = await startService();
    adminToken = await login(svc);
    const api = apiClient(svc.url, adminToken);
    readToken = (await api.post('/api/v1/tokens', { name: 'console', scopes: ['read'] })).body.token;
    eventsToken = (await api.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token;
  }, 60_000);

  afterAll(async () => {
    await svc?.stop();
  });

  /** Calls answered and ended; resolves once the CDR store serves the record of each. */
  const finishCalls = async (source: string, ids: string[]): Promise<Map<string, unknown>> => {
    const script = new CallScript(source, t0);
    for (const id of ids) script.invite(0, id, '100', '200').answer(1000, id).end(11_000, id);
    const posted = await postEvents(svc.url, eventsToken, script.events);
    expect(posted.status, posted.text).toBe(200);
    const api = apiClient(svc.url, adminToken);
    const stored = new Map<string, unknown>();
    await eventually(
      async () => {
        for (const id of ids.filter((i) => !stored.has(i))) {
          const r = await api.get(`/api/v1/cdrs/${encodeURIComponent(id)}`);
          if (r.status === 200) stored.set(id, r.body);
        }
        return stored.size === ids.length;
      },
      30_000,
      `the CDRs of ${source}`,
    );
    return stored;
  };
  const cdrChanges = (s: LiveSession) => s.messages.flatMap((m) => (m.type === 'changes' ? m.changes : [])).filter((c) => c.collection === 'cdrs');

  it('a console that reconnects with its position is sent the call records finished while it was away, each once', async () => {
    const first = await openLive(svc.url, readToken);
    await eventually(async () => first.messages.length >= 1, 10_000, 'hello');
    expect(first.messages[0]).toMatchObject({ type: 'hello' });
    await finishCalls('live-cdr-a', ['live-cdr-before']);
    await eventually(async () => cdrChanges(first).some((c) => c.id === 'live-cdr-before'), 10_000, 'the record finished while connected');
    const resumeFrom = lastPosition(first);
    first.stop();
    await first.closed;

    // While the console is away: more calls than a page of the feed holds.
    const awayIds = Array.from({ length: LIVE_PAGE_ENTRIES * 2 + 50 }, (_, i) => `live-cdr-away-${i}`);
    const stored = await finishCalls('live-cdr-b', awayIds);

    const second = await openLive(svc.url, readToken, resumeFrom);
    await eventually(async () => awayIds.every((id) => cdrChanges(second).some((c) => c.id === id)), 30_000, 'the records finished while the console was away');
    second.stop();
    expect(second.messages[0]).toMatchObject({ type: 'hello', position: resumeFrom });
    const got = cdrChanges(second);
    // nothing twice, nothing of before the position
    expect(new Set(got.map((c) => c.id)).size).toBe(got.length);
    expect(got.some((c) => c.id === 'live-cdr-before')).toBe(false);
    for (const c of got) {
      expect(c.op).toBe('put');
      expect(c.doc).toEqual(stored.get(c.id));
      expect(typeof c.seq).toBe('number');
    }
    // the records are read from the change log by position
    expect((second.messages[0] as Extract<LiveMessage, { type: 'hello' }>).positioned).toContain('cdrs');
    // a page of log entries at a time: no message larger than a page
    for (const m of second.messages) if (m.type === 'changes') expect(m.changes.length).toBeLessThanOrEqual(LIVE_PAGE_ENTRIES);
  }, 90_000);

  it('a console away while more records were written than it is sent is sent that many, told to reload them, and goes on live', async () => {
    const first = await openLive(svc.url, readToken);
    await eventually(async () => first.messages.length >= 1, 10_000, 'hello');
    const resumeFrom = lastPosition(first);
    first.stop();
    await first.closed;

    const awayIds = Array.from({ length: LIVE_MAX_CATCHUP_RECORDS + 150 }, (_, i) => `live-cdr-many-${i}`);
    await finishCalls('live-cdr-c', awayIds);
    // a configuration change among them: positioned changes of other collections are not passed over
    const api = apiClient(svc.url, adminToken);
    const roles = (await api.get('/api/v1/config/roles')).body;
    expect((await api.put('/api/v1/config/roles', { revision: roles.revision, instances: roles.instances })).status).toBe(200);
    await finishCalls('live-cdr-d', ['live-cdr-many-last']);

    const second = await openLive(svc.url, readToken, resumeFrom);
    await eventually(async () => second.messages.some((m) => m.type === 'resync'), 30_000, 'the resync of the records');
    const resyncAt = second.messages.findIndex((m) => m.type === 'resync');
    const resync = second.messages[resyncAt] as Extract<LiveMessage, { type: 'resync' }>;
    expect(resync.collections).toEqual(['cdrs']);
    expect(resync.reason).toMatch(/reload/);
    const sent = cdrChanges(second);
    expect(sent.length).toBeLessThanOrEqual(LIVE_MAX_CATCHUP_RECORDS);
    expect(new Set(sent.map((c) => c.id)).size).toBe(sent.length);
    expect(second.messages.some((m) => m.type === 'changes' && m.changes.some((c) => c.collection === 'config' && c.id === 'roles'))).toBe(true);
    // what it was not sent, it can load: the store serves every record before the resync
    expect((await api.get('/api/v1/cdrs/live-cdr-many-last')).status).toBe(200);

    // and then the records come live again
    await finishCalls('live-cdr-e', ['live-cdr-after-resync']);
    await eventually(async () => second.messages.some((m, i) => i > resyncAt && m.type === 'changes' && m.changes.some((c) => c.collection === 'cdrs' && c.id === 'live-cdr-after-resync')), 10_000, 'a record after the resync');
    second.stop();
  }, 120_000);
});
