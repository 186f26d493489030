import type { Disposition } from '../../../shared/api/cdr.js';
import {
  CDR_QUERY_LIMITS,
  CdrExportQuery,
  CdrFilterQuery,
  CdrQuery,
  type CdrExportSort,
  type CdrFilter,
  type CdrPageRequest,
  type CdrSort,
} from '../../../shared/api/cdr-query.js';
import type { Direction } from '../../../shared/api/events.js';
import { normalizeDomain } from '../../config/domains.js';
import { ValidationError } from '../../errors.js';
import { validator } from '../../validation.js';
import { numberOf } from './schema.js';

const pageQuery = validator(CdrQuery, { coerce: true });
const filterQuery = validator(CdrFilterQuery, { coerce: true });
const exportQuery = validator(CdrExportQuery, { coerce: true });

/** Validates a `GET /api/v1/cdrs` query (throws ValidationError with `details` like `/limit`) and parses it. */
export function parseCdrQuery(raw: unknown): CdrPageRequest {
  const q = pageQuery.parse(copy(raw), 'The CDR query');
  return {
    filter: filterOf(q),
    sort: q.sort ?? '-startedAt',
    limit: q.limit ?? CDR_QUERY_LIMITS.defaultLimit,
    offset: q.offset ?? 0,
  };
}

/** Validates and parses the filter fields alone. */
export function parseCdrFilter(raw: unknown): CdrFilter {
  return filterOf(filterQuery.parse(copy(raw), 'The CDR filter'));
}

/** Validates a `GET /api/v1/cdrs/export` query; the time zone is checked by the CSV writer. */
export function parseCdrExportQuery(raw: unknown): { filter: CdrFilter; sort: CdrExportSort; format: 'csv' | 'ndjson'; tz: string } {
  const q = exportQuery.parse(copy(raw), 'The CDR export query');
  return { filter: filterOf(q), sort: q.sort ?? 'startedAt', format: q.format ?? 'ndjson', tz: q.tz ?? 'UTC' };
}

/** Coercion writes into the object it validates: never into the caller's. */
function copy(raw: unknown): unknown {
  return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { ...(raw as Record<string, unknown>) } : raw;
}

function filterOf(q: CdrFilterQuery): CdrFilter {
  const filter: CdrFilter = {};
  if (q.from !== undefined) filter.fromMs = instant(q.from, '/from');
  if (q.until !== undefined) filter.untilMs = instant(q.until, '/until');
  if (filter.fromMs !== undefined && filter.untilMs !== undefined && filter.untilMs <= filter.fromMs) {
    throw new ValidationError('The CDR query is invalid: /until must be after /from.', [{ path: '/until', message: 'must be after from' }]);
  }
  if (q.domain !== undefined) {
    const domain = normalizeDomain(q.domain);
    if (domain === '') throw new ValidationError('The CDR query is invalid: /domain is empty.', [{ path: '/domain', message: 'is empty' }]);
    filter.domain = domain;
  }
  if (q.number !== undefined) {
    const value = numberOf(q.number);
    if (value === '') throw new ValidationError('The CDR query is invalid: /number has no number in it.', [{ path: '/number', message: 'has no number in it' }]);
    filter.number = { value, match: q.numberMatch ?? 'prefix' };
  }
  if (q.disposition !== undefined) filter.dispositions = [...new Set(q.disposition.split(','))] as Disposition[];
  if (q.direction !== undefined) filter.directions = [...new Set(q.direction.split(','))] as Direction[];
  if (q.search !== undefined) {
    const search = q.search.toLowerCase();
    if (search.trim() !== '') filter.search = search;
  }
  return filter;
}

