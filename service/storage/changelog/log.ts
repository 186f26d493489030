import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { WorkerShim } from '../worker-shim.js';
import { decodeHlc, encodeHlc, HybridClock, isEncodedHlc } from './core/hlc.js';
import { conflictStep, mergeVersions, sameRef, type MergePolicy, type PolicyOf, type VersionedDoc, type VersionRef } from './core/merge.js';
import { ConflictRecords, type ConflictQuery, type ConflictRow, type ConflictRule } from './conflicts.js';
import { decodeBase, encodeBase, LogQueries, type HeldRange, type LogEntry, type SinceVector } from './reader.js';
import { createSchema } from './schema.js';

export type LogDurability = 'fsync' | 'os';

export interface ChangeLogOptions {
  /** this site's id: the origin of every change appended here */
  origin: string;
  /** how the versions of each kind merge (core/merge.ts) */
  policyOf: PolicyOf;
  /** `fsync` (default): a commit is on disk when append returns; `os`: it survives a crash of the process, not of the machine */
  durability?: LogDurability;
  /** physical time for the clock; Date.now unless a test says otherwise */
  physicalNow?: () => number;
  /** how far ahead a received stamp may be (core/hlc.ts DEFAULT_MAX_DRIFT_MS) */
  maxDriftMs?: number;
  /** where the WAL checkpoint thread comes from (tests: the TypeScript sources); default the built checkpoint-thread.js */
  checkpointWorker?: WorkerShim;
  /**
   * another thread that checkpoints the log's WAL instead of a thread of the log's own (the
   * service: the CDR writer thread; a Node.js thread costs about 10 MB of resident memory)
   */
  checkpointer?: WalCheckpointer;
  /**
   * the kinds whose overwritten versions are kept (core/merge.ts conflictStep, conflicts.ts), with
   * their rule; undefined for a kind: not kept. Default: none.
   */
  conflictRuleOf?: (kind: string) => ConflictRule | undefined;
  /** this machine's clock for when a conflict was found (tests may fix it) */
  now?: () => number;
}

/** Checkpoints the log's WAL off the main thread (see ChangeLogOptions.checkpointer). */
export interface WalCheckpointer {
  /** a PASSIVE checkpoint of `file` (wal-checkpoints.ts); rejects when it cannot now (its thread is down) */
  checkpoint(file: string): Promise<void>;
}

/** A change to append: the whole document after it, or null for a delete. */
export interface NewChange<B = unknown> {
  kind: string;
  key: string;
  body: B | null;
}

export interface Appended<B = unknown> {
  entry: LogEntry<B>;
  /**
   * The version the key holds after this entry, when the entry changed it (document kinds), or
   * the entry itself (add-only kinds); undefined when an existing version beat it.
   */
  version: VersionedDoc<B> | undefined;
  /** resolves once every write-ahead store of its kind has applied it and the listeners have seen it */
  applied: Promise<void>;
}

/** What a write in the open group can do besides its own statements on `database`. */
export interface GroupWriter {
  /**
   * Appends a local change to the open group; `text` is its body already serialized (JSON of
   * `body`), for a caller that has the text anyway. Its write-ahead views and listeners see it
   * after the group's COMMIT.
   */
  append<B>(change: NewChange<B>, text?: string): LogEntry<B>;
  /**
   * Appends records of one add-only kind, in order, each with its body already serialized:
   * what `append` does for each, in one multi-row INSERT per few dozen rows instead of one
   * statement per record (the raw events of a message). Returns their entries.
   */
  appendRecords<B>(kind: string, records: readonly { key: string; body: B; text: string }[]): LogEntry<B>[];
  /** the seq the next append here gets (for a row that names its entry, written before it) */
  nextSeq(): number;
}

export interface GroupWriteOptions {
  /** this write must survive a power loss: its commit is fsync'd (synchronous FULL) */
  fsync?: boolean;
}

