/**
 * The Call records page against the real service: 20,000 generated records written into the data
 * directory before the start (CdrStore, as the callstore writes them) plus a handful of calls fed
 * through the events API whose outcome the test knows. Filters, search, sorting and paging must
 * give exactly the API's rows; the state lives in the URL; the export downloads a CSV whose rows
 * are the API's; a record's detail shows its timeline and raw events.
 *
 * Any date, any hour: the browser's clock is pinned (Playwright's clock) to the instant the data is
 * made around, so "today", "yesterday" and "this month" are the ranges the data was made for, also
 * in the first minutes of a day or the first day of a month.
 * Screenshots: test/artifacts/screenshots/cdrs-*.png.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import type { Cdr } from '../../shared/api/cdr.js';
import type { CallEvent } from '../../shared/api/events.js';
import { CdrStore } from '../../service/storage/cdr/store.js';
import { CdrFactory } from '../support/cdr-factory.js';
import { api, eventsToken, liveScript, send, shot, signIn, waitForCdr, watchErrors } from '../support/console.js';
import { login, startService, tempDir, type RunningTestService } from '../support/service.js';

const TZ = 'Europe/Berlin';
const GENERATED = 20_000;
const KNOWN = 'known.example';

let service: RunningTestService;
let admin: string;
let dataDir: string;
/** the calls fed through the events API, by name */
const known: Record<string, Cdr> = {};

// ---------- Time in Berlin, computed here independently of the console ----------

function ymdIn(ms: number, tz: string): { y: number; m: number; d: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: 'numeric', day: 'numeric' }).formatToParts(ms);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { y: get('year'), m: get('month'), d: get('day') };
}

/** The instant local midnight starts the civil date (y, m 1-12, d; out-of-range values roll over) in tz. */
function midnightOf(y: number, m: number, d: number, tz: string): number {
  const target = new Date(Date.UTC(y, m - 1, d));
  // Find the instant whose wall clock in tz is 00:00 of that date.
  let guess = target.getTime();
  for (let i = 0; i < 3; i++) {
    const wall = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' }).formatToParts(guess);
    const get = (t: string) => Number(wall.find((p) => p.type === t)?.value);
    const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'));
    guess -= asUtc - target.getTime();
  }
  return guess;
}

/**
 * The test's "now", which the browser's clock is pinned to: the real time, or two hours before it
 * in the first hour of a Berlin day, so that the calls the test makes "today" (fed through the
 * events API, so in the real past) always fit between midnight and now.
 */
const NOW = ((): number => {
  const real = Date.now();
  const today = ymdIn(real, TZ);
  return real - midnightOf(today.y, today.m, today.d, TZ) < 3600_000 ? real - 2 * 3600_000 : real;
})();

/** The instant local midnight starts the day `daysFromToday` away from NOW, in tz. */
function midnight(daysFromToday: number, tz: string): number {
  const today = ymdIn(NOW, tz);
  return midnightOf(today.y, today.m, today.d + daysFromToday, tz);
}

/** The instant the month `monthsFromNow` away from NOW's starts, in tz. */
function monthStart(monthsFromNow: number, tz: string): number {
  const today = ymdIn(NOW, tz);
  return midnightOf(today.y, today.m + monthsFromNow, 1, tz);
}

/** Pins the page's clock to NOW (Date only: timers and performance.now run on). */
async function pinClock(page: Page, at = NOW): Promise<void> {
  await page.clock.setFixedTime(at);
}

// ---------- Setup ----------

