/**
 * Voicemail across sites in the console (design sections 5 and 7): two real service processes,
 * paired (B joined A's installation, both run a vmail instance of the one group), each with a
 * TCP proxy in front of its peer port. A message left at A and one left at B are both listed on
 * B's Voicemail page and both play there. Then A stops: on B, A's message stays listed, marked
 * unavailable with the reason (kept at A, which cannot be reached), with no player; B's own
 * message still plays. Screenshot: test/artifacts/screenshots/vm-sites-unavailable.png.
 */
import { expect, test, type Page } from '@playwright/test';
import type { Message, MessageList } from '../../shared/api/vmail.js';
import type { SitesList } from '../../shared/api/sites.js';
import { api, shot, signIn, watchErrors } from '../support/console.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const DOMAIN = 'office.example';
const BOX = '1001';
const PASSWORD_A = 'lakeside-admin-pass-1';

interface E2eSite {
  service: RunningTestService;
  proxy: TcpProxy;
  publicUrl: string;
  id: string;
}

const running: { stop(): Promise<unknown> }[] = [];
let a: E2eSite;
let b: E2eSite;
/** admin tokens; B's is made with the installation's (A's) password after the join */
let tokenA = '';
let tokenB = '';

async function startSite(name: string, adminPassword: string): Promise<E2eSite> {
  const proxy = await TcpProxy.start(0);
  running.push(proxy);
  const publicUrl = `wss://127.0.0.1:${proxy.port}`;
  const service = await startService({ adminPassword, env: { SITECALL_SITE_NAME: name, SITECALL_PUBLIC_URL: publicUrl } });
  running.push(service);
  proxy.retarget(service.peerPort);
  const { body } = await api<SitesList>(service, await login(service), 'GET', '/api/v1/sites');
  return { service, proxy, publicUrl, id: body.self.id };
}

/** `seconds` of a 440 Hz tone as a WAV: 8 kHz, 16-bit PCM, mono. */
function toneWav(seconds: number): Buffer {
  const rate = 8000;
  const data = Buffer.alloc(Math.round(seconds * rate) * 2);
  for (let i = 0; i < data.length / 2; i++) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 8000), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

async function deposit(site: E2eSite, token: string, seconds: number, fields: Record<string, string>): Promise<Message> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('audio', new Blob([new Uint8Array(toneWav(seconds))], { type: 'audio/wav' }), 'message.wav');
  const res = await fetch(`${site.service.url}/api/v1/domains/${DOMAIN}/mailboxes/${BOX}/messages`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`deposit answered ${res.status}: ${text}`);
  return JSON.parse(text) as Message;
}

async function listedOn(site: E2eSite, token: string): Promise<Message[]> {
  const res = await api<MessageList>(site.service, token, 'GET', `/api/v1/domains/${DOMAIN}/mailboxes/${BOX}/messages`, undefined, [503, 404]);
  return res.status === 200 ? res.body.items : [];
}

let fromA: Message;
let fromB: Message;

test.beforeAll(async () => {
  test.setTimeout(180_000);
  a = await startSite('Lakeside Office', PASSWORD_A);
  b = await startSite('Hillcrest Branch', 'hillcrest-admin-pass-2');
  tokenA = await login(a.service);
  const code = await api<{ code: string }>(a.service, tokenA, 'POST', '/api/v1/sites/pairing-code');
  const paired = await api<{ adoption: { state: string } }>(b.service, await login(b.service), 'POST', '/api/v1/sites', { url: a.publicUrl, code: code.body.code });
  expect(paired.status).toBe(201);
  tokenB = await login({ url: b.service.url, adminPassword: PASSWORD_A });
  await expect
    .poll(async () => (await api<SitesList>(b.service, tokenB, 'GET', '/api/v1/sites')).body.peers.find((p) => p.id === a.id)?.join?.state, { timeout: 60_000 })
    .toBe('synced');
  // both sites run their vmail instance of the one group
  const vmailRunning = async (site: E2eSite, token: string) =>
    (await api<{ instances: { roletype: string; state: string }[] }>(site.service, token, 'GET', '/api/v1/status')).body.instances.filter((i) => i.roletype === 'vmail' && i.state === 'running').length;
  await expect.poll(async () => (await vmailRunning(a, tokenA)) + (await vmailRunning(b, tokenB)), { timeout: 30_000 }).toBe(2);
  expect((await api(a.service, tokenA, 'POST', `/api/v1/domains/${DOMAIN}/mailboxes`, { number: BOX, name: 'Front desk' })).status).toBe(201);
  await expect.poll(async () => (await api(b.service, tokenB, 'GET', `/api/v1/domains/${DOMAIN}/mailboxes/${BOX}`, undefined, [404, 503])).status, { timeout: 15_000 }).toBe(200);
  fromA = await deposit(a, tokenA, 4, { callerNumber: '+15550100', callerName: 'Ann Lakeside', callId: 'vm-sites-a@pbx' });
  fromB = await deposit(b, tokenB, 2, { callerNumber: '+15550200', callerName: 'Bob Hillcrest', callId: 'vm-sites-b@pbx' });
  expect(fromA.originSite).toBe(a.id);
  expect(fromB.originSite).toBe(b.id);
  await expect.poll(async () => (await listedOn(b, tokenB)).length, { timeout: 15_000 }).toBe(2);
});

