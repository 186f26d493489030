/**
 * Voicemail metadata durability. Every change of a message's metadata is an entry of the change
 * log (SQLite, fsync'd on commit) before it is answered; the audio is fsync'd and renamed into
 * place before the entry is written. A power cut cannot be made here, so these tests check what
 * kill -9 can show and the ordering a power cut depends on:
 *
 * - every 201 of a deposit comes after the fsync of its audio file returned and its rename, observed
 *   from inside the real service process (test/support/vmail-fsync-probe.cjs records the process's
 *   fsyncs, renames and HTTP answers in the order they happen); SQLite's own fsync of the log is not
 *   visible there, so the entry is checked by killing the service right after the answers and
 *   reading the log: every answered deposit is in it, and after the restart in the listing;
 * - kill -9 right after the 2xx of each kind of change (deposit, move, read mark, soft delete,
 *   undelete, forward, purge) loses none of them;
 * - what the start-up check does with the state a crash between the audio and its log entry leaves
 *   (no 201 was sent): the audio is not deleted but quarantined, and an admin can restore it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChangeLogReader } from '../../service/storage/changelog/reader.js';
import { login, REPO_ROOT, startService, tempDir } from '../support/service.js';
import { filesUnder, makeWav, vmailClient, storeChecked } from '../support/vmail.js';

const DOMAIN = 'office.example';
const PROBE = join(REPO_ROOT, 'test', 'support', 'vmail-fsync-probe.cjs');

type ProbeEvent =
  | { seq: number; event: 'probe-ready' }
  | { seq: number; event: 'fsync-start'; path: string; size: number }
  | { seq: number; event: 'fsync-done'; path: string }
  | { seq: number; event: 'rename'; from: string; to: string }
  | { seq: number; event: 'response'; status: number; method: string; url: string; body: string };

function readProbe(file: string): ProbeEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ProbeEvent);
}

/** Starts the service with the probe loaded into its process. */
async function startProbed(dataDir?: string) {
  const logDir = tempDir('sitecall-probe-');
  const log = join(logDir, 'probe.ndjson');
  const service = await startService({
    ...(dataDir ? { dataDir } : {}),
    env: { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --require ${PROBE}`.trim(), SITECALL_TEST_FSYNC_LOG: log },
  });
  return { service, events: () => readProbe(log), cleanup: () => rmSync(logDir, { recursive: true, force: true }) };
}

describe('vmail metadata durability', () => {
  it('answers a deposit 201 only after its audio was fsync\'d and renamed into place', async () => {
    const { service, events, cleanup } = await startProbed();
    try {
      const client = vmailClient(service.url, await login(service));
      expect((await client.createMailbox({ number: '1001', name: 'Reception', maxMessages: 50 })).status).toBe(201);
      const concurrent = await Promise.all(Array.from({ length: 6 }, (_, i) => client.deposit('1001', makeWav(0.5), { callerNumber: `10${i}` })));
      const sequential = [];
      for (let i = 0; i < 3; i++) sequential.push(await client.deposit('1001', makeWav(0.5), { callerNumber: `20${i}` }));
      const ids = [...concurrent, ...sequential].map((r) => {
        expect(r.status).toBe(201);
        return r.body.id as string;
      });

      const log = events();
      const ready = log.find((e) => e.event === 'probe-ready');
      expect(ready).toBeDefined();
      const responses = log.filter((e): e is Extract<ProbeEvent, { event: 'response' }> => e.event === 'response' && e.method === 'POST' && e.status === 201 && /\/messages$/.test(e.url));
      expect(responses.map((r) => JSON.parse(r.body).id).sort()).toEqual([...ids].sort());
      const problems: string[] = [];
      for (const response of responses) {
        const id = JSON.parse(response.body).id as string;
        expect(response.seq).toBeGreaterThan(ready?.seq ?? Infinity);
        const rename = log.find((e): e is Extract<ProbeEvent, { event: 'rename' }> => e.event === 'rename' && basename(e.to) === `${id}.wav`);
        if (!rename || rename.seq > response.seq) {
          problems.push(`${id}: its audio was not renamed into place before the answer`);
          continue;
        }
        const synced = log.some((e) => e.event === 'fsync-done' && e.path === rename.from && e.seq < rename.seq);
        if (!synced) problems.push(`${id}: no fsync of its temp file ${rename.from} returned before the rename`);
        const dirSynced = log.some((e) => e.event === 'fsync-done' && e.path === dirname(rename.to) && e.seq > rename.seq && e.seq < response.seq);
        if (!dirSynced) problems.push(`${id}: its directory was not fsync'd between the rename and the answer`);
      }
      expect(problems).toEqual([]);
    } finally {
      await service.stop();
      cleanup();
    }
  });

  it('kill -9 right after the answers of concurrent deposits: every answered deposit is in the log and listed after the restart', async () => {
    const first = await startService();
    const client = vmailClient(first.url, await login(first));
    expect((await client.createMailbox({ number: '1001', name: 'Reception', maxMessages: 50 })).status).toBe(201);
    const answered: { id: string; wav: Buffer }[] = [];
    let killing: Promise<void> | undefined;
    await Promise.allSettled(
      Array.from({ length: 8 }, async (_, i) => {
        const wav = makeWav(0.5 + i / 10);
        const res = await client.deposit('1001', wav, { callerNumber: `30${i}` });
        if (res.status !== 201) return;
        answered.push({ id: res.body.id as string, wav });
        // the moment the third answer arrives, the service dies: whatever was answered must be there
        if (answered.length === 3) killing ??= first.kill();
      }),
    );
    await (killing ?? first.kill());
    expect(answered.length).toBeGreaterThanOrEqual(3);

    const reader = ChangeLogReader.open(join(first.dataDir, 'changelog.sqlite'));
    const logged = new Set(reader.since({}, 10_000).filter((e) => e.kind === 'vmail_messages').map((e) => e.key));
    reader.close();
    for (const a of answered) expect(logged.has(a.id), `${a.id} answered 201 and in the log`).toBe(true);

    const second = await startService({ dataDir: first.dataDir });
    await storeChecked(second);
    try {
      const b = vmailClient(second.url, await login(second));
      const listed = (await b.list('1001', '?limit=50')).body.items.map((m: { id: string }) => m.id) as string[];
      // what was answered is listed; what the log holds is listed; nothing else
      for (const a of answered) {
        expect(listed).toContain(a.id);
        expect((await b.audio('1001', a.id)).bytes.equals(a.wav)).toBe(true);
      }
      expect([...listed].sort()).toEqual([...logged].sort());
      expect(second.logs()).toMatch(/"missingAudio":0/);
    } finally {
      await second.stop();
    }
  });

  it('kill -9 right after the 2xx of each kind of change (messages, mailboxes, greetings, PIN guard) loses none of them', async () => {
    let svc = await startService();
    const dataDir = svc.dataDir;
    let c = vmailClient(svc.url, await login(svc));
    const restart = async () => {
      await svc.kill();
      svc = await startService({ dataDir });
      await storeChecked(svc);
      c = vmailClient(svc.url, await login(svc));
      expect(svc.logs()).toMatch(/voicemail metadata store attached to the change log/);
    };
    try {
      expect((await c.createMailbox({ number: '1001', name: 'Reception', pin: '2468' })).status).toBe(201);
      await restart();
      expect((await c.json('GET', '/1001')).body).toMatchObject({ name: 'Reception', hasPin: true });
      await c.createMailbox({ number: '1002', name: 'Sales' });
      expect((await c.json('PATCH', '/1002', { name: 'Sales desk', maxMessages: 7 })).status).toBe(200);
      await restart();
      expect((await c.json('GET', '/1002')).body).toMatchObject({ name: 'Sales desk', maxMessages: 7 });
      const greeting = makeWav(1, 'alaw');
      expect((await c.call('PUT', '/1002/greetings/busy', { body: new Uint8Array(greeting), headers: { 'content-type': 'audio/wav' } })).status).toBe(200);
      await restart();
      expect((await c.call('GET', '/1002/greetings/busy')).bytes.equals(greeting)).toBe(true);
      expect((await c.json('POST', '/1001/pin-check', { pin: '0000' })).status).toBe(401);
      await restart();
      expect((await c.json('POST', '/1001/pin-check', { pin: '0000' })).body.error.message).toMatch(/3 more wrong PINs/);
      const wav = makeWav(1);
      const deposit = await c.deposit('1001', wav, { callerNumber: '555', urgent: 'true' });
      expect(deposit.status).toBe(201);
      const id = deposit.body.id as string;
      await restart();
      expect((await c.message('1001', id)).body).toEqual(deposit.body);

      expect((await c.json('PATCH', `/1001/messages/${id}`, { read: true })).status).toBe(200);
      await restart();
      expect((await c.message('1001', id)).body.readAt).not.toBeNull();

      expect((await c.json('PATCH', `/1001/messages/${id}`, { folder: 'saved' })).status).toBe(200);
      await restart();
      expect((await c.message('1001', id)).body.folder).toBe('saved');

      expect((await c.json('DELETE', `/1001/messages/${id}`)).status).toBe(204);
      await restart();
      expect((await c.message('1001', id)).body).toMatchObject({ folder: 'deleted', deletedAt: expect.any(String) });

      expect((await c.json('POST', `/1001/messages/${id}/undelete`)).status).toBe(200);
      await restart();
      expect((await c.message('1001', id)).body).toMatchObject({ folder: 'saved', deletedAt: null });

      const forward = await c.json('POST', `/1001/messages/${id}/forward`, { mailbox: '1002' });
      expect(forward.status).toBe(201);
      await restart();
      expect((await c.message('1002', forward.body.id)).body).toEqual(forward.body);
      expect((await c.audio('1002', forward.body.id)).bytes.equals(wav)).toBe(true);
      expect((await c.json('GET', '/1002/mwi')).body).toEqual({ domain: DOMAIN, mailbox: '1002', new: 1, saved: 0, urgent: 1 });

      expect((await c.json('DELETE', `/1001/messages/${id}?purge=true`)).status).toBe(204);
      await restart();
      expect((await c.message('1001', id)).status).toBe(404);
      expect((await c.list('1001')).body).toMatchObject({ items: [], total: 0, counts: { new: 0, saved: 0, deleted: 0, urgent: 0 } });
      expect(svc.logs()).toMatch(/"tempFiles":0,"orphanFiles":0,"missingAudio":0/);

      // and every one of them is an entry of the log, in order
      await svc.stop({ keepData: true });
      const reader = ChangeLogReader.open(join(dataDir, 'changelog.sqlite'));
      const all = reader.since({}, 10_000);
      reader.close();
      const entries = all.filter((e) => e.kind === 'vmail_messages');
      // the mailboxes and the PIN guard too: created, created, patched, greeting set, two wrong PINs
      expect(all.filter((e) => e.kind === 'vmail_mailboxes').map((e) => (e.body as { name: string }).name)).toEqual(['Reception', 'Sales', 'Sales desk', 'Sales desk']);
      expect(all.filter((e) => e.kind === 'vmail_pin_guard').map((e) => (e.body as { failures: number }).failures)).toEqual([1, 2]);
      const summary = entries.map((e) => [e.key === id ? 'original' : 'copy', e.body === null ? 'purged' : (e.body as { folder: string; readAt: string | null }).folder]);
      expect(summary).toEqual([
        ['original', 'new'],
        ['original', 'new'],
        ['original', 'saved'],
        ['original', 'deleted'],
        ['original', 'saved'],
        ['copy', 'new'],
        ['original', 'purged'],
      ]);
    } finally {
      await svc.stop();
    }
  }, 120_000); // twelve restarts, each waiting for its store check, on a shared machine

  it('refuses bad input with a clear 4xx and writes nothing to the log', async () => {
    const svc = await startService();
    try {
      const c = vmailClient(svc.url, await login(svc));
      await c.createMailbox({ number: '1001', name: 'Reception' });
      const id = (await c.deposit('1001', makeWav(1))).body.id as string;
      const logFile = join(svc.dataDir, 'changelog.sqlite');
      const vmailEntries = () => {
        const reader = ChangeLogReader.open(logFile);
        try {
          return reader.since({}, 10_000).filter((e) => e.kind === 'vmail_messages').length;
        } finally {
          reader.close();
        }
      };
      const before = vmailEntries();
      const cases: [Promise<{ status: number; body: { error: { message: string; details?: { path: string }[] } } }>, number, RegExp, string?][] = [
        [c.json('PATCH', `/1001/messages/${id}`, { folder: 'trash' }), 400, /folder/, '/folder'],
        [c.json('PATCH', `/1001/messages/${id}`, { read: 'yes' }), 400, /read/, '/read'],
        [c.json('PATCH', '/1001/messages/not-a-uuid', { read: true }), 400, /id/],
        [c.json('PATCH', `/1001/messages/${randomUUID()}`, { read: true }), 404, /No message/],
        [c.json('POST', `/1001/messages/${id}/forward`, { mailbox: '1001' }), 400, /own mailbox/, '/mailbox'],
        [c.json('POST', `/1001/messages/${id}/forward`, { mailbox: '9999' }), 404, /No mailbox 9999/],
        [c.deposit('1001', makeWav(1), { callerNumber: 'x\u0007y' }), 400, /callerNumber/],
        [c.deposit('1001', Buffer.from('RIFF not a wav at all, sorry')), 400, /WAV|RIFF/],
      ];
      for (const [pending, status, message, path] of cases) {
        const res = await pending;
        expect(res.status).toBe(status);
        expect(res.body.error.message).toMatch(message);
        if (path) expect(res.body.error.details?.map((d) => d.path)).toContain(path);
      }
      expect(vmailEntries()).toBe(before);
      expect((await c.list('1001')).body.total).toBe(1);
    } finally {
      await svc.stop();
    }
  });

  it('quarantines, never deletes, the audio of a deposit that died before its log entry; an admin restores it', async () => {
    const first = await startService();
    const token = await login(first);
    const a = vmailClient(first.url, token);
    await a.createMailbox({ number: '1001', name: 'Reception' });
    const kept = await a.deposit('1001', makeWav(1), { callerNumber: '100' });
    expect(kept.status).toBe(201);
    await first.kill();
    // What a crash between the audio's rename (fsync'd, directory fsync'd) and the commit of its log
    // entry leaves: a whole audio file in the mailbox that no metadata points at. No 201 was sent.
    const wav = makeWav(2);
    const lost = { body: { id: randomUUID() } };
    writeFileSync(join(first.dataDir, 'vmail', DOMAIN, '1001', `${lost.body.id}.wav`), wav);

    const store = join(first.dataDir, 'vmail');
    const second = await startService({ dataDir: first.dataDir });
    await storeChecked(second);
    try {
      // the audio is still in the store, byte for byte, in the quarantine of its mailbox
      const holding = filesUnder(store).filter((f) => readFileSync(join(store, f)).equals(wav));
      expect(holding).toHaveLength(1);
      expect(second.logs()).toMatch(/moved an audio file that no metadata points at into the quarantine/);

      const admin = vmailClient(second.url, await login(second));
      expect((await admin.list('1001')).body.items.map((m: { id: string }) => m.id)).toEqual([kept.body.id]);
      const list = await admin.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`);
      expect(list.status).toBe(200);
      expect(list.body.total).toBe(1);
      const entry = list.body.items[0];
      expect(entry).toMatchObject({
        domain: DOMAIN,
        mailbox: '1001',
        found: 'message',
        reason: 'no_metadata',
        reasonText: expect.stringMatching(/no message points at/),
        fileName: `${lost.body.id}.wav`,
        size: wav.length,
        modifiedAt: expect.any(String),
        quarantinedAt: expect.any(String),
        audio: { durationMs: 2000, format: { encoding: 'pcm_s16le', sampleRate: 8000, channels: 1 } },
        problem: null,
      });
      expect(holding[0]).toBe(`.quarantine/${DOMAIN}/1001/${entry.id}.data`);
      expect(list.body.missingAudio).toEqual([]);

      // admin only, and checked input
      const vmailToken = (await admin.json('POST', `${second.url}/api/v1/tokens`, { name: 'media', scopes: ['vmail'] })).body.token;
      const media = vmailClient(second.url, vmailToken);
      expect((await media.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`)).status).toBe(403);
      expect((await media.json('POST', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${entry.id}/restore`, {})).status).toBe(403);
      expect((await media.json('DELETE', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${entry.id}`)).status).toBe(403);
      const badId = await admin.json('DELETE', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/..%2F..%2Fdb`);
      expect(badId.status).toBe(400);
      expect((await admin.json('DELETE', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/0b4c5a8e-3f1d-4c2b-9a77-1234567890ab`)).status).toBe(404);
      const unknownBox = await admin.json('POST', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${entry.id}/restore`, { mailbox: '9999' });
      expect(unknownBox.status).toBe(404);
      expect(unknownBox.body.error.message).toMatch(/No mailbox 9999/);
      expect((await admin.json('POST', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${entry.id}/restore`, { mailbox: '1001', extra: 1 })).status).toBe(400);

      const restored = await admin.json('POST', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${entry.id}/restore`, {});
      expect(restored.status).toBe(201);
      expect(restored.body).toMatchObject({ mailbox: '1001', folder: 'new', durationMs: 2000, createdAt: entry.modifiedAt, storage: { size: wav.length } });
      expect((await admin.audio('1001', restored.body.id)).bytes.equals(wav)).toBe(true);
      expect((await admin.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`)).body.items).toEqual([]);
      expect((await admin.json('POST', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${entry.id}/restore`, {})).status).toBe(404);
      expect(filesUnder(join(store, '.quarantine'))).toEqual([]);
    } finally {
      await second.stop({ keepData: true });
    }

    // the restored message is a message like any other: the next start finds nothing to repair
    const third = await startService({ dataDir: first.dataDir });
    await storeChecked(third);
    try {
      expect(third.logs()).toMatch(/"tempFiles":0,"orphanFiles":0,"missingAudio":0,"foundAudio":0,"danglingGreetings":0,"messages":2/);
    } finally {
      await third.stop();
      rmSync(resolve(first.dataDir, '..'), { recursive: true, force: true });
    }
  });
});
