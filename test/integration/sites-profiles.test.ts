/**
 * Profile counts across sites (design section 4.4), on real processes: two sites paired (B joined
 * A's installation), a TCP proxy under the test's control in front of each peer port. Each site
 * runs a callstore group of its own (A the default group, B the domain b.test), so a site's calls
 * are its own: what B counts of A is what A's lists say.
 *
 * - Calls on A are in A's list on B within moments (the change is sent, not the periodic list).
 * - The links cut: B keeps A's list for remote_profile_ttl, then drops it; healed, it is back.
 * - B restarts while the links are cut: it is not synced until A answered its request, and then
 *   it holds A's list.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { pairingCode, peerOf, restartSite, startSite, waitFor, type Site, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

const PASSWORD = 'password-of-the-installation';

interface Instance {
  name: string;
  roletype: string;
  group: number;
  order: number;
  site: string;
  include_domains?: string[];
  ext?: Record<string, unknown>;
}

/** A metric's value on a site (the first sample whose labels contain `labels`); undefined when absent. */
async function metric(s: Site, name: string, labels = ''): Promise<number | undefined> {
  const text = (await s.api.get('/metrics')).text;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] === name && (m[2] ?? '').includes(labels)) return Number(m[3]);
  }
  return undefined;
}

const remoteCalls = (s: Site, origin: Site) => metric(s, 'sitecall_profile_remote_calls', `origin="${origin.self.id}"`);
const synced = (s: Site) => metric(s, 'sitecall_profile_synced');

/** Pairs B with A, then gives each site a callstore group of its own with the profile settings `ext`. */
async function pairSites(ext: Record<string, unknown>): Promise<{ a: Site; b: Site; token: string }> {
  const a = await startSite(running, {}, { adminPassword: PASSWORD });
  const b = await startSite(running, {}, { adminPassword: PASSWORD });
  const paired = await b.api.post('/api/v1/sites', { url: a.self.publicUrl, code: await pairingCode(a) });
  expect(paired.status, paired.text).toBe(201);
  await b.relogin(PASSWORD);
  await waitFor('B synced with A', async () => ((await peerOf(b, a.self.id))?.join?.state === 'synced' ? true : undefined), 30_000);
  const current = (await a.api.get('/api/v1/config/roles')).body as { revision: number; instances: Instance[] };
  const instances = current.instances.map((i) => {
    if (i.roletype !== 'callstore') return i;
    return i.site === a.self.id ? { ...i, group: 1, order: 1, include_domains: [], ext } : { ...i, group: 50, order: 1, include_domains: ['b.test'], ext };
  });
  const put = await a.api.put('/api/v1/config/roles', { revision: current.revision, instances });
  expect(put.status, put.text).toBe(200);
  // both sites run the new configuration (B's instance serves b.test)
  await waitFor('the configuration on B', async () => {
    const onB = (await b.api.get('/api/v1/config/roles')).body as { revision: number };
    return onB.revision > current.revision ? true : undefined;
  }, 20_000);
  const res = await a.api.post('/api/v1/tokens', { name: 'pbx', scopes: ['events', 'read'] });
  expect(res.status, res.text).toBe(201);
  const token = res.body.token as string;
  await waitFor('the token on B', async () => ((await apiClient(b.service.url, token).get('/api/v1/status')).status === 200 ? true : undefined));
  for (const s of [a, b]) await waitFor(`${s.self.name} synced`, async () => ((await synced(s)) === 1 ? true : undefined), 20_000);
  return { a, b, token };
}

/** Starts `n` calls on a site (invites and answers of domain `domain`); resolves once they are active there. */
async function startCalls(s: Site, token: string, domain: string, n: number, prefix: string): Promise<void> {
  const script = new CallScript(`pbx-${prefix}`, Date.now(), domain);
  for (let i = 0; i < n; i++) script.invite(i, `${prefix}-${i}`, '100', '200').answer(i + 1, `${prefix}-${i}`);
  const res = await apiClient(s.service.url, token).post('/api/v1/events', script.events);
  expect(res.status, res.text).toBe(200);
  await waitFor(`the calls on ${s.self.name}`, async () => ((await apiClient(s.service.url, token).get(`/api/v1/calls?domain=${domain}&limit=0`)).body.total === n ? true : undefined));
}

