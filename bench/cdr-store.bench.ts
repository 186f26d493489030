import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import type { Cdr } from '../shared/api/cdr.js';
import type { CdrQuery } from '../shared/api/cdr-query.js';
import { exportStream } from '../service/storage/cdr/export-format.js';
import { CdrReader } from '../service/storage/cdr/reader.js';
import { collectionDir, monthBounds, numberOf } from '../service/storage/cdr/schema.js';
import { CdrStore } from '../service/storage/cdr/store.js';
import { CdrFactory, DOMAINS, prng } from '../test/support/cdr-factory.js';
import { percentile, type BenchOptions, type Row } from './types.js';

export const name = 'cdr-store';
export const description =
  'CDR collection in SQLite: batched insert, filtered pages on the reader worker, streamed NDJSON export, peak RSS; baselines: raw NDJSON append, 50 rows read by rowid';

const SEED = 42;
const BATCH = 1000;
const SAMPLES = 200;
const MONTHS = ['2026-09', '2026-10', '2026-11'];

function log(msg: string): void {
  console.error(`[cdr-store] ${msg}`);
}

function* batches(n: number): Generator<Cdr[]> {
  const f = new CdrFactory({ seed: SEED, count: n, ordered: true, months: 3 });
  for (let i = 0; i < n; i += BATCH) yield f.many(Math.min(BATCH, n - i));
}

