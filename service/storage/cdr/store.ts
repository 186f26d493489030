import { closeSync, existsSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Cdr } from '../../../shared/api/cdr.js';
import { ValidationError } from '../../errors.js';
import {
  INDEX_DDL,
  INDEX_FILE,
  collectionDir,
  listMonths,
  monthOf,
  monthPath,
  openMonthForWrite,
  rowOf,
  tuneWriter,
  type CdrRow,
} from './schema.js';
import { supersedes } from './winner.js';

export interface CdrStoreOptions {
  /** month databases kept open at once (least recently used closed first); default 3 */
  maxOpenMonths?: number;
  /** page cache of each open month, KiB; default 8192 */
  cacheKiB?: number;
}

export interface InsertOptions {
  /**
   * fsync the commits before returning (state_save transactional): the records survive a power
   * loss, not only a crash of the process. The store otherwise commits with synchronous=NORMAL.
   */
  durable?: boolean;
}

interface MonthWriter {
  month: string;
  db: Database.Database;
  insert: Database.Statement<[CdrRow]>;
  insertFts: Database.Statement<[number | bigint, string]>;
  getDoc: Database.Statement<[string], { doc: string }>;
  getRow: Database.Statement<[string], { rid: number; search: string; doc: string }>;
  replace: Database.Statement<[CdrRow & { rid: number }]>;
  remove: Database.Statement<[string]>;
  deleteFts: Database.Statement<[number | bigint, string]>;
  has: Database.Statement<[string], { one: number }>;
  /** rows at the last ANALYZE (0: never) and rows written since */
  analyzedAt: number;
  rows: number;
}

/**
 * The writer of the CDR collection `cdr/COPM3_dialogs` (design 4.2): one SQLite database per month
 * of the call's start plus an id → month index. Synchronous (better-sqlite3) and meant for the main
 * thread; long reads go through CdrReader, whose worker has its own read-only connections.
 *
 * One record per id: a CDR whose id is stored replaces it only when it is the greater by the
 * records' order (winner.ts), so the store ends with the same record whatever order its versions
 * came in, and writing the same one again changes nothing. A batch writes the
 * month rows first (one transaction per month), then the index; a crash between the two leaves
 * rows without index entries, which the next insert of the same CDRs repairs (or `repairIndex`).
 */
export class CdrStore {
  readonly dir: string;
  private readonly maxOpen: number;
  private readonly cacheKiB: number;
  private readonly open = new Map<string, MonthWriter>();
  private readonly index: Database.Database;
  private readonly indexGet: Database.Statement<[string], { month: string }>;
  private readonly indexPut: Database.Statement<[string, string]>;
  private closed = false;
  /** the files written without fsync since the last sync() */
  private readonly unsynced = new Set<string>();
  private readonly indexFile: string;

  constructor(dataDir: string, opts: CdrStoreOptions = {}) {
    this.dir = collectionDir(dataDir);
    this.maxOpen = Math.max(1, opts.maxOpenMonths ?? 3);
    this.cacheKiB = opts.cacheKiB ?? 8192;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.indexFile = join(this.dir, INDEX_FILE);
    this.index = new Database(this.indexFile);
    tuneWriter(this.index, 4096);
    this.index.exec(INDEX_DDL);
    this.indexGet = this.index.prepare('SELECT month FROM cdr_month WHERE id = ?');
    // the index follows the month that holds the row (a record whose start moved is moved)
    this.indexPut = this.index.prepare('INSERT INTO cdr_month (id, month) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET month = excluded.month WHERE month <> excluded.month');
  }