/** A write that waits for the next group (ChangeLog.writeSoon). */
interface SoonWrite {
  fn: (writer: GroupWriter) => void;
  fsync: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupWritten<T> {
  result: T;
  /** resolves once the group holding the write committed (fsync'd when anything in it asked for it); rejects if it rolled back */
  committed: Promise<void>;
}

/**
 * A store outside this SQLite file that holds documents of some kinds (the nedb files): the log
 * is written first, then the store is told; its position is saved only after `sync`, and at start
 * it is caught up (or rebuilt) from the log, so a crash in between loses nothing.
 */
export interface WriteAheadView {
  readonly name: string;
  readonly kinds: readonly string[];
  /** makes the store hold this version of its key: the body, or nothing for a tombstone */
  apply(version: VersionedDoc): Promise<void>;
  /**
   * applies several versions at once, in order (a group's, or a catch-up page): when present it
   * is used instead of `apply`, so a store can write them in one transaction
   */
  applyMany?(versions: readonly VersionedDoc[]): Promise<void>;
  /** told, as they are handed over, how many versions now wait for it (before its apply runs) */
  queued?(count: number): void;
  /** replaces everything the store holds with these live documents (a rebuild) */
  load(versions: readonly VersionedDoc[]): Promise<void>;
  /** what the store holds now, for adopting a store written before the log existed */
  contents(): Promise<{ kind: string; key: string; body: unknown }[]>;
  /** makes everything applied so far survive a power loss; called before its position is saved */
  sync(): Promise<void>;
}

export interface AttachOptions {
  /** the store's files were just created (an empty data directory): rebuild it from the log */
  fresh: boolean;
  /**
   * a store of add-only kinds is caught up in the background: attachView returns at once, the
   * entries appended meanwhile queue behind the catch-up, and its position stays before it until
   * it is done (`drained()` resolves then). Otherwise attachView waits for it.
   */
  background?: boolean;
}

export interface AttachResult {
  /** how the store was brought up to date; `catching-up`: in the background (AttachOptions.background) */
  how: 'current' | 'caught-up' | 'rebuilt' | 'adopted' | 'catching-up';
  /** documents applied or loaded */
  documents: number;
}

/** A change the log has, with the version it made, in log order once its stores applied it. */
export interface AppliedChange {
  entry: LogEntry;
  version: VersionedDoc;
}

export interface LogSnapshot {
  /** for each origin the last seq (and its stamp) whose effect the documents include */
  vector: Record<string, { seq: number; hlc: string | null }>;
  /** every document version, tombstones included (they keep older puts from coming back) */
  documents: VersionedDoc[];
}

export interface CompactOptions {
  /** entries younger than this are kept whatever the peers have */
  minAgeMs: number;
  now?: number;
  /** entries deleted per transaction, so that appends are never held up for long */
  batch?: number;
}

/** A remote entry that does not follow the last one this log holds of its origin. */
export class LogGapError extends Error {
  override name = 'LogGapError';
}

interface AttachedView {
  view: WriteAheadView;
  /** applies run one after another, in log order */
  chain: Promise<void>;
  /** per origin id, the first seq of each batch handed to the store and not applied yet, oldest first */
  inFlight: Map<number, number[]>;
  /** per origin id, the first seq the store failed to apply: its position stays before it */
  failedAt: Map<number, number>;
  changed: boolean;
  /**
   * the batch waiting behind the one being applied, not started yet: for a store with
   * applyMany, what is handed over meanwhile joins it, so under load the batches grow instead of
   * queueing one per commit
   */
  waiting: ViewBatch | undefined;
}

interface ViewBatch {
  versions: VersionedDoc[];
  /** per origin id, the first seq of the batch */
  firstSeq: Map<number, number>;
  /** settles once the store applied the batch */
  run: Promise<void>;
}

interface Pending {
  /** the changes to report to the listeners, in log order */
  changes: AppliedChange[];
  done: boolean;
  error?: unknown;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface DocRow {
  hlc: string;
  origin: number;
  body: string | null;
  base: string | null;
}

/**
 * The page size of a new log file. `entries` is a WITHOUT ROWID table, whose rows are stored in
 * the b-tree itself: on 4 KiB pages a row longer than about 1,000 bytes spills the rest into an
 * overflow page of its own, so a CDR (1.2-1.6 KB of JSON) took 4.4 KB on disk and an extra page
 * in every commit; on 8 KiB pages rows up to about 2,000 bytes stay inline.
 */
const LOG_PAGE_SIZE = 8192;
const POSITION_SAVE_MS = 1_000;
/** rows per multi-row INSERT of records (6 parameters a row, well below SQLite's limit) */
const RECORD_ROWS_PER_INSERT = 32;
const CHECKPOINT_INTERVAL_MS = 1_000;
/** a checkpointer failing this long (its thread down and restarting) has the connection checkpoint itself meanwhile */
const CHECKPOINTER_DOWN_MS = 10_000;
/** the connection's own checkpoint when the WAL reaches so many pages (64 MiB of 4 KiB pages) while checkpoints are delegated */
const BACKSTOP_AUTOCHECKPOINT_PAGES = 16_384;

/** The group transaction open on the connection: it commits on the next turn of the event loop. */
interface OpenGroup {
  /** opened with synchronous FULL */
  fsync: boolean;
  /** what it appended, for the views and listeners once it committed */
  changes: { entry: LogEntry; version: VersionedDoc | undefined }[];
  /** writes that ran in it and were kept */
  writes: number;
  committed: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The JSON text of a version's body, as the log stored it, for the versions it hands to the
 * write-ahead views (bodyTextOf): a view that sends bodies elsewhere (the CDR store's thread)
 * sends this text, serialized once, instead of a copy of the object.
 */
const BODY_TEXTS = new WeakMap<VersionedDoc, string>();

/** The body of a version handed to a write-ahead view, as JSON text (the text the log stored), if the log kept it. */
export function bodyTextOf(version: VersionedDoc): string | undefined {
  return BODY_TEXTS.get(version);
}

/** Thrown inside a group write that needs an fsync'd commit while the open group has none: it runs again in a new group. */
const NEEDS_FSYNC = Symbol('needs fsync');

/**
 * The per-origin change log (design section 7): every change of replicated state, in one SQLite
 * file (WAL), as `origin, seq, hlc, kind, key, body`, with the merged last version of each
 * document beside it in the same transaction.
 *
 * Two ways to write through it:
 * - state in this same database: call `append` inside the caller's transaction on `database`
 *   (better-sqlite3 nests it as a savepoint): the state and its entry commit or roll back together;
 * - state elsewhere (nedb files): `append` commits the entry first, then hands the resulting
 *   version to the write-ahead views of its kind (`attachView`); each view's applied position is
 *   saved after the view made its files durable, and `attachView` at start re-applies what came
 *   after it.
 */
export class ChangeLog extends LogQueries {
  readonly origin: string;
  readonly clock: HybridClock;
  private readonly policyOf: PolicyOf;
  private readonly selfId: number;
  private readonly heads = new Map<number, number>();
  private readonly views = new Map<string, AttachedView>();
  private readonly viewsByKind = new Map<string, AttachedView[]>();
  private readonly pending: Pending[] = [];
  private readonly appliedListeners = new Set<(change: AppliedChange) => void>();
  /** stores that index entries of this site: compaction keeps every entry from the lowest seq they still need */
  private readonly holds = new Set<(originId: number) => number | undefined>();
  /** the listeners that asked for add-only records too (onApplied with `records`) */
  private readonly recordListeners = new Set<(change: AppliedChange) => void>();
  private readonly commitListeners = new Set<() => void>();
  /** run inside `receive`'s transaction for each entry taken in (the journal's index of a peer's events) */
  private readonly receiveHooks = new Set<(entry: LogEntry, originId: number) => void>();
  /** per origin, `kind\0key` → the stamp of the version that origin replaced its earlier ones by (supersedeOwnVersions) */
  private readonly superseded = new Map<string, Map<string, string>>();
  private positionTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private closed = false;
  /** the log's own durability: commits of documents and of everything outside a group are fsync'd with `fsync` */
  private readonly baseFsync: boolean;
  /** the connection's synchronous setting now (FULL: true); changed only between transactions */
  private synchronousFull: boolean;
  private group: OpenGroup | undefined;
  /** group writes running now (a write may nest another): the group cannot commit in the middle of one */
  private groupDepth = 0;
  private readonly inSavepoint: (fn: () => unknown) => unknown;
  private readonly checkpointer: Worker | undefined;
  private checkpointerExited = false;
  private readonly delegatedCheckpoints: DelegatedCheckpoints | undefined;
  /** writes waiting for the next group to open (writeSoon), oldest first */
  private soon: SoonWrite[] = [];
  private soonTimer: NodeJS.Timeout | undefined;
  /** multi-row INSERTs into `entries`, by their number of rows */
  private readonly insertEntries = new Map<number, Database.Statement>();
  /** the history of keys: what concurrent changes overwrote (conflicts.ts) */
  private readonly history: ConflictRecords;
  private readonly wallNow: () => number;

  private readonly stmt: {
    insertEntry: Database.Statement;
    selectDoc: Database.Statement;
    anyDocument: Database.Statement;
    upsertDoc: Database.Statement;
    maxSeq: Database.Statement;
    originRow: Database.Statement;
    insertOrigin: Database.Statement;
    lastHlc: Database.Statement;
    hlcAt: Database.Statement;
    docsOfKind: Database.Statement;
    allDocs: Database.Statement;
    positionsOf: Database.Statement;
    upsertPosition: Database.Statement;
    kindsAfter: Database.Statement;
    recordsAfter: Database.Statement;
    setBase: Database.Statement;
    deleteRange: Database.Statement;
    peerMin: Database.Statement;
    peerCount: Database.Statement;
    upsertPeer: Database.Statement;
    deletePeer: Database.Statement;
    insertHeld: Database.Statement;
    lastHlcUpTo: Database.Statement;
    lastHlcOf: Database.Statement;
  };

  private constructor(db: Database.Database, file: string, opts: ChangeLogOptions) {
    super(db);
    this.origin = opts.origin;
    this.baseFsync = opts.durability !== 'os';
    this.synchronousFull = this.baseFsync;
    this.inSavepoint = db.transaction((fn: () => unknown) => fn());
    this.policyOf = opts.policyOf;
    this.clock = new HybridClock({ physicalNow: opts.physicalNow ?? Date.now, ...(opts.maxDriftMs !== undefined ? { maxDriftMs: opts.maxDriftMs } : {}) });
    this.stmt = {
      insertEntry: db.prepare('INSERT INTO entries (origin, seq, hlc, kind, key, body, base) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      selectDoc: db.prepare('SELECT hlc, origin, body, base FROM documents WHERE kind = ? AND key = ?'),
      anyDocument: db.prepare('SELECT 1 FROM documents WHERE kind = ? LIMIT 1'),
      upsertDoc: db.prepare(
        'INSERT INTO documents (kind, key, hlc, origin, body, base) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, body = excluded.body, base = excluded.base',
      ),
      maxSeq: db.prepare(
        'SELECT max(o.base, coalesce((SELECT max(seq) FROM entries WHERE origin = o.id), 0), coalesce((SELECT max(last) FROM held_elsewhere WHERE origin = o.id), 0)) AS head FROM origins o WHERE o.id = ?',
      ),
      originRow: db.prepare('SELECT id, base, base_hlc AS baseHlc FROM origins WHERE name = ?'),
      insertOrigin: db.prepare('INSERT INTO origins (name) VALUES (?)'),
      lastHlc: db.prepare('SELECT coalesce((SELECT hlc FROM entries WHERE origin = o.id ORDER BY seq DESC LIMIT 1), o.base_hlc) AS hlc FROM origins o'),
      hlcAt: db.prepare('SELECT hlc FROM entries WHERE origin = ? AND seq = ?'),
      docsOfKind: db.prepare('SELECT key, hlc, origin, body, base FROM documents WHERE kind = ?'),
      allDocs: db.prepare('SELECT kind, key, hlc, origin, body, base FROM documents'),
      positionsOf: db.prepare('SELECT origin, seq FROM positions WHERE store = ?'),
      upsertPosition: db.prepare('INSERT INTO positions (store, origin, seq) VALUES (?, ?, ?) ON CONFLICT (store, origin) DO UPDATE SET seq = excluded.seq'),
      kindsAfter: db.prepare('SELECT kind, key FROM entries WHERE origin = ? AND seq > ?'),
      recordsAfter: db.prepare('SELECT seq, hlc, kind, key, body FROM entries WHERE origin = ? AND seq > ? AND kind IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?'),
      setBase: db.prepare('UPDATE origins SET base = ?, base_hlc = ? WHERE id = ?'),
      deleteRange: db.prepare('DELETE FROM entries WHERE origin = ? AND seq > ? AND seq <= ?'),
      peerMin: db.prepare('SELECT min(coalesce((SELECT seq FROM peers p2 WHERE p2.peer = p.peer AND p2.origin = ?), 0)) AS seq FROM (SELECT DISTINCT peer FROM peers) p'),
      peerCount: db.prepare('SELECT count(DISTINCT peer) AS n FROM peers'),
      upsertPeer: db.prepare('INSERT INTO peers (peer, origin, seq) VALUES (?, ?, ?) ON CONFLICT (peer, origin) DO UPDATE SET seq = max(seq, excluded.seq)'),
      deletePeer: db.prepare('DELETE FROM peers WHERE peer = ?'),
      insertHeld: db.prepare('INSERT INTO held_elsewhere (origin, first, last) VALUES (?, ?, ?)'),
      lastHlcUpTo: db.prepare('SELECT hlc FROM entries WHERE origin = ? AND seq <= ? ORDER BY seq DESC LIMIT 1'),
      lastHlcOf: db.prepare('SELECT coalesce((SELECT hlc FROM entries WHERE origin = o.id ORDER BY seq DESC LIMIT 1), o.base_hlc) AS hlc FROM origins o WHERE o.name = ?'),
    };
    this.history = new ConflictRecords(db, opts.conflictRuleOf ?? (() => undefined));
    this.wallNow = opts.now ?? Date.now;
    this.selfId = this.ensureOrigin(opts.origin);
    for (const row of this.stmt.lastHlc.all() as { hlc: string | null }[]) if (row.hlc) this.clock.seed(decodeHlc(row.hlc));
    if (opts.checkpointer) {
      // A backstop, not 0: the rounds' timer runs on this thread, so a long synchronous stretch
      // (an upgrade's import) would otherwise grow the WAL without bound (the rounds keep it far below).
      this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
      this.delegatedCheckpoints = new DelegatedCheckpoints(db, file, opts.checkpointer);
    } else {
      this.checkpointer = this.startCheckpointer(file, opts.checkpointWorker ?? {});
    }
  }

  /**
   * Checkpoints run on a thread of their own (checkpoint-thread.ts), never inside a commit here:
   * a checkpoint copies pages back and fsyncs the database, tens of milliseconds that would hold
   * up every write. If the thread cannot start, the connection checkpoints itself as SQLite does
   * by default, so the WAL never grows without bound.
   */
  private startCheckpointer(file: string, shim: WorkerShim): Worker | undefined {
    this.db.pragma('wal_autocheckpoint = 0');
    let worker: Worker;
    try {
      worker = new Worker(shim.workerUrl ?? new URL('../checkpoint-thread.js', import.meta.url), { workerData: { ...shim.workerData, file, intervalMs: CHECKPOINT_INTERVAL_MS } });
    } catch {
      this.db.pragma('wal_autocheckpoint = 1000');
      return undefined;
    }
    worker.on('error', () => {
      if (!this.closed) this.db.pragma('wal_autocheckpoint = 1000');
    });
    worker.on('exit', () => (this.checkpointerExited = true));
    worker.unref();
    return worker;
  }

  /** Opens (or creates) the log in `file`. */
  static open(file: string, opts: ChangeLogOptions): ChangeLog {
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    try {
      // Before the first write of a new file (a no-op on an existing one): see LOG_PAGE_SIZE.
      db.pragma(`page_size = ${LOG_PAGE_SIZE}`);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.durability === 'os' ? 'NORMAL' : 'FULL'}`);
      // another connection on the file (the checkpoint thread, a reader) holds a lock only briefly
      db.pragma('busy_timeout = 5000');
      // 4 MiB of page cache, not better-sqlite3's 16 MiB: appends touch the right edge of the
      // B-trees, and a start that reads a large kind would otherwise keep 16 MiB resident
      db.pragma('cache_size = -4096');
      createSchema(db);
      return new ChangeLog(db, file, opts);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Renames an origin in a log file that is not open (a site whose id changed: the upgrade from
   * random ids to certificate fingerprints). Entries, documents and positions name origins by
   * number, so it is one row, in one transaction. Idempotent: nothing to do when `from` is not
   * there (renamed already, or a new log); refused when both names are there.
   */
  static renameOrigin(file: string, from: string, to: string): boolean {
    if (!existsSync(file)) return false;
    const db = new Database(file);
    try {
      db.pragma('busy_timeout = 5000');
      db.pragma('synchronous = FULL');
      return db.transaction(() => {
        const has = db.prepare('SELECT id FROM origins WHERE name = ?');
        if (!has.get(from)) return false;
        if (has.get(to)) throw new Error(`the change log holds both origins ${from} and ${to}`);
        db.prepare('UPDATE origins SET name = ? WHERE name = ?').run(to, from);
        return true;
      })();
    } finally {
      db.close();
    }
  }

  /** This site's origin as the `entries` table stores it (for a store whose rows point at entries). */
  get localOriginId(): number {
    return this.selfId;
  }

  /**
   * Registers a store that points into the entries (the journal's index): `lowest` answers, for
   * an origin (as `entries` stores it), the lowest seq it still needs, and compaction never drops
   * that entry or any after it.
   */
  holdEntries(lowest: (originId: number) => number | undefined): () => void {
    this.holds.add(lowest);
    return () => this.holds.delete(lowest);
  }

  /** The connection, for state that lives in the same file and commits with its entries. */
  get database(): Database.Database {
    return this.db;
  }

  /**
   * Runs `fn` in one transaction of the log's connection (a savepoint inside an open one), with
   * the log's own durability. The open group, if any, commits first.
   */
  transaction<T>(fn: () => T): T {
    this.outsideGroup();
    if (!this.db.inTransaction) this.setSynchronous(this.baseFsync);
    return this.db.transaction(fn)();
  }

  // --- group commit ---------------------------------------------------------------------------

  /**
   * Runs `fn` in the group transaction open on the connection (opening one if need be): its own
   * statements on `database` and the changes it appends through the writer commit together, with
   * everything else written in this turn of the event loop, at the start of the next one (group
   * commit). `committed` resolves after that COMMIT. A commit is fsync'd (synchronous FULL) when
   * a write in it asked for it (`fsync`), or appended a document kind while the log's durability
   * is `fsync`; otherwise it survives a kill of the process, not a power loss.
   *
   * `fn` runs in a savepoint: if it throws, what it wrote is undone and the rest of the group
   * stays. It may run twice (when it appends a document kind to a group opened without fsync,
   * it is undone and run again in a new group): keep it to writes on the connection. Views and
   * listeners see the group's entries after its COMMIT, in log order; a group that rolls back
   * leaves no seq used.
   */
  write<T>(fn: (writer: GroupWriter) => T, opts: GroupWriteOptions = {}): GroupWritten<T> {
    this.assertOpen();
    if (this.groupDepth > 0) return this.runInGroup(this.group as OpenGroup, fn);
    if (this.db.inTransaction && !this.group) throw new Error('change log: a group write cannot run inside another transaction');
    try {
      return this.runInGroup(this.groupForWrite(opts.fsync === true), fn);
    } catch (err) {
      if (err !== NEEDS_FSYNC) throw err;
      return this.runInGroup(this.groupForWrite(true), fn);
    }
  }

  /**
   * A write nobody waits for at once (a finished call's record and the end of its dialogs): it
   * joins the open group if there is one, else the next group another write opens, so that it
   * shares that group's COMMIT (and fsync) instead of costing one of its own; at the latest a
   * group is opened for it `withinMs` after the oldest such write began waiting, or at `flush`.
   * Until then it is not written at all: a crash meanwhile loses the write, never half of it, so
   * use it only for what the state before it also allows (a call still active is finished again
   * after a restart). Resolves once its group committed; rejects if `fn` threw or the group
   * rolled back.
   */
  writeSoon(fn: (writer: GroupWriter) => void, opts: GroupWriteOptions & { withinMs: number }): Promise<void> {
    this.assertOpen();
    const fsync = opts.fsync === true;
    const open = this.group;
    if (this.groupDepth > 0 || (open && (open.fsync || !fsync))) return this.write(fn, opts).committed;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const written = handled(
      new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      }),
    );
    this.soon.push({ fn, fsync, resolve, reject });
    this.soonTimer ??= setTimeout(() => {
      this.soonTimer = undefined;
      this.writeWaiting();
    }, opts.withinMs);
    return written;
  }

  /** Opens a group for the writes waiting for one (writeSoon): their time is up, or a flush wants them. */
  private writeWaiting(): void {
    if (this.soon.length === 0 || this.closed || this.groupDepth > 0) return;
    try {
      this.write(() => undefined, { fsync: this.soon.some((w) => w.fsync) });
    } catch (err) {
      for (const w of this.soon.splice(0)) w.reject(err);
    }
  }

  /** The group a write at the top level runs in; the writes waiting for the next group (writeSoon) join it first. */
  private groupForWrite(fsync: boolean): OpenGroup {
    const g = this.openGroup(fsync);
    if (this.soon.length === 0) return g;
    const waiting = this.soon;
    this.soon = [];
    for (const w of waiting) {
      if (w.fsync && !g.fsync) {
        this.soon.push(w);
        continue;
      }
      try {
        this.runInGroup(g, w.fn).committed.then(w.resolve, w.reject);
      } catch (err) {
        if (err !== NEEDS_FSYNC) {
          w.reject(err);
          continue;
        }
        // it appended a document kind: it waits for an fsync'd group
        w.fsync = true;
        this.soon.push(w);
      }
    }
    if (this.soon.length === 0) {
      clearTimeout(this.soonTimer);
      this.soonTimer = undefined;
    }
    return g;
  }

  /** Commits the open group now (rather than on the next turn), with the writes waiting for one; resolves once it did. */
  flush(): Promise<void> {
    if (this.soon.length && this.groupDepth === 0) this.writeWaiting();
    const g = this.group;
    if (!g) return Promise.resolve();
    if (this.groupDepth === 0) this.commitGroup(g);
    return g.committed;
  }

  /** Resolves once the group open now has committed, on its own turn (at once when none is open). */
  whenCommitted(): Promise<void> {
    return this.group?.committed ?? Promise.resolve();
  }

  /** Whether a group transaction is open now, and whether it commits with fsync. */
  get openGroupFsync(): boolean | undefined {
    return this.group?.fsync;
  }

  private openGroup(fsync: boolean): OpenGroup {
    const open = this.group;
    if (open && (open.fsync || !fsync)) return open;
    if (open) this.commitGroup(open);
    this.setSynchronous(fsync);
    this.db.exec('BEGIN');
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const committed = handled(
      new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      }),
    );
    const g: OpenGroup = { fsync, changes: [], writes: 0, committed, resolve, reject };
    this.group = g;
    setImmediate(() => this.commitGroup(g));
    return g;
  }

  private runInGroup<T>(g: OpenGroup, fn: (writer: GroupWriter) => T): GroupWritten<T> {
    const headBefore = this.heads.get(this.selfId);
    const added: { entry: LogEntry; version: VersionedDoc | undefined }[] = [];
    const writer: GroupWriter = {
      append: <B>(change: NewChange<B>, text?: string): LogEntry<B> => {
        if (!g.fsync && this.baseFsync && this.policyOf(change.kind) !== 'add-only') throw NEEDS_FSYNC;
        const written = this.appendOne(change, text);
        added.push(written);
        return written.entry;
      },
      appendRecords: <B>(kind: string, records: readonly { key: string; body: B; text: string }[]): LogEntry<B>[] => {
        // Records of a kind no view stores and no listener reads (the raw events) are not kept
        // for the hand-over after the commit: nothing would look at them, and holding thousands
        // of entries and versions until the next turn only costs the garbage collector.
        const watched = this.viewsByKind.has(kind) || this.recordListeners.size > 0;
        const written = this.appendRecords(kind, records, watched);
        if (watched) for (const w of written) added.push(w);
        return written.map((w) => w.entry);
      },
      nextSeq: () => this.headOf(this.selfId) + 1,
    };
    this.groupDepth++;
    try {
      const result = this.inSavepoint(() => fn(writer)) as T;
      for (const a of added) g.changes.push(a);
      g.writes++;
      return { result, committed: g.committed };
    } catch (err) {
      // the savepoint is undone: so are the seqs it took
      if (headBefore === undefined) this.heads.delete(this.selfId);
      else this.heads.set(this.selfId, headBefore);
      throw err;
    } finally {
      this.groupDepth--;
    }
  }

  /** Commits the group (if it is still the open one), then tells the waiters, the tails, the views and the listeners. */
  private commitGroup(g: OpenGroup | undefined = this.group): void {
    if (!g || this.group !== g || this.groupDepth > 0) return;
    this.group = undefined;
    if (g.writes === 0) {
      // nothing was kept in it (its only write moved to an fsync'd group): no commit to tell anyone of
      this.db.exec('ROLLBACK');
      g.resolve();
      return;
    }
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // the failed COMMIT ended the transaction already
      }
      // nothing of the group is kept: its seqs are taken again by the next writes
      this.heads.clear();
      g.reject(err);
      return;
    }
    g.resolve();
    this.committed();
    if (g.changes.length) this.handOver(g.changes);
  }

  /** Every method but a group write works on committed state: the open group commits first. */
  private outsideGroup(): void {
    if (this.group && this.groupDepth === 0) this.commitGroup(this.group);
  }

  private setSynchronous(full: boolean): void {
    if (this.synchronousFull === full) return;
    this.db.pragma(`synchronous = ${full ? 'FULL' : 'NORMAL'}`);
    this.synchronousFull = full;
  }

  override after<B = unknown>(origin: string, seq: number, limit: number): LogEntry<B>[] {
    this.outsideGroup();
    return super.after<B>(origin, seq, limit);
  }

  override head(): SinceVector {
    this.outsideGroup();
    return super.head();
  }

  override sinceOfKinds(vector: SinceVector, limit: number, kinds: readonly string[]): { entries: LogEntry[]; through: SinceVector } {
    this.outsideGroup();
    return super.sinceOfKinds(vector, limit, kinds);
  }

  // --- writing ------------------------------------------------------------------------------

  append<B>(change: NewChange<B>): Appended<B> {
    return this.appendMany([change])[0] as Appended<B>;
  }

  /**
   * Appends local changes, in order, in one transaction: committed when this returns, unless it
   * runs inside the caller's transaction on `database` (then with it). A kind that has a
   * write-ahead view cannot join a caller's transaction: its view must only ever see committed
   * entries.
   */
  appendMany<B>(changes: readonly NewChange<B>[]): Appended<B>[] {
    this.assertOpen();
    if (this.groupDepth > 0) {
      // inside a group write: the changes join the group, and are handed over after its commit
      const { result, committed } = this.write((w) => changes.map((c) => w.append(c)));
      return result.map((entry) => ({ entry, version: this.versionAfter(entry), applied: committed }));
    }
    this.outsideGroup();
    const joined = this.db.inTransaction;
    if (joined) {
      const viewed = changes.find((c) => this.viewsByKind.has(c.kind));
      if (viewed) throw new Error(`change log: ${viewed.kind} has a write-ahead store, so its changes cannot join another transaction`);
    }
    let written: { entry: LogEntry<B>; version: VersionedDoc<B> | undefined }[];
    try {
      written = this.transaction(() => changes.map((c) => this.appendOne(c)));
    } catch (err) {
      this.heads.clear();
      throw err;
    }
    if (joined) {
      // Inside the caller's transaction the entries may still roll back: forget the cached heads,
      // and report nothing; the caller tells its listeners once its transaction has committed.
      this.heads.clear();
      return written.map(({ entry, version }) => ({ entry, version, applied: Promise.resolve() }));
    }
    this.committed();
    return written.map(({ entry, version }) => ({ entry, version, applied: this.handToViews(entry, version) }));
  }

  /** The version an entry of this turn made (add-only: the entry itself). */
  private versionAfter<B>(entry: LogEntry<B>): VersionedDoc<B> | undefined {
    if (this.policyOf(entry.kind) === 'add-only') return { kind: entry.kind, key: entry.key, hlc: entry.hlc, origin: entry.origin, tombstone: false, body: entry.body };
    const row = this.stmt.selectDoc.get(entry.kind, entry.key) as DocRow | undefined;
    return row && row.hlc === entry.hlc ? this.versionOf<B>(entry.kind, entry.key, row) : undefined;
  }

  /** Records of an add-only kind, inserted a few dozen rows per statement (GroupWriter.appendRecords). */
  private appendRecords<B>(kind: string, records: readonly { key: string; body: B; text: string }[], watched = true): { entry: LogEntry<B>; version: VersionedDoc<B> | undefined }[] {
    if (typeof kind !== 'string' || kind === '') throw new Error('change log: a change needs a kind and a key');
    if (this.policyOf(kind) !== 'add-only') throw new Error(`change log: ${kind} is not add-only; its changes are appended with append`);
    const out: { entry: LogEntry<B>; version: VersionedDoc<B> | undefined }[] = [];
    const params: (string | number)[] = [];
    let seq = this.headOf(this.selfId);
    for (const r of records) {
      if (typeof r.key !== 'string' || r.key === '') throw new Error('change log: a change needs a kind and a key');
      seq++;
      const hlc = encodeHlc(this.clock.now());
      params.push(this.selfId, seq, hlc, kind, r.key, r.text);
      let version: VersionedDoc<B> | undefined;
      if (watched) {
        version = { kind, key: r.key, hlc, origin: this.origin, tombstone: false, body: r.body };
        BODY_TEXTS.set(version, r.text);
      }
      out.push({ entry: { origin: this.origin, seq, hlc, kind, key: r.key, body: r.body }, version });
      if (params.length === RECORD_ROWS_PER_INSERT * 6) this.insertRows(params);
    }
    if (params.length) this.insertRows(params);
    // set only once every row is in: a statement that throws leaves the head where it was
    this.heads.set(this.selfId, seq);
    return out;
  }

  /** Inserts entry rows (six parameters each) in one statement, and empties `params`. */
  private insertRows(params: (string | number)[]): void {
    const rows = params.length / 6;
    let stmt = this.insertEntries.get(rows);
    if (!stmt) {
      stmt = this.db.prepare(`INSERT INTO entries (origin, seq, hlc, kind, key, body) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}`);
      this.insertEntries.set(rows, stmt);
    }
    stmt.run(params);
    params.length = 0;
  }

  private appendOne<B>(change: NewChange<B>, bodyText?: string): { entry: LogEntry<B>; version: VersionedDoc<B> | undefined } {
    if (typeof change.kind !== 'string' || change.kind === '' || typeof change.key !== 'string' || change.key === '') throw new Error('change log: a change needs a kind and a key');
    const policy = this.policyOf(change.kind);
    if (change.body === null && policy === 'add-only') throw new Error(`change log: ${change.kind} is add-only; its records are not deleted through the log`);
    const seq = this.headOf(this.selfId) + 1;
    const hlc = encodeHlc(this.clock.now());
    const entry: LogEntry<B> = { origin: this.origin, seq, hlc, kind: change.kind, key: change.key, body: change.body };
    const text = change.body === null ? null : (bodyText ?? JSON.stringify(change.body));
    // a document change names the version it was made from: what this log holds for the key
    const held = policy === 'add-only' ? undefined : ((this.stmt.selectDoc.get(change.kind, change.key) as DocRow | undefined) ?? null);
    if (held !== undefined) entry.base = held === null ? null : { hlc: held.hlc, origin: this.originName(held.origin) };
    this.stmt.insertEntry.run(this.selfId, seq, hlc, change.kind, change.key, text, encodeBase(entry.base));
    this.heads.set(this.selfId, seq);
    const version = this.mergeLocal(entry, text, policy, held ?? null);
    if (version && text !== null && this.viewsByKind.has(change.kind)) BODY_TEXTS.set(version, text);
    return { entry, version };
  }

  /**
   * The merge of a local change: its stamp is greater than every stamp the log holds (the clock
   * has seen them all), so under last-writer-wins it wins, and so does a tombstone under
   * delete-wins. It was made from the version held (`held`, its base), so it overwrites nothing
   * unseen: no conflict, but the key's recorded conflicts may become moot (or stop being).
   */
  private mergeLocal<B>(entry: LogEntry<B>, text: string | null, policy: MergePolicy, held: DocRow | null): VersionedDoc<B> | undefined {
    const version: VersionedDoc<B> = { kind: entry.kind, key: entry.key, hlc: entry.hlc, origin: entry.origin, tombstone: entry.body === null, body: entry.body };
    if (policy === 'add-only') return version;
    if (policy === 'delete-wins' && entry.body !== null && held && held.body === null) return undefined;
    version.base = entry.base ?? null;
    this.stmt.upsertDoc.run(entry.kind, entry.key, entry.hlc, this.selfId, text, encodeBase(version.base));
    if (this.history.tracks(entry.kind)) this.history.heldChanged(version);
    return version;
  }

  /**
   * Runs `hook` inside `receive`'s transaction for each entry taken in (not for one held
   * already): a store in this file that indexes entries (the journal) writes its rows with them,
   * and if it throws the whole receive rolls back.
   */
  onReceive(hook: (entry: LogEntry, originId: number) => void): () => void {
    this.receiveHooks.add(hook);
    return () => this.receiveHooks.delete(hook);
  }

  /**
   * Says that `origin` replaced its own versions of these keys stamped before `hlc` with the one
   * stamped `hlc` before any other site had them: a joining site's pre-join documents, overwritten
   * by its adoption of the installation's (sync/adopt.ts). Such an entry, when it arrives, is
   * stored (it keeps its origin's seqs whole, and is passed on like any) but not merged: the key
   * keeps the version it holds until the replacing one, later in the same origin's log, arrives.
   * Without it a donor would hold the joiner's older admin or configuration between the two.
   * Kept in memory: the joining site says it again on every link, before replication starts.
   */
  supersedeOwnVersions(origin: string, versions: readonly { kind: string; key: string; hlc: string }[]): void {
    if (origin === this.origin) return;
    let byKey = this.superseded.get(origin);
    if (!byKey) this.superseded.set(origin, (byKey = new Map()));
    for (const v of versions) {
      if (this.policyOf(v.kind) === 'add-only') continue;
      const id = `${v.kind}\u0000${v.key}`;
      const held = byKey.get(id);
      if (held === undefined || v.hlc > held) byKey.set(id, v.hlc);
    }
  }

  /** Whether an entry is a version its origin replaced itself before it was replicated (supersedeOwnVersions). */
  private isSuperseded(e: LogEntry): boolean {
    const by = this.superseded.get(e.origin)?.get(`${e.kind}\u0000${e.key}`);
    return by !== undefined && e.hlc < by;
  }

  /**
   * Takes in entries of other sites (or of this one, replayed into an empty data directory), in
   * order per origin: idempotent by (origin, seq); an entry that skips a seq is refused
   * (LogGapError), and so is one stamped too far ahead (ClockDriftError). All or nothing.
   *
   * A `HeldRange` among them says the sender filtered out those seqs (domains this site does not
   * serve): the origin's head moves past them without rows, so the entry after them follows. It
   * obeys the same order (it starts right after the head, or is held already).
   */
  receive(entries: readonly (LogEntry | HeldRange)[]): { accepted: number; applied: Promise<void> } {
    this.assertOpen();
    this.outsideGroup();
    if (this.db.inTransaction) throw new Error('change log: received entries are applied in a transaction of their own');
    let fresh: { entry: LogEntry; version: VersionedDoc | undefined }[];
    try {
      fresh = this.transaction(() => {
        const out: { entry: LogEntry; version: VersionedDoc | undefined }[] = [];
        for (const item of entries) {
          if ('first' in item) {
            this.receiveHeld(item);
            continue;
          }
          const e = item;
          checkEntry(e);
          const originId = this.ensureOrigin(e.origin);
          const head = this.headOf(originId);
          if (e.seq <= head) continue;
          if (e.seq !== head + 1) throw new LogGapError(`change log: the entry ${e.origin}#${e.seq} does not follow ${head}; entries of an origin come in order`);
          const policy = this.policyOf(e.kind);
          if (e.body === null && policy === 'add-only') throw new Error(`change log: ${e.kind} is add-only; the entry ${e.origin}#${e.seq} deletes one`);
          this.clock.receive(decodeHlc(e.hlc));
          this.stmt.insertEntry.run(originId, e.seq, e.hlc, e.kind, e.key, e.body === null ? null : JSON.stringify(e.body), policy === 'add-only' ? null : encodeBase(e.base));
          this.heads.set(originId, e.seq);
          for (const hook of this.receiveHooks) hook(e, originId);
          // a version its origin replaced before it replicated it changes nothing here (the replacing one follows)
          out.push({ entry: e, version: this.superseded.size && this.isSuperseded(e) ? undefined : this.mergeDocument(e, originId, policy) });
        }
        return out;
      });
    } catch (err) {
      this.heads.clear();
      throw err;
    }
    if (fresh.length) this.committed();
    return { accepted: fresh.length, applied: handled(Promise.all(fresh.map((f) => this.handToViews(f.entry, f.version))).then(() => undefined)) };
  }

