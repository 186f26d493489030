/**
 * Helpers for the console's end-to-end tests of calls, call records and the dashboard: log in
 * through the page, a token with the `events` scope, live call scripts stamped "now", screenshots,
 * and the errors a page logs (CSP violations included).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type Page } from '@playwright/test';
import type { Cdr } from '../../shared/api/cdr.js';
import type { CallEvent } from '../../shared/api/events.js';
import { CallScript } from './call-events.js';
import { eventually } from './events-client.js';
import { REPO_ROOT, type RunningTestService } from './service.js';

export const SHOTS = join(REPO_ROOT, 'test', 'artifacts', 'screenshots');

export async function shot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: opts.fullPage ?? false });
}

/** Exceptions and console errors of the page (a CSP refusal is a console error), except the browser's note on a 4xx/5xx. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/** A JSON API call with a bearer token; fails the test on a non-2xx answer unless `allow` lists it. */
export async function api<T>(service: Pick<RunningTestService, 'url'>, token: string, method: string, path: string, body?: unknown, allow: number[] = []): Promise<{ status: number; body: T }> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const parsed = (text ? JSON.parse(text) : undefined) as T;
  if (!res.ok && !allow.includes(res.status)) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return { status: res.status, body: parsed };
}

/** Creates an API token with the `events` scope (what a phone system uses). */
export async function eventsToken(service: Pick<RunningTestService, 'url'>, adminToken: string): Promise<string> {
  const res = await api<{ token: string }>(service, adminToken, 'POST', '/api/v1/tokens', { name: `e2e events ${Date.now()}`, scopes: ['events'] });
  return res.body.token;
}

/** Posts events; fails unless every one was accepted. */
export async function send(service: Pick<RunningTestService, 'url'>, token: string, events: CallEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 5000) {
    const batch = events.slice(i, i + 5000);
    const res = await api<{ accepted: number; rejected: unknown[] }>(service, token, 'POST', '/api/v1/events', batch);
    if (res.body.rejected.length) throw new Error(`events rejected: ${JSON.stringify(res.body.rejected.slice(0, 3))}`);
  }
}

let sourceCounter = 0;
/** A call script whose source is new (event ids and seqs are per source) and whose times start now. */
export function liveScript(domain = 'office.example', t0 = Date.now()): CallScript {
  sourceCounter++;
  return new CallScript(`pbx-${process.pid}-${sourceCounter}-${Math.floor(Math.random() * 1e6)}`, t0, domain);
}

/** Waits for the record of a finished call (written about half a second after its end). */
export async function waitForCdr(service: Pick<RunningTestService, 'url'>, token: string, id: string, timeoutMs = 10_000): Promise<Cdr> {
  return eventually(
    async () => {
      const res = await api<Cdr>(service, token, 'GET', `/api/v1/cdrs/${encodeURIComponent(id)}`, undefined, [404]);
      return res.status === 200 ? res.body : undefined;
    },
    timeoutMs,
    `the call record of ${id}`,
  );
}

/** Logs in on the login page and waits for the dashboard. */
export async function signIn(page: Page, service: Pick<RunningTestService, 'url' | 'adminPassword'>, path = '/'): Promise<void> {
  await page.goto(`${service.url}/login`);
  await page.getByLabel('Password').fill(service.adminPassword);
  await page.getByLabel('Password').press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  if (path !== '/') await page.goto(`${service.url}${path}`);
}
