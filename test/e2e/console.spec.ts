/**
 * The console end to end: the real service (built code, temp data dir, free port) and Debian's Chromium.
 * One story in steps, because each step builds on the last (logged in, token created, logged out).
 * Screenshots of every page go to test/artifacts/screenshots/ (git-ignored) for a person to look at.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import type { ServiceStatus } from '../../shared/api/status.js';
import { REPO_ROOT, startService, type RunningTestService } from '../support/service.js';

const SITE = 'Lakeside Office';
const PASSWORD = 'e2e-correct-horse-42';
const SHOTS = join(REPO_ROOT, 'test', 'artifacts', 'screenshots');

let service: RunningTestService;

test.beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  service = await startService({ adminPassword: PASSWORD, env: { SITECALL_SITE_NAME: SITE } });
});

test.afterAll(async () => {
  await service?.stop();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && service) {
    await testInfo.attach('service.log', { body: service.logs(), contentType: 'text/plain' });
  }
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Errors in the page: exceptions and console errors other than the browser's note on a 4xx answer. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

function nav(page: Page) {
  return page.getByRole('navigation', { name: 'Main' });
}

async function signIn(page: Page, password = PASSWORD): Promise<void> {
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Password').press('Enter');
}

test('login, dashboard, every page, API tokens, logout', async ({ page }) => {
  const errors = watchErrors(page);
  const health = (await (await fetch(`${service.url}/healthz`)).json()) as { version: string; site: string };

  await test.step('an unauthenticated visit lands on the login page', async () => {
    await page.goto(`${service.url}/`);
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole('heading', { name: 'Log in to Sitecall' })).toBeVisible();
    await expect(page.getByLabel('User name')).toHaveValue('admin');
    await expect(page.getByLabel('Password')).toBeFocused();
    await expect(page.getByText('initial-admin-password')).toBeVisible();
    await expect(page.getByText(`Site ${SITE}`)).toBeVisible();
    await shot(page, '01-login');
  });

  await test.step('a wrong password shows the error inline', async () => {
    await signIn(page, 'not-the-password');
    await expect(page.getByRole('alert')).toHaveText('The user name or password is not correct.');
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByLabel('Password')).toBeFocused();
    await shot(page, '02-login-error');
  });

  await test.step('the right password opens the dashboard', async () => {
    await signIn(page);
    await expect(page).toHaveURL(`${service.url}/`);
    await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
    await expect(nav(page).getByRole('link', { name: 'Dashboard' })).toHaveAttribute('aria-current', 'page');
    await expect(page.getByTestId('header-site')).toHaveText(SITE);
    await expect(page.getByRole('banner')).toContainText('admin');
    // A plain browser has no desktop bridge: no "Open in browser" or "Quit".
    await expect(page.getByRole('button', { name: 'Open in browser' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Quit' })).toHaveCount(0);
    await expect(page.getByTestId('site-name')).toHaveText(SITE);
    await expect(page.getByTestId('version')).toHaveText(health.version);
    await expect(page.getByTestId('config-revision')).toContainText('revision');

    const callstore = page.getByTestId('group-callstore-1');
    await expect(callstore.getByRole('heading', { name: 'Group 1' })).toBeVisible();
    await expect(callstore.getByTestId('instance-callstore1')).toContainText('Running');
    await expect(callstore.getByTestId('instance-callstore1')).toContainText('Active');
    await expect(callstore).toContainText('All domains (default group)');
    const vmail = page.getByTestId('group-vmail-2');
    await expect(vmail.getByRole('heading', { name: 'Group 2' })).toBeVisible();
    await expect(vmail.getByTestId('instance-vmail1')).toContainText('Running');

    // Keyboard: the first Tab reaches "Skip to content", which moves focus to the page's heading.
    await page.keyboard.press('Tab');
    await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeFocused();

    // The uptime ticks without a reload.
    const uptime = page.getByTestId('uptime');
    const before = await uptime.textContent();
    await expect(uptime).not.toHaveText(before ?? '', { timeout: 3000 });
    await shot(page, '03-dashboard');
  });

  const pages: { link: string; path: string; heading: string; expectText: string; file: string }[] = [
    { link: 'Configuration', path: '/configuration', heading: 'Configuration', expectText: 'callstore1', file: '04-configuration' },
    { link: 'Sites', path: '/sites', heading: 'Sites', expectText: 'This site is not paired with another', file: '05-sites' },
    { link: 'Active calls', path: '/calls', heading: 'Active calls', expectText: 'No calls in progress', file: '06-active-calls' },
    { link: 'Call records', path: '/call-records', heading: 'Call records', expectText: 'No calls in this period', file: '07-call-records' },
    { link: 'Voicemail', path: '/voicemail', heading: 'Voicemail', expectText: 'Which domain?', file: '08-voicemail' },
    { link: 'Limits', path: '/limits', heading: 'Limits', expectText: 'No limits yet', file: '09-limits' },
    { link: 'Storage', path: '/storage', heading: 'Storage', expectText: 'Not available in this version yet', file: '10-storage' },
    { link: 'API tokens', path: '/settings/tokens', heading: 'API tokens', expectText: 'No API tokens yet', file: '11-tokens-empty' },
  ];
  for (const p of pages) {
    await test.step(`the navigation opens ${p.link}`, async () => {
      const link = nav(page).getByRole('link', { name: p.link, exact: true });
      // By keyboard: focus the link and press Enter.
      await link.focus();
      await page.keyboard.press('Enter');
      await expect(page).toHaveURL(`${service.url}${p.path}`);
      await expect(link).toHaveAttribute('aria-current', 'page');
      await expect(page.getByRole('heading', { level: 1, name: p.heading })).toBeFocused();
      await expect(page.getByRole('main')).toContainText(p.expectText);
      await expect(page).toHaveTitle(`${p.heading} · Sitecall`);
      await shot(page, p.file);
    });
  }

  let secret = '';
  await test.step('create an API token', async () => {
    await page.getByRole('button', { name: 'New token' }).click();
    await expect(page.getByLabel('Name')).toBeFocused();
    await page.getByRole('button', { name: 'Create token' }).click();
    await expect(page.getByText('Give the token a name')).toBeVisible();
    await expect(page.getByText('Choose at least one scope.')).toBeVisible();
    await shot(page, '11b-token-form-problems');

    await page.getByLabel('Name').fill('e2e reporting script');
    await page.getByRole('checkbox', { name: /^read/ }).check();
    await page.getByRole('checkbox', { name: /^events/ }).check();
    await page.getByRole('button', { name: 'Create token' }).click();

    const panel = page.getByTestId('token-secret');
    await expect(panel).toContainText('Token “e2e reporting script” created');
    await expect(panel).toContainText('shown only this once');
    secret = await page.getByLabel('Token secret').inputValue();
    expect(secret.length).toBeGreaterThan(16);
    const row = page.getByTestId('token-table').getByRole('row', { name: /e2e reporting script/ });
    await expect(row).toContainText('read');
    await expect(row).toContainText('events');
    await expect(row).toContainText('Never');
    await shot(page, '12-token-created');

    // The secret works against the API.
    const me = await fetch(`${service.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${secret}` } });
    expect(me.status).toBe(200);
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await expect(panel).toHaveCount(0);
  });

  await test.step('revoke it, after a confirmation', async () => {
    const row = page.getByTestId('token-table').getByRole('row', { name: /e2e reporting script/ });
    await row.getByRole('button', { name: /Revoke/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke “e2e reporting script”?' });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
    await shot(page, '13-token-revoke-confirm');
    // Escape cancels; nothing is revoked.
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    await expect(row).toBeVisible();

    await row.getByRole('button', { name: /Revoke/ }).click();
    await dialog.getByRole('button', { name: 'Revoke token' }).click();
    await expect(dialog).toBeHidden();
    await expect(page.getByText('Token “e2e reporting script” revoked.')).toBeVisible();
    await expect(page.getByText('No API tokens yet')).toBeVisible();
    await shot(page, '14-token-revoked');

    const me = await fetch(`${service.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${secret}` } });
    expect(me.status).toBe(401);
  });

  await test.step('an unknown address shows a not-found page inside the console', async () => {
    await page.goto(`${service.url}/no/such/page`);
    await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
    await page.getByRole('link', { name: 'Go to the dashboard' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  });

  await test.step('log out: back at the login page, and a reload stays there', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByText('You have logged out.')).toBeVisible();
    await shot(page, '15-logged-out');
    await page.reload();
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole('heading', { name: 'Log in to Sitecall' })).toBeVisible();
    await page.goto(`${service.url}/settings/tokens`);
    await expect(page).toHaveURL(/\/login$/);
  });

  expect(errors, errors.join('\n')).toEqual([]);
});

test('a session the service no longer accepts returns to login, then to the page it was on', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto(`${service.url}/configuration`);
  await expect(page).toHaveURL(/\/login$/);
  await signIn(page);
  await expect(page).toHaveURL(`${service.url}/configuration`);

  // Replace the token with one the service does not know; the next status call answers 401.
  await page.evaluate(() => {
    const raw = sessionStorage.getItem('sitecall.session');
    if (!raw) throw new Error('no session stored');
    sessionStorage.setItem('sitecall.session', JSON.stringify({ ...(JSON.parse(raw) as object), token: 'scs_revoked' }));
  });
  await page.reload();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByText('Your session expired. Log in again to continue.')).toBeVisible();
  await shot(page, '16-session-expired');

  await signIn(page);
  await expect(page).toHaveURL(`${service.url}/configuration`);

  // A session past its expiry time is dropped at load, without asking the service.
  await page.evaluate(() => {
    const raw = sessionStorage.getItem('sitecall.session');
    if (!raw) throw new Error('no session stored');
    sessionStorage.setItem('sitecall.session', JSON.stringify({ ...(JSON.parse(raw) as object), expiresAt: '2000-01-01T00:00:00Z' }));
  });
  await page.reload();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByText('Your session expired.')).toBeVisible();
  expect(errors, errors.join('\n')).toEqual([]);
});

test('loading and error states of the dashboard', async ({ page }) => {
  await page.goto(`${service.url}/login`);
  await signIn(page);
  await expect(page.getByTestId('site-name')).toHaveText(SITE);

  // Loading: hold the status answer back.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/api/v1/status', async (route) => {
    await held;
    await route.continue();
  });
  await page.reload();
  await expect(page.getByText('Loading the service status…')).toBeAttached();
  await shot(page, '17-dashboard-loading');
  release();
  await expect(page.getByTestId('site-name')).toHaveText(SITE);
  await page.unroute('**/api/v1/status');

  // Error: the service answers 503; the page says so and offers a retry that works once it recovers.
  await page.route('**/api/v1/status', (route) =>
    route.fulfill({
      status: 503,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'unavailable', message: 'The service is starting; try again in a few seconds.' } }),
    }),
  );
  await page.reload();
  const panel = page.getByRole('alert').filter({ hasText: 'The service status could not be loaded' });
  await expect(panel).toContainText('The service is starting');
  await shot(page, '18-dashboard-error');
  await page.unroute('**/api/v1/status');
  await panel.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByTestId('site-name')).toHaveText(SITE);
  await expect(page.getByTestId('instance-callstore1')).toBeVisible();
});

