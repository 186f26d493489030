/**
 * Sites: joining, as the donor sees it (design section 7, "Joining"). The joining site (B) was
 * started after the donor (A), so its pre-join `admin` and its pre-join `config/roles` are
 * stamped later than the installation's: replayed on A entry by entry, they would win there
 * until the adoption's later versions arrive. B has a long pre-join log (call events), so those
 * versions and the adoption's writes are many batches apart on A, and A's console polls through
 * the whole join. A's console session must survive the join, and A must never serve B's
 * pre-join admin or configuration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RoleInstance, RolesConfig } from '../../shared/api/roles.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { pairingCode, peerOf, startSite, waitFor, type Site, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

async function roles(s: Site, client = s.api): Promise<RolesConfig> {
  const res = await client.get('/api/v1/config/roles');
  expect(res.status, res.text).toBe(200);
  return res.body as RolesConfig;
}

async function loginStatus(s: Site, password: string): Promise<number> {
  const res = await fetch(`${s.service.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
  return res.status;
}

describe('sites: joining, on the donor', () => {
  it("the donor's console session survives a join by a site whose admin and configuration are later; the donor never serves the joiner's pre-join versions", async () => {
    const passwordA = 'password-of-donor-a';
    const passwordB = 'password-of-joiner-b';
    const a = await startSite(running, {}, { adminPassword: passwordA });
    // B starts after A: its admin is the later one
    const b = await startSite(running, {}, { adminPassword: passwordB });

    // B's pre-join configuration, later than A's: an instance of its own with no site (itself),
    // which on A would read as an instance of A
    const configB = await roles(b);
    const template = configB.instances[0] as RoleInstance;
    const marker: RoleInstance = { name: 'onlyb1', roletype: 'callstore', iface: template.iface, enabled: false, group: 9, order: 1, include_domains: ['onlyb.example'] };
    const edited = await b.api.put('/api/v1/config/roles', { revision: configB.revision, instances: [...configB.instances, marker] });
    expect(edited.status, edited.text).toBe(200);

    // B's long pre-join log: 6,000 call events after its admin and configuration
    const made = await b.api.post('/api/v1/tokens', { name: 'pbx of B', scopes: ['events'] });
    expect(made.status, made.text).toBe(201);
    const pbx = apiClient(b.service.url, made.body.token as string);
    const script = new CallScript('pbxB');
    for (let c = 0; c < 2000; c++) script.invite(c * 10, `b-${c}`, '100', '200').answer(c * 10 + 1, `b-${c}`).end(c * 10 + 2, `b-${c}`);
    for (let i = 0; i < script.events.length; i += 1000) {
      const posted = await pbx.post('/api/v1/events', script.events.slice(i, i + 1000));
      expect(posted.status, posted.text).toBe(200);
    }

    // what the test reads A with, apart from the console's session: an API token of A (kept by the join)
    const readerA = await a.api.post('/api/v1/tokens', { name: 'test reader', scopes: ['read'] });
    expect(readerA.status, readerA.text).toBe(201);
    const reader = apiClient(a.service.url, readerA.body.token as string);

    // A's console, polling through the whole join with its session
    const seen = { requests: 0, refused: [] as string[], foreignConfig: [] as number[] };
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const res = await a.api.get('/api/v1/config/roles');
        seen.requests++;
        if (res.status !== 200) seen.refused.push(`${res.status} ${res.text}`);
        // read with the token too, so a session ended early does not end the watch of the configuration
        const config = res.status === 200 ? (res.body as RolesConfig) : await roles(a, reader);
        // B's pre-join configuration held by A: B's instance without B's site
        if (config.instances.some((i) => i.name === 'onlyb1' && i.site !== b.self.id)) seen.foreignConfig.push(config.revision);
      }
    })();

    try {
      const paired = await b.api.post('/api/v1/sites', { url: a.self.publicUrl, code: await pairingCode(a) });
      expect(paired.status, paired.text).toBe(201);
      expect(paired.body.adoption).toMatchObject({ state: 'adopted', replacedUsers: ['admin'] });
      await b.relogin(passwordA);
      await waitFor('B synced', async () => ((await peerOf(b, a.self.id))?.join?.state === 'synced' ? true : undefined), 60_000);
      const joined = await roles(b);
      // A has B's adoption, so every pre-join entry of B before it
      await waitFor("A to have B's adoption", async () => ((await roles(a, reader)).revision === joined.revision ? true : undefined), 60_000);
    } finally {
      polling = false;
      await poll;
    }

    expect(seen.requests).toBeGreaterThan(10);
    expect(seen.refused.slice(0, 3)).toEqual([]);
    expect(seen.foreignConfig).toEqual([]);
    // the session A's console had before the join still works, and A's password is the installation's
    expect((await a.api.get('/api/v1/sites')).status).toBe(200);
    expect(await loginStatus(a, passwordA)).toBe(200);
    expect(await loginStatus(a, passwordB)).toBe(401);
    expect(await loginStatus(b, passwordA)).toBe(200);
    // B's instance is B's on A
    expect((await roles(a)).instances.find((i) => i.name === 'onlyb1')?.site).toBe(b.self.id);
  }, 180_000);
});
