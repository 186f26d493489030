/**
 * The configuration page end to end, against the real service: the draft and its inline validation,
 * a refused save, a good save that starts an instance, the partition preview, and revision conflicts
 * made by changing the configuration through the API behind the page's back.
 * Screenshots go to test/artifacts/screenshots/cfg-*.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Locator, type Page } from '@playwright/test';
import type { RoleInstance, RolesConfig, SavedRolesConfig } from '../../shared/api/roles.js';
import type { ServiceStatus } from '../../shared/api/status.js';
import { login, REPO_ROOT, startService, type RunningTestService } from '../support/service.js';

const SITE = 'Harbour Office';
const SHOTS = join(REPO_ROOT, 'test', 'artifacts', 'screenshots');

let service: RunningTestService;
let token: string;
/** The configuration a fresh service has (revision 1): every test starts from it again. */
let baseline: RoleInstance[];

test.beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  service = await startService({ env: { SITECALL_SITE_NAME: SITE } });
  token = await login(service);
  baseline = (await getConfig()).instances;
});

test.afterAll(async () => {
  await service?.stop();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && service) {
    await testInfo.attach('service.log', { body: service.logs(), contentType: 'text/plain' });
  }
});

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function getConfig(): Promise<RolesConfig> {
  const res = await api<RolesConfig>('GET', '/api/v1/config/roles');
  expect(res.status).toBe(200);
  return res.body;
}

/** Saves instances through the API, as another admin would; returns the new revision. */
async function putConfig(instances: RoleInstance[]): Promise<number> {
  const { revision } = await getConfig();
  const res = await api<SavedRolesConfig>('PUT', '/api/v1/config/roles', { revision, instances });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.revision;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

async function openConfiguration(page: Page): Promise<void> {
  await page.goto(`${service.url}/login`);
  await page.getByLabel('Password').fill(service.adminPassword);
  await page.getByLabel('Password').press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Configuration' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Configuration' })).toBeVisible();
}

function field(dialog: Locator, name: string): Locator {
  return dialog.locator(`[data-field="${name}"]`);
}

/** Waits for the debounced check of the form to come back. */
async function checked(page: Page): Promise<void> {
  await expect(page.getByTestId('instance-dialog').locator('.modal__footer-note')).not.toHaveText('Checking…');
}

test.beforeEach(async () => {
  await putConfig(baseline);
});

