/**
 * The SHA-256 of a message's audio: taken while the deposit streams in, carried in the message's
 * change-log entry and its store row, and compared with the file by playback and by the store
 * check. The damage is real: bytes of the stored file are changed on disk (its size kept), as a
 * failing disk or a hand edit would leave it.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ChangeLogReader } from '../../service/storage/changelog/reader.js';
import { messageStoreFile } from '../../service/vmail/message-store.js';
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

describe('vmail audio checksums', () => {
  it('records the SHA-256 of a deposit in its log entry and store row; playback and the store check quarantine audio that no longer matches', async () => {
    const first = await startService();
    const dataDir = first.dataDir;
    const store = join(dataDir, 'vmail');
    let ids: string[];
    const wavs = [makeWav(0.5), makeWav(0.5), makeWav(0.5)];
    try {
      await storeChecked(first);
      const c = vmailClient(first.url, await login(first));
      expect((await c.createMailbox({ number: '1001', name: 'Reception' })).status).toBe(201);
      const deposits = [];
      for (const wav of wavs) deposits.push(await c.deposit('1001', wav));
      ids = deposits.map((d) => d.body.id as string);
      for (const [i, d] of deposits.entries()) expect(d.body.storage.sha256).toBe(sha256(wavs[i] as Buffer));

      // playback of a file damaged while the service runs: refused, quarantined, the message marked
      const played = (await c.audio('1001', ids[0] as string)).bytes;
      expect(played.equals(wavs[0] as Buffer)).toBe(true);
      damage(join(store, deposits[0]?.body.storage.key));
      const refused = await c.audio('1001', ids[0] as string);
      expect(refused.status).toBe(404);
      expect(refused.body.error.message).toMatch(/does not match the SHA-256/);
      expect((await c.message('1001', ids[0] as string)).body.audioMissing).toBe(true);
      const q = await c.json('GET', `${first.url}/api/v1/domains/${DOMAIN}/quarantine`);
      expect(q.body.items).toHaveLength(1);
      expect(q.body.items[0]).toMatchObject({ reason: 'checksum_mismatch', found: 'message', fileName: `${ids[0]}.wav`, size: (wavs[0] as Buffer).length });
      expect(q.body.missingAudio.map((m: { id: string }) => m.id)).toEqual([ids[0]]);
      // the other messages play as before
      expect((await c.audio('1001', ids[1] as string)).bytes.equals(wavs[1] as Buffer)).toBe(true);
    } finally {
      expect(await first.stop({ keepData: true })).toBe(0);
    }

    // in the log entry and the store row
    const reader = ChangeLogReader.open(join(dataDir, 'changelog.sqlite'));
    const entries = reader.since({}, 10_000).filter((e) => e.kind === 'vmail_messages' && e.key === ids[1]);
    reader.close();
    expect((entries[0]?.body as { storage: { sha256: string } }).storage.sha256).toBe(sha256(wavs[1] as Buffer));
    const db = new Database(messageStoreFile(dataDir), { readonly: true });
    expect((db.prepare('SELECT audio_sha256 AS s FROM messages WHERE id = ?').get(ids[1]) as { s: string }).s).toBe(sha256(wavs[1] as Buffer));
    db.close();

    // damaged while the service is down: the store check finds it at the next start
    damage(join(store, DOMAIN, '1001', `${ids[2]}.wav`));
    const second = await startService({ dataDir });
    try {
      await storeChecked(second);
      const c = vmailClient(second.url, await login(second));
      expect(second.logs()).toMatch(/does not match its SHA-256/);
      expect(second.logs()).toMatch(/"sweptRecords":0,"damagedAudio":1,"verifiedAudio":2/);
      const health = (await (await fetch(`${second.url}/healthz`)).json()) as { tasks: { task: string; state: string; message: string }[] };
      expect(health.tasks.find((t) => t.task === 'store check')).toMatchObject({ state: 'done', message: expect.stringMatching(/1 damaged audio files quarantined/) });
      expect((await c.message('1001', ids[2] as string)).body.audioMissing).toBe(true);
      expect((await c.message('1001', ids[1] as string)).body.audioMissing).toBe(false);
      const q = await c.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`);
      expect(q.body.items.map((e: { reason: string; fileName: string }) => `${e.reason} ${e.fileName}`).sort()).toEqual([`checksum_mismatch ${ids[0]}.wav`, `checksum_mismatch ${ids[2]}.wav`].sort());
      // moved, not deleted: the damaged bytes are in the quarantine
      expect(filesUnder(join(store, DOMAIN, '1001'))).toEqual([`${ids[1]}.wav`]);
      expect(filesUnder(join(store, '.quarantine', DOMAIN, '1001')).filter((f) => f.endsWith('.data'))).toHaveLength(2);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
