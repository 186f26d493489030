/**
 * The Voicemail page against the real service: a vmail group for office.example, two mailboxes
 * and messages deposited through the API (WAVs made here: a 440 Hz tone, 8 kHz 16-bit PCM mono).
 * A person opens a message, plays it (the audio element's current time advances), it is marked
 * read, moves it to Saved; a new message arrives live; greetings, settings, new mailbox, forward;
 * after a restart, the quarantine of what the start-up check could not match.
 * Screenshots: test/artifacts/screenshots/vm-*.png.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import type { Mailbox, Message, MessageList } from '../../shared/api/vmail.js';
import { cs, vm } from '../support/config-cases.js';
import { login, REPO_ROOT, startService, type RunningTestService } from '../support/service.js';

const DOMAIN = 'office.example';
const SHOTS = join(REPO_ROOT, 'test', 'artifacts', 'screenshots');

let service: RunningTestService;
let admin: string;
/** data directories of restarted services, removed at the end */
const keptDirs: string[] = [];

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

/** Exceptions and console errors (a CSP refusal is one), except the browser's note on a 4xx/5xx. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** `seconds` of a sine tone as a WAV: 8 kHz, 16-bit PCM, mono. */
function toneWav(seconds: number, hz = 440): Buffer {
  const rate = 8000;
  const samples = Math.round(seconds * rate);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 8000), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

async function deposit(box: string, seconds: number, fields: Record<string, string>): Promise<Message> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('audio', new Blob([new Uint8Array(toneWav(seconds))], { type: 'audio/wav' }), 'message.wav');
  const res = await fetch(`${service.url}/api/v1/domains/${DOMAIN}/mailboxes/${box}/messages`, { method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: form });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`deposit answered ${res.status}: ${text}`);
  return JSON.parse(text) as Message;
}

test.beforeAll(async () => {
  service = await startService({ env: { SITECALL_SITE_NAME: 'Voicemail Office' } });
  admin = await login(service);
  const config = await api<{ revision: number }>('GET', '/api/v1/config/roles');
  await api('PUT', '/api/v1/config/roles', { revision: config.revision, instances: [cs(), vm({ include_domains: [DOMAIN] })] });
  // The vmail instance starts after the save: wait until it answers.
  await expect
    .poll(async () => (await fetch(`${service.url}/api/v1/domains/${DOMAIN}/mailboxes`, { headers: { Authorization: `Bearer ${admin}` } })).status, { timeout: 15_000 })
    .toBe(200);
  await api<Mailbox>('POST', `/api/v1/domains/${DOMAIN}/mailboxes`, { number: '1001', name: 'Front desk', email: 'frontdesk@office.example', pin: '2468', notify: 'attach' });
  await api<Mailbox>('POST', `/api/v1/domains/${DOMAIN}/mailboxes`, { number: '1002', name: 'Sales team' });
  await api<Mailbox>('POST', `/api/v1/domains/${DOMAIN}/mailboxes`, { number: '1003', name: 'Workshop' });
  await deposit('1001', 5, { callerNumber: '+15550111', callId: 'e2e-3@pbx' });
  await deposit('1001', 2, { callerNumber: '+15550123', callerName: 'Bob Urgent', callId: 'e2e-2@pbx', urgent: 'true' });
  await deposit('1001', 8, { callerNumber: '+15550100', callerName: 'Ann Caller', callId: 'e2e-1@pbx' });
  await deposit('1002', 4, { callerNumber: '+15550199', callerName: 'Carla Client' });
});

test.afterAll(async () => {
  await service?.stop();
  for (const dir of keptDirs) rmSync(resolve(dir, '..'), { recursive: true, force: true });
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus && service) {
    await testInfo.attach('service.log', { body: service.logs(), contentType: 'text/plain' });
  }
});

test.use({ timezoneId: 'Europe/Berlin' });

async function signIn(page: Page): Promise<void> {
  await page.goto(`${service.url}/login`);
  await page.getByLabel('Password').fill(service.adminPassword);
  await page.getByLabel('Password').press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
}