test('add an invalid instance, see the problems at the fields, fix them, save, and it runs', async ({ page }) => {
  const errors = watchErrors(page);
  const start = (await getConfig()).revision;
  await openConfiguration(page);
  const bar = page.getByTestId('config-bar');
  await expect(bar).toContainText(`Revision ${start}`);
  await expect(bar).toContainText('No problems');
  await expect(page.getByTestId('cfg-row-callstore1')).toContainText('Running');
  await expect(page.getByTestId('cfg-row-callstore1')).toContainText('Active');
  await expect(page.getByTestId('cfg-row-callstore1')).toContainText('This site');
  await expect(page.getByTestId('cfg-group-callstore-1')).toContainText('All other domains (default group)');
  await shot(page, 'cfg-01-overview');

  const dialog = page.getByTestId('instance-dialog');
  await test.step('a bad name is reported at the name field as it is typed', async () => {
    await page.getByRole('button', { name: 'Add instance' }).click();
    await expect(page.getByRole('dialog', { name: 'Add instance' })).toBeVisible();
    const name = dialog.getByLabel('Name', { exact: true });
    await expect(name).toBeFocused();
    await expect(name).toHaveValue('callstore2');
    await expect(dialog.getByLabel('Interface')).toHaveValue('lo');
    await name.fill('2bad');
    await dialog.getByLabel('Domains').fill('a..b');
    await expect(field(dialog, 'name')).toContainText('Must start with a letter and have only Latin letters and digits.');
    await expect(name).toHaveAttribute('aria-invalid', 'true');
    await shot(page, 'cfg-02-form-name-error');
  });

  await test.step('an invalid instance can go into the draft, but saving it is refused with the problem at the row', async () => {
    await dialog.getByRole('button', { name: 'Add to draft' }).click();
    await expect(dialog).toBeHidden();
    await expect(bar).toContainText('Unsaved changes');
    await expect(bar).toContainText('1 added');
    const problems = page.getByTestId('cfg-problems-2bad');
    await expect(problems).toContainText('Name: must start with a letter');
    // The service checks the other fields of an instance with a bad name too (b7ceb7c): both problems at once.
    await expect(problems).toContainText('"a..b" has an empty label');
    await expect(bar).toContainText('2 errors');
    await bar.getByRole('button', { name: 'Save configuration' }).click();
    await expect(page.getByTestId('problem-summary')).toContainText('Not saved: The configuration has 2 errors; nothing was changed.');
    // Nothing is lost from the draft; the service still runs revision 1.
    await expect(page.getByTestId('cfg-row-2bad')).toBeVisible();
    await expect(problems).toContainText('Name: must start with a letter');
    expect((await getConfig()).revision).toBe(start);
    await shot(page, 'cfg-03-save-refused');
  });

  await test.step('with the name fixed, the bad domain shows at the domains field; fixing it clears every problem', async () => {
    await page.getByRole('button', { name: 'Edit 2bad' }).click();
    await expect(page.getByRole('dialog', { name: 'Edit “2bad”' })).toBeVisible();
    await dialog.getByLabel('Name', { exact: true }).fill('callstore9');
    await expect(field(dialog, 'include_domains')).toContainText('"a..b" has an empty label');
    await expect(field(dialog, 'name').getByTestId('field-problems')).toHaveCount(0);
    await shot(page, 'cfg-04-form-domain-error');
    await dialog.getByLabel('Domains').fill('Sales.Example.com.');
    await checked(page);
    await expect(dialog.getByTestId('field-problems')).toHaveCount(0);

    // ext: JSON that does not parse is refused in the form; a bad tunable is the service's error.
    const ext = dialog.getByLabel('Extra options (ext, JSON)');
    await ext.fill('{"resync_timeout": }');
    await expect(field(dialog, 'ext')).toContainText('Not valid JSON');
    await dialog.getByRole('button', { name: 'Apply to draft' }).click();
    await expect(dialog).toBeVisible();
    await expect(ext).toBeFocused();
    await shot(page, 'cfg-04b-form-ext-json-error');
    await ext.fill('{"resync_timeout": -1}');
    await expect(field(dialog, 'ext')).toContainText('resync_timeout: must be a number of seconds greater than 0');
    await ext.fill('{"resync_timeout": 20}');
    await checked(page);
    await expect(dialog.getByTestId('field-problems')).toHaveCount(0);
    await dialog.getByRole('button', { name: 'Apply to draft' }).click();
    await expect(page.getByTestId('cfg-row-callstore9')).toBeVisible();
    await expect(page.getByTestId('cfg-problems-callstore9')).toHaveCount(0);
  });

  await test.step('an order that clashes in the group is shown at the order field and in the table', async () => {
    await page.getByTestId('cfg-group-callstore-3').getByRole('button', { name: 'Add to this group' }).click();
    await expect(dialog.getByLabel('Group')).toHaveValue('3');
    await expect(dialog.getByLabel('Domains')).toHaveValue('Sales.Example.com.');
    await expect(dialog.getByLabel('Order')).toHaveValue('2');
    await dialog.getByLabel('Name', { exact: true }).fill('callstore10');
    await dialog.getByLabel('Order').fill('1');
    await expect(field(dialog, 'order')).toContainText('1 is already the order of “callstore9” in group 3; orders are unique in a group.');
    await dialog.getByLabel('Order').press('Enter'); // Enter applies the form, errors and all
    await expect(dialog).toBeHidden();
    await expect(page.getByTestId('cfg-problems-callstore10')).toContainText('Order: 1 is already the order of “callstore9” in group 3');
    await expect(page.getByTestId('cfg-row-callstore10').locator('td.cell--invalid')).toHaveText('1');
    await shot(page, 'cfg-05-order-clash');
    await page.getByRole('button', { name: 'Edit callstore10' }).click();
    await dialog.getByLabel('Order').fill('2');
    await checked(page);
    await expect(dialog.getByTestId('field-problems')).toHaveCount(0);
    await dialog.getByRole('button', { name: 'Apply to draft' }).click();
    await expect(bar).toContainText('No problems');
    await expect(page.getByTestId('cfg-group-callstore-3')).toContainText('Active-Passive: callstore9 → callstore10');
  });

  await test.step('save: the new revision, and the new instances run', async () => {
    await bar.getByRole('button', { name: 'Save configuration' }).click();
    await expect(page.getByTestId('save-notice')).toHaveText(`Saved as revision ${start + 1}. Instances start and stop to match.`);
    await expect(bar).toContainText(`Revision ${start + 1}`);
    await expect(page.getByTestId('cfg-row-callstore9')).toContainText('Running');
    await expect(page.getByTestId('cfg-row-callstore9')).toContainText('Active');
    await expect(page.getByTestId('cfg-row-callstore10')).toContainText('Standby');
    await shot(page, 'cfg-06-saved');
    const saved = await getConfig();
    expect(saved.revision).toBe(start + 1);
    expect(saved.instances.find((i) => i.name === 'callstore9')?.include_domains).toEqual(['Sales.Example.com.']);
    expect(saved.instances.find((i) => i.name === 'callstore9')?.ext).toEqual({ resync_timeout: 20 });

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
    await expect(page.getByTestId('config-revision')).toHaveText(`revision ${start + 1}`);
    const group = page.getByTestId('group-callstore-3');
    await expect(group.getByTestId('instance-callstore9')).toContainText('Running');
    await expect(group.getByTestId('instance-callstore9')).toContainText('Active');
    await expect(group).toContainText('Sales.Example.com.');
    await shot(page, 'cfg-07-dashboard-after-save');
  });
  expect(errors, errors.join('\n')).toEqual([]);
});

