import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { eventually } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';

const BURST = 200;
const PROMPT_MS = 2000;
/** Client addresses of the burst: 20 of loopback's 127/8, each staying inside its own login limit (10). */
const ADDRESSES = Array.from({ length: 20 }, (_, i) => `127.0.0.${i + 2}`);

/** POST /auth/login from a given local address, so the per-address rate limit sees many clients. */
function loginFrom(url: string, localAddress: string, password: string): Promise<{ status: number; retryAfter: string | undefined }> {
  const { hostname, port } = new URL(url);
  const body = JSON.stringify({ username: 'admin', password });
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, localAddress, method: 'POST', path: '/api/v1/auth/login', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await f();
  return { ms: performance.now() - started, value };
}

/**
 * A burst of wrong logins must not starve the rest of the service: password hashing (scrypt) runs
 * on libuv's thread pool, which nedb's file writes share. Issue 15: unbounded.
 */
describe('a burst of wrong logins', () => {
  let svc: RunningTestService;

  beforeAll(async () => {
    svc = await startService();
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it(`leaves /healthz and authenticated reads prompt during ${BURST} parallel wrong logins`, async () => {
    const admin = apiClient(svc.url, await login(svc));
    // Fresh tokens: the first use of each writes its lastUsedAt, a file write on the thread pool.
    const fresh = await Promise.all(Array.from({ length: 40 }, async (_, i) => (await admin.post<{ token: string }>('/api/v1/tokens', { name: `reader ${i}`, scopes: ['read'] })).body.token));

    let answered = 0;
    let bursting = true;
    const burst = Promise.all(
      Array.from({ length: BURST }, async (_, i) => {
        const answer = await loginFrom(svc.url, ADDRESSES[i % ADDRESSES.length] as string, `wrong password ${i}`);
        answered++;
        return answer;
      }),
    ).finally(() => (bursting = false));
    // Probes start once the burst has been taken in (half of it answered): what they measure is the
    // backlog of hashing, not the arrival of 200 connections at once, which on a busy shared machine
    // delays any request for a moment whatever the route (measured: 1.6 s for 200 POSTs to a 404).
    await eventually(async () => answered >= BURST / 2, 60_000, 'half the burst answered');
    const probes: { what: string; ms: number; status: number }[] = [];
    // probe while the rest of the burst is under way (and at least a few times)
    for (let i = 0; i < fresh.length && (bursting || i < 5); i++) {
      const [health, read, session] = await Promise.all([
        timed(() => fetch(`${svc.url}/healthz`).then((r) => r.status)),
        timed(async () => (await apiClient(svc.url, fresh[i]).get('/api/v1/auth/me')).status),
        timed(async () => (await admin.get('/api/v1/config/roles')).status),
      ]);
      probes.push({ what: 'healthz', ms: health.ms, status: health.value }, { what: 'first use of a token', ms: read.ms, status: read.value }, { what: 'session read', ms: session.ms, status: session.value });
    }
    const answers = await burst;

    expect(probes.filter((p) => p.status !== 200)).toEqual([]);
    // Generous: on this shared 2-core machine under load even /healthz can take most of a second
    // while the burst is answered; unbounded hashing kept a token's first use waiting 6-13 s.
    const slow = probes.filter((p) => p.ms >= PROMPT_MS);
    expect(slow).toEqual([]);
    // every wrong login is refused as wrong, or told to come back when hashing is saturated
    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    expect([...statuses.keys()].every((s) => s === 401 || s === 503)).toBe(true);
    expect(answers.filter((a) => a.status === 503 && !/^\d+$/.test(a.retryAfter ?? ''))).toEqual([]);
    // and the right password still works afterwards (a 503 does not count against the address's limit)
    expect((await apiClient(svc.url).post('/api/v1/auth/login', { username: 'admin', password: svc.adminPassword })).status).toBe(200);
  }, 120_000);
});
