import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { FOLDERS, type Folder, type MessageCounts } from '../../shared/api/vmail.js';
import type { VersionedDoc } from '../storage/changelog/core/merge.js';
import type { WriteAheadView } from '../storage/changelog/log.js';
import { emptyCounts, type MessageDoc } from './core.js';

/** The change log's kind of a message's metadata (key: the message id, body: the MessageDoc). */
export const MESSAGE_KIND = 'vmail_messages';

/** Where a data directory keeps the messages' metadata: one file for the site (see MessageStore). */
export function messageStoreFile(dataDir: string): string {
  return join(dataDir, 'vmail-messages.sqlite');
}

/** The nedb file the messages lived in before this store (migrated at the first start, then renamed). */
export function legacyMessagesFile(dataDir: string): string {
  return join(dataDir, 'db', `${MESSAGE_KIND}.db`);
}

export type ListFolder = Folder | 'inbox';

/**
 * What the start-up check needs of a message: [id, the store key of its audio, 1 when the metadata
 * says it is missing, else 0, the SHA-256 of the audio or null when unknown].
 */
export type AudioRef = [id: string, key: string, audioMissing: number, sha256: string | null];

interface MessageRow {
  box: string;
  folder: Folder;
  urgent: number;
}

/** What a tombstone removed: the message's mailbox, and where its audio was. */
export interface RemovedMessage {
  box: string;
  originSite: string;
  audioKey: string;
}

const INDEXES = `
  CREATE INDEX IF NOT EXISTS messages_by_folder ON messages (box, folder, created_at, id);
  CREATE INDEX IF NOT EXISTS messages_by_inbox ON messages (box, inbox, created_at, id);
  CREATE INDEX IF NOT EXISTS messages_deleted ON messages (deleted_at) WHERE folder = 'deleted';
  CREATE INDEX IF NOT EXISTS messages_missing ON messages (domain) WHERE audio_missing = 1;
  CREATE INDEX IF NOT EXISTS messages_audio2 ON messages (box, origin_site, id, audio_key, audio_missing, audio_sha256);
  CREATE INDEX IF NOT EXISTS messages_by_deposit_key ON messages (box, idempotency_key, created_at) WHERE idempotency_key IS NOT NULL;
`;