  private receiveHeld(range: HeldRange): void {
    const ok = typeof range.origin === 'string' && range.origin !== '' && Number.isInteger(range.first) && Number.isInteger(range.last) && range.first >= 1 && range.last >= range.first;
    if (!ok) throw new Error(`change log: a malformed held range (${JSON.stringify(range)})`);
    const originId = this.ensureOrigin(range.origin);
    const head = this.headOf(originId);
    if (range.last <= head) return;
    if (range.first > head + 1) throw new LogGapError(`change log: the range ${range.origin}#${range.first}-${range.last} does not follow ${head}; entries of an origin come in order`);
    this.stmt.insertHeld.run(originId, head + 1, range.last);
    this.heads.set(originId, range.last);
  }

  /**
   * Merges an entry of another site (or a snapshot's document) into `documents`; the version the
   * key now holds if the entry changed it. For a kind whose history is kept, the step of
   * core/merge.ts `conflictStep` is written in the same transaction: what the entry overwrote
   * without its writer having seen it, or what of it lost to what this site holds.
   * `recordLosses: false` (a snapshot's documents, whose intermediate versions are not sent)
   * keeps the history's bookkeeping but records no loss: without them, an ancestor cannot be told
   * from a rival.
   */
  private mergeDocument<B>(entry: LogEntry<B>, originId: number, policy: MergePolicy, recordLosses = true): VersionedDoc<B> | undefined {
    const incoming: VersionedDoc<B> = { kind: entry.kind, key: entry.key, hlc: entry.hlc, origin: entry.origin, tombstone: entry.body === null, body: entry.body };
    if (entry.base !== undefined) incoming.base = entry.base;
    // Add-only records are kept (first by id) by the store that owns them, not here.
    if (policy === 'add-only') return incoming;
    const row = this.stmt.selectDoc.get(entry.kind, entry.key) as DocRow | undefined;
    let current: VersionedDoc<B> | undefined;
    let kept: VersionedDoc<B> = incoming;
    if (row) {
      // The body only matters when the stamps are equal; otherwise it is not parsed.
      const tie = row.hlc === entry.hlc && row.origin === originId;
      current = {
        kind: entry.kind,
        key: entry.key,
        hlc: row.hlc,
        origin: this.originName(row.origin),
        tombstone: row.body === null,
        body: tie && row.body !== null ? (JSON.parse(row.body) as B) : null,
      };
      kept = mergeVersions(current, incoming, policy);
    }
    if (this.history.tracks(entry.kind)) {
      const step = conflictStep(current, incoming, kept, policy, this.history.lookups((ref) => this.seen(ref)));
      if (step.lost && !recordLosses) delete step.lost;
      if (step.lost && current && row && sameRef(step.lost, current)) step.lost.body = row.body === null ? null : (JSON.parse(row.body) as unknown);
      const held = kept === current && row ? { ...current, body: row.body === null ? null : (JSON.parse(row.body) as B) } : incoming;
      this.history.apply(entry.kind, entry.key, step, held, this.wallNow());
      if (kept !== current) this.history.heldChanged(incoming);
    }
    if (kept === current) return undefined;
    this.stmt.upsertDoc.run(entry.kind, entry.key, entry.hlc, originId, entry.body === null ? null : JSON.stringify(entry.body), encodeBase(entry.base));
    return incoming;
  }