test('keyboard: the dialog traps focus, Escape closes it, and Discard restores the saved configuration', async ({ page }) => {
  await openConfiguration(page);
  const add = page.getByRole('button', { name: 'Add instance' });
  await add.click();
  const dialog = page.getByTestId('instance-dialog');
  await expect(dialog.getByLabel('Name', { exact: true })).toBeFocused();
  // Tab goes round inside the dialog and never reaches the page behind it.
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null || document.activeElement === document.body)).toBe(true);
  }
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(add).toBeFocused();
  await expect(page.getByTestId('config-bar')).not.toContainText('Unsaved changes');

  // Remove an instance, undo, remove again, then discard the whole draft.
  await page.getByRole('button', { name: 'Remove vmail1' }).click();
  await expect(page.getByTestId('cfg-row-vmail1')).toHaveCount(0);
  await expect(page.getByTestId('config-bar')).toContainText('1 removed');
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(page.getByTestId('cfg-row-vmail1')).toBeVisible();
  await expect(page.getByTestId('config-bar')).not.toContainText('Unsaved changes');
  await page.getByRole('button', { name: 'Remove vmail1' }).click();
  await page.getByRole('button', { name: 'Remove callstore1' }).click();
  await expect(page.getByText('No role instances', { exact: true })).toBeVisible();
  await expect(page.getByTestId('problem-summary')).toContainText('no enabled vmail instance');
  await shot(page, 'cfg-08-empty-draft');
  await page.getByTestId('config-bar').getByRole('button', { name: 'Discard' }).click();
  const confirm = page.getByRole('dialog', { name: 'Discard your changes?' });
  await confirm.getByRole('button', { name: 'Discard changes' }).click();
  await expect(page.getByTestId('cfg-row-vmail1')).toBeVisible();
  await expect(page.getByTestId('cfg-row-callstore1')).toBeVisible();
  await expect(page.getByTestId('config-bar')).toContainText('Revision');
});

test('an unsaved draft survives leaving the page; warnings are shown but do not stop a save', async ({ page }) => {
  const errors = watchErrors(page);
  const start = (await getConfig()).revision;
  await openConfiguration(page);
  const bar = page.getByTestId('config-bar');
  const dialog = page.getByTestId('instance-dialog');
  await page.getByRole('button', { name: 'Edit vmail1' }).click();
  await dialog.getByLabel('Domains').fill('example.com');
  await dialog.getByRole('button', { name: 'Apply to draft' }).click();
  const summary = page.getByTestId('problem-summary');
  await expect(summary).toContainText('no default vmail group (one with empty include_domains): domains outside example.com are served by no vmail instance');
  await expect(bar).toContainText('1 warning');
  await expect(page.getByTestId('cfg-group-vmail-2')).toContainText('example.com');

  // To the dashboard and back: the draft is still there.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Configuration' }).click();
  await expect(page.getByTestId('save-notice')).toHaveText(`Your unsaved changes from earlier in this tab are back (made to revision ${start}).`);
  await expect(bar).toContainText('Unsaved changes');
  await expect(page.getByTestId('cfg-row-vmail1')).toContainText('Edited');

  await bar.getByRole('button', { name: 'Save configuration' }).click();
  await expect(page.getByTestId('save-notice')).toHaveText(
    `Saved as revision ${start + 1} with 1 warning (listed below). Instances start and stop to match.`,
  );
  await expect(summary).toContainText('1 warning');
  await expect(summary).toContainText('no default vmail group');
  await shot(page, 'cfg-17-saved-with-warning');
  expect((await getConfig()).instances.find((i) => i.name === 'vmail1')?.include_domains).toEqual(['example.com']);
  expect(errors, errors.join('\n')).toEqual([]);
});

