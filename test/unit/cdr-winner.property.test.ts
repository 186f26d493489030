/**
 * The record of a call id every store keeps (storage/cdr/winner.ts): the merge is the maximum of
 * a total order, so commutative, associative and idempotent; and the real CDR store (SQLite, in a
 * temp dir) reaches it through the incremental path production uses (insert in batches, in any
 * order, any number of times, a record moving between months when its start moves), so two
 * stores given the same versions hold the same records, one row per id, their full-text index
 * matching their rows.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import { collectionDir } from '../../service/storage/cdr/schema.js';
import { CdrStore } from '../../service/storage/cdr/store.js';
import { compareRecords, mergeRecords, supersedes } from '../../service/storage/cdr/winner.js';
import { CdrFactory } from '../support/cdr-factory.js';
import { tempDir } from '../support/service.js';

const base = new CdrFactory({ seed: 7 }).next({ id: 'x' });
const EVENTS = ['e1', 'e2', 'e3', 'e4', 'e5'];
// Few ids, events, terms and sites, so that versions collide often; two months, so that a record
// whose start moves changes files; bodies that differ in a searched field (from).
const recordArb = (ids: readonly string[]): fc.Arbitrary<Cdr> =>
  fc
    .record({
      id: fc.constantFrom(...ids),
      events: fc.subarray(EVENTS),
      term: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      site: fc.constantFrom('site-a', 'site-b'),
      month: fc.constantFrom('2026-09-30T23:59:59.000Z', '2026-10-01T00:00:00.000Z'),
      from: fc.constantFrom('sip:alice@example.com', 'sip:bob@example.com', 'sip:carol@example.com'),
      disposition: fc.constantFrom('ANSWERED' as const, 'NO_ANSWER' as const),
    })
    .map(({ id, events, term, site, month, from, disposition }) => {
      const cdr: Cdr = { ...base, id, eventIds: events, site, startedAt: month, from, disposition };
      delete cdr.term;
      return term === undefined ? cdr : { ...cdr, term };
    });
const anyRecord = recordArb(['c1']);

describe('the winner of a call id (pure)', () => {
  it('is a total order: antisymmetric, and zero only for the same record', () => {
    fc.assert(
      fc.property(anyRecord, anyRecord, (a, b) => {
        // `|| 0` folds -0 into 0: toBe compares with Object.is, and -Math.sign(0) is -0 (seed 444517403).
        expect(Math.sign(compareRecords(a, b))).toBe(-Math.sign(compareRecords(b, a)) || 0);
        if (compareRecords(a, b) === 0) expect(a).toEqual(b);
      }),
      { numRuns: 500 },
    );
  });

  it('merges commutatively, associatively and idempotently', () => {
    fc.assert(
      fc.property(anyRecord, anyRecord, anyRecord, (a, b, c) => {
        expect(mergeRecords(a, b)).toEqual(mergeRecords(b, a));
        expect(mergeRecords(mergeRecords(a, b), c)).toEqual(mergeRecords(a, mergeRecords(b, c)));
        expect(mergeRecords(a, a)).toEqual(a);
        expect(mergeRecords(mergeRecords(a, b), b)).toEqual(mergeRecords(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the record built from more events, then the later term', () => {
    const partial: Cdr = { ...base, eventIds: ['e1', 'e2', 'e3'], term: 5, site: 'site-b' };
    const union: Cdr = { ...base, eventIds: ['e1', 'e2', 'e3', 'e4'], term: 2, site: 'site-a' };
    expect(mergeRecords(partial, union)).toBe(union);
    const later: Cdr = { ...union, term: 3 };
    expect(mergeRecords(later, union)).toBe(later);
    const noTerm: Cdr = { ...union };
    delete noTerm.term;
    expect(supersedes(union, noTerm)).toBe(true);
    expect(supersedes(noTerm, noTerm)).toBe(false);
  });
});

// --- through the real store ---------------------------------------------------------------------

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every row of every month file (id → docs), and each month's full-text index checked against its rows. */
function rowsOf(dataDir: string): Map<string, Cdr[]> {
  const out = new Map<string, Cdr[]>();
  const dir = collectionDir(dataDir);
  for (const file of readdirSync(dir).filter((f) => /^\d{4}-\d{2}\.sqlite$/.test(f))) {
    const db = new Database(join(dir, file), { readonly: false });
    try {
      // throws when the index does not match the content table
      db.prepare("INSERT INTO cdr_fts (cdr_fts) VALUES ('integrity-check')").run();
      for (const r of db.prepare('SELECT id, doc FROM cdr').all() as { id: string; doc: string }[]) out.set(r.id, [...(out.get(r.id) ?? []), JSON.parse(r.doc) as Cdr]);
      // the search finds each row by its own text only
      for (const r of db.prepare('SELECT id, search FROM cdr').all() as { id: string; search: string }[]) {
        const from = r.search.split('\n')[1] as string;
        const hits = db.prepare('SELECT c.id FROM cdr_fts f JOIN cdr c ON c.rid = f.rowid WHERE cdr_fts MATCH ?').pluck().all(`"${from.replace(/"/g, '""')}"`) as string[];
        expect(hits).toContain(r.id);
      }
    } finally {
      db.close();
    }
  }
  return out;
}

