import { existsSync, readFileSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import { StartupError } from '../errors.js';
import type { ChangeFeed } from './changes.js';
import type { VersionedDoc } from './changelog/core/merge.js';
import { LOGGED_COLLECTIONS } from './changelog/kinds.js';
import type { ChangeLog, WriteAheadView } from './changelog/log.js';

/** A stored document: nedb's `_id` is the key. */
export interface Doc {
  _id: string;
}

export interface CollectionOptions {
  /** fields with a secondary index */
  indexes?: { fieldName: string; unique?: boolean }[];
  /** false for site-local state (see Change.replicate) */
  replicate?: boolean;
}

type Query = Record<string, unknown>;

/**
 * A collection of documents in nedb. Writes are whole-document puts and deletes by id, which makes
 * every change idempotent and replayable on another site.
 *
 * A collection of replicated state (LOGGED_COLLECTIONS: configuration, users, API tokens) is a
 * write-ahead view of the change log: a write appends its entry to the log (committed, with its
 * (hlc, origin) version; a delete is a tombstone), then the nedb file is updated, then the change
 * is published on the feed with its log position. At start the file is caught up from the log,
 * or rebuilt when it is missing. The other collections write nedb directly and publish.
 */
export class Collection<T extends Doc> {
  /** writes of a logged collection run one at a time: a unique field is checked against the file before the log is written */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly ds: Datastore<T>,
    private readonly feed: ChangeFeed,
    private readonly replicate: boolean,
    private readonly log?: ChangeLog,
    private readonly uniqueFields: readonly string[] = [],
  ) {}

  async get(id: string): Promise<T | null> {
    return (await this.ds.findOne({ _id: id } as Query)) as T | null;
  }

  async find(query: Query = {}, opts: { sort?: Record<string, 1 | -1>; limit?: number; skip?: number } = {}): Promise<T[]> {
    let cursor = this.ds.find(query);
    if (opts.sort) cursor = cursor.sort(opts.sort);
    if (opts.skip) cursor = cursor.skip(opts.skip);
    if (opts.limit) cursor = cursor.limit(opts.limit);
    return (await cursor) as T[];
  }

  async findOne(query: Query): Promise<T | null> {
    return (await this.ds.findOne(query)) as T | null;
  }

  async count(query: Query = {}): Promise<number> {
    return this.ds.count(query);
  }

  /** Inserts or replaces the document with this `_id`. */
  async put(doc: T): Promise<T> {
    const log = this.log;
    if (log) {
      return this.serially(async () => {
        await this.checkUnique(doc);
        const appended = log.append({ kind: this.name, key: doc._id, body: doc });
        await appended.applied;
        if (!appended.version) throw new Error(`${this.name}/${doc._id} was deleted and cannot be written again.`);
        return doc;
      });
    }
    await this.ds.update({ _id: doc._id } as Query, doc, { upsert: true });
    this.feed.publish({ collection: this.name, op: 'put', id: doc._id, doc, replicate: this.replicate });
    return doc;
  }

  /**
   * Sets some fields of the document with this `_id` if it exists, and returns it as it now is, or
   * null when there is none: unlike a read followed by `put`, it never brings back a document
   * deleted in between (nedb runs each operation whole, in order).
   */
  async patch(id: string, fields: Partial<Omit<T, '_id'>>): Promise<T | null> {
    const log = this.log;
    if (log) {
      return this.serially(async () => {
        // The log's version is the truth (the file may still be applying an earlier write).
        const current = log.document<T>(this.name, id);
        if (!current || current.tombstone || current.body === null) return null;
        const next = { ...current.body, ...fields, _id: id } as T;
        await this.checkUnique(next);
        const appended = log.append({ kind: this.name, key: id, body: next });
        await appended.applied;
        return appended.version ? next : null;
      });
    }
    const updated = (await this.ds.update({ _id: id } as Query, { $set: fields } as Query, { upsert: false, multi: false, returnUpdatedDocs: true })) as unknown as T | null;
    if (!updated) return null;
    this.feed.publish({ collection: this.name, op: 'put', id, doc: updated, replicate: this.replicate });
    return updated;
  }

  /** Deletes by id; false when there was nothing to delete. */
  async delete(id: string): Promise<boolean> {
    const log = this.log;
    if (log) {
      return this.serially(async () => {
        const current = log.document(this.name, id);
        if (!current || current.tombstone) return false;
        await log.append({ kind: this.name, key: id, body: null }).applied;
        return true;
      });
    }
    const removed = await this.ds.remove({ _id: id } as Query, { multi: false });
    if (removed === 0) return false;
    this.feed.publish({ collection: this.name, op: 'delete', id, doc: null, replicate: this.replicate });
    return true;
  }

  /** Deletes every document matching the query, one change per document. */
  async deleteWhere(query: Query): Promise<number> {
    const victims = await this.ds.find(query);
    let n = 0;
    for (const doc of victims) if (await this.delete((doc as T)._id)) n++;
    return n;
  }

  /** The version the change log holds of a document (tombstones included); undefined for a collection outside the log. */
  version(id: string): VersionedDoc<T> | undefined {
    return this.log?.document<T>(this.name, id);
  }

  private serially<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.writes.then(fn, fn);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /**
   * nedb would refuse a duplicate of a unique field when the log already holds the write; so the
   * duplicate is refused before, with the error nedb gives (writes are serial, so nothing slips in).
   */
  private async checkUnique(doc: T): Promise<void> {
    for (const field of this.uniqueFields) {
      const value = (doc as unknown as Record<string, unknown>)[field];
      if (value === undefined) continue;
      const other = await this.ds.findOne({ [field]: value, _id: { $ne: doc._id } } as Query);
      if (other) throw Object.assign(new Error(`The value of ${field} violates the unique constraint of ${this.name}.`), { errorType: 'uniqueViolated', key: field });
    }
  }

  /** nedb appends every write; compaction rewrites the file with one line per live document. */
  async compact(): Promise<void> {
    // nedb-promises forwards unknown members to @seald-io/nedb, whose awaitable form is not in its typings.
    await (this.ds as unknown as { compactDatafileAsync(): Promise<void> }).compactDatafileAsync();
  }
}

