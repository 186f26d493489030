import Database from 'better-sqlite3';
import type { VersionBase } from './core/merge.js';

/** One change as the log holds it. `body` null is a tombstone (a delete). */
export interface LogEntry<B = unknown> {
  /** the site that made the change */
  origin: string;
  /** gapless per origin, from 1, continuing across restarts */
  seq: number;
  /** encoded hybrid logical clock (core/hlc.ts) */
  hlc: string;
  kind: string;
  key: string;
  body: B | null;
  /**
   * of a document change: the version it was made from (core/merge.ts VersionBase), what tells a
   * concurrent edit from a sequential one; absent where not known (records, older entries)
   */
  base?: VersionBase;
}

/** A base as the `base` columns store it: `hlc/origin`, '' for none, NULL when not known. */
export function encodeBase(base: VersionBase | undefined): string | null {
  if (base === undefined) return null;
  return base === null ? '' : `${base.hlc}/${base.origin}`;
}

export function decodeBase(text: string | null): VersionBase | undefined {
  if (text === null) return undefined;
  if (text === '') return null;
  const at = text.indexOf('/');
  return { hlc: text.slice(0, at), origin: text.slice(at + 1) };
}

/** What a reader (or a peer) has: per origin, the last seq it holds. */
export type SinceVector = Record<string, number>;

/**
 * Seqs `first..last` of an origin that this log holds no entries for: the peer that sent the
 * origin's entries filtered them out (sync/replication: domains this site does not serve). The
 * origin's head moves past them; `after` passes over them (its seqs jump the range).
 */
export interface HeldRange {
  origin: string;
  first: number;
  last: number;
}

/** The entries a reader asked for were compacted away: it must start again from a snapshot. */
export class LogCompactedError extends Error {
  override name = 'LogCompactedError';
  constructor(
    readonly origin: string,
    readonly after: number,
    readonly base: number,
  ) {
    super(`The change log no longer holds the entries of ${origin} after ${after} (compacted up to ${base}): start from a snapshot.`);
  }
}

interface EntryRow {
  seq: number;
  hlc: string;
  kind: string;
  key: string;
  body: string | null;
  base: string | null;
}

/**
 * The read side of the change log: entries by position, in bounded pages. The writer has one on
 * its own connection; a reader elsewhere (another thread or process: the replication sender, a
 * backup, a test) opens the file read-only, and sees committed entries only (WAL).
 */
export class LogQueries {
  private readonly originIds = new Map<string, number>();
  private readonly originNames = new Map<number, string>();
  private readonly selectOrigins: Database.Statement;
  private readonly selectAfter: Database.Statement;
  private readonly selectBase: Database.Statement;
  private readonly selectHeads: Database.Statement;
  private readonly selectKindsAfter: Database.Statement;
  private readonly selectHeld: Database.Statement;

  constructor(protected readonly db: Database.Database) {
    this.selectOrigins = db.prepare('SELECT id, name FROM origins');
    this.selectAfter = db.prepare('SELECT seq, hlc, kind, key, body, base FROM entries WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.selectBase = db.prepare('SELECT base FROM origins WHERE id = ?');
    this.selectKindsAfter = db.prepare('SELECT seq, hlc, kind, key, body FROM entries WHERE origin = ? AND seq > ? AND seq <= ? AND kind IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?');
    this.selectHeads = db.prepare(
      'SELECT o.name AS name, max(o.base, coalesce((SELECT max(e.seq) FROM entries e WHERE e.origin = o.id), 0), coalesce((SELECT max(h.last) FROM held_elsewhere h WHERE h.origin = o.id), 0)) AS head FROM origins o',
    );
    this.selectHeld = db.prepare('SELECT first, last FROM held_elsewhere WHERE origin = ? AND last > ? ORDER BY first LIMIT ?');
  }

  /** The id of an origin, or undefined when the log has nothing of it. */
  protected originId(name: string): number | undefined {
    let id = this.originIds.get(name);
    if (id === undefined) {
      this.loadOrigins();
      id = this.originIds.get(name);
    }
    return id;
  }

  protected originName(id: number): string {
    let name = this.originNames.get(id);
    if (name === undefined) {
      this.loadOrigins();
      name = this.originNames.get(id);
    }
    if (name === undefined) throw new Error(`change log: unknown origin id ${id}`);
    return name;
  }

  protected rememberOrigin(id: number, name: string): void {
    this.originIds.set(name, id);
    this.originNames.set(id, name);
  }

  private loadOrigins(): void {
    for (const row of this.selectOrigins.all() as { id: number; name: string }[]) this.rememberOrigin(row.id, row.name);
  }

  /**
   * Up to `limit` entries of `origin` after `seq`, in order. Throws LogCompactedError when some
   * of them are no longer held.
   */
  after<B = unknown>(origin: string, seq: number, limit: number): LogEntry<B>[] {
    if (!Number.isInteger(seq) || seq < 0) throw new RangeError(`change log: a position is a whole number ≥ 0, not ${seq}`);
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`change log: a page holds at least one entry, not ${limit}`);
    const id = this.originId(origin);
    if (id === undefined) return [];
    const base = (this.selectBase.get(id) as { base: number }).base;
    if (seq < base) throw new LogCompactedError(origin, seq, base);
    return (this.selectAfter.all(id, seq, limit) as EntryRow[]).map((r) => {
      const entry: LogEntry<B> = { origin, seq: r.seq, hlc: r.hlc, kind: r.kind, key: r.key, body: r.body === null ? null : (JSON.parse(r.body) as B) };
      if (r.base !== null) entry.base = decodeBase(r.base) as VersionBase;
      return entry;
    });
  }

