import type Database from 'better-sqlite3';
import type { Disposition } from '../../../shared/api/cdr.js';
import type { CallSpan } from './stats.js';
import type { CdrExportSort, CdrFilter, CdrPageRequest } from '../../../shared/api/cdr-query.js';
import { compareBinary, filterKey, ftsPhrase, monthsFor, orderBy, soleSearchTerm, sortSpec, whereOf, type FtsPlan, type SortSpec, type Where } from './query.js';
import { listMonths, monthBounds, monthPath, openMonthForRead } from './schema.js';

export interface EngineOptions {
  /** month databases kept open at once; default 6 */
  maxOpenMonths?: number;
  /** page cache of each open month, KiB; default 8192 */
  cacheKiB?: number;
  /** see FTS_DRIVE_MAX (tests set 0 to exercise the filtering plan) */
  ftsDriveMax?: number;
}

/**
 * Up to this many trigram-index matches in a month, a search drives the query (its rows are looked
 * up by rowid); beyond, it filters the scan of the index the rest of the query uses. Measured on
 * 333k rows a month: 2,000 lookups ≈ 5–10 ms, a month's index scan ≈ 20–50 ms.
 */
const FTS_DRIVE_MAX = 4000;

/** Matches of a trigram-index term in one month database. */
function ftsCountIn(db: Database.Database, term: string): number {
  return (db.prepare('SELECT count(*) FROM cdr_fts WHERE cdr_fts MATCH ?').pluck().get(ftsPhrase(term)) as number) ?? 0;
}

interface MonthReader {
  month: string;
  bounds: [number, number];
  db: Database.Database;
  statements: Map<string, Database.Statement>;
  /** match counts by filter, valid while the database's data_version stays the same */
  counts: Map<string, number>;
  dataVersion: number;
}

interface Key {
  month: MonthReader;
  rid: number;
  k: number | string;
  id: string;
}

/** Page results travel as the stored JSON text; the caller parses the 50 it shows. */
export interface PageResult {
  docs: string[];
  total: number;
}

/**
 * The read side of the CDR collection: synchronous, with its own read-only connections. It runs
 * inside the reader worker (reader-worker.ts), never on the ingesting thread.
 */
export class CdrQueryEngine {
  private readonly open = new Map<string, MonthReader>();
  private readonly maxOpen: number;
  private readonly cacheKiB: number;
  private readonly ftsDriveMax: number;

  constructor(
    readonly dir: string,
    opts: EngineOptions = {},
  ) {
    this.maxOpen = Math.max(1, opts.maxOpenMonths ?? 6);
    this.cacheKiB = opts.cacheKiB ?? 8192;
    this.ftsDriveMax = opts.ftsDriveMax ?? FTS_DRIVE_MAX;
  }

  page(req: CdrPageRequest): PageResult {
    const spec = sortSpec(req.sort);
    const months = monthsFor(req.filter, listMonths(this.dir), monthBounds);
    const counted: { month: string; n: number }[] = [];
    let total = 0;
    for (const month of months) {
      const n = this.count(month, req.filter);
      total += n;
      if (n > 0) counted.push({ month, n });
    }
    if (total === 0 || req.offset >= total) return { docs: [], total };

    if (spec.column === 'started_at' || counted.length === 1) {
      // Months do not overlap in time: walk them in sort order, skipping whole months by their counts.
      if (spec.desc) counted.reverse();
      const docs: string[] = [];
      let skip = req.offset;
      for (const { month, n } of counted) {
        if (skip >= n) {
          skip -= n;
          continue;
        }
        const take = Math.min(req.limit - docs.length, n - skip);
        docs.push(...this.pageIn(month, req.filter, spec, take, skip));
        skip = 0;
        if (docs.length >= req.limit) break;
      }
      return { docs, total };
    }
    return { docs: this.mergedPage(counted.map((c) => c.month), req, spec), total };
  }

