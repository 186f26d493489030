/**
 * The limits page against the real service, fed through the events API: an admin adds a limit on
 * the shared trunk; a bad one (a negative max) is refused with the service's sentence beside the
 * Max field, a duplicate of the first is explained and leads to editing that one; calls posted as
 * invite events carrying the trunk's profile raise its count live up to the limit, which then
 * shows "at the limit", and the count falls as they end; a rule for each domain lists the domain
 * counted; the profile counts show the same pairs; the limit is deleted after a confirmation.
 * Screenshots: test/artifacts/screenshots/limits-*.png.
 */
import { expect, test, type Page } from '@playwright/test';
import { eventsToken, liveScript, send, shot, signIn, watchErrors } from '../support/console.js';
import { login, startService, type RunningTestService } from '../support/service.js';

let service: RunningTestService;
let events: string;

test.beforeAll(async () => {
  service = await startService({ env: { SITECALL_SITE_NAME: 'Limits Office' } });
  events = await eventsToken(service, await login(service));
});

test.afterAll(async () => {
  await service?.stop();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && service) {
    await testInfo.attach('service.log', { body: service.logs(), contentType: 'text/plain' });
  }
});

const TRUNK = [{ name: 'trunk', value: 'sip1' }];

function form(page: Page) {
  return page.getByTestId('limit-form');
}

/** A field of the form by its label, exactly (the scope's choices mention the profile and its value). */
function field(page: Page, label: string) {
  return form(page).getByLabel(label, { exact: true });
}