  /** Up to `limit` ranges of `origin` held elsewhere (not here) that end after `seq`, in order. */
  heldElsewhere(origin: string, seq: number, limit: number): HeldRange[] {
    const id = this.originId(origin);
    if (id === undefined) return [];
    return (this.selectHeld.all(id, seq, limit) as { first: number; last: number }[]).map((r) => ({ origin, first: r.first, last: r.last }));
  }

  /** The last seq of every origin the log knows. */
  head(): SinceVector {
    const out: SinceVector = {};
    for (const row of this.selectHeads.all() as { name: string; head: number }[]) out[row.name] = row.head;
    return out;
  }

  /**
   * Up to `limit` entries that the holder of `vector` lacks, origin by origin (each origin's in
   * order). What the replication sender sends; a reader resumes with the vector of what it took.
   */
  since(vector: SinceVector, limit: number): LogEntry[] {
    const out: LogEntry[] = [];
    const head = this.head();
    for (const origin of Object.keys(head).sort()) {
      const have = vector[origin] ?? 0;
      if ((head[origin] ?? 0) <= have) continue;
      out.push(...this.after(origin, have, limit - out.length));
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Like `since`, for a reader of some kinds only: up to `limit` of their entries that the holder
   * of `vector` lacks, and `through`, how far the read went (the entries of other kinds up to it
   * were passed over): the position such a reader resumes from. Without an index by kind the
   * entries in between are read, so each origin is read at most KIND_SCAN_STEP entries further.
   */
  sinceOfKinds(vector: SinceVector, limit: number, kinds: readonly string[]): { entries: LogEntry[]; through: SinceVector } {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`change log: a page holds at least one entry, not ${limit}`);
    const entries: LogEntry[] = [];
    const through: SinceVector = { ...vector };
    const head = this.head();
    const wanted = JSON.stringify(kinds);
    for (const origin of Object.keys(head).sort()) {
      const have = vector[origin] ?? 0;
      const top = head[origin] ?? 0;
      if (top <= have) continue;
      const id = this.originId(origin);
      if (id === undefined) continue;
      const base = (this.selectBase.get(id) as { base: number }).base;
      if (have < base) throw new LogCompactedError(origin, have, base);
      const upTo = Math.min(top, have + KIND_SCAN_STEP);
      const room = limit - entries.length;
      const rows = this.selectKindsAfter.all(id, have, upTo, wanted, room) as EntryRow[];
      for (const r of rows) entries.push({ origin, seq: r.seq, hlc: r.hlc, kind: r.kind, key: r.key, body: r.body === null ? null : JSON.parse(r.body) });
      if (rows.length < room) {
        through[origin] = upTo;
        continue;
      }
      through[origin] = (rows[rows.length - 1] as EntryRow).seq;
      break;
    }
    return { entries, through };
  }
}

/**
 * The most entries one `sinceOfKinds` call passes over per origin: a reader of a few kinds (the
 * console's live feed reads configuration, not the raw events) that is far behind moves through
 * the others in steps of this many, each a short read, instead of one read as long as the backlog.
 */
export const KIND_SCAN_STEP = 20_000;

/** A read-only connection to a change log file, for a reader outside the writing service's thread. */
export class ChangeLogReader extends LogQueries {
  static open(file: string): ChangeLogReader {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 1000');
    return new ChangeLogReader(db);
  }

  close(): void {
    this.db.close();
  }
}

/** Moves a since-vector past the entries taken. */
export function advance(vector: SinceVector, entries: readonly LogEntry[]): SinceVector {
  const next = { ...vector };
  for (const e of entries) if ((next[e.origin] ?? 0) < e.seq) next[e.origin] = e.seq;
  return next;
}