const DROP_INDEXES = `
  DROP INDEX IF EXISTS messages_by_folder;
  DROP INDEX IF EXISTS messages_by_inbox;
  DROP INDEX IF EXISTS messages_deleted;
  DROP INDEX IF EXISTS messages_missing;
  DROP INDEX IF EXISTS messages_audio;
  DROP INDEX IF EXISTS messages_audio2;
  DROP INDEX IF EXISTS messages_by_deposit_key;
`;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS messages (
    id TEXT NOT NULL PRIMARY KEY,
    box TEXT NOT NULL,
    domain TEXT NOT NULL,
    folder TEXT NOT NULL,
    inbox INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    urgent INTEGER NOT NULL,
    origin_site TEXT NOT NULL,
    audio_key TEXT NOT NULL,
    audio_missing INTEGER NOT NULL,
    deleted_at TEXT,
    doc TEXT NOT NULL,
    audio_sha256 TEXT,
    idempotency_key TEXT
  );
  CREATE TABLE IF NOT EXISTS counts (
    box TEXT NOT NULL PRIMARY KEY,
    new INTEGER NOT NULL,
    saved INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    urgent INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

/**
 * 2: the audio's SHA-256 in a column of its own (in the start-up check's index);
 * 3: the deposit's Idempotency-Key in a column of its own, indexed per mailbox
 */
const SCHEMA_VERSION = '3';
const CACHE_KIB = 1024;
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;
const BUSY_WAIT_MS = 250;

/**
 * The metadata of the site's voicemail messages in SQLite (WAL): a write-ahead view of the change
 * log (kind `vmail_messages`). The log holds every change first; this file applies them, and the
 * log saves its position only after `sync` made them durable, so at start it is caught up from the
 * log, rebuilt from the log's documents when the file is missing, and, when the site had its
 * messages in nedb before, they are imported here and adopted into the log (nothing lost).
 *
 * One file per data directory, not per vmail instance: the metadata is the site's (the log and its
 * peers know messages by id, not by instance); which instance serves a domain is configuration
 * that changes without the metadata moving; and the log hands each kind to its views, so one
 * view per kind is one apply per change.
 *
 * Listings read an index per mailbox and folder (and one for new + saved together, the inbox)
 * ordered by (createdAt, id), so a page is a range of an index. The start-up check reads a
 * mailbox's audio keys from an index that holds them (it never reads the documents). The counts of each mailbox (MWI)
 * are a table kept in the same transaction as every change, so counting reads one row.
 *
 * Commits are not fsync'd (synchronous NORMAL): the log is the durable record; `sync` is a
 * checkpoint, which fsyncs the WAL before it copies it.
 */
export class MessageStore implements WriteAheadView {
  readonly name = 'vmail-messages';
  readonly kinds = [MESSAGE_KIND] as const;
  private closed = false;
  /** told of every apply that fails (a peer's change too, which no writer here waits for) */
  private readonly applyFailures = new Set<(err: Error) => void>();
  /** messages a tombstone removed, by id, for the listener that follows (MWI, the audio of this site) */
  private readonly removed = new Map<string, RemovedMessage>();

  private readonly stmt: {
    selectRow: Database.Statement;
    upsert: Database.Statement;
    remove: Database.Statement;
    addCounts: Database.Statement;
    dropEmptyCounts: Database.Statement;
    getDoc: Database.Statement;
    byDepositKey: Database.Statement;
    counts: Database.Statement;
    pageFolderNewest: Database.Statement;
    pageFolderOldest: Database.Statement;
    pageInboxNewest: Database.Statement;
    pageInboxOldest: Database.Statement;
    idsOfBox: Database.Statement;
    audioOfBox: Database.Statement;
    boxes: Database.Statement;
    missingAudio: Database.Statement;
    deletedOfSite: Database.Statement;
    allDocs: Database.Statement;
    getMeta: Database.Statement;
    setMeta: Database.Statement;
  };

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    /** the file did not exist: nothing to catch up, everything to load */
    readonly created: boolean,
  ) {
    const s = (sql: string) => db.prepare(sql);
    const page = (where: string, order: 'ASC' | 'DESC') => s(`SELECT doc FROM messages WHERE box = ? AND ${where} ORDER BY created_at ${order}, id ${order} LIMIT ? OFFSET ?`);
    this.stmt = {
      selectRow: s('SELECT box, folder, urgent, origin_site AS originSite, audio_key AS audioKey FROM messages WHERE id = ?'),
      upsert: s(
        `INSERT INTO messages (id, box, domain, folder, inbox, created_at, urgent, origin_site, audio_key, audio_missing, audio_sha256, idempotency_key, deleted_at, doc)
         VALUES (@id, @box, @domain, @folder, @inbox, @createdAt, @urgent, @originSite, @audioKey, @audioMissing, @audioSha256, @idempotencyKey, @deletedAt, @doc)
         ON CONFLICT (id) DO UPDATE SET box = excluded.box, domain = excluded.domain, folder = excluded.folder, inbox = excluded.inbox,
           created_at = excluded.created_at, urgent = excluded.urgent, origin_site = excluded.origin_site, audio_key = excluded.audio_key,
           audio_missing = excluded.audio_missing, audio_sha256 = excluded.audio_sha256, idempotency_key = excluded.idempotency_key,
           deleted_at = excluded.deleted_at, doc = excluded.doc`,
      ),
      byDepositKey: s('SELECT doc FROM messages WHERE box = ? AND idempotency_key = ? ORDER BY created_at DESC, id DESC LIMIT 1'),
      remove: s('DELETE FROM messages WHERE id = ?'),
      addCounts: s(
        `INSERT INTO counts (box, new, saved, deleted, urgent) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (box) DO UPDATE SET new = new + excluded.new, saved = saved + excluded.saved, deleted = deleted + excluded.deleted, urgent = urgent + excluded.urgent`,
      ),
      dropEmptyCounts: s('DELETE FROM counts WHERE box = ? AND new = 0 AND saved = 0 AND deleted = 0'),
      getDoc: s('SELECT doc FROM messages WHERE id = ?'),
      counts: s('SELECT new, saved, deleted, urgent FROM counts WHERE box = ?'),
      pageFolderNewest: page('folder = ?', 'DESC'),
      pageFolderOldest: page('folder = ?', 'ASC'),
      pageInboxNewest: page('inbox = 1', 'DESC'),
      pageInboxOldest: page('inbox = 1', 'ASC'),
      idsOfBox: s('SELECT id FROM messages WHERE box = ?'),
      // arrays, not objects: the start-up check reads every message this way
      audioOfBox: s('SELECT id, audio_key, audio_missing, audio_sha256 FROM messages WHERE box = ? AND origin_site = ? AND id > ? ORDER BY id LIMIT ?').raw(true),
      boxes: s('SELECT box FROM counts').pluck(true),
      missingAudio: s('SELECT doc FROM messages WHERE domain = ? AND audio_missing = 1 AND origin_site = ? ORDER BY created_at DESC, id DESC'),
      deletedOfSite: s("SELECT id, box, deleted_at AS deletedAt FROM messages WHERE folder = 'deleted' AND origin_site = ? ORDER BY deleted_at"),
      allDocs: s('SELECT id, doc FROM messages'),
      getMeta: s('SELECT value FROM meta WHERE name = ?'),
      setMeta: s('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
    };
  }

  static open(file: string): MessageStore {
    const created = !existsSync(file);
    mkdirSync(dirname(file), { recursive: true });
    // Another program holding the file's write lock (a sqlite3 shell, a backup) makes an apply
    // wait this long, with the event loop blocked, before it fails and is retried (metadata.ts).
    const db = new Database(file, { timeout: BUSY_WAIT_MS });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // 1 MiB of page cache rather than better-sqlite3's 16 MiB: the start-up check reads every
      // index entry once (20 MB of index at 100,000 messages), and whatever cache it fills stays
      // resident (4 MiB cost 3.4 MB of RSS); a listing reads a few dozen pages, which the OS
      // cache serves at a pread each
      db.pragma(`cache_size = -${CACHE_KIB}`);
      // a bulk write (the import, a rebuild) grows the WAL to the size of the store: cut it back after
      db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
      db.exec(SCHEMA);
      const version = (db.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as { value: string } | undefined)?.value;
      if (version !== undefined && Number(version) > Number(SCHEMA_VERSION)) throw new Error(`it was written by a newer Sitecall (schema ${version}; this one knows ${SCHEMA_VERSION})`);
      if (version === '1' || version === '2') {
        db.transaction(() => {
          // schema 1 kept no checksums: the column is added, empty (unknown) for the messages it holds
          if (version === '1') db.exec('ALTER TABLE messages ADD COLUMN audio_sha256 TEXT; DROP INDEX IF EXISTS messages_audio;');
          // the keys come from the documents (a store of schema 2 kept them only there, if a peer sent any)
          db.exec("ALTER TABLE messages ADD COLUMN idempotency_key TEXT; UPDATE messages SET idempotency_key = json_extract(doc, '$.idempotencyKey') WHERE json_type(doc, '$.idempotencyKey') = 'text';");
          db.prepare("UPDATE meta SET value = ? WHERE name = 'schema'").run(SCHEMA_VERSION);
        })();
      }
      db.exec(INDEXES);
      if (version === undefined) db.prepare("INSERT INTO meta (name, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
      return new MessageStore(db, file, created);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  // --- the write-ahead view -----------------------------------------------------------------

  async apply(version: VersionedDoc): Promise<void> {
    this.assertOpen();
    if (version.kind !== MESSAGE_KIND) throw new Error(`the message store holds ${MESSAGE_KIND}, not ${version.kind}`);
    try {
      this.applyOne(version);
    } catch (err) {
      for (const l of this.applyFailures) l(err as Error);
      throw err;
    }
  }

  /**
   * The versions in one transaction (the log hands over what committed meanwhile as one batch):
   * a transaction a message cost 0.2 ms each, 2 s of the first start after an upgrade of
   * 10,000 messages. A failure rolls the whole batch back; the log hands it over again, and an
   * apply repeated changes nothing.
   */
  async applyMany(versions: readonly VersionedDoc[]): Promise<void> {
    this.assertOpen();
    const wrong = versions.find((v) => v.kind !== MESSAGE_KIND);
    if (wrong) throw new Error(`the message store holds ${MESSAGE_KIND}, not ${wrong.kind}`);
    try {
      this.db.transaction(() => {
        for (const version of versions) this.applyInTransaction(version);
      })();
    } catch (err) {
      for (const l of this.applyFailures) l(err as Error);
      throw err;
    }
  }

  /** Listens to the applies that fail (the file locked by another program, the disk full). */
  onApplyFailed(listener: (err: Error) => void): () => void {
    this.applyFailures.add(listener);
    return () => this.applyFailures.delete(listener);
  }

  private applyOne(version: VersionedDoc): void {
    this.db.transaction(() => this.applyInTransaction(version))();
  }

  private applyInTransaction(version: VersionedDoc): void {
    const old = this.stmt.selectRow.get(version.key) as (MessageRow & RemovedMessage) | undefined;
    if (old) {
      this.count(old, -1);
      if (version.tombstone) this.removed.set(version.key, { box: old.box, originSite: old.originSite, audioKey: old.audioKey });
    }
    if (version.tombstone || version.body === null) {
      if (old) this.stmt.remove.run(version.key);
      return;
    }
    const doc = checkedDoc(version.key, version.body);
    this.stmt.upsert.run(rowOf(doc));
    this.count({ box: doc.box, folder: doc.folder, urgent: doc.urgent ? 1 : 0 }, 1);
  }

  async load(versions: readonly VersionedDoc[]): Promise<void> {
    this.assertOpen();
    this.bulk(() => {
      this.db.exec('DELETE FROM messages;');
      for (const v of versions) if (!v.tombstone && v.body !== null) this.stmt.upsert.run(rowOf(checkedDoc(v.key, v.body)));
    });
  }

  async contents(): Promise<{ kind: string; key: string; body: unknown }[]> {
    return (this.stmt.allDocs.all() as { id: string; doc: string }[]).map((r) => ({ kind: MESSAGE_KIND, key: r.id, body: JSON.parse(r.doc) as unknown }));
  }

  /**
   * Makes every commit so far survive a power loss. With synchronous NORMAL a WAL commit is not
   * fsync'd, but a checkpoint fsyncs the WAL before it copies any of it into the database (and the
   * database after); with this one connection and no reader in between, it copies all of it.
   */
  async sync(): Promise<void> {
    // Closed: close() checkpointed everything, and nothing can be applied any more.
    if (this.closed) return;
    const [result] = this.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    if (!result || result.busy !== 0 || result.checkpointed !== result.log) throw new Error(`the checkpoint of ${this.file} did not complete (${JSON.stringify(result)})`);
  }

  // --- migration from nedb ------------------------------------------------------------------

  /**
   * Takes in the messages of the nedb file they lived in before (one JSON document per line, a
   * later line of an id replacing an earlier one, `$$deleted` removing it), once: the import and
   * its mark commit together, so a crash before the log adopted them imports nothing twice. The
   * nedb file is left where it is; `retireLegacy` renames it once the log holds its messages.
   */
  async importLegacy(file: string): Promise<number> {
    this.assertOpen();
    if (this.stmt.getMeta.get('imported_from_nedb') || !existsSync(file)) return 0;
    // read whole (one split is far quicker than a line reader, and this runs once); every line is
    // parsed once and written in file order, so a later line of an id replaces the earlier one
    const text = await readFile(file, 'utf8');
    let imported = 0;
    this.bulk(() => {
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        let doc: { _id?: unknown; $$deleted?: unknown };
        try {
          doc = JSON.parse(line) as typeof doc;
        } catch {
          continue; // a torn last line after a crash: nedb skips it too
        }
        if (typeof doc._id !== 'string') continue; // index definitions ($$indexCreated)
        if (doc.$$deleted === true) this.stmt.remove.run(doc._id);
        // the line is the document's JSON as nedb gave it back: stored as it is
        else this.stmt.upsert.run(rowOf(checkedDoc(doc._id, doc), line));
      }
      imported = (this.db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
      this.stmt.setMeta.run('imported_from_nedb', JSON.stringify({ file, messages: imported, at: new Date().toISOString() }));
    });
    return imported;
  }

  /** Whether the messages of a nedb file were imported here (and are in the log once attached). */
  importedFromNedb(): boolean {
    return this.stmt.getMeta.get('imported_from_nedb') !== undefined;
  }

  /** The nedb file, once its messages are in the log, gets out of the way (renamed, not deleted). */
  static retireLegacy(file: string): string | undefined {
    if (!existsSync(file)) return undefined;
    const to = `${file}.migrated`;
    renameSync(file, to);
    return to;
  }

  // --- reads ----------------------------------------------------------------------------------

  get(id: string): MessageDoc | null {
    const row = this.stmt.getDoc.get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as MessageDoc) : null;
  }

  /** The newest message of a mailbox that a deposit with this Idempotency-Key made (any folder), or null. */
  byDepositKey(box: string, key: string): MessageDoc | null {
    const row = this.stmt.byDepositKey.get(box, key) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as MessageDoc) : null;
  }

  counts(box: string): MessageCounts {
    const row = this.stmt.counts.get(box) as MessageCounts | undefined;
    return row ? { new: row.new, saved: row.saved, deleted: row.deleted, urgent: row.urgent } : emptyCounts();
  }

  /** A page of a mailbox's messages, newest (or oldest) first by (createdAt, id); `inbox` is new and saved together. */
  page(box: string, folder: ListFolder, order: 'newest' | 'oldest', offset: number, limit: number): { items: MessageDoc[]; total: number } {
    const c = this.counts(box);
    const total = folder === 'inbox' ? c.new + c.saved : c[folder];
    if (total === 0 || offset >= total) return { items: [], total };
    const rows = (
      folder === 'inbox'
        ? (order === 'newest' ? this.stmt.pageInboxNewest : this.stmt.pageInboxOldest).all(box, limit, offset)
        : (order === 'newest' ? this.stmt.pageFolderNewest : this.stmt.pageFolderOldest).all(box, folder, limit, offset)
    ) as { doc: string }[];
    return { items: rows.map((r) => JSON.parse(r.doc) as MessageDoc), total };
  }

  /** Every message id of a mailbox, in every folder. */
  ids(box: string): string[] {
    return (this.stmt.idsOfBox.all(box) as { id: string }[]).map((r) => r.id);
  }

  /**
   * A page of the audio of a mailbox's messages that this site holds, by id, after `afterId` (for
   * the store check: pages, so that it never holds a mailbox's messages at once, and a statement
   * per page, so that the connection is free for the writes in between).
   */
  audioPage(box: string, site: string, afterId: string, limit: number): AudioRef[] {
    return this.stmt.audioOfBox.all(box, site, afterId, limit) as AudioRef[];
  }

  /** The mailboxes that have messages (`domain/number`). */
  boxes(): string[] {
    return this.stmt.boxes.all() as string[];
  }

  /** A domain's messages of this site whose audio the start-up check did not find, newest first. */
  missingAudio(domain: string, site: string): MessageDoc[] {
    return (this.stmt.missingAudio.all(domain, site) as { doc: string }[]).map((r) => JSON.parse(r.doc) as MessageDoc);
  }

  /** The deleted messages of this site, oldest deletion first (what the retention purge looks at). */
  deletedOf(site: string): { id: string; box: string; deletedAt: string | null }[] {
    return this.stmt.deletedOfSite.all(site) as { id: string; box: string; deletedAt: string | null }[];
  }

  /** The mailbox whose message a tombstone just removed: taken once by the listener of that change. */
  takeRemovedFrom(id: string): string | undefined {
    return this.takeRemoved(id)?.box;
  }

  /** What a tombstone just removed (its mailbox, where its audio was): taken once by the listener of that change. */
  takeRemoved(id: string): RemovedMessage | undefined {
    const removed = this.removed.get(id);
    this.removed.delete(id);
    return removed;
  }

  /** Forgets what no listener will take (the tombstones applied while catching up at start). */
  forgetRemoved(): void {
    this.removed.clear();
  }

  /** Checkpoints and closes; the log's later `sync` calls find everything durable. */
  close(): void {
    if (this.closed) return;
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
    this.closed = true;
  }

  private count(row: MessageRow, sign: 1 | -1): void {
    const f = row.folder;
    this.stmt.addCounts.run(row.box, f === 'new' ? sign : 0, f === 'saved' ? sign : 0, f === 'deleted' ? sign : 0, f === 'new' && row.urgent ? sign : 0);
    if (sign < 0) this.stmt.dropEmptyCounts.run(row.box);
  }

  /**
   * Writes many messages in one transaction: the indexes are dropped before and made again after
   * (one sort each instead of an insertion per row), and the counts are taken again.
   */
  private bulk(fn: () => void): void {
    this.db.transaction(() => {
      this.db.exec(DROP_INDEXES);
      fn();
      this.db.exec(INDEXES);
      this.recount();
    })();
  }

  private recount(): void {
    this.db.exec(`
      DELETE FROM counts;
      INSERT INTO counts (box, new, saved, deleted, urgent)
        SELECT box, sum(folder = 'new'), sum(folder = 'saved'), sum(folder = 'deleted'), sum(folder = 'new' AND urgent = 1) FROM messages GROUP BY box;
    `);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`the message store ${this.file} is closed`);
  }
}

