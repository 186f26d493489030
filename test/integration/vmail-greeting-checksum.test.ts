/**
 * The SHA-256 of a greeting: taken while the upload streams in and kept in the mailbox's
 * metadata (its change-log entry), compared with the file by playback and by the start-up store
 * check, as a message's is. The damage is real: a byte of the stored file is changed on disk
 * (its size and name kept) in a real data directory, as a failing disk or a hand edit leaves it.
 * A damaged greeting is moved into the quarantine (reason checksum_mismatch) and marked
 * audioMissing: never played, never chosen for a caller, kept in sight until it is uploaded again.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChangeLogReader } from '../../service/storage/changelog/reader.js';
import { login, startService } from '../support/service.js';
import { filesUnder, makeWav, storeChecked, vmailClient } from '../support/vmail.js';

const DOMAIN = 'office.example';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Changes one byte in the middle of a file, keeping its size and name. */
function damage(file: string): void {
  const bytes = readFileSync(file);
  const fd = openSync(file, 'r+');
  const at = Math.floor(bytes.length / 2);
  writeSync(fd, Buffer.from([(bytes[at] as number) ^ 0xff]), 0, 1, at);
  closeSync(fd);
}

describe('vmail greeting checksums', () => {
  it('playback and the store check quarantine a greeting whose file no longer matches its SHA-256 and mark it; an upload replaces it', async () => {
    const first = await startService();
    const dataDir = first.dataDir;
    const store = join(dataDir, 'vmail');
    const busy = makeWav(0.5);
    const unavailable = makeWav(0.5);
    const temporary = makeWav(0.5);
    let unavailableKey: string;
    try {
      await storeChecked(first);
      const c = vmailClient(first.url, await login(first));
      expect((await c.createMailbox({ number: '1001', name: 'Reception' })).status).toBe(201);
      const put = async (kind: string, wav: Buffer) => c.call('PUT', `/1001/greetings/${kind}`, { body: new Uint8Array(wav), headers: { 'content-type': 'audio/wav' } });
      const stored = { busy: await put('busy', busy), unavailable: await put('unavailable', unavailable), temporary: await put('temporary', temporary) };
      for (const [kind, wav] of [['busy', busy], ['unavailable', unavailable], ['temporary', temporary]] as const) {
        expect(stored[kind].status).toBe(200);
        expect(stored[kind].body.storage.sha256).toBe(sha256(wav));
        expect(stored[kind].body.audioMissing).toBe(false);
      }
      unavailableKey = stored.unavailable.body.storage.key as string;
      expect((await c.call('GET', '/1001/greetings/busy')).bytes.equals(busy)).toBe(true);

      // playback of a greeting damaged while the service runs: refused, quarantined, the greeting marked
      damage(join(store, stored.busy.body.storage.key));
      const refused = await c.call('GET', '/1001/greetings/busy');
      expect(refused.status).toBe(404);
      expect(refused.body.error.message).toMatch(/busy greeting of mailbox 1001 does not match the SHA-256/);
      const again = await c.call('GET', '/1001/greetings/busy');
      expect(again.status).toBe(404);
      expect(again.body.error.message).toMatch(/upload it again/);
      const mailbox = (await c.json('GET', '/1001')).body;
      expect(mailbox.greetings.busy).toMatchObject({ kind: 'busy', audioMissing: true, storage: { sha256: sha256(busy) } });
      expect(mailbox.greetings.unavailable.audioMissing).toBe(false);
      const q = await c.json('GET', `${first.url}/api/v1/domains/${DOMAIN}/quarantine`);
      expect(q.body.items).toHaveLength(1);
      expect(q.body.items[0]).toMatchObject({ reason: 'checksum_mismatch', found: 'greeting', fileName: (stored.busy.body.storage.key as string).split('/').at(-1), size: busy.length });
      expect(q.body.items[0].reasonText).toMatch(/greeting/);
      // the temporary greeting still overrides; without it a marked greeting is never chosen
      expect((await c.json('GET', '/1001/greeting?for=busy')).body.kind).toBe('temporary');
      expect((await c.json('DELETE', '/1001/greetings/temporary')).status).toBe(204);
      const choice = await c.json('GET', '/1001/greeting?for=busy');
      expect(choice.status).toBe(404);
      expect(choice.body.error.message).toMatch(/system greeting/);
      expect((await c.json('GET', '/1001/greeting?for=unavailable')).body.kind).toBe('unavailable');

      // a greeting file cut short (no longer a whole WAV): refused the same way, kept in the quarantine as it is
      const name = makeWav(0.5);
      const named = await put('name', name);
      const namePath = join(store, named.body.storage.key);
      truncateSync(namePath, 100);
      const cut = await c.call('GET', '/1001/greetings/name');
      expect(cut.status).toBe(404);
      expect(cut.body.error.message).toMatch(/name greeting of mailbox 1001 does not match/);
      const entries = (await c.json('GET', `${first.url}/api/v1/domains/${DOMAIN}/quarantine`)).body.items as { found: string; size: number; audio: unknown; problem: string | null }[];
      expect(entries.find((e) => e.size === 100)).toMatchObject({ found: 'greeting', audio: null, problem: expect.any(String) });
      expect((await c.json('DELETE', '/1001/greetings/name')).status).toBe(204);
    } finally {
      expect(await first.stop({ keepData: true })).toBe(0);
    }
    const reader = ChangeLogReader.open(join(dataDir, 'changelog.sqlite'));
    const last = reader.since({}, 10_000).filter((e) => e.kind === 'vmail_mailboxes' && e.key === `${DOMAIN}/1001`).at(-1);
    reader.close();
    expect((last?.body as { greetings: { busy: { audioMissing?: boolean } } }).greetings.busy.audioMissing).toBe(true);

    // damaged while the service is down: the store check finds it at the next start
    damage(join(store, unavailableKey));
    const second = await startService({ dataDir });
    try {
      await storeChecked(second);
      const c = vmailClient(second.url, await login(second));
      expect(second.logs()).toMatch(/a greeting does not match its SHA-256/);
      expect(second.logs()).toMatch(/"damagedGreetings":1,"verifiedGreetings":1/);
      const health = (await (await fetch(`${second.url}/healthz`)).json()) as { tasks: { task: string; state: string; message: string }[] };
      expect(health.tasks.find((t) => t.task === 'store check')).toMatchObject({ state: 'done', message: expect.stringMatching(/1 damaged greetings? quarantined/) });
      const mailbox = (await c.json('GET', '/1001')).body;
      // the greeting marked at playback stays marked (it is not taken for a dangling one and unset)
      expect(mailbox.greetings).toMatchObject({ busy: { audioMissing: true }, unavailable: { audioMissing: true }, temporary: null });
      expect((await c.call('GET', '/1001/greetings/unavailable')).status).toBe(404);
      expect((await c.json('GET', '/1001/greeting?for=unavailable')).status).toBe(404);
      const q = await c.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`);
      expect(q.body.items.map((e: { reason: string; found: string }) => `${e.reason} ${e.found}`)).toEqual(['checksum_mismatch greeting', 'checksum_mismatch greeting', 'checksum_mismatch greeting']);
      // moved, not deleted: the damaged bytes are in the quarantine, no greeting file is left
      expect(filesUnder(join(store, DOMAIN, '1001'))).toEqual([]);
      expect(filesUnder(join(store, '.quarantine', DOMAIN, '1001')).filter((f) => f.endsWith('.data'))).toHaveLength(3);

      // a new upload replaces the marked greeting: it plays again
      const fresh = makeWav(0.5);
      const put = await c.call('PUT', '/1001/greetings/busy', { body: new Uint8Array(fresh), headers: { 'content-type': 'audio/wav' } });
      expect(put.status).toBe(200);
      expect(put.body.audioMissing).toBe(false);
      expect((await c.call('GET', '/1001/greetings/busy')).bytes.equals(fresh)).toBe(true);
      expect((await c.json('GET', '/1001/greeting?for=busy')).body).toMatchObject({ kind: 'busy', audioMissing: false });
    } finally {
      await second.stop();
    }
  }, 90_000);
});
