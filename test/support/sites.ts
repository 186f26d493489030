/**
 * Helpers of the multi-site tests: a real service process per site with a TCP proxy under the
 * test's control in front of its peer port, and the questions the tests ask of a site.
 */
import { expect } from 'vitest';
import { normalizePairingCode } from '../../service/sync/pairing/code.js';
import { apiClient } from './api.js';
import { login, startService } from './service.js';
import { TcpProxy } from './tcp-proxy.js';

export interface Stoppable {
  stop(): Promise<unknown>;
}

/**
 * A service with a TCP proxy in front of its peer port; the address it gives peers
 * (SITECALL_PUBLIC_URL) is the proxy's, so every link to it, in either direction, passes there.
 * Both are pushed onto `running` (the test stops them in reverse order).
 */
export async function startSite(running: Stoppable[], env: Record<string, string> = {}, opts: { adminPassword?: string } = {}) {
  // the proxy first (its port is the site's public address), pointed at the peer port the
  // service binds once it is known: a port found free beforehand could be taken meanwhile
  const proxy = await TcpProxy.start(0);
  running.push(proxy);
  const publicUrl = `wss://127.0.0.1:${proxy.port}`;
  const siteEnv = { SITECALL_SITE_NAME: `site-${running.length}`, SITECALL_PUBLIC_URL: publicUrl, ...env };
  const service = await startService({ ...(opts.adminPassword ? { adminPassword: opts.adminPassword } : {}), env: siteEnv });
  running.push(service);
  proxy.retarget(service.peerPort);
  const site = {
    service,
    proxy,
    /** the environment the site's service was started with (a restart uses it again) */
    env: siteEnv,
    api: apiClient(service.url, await login(service)),
    self: { id: '', name: '', publicUrl: '' },
    /** logs in again (as admin, with `password`, default the one this site started with) */
    async relogin(password = service.adminPassword) {
      site.api = apiClient(service.url, await login({ url: service.url, adminPassword: password }));
    },
  };
  site.self = (await site.api.get('/api/v1/sites')).body.self as { id: string; name: string; publicUrl: string };
  expect(site.self.publicUrl).toBe(publicUrl);
  return site;
}
export type Site = Awaited<ReturnType<typeof startSite>>;

/**
 * Starts a site's service again on its data directory (after a kill or a stop with keepData), with
 * the same environment and public address; its proxy is pointed at the new peer port. Its API
 * client logs in again (as admin, with `password`).
 */
export async function restartSite(running: Stoppable[], site: Site, password: string = site.service.adminPassword): Promise<void> {
  const service = await startService({ dataDir: site.service.dataDir, adminPassword: password, env: site.env });
  running.push(service);
  site.proxy.retarget(service.peerPort);
  site.service = service;
  site.api = apiClient(service.url, await login({ url: service.url, adminPassword: password }));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface PeerView {
  id: string;
  state: string;
  rttMs: number | null;
  lastError: string | null;
  lag: { entries: number | null; ms: number | null };
  join: { state: 'joining' | 'synced'; copied: number; total: number | null } | null;
}

export async function peerOf(s: Site, id: string): Promise<PeerView | undefined> {
  const list = await s.api.get('/api/v1/sites');
  return (list.body.peers as PeerView[]).find((p) => p.id === id);
}

export async function refusals(s: Site, reason: string): Promise<number> {
  const text = (await s.api.get('/metrics')).text;
  const m = new RegExp(`^sitecall_site_refusals_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

export async function pairingCode(s: Site): Promise<string> {
  const res = await s.api.post('/api/v1/sites/pairing-code');
  expect(res.status).toBe(201);
  expect(res.body.code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  return res.body.code as string;
}

/** A different code than `c` (one character changed), still a valid code. */
export function wrongCode(c: string, i = 0): string {
  const n = normalizePairingCode(c) as string;
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const at = i % 8;
  const next = alphabet[(alphabet.indexOf(n[at] as string) + 1 + Math.floor(i / 8)) % 32] as string;
  return n.slice(0, at) + next + n.slice(at + 1);
}

/**
 * Starts sites A and B with one admin password and pairs B with A (B joins A's installation),
 * B's console logged in again (joining replaces its users) and B synced; `callstoreOf` names the
 * callstore instance of group 1 on a site, as B's joined configuration has it.
 */
export async function startPairedSites(running: Stoppable[], adminPassword: string, env: Record<string, string> = {}) {
  const a = await startSite(running, env, { adminPassword });
  const b = await startSite(running, env, { adminPassword });
  const paired = await b.api.post('/api/v1/sites', { url: a.self.publicUrl, code: await pairingCode(a) });
  expect(paired.status, paired.text).toBe(201);
  await b.relogin(adminPassword);
  await waitFor('B synced with A', async () => ((await peerOf(b, a.self.id))?.join?.state === 'synced' ? true : undefined), 30_000);
  const instances = (await b.api.get('/api/v1/config/roles')).body.instances as { name: string; roletype: string; group: number; site: string }[];
  const callstoreOf = (site: Site): string => {
    const name = instances.find((i) => i.roletype === 'callstore' && i.group === 1 && i.site === site.self.id)?.name;
    expect(name, `a callstore instance of group 1 on ${site.self.name}`).toBeDefined();
    return name as string;
  };
  return { a, b, callstoreOf };
}
