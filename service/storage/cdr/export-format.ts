import { Readable } from 'node:stream';
import type { Cdr } from '../../../shared/api/cdr.js';
import type { CdrExportFormat } from '../../../shared/api/cdr-query.js';
import { ValidationError } from '../../errors.js';

/**
 * Writers of the CDR export (`GET /api/v1/cdrs/export?format=csv|ndjson`):
 * - NDJSON: one Cdr per line, exactly as stored (`JSON.stringify`), `\n` after each.
 * - CSV (RFC 4180): a header row, CRLF line ends, fields with `"` `,` CR or LF quoted with `""`
 *   inside; times in the caller's IANA zone as `YYYY-MM-DD HH:mm:ss.SSS +hh:mm`; text cells that a
 *   spreadsheet would run as a formula (starting with = + - @, tab or CR) get a leading apostrophe.
 *   Numeric columns are written as numbers and never prefixed (a negative number stays a number);
 *   legs, forks and holds are counts (the NDJSON export has them in full).
 */

export const CSV_COLUMNS = [
  'id',
  'startedAt',
  'ringingAt',
  'answeredAt',
  'endedAt',
  'domain',
  'direction',
  'from',
  'to',
  'answeredBy',
  'disposition',
  'duration',
  'billsec',
  'ringSec',
  'holdSec',
  'hangupBy',
  'hangupCode',
  'hangupReason',
  'endReason',
  'synthesized',
  'legs',
  'forks',
  'holds',
] as const;
export type CsvColumn = (typeof CSV_COLUMNS)[number];

export const CONTENT_TYPES: Record<CdrExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** Returns the zone if Intl knows it, else throws ValidationError at `/tz`. */
export function checkTimeZone(tz: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    throw new ValidationError(`Unknown time zone "${tz}": give an IANA zone such as Europe/Berlin or UTC.`, [
      { path: '/tz', message: 'is not a known IANA time zone' },
    ]);
  }
}

const QUARTER_HOUR = 15 * 60_000;

/**
 * Renders instants in one zone. The zone's offset is looked up once per quarter hour of UTC (every
 * offset change of the tz database since 1970 falls on one) and cached, so a large export does
 * not call Intl per cell.
 */
export class ZoneClock {
  readonly tz: string;
  private readonly fmt: Intl.DateTimeFormat;
  private readonly offsets = new Map<number, number>();

  constructor(tz: string) {
    this.tz = checkTimeZone(tz);
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: this.tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** Minutes east of UTC at this instant. */
  offsetMinutes(ms: number): number {
    const bucket = Math.floor(ms / QUARTER_HOUR);
    let off = this.offsets.get(bucket);
    if (off === undefined) {
      const at = bucket * QUARTER_HOUR;
      const p: Record<string, number> = {};
      for (const part of this.fmt.formatToParts(at)) if (part.type !== 'literal') p[part.type] = Number(part.value);
      const wall = Date.UTC(p['year'] ?? 1970, (p['month'] ?? 1) - 1, p['day'] ?? 1, p['hour'] ?? 0, p['minute'] ?? 0, p['second'] ?? 0);
      off = Math.round((wall - at) / 60_000);
      if (this.offsets.size > 50_000) this.offsets.clear();
      this.offsets.set(bucket, off);
    }
    return off;
  }

  /** `2026-11-22 11:00:01.250 +01:00` */
  format(ms: number): string {
    const off = this.offsetMinutes(ms);
    const d = new Date(ms + off * 60_000);
    const sign = off < 0 ? '-' : '+';
    const abs = Math.abs(off);
    return (
      `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ` +
      `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)} ` +
      `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`
    );
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** RFC 4180 field: quoted when it holds a quote, a comma or a line break. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** A text cell: neutralized against formula injection, then quoted as needed. */
export function csvText(v: string | null | undefined): string {
  if (v === null || v === undefined || v === '') return '';
  return csvField(FORMULA_START.test(v) ? `'${v}` : v);
}

/** A numeric cell: written as the number it is (`-3` stays `-3`). */
export function csvNumber(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '' : String(v);
}

/** CSV rows of CDRs with times in one zone. */
export class CsvWriter {
  readonly clock: ZoneClock;

  constructor(opts: { tz?: string } = {}) {
    this.clock = new ZoneClock(opts.tz ?? 'UTC');
  }

  header(): string {
    return CSV_COLUMNS.join(',') + '\r\n';
  }

  row(c: Cdr): string {
    const cells = [
      csvText(c.id),
      this.time(c.startedAt),
      this.time(c.ringingAt),
      this.time(c.answeredAt),
      this.time(c.endedAt),
      csvText(c.domain),
      csvText(c.direction),
      csvText(c.from),
      csvText(c.to),
      csvText(c.answeredBy),
      csvText(c.disposition),
      csvNumber(c.duration),
      csvNumber(c.billsec),
      csvNumber(c.ringSec),
      csvNumber(c.holdSec),
      csvText(c.hangup.by),
      csvNumber(c.hangup.code),
      csvText(c.hangup.reason),
      csvText(c.endReason),
      c.synthesized ? 'true' : 'false',
      csvNumber(c.legs.length),
      csvNumber(c.forks.length),
      csvNumber(c.holds.length),
    ];
    return cells.join(',') + '\r\n';
  }

  rows(cdrs: readonly Cdr[]): string {
    let out = '';
    for (const c of cdrs) out += this.row(c);
    return out;
  }

  private time(iso: string | null): string {
    if (iso === null) return '';
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? this.clock.format(ms) : csvText(iso);
  }
}

/** NDJSON of stored documents (CdrReader.exportJson batches). */
export function ndjsonOfDocs(docs: readonly string[]): string {
  return docs.length ? docs.join('\n') + '\n' : '';
}

/** NDJSON of CDRs. */
export function ndjsonOf(cdrs: readonly Cdr[]): string {
  let out = '';
  for (const c of cdrs) out += JSON.stringify(c) + '\n';
  return out;
}

export interface ExportStreamOptions {
  format: CdrExportFormat;
  /** IANA zone of the CSV times; default UTC */
  tz?: string;
}

/**
 * The export's text, chunk by chunk, from batches of stored documents (CdrReader.exportJson).
 * Throws ValidationError for an unknown zone before anything is produced.
 */
export function exportChunks(batches: AsyncIterable<string[]>, opts: ExportStreamOptions): AsyncGenerator<string, void, undefined> {
  const csv = opts.format === 'csv' ? new CsvWriter({ tz: opts.tz ?? 'UTC' }) : undefined;
  return (async function* () {
    if (csv) yield csv.header();
    for await (const docs of batches) {
      if (csv) yield csv.rows(docs.map((d) => JSON.parse(d) as Cdr));
      else if (docs.length) yield ndjsonOfDocs(docs);
    }
  })();
}

/**
 * A byte stream of the export for `pipeline(stream, res)`. It pulls a batch only when the stream
 * wants more (backpressure); destroying it (the client went away) returns the batch iterator,
 * which cancels the worker's cursor.
 */
export function exportStream(batches: AsyncIterable<string[]>, opts: ExportStreamOptions): Readable {
  return Readable.from(exportChunks(batches, opts), { objectMode: false, highWaterMark: 256 * 1024 });
}