  /** Whether this log holds (or held) a version: its own, or one of an origin it holds an entry of stamped at or after it (an origin's stamps grow with its seq). */
  private seen(ref: VersionRef): boolean {
    if (ref.origin === this.origin) return true;
    const last = (this.stmt.lastHlcOf.get(ref.origin) as { hlc: string | null } | undefined)?.hlc;
    return last !== undefined && last !== null && last >= ref.hlc;
  }

  /** The conflicts this site found, newest first (conflicts.ts); committed state. */
  conflicts(query: ConflictQuery): { items: ConflictRow[]; total: number } {
    this.outsideGroup();
    return this.history.list(query);
  }

  /** One conflict by its id (the same on every site). */
  conflict(id: string): ConflictRow | undefined {
    this.outsideGroup();
    return this.history.get(id);
  }

  private headOf(originId: number): number {
    let head = this.heads.get(originId);
    if (head === undefined) {
      head = (this.stmt.maxSeq.get(originId) as { head: number } | undefined)?.head ?? 0;
      this.heads.set(originId, head);
    }
    return head;
  }

  private ensureOrigin(name: string): number {
    const known = this.originId(name);
    if (known !== undefined) return known;
    const id = Number(this.stmt.insertOrigin.run(name).lastInsertRowid);
    this.rememberOrigin(id, name);
    return id;
  }

