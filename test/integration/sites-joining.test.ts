/**
 * Sites: joining (design section 7). Two fresh service processes (each its own data directory,
 * certificate, admin password and default configuration) pair; the one that entered the code
 * joins the other's installation: it adopts its users, API tokens and configuration, keeps its
 * own instances under its site (renamed where the names clash), copies the donor's log, and says
 * synced. Afterwards the two are one installation: a token or password of either works on both,
 * a configuration edit on one reaches the other, and an instance on the peer counts as up while
 * the link is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../shared/api/events.js';
import type { RoleInstance, RolesConfig } from '../../shared/api/roles.js';
import type { RoleInstanceStatus } from '../../shared/api/status.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { pairingCode, peerOf, startSite, waitFor, type PeerView, type Site, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

async function token(s: Site, name: string): Promise<string> {
  const res = await s.api.post('/api/v1/tokens', { name, scopes: ['events', 'read'] });
  expect(res.status, res.text).toBe(201);
  return res.body.token as string;
}

async function loginStatus(s: Site, password: string): Promise<number> {
  const res = await fetch(`${s.service.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
  return res.status;
}

async function roles(s: Site): Promise<RolesConfig> {
  const res = await s.api.get('/api/v1/config/roles');
  expect(res.status, res.text).toBe(200);
  return res.body as RolesConfig;
}

async function statusOf(s: Site): Promise<RoleInstanceStatus[]> {
  return (await s.api.get('/api/v1/status')).body.instances as RoleInstanceStatus[];
}

const shape = (i: RoleInstance) => ({ name: i.name, roletype: i.roletype, site: i.site, group: i.group, order: i.order });
const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

describe('sites: joining', () => {
  it('two fresh sites pair: the joining site adopts the installation, keeps its instances under its site, copies the log, says synced; users, tokens and edits then work on both', async () => {
    const passwordA = 'password-of-site-a';
    const passwordB = 'password-of-site-b';
    const a = await startSite(running, {}, { adminPassword: passwordA });
    const b = await startSite(running, {}, { adminPassword: passwordB });

    // A has some history to copy: 1,000 call events (and their CDRs) in its log
    const tokenA = await token(a, 'pbx of A');
    const script = new CallScript('pbxA');
    for (let c = 0; c < 250; c++) script.invite(c * 10, `call-${c}`, '100', '200').answer(c * 10 + 1, `call-${c}`).add(c * 10 + 2, 'end', `call-${c}`, { by: 'caller' });
    for (let c = 0; c < 250; c++) script.invite(3000 + c * 10, `open-${c}`, '101', '201');
    const events: CallEvent[] = script.events;
    const posted = await apiClient(a.service.url, tokenA).post('/api/v1/events', events);
    expect(posted.status, posted.text).toBe(200);
    // B's own token, made before it joined: kept, so B's phone system keeps sending
    const tokenB = await token(b, 'pbx of B');
    const configA = await roles(a);
    const configB = await roles(b);

    const paired = await b.api.post('/api/v1/sites', { url: a.self.publicUrl, code: await pairingCode(a) });
    expect(paired.status, paired.text).toBe(201);
    // the answer says B now uses the installation's users: B's admin has A's password, this session ended
    expect(paired.body.adoption).toMatchObject({ state: 'adopted', replacedUsers: ['admin'], sessionEnded: true });
    expect(paired.body.adoption.message).toMatch(/installation's users/);
    // adopted, not copied yet: the copy's target is what A held when the join began
    const atPairing = paired.body.join as NonNullable<PeerView['join']>;
    expect(atPairing.state).toBe('joining');
    expect(atPairing.total).toBeGreaterThan(events.length);
    expect(atPairing.copied).toBeLessThan(atPairing.total as number);
    expect((await b.api.get('/api/v1/sites')).status).toBe(401);
    expect(await loginStatus(b, passwordB)).toBe(401);
    expect(await loginStatus(b, passwordA)).toBe(200);
    await b.relogin(passwordA);

    // B goes joining → synced, with the whole target copied
    const seen: PeerView['join'][] = [atPairing];
    const synced = await waitFor('B synced', async () => {
      const p = await peerOf(b, a.self.id);
      seen.push(p?.join ?? null);
      return p?.join?.state === 'synced' ? p.join : undefined;
    }, 30_000);
    expect(synced).toEqual({ state: 'synced', copied: atPairing.total, total: atPairing.total });
    const copies = seen.filter((j) => j !== null).map((j) => j.copied);
    expect(copies).toEqual([...copies].sort((x, y) => x - y)); // progress only goes forward
    // on A, B is a site that joined it: no join of its own to report
    expect((await peerOf(a, b.self.id))?.join).toBeNull();

    // one configuration on both: A's instances as they were, B's renamed (the names clash) under B's site, standbys in A's groups
    const suffix = b.self.name.replace(/[^A-Za-z0-9]/g, '');
    const expected = [
      ...configA.instances.map(shape),
      ...configB.instances.map((i) => ({ ...shape(i), name: `${i.name}${suffix}`, site: b.self.id, order: 2 })),
    ].sort(byName);
    const onB = await roles(b);
    expect(onB.instances.map(shape).sort(byName)).toEqual(expected);
    expect(onB.revision).toBeGreaterThan(Math.max(configA.revision, configB.revision));
    await waitFor('A to have the joined configuration', async () => ((await roles(a)).revision === onB.revision ? true : undefined));
    expect((await roles(a)).instances.map(shape).sort(byName)).toEqual(expected);

    // each site runs its own instances; the other's are remote, and A's stay the active ones
    const ownRunning = async (s: Site, mine: string[]) => {
      const st = await statusOf(s);
      return mine.every((n) => st.find((i) => i.name === n)?.state === 'running') && st.filter((i) => !mine.includes(i.name)).every((i) => i.state === 'remote') ? st : undefined;
    };
    const namesA = configA.instances.map((i) => i.name);
    const namesB = configB.instances.map((i) => `${i.name}${suffix}`);
    const statusA = await waitFor('A running its instances', () => ownRunning(a, namesA));
    const statusB = await waitFor('B running its instances', () => ownRunning(b, namesB));
    expect(statusA.filter((i) => i.active).map((i) => i.name).sort()).toEqual([...namesA].sort());
    expect(statusB.filter((i) => i.active).map((i) => i.name).sort()).toEqual([...namesA].sort());

    // tokens and passwords of either site work on both
    await waitFor('A’s token on B', async () => ((await apiClient(b.service.url, tokenA).get('/api/v1/status')).status === 200 ? true : undefined));
    await waitFor('B’s token on A', async () => ((await apiClient(a.service.url, tokenB).get('/api/v1/status')).status === 200 ? true : undefined));
    expect((await apiClient(b.service.url, tokenB).get('/api/v1/status')).status).toBe(200);
    expect(await loginStatus(a, passwordA)).toBe(200);
    expect(await loginStatus(a, passwordB)).toBe(401);
    // A's console session was never touched
    expect((await a.api.get('/api/v1/sites')).status).toBe(200);

    // an edit on B of an instance placed on A: B validates it against A's interfaces, A gets it within a few seconds
    const iface = configA.instances[0]?.iface as string;
    const edited = await b.api.put('/api/v1/config/roles', {
      revision: onB.revision,
      instances: [...onB.instances, { name: 'edgeStore', roletype: 'callstore', iface, enabled: false, group: 9, order: 1, include_domains: ['edge.example'], site: a.self.id }],
    });
    expect(edited.status, edited.text).toBe(200);
    const wrongIface = await b.api.post('/api/v1/config/validate', { instances: [{ name: 'x1', roletype: 'callstore', iface: 'no-such-iface0', group: 1, order: 1, site: a.self.id }] });
    expect(JSON.stringify(wrongIface.body.problems)).toMatch(/no-such-iface0.*neither an interface of site/);
    const editedAt = Date.now();
    await waitFor('the edit on A', async () => ((await roles(a)).instances.some((i) => i.name === 'edgeStore') ? true : undefined), 5_000);
    expect(Date.now() - editedAt).toBeLessThan(5_000);

    // partitioning on B counts A's instance as up while the link is, and B's own once it is lost
    const active = async () => (await b.api.get('/api/v1/config/partition?roletype=callstore&domain=office.example')).body.active as string | null;
    expect(await active()).toBe('callstore1');
    a.proxy.blackhole();
    b.proxy.blackhole();
    await waitFor('B to take over without A', async () => ((await active()) === `callstore1${suffix}` ? true : undefined), 10_000);
    a.proxy.heal();
    b.proxy.heal();
    await waitFor('A active again on B', async () => ((await active()) === 'callstore1' ? true : undefined), 20_000);
  });
});