const FOLDER_SET: ReadonlySet<string> = new Set(FOLDERS);

/** The body of a message entry, checked for what the store indexes (an entry from a peer is not trusted to be whole). */
function checkedDoc(key: string, body: unknown): MessageDoc {
  const d = body as Partial<MessageDoc> | null;
  const ok =
    d !== null &&
    typeof d === 'object' &&
    d._id === key &&
    typeof d.box === 'string' &&
    typeof d.domain === 'string' &&
    typeof d.folder === 'string' &&
    FOLDER_SET.has(d.folder) &&
    typeof d.createdAt === 'string' &&
    typeof d.urgent === 'boolean' &&
    typeof d.originSite === 'string' &&
    typeof d.storage === 'object' &&
    d.storage !== null &&
    typeof d.storage.key === 'string';
  if (!ok) throw new Error(`the voicemail message ${key} is not a message document`);
  return d as MessageDoc;
}

function rowOf(doc: MessageDoc, json = JSON.stringify(doc)): Record<string, unknown> {
  return {
    id: doc._id,
    box: doc.box,
    domain: doc.domain,
    folder: doc.folder,
    inbox: doc.folder === 'deleted' ? 0 : 1,
    createdAt: doc.createdAt,
    urgent: doc.urgent ? 1 : 0,
    originSite: doc.originSite,
    audioKey: doc.storage.key,
    audioMissing: doc.audioMissing ? 1 : 0,
    audioSha256: typeof doc.storage.sha256 === 'string' ? doc.storage.sha256 : null,
    // a peer's document is not trusted to be whole: a key that is not text is no key
    idempotencyKey: typeof doc.idempotencyKey === 'string' ? doc.idempotencyKey : null,
    deletedAt: doc.deletedAt,
    doc: json,
  };
}