test.beforeAll(async () => {
  test.setTimeout(120_000);
  dataDir = join(tempDir(), 'data');
  // Generated records from the start of the month before last up to NOW (none after it), written
  // as the callstore would: last month is always whole, whatever today's date.
  const now = new Date(NOW);
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1)).toISOString();
  const factory = new CdrFactory({ seed: 7, start, months: 3, count: GENERATED * 2 });
  const store = new CdrStore(dataDir);
  let written = 0;
  while (written < GENERATED) {
    const batch = factory.many(1000).filter((c) => Date.parse(c.endedAt) < NOW - 60_000);
    written += store.insert(batch.slice(0, GENERATED - written)).length;
  }
  store.close();

  service = await startService({ dataDir, env: { SITECALL_SITE_NAME: 'Records Office' } });
  admin = await login(service);
  const events = await eventsToken(service, admin);

  // Calls whose outcome the test knows, in a domain of their own.
  const noon = (days: number) => midnight(days, TZ) + 12 * 3600_000;
  const calls: { name: string; t0: number; build: (s: ReturnType<typeof liveScript>, id: string) => void }[] = [
    {
      name: 'answered-today',
      t0: Math.min(noon(0), NOW - 3600_000),
      build: (s, id) =>
        s
          .invite(0, id, '4930111', '200', { direction: 'inbound' })
          .ring(300, id, 'a1', 180)
          .ring(350, id, 'a2', 180)
          .answer(4000, id, 'a1')
          .hold(20_000, id, 'caller')
          .resume(35_000, id, 'caller')
          .end(95_000, id, 'callee'),
    },
    {
      name: 'busy-yesterday',
      t0: noon(-1),
      build: (s, id) => s.invite(0, id, '200', '4930222', { direction: 'outbound' }).ring(200, id).fail(2500, id, 486),
    },
    {
      name: 'cancelled-today',
      t0: Math.min(noon(0), NOW - 3600_000) + 600_000,
      build: (s, id) => s.invite(0, id, '201', '202', { direction: 'internal' }).ring(100, id).cancel(8000, id),
    },
    {
      name: 'noanswer-3days',
      t0: noon(-3),
      build: (s, id) => s.invite(0, id, '4930333', '200', { direction: 'inbound' }).ring(100, id).fail(30_000, id, 480),
    },
    {
      name: 'failed-10days',
      t0: noon(-10),
      build: (s, id) => s.invite(0, id, '4930444', '203', { direction: 'inbound' }).fail(500, id, 503),
    },
  ];
  for (const c of calls) {
    const s = liveScript(KNOWN, c.t0);
    const id = `known-${c.name}-${Date.now()}`;
    c.build(s, id);
    await send(service, events, s.events as CallEvent[]);
    known[c.name] = await waitForCdr(service, admin, id);
  }
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

test.use({ timezoneId: TZ, acceptDownloads: true });

// ---------- Helpers ----------

interface Listed {
  url: URL;
  items: Cdr[];
  total: number;
}

/**
 * Runs `action` and returns the list request the page made because of it: the one whose query
 * `made` recognises (an answer to an earlier action may still be on its way when this one starts).
 */
async function listAfter(page: Page, made: (q: URLSearchParams) => boolean, action: () => Promise<unknown>): Promise<Listed> {
  const response = page.waitForResponse((r) => {
    const url = new URL(r.url());
    return url.pathname === '/api/v1/cdrs' && r.request().method() === 'GET' && r.status() === 200 && made(url.searchParams);
  });
  await action();
  const r = await response;
  const body = (await r.json()) as { items: Cdr[]; total: number };
  return { url: new URL(r.url()), items: body.items, total: body.total };
}

/** The rows shown are the page's answer, and the API asked again (from here) gives the same. */
async function expectRowsMatchApi(page: Page, listed: Listed): Promise<void> {
  const again = await api<{ items: Cdr[]; total: number }>(service, admin, 'GET', `${listed.url.pathname}${listed.url.search}`);
  expect(again.body.total).toBe(listed.total);
  expect(again.body.items.map((c) => c.id)).toEqual(listed.items.map((c) => c.id));
  await expect(page.getByTestId('cdr-total')).toHaveText(`${listed.total.toLocaleString('en-US')} call${listed.total === 1 ? '' : 's'}`);
  if (listed.total > 0) {
    const ids = await page.getByTestId('cdr-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-cdr-id')));
    expect(ids).toEqual(listed.items.map((c) => c.id));
  }
}

