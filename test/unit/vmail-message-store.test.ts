/**
 * The voicemail message store (SQLite) as the service uses it: a write-ahead view of a real change
 * log in a temp directory, written through LoggedMessages. Listings and counts against a model;
 * rebuilt from the log when its file is gone; a nedb file of messages from before imported and
 * adopted into the log.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Datastore from 'nedb-promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Folder } from '../../shared/api/vmail.js';
import { pino } from 'pino';
import { ChangeFeed, type Change } from '../../service/storage/changes.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { encodeHlc } from '../../service/storage/changelog/core/hlc.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { DocumentStore } from '../../service/storage/documents.js';
import { newMailboxDoc, newMessageDoc, patchMessageDoc, type MessageDoc } from '../../service/vmail/core.js';
import { LoggedMessages, VmailMetadata } from '../../service/vmail/metadata.js';
import { MESSAGE_KIND, MessageStore, type ListFolder } from '../../service/vmail/message-store.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);
const BOX = 'a.example/1001';

function msg(id: string, s: number, over: Partial<MessageDoc> = {}, mailbox = '1001'): MessageDoc {
  const doc = newMessageDoc(
    { id, domain: 'a.example', mailbox, urgent: false, callerName: null, callerNumber: null, callId: null, durationMs: 1000, format: { encoding: 'pcm_s16le', sampleRate: 8000, channels: 1 }, originSite: 's1', key: `a.example/${mailbox}/${id}.wav`, size: 100, forwardedFrom: null },
    at(s),
  );
  return { ...doc, ...over };
}

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-vmail-store-'));
  dirs.push(dir);
  return dir;
}

/** The log and the message store of a data directory, attached as the service attaches them. */
async function open(dir: string, opts: { legacy?: string } = {}) {
  const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 's1', policyOf, durability: 'os' });
  const store = MessageStore.open(join(dir, 'vmail-messages.sqlite'));
  const imported = opts.legacy ? await store.importLegacy(opts.legacy) : 0;
  const attached = await log.attachView(store, { fresh: store.created && imported === 0 });
  const watched: string[] = [];
  const messages = new LoggedMessages(log, store, {
    stalled: (count) => watched.push(`stalled ${count}`),
    recovered: () => watched.push('recovered'),
    reapplied: (v) => watched.push(`reapplied ${v.key}`),
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    messages.close();
    await log.drained();
    store.close();
    await log.close();
  };
  closers.push(close);
  return { log, store, messages, attached, imported, close, watched };
}

const ids = (page: { items: MessageDoc[] }) => page.items.map((m) => m._id);

