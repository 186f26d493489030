import { Agent, request } from 'node:http';
import { pairsOfDialog, ProfileCounter } from '../service/callstore/core/profiles.js';
import { startService, type RunningTestService } from '../test/support/service.js';
import { percentile, type BenchOptions, type Row } from './types.js';

export const name = 'admission';
export const description =
  'POST /api/v1/admission on a real service process (design section 4.4: p99 service time well under 1 ms): round trips one at a time and admissions/s with several connections, each beside GET /healthz on the same server in the same run; and the pure counter’s admissions/s in process';

const DOMAIN = 'office.example';

function log(msg: string): void {
  console.error(`[admission] ${msg}`);
}

interface Http {
  send(method: 'GET' | 'POST', path: string, body?: string): Promise<number>;
  close(): void;
}

/** A keep-alive HTTP client with little overhead of its own (node:http, not fetch): the figures are the server's more than the client's. */
function client(url: string, token: string, sockets: number): Http {
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return {
    send(method, path, body) {
      return new Promise((resolve, reject) => {
        const req = request(
          { hostname, port, path, method, agent, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

async function tokens(svc: RunningTestService): Promise<{ admin: string; admission: string }> {
  const login = await fetch(`${svc.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: svc.adminPassword }) });
  const admin = ((await login.json()) as { token: string }).token;
  const res = await fetch(`${svc.url}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', scopes: ['admission'] }) });
  return { admin, admission: ((await res.json()) as { token: string }).token };
}

async function addLimit(svc: RunningTestService, admin: string, body: object): Promise<void> {
  const res = await fetch(`${svc.url}/api/v1/limits`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`limit refused: ${res.status} ${await res.text()}`);
}

let callSeq = 0;
function admissionBody(): string {
  const n = callSeq++;
  return JSON.stringify({ callId: `bench-${n}-${Date.now()}`, domain: DOMAIN, from: `sip:${100 + (n % 500)}@${DOMAIN}`, to: `sip:${200 + (n % 300)}@${DOMAIN}`, profiles: [{ name: 'user', value: String(100 + (n % 500)) }, { name: 'trunk', value: 'sip1' }] });
}

/** Round trips one at a time: the latency of each, in ms. */
async function sequential(count: number, make: () => Promise<number>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const status = await make();
    samples.push(performance.now() - t);
    if (status !== 200) throw new Error(`answered ${status}`);
  }
  return samples;
}

/** `workers` loops at once for `ms`: requests per second. */
async function throughput(workers: number, ms: number, make: () => Promise<number>): Promise<number> {
  let done = 0;
  const until = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        const status = await make();
        if (status !== 200) throw new Error(`answered ${status}`);
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

/** The pure counter: admit, the invite turns the reservation into its dialog, the call ends after `concurrent` more; two remote origins, four limits. */
function pureCounter(admissions: number, concurrent: number): { perSec: number; p99us: number } {
  const counter = new ProfileCounter();
  counter.setLimits([
    { id: 'a', profile: 'total', value: null, max: 1_000_000 },
    { id: 'b', profile: 'trunk', value: 'sip1', max: 1_000_000 },
    { id: 'c', profile: 'user', value: null, max: 1_000_000 },
    { id: 'd', profile: 'domain', value: null, max: 1_000_000 },
  ]);
  counter.setRemote('site-b', [{ name: 'total', value: null, count: 500 }, { name: 'trunk', value: 'sip1', count: 20 }]);
  counter.setRemote('site-c', [{ name: 'total', value: null, count: 300 }]);
  const samples: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < admissions; i++) {
    const pairs = pairsOfDialog(DOMAIN, [{ name: 'user', value: String(100 + (i % 500)) }, { name: 'trunk', value: 'sip1' }]);
    const s = i % 64 === 0 ? performance.now() : 0;
    const d = counter.admit(`c${i}`, pairs, { nowMs: i, expiresAtMs: i + 10_000, synced: true });
    if (s) samples.push((performance.now() - s) * 1000);
    if (!d.allow) throw new Error('refused');
    counter.setDialog(`c${i}`, pairs);
    if (i >= concurrent) counter.setDialog(`c${i - concurrent}`, null);
  }
  const perSec = admissions / ((performance.now() - t0) / 1000);
  return { perSec, p99us: percentile(samples, 99) };
}

/** The baseline: what tracking the same calls costs at the least (their pairs built, a Map set and delete each). */
function bareTracking(admissions: number, concurrent: number): number {
  const calls = new Map<string, unknown>();
  const t0 = performance.now();
  for (let i = 0; i < admissions; i++) {
    calls.set(`c${i}`, pairsOfDialog(DOMAIN, [{ name: 'user', value: String(100 + (i % 500)) }, { name: 'trunk', value: 'sip1' }]));
    if (i >= concurrent) calls.delete(`c${i - concurrent}`);
  }
  if (calls.size !== Math.min(admissions, concurrent)) throw new Error('lost calls');
  return admissions / ((performance.now() - t0) / 1000);
}

export async function run(opts: BenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const n = opts.quick ? 2_000 : 20_000;
  const seconds = opts.quick ? 2 : 5;

  const calls = opts.quick ? 200_000 : 1_000_000;
  const bare = bareTracking(calls, 5_000);
  const pure = pureCounter(calls, 5_000);
  rows.push({
    name: 'pure counter: admit + invite + end (2 remote origins, 4 limits, 4 pairs a call, 5,000 up)',
    figure: pure.perSec,
    unit: 'admissions/s',
    baseline: bare,
    baselineName: 'the pairs built and a Map set/delete per call',
    note: `p99 of one admit ${pure.p99us.toFixed(2)} µs`,
  });

  const svc = await startService({ env: { SITECALL_LOG_LEVEL: 'warn' } });
  try {
    const { admin, admission } = await tokens(svc);
    await addLimit(svc, admin, { profile: 'total', max: 1_000_000 });
    await addLimit(svc, admin, { profile: 'trunk', value: 'sip1', max: 1_000_000 });
    await addLimit(svc, admin, { profile: 'user', max: 1_000_000 });
    const one = client(svc.url, admission, 1);
    const many = client(svc.url, admission, 8);
    const admit = (h: Http) => () => h.send('POST', '/api/v1/admission', admissionBody());
    const health = (h: Http) => () => h.send('GET', '/healthz');
    // warm-up of both paths (JIT, sockets)
    await sequential(500, admit(one));
    await sequential(500, health(one));
    log(`round trips, ${n} of each, one at a time, alternating rounds`);
    const admitSamples: number[] = [];
    const healthSamples: number[] = [];
    for (let round = 0; round < 4; round++) {
      admitSamples.push(...(await sequential(n / 4, admit(one))));
      healthSamples.push(...(await sequential(n / 4, health(one))));
    }
    for (const p of [50, 99] as const) {
      const a = percentile(admitSamples, p);
      const h = percentile(healthSamples, p);
      rows.push({ name: `HTTP round trip p${p}, one at a time`, figure: a, unit: 'ms', baseline: h, baselineName: 'GET /healthz, same server', note: `admission adds ${((a - h) * 1000).toFixed(0)} µs` });
    }
    // What admission costs beyond a bare round trip of the same server: auth, the body's schema,
    // routing, the counter. The difference of the two p99s, an estimate of its p99 service time.
    const added = percentile(admitSamples, 99) - percentile(healthSamples, 99);
    rows.push({ name: 'admission service time beyond a bare round trip (p99 − p99)', figure: added, unit: 'ms', target: { op: '<', value: 1 } });
    log(`throughput, ${seconds} s each, 8 connections`);
    const healthRate = await throughput(8, seconds * 1000, health(many));
    const admitRate = await throughput(8, seconds * 1000, admit(many));
    rows.push({ name: 'admissions/s over HTTP, 8 connections', figure: admitRate, unit: 'req/s', baseline: healthRate, baselineName: 'GET /healthz, same server' });
    one.close();
    many.close();
  } finally {
    await svc.stop();
  }
  return rows;
}