// ---------- Tests ----------

test('filters, search, sorting and paging give the same rows as the API, and live in the URL', async ({ page }) => {
  const errors = watchErrors(page);
  await pinClock(page);
  await signIn(page, service);
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Call records' })).not.toContainText('soon');

  await test.step('the default view: the last 7 days of the admin’s zone, newest first, 50 rows', async () => {
    const first = await listAfter(page, (q) => !q.has('domain'), () => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Call records' }).click());
    expect(first.url.searchParams.get('from')).toBe(new Date(midnight(-6, TZ)).toISOString());
    expect(first.url.searchParams.get('until')).toBe(new Date(midnight(1, TZ)).toISOString());
    expect(first.url.searchParams.get('sort')).toBe('-startedAt');
    expect(first.url.searchParams.get('limit')).toBe('50');
    expect(first.items).toHaveLength(50);
    await expectRowsMatchApi(page, first);
    await expect(page.getByText(`Times in ${TZ}`).first()).toBeVisible();
    await shot(page, 'cdrs-01-default');
  });

  await test.step('domain: only the calls fed in the test, in the last 7 days', async () => {
    const listed = await listAfter(page, (q) => q.get('domain') === KNOWN, () => page.getByLabel('Domain').fill(KNOWN));
    expect(new Set(listed.items.map((c) => c.id))).toEqual(
      new Set([known['answered-today'], known['busy-yesterday'], known['cancelled-today'], known['noanswer-3days']].map((c) => c?.id)),
    );
    await expectRowsMatchApi(page, listed);
    await expect(page).toHaveURL(/domain=known\.example/);
  });

  await test.step('all time adds the call of 10 days ago', async () => {
    const listed = await listAfter(page, (q) => q.get('domain') === KNOWN && !q.has('from'), () => page.getByLabel('Date').selectOption('all'));
    expect(listed.url.searchParams.has('from')).toBe(false);
    expect(listed.total).toBe(5);
    await expectRowsMatchApi(page, listed);
  });

  await test.step('outcome: busy', async () => {
    const listed = await listAfter(page, (q) => q.get('disposition') === 'BUSY', () => page.getByRole('button', { name: 'Busy', exact: true }).click());
    expect(listed.url.searchParams.get('disposition')).toBe('BUSY');
    expect(listed.items.map((c) => c.id)).toEqual([known['busy-yesterday']?.id]);
    await expectRowsMatchApi(page, listed);
    await shot(page, 'cdrs-02-filtered');
    // Two outcomes at once.
    const two = await listAfter(page, (q) => q.get('disposition') === 'NO_ANSWER,BUSY', () => page.getByRole('button', { name: 'No answer', exact: true }).click());
    expect(two.url.searchParams.get('disposition')).toBe('NO_ANSWER,BUSY');
    expect(two.total).toBe(2);
    await page.getByRole('button', { name: 'Busy', exact: true }).click();
    await listAfter(page, (q) => !q.has('disposition'), () => page.getByRole('button', { name: 'No answer', exact: true }).click());
  });

  await test.step('direction: inbound', async () => {
    const listed = await listAfter(page, (q) => q.get('direction') === 'inbound', () => page.getByRole('button', { name: 'Inbound', exact: true }).click());
    expect(new Set(listed.items.map((c) => c.id))).toEqual(new Set([known['answered-today'], known['noanswer-3days'], known['failed-10days']].map((c) => c?.id)));
    await expectRowsMatchApi(page, listed);
    await listAfter(page, (q) => !q.has('direction'), () => page.getByRole('button', { name: 'Inbound', exact: true }).click());
  });

  await test.step('number: starts with, then contains', async () => {
    const prefix = await listAfter(page, (q) => q.get('number') === '4930', () => page.getByLabel('Number', { exact: true }).fill('4930'));
    expect(prefix.url.searchParams.get('numberMatch')).toBe('prefix');
    expect(prefix.total).toBe(4);
    await expectRowsMatchApi(page, prefix);
    const none = await listAfter(page, (q) => q.get('number') === '0222', () => page.getByLabel('Number', { exact: true }).fill('0222'));
    expect(none.total).toBe(0);
    await expect(page.getByText('No call record matches these filters')).toBeVisible();
    await shot(page, 'cdrs-03-no-match');
    const contains = await listAfter(page, (q) => q.get('number') === '0222' && q.get('numberMatch') === 'contains', () => page.getByLabel('How the number matches').selectOption('contains'));
    expect(contains.url.searchParams.get('numberMatch')).toBe('contains');
    expect(contains.items.map((c) => c.id)).toEqual([known['busy-yesterday']?.id]);
    await expectRowsMatchApi(page, contains);
  });

  await test.step('Back undoes the last filter; a reload keeps them all', async () => {
    await listAfter(page, (q) => q.get('number') === '0222' && q.get('numberMatch') === 'prefix', () => page.goBack());
    await expect(page.getByLabel('How the number matches')).toHaveValue('prefix');
    await expect(page.getByTestId('cdr-total')).toHaveText('0 calls');
    await page.reload();
    await expect(page.getByLabel('Domain')).toHaveValue(KNOWN);
    await expect(page.getByLabel('Number', { exact: true })).toHaveValue('0222');
    await expect(page.getByLabel('Date')).toHaveValue('all');
  });

  await test.step('search: part of a call id', async () => {
    await listAfter(page, (q) => !q.has('domain') && !q.has('number'), () => page.getByRole('button', { name: 'Clear filters' }).click());
    await expect(page.getByLabel('Domain')).toHaveValue('');
    const id = known['noanswer-3days']?.id ?? '';
    const listed = await listAfter(page, (q) => q.get('search') === id.slice(6, 20), () => page.getByLabel('Search').fill(id.slice(6, 20)));
    expect(listed.url.searchParams.get('search')).toBe(id.slice(6, 20));
    expect(listed.items.map((c) => c.id)).toEqual([id]);
    await expectRowsMatchApi(page, listed);
    await listAfter(page, (q) => !q.has('search'), () => page.getByLabel('Search').fill(''));
  });

  await test.step('yesterday in Berlin', async () => {
    const listed = await listAfter(page, (q) => q.get('from') === new Date(midnight(-1, TZ)).toISOString() && !q.has('domain'), () => page.getByLabel('Date').selectOption('yesterday'));
    expect(listed.url.searchParams.get('from')).toBe(new Date(midnight(-1, TZ)).toISOString());
    expect(listed.url.searchParams.get('until')).toBe(new Date(midnight(0, TZ)).toISOString());
    await expectRowsMatchApi(page, listed);
    const mine = await listAfter(page, (q) => q.get('from') === new Date(midnight(-1, TZ)).toISOString() && q.get('domain') === KNOWN, () => page.getByLabel('Domain').fill(KNOWN));
    expect(mine.items.map((c) => c.id)).toEqual([known['busy-yesterday']?.id]);
    await listAfter(page, (q) => q.get('from') === new Date(midnight(-1, TZ)).toISOString() && !q.has('domain'), () => page.getByLabel('Domain').fill(''));
  });

  await test.step('sorting by a column, both ways', async () => {
    // Last month: always a whole month of records, whatever today's date.
    await listAfter(page, (q) => q.get('from') === new Date(monthStart(-1, TZ)).toISOString() && q.get('until') === new Date(monthStart(0, TZ)).toISOString(), () => page.getByLabel('Date').selectOption('lastmonth'));
    const longest = await listAfter(page, (q) => q.get('sort') === '-duration', () => page.getByRole('button', { name: 'Duration' }).click());
    expect(longest.url.searchParams.get('sort')).toBe('-duration');
    await expect(page.getByRole('columnheader', { name: 'Duration' })).toHaveAttribute('aria-sort', 'descending');
    await expectRowsMatchApi(page, longest);
    const shortest = await listAfter(page, (q) => q.get('sort') === 'duration', () => page.getByRole('button', { name: 'Duration' }).click());
    expect(shortest.url.searchParams.get('sort')).toBe('duration');
    await expectRowsMatchApi(page, shortest);
    const byCaller = await listAfter(page, (q) => q.get('sort') === 'from', () => page.getByRole('button', { name: 'Caller' }).click());
    expect(byCaller.url.searchParams.get('sort')).toBe('from');
    await expectRowsMatchApi(page, byCaller);
    await shot(page, 'cdrs-04-sorted');
  });

  await test.step('paging: page size, next, a typed page, the last page', async () => {
    const size = await listAfter(page, (q) => q.get('limit') === '25', () => page.getByLabel('Rows per page').selectOption('25'));
    expect(size.url.searchParams.get('limit')).toBe('25');
    expect(size.url.searchParams.get('offset')).toBe('0');
    await expectRowsMatchApi(page, size);
    const next = await listAfter(page, (q) => q.get('offset') === '25', () => page.getByRole('button', { name: 'Next' }).click());
    expect(next.url.searchParams.get('offset')).toBe('25');
    await expectRowsMatchApi(page, next);
    await expect(page.getByTestId('pager-range')).toHaveText(`26–50 of ${next.total.toLocaleString('en-US')}`);
    const typed = await listAfter(page, (q) => q.get('offset') === '150', async () => {
      await page.getByLabel('Page', { exact: true }).fill('7');
      await page.getByLabel('Page', { exact: true }).press('Enter');
    });
    expect(typed.url.searchParams.get('offset')).toBe('150');
    await expectRowsMatchApi(page, typed);
    const last = await listAfter(page, (q) => Number(q.get('offset')) > 150, () => page.getByRole('button', { name: 'Last page' }).click());
    const lastPage = Math.ceil(last.total / 25);
    expect(last.url.searchParams.get('offset')).toBe(String((lastPage - 1) * 25));
    await expectRowsMatchApi(page, last);
    await expect(page.getByRole('button', { name: 'Next' })).toBeDisabled();
    await shot(page, 'cdrs-05-last-page');
    await listAfter(page, (q) => q.get('offset') === '150', () => page.goBack());
    await expect(page.getByLabel('Page', { exact: true })).toHaveValue('7');
  });
  expect(errors).toEqual([]);
});

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) rows.push([...row, cell]);
  return rows;
}