/** Waits for a condition with a deadline (the store is retried on timers). */
async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the message store', () => {
  it('pages a folder newest or oldest first and counts every folder', async () => {
    const { store, messages } = await open(tempDir());
    // written out of order on purpose
    for (const s of [5, 1, 3, 2, 4]) await messages.put(msg(`m${s}`, s));
    await messages.put(msg('s1', 10, { folder: 'saved' }));
    await messages.put(msg('d1', 11, { folder: 'deleted' }));
    await messages.put(msg('u1', 12, { urgent: true }));
    expect(store.counts(BOX)).toEqual({ new: 6, saved: 1, deleted: 1, urgent: 1 });
    expect(ids(store.page(BOX, 'new', 'newest', 0, 3))).toEqual(['u1', 'm5', 'm4']);
    expect(store.page(BOX, 'new', 'oldest', 4, 10)).toMatchObject({ total: 6 });
    expect(ids(store.page(BOX, 'new', 'oldest', 4, 10))).toEqual(['m5', 'u1']);
    expect(ids(store.page(BOX, 'inbox', 'newest', 0, 3))).toEqual(['u1', 's1', 'm5']);
    expect(store.page(BOX, 'inbox', 'oldest', 5, 5)).toMatchObject({ total: 7 });
    expect(ids(store.page(BOX, 'inbox', 'oldest', 5, 5))).toEqual(['s1', 'u1']);
    expect(ids(store.page(BOX, 'deleted', 'newest', 0, 5))).toEqual(['d1']);
    expect(store.page('other/1', 'new', 'newest', 0, 5)).toEqual({ items: [], total: 0 });
    expect(store.get('u1')).toEqual(msg('u1', 12, { urgent: true }));
  });

  it('follows moves and purges, keeping the urgent count to new messages; a purge is final (delete-wins)', async () => {
    const { store, messages, log } = await open(tempDir());
    const u = msg('u', 1, { urgent: true });
    await messages.put(u);
    expect(store.counts(BOX).urgent).toBe(1);
    await messages.put({ ...u, folder: 'saved' });
    expect(store.counts(BOX)).toEqual({ new: 0, saved: 1, deleted: 0, urgent: 0 });
    expect(await messages.delete('u')).toBe(true);
    expect(store.counts(BOX)).toEqual({ new: 0, saved: 0, deleted: 0, urgent: 0 });
    expect(store.get('u')).toBeNull();
    expect(await messages.delete('u')).toBe(false);
    expect(await messages.delete('nothing')).toBe(false);
    await expect(messages.put(u)).rejects.toThrow(/deleted for good/);
    expect(store.get('u')).toBeNull();
    // every change is an entry: the deposit, the move, the purge
    expect(log.after('s1', 0, 10).map((e) => [e.kind, e.key, e.body === null ? 'tombstone' : (e.body as MessageDoc).folder])).toEqual([
      [MESSAGE_KIND, 'u', 'new'],
      [MESSAGE_KIND, 'u', 'saved'],
      [MESSAGE_KIND, 'u', 'tombstone'],
      [MESSAGE_KIND, 'u', 'new'],
    ]);
  });

  it('pages ten thousand messages in order', async () => {
    const { store, log } = await open(tempDir());
    const docs = Array.from({ length: 10_000 }, (_, i) => msg(`m${String(i).padStart(5, '0')}`, i % 2 ? 10_000 - i : i));
    await Promise.all(log.appendMany(docs.map((d) => ({ kind: MESSAGE_KIND, key: d._id, body: d }))).map((a) => a.applied));
    const all = ids(store.page(BOX, 'new', 'oldest', 0, 10_000));
    expect(new Set(all).size).toBe(10_000);
    expect(ids(store.page(BOX, 'new', 'newest', 9_990, 50))).toEqual(all.slice(0, 10).reverse());
  });

  it('agrees with a model of the messages after any sequence of deposits, moves, read marks and purges', async () => {
    const { store, messages } = await open(tempDir());
    type Op = { kind: 'deposit'; box: number; s: number; urgent: boolean } | { kind: 'move'; pick: number; folder: Folder } | { kind: 'read'; pick: number } | { kind: 'purge'; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('deposit' as const), box: fc.integer({ min: 0, max: 2 }), s: fc.integer({ min: 0, max: 50 }), urgent: fc.boolean() }),
      fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), folder: fc.constantFrom<Folder>('new', 'saved', 'deleted') }),
      fc.record({ kind: fc.constant('read' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('purge' as const), pick: fc.nat() }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const model = new Map<string, MessageDoc>();
        const prefix = `r${run++}-`;
        const boxes = [0, 1, 2].map((b) => `a.example/${prefix}${b}`);
        let n = 0;
        for (const o of ops) {
          const live = [...model.keys()];
          if (o.kind === 'deposit') {
            const id = `${prefix}${n++}`;
            const doc = msg(id, o.s, { urgent: o.urgent }, `${prefix}${o.box}`);
            model.set(id, await messages.put(doc));
          } else if (live.length) {
            const id = live[o.pick % live.length] as string;
            const doc = model.get(id) as MessageDoc;
            if (o.kind === 'purge') {
              await messages.delete(id);
              model.delete(id);
            } else {
              const next = patchMessageDoc(doc, o.kind === 'read' ? { read: true } : { folder: o.folder }, at(100));
              if (next) model.set(id, await messages.put(next));
            }
          }
        }
        for (const box of boxes) {
          const mine = [...model.values()].filter((d) => d.box === box);
          const inFolder = (f: ListFolder) => mine.filter((d) => (f === 'inbox' ? d.folder !== 'deleted' : d.folder === f));
          const newestFirst = (list: MessageDoc[]) => [...list].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a._id < b._id ? 1 : -1));
          expect(store.counts(box)).toEqual({ new: inFolder('new').length, saved: inFolder('saved').length, deleted: inFolder('deleted').length, urgent: inFolder('new').filter((d) => d.urgent).length });
          for (const f of ['inbox', 'new', 'saved', 'deleted'] as const) {
            const expected = newestFirst(inFolder(f));
            expect(store.page(box, f, 'newest', 0, 500)).toEqual({ items: expected, total: expected.length });
            expect(ids(store.page(box, f, 'oldest', 1, 3))).toEqual(expected.reverse().slice(1, 4).map((d) => d._id));
          }
          expect(store.ids(box).sort()).toEqual(mine.map((d) => d._id).sort());
        }
      }),
      { numRuns: 60 },
    );
  });

  it('is rebuilt from the log when its file is gone, and current after a clean stop', async () => {
    const dir = tempDir();
    const first = await open(dir);
    for (let i = 0; i < 20; i++) await first.messages.put(msg(`m${i}`, i, { folder: i % 3 === 0 ? 'saved' : 'new' }));
    await first.messages.delete('m4');
    const before = first.store.page(BOX, 'inbox', 'newest', 0, 100);
    await first.close();
    rmSync(join(dir, 'vmail-messages.sqlite'));

    const second = await open(dir);
    expect(second.attached).toEqual({ how: 'rebuilt', documents: 19 });
    expect(second.store.page(BOX, 'inbox', 'newest', 0, 100)).toEqual(before);
    expect(second.store.counts(BOX)).toEqual({ new: 12, saved: 7, deleted: 0, urgent: 0 });
    await second.close();

    const third = await open(dir);
    expect(third.attached.how).toBe('current');
    expect(third.store.page(BOX, 'inbox', 'newest', 0, 100)).toEqual(before);
  });

  it('imports a nedb file of messages from before the log, once, and the log adopts them', async () => {
    const dir = tempDir();
    // The format the messages were kept in before: a nedb datastore, written the way nedb writes it
    // (later lines replace earlier ones, a removal is a $$deleted line, index definitions too).
    const legacy = join(dir, 'db', 'vmail_messages.db');
    const ds = Datastore.create({ filename: legacy, autoload: false }) as unknown as Datastore<MessageDoc>;
    await ds.load();
    await ds.ensureIndex({ fieldName: 'box' });
    const docs = Array.from({ length: 30 }, (_, i) => msg(`old${i}`, i, { urgent: i % 5 === 0 }));
    for (const d of docs) await ds.update({ _id: d._id }, d, { upsert: true });
    await ds.update({ _id: 'old1' }, { ...(docs[1] as MessageDoc), folder: 'saved' }, { upsert: true });
    await ds.remove({ _id: 'old2' }, { multi: false });
    const expected = docs.filter((d) => d._id !== 'old2').map((d) => (d._id === 'old1' ? { ...d, folder: 'saved' as const } : d));

    const first = await open(dir, { legacy });
    expect(first.imported).toBe(29);
    expect(first.attached).toEqual({ how: 'adopted', documents: 29 });
    expect(first.store.counts(BOX)).toEqual({ new: 28, saved: 1, deleted: 0, urgent: 6 });
    for (const d of expected) expect(first.store.get(d._id)).toEqual(d);
    expect(first.log.documents(MESSAGE_KIND).filter((v) => !v.tombstone)).toHaveLength(29);
    expect(first.store.importedFromNedb()).toBe(true);
    await first.close();
    expect(MessageStore.retireLegacy(legacy)).toBe(`${legacy}.migrated`);
    expect(existsSync(legacy)).toBe(false);

    // Not imported again, and the log alone gives them back when the store's file is gone.
    rmSync(join(dir, 'vmail-messages.sqlite'));
    const second = await open(dir, { legacy });
    expect(second.imported).toBe(0);
    expect(second.attached).toEqual({ how: 'rebuilt', documents: 29 });
    for (const d of expected) expect(second.store.get(d._id)).toEqual(d);
  });

  it('refuses an entry that is not a message document, and the log keeps it for a later attempt', async () => {
    const { store, log } = await open(tempDir());
    const bad = log.append({ kind: MESSAGE_KIND, key: 'x', body: { _id: 'x', folder: 'elsewhere' } });
    await expect(bad.applied).rejects.toThrow(/not a message document/);
    expect(store.get('x')).toBeNull();
  });

  it('a change the store could not apply (its file locked by another program), a peer’s included, is applied again from the log, and the store’s position then moves on', async () => {
    const dir = tempDir();
    const { store, log, messages, watched } = await open(dir);
    await messages.put(msg('m1', 1));
    const locker = new Database(join(dir, 'vmail-messages.sqlite'));
    closers.push(async () => void locker.close());
    locker.exec('BEGIN IMMEDIATE');
    // this site's write: durable, readable by id, kept for the store
    await messages.put(msg('m2', 2));
    expect(messages.get('m2')?._id).toBe('m2');
    expect(messages.lagging).toBe(1);
    // a peer's message, which no writer here waits for
    const peer = { origin: 's2', seq: 1, hlc: encodeHlc({ wall: T0, counter: 0 }), kind: MESSAGE_KIND, key: 'p1', body: msg('p1', 3, { originSite: 's2' }) };
    await expect(log.receive([peer]).applied).rejects.toThrow(/locked|busy/i);
    expect(log.failing(store.name)).toBe(true);
    await log.savePositions();
    expect(log.savedPosition(store.name)).toEqual({ s1: 1, s2: 0 });
    await until(() => watched.some((w) => w.startsWith('stalled')), 'the failure to be reported');
    locker.exec('ROLLBACK');
    await until(() => watched.includes('recovered'), 'the store to recover');
    expect(messages.lagging).toBe(0);
    expect(log.failing(store.name)).toBe(false);
    expect(ids(store.page(BOX, 'inbox', 'oldest', 0, 10))).toEqual(['m1', 'm2', 'p1']);
    expect(watched).toEqual(expect.arrayContaining(['reapplied m2', 'reapplied p1']));
    await log.savePositions();
    expect(log.savedPosition(store.name)).toEqual({ s1: 2, s2: 1 });
  });

  it('finds a deposit by its mailbox and Idempotency-Key, a peer’s too; a purge forgets it; a store of schema 2 takes the keys from its documents', async () => {
    const dir = tempDir();
    const { store, log, messages, close } = await open(dir);
    await messages.put(msg('m1', 1, { idempotencyKey: 'k1' }));
    await messages.put(msg('m2', 2, { idempotencyKey: 'k2' }));
    await messages.put(msg('m3', 3, { idempotencyKey: 'k1' }, '1002'));
    expect(messages.byDepositKey(BOX, 'k1')?._id).toBe('m1');
    expect(messages.byDepositKey('a.example/1002', 'k1')?._id).toBe('m3');
    expect(messages.byDepositKey(BOX, 'k3')).toBeNull();
    // the key past its lifetime was used again: the newest message of it answers
    await messages.put(msg('m4', 9, { idempotencyKey: 'k1' }));
    expect(messages.byDepositKey(BOX, 'k1')?._id).toBe('m4');
    // a deposit a peer stored, with its key (the retry went to the other site)
    const peer = { origin: 's2', seq: 1, hlc: encodeHlc({ wall: T0, counter: 0 }), kind: MESSAGE_KIND, key: 'p1', body: msg('p1', 4, { originSite: 's2', idempotencyKey: 'kp' }) };
    await log.receive([peer]).applied;
    expect(messages.byDepositKey(BOX, 'kp')?._id).toBe('p1');
    // a peer's key that is not text is no key
    await log.receive([{ ...peer, seq: 2, key: 'p2', body: { ...msg('p2', 5, { originSite: 's2' }), idempotencyKey: 42 } }]).applied;
    expect(store.get('p2')?._id).toBe('p2');
    await messages.delete('m2');
    expect(messages.byDepositKey(BOX, 'k2')).toBeNull();
    await close();

    // schema 2 had no column for the key: the upgrade fills it from the documents
    const file = join(dir, 'vmail-messages.sqlite');
    const db = new Database(file);
    db.exec("DROP INDEX messages_by_deposit_key; ALTER TABLE messages DROP COLUMN idempotency_key; UPDATE meta SET value = '2' WHERE name = 'schema';");
    db.close();
    const again = await open(dir);
    expect(again.attached.how).toBe('current');
    expect(again.messages.byDepositKey(BOX, 'k1')?._id).toBe('m4');
    expect(again.messages.byDepositKey(BOX, 'kp')?._id).toBe('p1');
    const check = new Database(file, { readonly: true });
    expect((check.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as { value: string }).value).toBe('3');
    expect(check.prepare('SELECT id FROM messages WHERE idempotency_key IS NOT NULL ORDER BY id').pluck().all()).toEqual(['m1', 'm3', 'm4', 'p1']);
    check.close();
  });

  it('puts message changes on the feed from the log, in log order with their position, and MWI follows them (a purge included)', async () => {
    const dir = tempDir();
    const feed = new ChangeFeed();
    const changes: Change[] = [];
    feed.subscribe((c) => changes.push(c));
    const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 's1', policyOf, durability: 'os' });
    const documents = new DocumentStore(join(dir, 'db'), feed);
    documents.attachLog(log);
    const meta = await VmailMetadata.open({ documents, feed, log, dataDir: dir, logger: pino({ level: 'silent' }), siteId: 'site-a' });
    closers.push(async () => {
      await meta.close(log);
      await documents.flush();
      documents.detachLog();
      await log.close();
    });
    await meta.mailboxes.put(newMailboxDoc({ number: '1001', name: 'Reception' }, 'a.example', null, at(0)));
    const u = await meta.messages.put(msg('u', 1, { urgent: true }));
    await meta.messages.put(msg('n', 2));
    await meta.messages.put({ ...u, folder: 'saved' });
    await meta.messages.delete('n');
    const mwi = changes.filter((c) => c.collection === 'mwi').map((c) => c.doc);
    expect(mwi).toEqual([
      { domain: 'a.example', mailbox: '1001', new: 0, saved: 0, urgent: 0 },
      { domain: 'a.example', mailbox: '1001', new: 1, saved: 0, urgent: 1 },
      { domain: 'a.example', mailbox: '1001', new: 2, saved: 0, urgent: 1 },
      { domain: 'a.example', mailbox: '1001', new: 1, saved: 1, urgent: 0 },
      { domain: 'a.example', mailbox: '1001', new: 0, saved: 1, urgent: 0 },
    ]);
    const logged = changes.filter((c) => c.collection !== 'mwi');
    expect(logged.map((c) => [c.collection, c.op, c.id, c.origin, c.seq])).toEqual([
      ['vmail_mailboxes', 'put', 'a.example/1001', 's1', 1],
      [MESSAGE_KIND, 'put', 'u', 's1', 2],
      [MESSAGE_KIND, 'put', 'n', 's1', 3],
      [MESSAGE_KIND, 'put', 'u', 's1', 4],
      [MESSAGE_KIND, 'delete', 'n', 's1', 5],
    ]);
    // each MWI change comes right after the change it follows
    expect(changes.map((c) => c.collection)).toEqual(['vmail_mailboxes', 'mwi', ...Array.from({ length: 4 }, () => [MESSAGE_KIND, 'mwi']).flat()]);
  });
});
