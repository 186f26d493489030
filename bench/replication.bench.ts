import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { policyOf } from '../service/storage/changelog/kinds.js';
import { ChangeLog, type NewChange } from '../service/storage/changelog/log.js';
import { channelOverWebSocket } from '../service/sync/channel.js';
import { startReplication } from '../service/sync/replication/session.js';
import type { BenchOptions, Row } from './types.js';

export const name = 'replication';
export const description =
  'Replication catch-up: a peer away for 100,000 and 1,000,000 changes, entries/s from its connect over a loopback WebSocket until it has acknowledged them all, and the peak memory meanwhile; baseline: the same entries read from the log and taken in by a local receive (no socket, no protocol)';

function log(msg: string): void {
  console.error(`[replication] ${msg}`);
}

/** The mix of the log in service: mostly raw events, a CDR a call, some configuration. */
function* changes(n: number): Generator<NewChange> {
  for (let i = 0; i < n; i++) {
    if (i % 50 === 0) yield { kind: 'config', key: `k${i % 101}`, body: { revision: i, instances: [{ name: 'callstore1', roletype: 'callstore', group: 1, order: 1 }] } };
    else if (i % 10 === 1) yield { kind: 'cdr', key: `cdr-${i}`, body: { id: `cdr-${i}`, domain: 'a.example', from: '101', to: '102', start: 1_767_225_600_000 + i, duration: i % 300, disposition: 'answered' } };
    else yield { kind: 'event', key: `ev-${i}`, body: { instance: 'callstore1', receivedAt: 1_767_225_600_000 + i, tsMs: 1_767_225_600_000 + i, event: { id: `ev-${i}`, callId: `call-${i >> 3}`, type: 'dialog', state: 'confirmed', from: '101', to: '102', domain: 'a.example' } } };
  }
}

const dirs: string[] = [];
function openLog(origin: string): ChangeLog {
  const dir = mkdtempSync(join(tmpdir(), `sitecall-bench-repl-${origin}-`));
  dirs.push(dir);
  return ChangeLog.open(join(dir, 'changelog.sqlite'), { origin, policyOf });
}

function fill(source: ChangeLog, n: number): void {
  let batch: NewChange[] = [];
  for (const c of changes(n)) {
    batch.push(c);
    if (batch.length === 1000) {
      source.appendMany(batch);
      batch = [];
    }
  }
  if (batch.length) source.appendMany(batch);
}

/** Peak RSS and heap while `work` runs, sampled every 100 ms. */
async function peakMemory<T>(work: () => Promise<T>): Promise<{ result: T; rssMb: number; heapMb: number }> {
  let rss = process.memoryUsage().rss;
  let heap = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
  }, 100);
  try {
    const result = await work();
    return { result, rssMb: rss / 2 ** 20, heapMb: heap / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function catchUp(source: ChangeLog, n: number): Promise<{ perSecond: number; rssMb: number; heapMb: number; rssBeforeMb: number }> {
  const target = openLog('site-b');
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const serverSide = await accepted;
  global.gc?.();
  const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
  const deps = (l: ChangeLog) => ({ log: l, serves: () => 'all' as const, domainOf: () => undefined });
  const started = performance.now();
  const { result: seconds, rssMb, heapMb } = await peakMemory(async () => {
    const sending = startReplication(channelOverWebSocket(client, 'site-b'), deps(source));
    const receiving = startReplication(channelOverWebSocket(serverSide, 'site-a'), deps(target));
    await sending.caughtUp();
    const s = (performance.now() - started) / 1000;
    await sending.stop();
    await receiving.stop();
    return s;
  });
  if ((target.head()['site-a'] ?? 0) !== n) throw new Error(`the peer has ${target.head()['site-a']} of ${n}`);
  client.terminate();
  serverSide.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await target.close();
  return { perSecond: n / seconds, rssMb, heapMb, rssBeforeMb };
}

/** The same entries read from the log by pages and taken in by another log's receive, in this process. */
async function localReceive(source: ChangeLog, n: number): Promise<number> {
  const target = openLog('site-c');
  const started = performance.now();
  for (let after = 0; after < n; ) {
    const page = source.after('site-a', after, 1000);
    target.receive(page);
    after = (page.at(-1) as { seq: number }).seq;
  }
  const seconds = (performance.now() - started) / 1000;
  await target.close();
  return n / seconds;
}

export async function run(opts: BenchOptions): Promise<Row[]> {
  const sizes = opts.quick ? [10_000] : [100_000, 1_000_000];
  const rows: Row[] = [];
  try {
    for (const n of sizes) {
      const source = openLog('site-a');
      log(`filling a log with ${n} changes`);
      fill(source, n);
      log('local receive (baseline)');
      const baseline = await localReceive(source, n);
      log('catch-up over a WebSocket');
      const r = await catchUp(source, n);
      log(`${Math.round(r.perSecond)} entries/s (local receive ${Math.round(baseline)}/s), peak RSS ${r.rssMb.toFixed(0)} MB (${r.rssBeforeMb.toFixed(0)} before), heap ${r.heapMb.toFixed(0)} MB`);
      const label = n.toLocaleString('en-US');
      rows.push({ name: `catch-up of ${label} missed changes`, figure: Math.round(r.perSecond), unit: 'entries/s', baseline: Math.round(baseline), baselineName: 'local receive of the same entries', target: { op: '>=', value: 20_000 } });
      rows.push({ name: `peak RSS while catching up ${label}`, figure: Math.round(r.rssMb), unit: 'MB', note: `${Math.round(r.rssBeforeMb)} MB before; peak heap ${Math.round(r.heapMb)} MB; both logs in this process` });
      await source.close();
    }
  } finally {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
  return rows;
}