export interface DocumentStoreOptions {
  /** the collections that are views of the change log (default LOGGED_COLLECTIONS) */
  logged?: readonly string[];
}

/** The appliance's document store: one nedb file per collection under `<dataDir>/db`. */
export class DocumentStore {
  private readonly collections = new Map<string, Collection<Doc>>();
  private readonly logged: ReadonlySet<string>;
  private log: ChangeLog | undefined;
  private unsubscribeLog: (() => void) | undefined;

  constructor(
    private readonly dir: string,
    readonly feed: ChangeFeed,
    opts: DocumentStoreOptions = {},
  ) {
    this.logged = new Set(opts.logged ?? LOGGED_COLLECTIONS);
  }

  static directoryFor(dataDir: string): string {
    return join(dataDir, 'db');
  }

  /**
   * Makes the logged collections write through the change log. Their changes reach the feed from
   * the log, in log order, with their position, once their file holds them.
   */
  attachLog(log: ChangeLog): void {
    if (this.log) throw new Error('the change log is attached already');
    this.log = log;
    this.unsubscribeLog = log.onApplied(({ entry, version }) => {
      if (!this.logged.has(version.kind) || !this.collections.has(version.kind)) return;
      this.feed.publish({
        collection: version.kind,
        op: version.tombstone ? 'delete' : 'put',
        id: version.key,
        doc: version.tombstone ? null : version.body,
        replicate: true,
        origin: entry.origin,
        seq: entry.seq,
      });
    });
  }