test('partition preview: a nested domain goes to the group of its longest listed parent', async ({ page }) => {
  const errors = watchErrors(page);
  await openConfiguration(page);
  const dialog = page.getByTestId('instance-dialog');
  // Two callstore groups through the page: example.com and, below it, sales.example.com.
  for (const [name, group, domain] of [
    ['csExample', '10', 'example.com'],
    ['csSales', '11', 'sales.example.com'],
  ] as const) {
    await page.getByRole('button', { name: 'Add instance' }).click();
    await dialog.getByLabel('Name', { exact: true }).fill(name);
    await dialog.getByLabel('Group').fill(group);
    await dialog.getByLabel('Domains').fill(domain);
    await checked(page);
    await expect(dialog.getByTestId('field-problems')).toHaveCount(0);
    await dialog.getByRole('button', { name: 'Add to draft' }).click();
  }
  const preview = page.getByRole('region', { name: 'Partition preview' });
  await expect(preview).toContainText('your unsaved changes are not included');
  await page.getByTestId('config-bar').getByRole('button', { name: 'Save configuration' }).click();
  await expect(page.getByTestId('save-notice')).toContainText('Saved as revision');

  const domain = preview.getByLabel('Domain');
  const result = page.getByTestId('partition-result');
  await domain.fill('eu.sales.example.com');
  await expect(page.getByTestId('partition-group')).toHaveText('Group 11');
  await expect(page.getByTestId('partition-matched')).toContainText('matched sales.example.com');
  await expect(result.getByRole('listitem')).toHaveCount(1);
  await expect(result.getByRole('listitem')).toContainText('csSales');
  await expect(result.getByRole('listitem')).toContainText('Active');
  await expect(result).toContainText('eu.sales.example.com');
  await preview.scrollIntoViewIfNeeded();
  await shot(page, 'cfg-09-partition-nested');

  await domain.fill('WWW.Example.COM.');
  await expect(page.getByTestId('partition-group')).toHaveText('Group 10');
  await expect(result).toContainText('www.example.com');
  await domain.fill('xsales.example.com');
  await expect(page.getByTestId('partition-group')).toHaveText('Group 10');
  await domain.fill('example.org');
  await expect(page.getByTestId('partition-group')).toHaveText('Group 1');
  await expect(page.getByTestId('partition-matched')).toContainText('default group');
  await preview.getByLabel('Role type').selectOption('vmail');
  await expect(page.getByTestId('partition-group')).toHaveText('Group 2');
  await expect(result.getByRole('listitem')).toHaveCount(1);
  await expect(result.getByRole('listitem')).toContainText('vmail1');

  await domain.fill('a..b');
  await expect(result).toContainText('The domain "a..b" has an empty label (two dots in a row, or a leading dot).');
  await expect(domain).toHaveAttribute('aria-invalid', 'true');
  await shot(page, 'cfg-10-partition-invalid');
  expect(errors, errors.join('\n')).toEqual([]);
});

