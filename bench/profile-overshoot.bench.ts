import { freePort, startService, type RunningTestService } from '../test/support/service.js';
import type { BenchOptions, Row } from './types.js';

export const name = 'profile-overshoot';
export const description =
  'The overshoot of one call limit shared by two sites (design section 4.4): two real paired sites admitting calls against the same limit at the same rate, the calls admitted beyond the limit (each site counts the other from its last list, sent at most every 100 ms), per round of a fresh limit; baseline: the same load on one site (which must admit exactly the limit)';

function log(msg: string): void {
  console.error(`[profile-overshoot] ${msg}`);
}

const PASSWORD = 'bench-password-of-the-installation';
const DOMAIN = 'office.example';

interface Site {
  svc: RunningTestService;
  publicUrl: string;
  admin: string;
}

async function call(site: { svc: RunningTestService }, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${site.svc.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function login(svc: RunningTestService): Promise<string> {
  const res = await fetch(`${svc.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
  if (!res.ok) throw new Error(`login: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startSite(label: string): Promise<Site> {
  const peerPort = await freePort();
  const publicUrl = `wss://127.0.0.1:${peerPort}`;
  const svc = await startService({ adminPassword: PASSWORD, peerPort, env: { SITECALL_SITE_NAME: label, SITECALL_PUBLIC_URL: publicUrl, SITECALL_LOG_LEVEL: 'warn' } });
  return { svc, publicUrl, admin: await login(svc) };
}

async function metric(site: Site, metricName: string): Promise<number | undefined> {
  const res = await fetch(`${site.svc.url}/metrics`, { headers: { authorization: `Bearer ${site.admin}` } });
  // `name value` or `name{labels} value` (the registry's default labels)
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${metricName} `) || l.startsWith(`${metricName}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

/** Two sites, B joined to A's installation (one callstore group: A's instance active, B's its standby), with long reservations. */
async function pairedSites(): Promise<{ a: Site; b: Site; token: string }> {
  const a = await startSite('bench-a');
  const b = await startSite('bench-b');
  const code = await call(a, a.admin, 'POST', '/api/v1/sites/pairing-code');
  if (code.status !== 201) throw new Error(`pairing code: ${code.status}`);
  const paired = await call(b, b.admin, 'POST', '/api/v1/sites', { url: a.publicUrl, code: (code.body as { code: string }).code });
  if (paired.status !== 201) throw new Error(`pairing: ${paired.status} ${JSON.stringify(paired.body)}`);
  b.admin = await login(b.svc);
  await until('B joined A', async () => {
    const peers = (await call(b, b.admin, 'GET', '/api/v1/sites')).body as { peers: { join: { state: string } | null }[] };
    return peers.peers.some((p) => p.join?.state === 'synced') ? true : undefined;
  }, 60_000);
  const roles = (await call(a, a.admin, 'GET', '/api/v1/config/roles')).body as { revision: number; instances: { roletype: string; ext?: Record<string, unknown> }[] };
  // reservations outlive a round: what a site admitted counts until the round is over
  const instances = roles.instances.map((i) => (i.roletype === 'callstore' ? { ...i, ext: { ...(i.ext ?? {}), reservation_ttl: 600 } } : i));
  const put = await call(a, a.admin, 'PUT', '/api/v1/config/roles', { revision: roles.revision, instances });
  if (put.status !== 200) throw new Error(`configuration: ${put.status} ${JSON.stringify(put.body)}`);
  await until('the configuration on B', async () => (((await call(b, b.admin, 'GET', '/api/v1/config/roles')).body as { revision: number }).revision > roles.revision ? true : undefined));
  const made = await call(a, a.admin, 'POST', '/api/v1/tokens', { name: 'bench-pbx', scopes: ['admission'] });
  const token = (made.body as { token: string }).token;
  await until('the token on B', async () => ((await call(b, token, 'POST', '/api/v1/admission', { callId: 'probe', domain: 'probe.invalid' })).status !== 401 ? true : undefined));
  for (const s of [a, b]) await until('profile counts synced', async () => ((await metric(s, 'sitecall_profile_synced')) === 1 ? true : undefined), 30_000);
  return { a, b, token };
}

/**
 * Sends `requests` admissions to a site, `concurrency` at a time, each a new call under the
 * round's profile value; resolves with how many were allowed and the rate achieved.
 */
async function admitLoad(site: Site, token: string, value: string, prefix: string, requests: number, concurrency: number, pacedPerSec?: number): Promise<{ allowed: number; perSecond: number }> {
  let next = 0;
  let allowed = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      // paced: request i leaves at its slot (i / rate), not before
      const wait = pacedPerSec ? started + (i * 1000) / pacedPerSec - performance.now() : 0;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const res = await call(site, token, 'POST', '/api/v1/admission', { callId: `${prefix}-${i}`, domain: DOMAIN, profiles: [{ name: 'trunk', value }] });
      if (res.status !== 200) throw new Error(`admission: ${res.status} ${JSON.stringify(res.body)}`);
      if ((res.body as { allow: boolean }).allow) allowed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { allowed, perSecond: requests / ((performance.now() - started) / 1000) };
}

async function newLimit(a: Site, b: Site, value: string, max: number): Promise<void> {
  const res = await call(a, a.admin, 'POST', '/api/v1/limits', { profile: 'trunk', value, max });
  if (res.status !== 201) throw new Error(`limit: ${res.status} ${JSON.stringify(res.body)}`);
  await until('the limit on B', async () => (((await call(b, b.admin, 'GET', '/api/v1/limits')).body as { items: { value: string | null }[] }).items.some((l) => l.value === value) ? true : undefined));
}

export async function run(opts: BenchOptions): Promise<Row[]> {
  const LIMIT = 30;
  const rounds = opts.quick ? 3 : 10;
  // each site alone could fill the limit twice over: the load goes on past the point where both know it is full
  const perSite = LIMIT * 2;
  const concurrency = 8;
  const { a, b, token } = await pairedSites();
  try {
    const rows: Row[] = [];
    // as fast as the sites answer, then paced at a lower rate: the overshoot follows the rate
    for (const paced of [undefined, 20]) {
      const twoSites: number[] = [];
      const oneSite: number[] = [];
      const rates: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const tag = `${paced ?? 'max'}-${r}`;
        const shared = `shared-${tag}`;
        await newLimit(a, b, shared, LIMIT);
        const [onA, onB] = await Promise.all([admitLoad(a, token, shared, `a${tag}`, perSite, concurrency, paced), admitLoad(b, token, shared, `b${tag}`, perSite, concurrency, paced)]);
        twoSites.push(onA.allowed + onB.allowed - LIMIT);
        rates.push(onA.perSecond, onB.perSecond);
        const single = `single-${tag}`;
        await newLimit(a, b, single, LIMIT);
        // the same load (two loaders at the same rate) on one site
        const [x, y] = await Promise.all([admitLoad(a, token, single, `x${tag}`, perSite, concurrency, paced), admitLoad(a, token, single, `y${tag}`, perSite, concurrency, paced)]);
        oneSite.push(x.allowed + y.allowed - LIMIT);
        log(`${paced ? `paced ${paced}/s` : 'unpaced'} round ${r + 1}: two sites admitted ${onA.allowed} + ${onB.allowed} (${Math.round(onA.perSecond)}/s and ${Math.round(onB.perSecond)}/s), one site ${x.allowed + y.allowed}, limit ${LIMIT}`);
      }
      if (oneSite.some((o) => o !== 0)) throw new Error(`one site admitted other than its limit: overshoots ${oneSite.join(', ')}`);
      const max = Math.max(...twoSites);
      const mean = twoSites.reduce((sum, v) => sum + v, 0) / twoSites.length;
      const rate = rates.reduce((sum, v) => sum + v, 0) / rates.length;
      const load = paced ? `paced at ${paced}/s per site` : 'as fast as they answer';
      rows.push({
        name: `overshoot of a shared limit of ${LIMIT}, two sites admitting at once, ${load} (max of ${rounds} rounds)`,
        figure: max,
        unit: 'calls',
        baseline: Math.max(...oneSite),
        baselineName: 'the same load on one site',
        ratio: max / LIMIT,
        note: `ratio: overshoot ÷ limit; mean ${mean.toFixed(1)} calls; ${Math.round(rate)} admissions/s per site (${concurrency} in flight each); the bound: a site's admissions in the other's view are ≤ 100 ms (coalescing) + a link's delay old, so overshoot ≤ rate × (0.1 s + delay) ≈ ${(rate * 0.1).toFixed(1)}`,
      });
      rows.push({ name: `admissions/s per site, ${load}`, figure: Math.round(rate), unit: 'admissions/s', note: 'HTTP, both sites and the load on this machine' });
    }
    return rows;
  } finally {
    await b.svc.stop();
    await a.svc.stop();
  }
}