test('the dashboard groups many instances by role and group', async ({ page }) => {
  // A layout check with a richer status than a fresh service has: several groups, domains, standby,
  // stopped and remote instances. The answer is the ServiceStatus shape from shared/api/status.ts.
  await page.goto(`${service.url}/login`);
  await signIn(page);
  await expect(page.getByTestId('site-name')).toHaveText(SITE);
  const real = (await (await page.request.get(`${service.url}/api/v1/status`, {
    headers: { Authorization: `Bearer ${await page.evaluate(() => (JSON.parse(sessionStorage.getItem('sitecall.session') ?? '{}') as { token?: string }).token ?? '')}` },
  })).json()) as ServiceStatus;
  const self = real.site.id;
  const at = real.startedAt;
  const status: ServiceStatus = {
    ...real,
    configRevision: 7,
    instances: [
      { name: 'callstore1', roletype: 'callstore', group: 1, order: 1, site: self, includeDomains: [], enabled: true, state: 'running', active: true, startedAt: at },
      { name: 'callstore2', roletype: 'callstore', group: 1, order: 2, site: self, includeDomains: [], enabled: true, state: 'running', active: false, startedAt: at },
      { name: 'callstoreAcme', roletype: 'callstore', group: 10, order: 1, site: self, includeDomains: ['acme.example', 'beta.example'], enabled: true, state: 'running', active: true, startedAt: at },
      { name: 'callstoreAcmeB', roletype: 'callstore', group: 10, order: 2, site: 'b5d0c2e4-peer-site', includeDomains: ['acme.example', 'beta.example'], enabled: true, state: 'remote', active: false, startedAt: null },
      { name: 'vmail1', roletype: 'vmail', group: 2, order: 1, site: self, includeDomains: [], enabled: true, state: 'stopped', active: false, startedAt: null },
      { name: 'vmail2', roletype: 'vmail', group: 2, order: 2, site: self, includeDomains: [], enabled: false, state: 'disabled', active: false, startedAt: null },
    ],
    // the groups as the service reports them for these instances (the real answer's are of its own configuration)
    groups: [
      { roletype: 'callstore', group: 1, active: 'callstore1', activeSite: self, term: 1, since: at, state: 'active' },
      { roletype: 'callstore', group: 10, active: 'callstoreAcme', activeSite: self, term: 2, since: at, state: 'active' },
      { roletype: 'vmail', group: 2, active: null, activeSite: null, term: 0, since: null, state: 'none' },
    ],
  };
  await page.route('**/api/v1/status', (route) => route.fulfill({ json: status }));
  await page.reload();
  await expect(page.getByTestId('config-revision')).toHaveText('revision 7');
  await expect(page.getByTestId('group-callstore-1').getByTestId('instance-callstore2')).toContainText('Standby');
  await expect(page.getByTestId('group-callstore-10')).toContainText('acme.example, beta.example');
  await expect(page.getByTestId('instance-callstoreAcmeB')).toContainText('At another site');
  await expect(page.getByTestId('group-vmail-2').getByTestId('instance-vmail1')).toContainText('Stopped');
  await expect(page.getByTestId('group-vmail-2')).toContainText('No active instance');
  await expect(page.getByTestId('group-callstore-1')).not.toContainText('No active instance');
  await shot(page, '19-dashboard-many-instances');
  await page.setViewportSize({ width: 1280, height: 1150 });
  await shot(page, '19b-dashboard-many-instances-tall');
});