test('revision conflict: "Reload theirs" shows their change; "Overwrite with mine" wins', async ({ page }) => {
  const errors = watchErrors(page);
  await openConfiguration(page);
  const bar = page.getByTestId('config-bar');
  const dialog = page.getByTestId('instance-dialog');
  const conflict = page.getByRole('dialog', { name: 'Someone else changed the configuration' });

  await test.step('reload theirs', async () => {
    await page.getByRole('button', { name: 'Edit vmail1' }).click();
    await dialog.getByLabel('Order').fill('5');
    await dialog.getByRole('button', { name: 'Apply to draft' }).click();
    await expect(bar).toContainText('1 edited');

    // Another admin adds an instance meanwhile.
    const revision = await putConfig([
      ...baseline,
      { name: 'theirVmail', roletype: 'vmail', iface: 'lo', group: 2, order: 2, include_domains: [], enabled: true },
    ]);
    await bar.getByRole('button', { name: 'Save configuration' }).click();
    await expect(conflict).toBeVisible();
    await expect(conflict).toContainText(`Someone else changed the configuration (now revision ${revision}).`);
    await expect(conflict).toContainText('they added “theirVmail”');
    await expect(conflict.getByRole('button', { name: 'Reload theirs' })).toBeFocused();
    await shot(page, 'cfg-11-conflict');
    await conflict.getByRole('button', { name: 'Reload theirs' }).click();
    await expect(conflict).toBeHidden();
    await expect(page.getByTestId('save-notice')).toHaveText(`Loaded revision ${revision}; your changes were discarded.`);
    await expect(bar).toContainText(`Revision ${revision}`);
    await expect(page.getByTestId('cfg-row-theirVmail')).toBeVisible();
    await expect(page.getByTestId('cfg-row-vmail1').locator('td').first()).toHaveText('1');
    await expect(page.getByTestId('cfg-row-theirVmail')).toContainText('Running');
    await shot(page, 'cfg-12-reloaded-theirs');
  });

  await test.step('overwrite with mine', async () => {
    await page.getByRole('button', { name: 'Remove theirVmail' }).click();
    await page.getByRole('button', { name: 'Add instance' }).click();
    await dialog.getByLabel('Name', { exact: true }).fill('myVmail');
    await dialog.getByLabel('Role type').selectOption('vmail');
    await dialog.getByLabel('Group').fill('2');
    await dialog.getByLabel('Order').fill('3');
    await checked(page);
    await expect(dialog.getByTestId('field-problems')).toHaveCount(0);
    await dialog.getByRole('button', { name: 'Add to draft' }).click();

    const current = await getConfig();
    const theirs = await putConfig([
      ...current.instances,
      { name: 'theirCallstore', roletype: 'callstore', iface: 'lo', group: 1, order: 2, include_domains: [], enabled: true },
    ]);
    await bar.getByRole('button', { name: 'Save configuration' }).click();
    await expect(conflict).toContainText(`now revision ${theirs}`);
    await conflict.getByRole('button', { name: 'Overwrite with mine' }).click();
    await expect(conflict).toBeHidden();
    await expect(page.getByTestId('save-notice')).toHaveText(`Saved as revision ${theirs + 1}. Instances start and stop to match.`);
    await expect(page.getByTestId('cfg-row-myVmail')).toContainText('Running');
    await expect(page.getByTestId('cfg-row-theirCallstore')).toHaveCount(0);
    await expect(page.getByTestId('cfg-row-theirVmail')).toHaveCount(0);
    const saved = await getConfig();
    expect(saved.revision).toBe(theirs + 1);
    expect(saved.instances.map((i) => i.name).sort()).toEqual(['callstore1', 'myVmail', 'vmail1']);
    await shot(page, 'cfg-13-overwritten');
  });
  expect(errors, errors.join('\n')).toEqual([]);
});

test('loading and error states', async ({ page }) => {
  await openConfiguration(page);
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/api/v1/config/roles', async (route) => {
    await held;
    await route.continue();
  });
  await page.reload();
  await expect(page.getByText('Loading the configuration…')).toBeAttached();
  await shot(page, 'cfg-14-loading');
  release();
  await expect(page.getByTestId('cfg-row-callstore1')).toBeVisible();
  await page.unroute('**/api/v1/config/roles');

  await page.route('**/api/v1/config/roles', (route) =>
    route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'The service is starting; try again in a few seconds.' } }) }),
  );
  await page.reload();
  const panel = page.getByRole('alert').filter({ hasText: 'The configuration could not be loaded' });
  await expect(panel).toContainText('The service is starting');
  await shot(page, 'cfg-15-error');
  await page.unroute('**/api/v1/config/roles');
  await panel.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByTestId('cfg-row-callstore1')).toBeVisible();

  // A save that cannot reach the service keeps the draft and says so.
  await page.getByRole('button', { name: 'Edit vmail1' }).click();
  await page.getByTestId('instance-dialog').getByLabel('Order').fill('4');
  await page.getByTestId('instance-dialog').getByRole('button', { name: 'Apply to draft' }).click();
  await page.route('**/api/v1/config/roles', (route) => (route.request().method() === 'PUT' ? route.abort() : route.continue()));
  await page.getByTestId('config-bar').getByRole('button', { name: 'Save configuration' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'The configuration was not saved' })).toContainText('Cannot reach the Sitecall service');
  await expect(page.getByTestId('config-bar')).toContainText('Unsaved changes');
  await shot(page, 'cfg-16-save-failed');
});