test('an export of the current filter downloads a CSV whose rows are the API’s', async ({ page }) => {
  const errors = watchErrors(page);
  // "This month" as seen on the 15th of last month: a whole month of records behind it, on any date.
  const lastMonth = ymdIn(monthStart(-1, TZ) + 12 * 3600_000, TZ);
  await pinClock(page, midnightOf(lastMonth.y, lastMonth.m, 15, TZ) + 12 * 3600_000);
  await signIn(page, service, '/call-records?range=month&domain=example.com&direction=inbound');
  await expect(page.getByTestId('cdr-row').first()).toBeVisible();
  const totalText = (await page.getByTestId('cdr-total').textContent()) ?? '';
  const total = Number(totalText.replace(/[^0-9]/g, ''));
  expect(total).toBeGreaterThan(100);

  await page.getByRole('button', { name: 'Export…' }).click();
  const dialog = page.getByTestId('export-dialog');
  await expect(dialog).toContainText(`${total.toLocaleString('en-US')} records`);
  await expect(dialog).toContainText(TZ);
  await shot(page, 'cdrs-06-export-dialog');
  const download = page.waitForEvent('download');
  const exportRequest = page.waitForRequest((r) => r.url().includes('/api/v1/cdrs/export?'));
  await dialog.getByRole('button', { name: 'Export CSV' }).click();
  const request = await exportRequest;
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^sitecall-cdrs-.*\.csv$/);
  const path = await file.path();
  await expect(page.getByTestId('export-done')).toContainText(`Exported ${total.toLocaleString('en-US')} records`);
  await shot(page, 'cdrs-07-export-done');

  const url = new URL(request.url());
  expect(url.searchParams.get('format')).toBe('csv');
  expect(url.searchParams.get('tz')).toBe(TZ);
  expect(url.searchParams.get('domain')).toBe('example.com');
  expect(url.searchParams.get('direction')).toBe('inbound');
  const rows = parseCsv(readFileSync(path, 'utf8'));
  const header = rows[0] ?? [];
  const body = rows.slice(1);
  expect(body).toHaveLength(total);
  // The same records through the list API, oldest first (the export's order).
  const q = new URLSearchParams(url.search);
  q.delete('format');
  q.delete('tz');
  q.set('sort', 'startedAt');
  q.set('limit', '1000');
  const expected: Cdr[] = [];
  for (let offset = 0; offset < total; offset += 1000) {
    q.set('offset', String(offset));
    const page1 = await api<{ items: Cdr[] }>(service, admin, 'GET', `/api/v1/cdrs?${q.toString()}`);
    expected.push(...page1.body.items);
  }
  const col = (name: string) => header.indexOf(name);
  expect(body.map((r) => r[col('id')])).toEqual(expected.map((c) => c.id));
  expect(body.map((r) => r[col('disposition')])).toEqual(expected.map((c) => c.disposition));
  expect(body.map((r) => Number(r[col('billsec')]))).toEqual(expected.map((c) => c.billsec));
  // Times in the chosen zone, with its offset.
  expect(body[0]?.[col('startedAt')]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+0[12]:00$/);
  expect(errors).toEqual([]);
});