/** Splits a list into batches at the given cut points. */
function batches<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const out: T[][] = [];
  let from = 0;
  for (const c of [...new Set(cuts.map((x) => x % (items.length + 1)))].sort((x, y) => x - y)) {
    if (c > from) out.push(items.slice(from, c));
    from = Math.max(from, c);
  }
  if (from < items.length) out.push(items.slice(from));
  return out;
}

describe('the CDR store keeps the winner of each id', () => {
  it('two stores given the same versions in any order, batching and repetition hold the same records: the winner of each id, one row each', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb(['c1', 'c2', 'c3']), { minLength: 1, maxLength: 14 }),
        fc.array(fc.double({ noNaN: true }), { minLength: 14, maxLength: 14 }),
        fc.array(fc.nat(15), { maxLength: 4 }),
        fc.array(fc.nat(15), { maxLength: 4 }),
        fc.nat(13),
        (versions, sortKeys, cutsA, cutsB, repeated) => {
          const shuffled = versions.map((v, i) => ({ v, k: sortKeys[i] as number })).sort((x, y) => x.k - y.k).map((x) => x.v);
          // the second store gets them shuffled, with one version given twice
          const second = [...shuffled, shuffled[repeated % shuffled.length] as Cdr];
          const expected = new Map<string, Cdr>();
          for (const v of versions) expected.set(v.id, expected.has(v.id) ? mergeRecords(expected.get(v.id) as Cdr, v) : v);
          const held: Map<string, Cdr[]>[] = [];
          for (const [input, cuts] of [
            [versions, cutsA],
            [second, cutsB],
          ] as const) {
            const dataDir = tempDir('cdr-winner');
            dirs.push(dataDir);
            const store = new CdrStore(dataDir);
            try {
              for (const batch of batches(input, cuts)) {
                const before = new Map([...new Set(batch.map((c) => c.id))].map((id) => [id, store.get(id)]));
                const written = store.insert(batch);
                // an id is written exactly when the batch's best version beats what was held
                for (const [id, was] of before) {
                  const best = batch.filter((c) => c.id === id).reduce((x, y) => mergeRecords(x, y));
                  expect(written.includes(id), id).toBe(was === undefined || supersedes(best, was));
                }
              }
              for (const [id, cdr] of expected) expect(store.get(id)).toEqual(cdr);
            } finally {
              store.close();
            }
            const rows = rowsOf(dataDir);
            for (const [id, cdr] of expected) expect(rows.get(id), id).toEqual([cdr]);
            expect([...rows.keys()].sort()).toEqual([...expected.keys()].sort());
            held.push(rows);
          }
          expect(held[0]).toEqual(held[1]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('finishes a move between months that a crash cut short', () => {
    const dataDir = tempDir('cdr-winner-move');
    dirs.push(dataDir);
    const first: Cdr = { ...base, id: 'm1', startedAt: '2026-09-30T23:59:59.000Z', eventIds: ['e1'] };
    const moved: Cdr = { ...first, startedAt: '2026-10-01T00:00:00.000Z', eventIds: ['e1', 'e2'] };
    let store = new CdrStore(dataDir);
    store.insert([first]);
    store.close();
    // the crash: the new month written, the old row removed, the index not moved yet
    const dir = collectionDir(dataDir);
    store = new CdrStore(dataDir);
    store.insert([{ ...moved, id: 'other' }]);
    store.close();
    const oct = new Database(join(dir, '2026-10.sqlite'));
    oct.prepare("UPDATE cdr SET id = 'm1', doc = ? WHERE id = 'other'").run(JSON.stringify(moved));
    oct.close();
    const sep = new Database(join(dir, '2026-09.sqlite'));
    const row = sep.prepare("SELECT rid, search FROM cdr WHERE id = 'm1'").get() as { rid: number; search: string };
    sep.prepare("INSERT INTO cdr_fts (cdr_fts, rowid, search) VALUES ('delete', ?, ?)").run(row.rid, row.search);
    sep.prepare("DELETE FROM cdr WHERE id = 'm1'").run();
    sep.close();
    const index = new Database(join(dir, 'index.sqlite'));
    index.prepare("DELETE FROM cdr_month WHERE id = 'other'").run();
    index.close();
    // the log replays the record: the store finds it in its new month and moves the index there
    store = new CdrStore(dataDir);
    store.insert([moved]);
    expect(store.get('m1')).toEqual(moved);
    store.close();
    const idx = new Database(join(dir, 'index.sqlite'), { readonly: true });
    expect(idx.prepare("SELECT month FROM cdr_month WHERE id = 'm1'").pluck().get()).toBe('2026-10');
    idx.close();
  });
});