test('open a message, play it, move it to saved; live counts, greetings, settings, forward', async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page);

  await test.step('the page opens the configured domain and its first mailbox', async () => {
    const link = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Voicemail' });
    await expect(link).not.toContainText('soon');
    await link.click();
    await expect(page.getByRole('heading', { level: 1, name: 'Voicemail' })).toBeVisible();
    await expect(page).toHaveURL(new RegExp(`/voicemail/${DOMAIN.replace('.', '\\.')}/1001$`));
    await expect(page.getByTestId('vm-domain')).toHaveValue(DOMAIN);
    await expect(page.getByTestId('vm-box-1001')).toContainText('3 new');
    await expect(page.getByTestId('vm-box-1002')).toContainText('1 new');
    await expect(page.getByTestId('vm-box-1003')).not.toContainText('new');
    await expect(page.getByTestId('vm-message')).toHaveCount(3);
    await expect(page.getByTestId('vm-folder-new')).toContainText('3');
    await expect(page.getByTestId('vm-live')).toHaveText('Live');
    // newest first; the unnamed caller shows the number
    await expect(page.getByTestId('vm-message').nth(0)).toContainText('Ann Caller');
    await expect(page.getByTestId('vm-message').nth(2)).toContainText('+15550111');
    await expect(page.getByTestId('vm-message').nth(1).getByRole('img', { name: 'Urgent' })).toBeVisible();
    await shot(page, 'vm-01-mailbox');
  });

  await test.step('open the message and play it: the audio time advances and it is marked read', async () => {
    await page.getByTestId('vm-message').filter({ hasText: 'Ann Caller' }).click();
    const detail = page.getByTestId('vm-detail');
    await expect(detail.getByRole('heading', { name: /Ann Caller/ })).toBeVisible();
    await expect(detail).toContainText('+15550100');
    await expect(detail).toContainText('Unread');
    await expect(page.getByTestId('vm-time')).toHaveText('0:00.0 / 0:08.0');
    await shot(page, 'vm-02-message');

    await page.getByRole('button', { name: 'Play the message from Ann Caller' }).click();
    const audio = page.getByTestId('vm-audio');
    await expect(audio).toHaveAttribute('src', /^blob:/);
    // The time shown beside the bar follows the bar (it stayed at 0:00 while the bar moved on): the
    // player is read at every frame until the bar passes 1.2 s, each frame's text against its bar.
    const frames = await page.getByTestId('vm-detail').getByTestId('vm-player').evaluate(
      (player) =>
        new Promise<{ bar: number; text: string }[]>((resolve, reject) => {
          const seen: { bar: number; text: string }[] = [];
          const deadline = performance.now() + 10_000;
          const frame = () => {
            const bar = Number((player.querySelector('[data-testid="vm-seek"]') as HTMLInputElement).value);
            const text = player.querySelector('[data-testid="vm-time"]')?.textContent ?? '';
            const audioEl = player.querySelector('audio');
            if (audioEl && !audioEl.paused) seen.push({ bar, text });
            if (bar >= 1.2) resolve(seen);
            else if (performance.now() > deadline) reject(new Error(`the bar did not pass 1.2 s within 10 s: ${JSON.stringify(seen.slice(-3))}`));
            else requestAnimationFrame(frame);
          };
          frame();
        }),
    );
    const shownSeconds = (text: string) => {
      const m = /^(\d+):(\d{2})(?:\.(\d))? \/ 0:08(?:\.0)?$/.exec(text);
      return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3] ?? 0) / 10 : Number.NaN;
    };
    const disagreeing = frames.filter((f) => !(Math.abs(shownSeconds(f.text) - f.bar) < 0.15));
    expect(disagreeing.slice(0, 5)).toEqual([]);
    expect(new Set(frames.map((f) => f.text)).size).toBeGreaterThanOrEqual(5);
    await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.currentTime), { timeout: 10_000 }).toBeGreaterThan(0.8);
    const state = await audio.evaluate((a: HTMLAudioElement) => ({ paused: a.paused, duration: a.duration, error: a.error?.code ?? null }));
    expect(state).toEqual({ paused: false, duration: 8, error: null });
    await expect(page.getByRole('button', { name: 'Pause the message from Ann Caller' })).toBeVisible();
    // the seek bar follows
    await expect.poll(async () => Number(await page.getByTestId('vm-seek').inputValue())).toBeGreaterThan(0.8);
    await expect(detail).not.toContainText('Unread');
    await shot(page, 'vm-03-playing');

    // seeking moves the audio
    await page.getByRole('button', { name: 'Pause the message from Ann Caller' }).click();
    await page.getByTestId('vm-seek').fill('2.5');
    await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.currentTime)).toBeCloseTo(2.5, 1);
    await expect(page.getByTestId('vm-time')).toHaveText('0:02.5 / 0:08.0');
  });

  await test.step('move it to saved', async () => {
    await page.getByTestId('vm-move-saved').click();
    await expect(page.getByText('The message from Ann Caller was moved to Saved.')).toBeVisible();
    await expect(page.getByTestId('vm-message')).toHaveCount(2);
    await expect(page.getByTestId('vm-folder-new')).toContainText('2');
    await expect(page.getByTestId('vm-folder-saved')).toContainText('1');
    await expect(page.getByTestId('vm-box-1001')).toContainText('2 new');
    await page.getByTestId('vm-folder-saved').click();
    await expect(page.getByTestId('vm-message')).toHaveCount(1);
    await expect(page.getByTestId('vm-message')).toContainText('Ann Caller');
    const saved = await api<MessageList>('GET', `/api/v1/domains/${DOMAIN}/mailboxes/1001/messages?folder=saved`);
    expect(saved.items.map((m) => [m.callerName, m.folder, m.readAt !== null])).toEqual([['Ann Caller', 'saved', true]]);
    await page.getByTestId('vm-message').click();
    await expect(page.getByTestId('vm-detail').getByRole('button', { name: 'Move to new' })).toBeVisible();
    await shot(page, 'vm-04-saved');
  });

  await test.step('a new message arrives: the counts change live', async () => {
    await deposit('1002', 2, { callerNumber: '+15550222', callerName: 'Dan Live' });
    await expect(page.getByTestId('vm-box-1002')).toContainText('2 new');
    await deposit('1001', 2, { callerNumber: '+15550333', callerName: 'Eve Live' });
    await expect(page.getByTestId('vm-box-1001')).toContainText('3 new');
    await page.getByTestId('vm-folder-new').click();
    await expect(page.getByTestId('vm-message').first()).toContainText('Eve Live');
  });

  await test.step('forward a message to another mailbox', async () => {
    await page.getByTestId('vm-message').filter({ hasText: 'Bob Urgent' }).click();
    await page.getByRole('button', { name: 'Forward…' }).click();
    const dialog = page.getByTestId('vm-forward-dialog');
    await expect(dialog).toBeVisible();
    await dialog.getByLabel('Mailbox').selectOption('1003');
    await shot(page, 'vm-05-forward');
    await dialog.getByRole('button', { name: 'Forward' }).click();
    await expect(page.getByText('was forwarded to 1003 · Workshop')).toBeVisible();
    await expect(page.getByTestId('vm-box-1003')).toContainText('1 new');
  });

  await test.step('delete and undelete', async () => {
    await page.getByTestId('vm-detail').getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByText('The message from Bob Urgent was moved to Deleted.')).toBeVisible();
    await page.getByTestId('vm-folder-deleted').click();
    await expect(page.getByTestId('vm-message')).toHaveCount(1);
    await page.getByTestId('vm-message').click();
    await expect(page.getByRole('button', { name: 'Delete for good…' })).toBeVisible();
    await shot(page, 'vm-06-deleted');
    await page.getByRole('button', { name: 'Undelete' }).click();
    await expect(page.getByText('The message from Bob Urgent was moved to New.')).toBeVisible();
    await expect(page.getByTestId('vm-folder-deleted')).toContainText('0');
    await expect(page.getByText('Nothing deleted')).toBeVisible();
  });

  await test.step('greetings: upload one, it plays and is active', async () => {
    await page.getByTestId('vm-tab-greetings').click();
    await expect(page.getByTestId('vm-greeting-unavailable')).toContainText('Not set: the system greeting plays');
    await page.getByTestId('vm-greeting-file-unavailable').setInputFiles({ name: 'greeting.wav', mimeType: 'audio/wav', buffer: toneWav(2, 660) });
    await expect(page.getByTestId('vm-greeting-unavailable')).toContainText('Active');
    await page.getByTestId('vm-greeting-file-temporary').setInputFiles({ name: 'temporary.wav', mimeType: 'audio/wav', buffer: toneWav(1, 550) });
    await expect(page.getByTestId('vm-greeting-temporary')).toContainText('Active: overrides the others');
    await expect(page.getByTestId('vm-greeting-unavailable')).toContainText('overridden by temporary');
    // a file that is not a WAV is refused with the service's reason
    await page.getByTestId('vm-greeting-file-busy').setInputFiles({ name: 'notes.wav', mimeType: 'audio/wav', buffer: Buffer.from('this is not a wav file at all') });
    await expect(page.getByTestId('vm-greeting-busy').getByRole('alert')).toContainText('The greeting was not saved');
    await page.getByRole('button', { name: 'Play the unavailable greeting' }).click();
    const audio = page.getByTestId('vm-greeting-unavailable').getByTestId('vm-audio');
    await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.currentTime), { timeout: 10_000 }).toBeGreaterThan(0.3);
    await shot(page, 'vm-07-greetings');
  });

  await test.step('settings: change the name and remove the PIN', async () => {
    await page.getByTestId('vm-tab-settings').click();
    await expect(page.getByText('A PIN is set')).toBeVisible();
    await shot(page, 'vm-08-settings');
    await page.getByLabel('Name').fill('Front desk (reception)');
    await page.getByLabel('Remove the PIN').check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Saved' })).toBeVisible();
    await expect(page.getByTestId('vm-box-1001')).toContainText('Front desk (reception)');
    await expect(page.getByText('No PIN is set')).toBeVisible();
    const box = await api<Mailbox>('GET', `/api/v1/domains/${DOMAIN}/mailboxes/1001`);
    expect([box.name, box.hasPin]).toEqual(['Front desk (reception)', false]);
  });

  await test.step('a new mailbox', async () => {
    await page.getByTestId('vm-new-mailbox-button').click();
    const dialog = page.getByTestId('vm-new-mailbox');
    await expect(dialog).toBeVisible();
    await dialog.getByRole('button', { name: 'Create mailbox' }).click();
    await expect(dialog).toContainText('Letters, digits, _ and -');
    await dialog.getByLabel('Number').fill('1001');
    await dialog.getByLabel('Name').fill('Duplicate');
    await dialog.getByRole('button', { name: 'Create mailbox' }).click();
    await expect(dialog.getByRole('alert')).toBeVisible();
    await shot(page, 'vm-09-new-mailbox-error');
    await dialog.getByLabel('Number').fill('2001');
    await dialog.getByLabel('Name').fill('Warehouse');
    await dialog.getByRole('button', { name: 'Create mailbox' }).click();
    await expect(dialog).toBeHidden();
    await expect(page).toHaveURL(/\/voicemail\/office\.example\/2001$/);
    await expect(page.getByText('No new messages')).toBeVisible();
    await shot(page, 'vm-10-empty-mailbox');
  });

  await test.step('a domain no vmail group serves', async () => {
    await page.getByTestId('vm-domain').selectOption('Another domain…');
    await page.getByLabel('Domain').fill('elsewhere.example');
    await page.getByLabel('Domain').press('Enter');
    await expect(page.getByText('No voicemail service for elsewhere.example')).toBeVisible();
    await shot(page, 'vm-11-unserved-domain');
  });

  expect(errors).toEqual([]);
});

