/**
 * Helpers of the multi-site profile and limit tests: two real sites paired (B joined A's
 * installation) with the profile settings in their callstore instances' ext, and the questions
 * the tests ask of a site's counts.
 */
import { expect } from 'vitest';
import { apiClient } from './api.js';
import { CallScript } from './call-events.js';
import { startPairedSites, waitFor, type Site, type Stoppable } from './sites.js';

export const PASSWORD = 'password-of-the-installation';

export interface Instance {
  name: string;
  roletype: string;
  group: number;
  order: number;
  site: string;
  include_domains?: string[];
  ext?: Record<string, unknown>;
}

/** A metric's value on a site (the first sample whose labels contain `labels`); undefined when absent. */
export async function metric(s: Site, name: string, labels = ''): Promise<number | undefined> {
  const text = (await s.api.get('/metrics')).text;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] === name && (m[2] ?? '').includes(labels)) return Number(m[3]);
  }
  return undefined;
}

export const remoteCalls = (s: Site, origin: Site) => metric(s, 'sitecall_profile_remote_calls', `origin="${origin.self.id}"`);
export const synced = (s: Site) => metric(s, 'sitecall_profile_synced');

/**
 * Pairs B with A, then sets `ext` on both callstore instances. `split`: each site gets a callstore
 * group of its own (A the default group, B the domain b.test), so that a site's calls are held
 * there only; else they stay in one group (A's instance active, B's its standby), each site
 * counting the calls its own sources brought in.
 */
export async function pairSites(running: Stoppable[], ext: Record<string, unknown>, opts: { split?: boolean } = {}): Promise<{ a: Site; b: Site; token: string }> {
  const { a, b } = await startPairedSites(running, PASSWORD);
  const current = (await a.api.get('/api/v1/config/roles')).body as { revision: number; instances: Instance[] };
  const instances = current.instances.map((i) => {
    if (i.roletype !== 'callstore') return i;
    if (!opts.split) return { ...i, ext };
    return i.site === a.self.id ? { ...i, group: 1, order: 1, include_domains: [], ext } : { ...i, group: 50, order: 1, include_domains: ['b.test'], ext };
  });
  const put = await a.api.put('/api/v1/config/roles', { revision: current.revision, instances });
  expect(put.status, put.text).toBe(200);
  // both sites run the new configuration (B's instance serves b.test)
  await waitFor('the configuration on B', async () => {
    const onB = (await b.api.get('/api/v1/config/roles')).body as { revision: number };
    return onB.revision > current.revision ? true : undefined;
  }, 20_000);
  const res = await a.api.post('/api/v1/tokens', { name: 'pbx', scopes: ['events', 'read', 'admission'] });
  expect(res.status, res.text).toBe(201);
  const token = res.body.token as string;
  await waitFor('the token on B', async () => ((await apiClient(b.service.url, token).get('/api/v1/status')).status === 200 ? true : undefined));
  for (const s of [a, b]) await waitFor(`${s.self.name} synced`, async () => ((await synced(s)) === 1 ? true : undefined), 20_000);
  return { a, b, token };
}

/** Starts `n` calls on a site (invites and answers of domain `domain`); resolves once they are active there. */
export async function startCalls(s: Site, token: string, domain: string, n: number, prefix: string): Promise<void> {
  const script = new CallScript(`pbx-${prefix}`, Date.now(), domain);
  for (let i = 0; i < n; i++) script.invite(i, `${prefix}-${i}`, '100', '200').answer(i + 1, `${prefix}-${i}`);
  const res = await apiClient(s.service.url, token).post('/api/v1/events', script.events);
  expect(res.status, res.text).toBe(200);
  await waitFor(`the calls on ${s.self.name}`, async () => ((await apiClient(s.service.url, token).get(`/api/v1/calls?domain=${domain}&limit=0`)).body.total === n ? true : undefined));
}
