import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import { ValidationError } from '../../service/errors.js';
import {
  CSV_COLUMNS,
  CsvWriter,
  ZoneClock,
  checkTimeZone,
  csvField,
  exportChunks,
  exportStream,
  ndjsonOf,
  ndjsonOfDocs,
} from '../../service/storage/cdr/export-format.js';
import { CdrFactory, makeCdrs } from '../support/cdr-factory.js';

/** A small RFC 4180 reader: rows of cells, CRLF line ends, "" inside quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  expect(cell).toBe('');
  expect(row).toEqual([]);
  return rows;
}

function csvOf(cdrs: Cdr[], tz = 'UTC'): Record<string, string>[] {
  const w = new CsvWriter({ tz });
  const [header, ...rows] = parseCsv(w.header() + w.rows(cdrs));
  expect(header).toEqual([...CSV_COLUMNS]);
  return rows.map((cells) => Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, cells[i] as string])));
}

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

describe('time zones', () => {
  it('refuses an unknown zone with /tz', () => {
    expect(() => checkTimeZone('Mars/Olympus_Mons')).toThrow(ValidationError);
    try {
      new CsvWriter({ tz: 'Europe/Berlinn' });
    } catch (err) {
      expect((err as ValidationError).details).toEqual([{ path: '/tz', message: 'is not a known IANA time zone' }]);
    }
    expect(() => new CsvWriter({ tz: 'Europe/Berlinn' })).toThrow(/Unknown time zone "Europe\/Berlinn"/);
    expect(checkTimeZone('utc')).toBe('UTC');
  });

  it.each([
    ['2026-11-22T10:00:01.250Z', 'Europe/Berlin', '2026-11-22 11:00:01.250 +01:00'],
    ['2026-07-01T10:00:00.000Z', 'Europe/Berlin', '2026-07-01 12:00:00.000 +02:00'],
    ['2026-03-29T00:59:59.999Z', 'Europe/Berlin', '2026-03-29 01:59:59.999 +01:00'],
    ['2026-03-29T01:00:00.000Z', 'Europe/Berlin', '2026-03-29 03:00:00.000 +02:00'],
    ['2026-10-25T00:59:59.999Z', 'Europe/Berlin', '2026-10-25 02:59:59.999 +02:00'],
    ['2026-10-25T01:00:00.000Z', 'Europe/Berlin', '2026-10-25 02:00:00.000 +01:00'],
    ['2026-11-22T10:00:01.250Z', 'UTC', '2026-11-22 10:00:01.250 +00:00'],
    ['2026-11-22T23:30:00.000Z', 'Asia/Kathmandu', '2026-11-23 05:15:00.000 +05:45'],
    ['2026-11-22T03:00:00.000Z', 'America/St_Johns', '2026-11-21 23:30:00.000 -03:30'],
    ['2026-12-31T23:59:59.999Z', 'America/Los_Angeles', '2026-12-31 15:59:59.999 -08:00'],
  ])('%s in %s is %s', (iso, tz, text) => {
    expect(new ZoneClock(tz).format(Date.parse(iso))).toBe(text);
  });

  it('agrees with Intl at any instant (cached quarter-hour offsets)', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham'];
    const clocks = new Map(zones.map((z) => [z, new ZoneClock(z)]));
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2040, 0, 1) }), fc.constantFrom(...zones), (ms, tz) => {
        const parts = Object.fromEntries(
          new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
            .formatToParts(ms)
            .map((p) => [p.type, p.value]),
        );
        const wall = `${parts['year']}-${parts['month']}-${parts['day']} ${parts['hour']}:${parts['minute']}:${parts['second']}.${String(ms % 1000).padStart(3, '0')}`;
        expect(clocks.get(tz)?.format(ms).slice(0, 23)).toBe(wall);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('CSV', () => {
  it('has a header row, one row per CDR, CRLF line ends and the fixed columns', () => {
    const cdrs = makeCdrs(20, { seed: 5 });
    const w = new CsvWriter();
    const text = w.header() + w.rows(cdrs);
    expect(text.startsWith('id,startedAt,ringingAt,answeredAt,endedAt,domain,direction,from,to,answeredBy,disposition,duration,billsec,ringSec,holdSec,hangupBy,hangupCode,hangupReason,endReason,synthesized,legs,forks,holds\r\n')).toBe(true);
    const rows = csvOf(cdrs);
    expect(rows).toHaveLength(20);
    rows.forEach((r, i) => {
      const c = cdrs[i] as Cdr;
      expect(r['id']).toBe(c.id);
      expect(r['domain']).toBe(c.domain);
      expect(r['disposition']).toBe(c.disposition);
      expect(Number(r['duration'])).toBe(c.duration);
      expect(Number(r['billsec'])).toBe(c.billsec);
      expect(r['legs']).toBe(String(c.legs.length));
      expect(r['answeredAt']).toBe(c.answeredAt === null ? '' : c.answeredAt.replace('T', ' ').replace('Z', ' +00:00'));
      expect(r['synthesized']).toBe(String(c.synthesized));
    });
  });

  it('renders times in the given zone', () => {
    const c = new CdrFactory({ seed: 1 }).next({ startedAt: '2026-11-22T10:00:01.250Z', ringingAt: null, answeredAt: '2026-07-01T10:00:00.000Z', endedAt: '2026-11-22T10:05:00.000Z' });
    const [row] = csvOf([c], 'Europe/Berlin');
    expect(row?.['startedAt']).toBe('2026-11-22 11:00:01.250 +01:00');
    expect(row?.['ringingAt']).toBe('');
    expect(row?.['answeredAt']).toBe('2026-07-01 12:00:00.000 +02:00');
    expect(row?.['endedAt']).toBe('2026-11-22 11:05:00.000 +01:00');
  });

  it('quotes commas, quotes and line breaks (RFC 4180) and reads back unchanged', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\r\nlines')).toBe('"two\r\nlines"');
    const c = new CdrFactory({ seed: 2 }).next({
      from: '"Bob, Sales" <sip:bob@example.com>',
      to: 'line1\nline2',
      hangup: { by: 'callee', code: 486, reason: 'Busy "Here", really\r\n' },
    });
    const [row] = csvOf([c]);
    expect(row?.['from']).toBe('"Bob, Sales" <sip:bob@example.com>');
    expect(row?.['to']).toBe('line1\nline2');
    expect(row?.['hangupReason']).toBe('Busy "Here", really\r\n');
    expect(row?.['hangupCode']).toBe('486');
  });

  it('neutralizes formulas in text cells but leaves numbers alone', () => {
    const c = new CdrFactory({ seed: 3 }).next({
      id: '=HYPERLINK("http://evil","x")',
      from: '+4930123456',
      to: '-1+2',
      answeredBy: '@SUM(A1)',
      domain: 'example.com',
      duration: -3,
      billsec: 0,
      holdSec: -0.5,
      hangup: { by: null, code: null, reason: '\tcmd' },
    });
    const [row] = csvOf([c]);
    expect(row?.['id']).toBe(`'=HYPERLINK("http://evil","x")`);
    expect(row?.['from']).toBe(`'+4930123456`);
    expect(row?.['to']).toBe(`'-1+2`);
    expect(row?.['answeredBy']).toBe(`'@SUM(A1)`);
    expect(row?.['hangupReason']).toBe(`'\tcmd`);
    expect(row?.['domain']).toBe('example.com');
    expect(row?.['duration']).toBe('-3');
    expect(row?.['holdSec']).toBe('-0.5');
    expect(row?.['hangupBy']).toBe('');
    expect(row?.['hangupCode']).toBe('');
  });
});

describe('NDJSON and the export stream', () => {
  it('writes one CDR per line', () => {
    const cdrs = makeCdrs(5, { seed: 9 });
    const lines = ndjsonOf(cdrs).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as Cdr)).toEqual(cdrs);
    expect(ndjsonOfDocs(cdrs.map((c) => JSON.stringify(c)))).toBe(ndjsonOf(cdrs));
    expect(ndjsonOfDocs([])).toBe('');
  });

  async function* batchesOf(cdrs: Cdr[], size: number, log: string[]): AsyncGenerator<string[]> {
    try {
      for (let i = 0; i < cdrs.length; i += size) {
        log.push(`batch ${i / size}`);
        yield cdrs.slice(i, i + size).map((c) => JSON.stringify(c));
      }
      log.push('end');
    } finally {
      log.push('closed');
    }
  }

  it('streams NDJSON and CSV from batches of stored documents', async () => {
    const cdrs = makeCdrs(25, { seed: 10 });
    const log: string[] = [];
    expect(await collect(exportStream(batchesOf(cdrs, 10, log), { format: 'ndjson' }))).toBe(ndjsonOf(cdrs));
    expect(log).toEqual(['batch 0', 'batch 1', 'batch 2', 'end', 'closed']);
    const csv = await collect(exportStream(batchesOf(cdrs, 10, []), { format: 'csv', tz: 'Europe/Berlin' }));
    expect(parseCsv(csv)).toHaveLength(26);
    // An empty export is an empty NDJSON file, or a CSV header.
    expect(await collect(exportStream(batchesOf([], 10, []), { format: 'ndjson' }))).toBe('');
    expect(await collect(exportStream(batchesOf([], 10, []), { format: 'csv' }))).toBe(new CsvWriter().header());
  });

  it('refuses an unknown zone before it reads anything', () => {
    const log: string[] = [];
    expect(() => exportChunks(batchesOf(makeCdrs(3), 1, log), { format: 'csv', tz: 'Nowhere/Atlantis' })).toThrow(ValidationError);
    expect(log).toEqual([]);
  });

  it('stops pulling batches when the stream is destroyed (the client went away)', async () => {
    const log: string[] = [];
    const stream = exportStream(batchesOf(makeCdrs(2000, { seed: 4 }), 10, log), { format: 'ndjson' });
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.pause();
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.at(-1)).toBe('closed');
    expect(log).not.toContain('end');
    // Backpressure: only what the stream's buffer wanted was pulled, far from all 200 batches.
    expect(log.filter((l) => l.startsWith('batch')).length).toBeLessThan(60);
  });
});
