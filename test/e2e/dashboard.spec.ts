/**
 * The dashboard's call figures against the real service: records of the last day written into the
 * data directory before the start, live calls fed through the events API. The charts (uPlot, on
 * canvas) draw under the console's strict CSP, the figures are the API's, and the count of calls
 * up now follows the live feed without waiting for the 30-second refresh.
 * Screenshots: test/artifacts/screenshots/dash-*.png.
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import type { CallStats } from '../../shared/api/stats.js';
import { CdrStore } from '../../service/storage/cdr/store.js';
import { api, eventsToken, liveScript, send, shot, signIn, watchErrors } from '../support/console.js';
import { recentCdrs } from '../support/recent-cdrs.js';
import { login, startService, tempDir, type RunningTestService } from '../support/service.js';

const TZ = 'Europe/Berlin';
const DOMAINS = ['lakeside.example', 'harbour.example', 'hillside.example', 'riverside.example', 'airport.example', 'mill.example'];

let service: RunningTestService;
let admin: string;
let events: string;
let dataDir: string;

test.beforeAll(async () => {
  dataDir = join(tempDir(), 'data');
  const store = new CdrStore(dataDir);
  // Seven days, so that the week view has something to show too.
  const cdrs = [...recentCdrs(2400, { hours: 24, tz: TZ, seed: 3, domains: DOMAINS }), ...recentCdrs(3000, { hours: 24 * 7, tz: TZ, seed: 5, domains: DOMAINS })];
  for (let i = 0; i < cdrs.length; i += 1000) store.insert(cdrs.slice(i, i + 1000));
  store.close();
  service = await startService({ dataDir, env: { SITECALL_SITE_NAME: 'Lakeside Office' } });
  admin = await login(service);
  events = await eventsToken(service, admin);
});

test.afterAll(async () => {
  await service?.stop();
  rmSync(dirname(dataDir), { recursive: true, force: true });
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && service) {
    await testInfo.attach('service.log', { body: service.logs(), contentType: 'text/plain' });
  }
});

test.use({ timezoneId: TZ });

const figure = (page: Page, testId: string) => page.getByTestId(testId).locator('.figure__value');

test('charts of the last day, the figures of the API, and the calls up now following the live feed', async ({ page }) => {
  const errors = watchErrors(page);
  // Twelve calls up now.
  const s = liveScript('lakeside.example', Date.now() - 120_000);
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const id = `dash-live-${i}-${Date.now()}`;
    ids.push(id);
    s.invite(i * 1000, id, String(200 + i), String(300 + i), { direction: 'inbound' }).ring(i * 1000 + 200, id).answer(i * 1000 + 900, id);
  }
  await send(service, events, s.events.splice(0));

  // The count of calls up now is asked for as a count (limit=0), never as the list of every call.
  const callLists: string[] = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname === '/api/v1/calls') callLists.push(url.search);
  });
  await signIn(page, service);
  await expect(figure(page, 'active-now')).toHaveText('12');
  const stats = await api<CallStats>(service, admin, 'GET', `/api/v1/stats/calls?hours=24&bucketMinutes=5&tz=${encodeURIComponent(TZ)}`);
  const total = stats.body.perHour.reduce((sum, h) => sum + h.ANSWERED + h.NO_ANSWER + h.BUSY + h.CANCELLED + h.FAILED, 0);
  expect(total).toBeGreaterThan(1000);
  await expect(figure(page, 'calls-total')).toHaveText(total.toLocaleString('en-US'));

  // Real charts: uPlot canvases, with the legend of the hourly bars.
  await expect(page.getByTestId('chart-concurrency').locator('canvas')).toHaveCount(1);
  await expect(page.getByTestId('chart-per-hour').locator('canvas')).toHaveCount(1);
  const answered = stats.body.perHour.reduce((sum, h) => sum + h.ANSWERED, 0);
  await expect(page.getByTestId('per-hour-legend')).toContainText(`Answered ${answered.toLocaleString('en-US')}`);
  // Hovering an hour shows that hour's counts.
  const over = page.getByTestId('chart-per-hour').locator('.u-over');
  await over.scrollIntoViewIfNeeded();
  const bars = await over.boundingBox();
  await over.hover({ position: { x: (bars?.width ?? 400) * 0.5, y: (bars?.height ?? 100) * 0.8 } });
  await expect(page.getByTestId('per-hour-legend')).not.toContainText('Whole period');
  const box = await page.getByTestId('chart-concurrency').locator('canvas').boundingBox();
  expect(box?.width ?? 0).toBeGreaterThan(600);
  // The canvas has something drawn on it (not all one colour).
  const distinct = await page
    .getByTestId('chart-concurrency')
    .locator('canvas')
    .evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext('2d');
      if (!ctx) return 0;
      const { data } = ctx.getImageData(0, 0, c.width, c.height);
      const colours = new Set<number>();
      for (let i = 0; i < data.length; i += 4 * 97) colours.add((data[i] ?? 0) * 65536 + (data[i + 1] ?? 0) * 256 + (data[i + 2] ?? 0));
      return colours.size;
    });
  expect(distinct).toBeGreaterThan(3);
  // The busiest domains, as the API counts them.
  const rows = page.getByTestId('top-domains').locator('tbody tr');
  await expect(rows).toHaveCount(stats.body.topDomains.length);
  await expect(rows.first()).toContainText(stats.body.topDomains[0]?.domain ?? 'none');
  // No stylesheet injected inline: everything came from the bundle's CSS file (CSP style-src 'self').
  expect(await page.locator('style').count()).toBe(0);
  await page.locator('main').evaluate((m) => m.scrollTo({ top: 0 }));
  await page.getByTestId('chart-concurrency').locator('.u-over').hover({ position: { x: 300, y: 60 } });
  await shot(page, 'dash-01-overview');
  await page.locator('main').evaluate((m) => m.scrollTo({ top: m.scrollHeight }));
  await shot(page, 'dash-02-overview-lower');
  await page.locator('main').evaluate((m) => m.scrollTo({ top: 0 }));

  // A call starts and two end: the count follows at once, without the 30 s refresh.
  const t = Date.now();
  const more = liveScript('harbour.example', Date.now());
  more.invite(0, `dash-new-${t}`, '555', '556');
  await send(service, events, more.events.splice(0));
  await expect(figure(page, 'active-now')).toHaveText('13', { timeout: 5000 });
  const ends = liveScript('lakeside.example', Date.now());
  ends.end(0, ids[0] ?? '').end(0, ids[1] ?? '');
  await send(service, events, ends.events);
  await expect(figure(page, 'active-now')).toHaveText('11', { timeout: 5000 });
  expect(Date.now() - t).toBeLessThan(15_000);
  expect(callLists.length).toBeGreaterThan(0);
  expect(callLists.filter((q) => q !== '?limit=0')).toEqual([]);

  // The week view: hourly concurrency, 168 hourly bars.
  const week = page.waitForResponse((r) => r.url().includes('/api/v1/stats/calls?hours=168'));
  await page.getByLabel('Period').selectOption('7d');
  expect((await week).status()).toBe(200);
  await expect(figure(page, 'calls-total')).not.toHaveText(total.toLocaleString('en-US'));
  await page.getByRole('heading', { name: 'Calls per hour by outcome' }).scrollIntoViewIfNeeded();
  await shot(page, 'dash-03-week');

  // The role instances are still there, with the active one.
  await expect(page.getByTestId('group-callstore-1').getByTestId('instance-callstore1')).toContainText('Active');
  expect(errors).toEqual([]);
});

test('a site with no calls yet says so instead of drawing empty charts', async ({ page }) => {
  const fresh = await startService({ env: { SITECALL_SITE_NAME: 'New Office' } });
  try {
    const errors = watchErrors(page);
    await signIn(page, fresh);
    await expect(page.getByText('No calls in the last 24 hours')).toBeVisible();
    await expect(figure(page, 'active-now')).toHaveText('0');
    await shot(page, 'dash-04-empty');
    expect(errors).toEqual([]);
  } finally {
    await fresh.stop();
  }
});

test('loading and failure of the call figures are shown, and a retry recovers', async ({ page }) => {
  await signIn(page, service);
  let mode: 'slow' | 'fail' | 'pass' = 'slow';
  const isStats = (url: URL) => url.pathname === '/api/v1/stats/calls';
  await page.route(isStats, async (route) => {
    if (mode === 'fail') {
      await route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { code: 'internal', message: 'Internal error; the service log has the details.' } }) });
      return;
    }
    if (mode === 'slow') await new Promise((r) => setTimeout(r, 1500));
    await route.continue().catch(() => undefined);
  });
  await page.reload();
  await expect(page.getByRole('status').filter({ hasText: 'Loading the call figures' })).toBeAttached();
  await shot(page, 'dash-05-loading');
  mode = 'fail';
  await page.reload();
  await expect(page.getByText('The call figures could not be loaded')).toBeVisible();
  await shot(page, 'dash-06-error');
  mode = 'pass';
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByTestId('chart-concurrency').locator('canvas')).toHaveCount(1);
});