function memory(phase: string): void {
  const m = process.memoryUsage();
  log(`${phase}: RSS ${(m.rss / 1048576).toFixed(0)} MB (heap ${(m.heapUsed / 1048576).toFixed(0)} MB, external ${(m.external / 1048576).toFixed(0)} MB), peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

export async function run(opts: BenchOptions): Promise<Row[]> {
  const n = opts.quick ? 100_000 : 1_000_000;
  const work = mkdtempSync(join(process.env['BENCH_TMPDIR'] ?? tmpdir(), 'sitecall-bench-cdr-'));
  const rows: Row[] = [];
  try {
    // --- insert, and the baseline: the same documents appended raw as NDJSON ------------------
    const store = new CdrStore(work);
    let insertMs = 0;
    let written = 0;
    const probes: Cdr[] = [];
    const pickProbe = prng(7);
    for (const batch of batches(n)) {
      const t0 = performance.now();
      written += store.insert(batch).length;
      insertMs += performance.now() - t0;
      if (pickProbe() < 0.05) probes.push(batch[Math.floor(pickProbe() * batch.length)] as Cdr);
      if (written % 100_000 === 0) log(`inserted ${written.toLocaleString('en-US')}`);
    }
    if (written !== n) throw new Error(`inserted ${written} of ${n}`);
    const insertRate = n / (insertMs / 1000);
    log(`insert: ${Math.round(insertRate)} rows/s`);
    memory('after insert');

    const ndjsonPath = join(work, 'baseline.ndjson');
    const fd = openSync(ndjsonPath, 'a');
    let appendMs = 0;
    for (const batch of batches(n)) {
      const t0 = performance.now();
      let text = '';
      for (const c of batch) text += JSON.stringify(c) + '\n';
      writeSync(fd, text);
      appendMs += performance.now() - t0;
    }
    closeSync(fd);
    const appendRate = n / (appendMs / 1000);
    const ndjsonBytes = statSync(ndjsonPath).size;
    rmSync(ndjsonPath);
    log(`baseline append: ${Math.round(appendRate)} rows/s`);
    memory('after the NDJSON baseline');

    const dir = collectionDir(work);
    const storeBytes = dirBytes(dir);
    rows.push(
      { name: `insert ${n.toLocaleString('en-US')} CDRs over 3 months (batches of ${BATCH})`, figure: insertRate, unit: 'rows/s', baseline: appendRate, baselineName: 'raw NDJSON append' },
      { name: 'on disk (months + index, WAL included)', figure: storeBytes / n, unit: 'B/row', baseline: ndjsonBytes / n, baselineName: 'NDJSON' },
    );

    // --- pages on the reader worker --------------------------------------------------------------
    const reader = new CdrReader(work);
    const rand = prng(99);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const dispositions = ['ANSWERED', 'NO_ANSWER', 'BUSY,CANCELLED'];
    /** month + domain + disposition, the month's bounds jittered by a few seconds so every sample counts afresh (no count cache hit) */
    const filtered = (offset: number): CdrQuery => {
      const [start, end] = monthBounds(pick(MONTHS));
      return {
        from: new Date(start + Math.floor(rand() * 60_000)).toISOString(),
        until: new Date(end - Math.floor(rand() * 60_000)).toISOString(),
        domain: pick(DOMAINS),
        disposition: pick(dispositions),
        sort: '-startedAt',
        limit: 50,
        offset,
      };
    };
    /** a fragment of a stored number (6 digits), over all months */
    const search = (): CdrQuery => {
      const c = pick(probes);
      const num = numberOf(pick([c.from, c.to]));
      const at = Math.max(0, num.length - 6 - Math.floor(rand() * 3));
      return { search: num.slice(at, at + 6), sort: '-startedAt', limit: 50 };
    };
    const kinds: [string, () => CdrQuery][] = [
      ['month+domain+disposition, offset 0', () => filtered(0)],
      ['month+domain+disposition, offset 1000', () => filtered(1000)],
      ['month+domain+disposition, offset 10000', () => filtered(10_000)],
      ['search (6-char number fragment, all months)', search],
    ];
    for (const [, make] of kinds) for (let i = 0; i < 10; i++) await reader.query(make()); // warm-up
    const plan = await reader.explain('2026-10', filtered(1000));
    log(`plan of the filtered page: ${plan.join(' | ')}`);
    const all: number[] = [];
    let matched = 0;
    for (const [kind, make] of kinds) {
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const q = make();
        const [ms, page] = await timed(() => reader.query(q));
        samples.push(ms);
        matched += page.total;
      }
      all.push(...samples);
      rows.push({ name: `page p95: ${kind}`, figure: percentile(samples, 95), unit: 'ms', target: { op: '<', value: 50 } });
      log(`${kind}: p50 ${percentile(samples, 50).toFixed(2)} ms, p95 ${percentile(samples, 95).toFixed(2)} ms`);
    }
    if (matched === 0) throw new Error('no page query matched anything');
    memory('after the page queries');

    // Baseline: 50 rows read by rowid (and parsed), straight from a month on this thread.
    const db = new Database(join(dir, '2026-10.sqlite'), { readonly: true });
    const maxRid = db.prepare('SELECT max(rid) FROM cdr').pluck().get() as number;
    const byRid = db.prepare('SELECT doc FROM cdr WHERE rid IN (SELECT value FROM json_each(?))').pluck();
    const base: number[] = [];
    for (let i = 0; i < SAMPLES + 10; i++) {
      const first = 1 + Math.floor(rand() * (maxRid - 50));
      const rids = Array.from({ length: 50 }, (_, k) => first + k);
      const t0 = performance.now();
      (byRid.all(JSON.stringify(rids)) as string[]).map((d) => JSON.parse(d) as Cdr);
      if (i >= 10) base.push(performance.now() - t0);
    }
    db.close();
    const baseP95 = percentile(base, 95);
    rows.unshift({
      name: `CDR page p95 (all ${all.length} samples above)`,
      figure: percentile(all, 95),
      unit: 'ms',
      baseline: baseP95,
      baselineName: '50 rows by rowid',
      target: { op: '<', value: 50 },
    });

    // --- export: every CDR as NDJSON through the worker's cursor, into a sink ---------------------
    let bytes = 0;
    let lines = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
        done();
      },
    });
    const [exportMs] = await timed(() => pipeline(exportStream(reader.exportJson({}), { format: 'ndjson' }), sink));
    if (lines !== n) throw new Error(`the export gave ${lines} lines for ${n} CDRs`);
    const exportRate = n / (exportMs / 1000);
    log(`export: ${Math.round(exportRate)} rows/s, ${(bytes / 1e6).toFixed(0)} MB`);
    memory('after the export');
    rows.push({
      name: `export ${n.toLocaleString('en-US')} CDRs as NDJSON (worker cursor, backpressure)`,
      figure: exportRate,
      unit: 'rows/s',
      baseline: appendRate,
      baselineName: 'raw NDJSON append',
      target: { op: '>=', value: 50_000 },
    });

    await reader.close();
    store.close();
    const maxRssMB = process.resourceUsage().maxRSS / 1024;
    rows.push({ name: 'peak RSS of the benchmark process', figure: maxRssMB, unit: 'MB', target: { op: '<', value: 600 } });
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
