/**
 * The sites page end to end: two real service processes (each its own data directory,
 * certificate and admin password), a TCP proxy under the test's control in front of each one's
 * peer port (its public address), and Debian's Chromium with one browser context per site, as two
 * admins at two offices would be. A shows a code, B's admin enters it with A's address; a wrong
 * code first shows the service's refusal sentence; B's session ends with the join and its admin
 * logs in with the installation's (A's) password; both pages show the other connected with its
 * round trip and lag, B its join's progress to synced; a cut link shows unreachable with the
 * error and comes back; unpairing on A shows on both. Screenshots in test/artifacts/screenshots/.
 */
import { expect, test, type Browser, type Page } from '@playwright/test';
import type { SitesList } from '../../shared/api/sites.js';
import type { ServiceStatus } from '../../shared/api/status.js';
import { displaySiteId } from '../../service/sync/identity.js';
import { api, shot, signIn, watchErrors } from '../support/console.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { TcpProxy } from '../support/tcp-proxy.js';

interface E2eSite {
  service: RunningTestService;
  proxy: TcpProxy;
  name: string;
  publicUrl: string;
  id: string;
}

const running: { stop(): Promise<unknown> }[] = [];

async function startSite(name: string, adminPassword: string): Promise<E2eSite> {
  const proxy = await TcpProxy.start(0);
  running.push(proxy);
  const publicUrl = `wss://127.0.0.1:${proxy.port}`;
  const service = await startService({ adminPassword, env: { SITECALL_SITE_NAME: name, SITECALL_PUBLIC_URL: publicUrl } });
  running.push(service);
  proxy.retarget(service.peerPort);
  const token = await login(service);
  const { body } = await api<SitesList>(service, token, 'GET', '/api/v1/sites');
  return { service, proxy, name, publicUrl, id: body.self.id };
}

let a: E2eSite;
let b: E2eSite;

test.beforeAll(async () => {
  // A (the donor) first, so B's pre-join `admin` is the later one: the donor must not take it
  // (its console's session would end; test/integration/sites-join-donor.test.ts)
  a = await startSite('Lakeside Office', 'lakeside-admin-pass-1');
  b = await startSite('Hillcrest Branch', 'hillcrest-admin-pass-2');
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

async function openSites(browser: Browser, site: E2eSite): Promise<Page> {
  // taller than the console's 1280x800 target, so that a screenshot shows the whole page
  const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
  const page = await context.newPage();
  await signIn(page, site.service);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sites', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Sites' })).toBeVisible();
  return page;
}

/** A valid code that is not `code` (its first character moved along the alphabet). */
function wrongCode(code: string): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const first = code[0] ?? '0';
  return alphabet[(alphabet.indexOf(first) + 1) % alphabet.length] + code.slice(1);
}

const peerRow = (page: Page, peer: E2eSite) => page.getByTestId(`peer-${peer.id}`);