test('layout with many groups, another site and a disabled instance', async ({ page }) => {
  // A layout check with a configuration a fresh single site cannot save (a peer site): the page's
  // reads are answered here, in the shapes of shared/api/roles.ts and status.ts.
  await openConfiguration(page);
  const status = (await api<ServiceStatus>('GET', '/api/v1/status')).body;
  const self = status.site.id;
  const peer = 'b5d0c2e4-peer-site';
  const at = status.startedAt;
  const cs = (name: string, group: number, order: number, domains: string[], extra: Partial<RoleInstance> = {}): RoleInstance => ({
    name, roletype: 'callstore', iface: 'lo', group, order, include_domains: domains, site: self, enabled: true, cdr_mode: 'all', cdr_aggregation: true, state_save: 'async', ...extra,
  });
  const config: RolesConfig = {
    revision: 41,
    instances: [
      cs('callstore1', 1, 1, []),
      cs('callstore2', 1, 2, []),
      cs('callstoreAcme', 10, 1, ['acme.example', 'beta.example']),
      cs('callstoreAcmeB', 10, 2, ['acme.example', 'beta.example'], { site: peer, iface: 'lan' }),
      cs('callstoreOld', 10, 3, ['acme.example', 'beta.example'], { enabled: false }),
      { name: 'vmail1', roletype: 'vmail', iface: 'lo', group: 2, order: 1, include_domains: [], site: self, enabled: true },
      { name: 'vmail2', roletype: 'vmail', iface: 'eth0', group: 2, order: 2, include_domains: [], site: peer, enabled: true },
    ],
  };
  const runtime: ServiceStatus = {
    ...status,
    configRevision: 41,
    instances: config.instances.map((i) => ({
      name: i.name,
      roletype: i.roletype,
      group: i.group,
      order: i.order,
      site: i.site ?? self,
      includeDomains: i.include_domains ?? [],
      enabled: i.enabled !== false,
      state: i.enabled === false ? 'disabled' : i.site === peer ? 'remote' : 'running',
      active: i.order === 1,
      startedAt: i.site === peer || i.enabled === false ? null : at,
    })),
  };
  await page.route('**/api/v1/config/roles', (route) => route.fulfill({ json: config }));
  await page.route('**/api/v1/status', (route) => route.fulfill({ json: runtime }));
  await page.route('**/api/v1/config/validate', (route) => route.fulfill({ json: { problems: [] } }));
  await page.reload();
  await expect(page.getByTestId('config-bar')).toContainText('Revision 41');
  await expect(page.getByTestId('cfg-row-callstoreAcmeB')).toContainText('At another site');
  await expect(page.getByTestId('cfg-row-callstoreAcmeB')).toContainText(peer);
  await expect(page.getByTestId('cfg-row-callstoreOld')).toContainText('Disabled');
  await expect(page.getByTestId('cfg-group-callstore-10')).toContainText('Active-Passive: callstoreAcme → callstoreAcmeB');
  await expect(page.getByTestId('config-bar')).toContainText('No problems');
  await page.setViewportSize({ width: 1280, height: 1100 });
  await shot(page, 'cfg-18-many-instances');

  // An instance of the other site: its interface is typed (this site cannot list that site's).
  await page.getByRole('button', { name: 'Edit callstoreAcmeB' }).click();
  const dialog = page.getByTestId('instance-dialog');
  await expect(dialog.getByLabel('Site')).toHaveValue(peer);
  await expect(dialog.getByLabel('Interface')).toHaveValue('lan');
  await expect(dialog.getByLabel('Domains')).toHaveValue('acme.example\nbeta.example');
  await expect(dialog).toContainText('Shared by the group: also applied to callstoreAcme, callstoreOld.');
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot(page, 'cfg-19-edit-other-site');
});