test('limits: add, a bad one refused at its field, a duplicate explained, edit, a count rising live to the limit and falling, each value, delete', async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, service);
  const nav = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Limits', exact: true });
  await expect(nav).not.toContainText('soon');
  await nav.click();
  await expect(page.getByRole('heading', { level: 1, name: 'Limits' })).toBeVisible();
  await expect(page.getByText('No limits yet')).toBeVisible();
  await expect(page.getByTestId('live-indicator')).toHaveText('Live');

  await test.step('add a limit on the shared trunk', async () => {
    await page.getByRole('button', { name: 'New limit' }).click();
    await expect(field(page, 'Profile')).toBeFocused();
    // nothing typed: the console says what is missing before anything goes out
    await form(page).getByRole('button', { name: 'Add limit' }).click();
    await expect(form(page).getByTestId('limit-profile-error')).toContainText('Enter the profile');
    await expect(form(page).getByTestId('limit-max-error')).toContainText('Enter the most calls');
    await field(page, 'Profile').fill('trunk');
    await field(page, 'Value').fill('sip1');
    await field(page, 'Max').fill('2');
    await field(page, 'Description (optional)').fill('the shared SIP trunk');
    await form(page).getByRole('button', { name: 'Add limit' }).click();
    await expect(form(page)).toBeHidden();
    await expect(page.getByTestId('limits-notice')).toHaveText('Added the limit trunk = sip1: at most 2 calls at once.');
    const row = page.getByTestId('limit-row');
    await expect(row).toHaveCount(1);
    await expect(row).toContainText('trunk');
    await expect(row).toContainText('sip1');
    await expect(row).toContainText('the shared SIP trunk');
    await expect(row.getByTestId('limit-max')).toHaveText('2');
    await expect(row.getByTestId('limit-count')).toHaveAttribute('data-count', '0');
    await expect(row).toHaveAttribute('data-standing', 'under');
  });

  await test.step('a negative max is refused by the service, its sentence beside the field', async () => {
    await page.getByRole('button', { name: 'New limit' }).click();
    await field(page, 'Profile').fill('trunk');
    await field(page, 'Value').fill('sip2');
    await field(page, 'Max').fill('-1');
    await form(page).getByRole('button', { name: 'Add limit' }).click();
    const maxError = form(page).getByTestId('limit-max-error');
    await expect(maxError).toHaveText('Must be >= 0.');
    await expect(field(page, 'Max')).toHaveAttribute('aria-invalid', 'true');
    await expect(field(page, 'Max')).toBeFocused();
    await expect(field(page, 'Profile')).not.toHaveAttribute('aria-invalid', 'true');
    await shot(page, 'limits-01-refused');
    // typing in the field clears its message
    await field(page, 'Max').fill('5');
    await expect(maxError).toBeHidden();
  });

  await test.step('a second limit for the same profile and value is explained, and leads to the first', async () => {
    await field(page, 'Value').fill('sip1');
    await form(page).getByRole('button', { name: 'Add limit' }).click();
    await expect(form(page).getByTestId('limit-conflict')).toContainText('one limit per profile and value');
    await expect(form(page).getByTestId('limit-value-error')).toContainText('exists already');
    await shot(page, 'limits-02-duplicate');
    await form(page).getByRole('button', { name: 'Edit the existing limit' }).click();
    await expect(form(page).getByRole('heading', { name: 'Edit the limit trunk = sip1' })).toBeVisible();
    await expect(field(page, 'Max')).toHaveValue('2');
    await field(page, 'Max').fill('3');
    await form(page).getByRole('button', { name: 'Save limit' }).click();
    await expect(form(page)).toBeHidden();
    await expect(page.getByTestId('limits-notice')).toHaveText('Saved the limit trunk = sip1: at most 3 calls at once.');
    await expect(page.getByTestId('limit-row')).toHaveCount(1);
    await expect(page.getByTestId('limit-row').getByTestId('limit-max')).toHaveText('3');
  });

  const s = liveScript('office.example', Date.now() - 5000);
  const ids = [1, 2, 3].map((n) => `e2e-limit-${n}-${Date.now()}`);
  const row = page.getByTestId('limit-row');
  const count = row.getByTestId('limit-count');

  await test.step('calls on the trunk raise its count live, up to the limit', async () => {
    s.invite(0, ids[0] as string, '101', '200', { profiles: TRUNK });
    await send(service, events, s.events.splice(0));
    await expect(count).toHaveAttribute('data-count', '1');
    await expect(row).toHaveAttribute('data-standing', 'under');
    await expect(count).toContainText('2 more allowed');

    s.invite(100, ids[1] as string, '102', '200', { profiles: TRUNK }).invite(200, ids[2] as string, '103', '200', { profiles: TRUNK });
    await send(service, events, s.events.splice(0));
    await expect(count).toHaveAttribute('data-count', '3');
    await expect(row).toHaveAttribute('data-standing', 'at');
    await expect(count).toContainText('At limit');
    await expect(count).toContainText('At the limit: new calls are refused');
    await expect(count.getByRole('meter')).toHaveAttribute('aria-valuetext', '3 of 3');

    // the profile counts: the trunk's pair, total and the domain, all this site's
    const trunk = page.locator('[data-testid="profile-row"][data-profile="trunk"][data-value="sip1"]');
    await expect(trunk.getByTestId('profile-total')).toHaveText('3');
    await expect(trunk.getByTestId('profile-local')).toHaveText('3');
    await expect(page.locator('[data-testid="profile-row"][data-profile="total"]').getByTestId('profile-total')).toHaveText('3');
    await expect(page.locator('[data-testid="profile-row"][data-profile="domain"][data-value="office.example"]').getByTestId('profile-total')).toHaveText('3');
    await shot(page, 'limits-03-at-limit', { fullPage: true });
  });

  await test.step('a rule for each domain lists the domain counted', async () => {
    await page.getByRole('button', { name: 'New limit' }).click();
    await field(page, 'Profile').fill('domain');
    await form(page).getByRole('radio', { name: /Each value on its own/ }).check();
    await expect(field(page, 'Value')).toHaveCount(0);
    await field(page, 'Max').fill('10');
    await form(page).getByRole('button', { name: 'Add limit' }).click();
    await expect(form(page)).toBeHidden();
    const perDomain = page.getByTestId('limit-row').filter({ hasText: 'each value' });
    const value = perDomain.getByTestId('limit-value');
    await expect(value).toHaveCount(1);
    await expect(value).toHaveAttribute('data-value', 'office.example');
    await expect(value).toHaveAttribute('data-count', '3');
    await expect(perDomain).toHaveAttribute('data-standing', 'under');
  });

  const trunkRow = page.getByTestId('limit-row').filter({ hasText: 'sip1' });
  await test.step('the count falls as calls end', async () => {
    s.end(1000, ids[0] as string);
    await send(service, events, s.events.splice(0));
    await expect(trunkRow.getByTestId('limit-count')).toHaveAttribute('data-count', '2');
    await expect(trunkRow).toHaveAttribute('data-standing', 'under');
    s.end(1100, ids[1] as string).end(1200, ids[2] as string);
    await send(service, events, s.events.splice(0));
    await expect(trunkRow.getByTestId('limit-count')).toHaveAttribute('data-count', '0');
    await expect(page.getByTestId('limit-row').filter({ hasText: 'each value' })).toContainText('No calls counted under domain now');
  });

  await test.step('delete, after a confirmation', async () => {
    await trunkRow.getByRole('button', { name: 'Delete the limit trunk = sip1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete the limit trunk = sip1?' });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
    await shot(page, 'limits-04-delete');
    // cancelled: it stays
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toBeHidden();
    await expect(trunkRow).toHaveCount(1);
    await trunkRow.getByRole('button', { name: 'Delete the limit trunk = sip1' }).click();
    await dialog.getByRole('button', { name: 'Delete limit' }).click();
    await expect(dialog).toBeHidden();
    await expect(page.getByTestId('limits-notice')).toContainText('Deleted the limit trunk = sip1');
    await expect(trunkRow).toHaveCount(0);
    await expect(page.getByTestId('limit-row')).toHaveCount(1);
  });
  expect(errors).toEqual([]);
});