  /**
   * Writes each CDR whose id is not stored yet, or that replaces the one stored (the greater by
   * the records' order, winner.ts: a call's record rebuilt from more of its events, or written in
   * a later term), one transaction per month, and returns the ids written now (in input order). A
   * CDR that the stored one beats (or equals) is not written; of several of one id in the batch,
   * the greatest. Throws ValidationError, before writing anything, when a CDR has no id or no valid
   * startedAt.
   *
   * A record replaced by one of another month (its start moved) is written in its new month,
   * then removed from the old one, then the index follows: a crash in between leaves the index on
   * a month whose row is gone or a row in each month with the index on the old one, and the same
   * insert again (the log replays it) finds the stored one and finishes the move.
   */
  insert(cdrs: readonly Cdr[], opts: InsertOptions = {}): string[] {
    const durable = opts.durable === true;
    this.assertOpen();
    const best = new Map<string, { cdr: Cdr; ms: number }>();
    cdrs.forEach((cdr, i) => {
      if (typeof cdr.id !== 'string' || cdr.id === '') {
        throw new ValidationError(`CDR ${i} has no id.`, [{ path: `/${i}/id`, message: 'is required' }]);
      }
      const ms = Date.parse(cdr.startedAt);
      if (!Number.isFinite(ms)) {
        throw new ValidationError(`CDR ${cdr.id} has no valid startedAt.`, [{ path: `/${i}/startedAt`, message: 'must be a date-time' }]);
      }
      const seen = best.get(cdr.id);
      if (!seen || supersedes(cdr, seen.cdr)) best.set(cdr.id, { cdr, ms });
    });

    const byMonth = new Map<string, CdrRow[]>();
    /** records moving out of a month: removed there once written in their new one */
    const leaving = new Map<string, string[]>();
    for (const [id, { cdr, ms }] of best) {
      const month = monthOf(ms);
      const indexed = this.indexGet.get(id);
      if (indexed && indexed.month !== month) {
        const held = this.writerIfExists(indexed.month)?.getDoc.get(id);
        // stored under another month: it moves only when the new one replaces it (a row gone
        // from there is a move a crash cut short: finished below, the new month holding it)
        if (held && !supersedes(cdr, JSON.parse(held.doc) as Cdr)) continue;
        if (held) {
          let out = leaving.get(indexed.month);
          if (!out) leaving.set(indexed.month, (out = []));
          out.push(id);
        }
      }
      let rows = byMonth.get(month);
      if (!rows) byMonth.set(month, (rows = []));
      rows.push(rowOf(cdr, ms));
    }

    const written = new Set<string>();
    const toIndex: [string, string][] = [];
    for (const [month, rows] of byMonth) {
      const w = this.writer(month);
      if (!durable) this.unsynced.add(monthPath(this.dir, month));
      writeTransaction(w.db, durable, () => {
        for (const row of rows) {
          const res = w.insert.run(row);
          if (res.changes === 1) {
            w.insertFts.run(res.lastInsertRowid, row.search);
            written.add(row.id);
            w.rows++;
          } else {
            // stored in this month already: replaced when the new one beats it
            const held = w.getRow.get(row.id);
            if (held && supersedes(JSON.parse(row.doc) as Cdr, JSON.parse(held.doc) as Cdr)) {
              w.deleteFts.run(held.rid, held.search);
              w.replace.run({ ...row, rid: held.rid });
              w.insertFts.run(held.rid, row.search);
              written.add(row.id);
            }
          }
          // Written now, or already in the month (maybe without its index entry): index it.
          toIndex.push([row.id, month]);
        }
      });
      this.maybeAnalyze(w);
    }
    for (const [month, ids] of leaving) {
      const w = this.writer(month);
      if (!durable) this.unsynced.add(monthPath(this.dir, month));
      writeTransaction(w.db, durable, () => {
        for (const id of ids) {
          const held = w.getRow.get(id);
          if (!held) continue;
          w.deleteFts.run(held.rid, held.search);
          w.remove.run(id);
        }
      });
    }
    if (toIndex.length) {
      if (!durable) this.unsynced.add(this.indexFile);
      writeTransaction(this.index, durable, () => {
        for (const [id, month] of toIndex) this.indexPut.run(id, month);
      });
    }
    const ids: string[] = [];
    for (const { id } of cdrs) {
      if (written.delete(id)) ids.push(id);
    }
    return ids;
  }

  /**
   * Makes every insert so far survive a power loss: the WAL of each file written since the last
   * sync is fsync'd (what synchronous=FULL does at each commit, here once for many commits). A
   * month closed meanwhile was checkpointed into its file, which SQLite syncs.
   */
  sync(): void {
    this.assertOpen();
    for (const file of this.unsynced) {
      let fd: number;
      try {
        fd = openSync(`${file}-wal`, 'r');
      } catch {
        continue; // no WAL: everything is in the database file, synced by its checkpoint
      }
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    this.unsynced.clear();
  }

  get(id: string): Cdr | undefined {
    this.assertOpen();
    const hit = this.indexGet.get(id);
    if (!hit) return undefined;
    const row = this.writerIfExists(hit.month)?.getDoc.get(id);
    return row ? (JSON.parse(row.doc) as Cdr) : undefined;
  }

  has(id: string): boolean {
    this.assertOpen();
    const hit = this.indexGet.get(id);
    if (!hit) return false;
    return this.writerIfExists(hit.month)?.has.get(id) !== undefined;
  }

  /** The months stored, ascending (`YYYY-MM`). */
  months(): string[] {
    return listMonths(this.dir);
  }

  /**
   * Adds the index entries missing for rows of a month (all months when none is given), e.g. after
   * a crash between the month write and the index write, or after restoring an archived month.
   * Returns how many entries were added.
   */
  repairIndex(month?: string): number {
    this.assertOpen();
    let added = 0;
    for (const m of month ? [month] : this.months()) {
      const w = this.writerIfExists(m);
      if (!w) continue;
      const ids = w.db.prepare('SELECT id FROM cdr').pluck().iterate() as IterableIterator<string>;
      let batch: string[] = [];
      const flush = () => {
        this.index.transaction(() => {
          for (const id of batch) added += this.indexPut.run(id, m).changes;
        }).immediate();
        batch = [];
      };
      for (const id of ids) {
        batch.push(id);
        if (batch.length >= 10_000) flush();
      }
      flush();
    }
    return added;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.open.values()) closeWriter(w);
    this.open.clear();
    this.index.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The CDR store is closed.');
  }

