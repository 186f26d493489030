import { fork } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { meets, type BenchModule, type BenchOptions, type Row } from './types.js';

/**
 * The benchmark harness: `npm run bench [-- [--quick] [name ...]]`.
 *
 * Every `*.bench.js` module next to this file exports `name` and `run(opts): Promise<Row[]>`. Each
 * selected module runs in a child process of its own (so its peak RSS is its own); the harness
 * prints one table of every row and writes them as JSON to bench/results/<timestamp>.json.
 * A name selects the modules whose name starts with it (`cdr` runs `cdr-store`); a new module is
 * registered by being there (`changelog.bench.ts`: the change log beside plain SQLite inserts;
 * `replication.bench.ts`: a peer's catch-up over a WebSocket beside a local receive of the same entries;
 * `admission.bench.ts`: POST /api/v1/admission beside GET /healthz on the same server, and the pure counter;
 * `profile-overshoot.bench.ts`: the overshoot of one call limit shared by two sites beside the same load on one;
 * `replication-lag.bench.ts`: two real paired service processes, the lag at 1,000 and 5,000 events/s beside
 * the local ingestion path, and the failover time from kill -9 beside a plain restart).
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const RESULTS = join(REPO, 'bench', 'results');

interface ResultRow extends Row {
  benchmark: string;
  met?: boolean;
}

interface ChildMessage {
  rows?: Row[];
  error?: string;
}

function isBenchModule(m: unknown): m is BenchModule {
  const o = m as Partial<BenchModule> | null;
  return typeof o?.name === 'string' && typeof o.run === 'function';
}

async function loadModule(file: string): Promise<BenchModule> {
  const mod: unknown = await import(pathToFileURL(file).href);
  if (!isBenchModule(mod)) throw new Error(`${file} does not export name and run().`);
  return mod;
}

/** Child mode: run one module, send its rows to the parent. */
async function child(file: string, opts: BenchOptions): Promise<void> {
  const send = (msg: ChildMessage) => new Promise<void>((done) => (process.send ? process.send(msg, () => done()) : done()));
  try {
    const mod = await loadModule(file);
    const rows = await mod.run(opts);
    await send({ rows });
    process.exit(0);
  } catch (err) {
    await send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  }
}

function runChild(file: string, opts: BenchOptions): Promise<Row[]> {
  return new Promise((resolveRows, reject) => {
    const args = ['--child', file, ...(opts.quick ? ['--quick'] : [])];
    const proc = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let msg: ChildMessage | undefined;
    proc.on('message', (m: ChildMessage) => (msg = m));
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (msg?.rows) resolveRows(msg.rows);
      else reject(new Error(msg?.error ?? `the benchmark process ended (code ${code}, signal ${signal}) without results`));
    });
  });
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}

function table(rows: ResultRow[]): string {
  const head = ['benchmark', 'name', 'figure', 'unit', 'baseline', 'ratio', 'target', 'met?'];
  const body = rows.map((r) => [
    r.benchmark,
    r.name,
    fmt(r.figure),
    r.unit,
    r.baseline === undefined ? '' : `${fmt(r.baseline)}${r.baselineName ? ` (${r.baselineName})` : ''}`,
    r.ratio === undefined ? '' : `${fmt(r.ratio)}x`,
    r.target ? `${r.target.op} ${fmt(r.target.value)}` : '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 2 || i === 5 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const childAt = argv.indexOf('--child');
  if (childAt >= 0) {
    await child(argv[childAt + 1] as string, { quick });
    return 0;
  }
  const wanted = argv.filter((a) => !a.startsWith('--'));
  const files = readdirSync(HERE)
    .filter((f) => f.endsWith('.bench.js'))
    .sort()
    .map((f) => join(HERE, f));
  const selected: { file: string; name: string }[] = [];
  for (const file of files) {
    const { name } = await loadModule(file);
    if (wanted.length === 0 || wanted.some((w) => name.startsWith(w))) selected.push({ file, name });
  }
  if (selected.length === 0) {
    const names = await Promise.all(files.map(async (f) => (await loadModule(f)).name));
    console.error(`No benchmark matches ${wanted.join(', ')}. There are: ${names.join(', ') || 'none'}.`);
    return 2;
  }

  const results: ResultRow[] = [];
  let failed = false;
  for (const { file, name } of selected) {
    console.error(`\n== ${name}${quick ? ' (quick)' : ''}`);
    try {
      for (const row of await runChild(file, { quick })) {
        const ratio = row.ratio ?? (row.baseline ? row.figure / row.baseline : undefined);
        results.push({ benchmark: name, ...row, ...(ratio !== undefined ? { ratio } : {}), ...(row.target ? { met: meets(row.figure, row.target) } : {}) });
      }
    } catch (err) {
      failed = true;
      console.error(`${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  console.log(`\n${table(results)}`);
  mkdirSync(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(RESULTS, `${stamp}.json`);
  const meta = { at: new Date().toISOString(), host: hostname(), node: process.version, platform: `${process.platform}-${process.arch}`, quick, benchmarks: selected.map((s) => s.name) };
  writeFileSync(out, JSON.stringify({ ...meta, rows: results }, null, 2) + '\n');
  console.log(`\nresults: ${out}`);
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
