import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import { StartupError } from '../errors.js';
import type { ChangeFeed } from './changes.js';

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
 * every change idempotent and replayable on another site; each goes through the change feed.
 */
export class Collection<T extends Doc> {
  constructor(
    readonly name: string,
    private readonly ds: Datastore<T>,
    private readonly feed: ChangeFeed,
    private readonly replicate: boolean,
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
    const updated = (await this.ds.update({ _id: id } as Query, { $set: fields } as Query, { upsert: false, multi: false, returnUpdatedDocs: true })) as unknown as T | null;
    if (!updated) return null;
    this.feed.publish({ collection: this.name, op: 'put', id, doc: updated, replicate: this.replicate });
    return updated;
  }

  /** Deletes by id; false when there was nothing to delete. */
  async delete(id: string): Promise<boolean> {
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

  /** nedb appends every write; compaction rewrites the file with one line per live document. */
  async compact(): Promise<void> {
    // nedb-promises forwards unknown members to @seald-io/nedb, whose awaitable form is not in its typings.
    await (this.ds as unknown as { compactDatafileAsync(): Promise<void> }).compactDatafileAsync();
  }
}

/** The appliance's document store: one nedb file per collection under `<dataDir>/db`. */
export class DocumentStore {
  private readonly collections = new Map<string, Collection<Doc>>();

  constructor(
    private readonly dir: string,
    readonly feed: ChangeFeed,
  ) {}

  static directoryFor(dataDir: string): string {
    return join(dataDir, 'db');
  }

  async open<T extends Doc>(name: string, opts: CollectionOptions = {}): Promise<Collection<T>> {
    if (this.collections.has(name)) throw new Error(`collection ${name} opened twice`);
    const filename = join(this.dir, `${name}.db`);
    const ds = Datastore.create({ filename, autoload: false }) as unknown as Datastore<T>;
    try {
      await ds.load();
      for (const index of opts.indexes ?? []) await ds.ensureIndex({ fieldName: index.fieldName, unique: index.unique ?? false });
    } catch (err) {
      throw new StartupError(`Cannot load ${filename}: ${(err as Error).message}. Restore it from a backup or move it away.`);
    }
    const collection = new Collection<T>(name, ds, this.feed, opts.replicate ?? true);
    this.collections.set(name, collection as unknown as Collection<Doc>);
    return collection;
  }

  /** Called at shutdown: leaves every file compact and fully written. */
  async flush(): Promise<void> {
    for (const c of this.collections.values()) await c.compact();
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