  // --- documents ------------------------------------------------------------------------------

  /** The version a document kind holds for a key (tombstones included). */
  document<B = unknown>(kind: string, key: string): VersionedDoc<B> | undefined {
    this.outsideGroup();
    const row = this.stmt.selectDoc.get(kind, key) as DocRow | undefined;
    return row ? this.versionOf<B>(kind, key, row) : undefined;
  }

  /** Every version of a kind, tombstones included. */
  documents<B = unknown>(kind: string): VersionedDoc<B>[] {
    this.outsideGroup();
    return (this.stmt.docsOfKind.all(kind) as (DocRow & { key: string })[]).map((r) => this.versionOf<B>(kind, r.key, r));
  }

  private versionOf<B>(kind: string, key: string, row: DocRow): VersionedDoc<B> {
    const version: VersionedDoc<B> = { kind, key, hlc: row.hlc, origin: this.originName(row.origin), tombstone: row.body === null, body: row.body === null ? null : (JSON.parse(row.body) as B) };
    const base = decodeBase(row.base);
    if (base !== undefined) version.base = base;
    return version;
  }

  // --- write-ahead views ----------------------------------------------------------------------

  /**
   * Registers a store that holds documents of some kinds outside this file and brings it up to
   * date: rebuilt from the documents when its files are new (or the entries after its position
   * were compacted away), adopted into the log when it predates the log, otherwise caught up by
   * re-applying the documents changed after its saved position.
   */
  async attachView(view: WriteAheadView, opts: AttachOptions): Promise<AttachResult> {
    this.assertOpen();
    this.outsideGroup();
    if (this.views.has(view.name)) throw new Error(`change log: a store named ${view.name} is attached already`);
    const attached: AttachedView = { view, chain: Promise.resolve(), inFlight: new Map(), failedAt: new Map(), changed: false, waiting: undefined };
    const saved = new Map((this.stmt.positionsOf.all(view.name) as { origin: number; seq: number }[]).map((r) => [r.origin, r.seq]));
    const addOnly = view.kinds.filter((k) => this.policyOf(k) === 'add-only');
    if (addOnly.length > 0 && addOnly.length !== view.kinds.length) throw new Error(`change log: the store ${view.name} mixes add-only kinds and documents`);
    // The documents are read only for a rebuild: an ordinary start catches up from the position,
    // and holding every document of a large kind (100,000 voicemail messages) costs ~150 MB.
    let cached: VersionedDoc[] | undefined;
    const versions = (): VersionedDoc[] => (cached ??= addOnly.length ? [] : view.kinds.flatMap((k) => this.documents(k)));
    const hasDocuments = !addOnly.length && view.kinds.some((k) => this.stmt.anyDocument.get(k) !== undefined);
    let result: AttachResult;
    if (addOnly.length) {
      // Records have no merged version to load: the store gets the entries themselves, from its
      // position on (from the first one the log holds when it is new or has no position yet).
      // Records a store held before the log are not adopted: they stay in it as they are. The
      // catch-up is the first batch of the store's chain: what is appended meanwhile is handed
      // over behind it, and the position stays before it until it is done.
      const from = opts.fresh ? new Map<number, number>() : saved;
      for (const name of Object.keys(this.head())) {
        const id = this.originId(name) as number;
        attached.inFlight.set(id, [(from.get(id) ?? 0) + 1]);
      }
      const replay = this.replayRecords(view, from);
      attached.chain = replay.then(
        () => {
          for (const queue of attached.inFlight.values()) queue.shift();
          attached.changed = true;
        },
        () => {
          // a caller that waits is told through `replay`; the chain itself goes on
          for (const [id, queue] of attached.inFlight) {
            const first = queue.shift();
            if (first !== undefined && !attached.failedAt.has(id)) attached.failedAt.set(id, first);
          }
        },
      );
      this.views.set(view.name, attached);
      for (const kind of view.kinds) this.viewsByKind.set(kind, [...(this.viewsByKind.get(kind) ?? []), attached]);
      this.savePositionsOf(attached);
      this.positionTimer ??= setInterval(() => void this.savePositions(), POSITION_SAVE_MS).unref();
      if (opts.background) return { how: 'catching-up', documents: 0 };
      return await replay;
    } else if (opts.fresh) {
      const live = versions().filter((v) => !v.tombstone);
      await view.load(live);
      result = { how: 'rebuilt', documents: live.length };
    } else if (saved.size === 0 && !hasDocuments) {
      // A store written before the change log existed: its documents become the log's first entries.
      const contents = await view.contents();
      if (contents.length) this.appendMany(contents.map((c) => ({ kind: c.kind, key: c.key, body: c.body })));
      result = { how: 'adopted', documents: contents.length };
    } else {
      result = await this.catchUp(view, saved, versions);
    }
    this.views.set(view.name, attached);
    for (const kind of view.kinds) this.viewsByKind.set(kind, [...(this.viewsByKind.get(kind) ?? []), attached]);
    await view.sync();
    this.savePositionsOf(attached);
    this.positionTimer ??= setInterval(() => void this.savePositions(), POSITION_SAVE_MS).unref();
    return result;
  }

