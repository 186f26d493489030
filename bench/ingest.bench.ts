import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { CallEvent } from '../shared/api/events.js';
import { startService, type RunningTestService } from '../test/support/service.js';
import { percentile, type BenchOptions, type Row } from './types.js';

export const name = 'ingest';
export const description =
  'Event ingestion into a real service process: sustained events/s over the WebSocket and over HTTP batches for each state_save mode, ack latency at a fixed 1,000 events/s, peak RSS; baseline: the same events appended raw as NDJSON to a file (fsync per batch for transactional)';

type Mode = 'none' | 'async' | 'transactional';
const ALL_MODES: Mode[] = ['none', 'async', 'transactional'];
/** BENCH_INGEST_MODES=async,transactional runs only those phases (to compare two builds on one figure). */
const MODES: Mode[] = process.env['BENCH_INGEST_MODES'] ? ALL_MODES.filter((m) => (process.env['BENCH_INGEST_MODES'] ?? '').split(',').includes(m)) : ALL_MODES;
const WS_BATCH = 100;
const WS_IN_FLIGHT = 16;
const HTTP_BATCH = 500;
const HTTP_CONCURRENCY = 4;

function log(msg: string): void {
  console.error(`[ingest] ${msg}`);
}

/** Calls of four events each (invite, 180, answer, end), numbered for one source. */
function makeEvents(count: number, source: string): CallEvent[] {
  const events: CallEvent[] = [];
  const t0 = Date.now() - 3_600_000;
  let seq = 0;
  const push = (type: CallEvent['type'], callId: string, at: number, extra: Partial<CallEvent>) => {
    seq++;
    events.push({ id: `${source}-${seq}`, source, seq, ts: new Date(t0 + at).toISOString(), type, callId, fromTag: `f${callId}`, domain: 'office.example', ...extra });
  };
  for (let c = 0; events.length < count; c++) {
    const id = `${source}-c${c}`;
    push('invite', id, c, { from: `sip:${100 + (c % 800)}@office.example`, to: `sip:${200 + (c % 700)}@office.example`, direction: 'internal' });
    push('progress', id, c + 100, { toTag: 't1', code: 180 });
    push('answer', id, c + 2000, { toTag: 't1' });
    push('end', id, c + 60_000, { by: 'caller' });
  }
  return events.slice(0, count);
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

async function tokenFor(svc: RunningTestService): Promise<{ admin: string; events: string }> {
  const login = await fetch(`${svc.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: svc.adminPassword }) });
  const admin = ((await login.json()) as { token: string }).token;
  const res = await fetch(`${svc.url}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', scopes: ['events'] }) });
  return { admin, events: ((await res.json()) as { token: string }).token };
}

async function setMode(svc: RunningTestService, admin: string, mode: Mode): Promise<void> {
  const cfg = (await (await fetch(`${svc.url}/api/v1/config/roles`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { revision: number; instances: { roletype: string; state_save?: string }[] };
  const instances = cfg.instances.map((i) => (i.roletype === 'callstore' ? { ...i, state_save: mode } : i));
  const res = await fetch(`${svc.url}/api/v1/config/roles`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ revision: cfg.revision, instances }) });
  if (!res.ok) throw new Error(`setting state_save ${mode}: ${res.status} ${await res.text()}`);
}

function openStream(svc: RunningTestService, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/api/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Sends every batch with up to `inFlight` unacknowledged; resolves with the elapsed ms. */
async function streamAll(ws: WebSocket, payloads: string[], inFlight: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let acked = 0;
    const t0 = performance.now();
    const pump = () => {
      while (next < payloads.length && next - acked < inFlight) ws.send(payloads[next++] as string);
    };
    ws.on('message', (data) => {
      const reply = JSON.parse(data.toString()) as { ack: number | null; error?: unknown };
      if (reply.error) return reject(new Error(JSON.stringify(reply.error)));
      acked++;
      if (acked === payloads.length) resolve(performance.now() - t0);
      else pump();
    });
    pump();
  });
}

async function postAll(svc: RunningTestService, token: string, payloads: string[], concurrency: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < payloads.length) {
      const body = payloads[next++] as string;
      const res = await fetch(`${svc.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
      if (!res.ok) throw new Error(`POST /events: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - t0;
}

/** One event per message at a fixed rate; the latency of each ack. */
async function fixedRate(ws: WebSocket, events: CallEvent[], perSecond: number): Promise<number[]> {
  const latencies: number[] = [];
  const sentAt: number[] = [];
  return new Promise((resolve) => {
    let acked = 0;
    ws.on('message', () => {
      latencies.push(performance.now() - (sentAt[acked++] as number));
      if (acked === events.length) resolve(latencies);
    });
    const t0 = performance.now();
    let sent = 0;
    const tick = () => {
      const due = Math.min(events.length, Math.floor(((performance.now() - t0) / 1000) * perSecond) + 1);
      while (sent < due) {
        sentAt.push(performance.now());
        ws.send(JSON.stringify(events[sent++]));
      }
      if (sent < events.length) setTimeout(tick, 1);
    };
    tick();
  });
}

/** The baseline: the same batches appended to a file as NDJSON, fsync'd per batch when asked. */
function rawAppend(batches: CallEvent[][], dir: string, fsync: boolean): number {
  const file = join(dir, `baseline-${fsync ? 'fsync' : 'plain'}.ndjson`);
  const fd = openSync(file, 'a');
  const t0 = performance.now();
  for (const batch of batches) {
    writeSync(fd, batch.map((e) => JSON.stringify(e)).join('\n') + '\n');
    if (fsync) fsyncSync(fd);
  }
  const ms = performance.now() - t0;
  closeSync(fd);
  rmSync(file);
  return ms;
}

async function settled(svc: RunningTestService, admin: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${svc.url}/api/v1/calls?state=ending`, { headers: { authorization: `Bearer ${admin}` } });
    const all = await fetch(`${svc.url}/api/v1/calls`, { headers: { authorization: `Bearer ${admin}` } });
    const [ending, active] = [((await res.json()) as { total: number }).total, ((await all.json()) as { total: number }).total];
    if (ending === 0 && active === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1000));
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
  return kb / 1024;
}

export async function run(opts: BenchOptions): Promise<Row[]> {
  const n = opts.quick ? 20_000 : 200_000;
  const latencySeconds = opts.quick ? 3 : 10;
  const work = mkdtempSync(join(process.env['BENCH_TMPDIR'] ?? tmpdir(), 'sitecall-bench-ingest-'));
  const rows: Row[] = [];
  try {
    for (const mode of MODES) {
      const svc = await startService({ dataDir: join(work, mode), env: { SITECALL_LOG_LEVEL: 'warn' } });
      try {
        const tokens = await tokenFor(svc);
        await setMode(svc, tokens.admin, mode);
        const baselineMs = rawAppend(chunks(makeEvents(n, 'base'), WS_BATCH), work, mode === 'transactional');
        const baselineRate = n / (baselineMs / 1000);
        const target = mode === 'async' ? { op: '>=' as const, value: 30_000 } : mode === 'transactional' ? { op: '>=' as const, value: 5_000 } : undefined;
        const baselineName = `raw NDJSON append${mode === 'transactional' ? ' + fsync' : ''} per ${WS_BATCH}`;

        const ws = await openStream(svc, tokens.events);
        const wsMs = await streamAll(ws, chunks(makeEvents(n, `ws-${mode}`), WS_BATCH).map((b) => JSON.stringify(b)), WS_IN_FLIGHT);
        ws.close();
        const wsRate = n / (wsMs / 1000);
        log(`${mode}: WebSocket ${Math.round(wsRate)} events/s (baseline ${Math.round(baselineRate)})`);
        rows.push({ name: `WebSocket events/s, state_save ${mode} (batches of ${WS_BATCH}, ${WS_IN_FLIGHT} in flight)`, figure: wsRate, unit: 'events/s', baseline: baselineRate, baselineName, ...(target ? { target } : {}) });

        const httpMs = await postAll(svc, tokens.events, chunks(makeEvents(n, `http-${mode}`), HTTP_BATCH).map((b) => JSON.stringify(b)), HTTP_CONCURRENCY);
        const httpRate = n / (httpMs / 1000);
        log(`${mode}: HTTP ${Math.round(httpRate)} events/s`);
        rows.push({ name: `HTTP batch events/s, state_save ${mode} (batches of ${HTTP_BATCH}, ${HTTP_CONCURRENCY} concurrent)`, figure: httpRate, unit: 'events/s', baseline: baselineRate, baselineName });

        if (mode !== 'none') {
          // Measure in a steady state: the calls of the runs above are all written first.
          await settled(svc, tokens.admin);
          const lat = await openStream(svc, tokens.events);
          const samples = await fixedRate(lat, makeEvents(1000 * latencySeconds, `lat-${mode}`), 1000);
          lat.close();
          const p50 = percentile(samples, 50);
          const p99 = percentile(samples, 99);
          log(`${mode}: ack latency at 1000/s p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`);
          rows.push({ name: `ack latency p50 at 1,000 events/s, state_save ${mode}`, figure: p50, unit: 'ms' });
          rows.push({ name: `ack latency p99 at 1,000 events/s, state_save ${mode}`, figure: p99, unit: 'ms', target: { op: '<', value: 20 } });
        }
        rows.push({ name: `service peak RSS, state_save ${mode} (${(3 * n + (mode === 'none' ? 0 : 1000 * latencySeconds)).toLocaleString('en-US')} events)`, figure: peakRssMb(svc.proc.pid ?? 0), unit: 'MB' });
      } finally {
        await svc.stop({ keepData: true });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}