test.afterAll(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    if (a) await testInfo.attach('site-a.log', { body: a.service.logs(), contentType: 'text/plain' });
    if (b) await testInfo.attach('site-b.log', { body: b.service.logs(), contentType: 'text/plain' });
  }
});

test.use({ timezoneId: 'Europe/Berlin' });

function row(page: Page, caller: string) {
  return page.getByTestId('vm-message').filter({ hasText: caller });
}

test('a message of a site that is away stays listed, marked unavailable with the reason, not playable', async ({ page }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  await signIn(page, { url: b.service.url, adminPassword: PASSWORD_A }, `/voicemail/${DOMAIN}/${BOX}`);
  await expect(page.getByRole('heading', { level: 1, name: 'Voicemail' })).toBeVisible();

  await test.step('while A is connected, both messages are listed on B and A’s plays there', async () => {
    await expect(page.getByTestId('vm-message')).toHaveCount(2);
    await expect(page.getByTestId('vm-message-unavailable')).toHaveCount(0);
    await row(page, 'Ann Lakeside').click();
    const detail = page.getByTestId('vm-detail');
    await expect(detail.getByTestId('vm-player')).toBeVisible();
    await detail.getByRole('button', { name: /^Play/ }).click();
    await expect.poll(async () => page.locator('audio').evaluate((el) => (el as HTMLAudioElement).currentTime), { timeout: 10_000 }).toBeGreaterThan(0);
  });

  await test.step('A stops: B says so, and its listing keeps A’s message as unavailable', async () => {
    await a.service.stop();
    await expect.poll(async () => (await api<SitesList>(b.service, tokenB, 'GET', '/api/v1/sites')).body.peers.find((p) => p.id === a.id)?.state, { timeout: 15_000 }).toBe('unreachable');
    const items = await listedOn(b, tokenB);
    expect(items.map((m) => [m.id, m.available]).sort()).toEqual(
      [
        [fromA.id, false],
        [fromB.id, true],
      ].sort(),
    );
    await page.reload();
    await expect(page.getByTestId('vm-message')).toHaveCount(2);
    const away = row(page, 'Ann Lakeside');
    await expect(away.getByTestId('vm-message-unavailable')).toHaveText('Unavailable: Lakeside Office is away');
    await expect(away.getByTestId('vm-message-unavailable')).toHaveAttribute('title', /left at site Lakeside Office.*cannot be reached/);
    await expect(row(page, 'Bob Hillcrest').getByTestId('vm-message-unavailable')).toHaveCount(0);
  });

  await test.step('its detail says why instead of a player; the actions that need no audio stay', async () => {
    await row(page, 'Ann Lakeside').click();
    const detail = page.getByTestId('vm-detail');
    await expect(detail.getByRole('heading', { name: /Ann Lakeside/ })).toBeVisible();
    await expect(detail.getByTestId('vm-player')).toHaveCount(0);
    await expect(detail.getByRole('button', { name: /^Play/ })).toHaveCount(0);
    await expect(detail.getByRole('status')).toContainText('This message was left at site Lakeside Office, which keeps its recording, and that site cannot be reached from here now.');
    await expect(detail.getByRole('button', { name: 'Move to saved' })).toBeEnabled();
    await shot(page, 'vm-sites-unavailable');
  });

  await test.step('B’s own message still plays', async () => {
    await row(page, 'Bob Hillcrest').click();
    const detail = page.getByTestId('vm-detail');
    await expect(detail.getByTestId('vm-player')).toBeVisible();
    await detail.getByRole('button', { name: /^Play/ }).click();
    await expect.poll(async () => page.locator('audio').evaluate((el) => (el as HTMLAudioElement).currentTime), { timeout: 10_000 }).toBeGreaterThan(0);
  });

  expect(errors).toEqual([]);
});
