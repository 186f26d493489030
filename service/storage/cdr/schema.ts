import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Cdr } from '../../../shared/api/cdr.js';
import { normalizeDomain } from '../../config/domains.js';

/**
 * The on-disk layout of the CDR collection `cdr/COPM3_dialogs` (design sections 2 and 4.2):
 *
 *   <dataDir>/cdr/COPM3_dialogs/YYYY-MM.sqlite   one database per month of the call's startedAt (UTC)
 *   <dataDir>/cdr/COPM3_dialogs/index.sqlite     id → month, for get-by-id and idempotent inserts
 *
 * A month file is self-contained (rows, indexes, full-text index): it can be archived or dropped
 * whole. Every file runs in WAL mode, so the reader worker's connections never block the writer.
 */
export const COLLECTION_DIR = join('cdr', 'COPM3_dialogs');
export const INDEX_FILE = 'index.sqlite';
export const SCHEMA_VERSION = 1;

const MONTH_FILE = /^(\d{4}-(0[1-9]|1[0-2]))\.sqlite$/;

export function collectionDir(dataDir: string): string {
  return join(dataDir, COLLECTION_DIR);
}

export function monthPath(dir: string, month: string): string {
  return join(dir, `${month}.sqlite`);
}

/** The months present on disk, ascending (`2026-09`, `2026-10`, ...). */
export function listMonths(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const months: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = MONTH_FILE.exec(name);
    if (m?.[1]) months.push(m[1]);
  }
  return months.sort();
}

/** `YYYY-MM` (UTC) of an epoch-ms instant. */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** [start, end) of a month in epoch ms. */
export function monthBounds(month: string): [number, number] {
  const y = Number(month.slice(0, 4));
  const m = Number(month.slice(5, 7)) - 1;
  return [Date.UTC(y, m, 1), Date.UTC(y, m + 1, 1)];
}

/**
 * The number of a party as the filters see it: the user part of a SIP/TEL URI, lower case.
 * `sip:+4930123@x` → `+4930123`, `"Bob" <sips:Bob@x;transport=tls>` → `bob`, `tel:+4930;phone-context=x`
 * → `+4930`; a bare number stays as it is.
 */
export function numberOf(party: string): string {
  let v = party.trim();
  const lt = v.indexOf('<');
  if (lt >= 0) {
    const gt = v.indexOf('>', lt + 1);
    v = v.slice(lt + 1, gt < 0 ? undefined : gt);
  }
  v = v.replace(/^(sips?|tel):/i, '');
  const at = v.indexOf('@');
  if (at >= 0) v = v.slice(0, at);
  const semi = v.indexOf(';');
  if (semi >= 0) v = v.slice(0, semi);
  return v.toLowerCase();
}

/**
 * The text the free-text search looks in: id, from, to, answeredBy and domain, lower case,
 * separated by a newline (search terms cannot contain control characters, so a match never spans
 * two fields).
 */
export function searchTextOf(cdr: Cdr): string {
  return [cdr.id, cdr.from, cdr.to, cdr.answeredBy ?? '', cdr.domain].join('\n').toLowerCase();
}

/** The column values of one CDR row, in insert order. */
export interface CdrRow {
  id: string;
  started_at: number;
  domain: string;
  direction: string | null;
  disposition: string;
  from_num: string;
  to_num: string;
  answered_num: string | null;
  duration: number;
  billsec: number;
  search: string;
  doc: string;
}

export function rowOf(cdr: Cdr, startedAtMs: number): CdrRow {
  return {
    id: cdr.id,
    started_at: startedAtMs,
    domain: normalizeDomain(cdr.domain),
    direction: cdr.direction,
    disposition: cdr.disposition,
    from_num: numberOf(cdr.from),
    to_num: numberOf(cdr.to),
    answered_num: cdr.answeredBy === null ? null : numberOf(cdr.answeredBy),
    duration: cdr.duration,
    billsec: cdr.billsec,
    search: searchTextOf(cdr),
    doc: JSON.stringify(cdr),
  };
}

/**
 * One month. `rid` is an explicit INTEGER PRIMARY KEY so that it survives VACUUM (the full-text
 * index refers to it). The filter indexes carry the low-cardinality filter columns at their tail so
 * that a filtered, sorted page is chosen from one index without touching the (wide) rows, and every
 * sort index ends with `id`, the tie-breaker, so no sort needs a temporary B-tree.
 * Search terms of 3+ characters use the trigram index `cdr_fts`; shorter ones scan `cdr_search`, a
 * covering index of the search text in time order (~1/15 of the rows' bytes: ~90 ms a month of
 * 333k rows instead of ~400 ms for the table), which also serves their time-ordered pages.
 */
export const MONTH_DDL = `
CREATE TABLE IF NOT EXISTS cdr (
  rid          INTEGER PRIMARY KEY,
  id           TEXT    NOT NULL UNIQUE,
  started_at   INTEGER NOT NULL,
  domain       TEXT    NOT NULL,
  direction    TEXT,
  disposition  TEXT    NOT NULL,
  from_num     TEXT    NOT NULL,
  to_num       TEXT    NOT NULL,
  answered_num TEXT,
  duration     REAL    NOT NULL,
  billsec      REAL    NOT NULL,
  search       TEXT    NOT NULL,
  doc          TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS cdr_time     ON cdr (started_at, id, domain, disposition, direction);
CREATE INDEX IF NOT EXISTS cdr_domain   ON cdr (domain, started_at, id, disposition, direction);
CREATE INDEX IF NOT EXISTS cdr_from     ON cdr (from_num, id);
CREATE INDEX IF NOT EXISTS cdr_to       ON cdr (to_num, id);
CREATE INDEX IF NOT EXISTS cdr_answered ON cdr (answered_num);
CREATE INDEX IF NOT EXISTS cdr_duration ON cdr (duration, id);
CREATE INDEX IF NOT EXISTS cdr_billsec  ON cdr (billsec, id);
CREATE INDEX IF NOT EXISTS cdr_search   ON cdr (started_at, id, search);
CREATE VIRTUAL TABLE IF NOT EXISTS cdr_fts USING fts5(search, content='cdr', content_rowid='rid', tokenize='trigram');
`;

export const INDEX_DDL = `
CREATE TABLE IF NOT EXISTS cdr_month (
  id    TEXT PRIMARY KEY,
  month TEXT NOT NULL
) WITHOUT ROWID;
`;

/** Pragmas of the writer's connections. */
export function tuneWriter(db: Database.Database, cacheKiB: number): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`cache_size = -${cacheKiB}`);
  db.pragma('temp_store = FILE');
  // A long export holds a read snapshot: let the WAL grow meanwhile, and checkpoint in the background of commits.
  db.pragma('wal_autocheckpoint = 4000');
}

/** Opens (creating if needed) a month database for writing. */
export function openMonthForWrite(path: string, cacheKiB: number): Database.Database {
  const db = new Database(path);
  try {
    tuneWriter(db, cacheKiB);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`${path} has CDR schema version ${version}; this Sitecall knows up to ${SCHEMA_VERSION}. Upgrade Sitecall.`);
    }
    if (version < SCHEMA_VERSION) {
      db.transaction(() => {
        db.exec(MONTH_DDL);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Opens a month database read-only, or returns undefined when it is not ready yet (the writer
 * creates the file and its schema in two steps).
 */
export function openMonthForRead(path: string, cacheKiB: number): Database.Database | undefined {
  if (!existsSync(path)) return undefined;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma(`cache_size = -${cacheKiB}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      db.close();
      return undefined;
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