test('pair two sites from their sites pages, watch the link, unpair', async ({ browser }) => {
  const pageA = await openSites(browser, a);
  const pageB = await openSites(browser, b);
  const errorsA = watchErrors(pageA);
  const errorsB = watchErrors(pageB);

  await test.step("each page shows its own site: name, id in groups of eight, address", async () => {
    await expect(pageA.getByTestId('self-name')).toHaveText(a.name);
    await expect(pageA.getByTestId('self-id')).toHaveValue(displaySiteId(a.id));
    await expect(pageA.getByTestId('self-url')).toHaveValue(a.publicUrl);
    await expect(pageA.getByText('This site is not paired with another')).toBeVisible();
    await expect(pageB.getByTestId('self-name')).toHaveText(b.name);
    await expect(pageB.getByTestId('self-id')).toHaveValue(displaySiteId(b.id));
    await shot(pageA, 'sites-01-unpaired');
  });

  let code = '';
  await test.step('A shows a pairing code, counting down, with the tries and the address to enter', async () => {
    await pageA.getByRole('button', { name: 'Show a pairing code' }).click();
    const value = pageA.getByTestId('pairing-code-value');
    await expect(value).toHaveValue(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    code = await value.inputValue();
    await expect(pageA.getByTestId('pairing-code-url')).toHaveValue(a.publicUrl);
    await expect(pageA.getByTestId('pairing-code-tries')).toHaveText('Single use · void after 5 wrong tries');
    const countdown = pageA.getByTestId('pairing-code-countdown');
    await expect(countdown).toHaveText(/Expires in \d+:\d\d$/);
    const first = await countdown.textContent();
    await expect(countdown).not.toHaveText(first ?? '', { timeout: 5000 });
    await expect(pageA.getByRole('timer')).toHaveAttribute('aria-label', /^Expires in \d+ minutes?( \d+ seconds?)?$|^Expires in \d+ seconds?$/);
    await shot(pageA, 'sites-02-code-shown');
  });

  await test.step('B: an empty form says what is missing; a wrong code shows the refusal sentence at the code', async () => {
    const form = pageB.getByRole('form', { name: 'Pair with a site' });
    await form.getByRole('button', { name: 'Pair' }).click();
    await expect(form.getByText('Enter the address the other site shows')).toBeVisible();
    await expect(form.getByLabel('Address of the other site')).toBeFocused();
    await form.getByLabel('Address of the other site').fill(a.publicUrl);
    await form.getByLabel('Pairing code').fill(wrongCode(code).toLowerCase());
    await form.getByRole('button', { name: 'Pair' }).click();
    const refusal = form.getByRole('alert');
    await expect(refusal).toContainText('The sites were not paired');
    await expect(refusal).toContainText('The pairing code is wrong. 4 tries are left.');
    await expect(form.getByLabel('Pairing code')).toHaveAttribute('aria-invalid', 'true');
    await expect(form.getByLabel('Pairing code')).toBeFocused();
    await shot(pageB, 'sites-03-wrong-code');
    // an edit clears the refusal
    await form.getByLabel('Pairing code').fill('');
    await expect(refusal).toHaveCount(0);
  });

  await test.step("B pairs with the right code; its session ends and its admin logs in with the installation's password", async () => {
    const form = pageB.getByRole('form', { name: 'Pair with a site' });
    await form.getByLabel('Pairing code').fill(code);
    await form.getByRole('button', { name: 'Pair' }).click();
    await expect(pageB).toHaveURL(/\/login$/, { timeout: 30_000 });
    await expect(pageB.getByText(`This site joined the installation of ${a.name}`)).toBeVisible();
    await expect(pageB.getByText("Log in again with the installation's password")).toBeVisible();
    await shot(pageB, 'sites-04-session-ended');
    // B's own password is no longer the admin's: A's is
    await pageB.getByLabel('Password').fill(b.service.adminPassword);
    await pageB.getByLabel('Password').press('Enter');
    await expect(pageB.getByRole('alert')).toHaveText('The user name or password is not correct.');
    await pageB.getByLabel('Password').fill(a.service.adminPassword);
    await pageB.getByLabel('Password').press('Enter');
    // back to the page it was on
    await expect(pageB.getByRole('heading', { level: 1, name: 'Sites' })).toBeVisible();
  });

  await test.step('both pages show the other connected, with its round trip and lag; B its join, synced', async () => {
    const onB = peerRow(pageB, a);
    await expect(onB).toHaveAttribute('data-state', 'connected');
    await expect(onB).toContainText(a.name);

    await expect(onB.getByTestId('peer-rtt')).toHaveText(/^[\d.,]+ (ms|s)$/);
    await expect(onB.getByTestId('peer-lag')).toContainText(/\d+ entr(y|ies)/);
    await expect(onB.getByTestId('peer-join')).toHaveText('Synced', { timeout: 20_000 });
    await expect(onB.getByTestId('peer-error')).toHaveCount(0);

    // A's code was used by B: the card says so; A's table has B, live, without a reload
    await expect(pageA.getByTestId('pairing-code')).toContainText(`${b.name} paired with this site`);
    const onA = peerRow(pageA, b);
    await expect(onA).toHaveAttribute('data-state', 'connected');
    await expect(onA).toContainText('It joined this site');
    await expect(onA.getByTestId('peer-rtt')).toHaveText(/^[\d.,]+ (ms|s)$/);
    await expect(onA.getByTestId('peer-lag')).toContainText(/\d+ entr(y|ies)/);
    // the round trip is measured again and again: the value on screen changes
    const rtt = await onA.getByTestId('peer-rtt').textContent();
    await expect(onA.getByTestId('peer-rtt')).not.toHaveText(rtt ?? '', { timeout: 15_000 });
    await shot(pageA, 'sites-05-paired-on-a');
    await shot(pageB, 'sites-06-paired-on-b');
  });

  await test.step("both dashboards show each group's active instance on its site, by name, and the term when the status reports it", async () => {
    for (const [page, site] of [[pageB, b], [pageA, a]] as const) {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard', exact: true }).click();
      await expect(page.getByTestId('sites-summary')).toHaveText('1 paired site, 1 connected');
      const token = await login({ url: site.service.url, adminPassword: a.service.adminPassword });
      // the joined configuration: A's callstore1 stays the active instance of group 1; B's joined it as a standby
      const group = page.getByTestId('group-callstore-1');
      const election = group.getByTestId('group-election');
      await expect(election.getByTestId('group-active')).toHaveText('callstore1');
      await expect(election.getByTestId('group-active-site')).toHaveText(a.name);
      await expect(group.getByTestId('instance-callstore1')).toContainText(a.name);
      // B's own instance, kept under B's site with a new name, stands by in the same group
      const standby = group.getByRole('row').filter({ hasText: b.name });
      await expect(standby).toHaveCount(1);
      await expect(standby).toContainText('Standby');
      await expect(group.getByRole('row').filter({ hasText: `${site.name} (this site)` })).toHaveCount(1);
      const status = (await api<ServiceStatus>(site.service, token, 'GET', '/api/v1/status')).body;
      const reported = status.groups?.find((g) => g.roletype === 'callstore' && g.group === 1);
      if (reported) await expect(election.getByTestId('group-term')).toHaveText(/^term \d+$/);
      else await expect(election.getByTestId('group-term')).toHaveCount(0);
      await shot(page, site === a ? 'sites-11-dashboard-a' : 'sites-12-dashboard-b');
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sites', exact: true }).click();
      await expect(page.getByRole('heading', { level: 1, name: 'Sites' })).toBeVisible();
    }
  });

  await test.step('a cut link shows unreachable with the error on both pages, then connected again', async () => {
    a.proxy.cut();
    b.proxy.cut();
    await expect(peerRow(pageA, b)).toHaveAttribute('data-state', 'unreachable');
    await expect(peerRow(pageB, a)).toHaveAttribute('data-state', 'unreachable');
    await expect(peerRow(pageB, a).getByTestId('peer-error')).toContainText(/^Last error: .+/);
    await expect(peerRow(pageB, a).getByTestId('peer-rtt')).toHaveText('—');
    // said to a screen reader too (a polite live region)
    await expect(pageB.getByTestId('sites-announcement')).toContainText(`${a.name} is unreachable`);
    await shot(pageB, 'sites-07-unreachable');
    a.proxy.heal();
    b.proxy.heal();
    await expect(peerRow(pageA, b)).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
    await expect(peerRow(pageB, a)).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
  });

  await test.step('A unpairs B after a confirmation; A no longer lists it, B shows it refused', async () => {
    await pageA.getByTestId('pairing-code').getByRole('button', { name: 'Done' }).click();
    await peerRow(pageA, b).getByRole('button', { name: `Unpair ${b.name}` }).click();
    const dialog = pageA.getByRole('dialog', { name: `Unpair ${b.name}?` });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
    await shot(pageA, 'sites-08-unpair-confirm');
    await pageA.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    await expect(peerRow(pageA, b)).toBeVisible();

    await peerRow(pageA, b).getByRole('button', { name: `Unpair ${b.name}` }).click();
    await dialog.getByRole('button', { name: 'Unpair site' }).click();
    await expect(dialog).toBeHidden();
    await expect(pageA.getByText(`Unpaired ${b.name}.`)).toBeVisible();
    await expect(peerRow(pageA, b)).toHaveCount(0);
    await expect(pageA.getByText('This site is not paired with another')).toBeVisible();

    const onB = peerRow(pageB, a);
    await expect(onB).toHaveAttribute('data-state', 'refused');
    await expect(onB.getByTestId('peer-error')).toContainText(`Site ${a.name} unpaired this site`);
    await shot(pageA, 'sites-09-unpaired-on-a');
    await shot(pageB, 'sites-10-refused-on-b');

    // B unpairs too: its table is empty again
    await onB.getByRole('button', { name: `Unpair ${a.name}` }).click();
    await pageB.getByRole('dialog', { name: `Unpair ${a.name}?` }).getByRole('button', { name: 'Unpair site' }).click();
    await expect(peerRow(pageB, a)).toHaveCount(0);
  });

  expect(errorsA, errorsA.join('\n')).toEqual([]);
  expect(errorsB, errorsB.join('\n')).toEqual([]);
});