  /**
   * The matching documents in time order, in batches, month after month. Each month is read by a
   * cursor on a connection of its own (so pages can be served between batches), closed when the
   * month is done or the generator is returned early.
   */
  *exportDocs(filter: CdrFilter, sort: CdrExportSort, batchSize: number): Generator<string[], number, void> {
    const spec = sortSpec(sort);
    const months = monthsFor(filter, listMonths(this.dir), monthBounds);
    if (spec.desc) months.reverse();
    let batch: string[] = [];
    let rows = 0;
    for (const month of months) {
      const db = openMonthForRead(monthPath(this.dir, month), 2048);
      if (!db) continue;
      try {
        const ftsCounts = new Map<string, number>();
        const plan: FtsPlan = (term) => {
          let n = ftsCounts.get(term);
          if (n === undefined) ftsCounts.set(term, (n = ftsCountIn(db, term)));
          return n <= this.ftsDriveMax;
        };
        const w = whereOf(filter, monthBounds(month), plan);
        const cursor = db.prepare(`SELECT doc FROM cdr ${w.sql} ORDER BY ${orderBy(spec)}`).pluck().iterate(...w.params) as IterableIterator<string>;
        for (const doc of cursor) {
          batch.push(doc);
          if (batch.length >= batchSize) {
            rows += batch.length;
            yield batch;
            batch = [];
          }
        }
      } finally {
        db.close();
      }
    }
    if (batch.length) {
      rows += batch.length;
      yield batch;
    }
    return rows;
  }

  /** The start, end, disposition and domain of the calls that started in [fromMs, untilMs). */
  *spans(fromMs: number, untilMs: number): Generator<CallSpan> {
    for (const month of monthsFor({ fromMs, untilMs }, listMonths(this.dir), monthBounds)) {
      const r = this.reader(month);
      if (!r) continue;
      const rows = r.db.prepare('SELECT started_at AS s, duration AS d, disposition AS disp, domain AS dom FROM cdr WHERE started_at >= ? AND started_at < ?').iterate(fromMs, untilMs) as IterableIterator<{ s: number; d: number; disp: Disposition; dom: string }>;
      for (const row of rows) yield { startMs: row.s, endMs: row.s + Math.round(row.d * 1000), disposition: row.disp, domain: row.dom };
    }
  }

  /** The query plan SQLite picks for a page query in a month (for diagnostics and the benchmark). */
  explain(month: string, req: CdrPageRequest): string[] {
    const r = this.reader(month);
    if (!r) return [];
    const w = whereOf(req.filter, r.bounds, this.plan(r));
    const sql = `EXPLAIN QUERY PLAN ${this.pageSql(w, sortSpec(req.sort))}`;
    return (r.db.prepare(sql).all(...w.params, req.limit, req.offset) as { detail: string }[]).map((row) => row.detail);
  }

  close(): void {
    for (const r of this.open.values()) r.db.close();
    this.open.clear();
  }

  private count(month: string, filter: CdrFilter): number {
    const r = this.reader(month);
    if (!r) return 0;
    return this.cached(r, filterKey(filter, r.bounds), () => {
      const sole = soleSearchTerm(filter, r.bounds);
      if (sole !== undefined) return this.ftsCount(r, sole);
      const w = whereOf(filter, r.bounds, this.plan(r));
      return (this.statement(r, `SELECT count(*) FROM cdr ${w.sql}`).pluck().get(...w.params) as number) ?? 0;
    });
  }

  /** A count of the month, cached until the month's data changes (its data_version moves). */
  private cached(r: MonthReader, key: string, compute: () => number): number {
    const version = r.db.pragma('data_version', { simple: true }) as number;
    if (version !== r.dataVersion) {
      r.counts.clear();
      r.dataVersion = version;
    }
    const hit = r.counts.get(key);
    if (hit !== undefined) return hit;
    const n = compute();
    if (r.counts.size >= 256) r.counts.delete(r.counts.keys().next().value as string);
    r.counts.set(key, n);
    return n;
  }

  private ftsCount(r: MonthReader, term: string): number {
    return this.cached(r, `fts\u0000${term}`, () => ftsCountIn(r.db, term));
  }