test('an NDJSON export shows its progress and can be cancelled', async ({ page }) => {
  const errors = watchErrors(page);
  await pinClock(page);
  await signIn(page, service, '/call-records?range=all');
  await expect(page.getByTestId('cdr-row').first()).toBeVisible();
  // Hold the export's answer back so that the cancel lands while it runs.
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const isExport = (url: URL) => url.pathname === '/api/v1/cdrs/export';
  await page.route(isExport, async (route) => {
    await held;
    await route.continue().catch(() => undefined);
  });
  await page.getByRole('button', { name: 'Export…' }).click();
  await page.getByTestId('export-dialog').getByText('NDJSON', { exact: true }).click();
  await page.getByTestId('export-dialog').getByRole('button', { name: 'Export NDJSON' }).click();
  const progress = page.getByTestId('export-progress');
  await expect(progress).toBeVisible();
  await expect(progress).toContainText('of 20,005 records');
  await shot(page, 'cdrs-08-export-progress');
  await progress.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByText('Export cancelled')).toBeVisible();
  release();
  await page.unroute(isExport);

  // And a real one to the end: every record, one per line.
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export…' }).click();
  await page.getByTestId('export-dialog').getByText('NDJSON', { exact: true }).click();
  await page.getByTestId('export-dialog').getByRole('button', { name: 'Export NDJSON' }).click();
  const file = await download;
  const lines = readFileSync(await file.path(), 'utf8').split('\n').filter(Boolean);
  expect(lines).toHaveLength(20_005);
  expect((JSON.parse(lines[0] ?? '{}') as Cdr).id).toBeTruthy();
  await expect(page.getByTestId('export-done')).toContainText('Exported 20,005 records');
  expect(errors).toEqual([]);
});