  async open<T extends Doc>(name: string, opts: CollectionOptions = {}): Promise<Collection<T>> {
    if (this.collections.has(name)) throw new Error(`collection ${name} opened twice`);
    const logged = this.logged.has(name) && (opts.replicate ?? true);
    if (logged && !this.log) throw new Error(`collection ${name} is a view of the change log: attach the log before opening it`);
    const filename = join(this.dir, `${name}.db`);
    // No file yet: a first start, or a data directory emptied of its documents, which the log rebuilds.
    const fresh = !existsSync(filename);
    const ds = Datastore.create({ filename, autoload: false }) as unknown as Datastore<T>;
    try {
      await ds.load();
      for (const index of opts.indexes ?? []) await ds.ensureIndex({ fieldName: index.fieldName, unique: index.unique ?? false });
    } catch (err) {
      throw new StartupError(`Cannot load ${filename}: ${(err as Error).message}. Restore it from a backup or move it away.`);
    }
    if (logged && this.log) {
      try {
        await this.log.attachView(new NedbView(name, ds as unknown as Datastore<Doc>, filename), { fresh });
      } catch (err) {
        throw new StartupError(`Cannot bring ${filename} up to date from the change log: ${(err as Error).message}. Move the file away to have it rebuilt from the log.`);
      }
    }
    const unique = (opts.indexes ?? []).filter((i) => i.unique).map((i) => i.fieldName);
    const collection = new Collection<T>(name, ds, this.feed, opts.replicate ?? true, logged ? this.log : undefined, unique);
    this.collections.set(name, collection as unknown as Collection<Doc>);
    return collection;
  }

  /** Called at shutdown: leaves every file compact and fully written (the log's stores first). */
  async flush(): Promise<void> {
    await this.log?.drained();
    for (const c of this.collections.values()) await c.compact();
  }

  /** Stops publishing the log's changes (at shutdown, before the log closes). */
  detachLog(): void {
    this.unsubscribeLog?.();
    this.unsubscribeLog = undefined;
  }
}

/** A nedb collection as a write-ahead view of the change log. */
class NedbView implements WriteAheadView {
  readonly kinds: readonly string[];

  constructor(
    readonly name: string,
    private readonly ds: Datastore<Doc>,
    private readonly filename: string,
  ) {
    this.kinds = [name];
  }

  async apply(version: VersionedDoc): Promise<void> {
    if (version.tombstone) await this.ds.remove({ _id: version.key } as Query, { multi: false });
    else await this.ds.update({ _id: version.key } as Query, { ...(version.body as object), _id: version.key }, { upsert: true });
  }

  async load(versions: readonly VersionedDoc[]): Promise<void> {
    await this.ds.remove({}, { multi: true });
    if (versions.length) await this.ds.insert(versions.map((v) => ({ ...(v.body as object), _id: v.key })));
  }

  async contents(): Promise<{ kind: string; key: string; body: unknown }[]> {
    return (await this.ds.find({})).map((doc) => ({ kind: this.name, key: (doc as Doc)._id, body: doc }));
  }

  /** nedb appends without fsync; the log saves this view's position only after this. */
  async sync(): Promise<void> {
    let handle;
    try {
      handle = await openFile(this.filename, 'r+');
      await handle.sync();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    } finally {
      await handle?.close();
    }
  }
}

/**
 * Reads one document from a collection's file without opening it as a datastore: opening would
 * rewrite the file, which must never happen under a running service. nedb's format is one JSON
 * document per line, later lines replacing earlier ones, `$$deleted` marking a removal.
 */
export function peekDocument<T extends Doc>(dataDir: string, collection: string, id: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(join(DocumentStore.directoryFor(dataDir), `${collection}.db`), 'utf8');
  } catch {
    return undefined;
  }
  let found: T | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const doc = JSON.parse(line) as Doc & { $$deleted?: boolean };
      if (doc._id !== id) continue;
      found = doc.$$deleted ? undefined : (doc as T);
    } catch {
      // a torn last line after a crash: nedb skips it too
    }
  }
  return found;
}