  /** Applies the entries of a record store's kinds after `from` (per origin), page by page. */
  private async replayRecords(view: WriteAheadView, from: Map<number, number>): Promise<AttachResult> {
    const kinds = new Set(view.kinds);
    let applied = 0;
    for (const name of Object.keys(this.head())) {
      let after = from.get(this.originId(name) as number) ?? 0;
      const base = (this.stmt.originRow.get(name) as { base: number }).base;
      // entries compacted away are held by no one here: what is left is applied
      if (after < base) after = base;
      const originId = this.originId(name) as number;
      for (;;) {
        const rows = this.stmt.recordsAfter.all(originId, after, JSON.stringify([...kinds]), 1000) as { seq: number; hlc: string; kind: string; key: string; body: string }[];
        if (rows.length === 0) break;
        after = (rows.at(-1) as { seq: number }).seq;
        const records = rows.map((r): VersionedDoc => {
          const version: VersionedDoc = { kind: r.kind, key: r.key, hlc: r.hlc, origin: name, tombstone: false, body: JSON.parse(r.body) };
          BODY_TEXTS.set(version, r.body);
          return version;
        });
        if (view.applyMany) await view.applyMany(records);
        else for (const r of records) await view.apply(r);
        applied += records.length;
      }
    }
    return { how: applied ? (from.size ? 'caught-up' : 'rebuilt') : 'current', documents: applied };
  }

  private async catchUp(view: WriteAheadView, saved: Map<number, number>, versions: () => VersionedDoc[]): Promise<AttachResult> {
    const kinds = new Set(view.kinds);
    const keys = new Set<string>();
    for (const [name, head] of Object.entries(this.head())) {
      const originId = this.originId(name) as number;
      const from = saved.get(originId) ?? 0;
      if (from >= head) continue;
      const base = (this.stmt.originRow.get(name) as { base: number }).base;
      if (from < base) {
        const live = versions().filter((v) => !v.tombstone);
        await view.load(live);
        return { how: 'rebuilt', documents: live.length };
      }
      for (const row of this.stmt.kindsAfter.iterate(originId, from) as Iterable<{ kind: string; key: string }>) if (kinds.has(row.kind)) keys.add(`${row.kind}\u0000${row.key}`);
    }
    for (const id of keys) {
      const [kind, key] = id.split('\u0000') as [string, string];
      const version = this.document(kind, key);
      if (version) await view.apply(version);
    }
    return { how: keys.size ? 'caught-up' : 'current', documents: keys.size };
  }

  /**
   * Listens to committed changes in log order, each once every write-ahead store of its kind has
   * applied it (the change feed's source). Entries that changed no document are not reported,
   * and add-only records (raw events, CDRs) only to a listener that asks for them (`records`):
   * while one does, every record is queued in log order behind the stores' writes (thousands of
   * events a second behind the CDR store's inserts), which nothing in the service needs today.
   */
  onApplied(listener: (change: AppliedChange) => void, opts: { records?: boolean } = {}): () => void {
    // The open group kept no records for a listener that did not exist yet (appendRecords): it
    // commits first, and this listener sees the records of the groups after it.
    if (opts.records) this.outsideGroup();
    const wrapped = opts.records ? listener : (change: AppliedChange) => {
      if (this.policyOf(change.version.kind) !== 'add-only') listener(change);
    };
    this.appliedListeners.add(wrapped);
    if (opts.records) this.recordListeners.add(wrapped);
    return () => {
      this.appliedListeners.delete(wrapped);
      this.recordListeners.delete(wrapped);
    };
  }

  /** Called after each commit of this connection (tails wake up on it instead of polling). */
  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  private committed(): void {
    for (const l of this.commitListeners) l();
  }