function instant(text: string, path: string): number {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) {
    throw new ValidationError(`The CDR query is invalid: ${path} is not a date-time.`, [{ path, message: 'must match format "date-time"' }]);
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------
// SQL

/** The column a sort key orders by, its direction, and whether it is the time order. */
export interface SortSpec {
  column: 'started_at' | 'duration' | 'billsec' | 'from_num' | 'to_num' | 'domain';
  desc: boolean;
  /** numbers compare as numbers, text by code point (SQLite BINARY) */
  numeric: boolean;
}

const SORT_COLUMNS: Record<string, SortSpec['column']> = {
  startedAt: 'started_at',
  duration: 'duration',
  billsec: 'billsec',
  from: 'from_num',
  to: 'to_num',
  domain: 'domain',
};

export function sortSpec(sort: CdrSort): SortSpec {
  const desc = sort.startsWith('-');
  const column = SORT_COLUMNS[desc ? sort.slice(1) : sort];
  if (!column) throw new ValidationError(`Unknown sort ${sort}.`, [{ path: '/sort', message: 'is not a known sort' }]);
  return { column, desc, numeric: column === 'started_at' || column === 'duration' || column === 'billsec' };
}

export function orderBy(spec: SortSpec): string {
  const dir = spec.desc ? 'DESC' : 'ASC';
  return `${spec.column} ${dir}, id ${dir}`;
}

export interface Where {
  sql: string;
  params: (string | number)[];
}

/** One code point past every Unicode scalar: `[p, p + MAX)` is every string that starts with p. */
const MAX_CHAR = String.fromCodePoint(0x10ffff);

/** FTS5 string literal: the whole term is one phrase, so the trigram tokenizer matches it as a substring. */
export function ftsPhrase(term: string): string {
  return `"${term.replaceAll('"', '""')}"`;
}

export function indexedSearch(term: string): boolean {
  return [...term].length >= CDR_QUERY_LIMITS.searchIndexedMinChars;
}

/**
 * How a trigram-index term takes part in a query: `true` drives it (the matches are looked up by
 * rowid: best when they are few), `false` makes it a filter on whatever index the rest of the
 * query uses (`+rid IN (...)`: best when they are many, the sort's index then stops early).
 */
export type FtsPlan = (term: string) => boolean;

const ftsTerm = (plan: FtsPlan, term: string) =>
  `${plan(term) ? '' : '+'}rid IN (SELECT rowid FROM cdr_fts WHERE cdr_fts MATCH ?)`;

/**
 * The WHERE clause of a filter within one month. Bounds that the month lies inside of are left out,
 * so a whole-month query uses the same plan as an unbounded one.
 */
export function whereOf(f: CdrFilter, month: [number, number], plan: FtsPlan = () => true): Where {
  const terms: string[] = [];
  const params: (string | number)[] = [];
  if (f.fromMs !== undefined && f.fromMs > month[0]) {
    terms.push('started_at >= ?');
    params.push(f.fromMs);
  }
  if (f.untilMs !== undefined && f.untilMs < month[1]) {
    terms.push('started_at < ?');
    params.push(f.untilMs);
  }
  if (f.domain !== undefined) {
    terms.push('domain = ?');
    params.push(f.domain);
  }
  if (f.dispositions !== undefined) {
    terms.push(`disposition IN (${f.dispositions.map(() => '?').join(', ')})`);
    params.push(...f.dispositions);
  }
  if (f.directions !== undefined) {
    terms.push(`direction IN (${f.directions.map(() => '?').join(', ')})`);
    params.push(...f.directions);
  }
  if (f.number !== undefined) {
    const v = f.number.value;
    if (f.number.match === 'prefix') {
      const hi = v + MAX_CHAR;
      terms.push('((from_num >= ? AND from_num < ?) OR (to_num >= ? AND to_num < ?) OR (answered_num >= ? AND answered_num < ?))');
      params.push(v, hi, v, hi, v, hi);
    } else {
      terms.push('(instr(from_num, ?) > 0 OR instr(to_num, ?) > 0 OR instr(answered_num, ?) > 0)');
      params.push(v, v, v);
      if (indexedSearch(v)) {
        // The numbers are part of the search text: the trigram index narrows, instr() decides.
        terms.push(ftsTerm(plan, v));
        params.push(ftsPhrase(v));
      }
    }
  }
  if (f.search !== undefined) {
    if (indexedSearch(f.search)) {
      terms.push(ftsTerm(plan, f.search));
      params.push(ftsPhrase(f.search));
    } else {
      terms.push('instr(search, ?) > 0');
      params.push(f.search);
    }
  }
  return { sql: terms.length ? `WHERE ${terms.join(' AND ')}` : '', params };
}

/** A stable text key of a filter (for the per-month count cache). */
export function filterKey(f: CdrFilter, month: [number, number]): string {
  const w = whereOf(f, month);
  return `${w.sql}\u0000${JSON.stringify(w.params)}`;
}

/**
 * The trigram-index term of a filter that is its only condition within the month (its count is
 * the index's own count), or undefined.
 */
export function soleSearchTerm(f: CdrFilter, month: [number, number]): string | undefined {
  if (f.search === undefined || !indexedSearch(f.search)) return undefined;
  const w = whereOf({ ...f, search: undefined }, month);
  return w.sql === '' ? f.search : undefined;
}

/** The months a filter can touch, from the ones present (ascending). */
export function monthsFor(f: CdrFilter, present: readonly string[], boundsOf: (m: string) => [number, number]): string[] {
  return present.filter((m) => {
    const [start, end] = boundsOf(m);
    if (f.fromMs !== undefined && end <= f.fromMs) return false;
    if (f.untilMs !== undefined && start >= f.untilMs) return false;
    return true;
  });
}

/** Compares two strings as SQLite's BINARY collation does (UTF-8 bytes = code points). */
export function compareBinary(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after every BMP character in code point order.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
