import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { CallEvent } from '../shared/api/events.js';
import type { GroupStatus } from '../shared/api/status.js';
import { login, startService, type RunningTestService } from '../test/support/service.js';
import { TcpProxy } from '../test/support/tcp-proxy.js';
import { percentile, type BenchOptions, type Row } from './types.js';

export const name = 'replication-lag';
export const description =
  'Two real paired service processes (B joined A; A active for callstore group 1): call events streamed to A at 1,000 and 5,000 events/s; replication lag = when an event is in B’s change log minus when it is in A’s (both seen by one poller reading the logs beside the services), p50/p99; baseline: the local ingestion path, sent to in A’s log, for the same events. Failover: kill -9 of A to the first event acknowledged by B as the active site; baseline: a plain restart of A to its first acknowledged event';

const PASSWORD = 'bench-password-of-the-installation';
const DOMAIN = 'office.example';
/** events per POST: a phone system's adapter batches (the Kamailio adapter sends up to 100) */
const SEND_EVERY_MS = 20;

function log(msg: string): void {
  console.error(`[replication-lag] ${msg}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface BenchSite {
  service: RunningTestService;
  /** in front of the site's peer port, its public address: every link to it passes there (as in the tests) */
  proxy: TcpProxy;
  token: string;
  id: string;
  publicUrl: string;
}

async function call<T>(site: Pick<BenchSite, 'service' | 'token'>, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${site.service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${site.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A service behind a TCP proxy (its public address), so the bench can make a machine loss: the proxy black-holed, no FIN, no RST. */
async function startSite(siteName: string, dataDir?: string, proxy?: TcpProxy): Promise<BenchSite> {
  const front = proxy ?? (await TcpProxy.start(0));
  const publicUrl = `wss://127.0.0.1:${front.port}`;
  const service = await startService({ adminPassword: PASSWORD, ...(dataDir ? { dataDir } : {}), env: { SITECALL_SITE_NAME: siteName, SITECALL_PUBLIC_URL: publicUrl, SITECALL_LOG_LEVEL: 'warn' } });
  front.retarget(service.peerPort);
  const token = await login(service);
  const site = { service, proxy: front, token, id: '', publicUrl };
  site.id = (await call<{ self: { id: string } }>(site, 'GET', '/api/v1/sites')).body.self.id;
  return site;
}

async function groupOf(site: BenchSite): Promise<GroupStatus | undefined> {
  const res = await call<{ groups?: GroupStatus[] }>(site, 'GET', '/api/v1/status');
  return res.status === 200 ? res.body.groups?.find((g) => g.roletype === 'callstore' && g.group === 1) : undefined;
}

/** B joins A; both elect A's callstore instance; an API token for the phone system (works on both). */
async function pair(): Promise<{ a: BenchSite; b: BenchSite; events: string; instanceA: string; instanceB: string }> {
  const a = await startSite('bench-a');
  const b = await startSite('bench-b');
  const code = (await call<{ code: string }>(a, 'POST', '/api/v1/sites/pairing-code')).body.code;
  const paired = await call(b, 'POST', '/api/v1/sites', { url: a.publicUrl, code });
  if (paired.status !== 201) throw new Error(`pairing answered ${paired.status}: ${JSON.stringify(paired.body)}`);
  b.token = await login(b.service);
  await until('B synced', async () => ((await call<{ peers: { id: string; join: { state: string } | null }[] }>(b, 'GET', '/api/v1/sites')).body.peers.find((p) => p.id === a.id)?.join?.state === 'synced' ? true : undefined));
  const instances = (await call<{ instances: { name: string; roletype: string; group: number; site?: string }[] }>(b, 'GET', '/api/v1/config/roles')).body.instances;
  const of = (s: BenchSite) => instances.find((i) => i.roletype === 'callstore' && i.group === 1 && i.site === s.id)?.name as string;
  for (const s of [a, b]) await until(`${s.id.slice(0, 8)} electing A`, async () => ((await groupOf(s))?.state === 'active' && (await groupOf(s))?.active === of(a) ? true : undefined));
  const made = await call<{ token: string }>(a, 'POST', '/api/v1/tokens', { name: 'bench pbx', scopes: ['events'] });
  if (made.status !== 201) throw new Error(`token: ${made.status}`);
  await until('the token on B', async () => ((await fetch(`${b.service.url}/api/v1/status`, { headers: { authorization: `Bearer ${made.body.token}` } })).status !== 401 ? true : undefined));
  return { a, b, events: made.body.token, instanceA: of(a), instanceB: of(b) };
}

/** Short calls (invite, answer, end), numbered from `first`; ids unique per run. */
class EventSource {
  private seq = 0;
  private callNo = 0;
  private pending: CallEvent[] = [];
  constructor(readonly source: string) {}

  next(n: number): CallEvent[] {
    const out: CallEvent[] = [];
    while (out.length < n) {
      if (this.pending.length === 0) {
        const callId = `${this.source}-call-${++this.callNo}`;
        const now = Date.now();
        const base = { source: this.source, callId, fromTag: `ft-${callId}` };
        this.pending = [
          { ...base, id: '', seq: 0, ts: new Date(now).toISOString(), type: 'invite', from: `sip:100@${DOMAIN}`, to: `sip:200@${DOMAIN}`, domain: DOMAIN },
          { ...base, id: '', seq: 0, ts: new Date(now + 1).toISOString(), type: 'answer', toTag: 'tt1' },
          { ...base, id: '', seq: 0, ts: new Date(now + 2).toISOString(), type: 'end', by: 'caller' },
        ] as CallEvent[];
      }
      const e = this.pending.shift() as CallEvent;
      this.seq++;
      out.push({ ...e, id: `${this.source}-${String(this.seq).padStart(8, '0')}`, seq: this.seq });
    }
    return out;
  }
}

/**
 * Watches the `event` entries of `origin` arriving in a site's change log, read beside the
 * running service (read-only SQLite, as the tests do): the time each event id was first seen.
 */
class LogWatcher {
  private readonly db: Database.Database;
  private readonly read: Database.Statement;
  private originId: number | undefined;
  private after = 0;
  readonly seen = new Map<string, number>();

  constructor(dataDir: string, private readonly origin: string) {
    this.db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true, fileMustExist: true });
    this.read = this.db.prepare("SELECT seq, kind, key FROM entries WHERE origin = ? AND seq > ? ORDER BY seq LIMIT 5000");
  }

  poll(now: number): void {
    if (this.originId === undefined) {
      const row = this.db.prepare('SELECT id FROM origins WHERE name = ?').get(this.origin) as { id: number } | undefined;
      if (!row) return;
      this.originId = row.id;
      this.after = (this.db.prepare('SELECT coalesce(max(seq), 0) AS s FROM entries WHERE origin = ?').get(row.id) as { s: number }).s;
    }
    for (const r of this.read.iterate(this.originId, this.after) as Iterable<{ seq: number; kind: string; key: string }>) {
      this.after = r.seq;
      if (r.kind === 'event' && !this.seen.has(r.key)) this.seen.set(r.key, now);
    }
  }

  close(): void {
    this.db.close();
  }
}

