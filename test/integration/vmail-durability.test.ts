/**
 * Voicemail metadata durability. A power cut cannot be made here, and kill -9 loses nothing that
 * reached the page cache, so these tests check the ordering a power cut depends on instead:
 *
 * - every 201 of a deposit comes after an fsync of the metadata file that covered the message's
 *   line, observed from inside the real service process (test/support/vmail-fsync-probe.cjs
 *   records the process's fsyncs, nedb's appends and the HTTP answers in the order they happen).
 *   It proves the service asks the kernel to flush the metadata, and waits for it, before it
 *   answers. It cannot prove that the disk keeps what the kernel reports flushed (write caches,
 *   mount options), and it does not see a compaction in the middle of a deposit (nedb compacts
 *   only at load and at shutdown; service/vmail/datafile-sync.ts says why that case holds).
 * - what the start-up check does with the state an unsynced power cut leaves: the metadata file cut
 *   back to its size before a deposit while the deposit's audio (fsync'd, renamed, directory
 *   fsync'd) stays. The audio must not be deleted but quarantined, and an admin can restore it.
 *   The same state is also what a crash between the audio and its metadata leaves (no 201 sent).
 */
import { readFileSync, realpathSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { login, REPO_ROOT, startService, tempDir } from '../support/service.js';
import { filesUnder, makeWav, vmailClient } from '../support/vmail.js';

const DOMAIN = 'office.example';
const PROBE = join(REPO_ROOT, 'test', 'support', 'vmail-fsync-probe.cjs');

type ProbeEvent =
  | { seq: number; event: 'probe-ready' }
  | { seq: number; event: 'fsync-start'; path: string; size: number }
  | { seq: number; event: 'fsync-done'; path: string }
  | { seq: number; event: 'append'; path: string; sizeAfter: number; data: string }
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
  it('answers a deposit 201 only after the fsync that covers its metadata has returned', async () => {
    const { service, events, cleanup } = await startProbed();
    try {
      const client = vmailClient(service.url, await login(service));
      expect((await client.createMailbox({ number: '1001', name: 'Reception', maxMessages: 50 })).status).toBe(201);
      // concurrent deposits (their fsyncs are shared) and one after another
      const concurrent = await Promise.all(Array.from({ length: 8 }, (_, i) => client.deposit('1001', makeWav(0.5), { callerNumber: `10${i}` })));
      const sequential = [];
      for (let i = 0; i < 3; i++) sequential.push(await client.deposit('1001', makeWav(0.5), { callerNumber: `20${i}` }));
      const ids = [...concurrent, ...sequential].map((r) => {
        expect(r.status).toBe(201);
        return r.body.id as string;
      });

      const metadataFile = realpathSync(join(service.dataDir, 'db', 'vmail_messages.db'));
      const log = events();
      const ready = log.find((e) => e.event === 'probe-ready');
      expect(ready).toBeDefined();
      const responses = log.filter((e): e is Extract<ProbeEvent, { event: 'response' }> => e.event === 'response' && e.method === 'POST' && e.status === 201 && /\/messages$/.test(e.url));
      expect(responses.map((r) => JSON.parse(r.body).id).sort()).toEqual([...ids].sort());

      const problems: string[] = [];
      for (const response of responses) {
        const id = JSON.parse(response.body).id as string;
        expect(response.seq).toBeGreaterThan(ready?.seq ?? Infinity);
        const append = log.find((e): e is Extract<ProbeEvent, { event: 'append' }> => e.event === 'append' && resolve(e.path) === metadataFile && e.data.includes(`"_id":"${id}"`));
        if (!append || append.seq > response.seq) {
          problems.push(`${id}: its metadata was not appended before the answer`);
          continue;
        }
        // an fsync of the file, started after the append with the line in it, that returned before the answer
        const covering = log.filter((e): e is Extract<ProbeEvent, { event: 'fsync-start' }> => e.event === 'fsync-start' && e.path === metadataFile && e.seq > append.seq && e.seq < response.seq && e.size >= append.sizeAfter);
        const returned = covering.some((start) => log.some((e) => e.event === 'fsync-done' && e.path === metadataFile && e.seq > start.seq && e.seq < response.seq));
        if (!returned) problems.push(`${id}: answered 201 (event ${response.seq}) with no fsync of ${metadataFile} covering its line (appended at event ${append.seq}) returned before`);
      }
      expect(problems).toEqual([]);
    } finally {
      await service.stop();
      cleanup();
    }
  });

  it('quarantines, never deletes, the audio of a deposit whose metadata a power cut took; an admin restores it', async () => {
    const first = await startService();
    const token = await login(first);
    const a = vmailClient(first.url, token);
    await a.createMailbox({ number: '1001', name: 'Reception' });
    const kept = await a.deposit('1001', makeWav(1), { callerNumber: '100' });
    expect(kept.status).toBe(201);
    const metadataFile = join(first.dataDir, 'db', 'vmail_messages.db');
    const sizeBefore = statSync(metadataFile).size;
    const wav = makeWav(2);
    const lost = await a.deposit('1001', wav, { callerNumber: '555' });
    expect(lost.status).toBe(201);
    await first.kill();
    // What the page cache held and a power cut would drop without the fsync: the line of the second message.
    expect(readFileSync(metadataFile, 'utf8').slice(sizeBefore)).toContain(lost.body.id);
    truncateSync(metadataFile, sizeBefore);

    const store = join(first.dataDir, 'vmail');
    const second = await startService({ dataDir: first.dataDir });
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
    try {
      expect(third.logs()).toMatch(/"tempFiles":0,"orphanFiles":0,"missingAudio":0,"foundAudio":0,"danglingGreetings":0,"messages":2/);
    } finally {
      await third.stop();
      rmSync(resolve(first.dataDir, '..'), { recursive: true, force: true });
    }
  });
});