  private handToViews(entry: LogEntry | undefined, version: VersionedDoc | undefined): Promise<void> {
    return this.handOver([{ entry, version }]);
  }

  /**
   * Hands committed changes to the write-ahead views of their kinds, in order; the listeners are
   * told once every view has applied them (and everything before them). One promise for all.
   */
  private handOver(items: readonly { entry: LogEntry | undefined; version: VersionedDoc | undefined }[]): Promise<void> {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const settled = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    handled(settled);
    const p: Pending = { changes: [], done: false, resolve, reject };
    // per view, the versions of these items it holds, in order, applied as one batch
    const batches = new Map<AttachedView, { versions: VersionedDoc[]; firstSeq: Map<number, number> }>();
    for (const { entry, version } of items) {
      if (!version) continue;
      // add-only records change no document: reported only to a listener that asked for them
      if (entry && (this.recordListeners.size > 0 || this.policyOf(version.kind) !== 'add-only')) p.changes.push({ entry, version });
      const views = this.viewsByKind.get(version.kind);
      if (!views) continue;
      for (const v of views) {
        let batch = batches.get(v);
        if (!batch) batches.set(v, (batch = { versions: [], firstSeq: new Map() }));
        batch.versions.push(version);
        if (entry) {
          const originId = this.originId(entry.origin) as number;
          if (!batch.firstSeq.has(originId)) batch.firstSeq.set(originId, entry.seq);
        }
      }
    }
    const applies: Promise<void>[] = [];
    for (const [v, { versions, firstSeq }] of batches) {
      v.view.queued?.(versions.length);
      // only a store that takes batches has them grow (one applying versions one by one is told in step)
      const joined = v.view.applyMany ? v.waiting : undefined;
      if (joined) {
        for (const version of versions) joined.versions.push(version);
        for (const [originId, seq] of firstSeq) {
          if (joined.firstSeq.has(originId)) continue;
          joined.firstSeq.set(originId, seq);
          this.pushInFlight(v, originId, seq);
        }
        applies.push(joined.run);
        continue;
      }
      for (const [originId, seq] of firstSeq) this.pushInFlight(v, originId, seq);
      const view = v.view;
      const batch: ViewBatch = { versions, firstSeq, run: Promise.resolve() };
      v.waiting = batch;
      batch.run = v.chain.then(async () => {
        if (v.waiting === batch) v.waiting = undefined;
        if (view.applyMany) await view.applyMany(batch.versions);
        else for (const version of batch.versions) await view.apply(version);
      });
      v.chain = batch.run.then(
        () => {
          for (const originId of batch.firstSeq.keys()) v.inFlight.get(originId)?.shift();
          v.changed = true;
        },
        () => {
          for (const [originId, seq] of batch.firstSeq) {
            v.inFlight.get(originId)?.shift();
            if (!v.failedAt.has(originId)) v.failedAt.set(originId, seq);
          }
        },
      );
      applies.push(batch.run);
    }
    if (p.changes.length === 0) {
      // nothing to report: nothing waits behind it, and it waits behind nothing
      if (applies.length === 0) resolve();
      else Promise.all(applies).then(() => resolve(), reject);
      return settled;
    }
    this.pending.push(p);
    if (applies.length === 0) {
      p.done = true;
      this.release();
      return settled;
    }
    Promise.all(applies).then(
      () => {
        p.done = true;
        this.release();
      },
      (err: unknown) => {
        p.done = true;
        p.error = err;
        this.release();
      },
    );
    return settled;
  }

  private pushInFlight(v: AttachedView, originId: number, seq: number): void {
    const queue = v.inFlight.get(originId);
    if (queue) queue.push(seq);
    else v.inFlight.set(originId, [seq]);
  }

  /** Reports applied changes from the oldest on, stopping at the first still being applied. */
  private release(): void {
    while (this.pending.length && (this.pending[0] as Pending).done) {
      const p = this.pending.shift() as Pending;
      if (p.error !== undefined) {
        p.reject(p.error);
        continue;
      }
      let listenerError: unknown;
      for (const change of p.changes) {
        for (const l of this.appliedListeners) {
          try {
            l(change);
          } catch (err) {
            listenerError ??= err;
          }
        }
      }
      if (listenerError !== undefined) p.reject(listenerError);
      else p.resolve();
    }
  }

  /** Where a store stands: per origin, the last seq it has applied with nothing before it missing. */
  private positionOf(v: AttachedView): Map<number, number> {
    const out = new Map<number, number>();
    for (const [name, head] of Object.entries(this.head())) {
      const id = this.originId(name) as number;
      let pos = head;
      const first = v.inFlight.get(id)?.[0];
      if (first !== undefined) pos = Math.min(pos, first - 1);
      const failed = v.failedAt.get(id);
      if (failed !== undefined) pos = Math.min(pos, failed - 1);
      out.set(id, pos);
    }
    return out;
  }

  private savePositionsOf(v: AttachedView): void {
    this.writePositions(v, this.positionOf(v));
  }

  /**
   * A position joins the group commit, without fsync of its own: lost to a power loss, it only
   * means re-applying from an older one (the stores' writes are idempotent); it is never ahead of
   * what the store made durable, since it is written after the store's sync.
   */
  private writePositions(v: AttachedView, positions: Map<number, number>): void {
    this.write(() => {
      for (const [origin, seq] of positions) this.stmt.upsertPosition.run(v.view.name, origin, seq);
    });
  }

  /** Saves every store's position once the store has made what it applied durable. */
  savePositions(): Promise<void> {
    if (this.saving) return this.saving;
    this.outsideGroup();
    const due = [...this.views.values()].filter((v) => v.changed);
    if (due.length === 0 || this.closed) return Promise.resolve();
    this.saving = (async () => {
      try {
        for (const v of due) {
          v.changed = false;
          // The position is taken before the sync: everything it covers was applied before the sync began.
          const positions = this.positionOf(v);
          await v.view.sync();
          if (this.closed) return;
          this.writePositions(v, positions);
        }
      } catch {
        for (const v of due) v.changed = true; // tried again on the next round; the log holds everything meanwhile
      } finally {
        this.saving = undefined;
      }
    })();
    return this.saving;
  }

  /**
   * Applies again what a document store failed to apply, in its own queue (after what was handed
   * to it before, before what is handed to it after): for each origin where one of its batches
   * failed, the current version of every key of its kinds changed from that seq on, and of `keys`
   * (changes its writer knows it missed). Once they are applied the failure is over: the store's
   * position moves on at the next save, instead of staying before the failure until a restart.
   * If an apply fails again it rejects and the store stays behind. Returns the versions applied
   * (the listeners heard nothing of a failed batch: its writer tells them).
   */
  reapplyFailed(name: string, keys: readonly { kind: string; key: string }[] = []): Promise<VersionedDoc[]> {
    this.assertOpen();
    this.outsideGroup();
    const v = this.views.get(name);
    if (!v) throw new Error(`change log: no store named ${name} is attached`);
    if (v.view.kinds.some((k) => this.policyOf(k) === 'add-only')) throw new Error(`change log: the store ${name} holds records, which are not applied again by key`);
    const kinds = new Set(v.view.kinds);
    // the failures this covers: every entry from each one up to the head of now
    const failed = new Map(v.failedAt);
    const ids = new Set(keys.filter((k) => kinds.has(k.kind)).map((k) => `${k.kind}\u0000${k.key}`));
    let reload = false;
    for (const [originId, seq] of failed) {
      const base = (this.stmt.originRow.get(this.originName(originId)) as { base: number }).base;
      // entries from the failure on were compacted away: only the documents say what they did
      if (seq <= base) reload = true;
      else for (const row of this.stmt.kindsAfter.iterate(originId, seq - 1) as Iterable<{ kind: string; key: string }>) if (kinds.has(row.kind)) ids.add(`${row.kind}\u0000${row.key}`);
    }
    // what is handed over from now on goes behind this, never into a batch before it
    v.waiting = undefined;
    const view = v.view;
    const run = v.chain.then(async (): Promise<VersionedDoc[]> => {
      if (reload) {
        const live = view.kinds.flatMap((k) => this.documents(k)).filter((d) => !d.tombstone);
        await view.load(live);
        return live;
      }
      const versions: VersionedDoc[] = [];
      for (const id of ids) {
        const [kind, key] = id.split('\u0000') as [string, string];
        const version = this.document(kind, key);
        if (version) versions.push(version);
      }
      if (view.applyMany) await view.applyMany(versions);
      else for (const version of versions) await view.apply(version);
      return versions;
    });
    v.chain = run.then(
      () => {
        // a failure after this began is later than the head it covered: it stays
        for (const [originId, seq] of failed) if (v.failedAt.get(originId) === seq) v.failedAt.delete(originId);
        v.changed = true;
      },
      () => undefined,
    );
    return run;
  }

  /** Whether a store has failed applies that `reapplyFailed` has not made good yet (its position stays before them). */
  failing(name: string): boolean {
    return (this.views.get(name)?.failedAt.size ?? 0) > 0;
  }

  /** The saved positions of a store, by origin name. */
  savedPosition(store: string): SinceVector {
    const out: SinceVector = {};
    for (const r of this.stmt.positionsOf.all(store) as { origin: number; seq: number }[]) out[this.originName(r.origin)] = r.seq;
    return out;
  }