function openStream(site: BenchSite, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${site.service.url.replace('http', 'ws')}/api/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/**
 * Streams events to A at `rate` per second for `seconds` over the events WebSocket, as the
 * Kamailio adapter does (a batch every 20 ms, open loop: a late ack does not hold the next batch
 * back), polls both logs about every millisecond, and gives per event: local = in A's log −
 * sent, lag = in B's log − in A's log; and per batch the ack's latency.
 */
async function measureLag(a: BenchSite, b: BenchSite, eventsToken: string, rate: number, seconds: number, source: string) {
  const watchA = new LogWatcher(a.service.dataDir, a.id);
  const watchB = new LogWatcher(b.service.dataDir, a.id);
  watchA.poll(performance.now());
  watchB.poll(performance.now());
  const ws = await openStream(a, eventsToken);
  const sentAt = new Map<string, number>();
  const batchSentAt: number[] = [];
  const acks: number[] = [];
  let failed = 0;
  ws.on('message', (data) => {
    const reply = JSON.parse(data.toString()) as { ack?: unknown; error?: unknown };
    const at = batchSentAt[acks.length] as number;
    if (reply.error) failed++;
    acks.push(performance.now() - at);
  });
  const perBatch = Math.round((rate * SEND_EVERY_MS) / 1000);
  const batches = Math.round((seconds * 1000) / SEND_EVERY_MS);
  const src = new EventSource(source);
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const now = performance.now();
      watchA.poll(now);
      watchB.poll(now);
      await sleep(1);
    }
  })();
  const t0 = performance.now();
  for (let k = 0; k < batches; k++) {
    const wait = t0 + k * SEND_EVERY_MS - performance.now();
    if (wait > 0) await sleep(wait);
    const events = src.next(perBatch);
    const at = performance.now();
    for (const e of events) sentAt.set(e.id, at);
    batchSentAt.push(at);
    ws.send(JSON.stringify(events));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  const deadline = Date.now() + 60_000;
  const ids = [...sentAt.keys()];
  while ((acks.length < batches || ids.some((id) => !watchB.seen.has(id))) && Date.now() < deadline) await sleep(20);
  polling = false;
  await poller;
  ws.close();
  const local: number[] = [];
  const lag: number[] = [];
  let missing = 0;
  for (const id of ids) {
    const inA = watchA.seen.get(id);
    const inB = watchB.seen.get(id);
    if (inA === undefined || inB === undefined) {
      missing++;
      continue;
    }
    local.push(inA - (sentAt.get(id) as number));
    lag.push(Math.max(0, inB - inA));
  }
  watchA.close();
  watchB.close();
  return { sent: ids.length, achievedRate: ids.length / sendSeconds, failed, missing, local, lag, acks };
}