describe('sites: profile counts', () => {
  it('calls on A are in A’s list on B within moments; a cut link keeps the list for remote_profile_ttl, then drops it; healed, it is back', async () => {
    const TTL_S = 2;
    const { a, b, token } = await pairSites({ remote_profile_ttl: TTL_S });
    expect(await remoteCalls(b, a)).toBe(0);

    const sentAt = Date.now();
    await startCalls(a, token, 'a.test', 3, 'a');
    await waitFor('A’s 3 calls on B', async () => ((await remoteCalls(b, a)) === 3 ? true : undefined), 10_000);
    const latencyMs = Date.now() - sentAt;
    console.log(`[profiles] 3 calls acknowledged by A were in A's list on B after ${latencyMs} ms`);
    // the change went as it happened (coalesced to 100 ms), not with the full list of every 2 s
    expect(latencyMs).toBeLessThan(1_500);
    // and B's own calls in B's list on A
    await startCalls(b, token, 'b.test', 2, 'b');
    await waitFor('B’s 2 calls on A', async () => ((await remoteCalls(a, b)) === 2 ? true : undefined), 10_000);

    // cut both ways (each site dials the other through the other's proxy)
    a.proxy.cut();
    b.proxy.cut();
    await waitFor('B sees A lost', async () => ((await peerOf(b, a.self.id))?.state !== 'connected' ? true : undefined), 10_000);
    const lostSeenAt = Date.now();
    // kept: the calls may well be up on A
    expect(await remoteCalls(b, a)).toBe(3);
    await waitFor('A’s list dropped on B', async () => ((await remoteCalls(b, a)) === undefined ? true : undefined), 15_000);
    const keptMs = Date.now() - lostSeenAt;
    console.log(`[profiles] A's list kept on B ${keptMs} ms after B saw the loss (remote_profile_ttl ${TTL_S} s)`);
    // the loss was seen after the link went (so the TTL counts from before lostSeenAt): a margin for the probes
    expect(keptMs).toBeGreaterThanOrEqual(TTL_S * 1000 - 600);
    expect(await metric(b, 'sitecall_profile_remote_lists_dropped_total')).toBe(1);
    // B's own calls are still B's
    expect((await apiClient(b.service.url, token).get('/api/v1/calls?limit=0')).body.total).toBe(2);

    a.proxy.heal();
    b.proxy.heal();
    await waitFor('A’s list back on B', async () => ((await remoteCalls(b, a)) === 3 ? true : undefined), 15_000);
    await waitFor('B’s list back on A', async () => ((await remoteCalls(a, b)) === 2 ? true : undefined), 15_000);
    await waitFor('B synced again', async () => ((await synced(b)) === 1 ? true : undefined), 10_000);
  }, 180_000);

  it('a site that restarts is not synced until its peer answered its request; then it holds the peer’s list', async () => {
    // a long sync_timeout: while the links are cut, B can only be synced by A's answer
    const { a, b, token } = await pairSites({ sync_timeout: 120 });
    await startCalls(a, token, 'a.test', 4, 'a');
    await waitFor('A’s 4 calls on B', async () => ((await remoteCalls(b, a)) === 4 ? true : undefined), 10_000);

    await b.service.stop({ keepData: true });
    a.proxy.cut();
    b.proxy.cut();
    await restartSite(running, b, PASSWORD);
    // B is up, paired with A, and cannot reach it: it waits for A's answer
    for (let i = 0; i < 5; i++) {
      expect(await synced(b)).toBe(0);
      expect(await remoteCalls(b, a)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 200));
    }
    a.proxy.heal();
    b.proxy.heal();
    await waitFor('B synced', async () => ((await synced(b)) === 1 ? true : undefined), 20_000);
    // synced means A answered: its list is there (A counts the calls its sources brought in,
    // whatever the role of its instance while it catches up with B on the healed link)
    expect(await remoteCalls(b, a)).toBe(4);
    expect(await metric(b, 'sitecall_profile_messages_total', 'direction="received",type="counts"')).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