test('a record opens with its timeline and raw events; a generated one says its raw events are gone', async ({ page }) => {
  const errors = watchErrors(page);
  const answered = known['answered-today'] as Cdr;
  await pinClock(page);
  await signIn(page, service, `/call-records?domain=${KNOWN}`);
  await page.locator(`tr[data-cdr-id="${answered.id}"]`).getByRole('button').click();
  const detail = page.getByTestId('record-detail');
  await expect(detail.getByTestId('record-disposition')).toContainText('Answered');
  await expect(detail.getByTestId('tl-fork-a1')).toContainText('Won');
  await expect(detail.getByTestId('tl-fork-a2')).toContainText('Lost the race');
  await expect(detail.getByTestId('timeline-story')).toContainText('Put on hold by the caller');
  await expect(detail.getByTestId('timeline-story')).toContainText('Taken off hold');
  await expect(detail.getByTestId('raw-event')).toHaveCount(7);
  await shot(page, 'cdrs-09-detail');
  await detail.getByRole('button', { name: 'Show JSON' }).click();
  await expect(detail.getByLabel('Raw events as JSON')).toContainText('"type":"invite"');
  // Escape closes it and Back does not bring it back.
  await page.keyboard.press('Escape');
  await expect(detail).toBeHidden();
  await expect(page).not.toHaveURL(/call=/);

  // A generated record (a domain of the generated ones only): no journal behind it.
  await page.goto(`${service.url}/call-records?range=all&domain=example.com`);
  const row = page.getByTestId('cdr-row').first();
  await row.getByRole('button').click();
  await expect(page.getByTestId('record-detail').getByTestId('raw-events-unavailable')).toBeVisible();
  await shot(page, 'cdrs-10-detail-generated');
  expect(errors).toEqual([]);
});