  /** Resolves once every change handed to the stores so far has been applied (or has failed). */
  async drained(): Promise<void> {
    await Promise.all([...this.views.values()].map((v) => v.chain));
  }

  // --- retention ------------------------------------------------------------------------------

  /** Records what a paired peer has (its since-vector); retention keeps what any peer lacks. */
  setPeerVector(peer: string, vector: SinceVector): void {
    this.transaction(() => {
      for (const [origin, seq] of Object.entries(vector)) this.stmt.upsertPeer.run(peer, this.ensureOrigin(origin), seq);
    });
  }

  /** An unpaired peer no longer holds entries back. */
  removePeer(peer: string): void {
    this.transaction(() => this.stmt.deletePeer.run(peer));
  }

  /**
   * Drops the entries that every paired peer has and that are older than `minAgeMs`; the
   * documents table keeps their effect (the snapshot a new peer starts from). Per origin, the
   * base moves up to the last entry dropped; the head and the clock are unchanged.
   */
  compact(opts: CompactOptions): { removed: number; base: SinceVector } {
    this.assertOpen();
    this.outsideGroup();
    const now = opts.now ?? Date.now();
    const batch = opts.batch ?? 10_000;
    const ageCut = encodeHlc({ wall: Math.max(0, now - opts.minAgeMs), counter: 0 });
    const havePeers = (this.stmt.peerCount.get() as { n: number }).n > 0;
    let removed = 0;
    const base: SinceVector = {};
    for (const [name, head] of Object.entries(this.head())) {
      const id = this.originId(name) as number;
      const row = this.stmt.originRow.get(name) as { base: number };
      const peersHave = havePeers ? ((this.stmt.peerMin.get(id) as { seq: number | null }).seq ?? 0) : head;
      // Within an origin the stamps grow with seq: the last entry older than the cut is found by bisection.
      let lo = row.base;
      let hi = Math.min(head, peersHave);
      for (const lowest of this.holds) {
        const needed = lowest(id);
        if (needed !== undefined) hi = Math.min(hi, needed - 1);
      }
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const hlc = (this.stmt.hlcAt.get(id, mid) as { hlc: string } | undefined)?.hlc;
        if (hlc !== undefined && hlc < ageCut) lo = mid;
        else hi = mid - 1;
      }
      const cut = lo;
      for (let from = row.base; from < cut; from += batch) {
        const to = Math.min(cut, from + batch);
        // `to` may be a seq held elsewhere (no row): the stamp of the last entry up to it
        const hlcAtTo = (this.stmt.lastHlcUpTo.get(id, to) as { hlc: string } | undefined)?.hlc ?? (this.stmt.originRow.get(name) as { baseHlc: string | null }).baseHlc;
        this.transaction(() => {
          removed += this.stmt.deleteRange.run(id, from, to).changes;
          this.stmt.setBase.run(to, hlcAtTo, id);
        });
      }
      base[name] = Math.max(cut, row.base);
    }
    this.heads.clear();
    return { removed, base };
  }

  /** The merged documents and the positions they include: what a new peer starts from. */
  snapshot(): LogSnapshot {
    return this.transaction(() => {
      const vector: LogSnapshot['vector'] = {};
      for (const [name, seq] of Object.entries(this.head())) {
        const id = this.originId(name) as number;
        const hlc = (this.stmt.lastHlcUpTo.get(id, seq) as { hlc: string } | undefined)?.hlc ?? (this.stmt.originRow.get(name) as { baseHlc: string | null }).baseHlc;
        vector[name] = { seq, hlc };
      }
      const documents = (this.stmt.allDocs.all() as (DocRow & { kind: string; key: string })[]).map((r) => this.versionOf(r.kind, r.key, r));
      return { vector, documents };
    });
  }

  /**
   * Starts from another log's snapshot: its documents are merged in, and each origin continues
   * after the snapshot's position (entries before it are held by no one here).
   */
  applySnapshot(snapshot: LogSnapshot): { applied: Promise<void> } {
    this.assertOpen();
    this.outsideGroup();
    let changed: VersionedDoc[];
    try {
      changed = this.transaction(() => {
        const out: VersionedDoc[] = [];
        for (const [name, { seq, hlc }] of Object.entries(snapshot.vector)) {
          if (hlc !== null) this.clock.receive(decodeHlc(hlc));
          const id = this.ensureOrigin(name);
          if (this.headOf(id) < seq) {
            // entries before the snapshot's position are part of it: none is kept below the base
            this.stmt.deleteRange.run(id, 0, seq);
            this.stmt.setBase.run(seq, hlc, id);
            this.heads.set(id, seq);
          }
        }
        for (const doc of snapshot.documents) {
          const originId = this.ensureOrigin(doc.origin);
          const entry: LogEntry = { origin: doc.origin, seq: 0, hlc: doc.hlc, kind: doc.kind, key: doc.key, body: doc.tombstone ? null : doc.body };
          if (doc.base !== undefined) entry.base = doc.base;
          const v = this.mergeDocument(entry, originId, this.policyOf(doc.kind), false);
          if (v) out.push(v);
        }
        return out;
      });
    } catch (err) {
      this.heads.clear();
      throw err;
    }
    this.committed();
    return { applied: handled(Promise.all(changed.map((v) => this.handToViews(undefined, v))).then(() => undefined)) };
  }

  // --- life -----------------------------------------------------------------------------------

  /** Waits for the stores, saves their positions, closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.positionTimer);
    await this.flush().catch(() => undefined);
    clearTimeout(this.soonTimer);
    for (const w of this.soon.splice(0)) w.reject(new Error('change log: closed before the write could join a group'));
    await this.drained();
    await this.saving;
    for (const v of this.views.values()) v.changed = true;
    await this.savePositions();
    this.outsideGroup();
    this.closed = true;
    await this.stopCheckpointer();
    this.db.close();
  }

  private async stopCheckpointer(): Promise<void> {
    await this.delegatedCheckpoints?.close();
    const worker = this.checkpointer;
    if (!worker || this.checkpointerExited) return;
    const done = new Promise<void>((resolve) => {
      worker.once('message', () => resolve());
      worker.once('exit', () => resolve());
    });
    worker.postMessage({ type: 'close' });
    await done;
    await worker.terminate();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('change log: closed');
  }
}

/**
 * The log's checkpoints through a WalCheckpointer: once a round, when the connection wrote since
 * the last checkpoint (SQLite's total_changes(): any statement that wrote, the log's or a store's
 * in the same file), a request, one at a time. While requests fail for CHECKPOINTER_DOWN_MS (the
 * thread down, being restarted) the connection checkpoints itself (wal_autocheckpoint), so the
 * WAL never grows without bound; once one succeeds again it stops.
 */
class DelegatedCheckpoints {
  private readonly timer: NodeJS.Timeout;
  private readonly totalChanges: Database.Statement;
  private inFlight: Promise<void> | undefined;
  /** total_changes() at the last checkpoint that succeeded (-1: none yet, so the first round checkpoints what the WAL holds) */
  private checkpointedAt = -1;
  private failingSince: number | undefined;
  private selfCheckpointing = false;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly by: WalCheckpointer,
  ) {
    this.totalChanges = db.prepare('SELECT total_changes()').pluck();
    this.timer = setInterval(() => this.round(), CHECKPOINT_INTERVAL_MS).unref();
  }

  private round(): void {
    if (this.inFlight || this.closed) return;
    const changes = this.totalChanges.get() as number;
    if (changes === this.checkpointedAt && this.failingSince === undefined) return;
    this.inFlight = this.by.checkpoint(this.file).then(
      () => {
        this.checkpointedAt = changes;
        this.failingSince = undefined;
        this.checkpointItself(false);
      },
      () => {
        this.failingSince ??= Date.now();
        if (Date.now() - this.failingSince >= CHECKPOINTER_DOWN_MS) this.checkpointItself(true);
      },
    );
    void this.inFlight.finally(() => (this.inFlight = undefined));
  }

  private checkpointItself(on: boolean): void {
    if (this.closed || this.selfCheckpointing === on) return;
    this.db.pragma(`wal_autocheckpoint = ${on ? 1000 : BACKSTOP_AUTOCHECKPOINT_PAGES}`);
    this.selfCheckpointing = on;
  }

  /** Stops the rounds and waits for the request in flight (the connection closes after it). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.inFlight;
  }
}

/** Marks a promise handled (a caller that does not wait for it must not bring the process down) and returns it. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function checkEntry(e: LogEntry): void {
  const ok =
    typeof e.origin === 'string' &&
    e.origin !== '' &&
    Number.isInteger(e.seq) &&
    e.seq >= 1 &&
    isEncodedHlc(e.hlc) &&
    typeof e.kind === 'string' &&
    e.kind !== '' &&
    typeof e.key === 'string' &&
    e.key !== '' &&
    e.body !== undefined &&
    (e.base === undefined || e.base === null || (typeof e.base === 'object' && isEncodedHlc(e.base.hlc) && typeof e.base.origin === 'string' && e.base.origin !== ''));
  if (!ok) throw new Error(`change log: a malformed entry (${JSON.stringify({ origin: e.origin, seq: e.seq, hlc: e.hlc, kind: e.kind })})`);
}