test('inside the desktop shell: "Open in browser" and "Quit" use the preload bridge', async ({ page }) => {
  // Stand-in for the Electron preload (shared/ipc.ts DesktopBridge); records what the console calls.
  await page.addInitScript(() => {
    const calls: string[] = [];
    Object.defineProperty(window, '__desktopCalls', { value: calls });
    Object.defineProperty(window, 'sitecallDesktop', {
      value: {
        openInBrowser: async () => void calls.push('openInBrowser'),
        quit: async () => void calls.push('quit'),
        info: async () => ({ shellVersion: '0.1.0', electronVersion: 'test', serviceUrl: location.origin, ownsService: true }),
      },
    });
  });
  await page.goto(`${service.url}/login`);
  await signIn(page);
  await expect(page.getByTestId('site-name')).toHaveText(SITE);
  const calls = () => page.evaluate(() => (window as unknown as { __desktopCalls: string[] }).__desktopCalls);

  await page.getByRole('button', { name: 'Open in browser' }).click();
  await expect.poll(calls).toEqual(['openInBrowser']);

  // The shell owns the service here, so quitting asks first; Cancel keeps it running.
  await page.getByRole('button', { name: 'Quit' }).click();
  const dialog = page.getByRole('dialog', { name: 'Quit Sitecall?' });
  await expect(dialog).toContainText('Quitting stops it');
  await shot(page, '20-desktop-quit-confirm');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await page.getByRole('button', { name: 'Quit' }).click();
  await dialog.getByRole('button', { name: 'Quit and stop the service' }).click();
  await expect.poll(calls).toEqual(['openInBrowser', 'quit']);
});
