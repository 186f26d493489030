import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import type { CdrQuery } from '../../shared/api/cdr-query.js';
import { ValidationError } from '../../service/errors.js';
import { parseCdrExportQuery, parseCdrFilter, parseCdrQuery } from '../../service/storage/cdr/query.js';
import { CdrReader } from '../../service/storage/cdr/reader.js';
import { collectionDir, monthOf, numberOf } from '../../service/storage/cdr/schema.js';
import { CdrStore } from '../../service/storage/cdr/store.js';
import { mergeRecords } from '../../service/storage/cdr/winner.js';
import { exportStream } from '../../service/storage/cdr/export-format.js';
import { CdrFactory, makeCdrs } from '../support/cdr-factory.js';
import { tempDir } from '../support/service.js';
import { cdrReaderWorker } from '../support/ts-worker.js';

// ---------------------------------------------------------------------------------------------
// The brute force the store is compared with: the same CDRs filtered and sorted in memory.

const SORT_KEYS: Record<string, (c: Cdr) => number | string> = {
  startedAt: (c) => Date.parse(c.startedAt),
  duration: (c) => c.duration,
  billsec: (c) => c.billsec,
  from: (c) => numberOf(c.from),
  to: (c) => numberOf(c.to),
  domain: (c) => c.domain.toLowerCase().replace(/\.$/, ''),
};

const cmp = (a: number | string, b: number | string) => (a < b ? -1 : a > b ? 1 : 0);

function bruteForce(all: readonly Cdr[], q: CdrQuery, opts: { unpaged?: boolean } = {}): { items: Cdr[]; total: number } {
  const req = parseCdrQuery(q);
  const f = req.filter;
  const matches = all.filter((c) => {
    const t = Date.parse(c.startedAt);
    if (f.fromMs !== undefined && t < f.fromMs) return false;
    if (f.untilMs !== undefined && t >= f.untilMs) return false;
    if (f.domain !== undefined && c.domain.toLowerCase().replace(/\.$/, '') !== f.domain) return false;
    if (f.dispositions && !f.dispositions.includes(c.disposition)) return false;
    if (f.directions && (c.direction === null || !f.directions.includes(c.direction))) return false;
    if (f.number) {
      const v = f.number.value;
      const nums = [c.from, c.to, c.answeredBy].filter((p): p is string => p !== null).map(numberOf);
      if (!nums.some((n) => (f.number?.match === 'contains' ? n.includes(v) : n.startsWith(v)))) return false;
    }
    if (f.search !== undefined) {
      const term = f.search;
      if (![c.id, c.from, c.to, c.answeredBy ?? '', c.domain].some((s) => s.toLowerCase().includes(term))) return false;
    }
    return true;
  });
  const desc = req.sort.startsWith('-');
  const key = SORT_KEYS[desc ? req.sort.slice(1) : req.sort] as (c: Cdr) => number | string;
  matches.sort((a, b) => (desc ? -1 : 1) * (cmp(key(a), key(b)) || cmp(a.id, b.id)));
  return { items: opts.unpaged ? matches : matches.slice(req.offset, req.offset + req.limit), total: matches.length };
}

const ids = (cdrs: readonly Cdr[]) => cdrs.map((c) => c.id);

function validationDetails(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return ((err as ValidationError).details ?? []).map((d) => d.path);
  }
  throw new Error('expected a ValidationError');
}

async function rejectsWith(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return ((err as ValidationError).details ?? []).map((d) => d.path);
  }
  throw new Error('expected a ValidationError');
}