test('time zone: the browser’s by default, another on request, and it says which', async ({ page }) => {
  await pinClock(page);
  await signIn(page, service, `/call-records?domain=${KNOWN}&range=all`);
  const busy = known['busy-yesterday'] as Cdr;
  const row = page.locator(`tr[data-cdr-id="${busy.id}"]`);
  const inBerlin = new Intl.DateTimeFormat('en-US', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(Date.parse(busy.startedAt));
  await expect(row).toContainText(inBerlin);
  await expect(page.getByLabel('Time zone')).toHaveValue(TZ);
  await page.getByLabel('Time zone').selectOption('America/New_York');
  const inNewYork = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(Date.parse(busy.startedAt));
  await expect(row).toContainText(inNewYork);
  await expect(page.getByText('Times in America/New_York')).toBeVisible();
  await shot(page, 'cdrs-11-other-zone');
  // The choice is remembered; going back to the browser's zone.
  await page.reload();
  await expect(page.getByLabel('Time zone')).toHaveValue('America/New_York');
  await page.getByLabel('Time zone').selectOption(TZ);
  await expect(row).toContainText(inBerlin);
});

test('loading, failure and empty states are designed, not blank', async ({ page }) => {
  await pinClock(page);
  await signIn(page, service);
  let mode: 'slow' | 'fail' | 'pass' = 'slow';
  const isList = (url: URL) => url.pathname === '/api/v1/cdrs';
  await page.route(isList, async (route) => {
    if (mode === 'fail') {
      await route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'The call records store is starting.' } }) });
      return;
    }
    if (mode === 'slow') await new Promise((r) => setTimeout(r, 1500));
    await route.continue().catch(() => undefined);
  });
  await page.goto(`${service.url}/call-records`);
  await expect(page.getByRole('status').filter({ hasText: 'Loading the call records' })).toBeAttached();
  await shot(page, 'cdrs-12-loading');
  await expect(page.getByTestId('cdr-row').first()).toBeVisible();

  mode = 'fail';
  await page.goto(`${service.url}/call-records`);
  await expect(page.getByText('The call records could not be loaded')).toBeVisible();
  await expect(page.getByText('The call records store is starting.')).toBeVisible();
  await shot(page, 'cdrs-13-error');
  mode = 'pass';
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByTestId('cdr-row').first()).toBeVisible();
  await page.unroute(isList);

  await page.goto(`${service.url}/call-records?range=custom&from=2020-01-01&to=2020-01-31`);
  await expect(page.getByText('No calls in this period')).toBeVisible();
  await shot(page, 'cdrs-14-empty');
  await page.getByLabel('From').fill('2020-02-10');
  await expect(page.getByText('The first day is after the last day.').first()).toBeVisible();
});