  private writerIfExists(month: string): MonthWriter | undefined {
    if (!this.open.has(month) && !existsSync(monthPath(this.dir, month))) return undefined;
    return this.writer(month);
  }

  /** The month's writer, opened (and created) on first use; the least recently used beyond the limit is closed. */
  private writer(month: string): MonthWriter {
    const hit = this.open.get(month);
    if (hit) {
      this.open.delete(month);
      this.open.set(month, hit);
      return hit;
    }
    const db = openMonthForWrite(monthPath(this.dir, month), this.cacheKiB);
    const rows = (db.prepare('SELECT coalesce(max(rid), 0) AS n FROM cdr').get() as { n: number }).n;
    const analyzed = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'sqlite_stat1'").get() as { n: number }).n > 0;
    const w: MonthWriter = {
      month,
      db,
      insert: db.prepare(
        `INSERT INTO cdr (id, started_at, domain, direction, disposition, from_num, to_num, answered_num, duration, billsec, search, doc)
         VALUES (@id, @started_at, @domain, @direction, @disposition, @from_num, @to_num, @answered_num, @duration, @billsec, @search, @doc)
         ON CONFLICT (id) DO NOTHING`,
      ),
      insertFts: db.prepare('INSERT INTO cdr_fts (rowid, search) VALUES (?, ?)'),
      getDoc: db.prepare('SELECT doc FROM cdr WHERE id = ?'),
      getRow: db.prepare('SELECT rid, search, doc FROM cdr WHERE id = ?'),
      replace: db.prepare(
        `UPDATE cdr SET started_at = @started_at, domain = @domain, direction = @direction, disposition = @disposition, from_num = @from_num, to_num = @to_num,
           answered_num = @answered_num, duration = @duration, billsec = @billsec, search = @search, doc = @doc WHERE rid = @rid`,
      ),
      remove: db.prepare('DELETE FROM cdr WHERE id = ?'),
      // an external-content FTS5 table forgets a row by being told the text it indexed
      deleteFts: db.prepare("INSERT INTO cdr_fts (cdr_fts, rowid, search) VALUES ('delete', ?, ?)"),
      has: db.prepare('SELECT 1 AS one FROM cdr WHERE id = ?'),
      analyzedAt: analyzed ? rows : 0,
      rows,
    };
    this.open.set(month, w);
    while (this.open.size > this.maxOpen) {
      const [oldest, ow] = this.open.entries().next().value as [string, MonthWriter];
      this.open.delete(oldest);
      closeWriter(ow);
    }
    return w;
  }

  /**
   * Keeps the planner's statistics in step with a growing month: ANALYZE (sampled) when the month
   * has doubled since the last one, so the reader picks the right index for a filter.
   */
  private maybeAnalyze(w: MonthWriter): void {
    if (w.rows < 1000 || w.rows < w.analyzedAt * 2) return;
    w.db.pragma('analysis_limit = 2000');
    w.db.exec('ANALYZE');
    w.analyzedAt = w.rows;
  }
}

/**
 * Runs a write transaction, fsync'd at its commit when durable: synchronous=FULL makes SQLite sync
 * the WAL (with every frame before it) at the commit. The level cannot change inside a transaction,
 * so it is set around it, and put back for the records that need no more than NORMAL.
 */
function writeTransaction(db: Database.Database, durable: boolean, body: () => void): void {
  const run = () => db.transaction(body).immediate();
  if (!durable) return run();
  db.pragma('synchronous = FULL');
  try {
    run();
  } finally {
    db.pragma('synchronous = NORMAL');
  }
}

function closeWriter(w: MonthWriter): void {
  try {
    w.db.pragma('analysis_limit = 2000');
    w.db.pragma('optimize');
  } finally {
    w.db.close();
  }
}
