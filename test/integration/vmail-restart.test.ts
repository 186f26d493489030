import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/events-client.js';
import { login, startService } from '../support/service.js';
import { filesUnder, makeWav, multipartBody, vmailClient, storeChecked } from '../support/vmail.js';

const DOMAIN = 'office.example';

describe('vmail state across restarts', () => {
  it('loses nothing across a restart: messages, folders, audio, greetings and a PIN lockout', async () => {
    const first = await startService();
    const a = vmailClient(first.url, await login(first));
    expect((await a.createMailbox({ number: '1001', name: 'Reception', pin: '2468' })).status).toBe(201);
    const wavs = [makeWav(1), makeWav(2, 'mulaw'), makeWav(1.5, 'pcm_s16le', 16000)];
    const ids: string[] = [];
    for (const [i, wav] of wavs.entries()) ids.push((await a.deposit('1001', wav, { callerNumber: `20${i}` })).body.id);
    await a.json('PATCH', `/1001/messages/${ids[0]}`, { folder: 'saved', read: true });
    await a.json('DELETE', `/1001/messages/${ids[1]}`);
    const greeting = makeWav(2, 'alaw');
    await a.call('PUT', '/1001/greetings/busy', { body: new Uint8Array(greeting), headers: { 'content-type': 'audio/wav' } });
    for (let i = 0; i < 5; i++) await a.json('POST', '/1001/pin-check', { pin: '0000' });
    const before = await a.list('1001', '?folder=saved');
    expect(await first.stop({ keepData: true })).toBe(0);

    const second = await startService({ dataDir: first.dataDir });
    await storeChecked(second);
    try {
      const b = vmailClient(second.url, await login(second));
      expect((await b.list('1001', '?folder=saved')).body).toEqual(before.body);
      expect((await b.list('1001', '?folder=deleted')).body.items.map((m: { id: string }) => m.id)).toEqual([ids[1]]);
      expect((await b.list('1001', '?folder=new')).body.items.map((m: { id: string }) => m.id)).toEqual([ids[2]]);
      for (const [i, wav] of wavs.entries()) expect((await b.audio('1001', ids[i] as string)).bytes.equals(wav)).toBe(true);
      expect((await b.call('GET', '/1001/greetings/busy')).bytes.equals(greeting)).toBe(true);
      const locked = await b.json('POST', '/1001/pin-check', { pin: '2468' });
      expect(locked.status).toBe(429);
      expect((await b.json('GET', '/1001/mwi')).body).toEqual({ domain: DOMAIN, mailbox: '1001', new: 1, saved: 1, urgent: 0 });
      expect(second.logs()).toMatch(/"tempFiles":0,"orphanFiles":0,"missingAudio":0,"foundAudio":0,"danglingGreetings":0,"messages":3/);
    } finally {
      await second.stop();
    }
  });

  it('after kill -9 during a deposit: nothing deleted, no dangling metadata; the start-up check quarantines what it cannot match', async () => {
    const first = await startService();
    const token = await login(first);
    const a = vmailClient(first.url, token);
    await a.createMailbox({ number: '1001', name: 'Reception' });
    const kept = [makeWav(1), makeWav(1)];
    const ids: string[] = [];
    for (const wav of kept) ids.push((await a.deposit('1001', wav)).body.id);
    const box = join(first.dataDir, 'vmail', DOMAIN, '1001');

    // A slow deposit: the header and a part of the audio, then nothing; the service is killed mid-upload.
    const { body, contentType } = multipartBody([{ name: 'callerNumber', value: '555' }, { name: 'audio', value: makeWav(20), filename: 'slow.wav' }]);
    const { port } = new URL(first.url);
    const upload = request({ hostname: '127.0.0.1', port, method: 'POST', path: `/api/v1/domains/${DOMAIN}/mailboxes/1001/messages`, headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': String(body.length) } });
    upload.on('error', () => undefined);
    upload.write(body.subarray(0, 100_000));
    await eventually(async () => filesUnder(box).some((f) => f.startsWith('.') && f.endsWith('.tmp')), 10_000, 'the temp file of the slow deposit');
    await first.kill();
    upload.destroy();
    expect(filesUnder(box).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);

    // The other windows of a crash, made by hand while it is down: an audio file renamed into place
    // whose metadata never got written, a temp greeting, and a message whose file went missing.
    const orphan = `${randomUUID()}.wav`;
    const orphanWav = makeWav(1);
    writeFileSync(join(box, orphan), orphanWav);
    mkdirSync(join(box, 'greetings'), { recursive: true });
    writeFileSync(join(box, 'greetings', `.${randomUUID()}.1a2b3c4d.tmp`), 'partial');
    renameSync(join(box, `${ids[1]}.wav`), join(first.dataDir, 'moved-away.wav'));

    const second = await startService({ dataDir: first.dataDir });
    await storeChecked(second);
    try {
      const b = vmailClient(second.url, await login(second));
      expect(filesUnder(box)).toEqual([`${ids[0]}.wav`]);
      const list = (await b.list('1001')).body;
      expect(list.total).toBe(2);
      const byId = new Map(list.items.map((m: { id: string; audioMissing: boolean }) => [m.id, m.audioMissing]));
      expect(byId).toEqual(new Map([[ids[0], false], [ids[1], true]]));
      expect((await b.audio('1001', ids[0] as string)).bytes.equals(kept[0] as Buffer)).toBe(true);
      const missing = await b.audio('1001', ids[1] as string);
      expect(missing.status).toBe(404);
      expect(missing.body.error.message).toMatch(/missing from the store/);
      const logs = second.logs();
      expect(logs).toMatch(/moved the temp file of an unfinished write into the quarantine/);
      expect(logs).toMatch(/moved an audio file that no metadata points at into the quarantine/);
      expect(logs).toMatch(/marked audioMissing/);
      expect(logs).toMatch(/"tempFiles":2,"orphanFiles":1,"missingAudio":1/);

      // Nothing was deleted: all three are in the quarantine, with why, and the console's list has them.
      const quarantine = await b.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`);
      expect(quarantine.status).toBe(200);
      const entries = quarantine.body.items as { id: string; mailbox: string; found: string; reason: string; fileName: string; size: number; audio: unknown; problem: string | null }[];
      expect(entries.map((e) => [e.found, e.reason, e.fileName.endsWith('.tmp') ? 'temp' : e.fileName]).sort()).toEqual(
        [
          ['greeting', 'unfinished_write', 'temp'],
          ['message', 'no_metadata', orphan],
          ['message', 'unfinished_write', 'temp'],
        ].sort(),
      );
      const orphanEntry = entries.find((e) => e.fileName === orphan);
      expect(orphanEntry).toMatchObject({ mailbox: '1001', size: orphanWav.length, audio: { durationMs: 1000, format: { encoding: 'pcm_s16le', sampleRate: 8000, channels: 1 } }, problem: null });
      const slowEntry = entries.find((e) => e.found === 'message' && e.reason === 'unfinished_write');
      expect(slowEntry?.audio).toBeNull();
      expect(slowEntry?.problem).toMatch(/truncated/);
      expect(quarantine.body.missingAudio.map((m: { id: string }) => m.id)).toEqual([ids[1]]);
      const quarantined = filesUnder(join(first.dataDir, 'vmail', '.quarantine', DOMAIN, '1001'));
      expect(quarantined.filter((f) => f.endsWith('.data'))).toHaveLength(3);
      expect(readFileSync(join(first.dataDir, 'vmail', '.quarantine', DOMAIN, '1001', `${orphanEntry?.id}.data`)).equals(orphanWav)).toBe(true);

      // a truncated WAV cannot be restored; the whole one can, and plays as it was
      const refused = await b.json('POST', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${slowEntry?.id}/restore`, {});
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toMatch(/cannot be restored as a message: .*truncated/);
      const restored = await b.json('POST', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${orphanEntry?.id}/restore`, {});
      expect(restored.status).toBe(201);
      expect(restored.body).toMatchObject({ mailbox: '1001', folder: 'new', durationMs: 1000, audioMissing: false });
      expect((await b.audio('1001', restored.body.id)).bytes.equals(orphanWav)).toBe(true);
      for (const e of entries.filter((x) => x.reason === 'unfinished_write')) {
        expect((await b.json('DELETE', `${second.url}/api/v1/domains/${DOMAIN}/quarantine/${e.id}`)).status).toBe(204);
      }
      expect((await b.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`)).body.items).toEqual([]);
      expect(filesUnder(join(first.dataDir, 'vmail', '.quarantine'))).toEqual([]);
      // the service works on: a new deposit is stored
      expect((await b.deposit('1001', makeWav(1))).status).toBe(201);
    } finally {
      await second.stop({ keepData: true });
    }

    // The file put back: the next start finds it again.
    renameSync(join(first.dataDir, 'moved-away.wav'), join(box, `${ids[1]}.wav`));
    const third = await startService({ dataDir: first.dataDir });
    await storeChecked(third);
    try {
      const c = vmailClient(third.url, await login(third));
      expect((await c.message('1001', ids[1] as string)).body.audioMissing).toBe(false);
      expect((await c.audio('1001', ids[1] as string)).bytes.equals(kept[1] as Buffer)).toBe(true);
      expect(third.logs()).toMatch(/the audio of a message marked missing is back/);
    } finally {
      await third.stop();
    }
  });
});