function rowsIn(dataDir: string, month: string): number {
  const db = new Database(join(collectionDir(dataDir), `${month}.sqlite`), { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM cdr').pluck().get() as number;
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------

describe('CdrStore: writing', () => {
  let dataDir: string;
  let store: CdrStore;

  beforeAll(() => {
    dataDir = tempDir('sitecall-cdr-');
    store = new CdrStore(dataDir);
  });
  afterAll(() => {
    store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('routes each CDR to the month of its startedAt (UTC), boundaries included', () => {
    const f = new CdrFactory({ seed: 3 });
    const batch = [
      f.next({ id: 'first-of-october', startedAt: '2026-10-01T00:00:00.000Z' }),
      f.next({ id: 'last-of-september', startedAt: '2026-09-30T23:59:59.999Z' }),
      f.next({ id: 'berlin-midnight', startedAt: '2026-10-31T23:30:00.000Z' }),
      f.next({ id: 'new-year', startedAt: '2027-01-01T00:00:00.000Z' }),
    ];
    expect(store.insert(batch)).toEqual(ids(batch));
    expect(store.months()).toEqual(['2026-09', '2026-10', '2027-01']);
    expect(rowsIn(dataDir, '2026-09')).toBe(1);
    expect(rowsIn(dataDir, '2026-10')).toBe(2);
    expect(store.get('last-of-september')).toEqual(batch[1]);
    expect(store.get('new-year')?.startedAt).toBe('2027-01-01T00:00:00.000Z');
    expect(monthOf(Date.parse('2026-10-31T23:30:00.000Z'))).toBe('2026-10');
  });

  it('keeps one record per id: a replay, a repeat in one batch and a second store on the same directory write nothing twice', () => {
    const batch = makeCdrs(300, { seed: 11 });
    expect(store.insert(batch)).toEqual(ids(batch));
    expect(store.insert(batch)).toEqual([]);

    const f = new CdrFactory({ seed: 12 });
    const a = f.next();
    const b = f.next();
    // of the versions of an id in one batch, the winner (winner.ts) is written, once
    const changed = { ...a, to: 'changed' };
    expect(store.insert([a, b, a, changed])).toEqual([a.id, b.id]);
    expect(store.get(a.id)).toEqual(mergeRecords(a, changed));
    expect(store.insert([a, changed])).toEqual([]);

    // Another store instance on the same directory, at the same time, with overlapping records.
    const other = new CdrStore(dataDir);
    try {
      const more = makeCdrs(20, { seed: 13 });
      expect(other.insert([...batch.slice(0, 50), ...more])).toEqual(ids(more));
      expect(store.insert(more)).toEqual([]);
      expect(store.has(more[0]?.id ?? '')).toBe(true);
    } finally {
      other.close();
    }
    const total = store.months().reduce((n, m) => n + rowsIn(dataDir, m), 0);
    expect(total).toBe(4 + 300 + 2 + 20);
  });

  it('moves a record to another month only when the version there replaces it', () => {
    const [c] = makeCdrs(1, { seed: 21 }) as [Cdr];
    const september = { ...c, startedAt: '2026-09-15T10:00:00.000Z', term: 2 };
    expect(store.insert([september])).toEqual([c.id]);
    // an older term's version of the same events: it loses, and the record stays where it is
    expect(store.insert([{ ...c, startedAt: '2026-11-15T10:00:00.000Z', term: 1 }])).toEqual([]);
    expect(store.get(c.id)).toEqual(september);
    // the record rebuilt from more events, its start moved: it replaces the old one, in its own month
    const rebuilt = { ...c, startedAt: '2026-11-15T10:00:00.000Z', term: 2, eventIds: [...c.eventIds, 'one-more'] };
    expect(store.insert([rebuilt])).toEqual([c.id]);
    expect(store.get(c.id)).toEqual(rebuilt);
    const rowsOfId = store.months().map((m) => {
      const db = new Database(join(collectionDir(dataDir), `${m}.sqlite`), { readonly: true });
      try {
        return db.prepare('SELECT count(*) FROM cdr WHERE id = ?').pluck().get(c.id) as number;
      } finally {
        db.close();
      }
    });
    expect(rowsOfId.reduce((x, y) => x + y, 0)).toBe(1);
  });

  it('repairs a missing index entry (a crash between the month write and the index write)', () => {
    const batch = makeCdrs(5, { seed: 31 });
    store.insert(batch);
    const victim = batch[2] as Cdr;
    const index = new Database(join(collectionDir(dataDir), 'index.sqlite'));
    index.prepare('DELETE FROM cdr_month WHERE id = ?').run(victim.id);
    expect(store.get(victim.id)).toBeUndefined();
    expect(store.has(victim.id)).toBe(false);

    // The replay writes no second row but restores the index entry.
    const month = monthOf(Date.parse(victim.startedAt));
    const before = rowsIn(dataDir, month);
    expect(store.insert(batch)).toEqual([]);
    expect(rowsIn(dataDir, month)).toBe(before);
    expect(store.get(victim.id)).toEqual(victim);

    // Or repairIndex() rebuilds what is missing from the month files.
    index.prepare('DELETE FROM cdr_month WHERE id IN (?, ?)').run((batch[0] as Cdr).id, (batch[4] as Cdr).id);
    index.close();
    expect(store.repairIndex()).toBe(2);
    expect(store.has((batch[0] as Cdr).id)).toBe(true);
    expect(store.repairIndex()).toBe(0);
  });

  it('refuses a CDR without a valid startedAt before writing anything', () => {
    const [good, bad] = makeCdrs(2, { seed: 41 }) as [Cdr, Cdr];
    expect(validationDetails(() => store.insert([good, { ...bad, startedAt: 'yesterday' }]))).toEqual(['/1/startedAt']);
    expect(store.has(good.id)).toBe(false);
  });

  it('answers get/has for unknown ids', () => {
    expect(store.get('no-such-call')).toBeUndefined();
    expect(store.has('no-such-call')).toBe(false);
  });
});

describe('CdrReader: queries and exports on a worker thread', () => {
  let dataDir: string;
  let store: CdrStore;
  let reader: CdrReader;
  let all: Cdr[];

  beforeAll(() => {
    dataDir = tempDir('sitecall-cdr-');
    store = new CdrStore(dataDir, { maxOpenMonths: 2 });
    all = makeCdrs(3000, { seed: 7 });
    // Out of time order, in several batches, like a replay.
    for (let i = 0; i < all.length; i += 400) store.insert(all.slice(i, i + 400));
    // Fewer open months than months, so the LRU works.
    reader = new CdrReader(dataDir, { ...cdrReaderWorker(), maxOpenMonths: 2 });
  });
  afterAll(async () => {
    await reader.close();
    store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('holds three months, each in its own file', () => {
    expect(store.months()).toEqual(['2026-09', '2026-10', '2026-11']);
    const perMonth = new Map<string, number>();
    for (const c of all) perMonth.set(monthOf(Date.parse(c.startedAt)), (perMonth.get(monthOf(Date.parse(c.startedAt))) ?? 0) + 1);
    for (const m of store.months()) expect(rowsIn(dataDir, m)).toBe(perMonth.get(m));
  });

  const filters: [string, CdrQuery][] = [
    ['no filter', {}],
    ['a time range over a month boundary', { from: '2026-09-20T12:00:00.000Z', until: '2026-10-10T00:00:00+02:00' }],
    ['from only', { from: '2026-11-03T00:00:00.000Z' }],
    ['until only', { until: '2026-09-02T00:00:00.000Z' }],
    ['a domain, in another case with a trailing dot', { domain: 'SALES.example.COM.' }],
    ['a domain that only a subdomain has (exact, no subdomains)', { domain: 'example.org' }],
    ['a number prefix', { number: '+4931' }],
    ['a number prefix given as a URI', { number: 'sip:Alice@elsewhere' }],
    ['an extension prefix', { number: '21' }],
    ['a number substring', { number: '4567', numberMatch: 'contains' }],
    ['a short number substring', { number: '99', numberMatch: 'contains' }],
    ['dispositions', { disposition: 'BUSY,NO_ANSWER' }],
    ['one disposition', { disposition: 'ANSWERED' }],
    ['directions', { direction: 'inbound,internal' }],
    ['a long search term, another case', { search: 'Beta.EXAMPLE' }],
    ['a search in ids', { search: 'call-7-12' }],
    ['a search in upper-case id parts', { search: 'ab' }],
    ['a one-character search', { search: 'z' }],
    ['a search with a quote and a space', { search: '"bob, ' }],
    ['a search with nothing to find', { search: 'no-such-thing-anywhere' }],
    [
      'everything at once',
      { from: '2026-09-10T00:00:00Z', until: '2026-11-20T00:00:00Z', domain: 'example.com', disposition: 'ANSWERED,CANCELLED', direction: 'outbound,inbound', number: '+49', search: 'sip:' },
    ],
  ];

  it.each(filters)('filters: %s (same rows, same order, same total as a brute force)', async (name, q) => {
    const expected = bruteForce(all, { ...q, limit: 1000 });
    const got = await reader.query({ ...q, limit: 1000 });
    expect(got.total).toBe(expected.total);
    expect(ids(got.items)).toEqual(ids(expected.items));
    // Every filter here selects something, except those that must select nothing.
    const empty = ['a search with nothing to find', 'a domain that only a subdomain has (exact, no subdomains)'];
    expect(expected.total > 0).toBe(!empty.includes(name));
  });

  it('gives the same answers when a search filters the scan of another index instead of driving the query', async () => {
    const filtering = new CdrReader(dataDir, { ...cdrReaderWorker(), ftsDriveMax: 0 });
    try {
      const searches = filters.filter(([, q]) => q.search !== undefined || q.numberMatch === 'contains').map(([, q]) => q);
      expect(searches.length).toBeGreaterThan(5);
      for (const q of searches) {
        for (const sort of ['-startedAt', 'to'] as const) {
          const expected = bruteForce(all, { ...q, sort, limit: 1000 });
          const got = await filtering.query({ ...q, sort, limit: 1000 });
          expect({ q, total: got.total, ids: ids(got.items) }).toEqual({ q, total: expected.total, ids: ids(expected.items) });
        }
      }
      const q = { search: 'example', disposition: 'ANSWERED' };
      const exported: Cdr[] = [];
      for await (const batch of filtering.export(parseCdrFilter(q), { sort: '-startedAt' })) exported.push(...batch);
      expect(ids(exported)).toEqual(ids(bruteForce(all, { ...q, sort: '-startedAt' }, { unpaged: true }).items));
    } finally {
      await filtering.close();
    }
  });

  const sorts = ['startedAt', '-startedAt', 'duration', '-duration', 'billsec', '-billsec', 'from', '-from', 'to', '-to', 'domain', '-domain'] as const;

  it.each(sorts)('sort %s: pages at offsets crossing months equal the brute force', async (sort) => {
    for (const q of [{ sort }, { sort, disposition: 'ANSWERED,BUSY' }, { sort, search: 'example' }] as CdrQuery[]) {
      const total = bruteForce(all, q).total;
      for (const [offset, limit] of [
        [0, 50],
        [49, 7],
        [950, 100],
        [999, 3],
        [1000, 50],
        [Math.floor(total / 2) - 1, 60],
        [total - 20, 50],
        [total, 10],
        [total + 5, 10],
      ] as [number, number][]) {
        const expected = bruteForce(all, { ...q, offset, limit });
        const got = await reader.query({ ...q, offset, limit });
        expect({ offset, limit, total: got.total, ids: ids(got.items) }).toEqual({ offset, limit, total: expected.total, ids: ids(expected.items) });
      }
    }
  });

  it.each(['-startedAt', 'domain', '-billsec'] as const)('paging through everything with sort %s never repeats or skips a row', async (sort) => {
    const seen: string[] = [];
    for (let offset = 0; ; offset += 137) {
      const page = await reader.query({ sort, offset, limit: 137 });
      if (page.items.length === 0) break;
      seen.push(...ids(page.items));
    }
    expect(seen).toEqual(ids(bruteForce(all, { sort }, { unpaged: true }).items));
    expect(new Set(seen).size).toBe(all.length);
  });

  it('ties on startedAt and on duration are broken by id', () => {
    const byStart = new Map<string, number>();
    for (const c of all) byStart.set(c.startedAt, (byStart.get(c.startedAt) ?? 0) + 1);
    expect([...byStart.values()].some((n) => n > 1)).toBe(true);
    const byDuration = new Map<number, number>();
    for (const c of all) byDuration.set(c.duration, (byDuration.get(c.duration) ?? 0) + 1);
    expect([...byDuration.values()].some((n) => n > 1)).toBe(true);
  });

  it('defaults to -startedAt, 50 rows, offset 0', async () => {
    const got = await reader.query({});
    expect(got.items).toHaveLength(50);
    expect(ids(got.items)).toEqual(ids(bruteForce(all, { sort: '-startedAt', limit: 50 }).items));
    expect(got.items[0]).toEqual(bruteForce(all, {}).items[0]);
  });

  it('coerces query-string numbers and refuses bad input with details', async () => {
    const got = await reader.query({ limit: '3', offset: '2' } as unknown as CdrQuery);
    expect(ids(got.items)).toEqual(ids(bruteForce(all, { limit: 3, offset: 2 }).items));

    expect(await rejectsWith(reader.query({ limit: 0 }))).toEqual(['/limit']);
    expect(await rejectsWith(reader.query({ limit: 5000 }))).toEqual(['/limit']);
    expect(await rejectsWith(reader.query({ offset: -1 }))).toEqual(['/offset']);
    expect(await rejectsWith(reader.query({ sort: 'answeredBy' } as unknown as CdrQuery))).toEqual(['/sort']);
    expect(await rejectsWith(reader.query({ from: 'yesterday' }))).toEqual(['/from']);
    expect(await rejectsWith(reader.query({ until: '2026-13-45T00:00:00Z' }))).toEqual(['/until']);
    expect(await rejectsWith(reader.query({ from: '2026-10-02T00:00:00Z', until: '2026-10-01T00:00:00Z' }))).toEqual(['/until']);
    expect(await rejectsWith(reader.query({ disposition: 'ANSWERED,HUNG' }))).toEqual(['/disposition']);
    expect(await rejectsWith(reader.query({ direction: 'sideways' }))).toEqual(['/direction']);
    expect(await rejectsWith(reader.query({ numberMatch: 'suffix' } as unknown as CdrQuery))).toEqual(['/numberMatch']);
    expect(await rejectsWith(reader.query({ search: 'a\u0000b' }))).toEqual(['/search']);
    expect(await rejectsWith(reader.query({ colour: 'red' } as unknown as CdrQuery))).toEqual(['/colour']);
    expect(validationDetails(() => parseCdrExportQuery({ format: 'xlsx' }))).toEqual(['/format']);
    expect(validationDetails(() => parseCdrExportQuery({ sort: 'duration' }))).toEqual(['/sort']);
    // The message names the problem.
    await expect(reader.query({ limit: 5000 })).rejects.toThrow(/\/limit must be <= 1000/);
  });

  it('exports every match in time order, in batches, both directions', async () => {
    for (const [q, sort] of [
      [{}, 'startedAt'],
      [{}, '-startedAt'],
      [{ domain: 'acme.test', disposition: 'ANSWERED' }, 'startedAt'],
      [{ search: 'sip:+4935', from: '2026-10-05T00:00:00Z' }, '-startedAt'],
    ] as const) {
      const expected = ids(bruteForce(all, { ...q, sort }, { unpaged: true }).items);
      const batches: Cdr[][] = [];
      for await (const batch of reader.export(parseCdrFilter(q), { sort, batchSize: 250 })) batches.push(batch);
      expect(batches.every((b) => b.length <= 250 && b.length > 0)).toBe(true);
      expect(batches.slice(0, -1).every((b) => b.length === 250)).toBe(true);
      expect(ids(batches.flat())).toEqual(expected);
    }
    expect(await reader.exportTo(parseCdrFilter({ domain: 'nowhere.example' }), () => undefined)).toBe(0);
  });

  it('waits for the consumer before sending the next batch (backpressure) and serves pages meanwhile', async () => {
    const it = reader.exportJson({}, { batchSize: 100 });
    const first = await it.next();
    expect(first.done).toBe(false);
    // While the export waits for us, queries still run on the same worker.
    const page = await reader.query({ sort: 'duration', limit: 5 });
    expect(ids(page.items)).toEqual(ids(bruteForce(all, { sort: 'duration', limit: 5 }).items));
    const second = await it.next();
    expect((second.value as string[]).length).toBe(100);
    await it.return(undefined);
  });

  it('cancels the cursor when the consumer stops early or aborts, releasing the read snapshot', async () => {
    const month = store.months()[0] as string;
    const path = join(collectionDir(dataDir), `${month}.sqlite`);
    const checkpoint = () => {
      const db = new Database(path, { timeout: 50 });
      try {
        return (db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]?.busy;
      } finally {
        db.close();
      }
    };
    // Write something so the WAL has frames past the export's snapshot.
    const bump = () => store.insert([new CdrFactory({ seed: 1000 + Math.floor(Math.random() * 1e6) }).next({ startedAt: '2026-09-10T10:00:00.000Z' })]);

    const it = reader.exportJson({}, { batchSize: 10 });
    await it.next();
    bump();
    expect(checkpoint()).toBe(1); // the export's cursor holds a snapshot of the month
    await it.return(undefined);
    await reader.query({ limit: 1 }); // the worker has handled the cancel before this answer
    bump();
    expect(checkpoint()).toBe(0);

    const controller = new AbortController();
    const aborted = reader.exportJson({}, { batchSize: 10, signal: controller.signal });
    await aborted.next();
    controller.abort(new Error('client went away'));
    await expect(aborted.next()).rejects.toThrow('client went away');
    await reader.query({ limit: 1 });
    bump();
    expect(checkpoint()).toBe(0);

    // Destroying the HTTP-side stream ends the export too.
    const stream = exportStream(reader.exportJson({}, { batchSize: 10 }), { format: 'ndjson' });
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    await reader.query({ limit: 1 });
    bump();
    expect(checkpoint()).toBe(0);
  });

  it('sees CDRs written after it started, and new months', async () => {
    const late = new CdrFactory({ seed: 99 }).next({ id: 'late-one', startedAt: '2027-02-14T09:00:00.000Z', domain: 'acme.test' });
    store.insert([late]);
    const got = await reader.query({ domain: 'acme.test', limit: 1 });
    expect(got.items[0]?.id).toBe('late-one');
    expect(store.get('late-one')).toEqual(late);
  });
});

describe('numbers as the filters see them', () => {
  it.each([
    ['sip:+4930123@x', '+4930123'],
    ['sips:+4930123@x;transport=tls', '+4930123'],
    ['+4930123', '+4930123'],
    ['tel:+4930123;phone-context=example.com', '+4930123'],
    ['"Bob, Sales" <sip:Bob@example.com>', 'bob'],
    ['SIP:201@acme.test', '201'],
    ['  0301234  ', '0301234'],
  ])('%s → %s', (party, number) => {
    expect(numberOf(party)).toBe(number);
  });
});