  private plan(r: MonthReader): FtsPlan {
    return (term) => this.ftsCount(r, term) <= this.ftsDriveMax;
  }

  private pageSql(w: Where, spec: SortSpec): string {
    // The page's rows are chosen on an index first; only those 50 documents are read.
    const order = orderBy(spec);
    return `SELECT doc FROM cdr WHERE rid IN (SELECT rid FROM cdr ${w.sql} ORDER BY ${order} LIMIT ? OFFSET ?) ORDER BY ${order}`;
  }

  private pageIn(month: string, filter: CdrFilter, spec: SortSpec, limit: number, offset: number): string[] {
    const r = this.reader(month);
    if (!r) return [];
    const w = whereOf(filter, r.bounds, this.plan(r));
    return this.statement(r, this.pageSql(w, spec)).pluck().all(...w.params, limit, offset) as string[];
  }

  /**
   * A page of a sort that months do not partition (duration, from, ...): the first offset+limit
   * keys of every month (from the sort's index), merged, then the page's documents read by rowid.
   */
  private mergedPage(months: string[], req: CdrPageRequest, spec: SortSpec): string[] {
    const want = req.offset + req.limit;
    const keys: Key[] = [];
    for (const month of months) {
      const r = this.reader(month);
      if (!r) continue;
      const w = whereOf(req.filter, r.bounds, this.plan(r));
      const sql = `SELECT rid, ${spec.column} AS k, id FROM cdr ${w.sql} ORDER BY ${orderBy(spec)} LIMIT ?`;
      for (const row of this.statement(r, sql).all(...w.params, want) as { rid: number; k: number | string; id: string }[]) {
        keys.push({ month: r, rid: row.rid, k: row.k, id: row.id });
      }
    }
    const sign = spec.desc ? -1 : 1;
    keys.sort((a, b) => {
      const c = spec.numeric ? (a.k as number) - (b.k as number) : compareBinary(a.k as string, b.k as string);
      return sign * (c !== 0 ? c : compareBinary(a.id, b.id));
    });
    const page = keys.slice(req.offset, want);
    const docs = new Map<string, string>();
    const byMonth = new Map<MonthReader, number[]>();
    for (const key of page) {
      let rids = byMonth.get(key.month);
      if (!rids) byMonth.set(key.month, (rids = []));
      rids.push(key.rid);
    }
    for (const [r, rids] of byMonth) {
      // The readers were opened above; re-take them in case the LRU closed one meanwhile.
      const live = this.reader(r.month);
      if (!live) continue;
      const rows = this.statement(live, 'SELECT rid, doc FROM cdr WHERE rid IN (SELECT value FROM json_each(?))').all(JSON.stringify(rids)) as {
        rid: number;
        doc: string;
      }[];
      for (const row of rows) docs.set(`${r.month}/${row.rid}`, row.doc);
    }
    return page.map((key) => docs.get(`${key.month.month}/${key.rid}`)).filter((d): d is string => d !== undefined);
  }

  private statement(r: MonthReader, sql: string): Database.Statement {
    let stmt = r.statements.get(sql);
    if (!stmt) {
      stmt = r.db.prepare(sql);
      if (r.statements.size >= 64) r.statements.delete(r.statements.keys().next().value as string);
      r.statements.set(sql, stmt);
    }
    return stmt;
  }

  private reader(month: string): MonthReader | undefined {
    const hit = this.open.get(month);
    if (hit) {
      this.open.delete(month);
      this.open.set(month, hit);
      return hit;
    }
    const db = openMonthForRead(monthPath(this.dir, month), this.cacheKiB);
    if (!db) return undefined;
    const r: MonthReader = { month, bounds: monthBounds(month), db, statements: new Map(), counts: new Map(), dataVersion: -1 };
    this.open.set(month, r);
    while (this.open.size > this.maxOpen) {
      const [oldest, old] = this.open.entries().next().value as [string, MonthReader];
      this.open.delete(oldest);
      old.db.close();
    }
    return r;
  }
}
