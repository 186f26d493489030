/**
 * The configuration page's banner for an edit overwritten by a concurrent edit on another site,
 * end to end: two real service processes pair (B joins A), the link is cut at both TCP proxies,
 * each saves its own edit of the configuration, the link heals; A's console shows the edit that
 * lost beside the current one. "Use the overwritten one" saves it as a new revision (and both
 * sites run it); after a second cut, "Keep current" dismisses it on both sites.
 * Screenshots go to test/artifacts/screenshots/cfg-overwritten-*.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import type { ConflictList } from '../../shared/api/conflicts.js';
import type { RolesConfig } from '../../shared/api/roles.js';
import { login, REPO_ROOT, startService, type RunningTestService } from '../support/service.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const SHOTS = join(REPO_ROOT, 'test', 'artifacts', 'screenshots');
const PASSWORD = 'password-of-the-installation';

interface TestSite {
  service: RunningTestService;
  proxy: TcpProxy;
  token: string;
  id: string;
}

const stoppers: (() => Promise<unknown>)[] = [];

async function startSite(name: string): Promise<TestSite> {
  const proxy = await TcpProxy.start(0);
  stoppers.push(() => proxy.close());
  const service = await startService({ adminPassword: PASSWORD, env: { SITECALL_SITE_NAME: name, SITECALL_PUBLIC_URL: `wss://127.0.0.1:${proxy.port}` } });
  stoppers.push(() => service.stop());
  proxy.retarget(service.peerPort);
  const token = await login(service);
  const site: TestSite = { service, proxy, token, id: '' };
  site.id = ((await call<{ self: { id: string } }>(site, 'GET', '/api/v1/sites')).body.self.id);
  return site;
}

async function call<T>(s: TestSite, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.service.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${s.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const peerState = async (s: TestSite, peer: TestSite) => (await call<{ peers: { id: string; state: string }[] }>(s, 'GET', '/api/v1/sites')).body.peers.find((p) => p.id === peer.id)?.state;

async function roles(s: TestSite): Promise<RolesConfig> {
  return (await call<RolesConfig>(s, 'GET', '/api/v1/config/roles')).body;
}

const editedOf = (c: RolesConfig) => (c.instances[0]?.ext as { edited?: string } | undefined)?.edited;

/** A cut, the first instance's options saved on each side (A first, B after), a heal; returns which edit was kept. */
async function editOnBothSidesOfACut(a: TestSite, b: TestSite, round: number): Promise<{ kept: string; lost: string }> {
  a.proxy.cut();
  b.proxy.cut();
  await until('the link down', async () => ((await peerState(a, b)) !== 'connected' && (await peerState(b, a)) !== 'connected' ? true : undefined));
  for (const [s, side] of [[a, 'A'], [b, 'B']] as const) {
    const c = await roles(s);
    const [first, ...rest] = c.instances;
    const saved = await call(s, 'PUT', '/api/v1/config/roles', { revision: c.revision, instances: [{ ...first, ext: { edited: `round ${round} on ${side}` } }, ...rest] });
    expect(saved.status, JSON.stringify(saved.body)).toBe(200);
  }
  a.proxy.heal();
  b.proxy.heal();
  const kept = await until('the same configuration on both', async () => {
    const [ea, eb] = [editedOf(await roles(a)), editedOf(await roles(b))];
    return ea === eb && ea?.startsWith(`round ${round}`) ? ea : undefined;
  });
  const lost = kept.endsWith('on A') ? `round ${round} on B` : `round ${round} on A`;
  await until('the conflict on A', async () => ((await call<ConflictList>(a, 'GET', '/api/v1/conflicts?kind=config&key=roles')).body.total === 1 ? true : undefined));
  return { kept, lost };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test.afterAll(async () => {
  for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => undefined);
});

test('an edit overwritten after a cut: the banner shows it beside the current one; use it, then keep current after another cut', async ({ page }) => {
  test.setTimeout(240_000);
  mkdirSync(SHOTS, { recursive: true });
  const a = await startSite('Harbour');
  const b = await startSite('Hill');
  const code = (await call<{ code: string }>(a, 'POST', '/api/v1/sites/pairing-code')).body.code;
  const paired = await call(b, 'POST', '/api/v1/sites', { url: `wss://127.0.0.1:${a.proxy.port}`, code });
  expect(paired.status, JSON.stringify(paired.body)).toBe(201);
  b.token = await login(b.service);
  await until('B synced', async () => ((await call<{ peers: { join: { state: string } | null }[] }>(b, 'GET', '/api/v1/sites')).body.peers[0]?.join?.state === 'synced' ? true : undefined), 30_000);

  const first = await editOnBothSidesOfACut(a, b, 1);

  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${a.service.url}/login`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Password').press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Configuration' }).click();

  const banner = page.getByTestId('overwritten-banner');
  await expect(banner).toBeVisible();
  await expect(banner).toContainText(/was overwritten/);
  // the overwritten version beside the current one: the instance whose options differ
  const firstName = (await roles(a)).instances[0]?.name as string;
  const row = page.getByTestId('overwritten-diff').locator(`tr[data-instance="${firstName}"]`);
  await expect(row.locator('td').nth(0)).toContainText(first.kept);
  await expect(row.locator('td').nth(1)).toContainText(first.lost);
  await shot(page, 'cfg-overwritten-banner');

  // use the overwritten one: saved as a new revision, on both sites; the banner goes
  const before = (await roles(a)).revision;
  await page.getByTestId('overwritten-use').click();
  await expect(page.getByTestId('save-notice')).toContainText(`Saved as revision ${before + 1}`);
  await expect(banner).toBeHidden();
  expect(editedOf(await roles(a))).toBe(first.lost);
  await until('B runs it', async () => (editedOf(await roles(b)) === first.lost ? true : undefined));
  await until('dismissed on B', async () => ((await call<ConflictList>(b, 'GET', '/api/v1/conflicts')).body.total === 0 ? true : undefined));

  // another cut: keep current dismisses it (on both sites) and changes nothing
  const second = await editOnBothSidesOfACut(a, b, 2);
  await expect(banner).toBeVisible({ timeout: 20_000 });
  await expect(row.locator('td').nth(1)).toContainText(second.lost);
  const revision = (await roles(a)).revision;
  await page.getByTestId('overwritten-keep').click();
  await expect(banner).toBeHidden();
  expect((await roles(a)).revision).toBe(revision);
  expect(editedOf(await roles(a))).toBe(second.kept);
  await until('dismissed on B', async () => ((await call<ConflictList>(b, 'GET', '/api/v1/conflicts')).body.total === 0 ? true : undefined));
  await shot(page, 'cfg-overwritten-kept');
  expect(errors).toEqual([]);
});
