/**
 * The voicemail metadata store and its data directory: a data directory whose mailboxes and
 * messages are in nedb (the format before the change log) starts with every message there, and the
 * SQLite store of the messages, deleted, is rebuilt from the change log.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import { describe, expect, it } from 'vitest';
import { ChangeLogReader } from '../../service/storage/changelog/reader.js';
import { newMailboxDoc, newMessageDoc, patchMessageDoc, type MailboxDoc, type MessageDoc } from '../../service/vmail/core.js';
import { messageKey } from '../../service/vmail/paths.js';
import { login, startService, tempDir } from '../support/service.js';
import { makeWav, vmailClient, storeChecked } from '../support/vmail.js';

const DOMAIN = 'office.example';

/** A nedb collection file written the way the service's Collection wrote it: whole-document upserts, removals by id. */
async function nedbFile<T extends { _id: string }>(file: string, write: (ds: Datastore<T>) => Promise<void>, indexes: string[] = []): Promise<void> {
  const ds = Datastore.create({ filename: file, autoload: false }) as unknown as Datastore<T>;
  await ds.load();
  for (const fieldName of indexes) await ds.ensureIndex({ fieldName });
  await write(ds);
}

describe('vmail metadata: migration and rebuild', () => {
  it('a data directory with its messages in nedb starts with every message there, once, and nothing is lost after', async () => {
    const dataDir = join(tempDir('sitecall-vmail-migrate-'), 'data');
    const db = join(dataDir, 'db');
    mkdirSync(db, { recursive: true });
    const siteId = randomUUID();
    await nedbFile(join(db, 'site.db'), async (ds) => void (await ds.insert({ _id: 'self', id: siteId, name: 'old-site', createdAt: new Date(Date.now() - 86_400_000).toISOString() })));
    const t0 = Date.now() - 3_600_000;
    const boxes = ['1001', '1002'];
    await nedbFile<MailboxDoc>(join(db, 'vmail_mailboxes.db'), async (ds) => {
      for (const number of boxes) await ds.update({ _id: `${DOMAIN}/${number}` }, newMailboxDoc({ number, name: `Box ${number}`, pin: undefined }, DOMAIN, null, new Date(t0)), { upsert: true });
    }, ['domain']);
    const wavs = new Map<string, Buffer>();
    const expected = new Map<string, MessageDoc>();
    await nedbFile<MessageDoc>(join(db, 'vmail_messages.db'), async (ds) => {
      for (let i = 0; i < 40; i++) {
        const number = boxes[i % 2] as string;
        const id = randomUUID();
        const key = messageKey(DOMAIN, number, id);
        const wav = makeWav(0.1);
        mkdirSync(join(dataDir, 'vmail', DOMAIN, number), { recursive: true });
        writeFileSync(join(dataDir, 'vmail', key), wav);
        wavs.set(id, wav);
        const doc = newMessageDoc({ id, domain: DOMAIN, mailbox: number, urgent: i % 7 === 0, callerName: null, callerNumber: `+1555${i}`, callId: `c${i}`, durationMs: 100, format: { encoding: 'pcm_s16le', sampleRate: 8000, channels: 1 }, originSite: siteId, key, size: wav.length, forwardedFrom: null }, new Date(t0 + i * 1000));
        await ds.update({ _id: id }, doc, { upsert: true });
        expected.set(id, doc);
      }
      // later lines replace earlier ones: moves, a read mark, a soft delete; and a purge
      const [a, b, c, d] = [...expected.values()] as [MessageDoc, MessageDoc, MessageDoc, MessageDoc];
      for (const [doc, patch] of [[a, { folder: 'saved' }], [b, { read: true }], [c, { folder: 'deleted' }]] as const) {
        const next = patchMessageDoc(doc, patch, new Date(t0 + 60_000)) as MessageDoc;
        await ds.update({ _id: next._id }, next, { upsert: true });
        expected.set(next._id, next);
      }
      await ds.remove({ _id: d._id }, { multi: false });
      rmSync(join(dataDir, 'vmail', d.storage.key));
      expected.delete(d._id);
    }, ['box', 'folder']);

    const listAll = async (c: ReturnType<typeof vmailClient>) => {
      const out = new Map<string, unknown>();
      for (const number of boxes) for (const folder of ['new', 'saved', 'deleted']) for (const m of (await c.list(number, `?folder=${folder}&limit=500`)).body.items as { id: string }[]) out.set(m.id, m);
      return out;
    };
    const first = await startService({ dataDir });
    await storeChecked(first);
    try {
      const token = await login(first);
      const c = vmailClient(first.url, token);
      // the data directory is from before site certificates: its messages move to the new site id with it
      const status = (await (await fetch(`${first.url}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as { site: { id: string } };
      const newSiteId = status.site.id;
      expect(newSiteId).not.toBe(siteId);
      const listed = await listAll(c);
      expect([...listed.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [id, doc] of expected) {
        const { _id, box, folderBeforeDelete, ...rest } = doc;
        void box;
        void folderBeforeDelete;
        expect(listed.get(id)).toEqual({ id: _id, ...rest, originSite: newSiteId, available: true });
      }
      for (const [id, doc] of expected) expect((await c.audio(doc.mailbox, id)).bytes.equals(wavs.get(id) as Buffer)).toBe(true);
      const count = (number: string, folder: string) => [...expected.values()].filter((m) => m.mailbox === number && m.folder === folder);
      for (const number of boxes) {
        expect((await c.json('GET', `/${number}/mwi`)).body).toEqual({ domain: DOMAIN, mailbox: number, new: count(number, 'new').length, saved: count(number, 'saved').length, urgent: count(number, 'new').filter((m) => m.urgent).length });
      }
      expect(first.logs()).toMatch(/voicemail messages imported from nedb/);
      expect(first.logs()).toMatch(/"how":"adopted","documents":39/);
      expect(first.logs()).toMatch(/"tempFiles":0,"orphanFiles":0,"missingAudio":0,"foundAudio":0,"danglingGreetings":0,"messages":39/);
      expect(existsSync(join(db, 'vmail_messages.db'))).toBe(false);
      expect(existsSync(join(db, 'vmail_messages.db.migrated'))).toBe(true);
      // the mailboxes of the nedb file are in the log too (adopted)
      const reader = ChangeLogReader.open(join(dataDir, 'changelog.sqlite'));
      expect(reader.since({}, 10_000).filter((e) => e.kind === 'vmail_mailboxes').map((e) => e.key).sort()).toEqual(boxes.map((b) => `${DOMAIN}/${b}`));
      reader.close();
      // it works on: a deposit after the migration
      expect((await c.deposit('1001', makeWav(0.2))).status).toBe(201);
    } finally {
      await first.kill();
    }

    const second = await startService({ dataDir });
    await storeChecked(second);
    try {
      const c = vmailClient(second.url, await login(second));
      expect((await listAll(c)).size).toBe(40);
      expect(second.logs()).not.toMatch(/imported from nedb/);
    } finally {
      await second.stop();
    }
  });

  it('the SQLite file of the messages and the nedb files of the mailboxes, deleted, are rebuilt from the change log', async () => {
    const first = await startService();
    const a = vmailClient(first.url, await login(first));
    await a.createMailbox({ number: '1001', name: 'Reception', pin: '1357' });
    const greeting = makeWav(0.5, 'mulaw');
    await a.call('PUT', '/1001/greetings/unavailable', { body: new Uint8Array(greeting), headers: { 'content-type': 'audio/wav' } });
    for (let i = 0; i < 5; i++) await a.json('POST', '/1001/pin-check', { pin: '0000' });
    expect((await a.json('GET', '/1001')).body.pinLockedUntil).not.toBeNull();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await a.deposit('1001', makeWav(0.2), { callerNumber: `40${i}`, urgent: i === 5 ? 'true' : 'false' })).body.id);
    await a.json('PATCH', `/1001/messages/${ids[0]}`, { folder: 'saved', read: true });
    await a.json('DELETE', `/1001/messages/${ids[1]}`);
    await a.json('DELETE', `/1001/messages/${ids[2]}?purge=true`);
    const lists = async (c: typeof a) => Promise.all(['inbox', 'new', 'saved', 'deleted'].map(async (f) => (await c.list('1001', `?folder=${f}`)).body));
    const before = await lists(a);
    expect(before[0].counts).toEqual({ new: 3, saved: 1, deleted: 1, urgent: 1 });
    const mailbox = (await a.json('GET', '/1001')).body;
    await first.stop({ keepData: true });
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(first.dataDir, `vmail-messages.sqlite${suffix}`), { force: true });
    for (const name of ['vmail_mailboxes', 'vmail_pin_guard']) rmSync(join(first.dataDir, 'db', `${name}.db`));

    const second = await startService({ dataDir: first.dataDir });
    await storeChecked(second);
    try {
      const b = vmailClient(second.url, await login(second));
      expect(second.logs()).toMatch(/"how":"rebuilt","documents":5/);
      expect(await lists(b)).toEqual(before);
      expect((await b.json('GET', '/1001/mwi')).body).toEqual({ domain: DOMAIN, mailbox: '1001', new: 3, saved: 1, urgent: 1 });
      expect((await b.json('GET', '/1001')).body).toEqual(mailbox);
      expect((await b.call('GET', '/1001/greetings/unavailable')).bytes.equals(greeting)).toBe(true);
      expect((await b.json('POST', '/1001/pin-check', { pin: '1357' })).status).toBe(429);
      expect(second.logs()).toMatch(/"tempFiles":0,"orphanFiles":0,"missingAudio":0/);
    } finally {
      await second.stop();
    }
  });
});