async function firstAcknowledged(site: BenchSite, token: string, src: EventSource): Promise<number> {
  for (;;) {
    const res = await fetch(`${site.service.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(src.next(1)) }).catch(() => undefined);
    if (res) await res.arrayBuffer();
    if (res?.status === 200) return performance.now();
    await sleep(5);
  }
}

/**
 * kill -9 of A (the active site); from the kill, the first event B acknowledges once its group
 * status says B's instance is the active one of a raised term (B acknowledges events as a
 * passive site too: stored, for the active instance to fold; so the figure waits for the role).
 * `machineLost`: both proxies are black-holed at the kill, so no FIN or RST reaches B (a machine
 * or cable lost: only the heartbeats see it); otherwise the killed process's sockets are closed by
 * the kernel and B sees the link end at once.
 */
async function failover(a: BenchSite, b: BenchSite, eventsToken: string, instanceB: string, machineLost: boolean): Promise<{ takeoverMs: number; firstAcceptedMs: number; term: number }> {
  const before = (await groupOf(b)) as GroupStatus;
  const src = new EventSource(`bench-failover-${machineLost ? 'lost' : 'killed'}`);
  const killedAt = performance.now();
  if (machineLost) {
    a.proxy.blackhole();
    b.proxy.blackhole();
  }
  await a.service.kill();
  const takeover = await until(
    'B active',
    async () => {
      const g = await groupOf(b);
      return g?.state === 'active' && g.active === instanceB && (g.term ?? 0) > (before.term ?? 0) ? { at: performance.now(), term: g.term ?? 0 } : undefined;
    },
    30_000,
    10,
  );
  const accepted = await firstAcknowledged(b, eventsToken, src);
  return { takeoverMs: takeover.at - killedAt, firstAcceptedMs: accepted - killedAt, term: takeover.term };
}

/** A plain restart of A on its data directory, to its first acknowledged event (the baseline of a failover). */
async function restart(a: BenchSite, b: BenchSite, eventsToken: string): Promise<number> {
  a.proxy.heal();
  b.proxy.heal();
  const started = performance.now();
  const site = await startSite('bench-a', a.service.dataDir, a.proxy);
  const accepted = await firstAcknowledged(site, eventsToken, new EventSource(`bench-restart-${Math.round(started)}`));
  a.service = site.service;
  a.token = site.token;
  return accepted - started;
}

const round = (n: number) => Math.round(n * 10) / 10;

export async function run(opts: BenchOptions): Promise<Row[]> {
  const rates = opts.quick ? [1_000] : [1_000, 5_000];
  const seconds = opts.quick ? 3 : 10;
  const rows: Row[] = [];
  const services: RunningTestService[] = [];
  const proxies: TcpProxy[] = [];
  try {
    log('starting and pairing two services');
    const { a, b, events, instanceA, instanceB } = await pair();
    services.push(a.service, b.service);
    proxies.push(a.proxy, b.proxy);
    // a short warm-up, not counted
    await measureLag(a, b, events, 500, 1, 'bench-warmup');
    for (const rate of rates) {
      log(`${rate} events/s for ${seconds} s`);
      const r = await measureLag(a, b, events, rate, seconds, `bench-${rate}`);
      const p = (xs: number[], q: number) => round(percentile(xs, q));
      log(`sent ${r.sent} at ${Math.round(r.achievedRate)}/s; refused ${r.failed}, not seen ${r.missing}; local p50 ${p(r.local, 50)} p99 ${p(r.local, 99)} ms; lag p50 ${p(r.lag, 50)} p99 ${p(r.lag, 99)} ms; ack p50 ${p(r.acks, 50)} p99 ${p(r.acks, 99)} ms`);
      const label = rate.toLocaleString('en-US');
      const note = `${r.sent} events, ${Math.round(r.achievedRate)}/s sent over /api/v1/events/stream in batches of ${Math.round((rate * SEND_EVERY_MS) / 1000)} every ${SEND_EVERY_MS} ms; ${r.failed} batches refused, ${r.missing} events not seen; ack p50 ${p(r.acks, 50)} / p99 ${p(r.acks, 99)} ms; logs polled every ~1 ms from the bench process; load average ${loadavg()[0]?.toFixed(1)}`;
      rows.push({ name: `replication lag p50 at ${label} events/s (in B's log - in A's)`, figure: p(r.lag, 50), unit: 'ms', baseline: p(r.local, 50), baselineName: 'local ingestion p50 (sent - in A’s log)', note });
      rows.push({ name: `replication lag p99 at ${label} events/s`, figure: p(r.lag, 99), unit: 'ms', baseline: p(r.local, 99), baselineName: 'local ingestion p99', ...(rate === 1_000 ? { target: { op: '<' as const, value: 100 } } : {}) });
    }
    const failoverRow = (what: string, f: { takeoverMs: number; firstAcceptedMs: number; term: number }, restartMs: number, how: string): Row => ({
      name: `failover, ${what}: kill -9 of the active site to the first event accepted on the new active`,
      figure: Math.round(f.firstAcceptedMs),
      unit: 'ms',
      baseline: Math.round(restartMs),
      baselineName: 'plain restart of the killed site to its first acknowledged event',
      target: { op: '<=', value: 3_000 },
      note: `B's status said active in term ${f.term} after ${Math.round(f.takeoverMs)} ms; ${how}`,
    });
    log('failover: A lost (its links black-holed) and killed -9');
    const lost = await failover(a, b, events, instanceB, true);
    log(`B active (term ${lost.term}) ${Math.round(lost.takeoverMs)} ms after the kill; first event accepted ${Math.round(lost.firstAcceptedMs)} ms after it`);
    log('baseline: a plain restart of A');
    const restartMs = await restart(a, b, events);
    services.push(a.service);
    log(`restart to the first acknowledged event: ${Math.round(restartMs)} ms`);
    rows.push(failoverRow('machine lost (no FIN or RST reaches B)', lost, restartMs, 'the link is seen lost by its heartbeats (every 500 ms, lost after 2 s of silence)'));
    log('A takes its role back once it has caught up');
    await until('A active again', async () => ((await groupOf(b))?.active === instanceA && (await groupOf(b))?.state === 'active' ? true : undefined), 60_000);
    log('failover: A killed -9 (its sockets closed by the kernel)');
    const killed = await failover(a, b, events, instanceB, false);
    log(`B active (term ${killed.term}) ${Math.round(killed.takeoverMs)} ms after the kill; first event accepted ${Math.round(killed.firstAcceptedMs)} ms after it`);
    rows.push(failoverRow('process killed (its sockets closed)', killed, restartMs, 'the link ends at once: the kernel closes the killed process’s sockets'));
  } finally {
    for (const s of services.reverse()) await s.stop().catch(() => undefined);
    for (const p of proxies) await p.close().catch(() => undefined);
  }
  return rows;
}