test('the quarantine: what the start-up check could not match is listed, restored as a message or deleted', async ({ page }) => {
  const errors = watchErrors(page);
  // What a crash leaves, made while the service is down: a whole recording no message points at
  // (its metadata lost), and the temp file of an upload that never finished.
  const dataDir = service.dataDir;
  expect(await service.stop({ keepData: true })).toBe(0);
  keptDirs.push(dataDir);
  const orphanWav = toneWav(3, 330);
  const orphanName = `${randomUUID()}.wav`;
  writeFileSync(join(dataDir, 'vmail', DOMAIN, '1001', orphanName), orphanWav);
  mkdirSync(join(dataDir, 'vmail', DOMAIN, '1002'), { recursive: true });
  writeFileSync(join(dataDir, 'vmail', DOMAIN, '1002', `.${randomUUID()}.1a2b3c4d.tmp`), toneWav(4).subarray(0, 20_000));
  service = await startService({ dataDir, env: { SITECALL_SITE_NAME: 'Voicemail Office' } });
  admin = await login(service);
  // the store check runs after the service listens: /healthz says when it is done
  await expect
    .poll(async () => ((await (await fetch(`${service.url}/healthz`)).json()) as { tasks?: { task: string; state: string }[] }).tasks?.find((t) => t.task === 'store check')?.state, { timeout: 30_000 })
    .toBe('done');

  await signIn(page);
  await page.goto(`${service.url}/voicemail/${DOMAIN}/1001`);
  const link = page.getByTestId('vm-quarantine-link');
  await expect(link).toContainText('2');
  await link.click();
  await expect(page).toHaveURL(new RegExp(`/voicemail/${DOMAIN.replace('.', '\\.')}\\?view=quarantine$`));
  const panel = page.getByTestId('vm-quarantine');
  await expect(panel.getByRole('heading', { level: 2, name: 'Quarantine' })).toBeVisible();
  const entries = panel.getByTestId('vm-quarantine-entry');
  await expect(entries).toHaveCount(2);
  const orphan = entries.filter({ hasText: orphanName });
  await expect(orphan).toContainText('Not recorded');
  await expect(orphan).toContainText('Found among the messages of mailbox 1001');
  await expect(orphan).toContainText('A recording of 0:03, 16-bit PCM, 8 kHz, mono');
  const partial = entries.filter({ hasText: 'Unfinished write' });
  await expect(partial).toContainText('Found among the messages of mailbox 1002');
  await expect(partial).toContainText('Not a recording that can be restored');
  await expect(partial.getByRole('button', { name: /^Restore/ })).toBeDisabled();
  await shot(page, 'vm-12-quarantine');

  await test.step('restore the recording into the mailbox it was found in', async () => {
    await orphan.getByRole('button', { name: `Restore ${orphanName} as a message` }).click();
    const dialog = page.getByTestId('vm-restore-dialog');
    await expect(dialog).toBeVisible();
    await expect(dialog.getByLabel('Mailbox')).toHaveValue('1001');
    await shot(page, 'vm-13-quarantine-restore');
    await dialog.getByRole('button', { name: 'Restore' }).click();
    await expect(page.getByText(new RegExp(`${orphanName} was restored as a new message of 1001 · Front desk`))).toBeVisible();
    await expect(entries).toHaveCount(1);
    const inbox = await api<MessageList>('GET', `/api/v1/domains/${DOMAIN}/mailboxes/1001/messages?folder=new&limit=500`);
    const restored = inbox.items.filter((m) => m.callerNumber === null && m.durationMs === 3000);
    expect(restored).toHaveLength(1);
    const audio = await fetch(`${service.url}/api/v1/domains/${DOMAIN}/mailboxes/1001/messages/${restored[0]?.id}/audio`, { headers: { Authorization: `Bearer ${admin}` } });
    expect(Buffer.from(await audio.arrayBuffer()).equals(orphanWav)).toBe(true);
  });

  await test.step('delete the unfinished write for good', async () => {
    await partial.getByRole('button', { name: /for good$/ }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete this file for good?' });
    await expect(confirm).toBeVisible();
    await confirm.getByRole('button', { name: 'Delete for good' }).click();
    await expect(page.getByText(/\.tmp was deleted for good\./)).toBeVisible();
    await expect(page.getByText('Nothing in quarantine')).toBeVisible();
    await expect(link).toContainText('empty');
    const left = await api<{ items: unknown[] }>('GET', `/api/v1/domains/${DOMAIN}/quarantine`);
    expect(left.items).toEqual([]);
  });

  await test.step('back to a mailbox', async () => {
    await page.getByTestId('vm-box-1001').click();
    await expect(page).toHaveURL(new RegExp(`/voicemail/${DOMAIN.replace('.', '\\.')}/1001$`));
    await expect(page.getByTestId('vm-message').first()).toBeVisible();
  });

  expect(errors).toEqual([]);
});
