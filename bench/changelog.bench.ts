import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CoreEvent } from '../service/callstore/core/call.js';
import { dialogsOf } from '../service/callstore/journal.js';
import { CDR_ENTRY_KIND } from '../service/callstore/record-writer.js';
import { ChangeFeed } from '../service/storage/changes.js';
import { encodeHlc } from '../service/storage/changelog/core/hlc.js';
import { policyOf } from '../service/storage/changelog/kinds.js';
import { ChangeLog, type NewChange } from '../service/storage/changelog/log.js';
import { DocumentStore } from '../service/storage/documents.js';
import { EventJournal } from '../service/storage/journal.js';
import { CallScript, toCore } from '../test/support/call-events.js';
import { makeCdrs, prng } from '../test/support/cdr-factory.js';
import type { BenchOptions, Row } from './types.js';

export const name = 'changelog';
export const description =
  'The change log (SQLite, WAL, fsync): appends/s one per transaction and 1,000 per transaction, disk bytes per million config-like changes, per million raw call events (through the journal, its index included) and per million CDRs, start time to rebuild a nedb collection from the log; baselines: plain SQLite inserts of the same rows in the same transactions, the same rows in a plain table, a nedb load of the same documents';

const BATCH = 1000;
const REBUILD_DOCS = 10_000;

function log(msg: string): void {
  console.error(`[changelog] ${msg}`);
}

/**
 * Config-like changes as the appliance makes them: API tokens created, used and revoked, users'
 * passwords changed, the role configuration saved. Bodies of about 200 bytes.
 */
export function* changes(n: number, seed = 16): Generator<NewChange> {
  const random = prng(seed);
  const hex = () => Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0');
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  for (let i = 0; i < n; i++) {
    const dice = random();
    if (dice < 0.55) {
      const id = `tok-${Math.floor(random() * 2000)}`;
      yield random() < 0.1
        ? { kind: 'tokens', key: id, body: null }
        : { kind: 'tokens', key: id, body: { _id: id, name: `integration ${i % 97}`, scopes: ['read', 'events'], secretHash: hex() + hex() + hex() + hex() + hex() + hex() + hex() + hex(), createdAt: at(i - 500), lastUsedAt: at(i) } };
    } else if (dice < 0.85) {
      const id = `user${Math.floor(random() * 200)}`;
      yield { kind: 'users', key: id, body: { _id: id, passwordHash: `scrypt$${hex()}${hex()}$${hex()}${hex()}${hex()}${hex()}${hex()}${hex()}`, scopes: ['read'], createdAt: at(0), passwordChangedAt: at(i) } };
    } else {
      yield { kind: 'config', key: 'roles', body: { _id: 'roles', revision: i, instances: [{ name: 'callstore1', roletype: 'callstore', group: 1, order: 1 }], updatedAt: at(i) } };
    }
  }
}

function batchesOf<T>(items: Iterable<T>, size: number): Generator<T[]> {
  return (function* () {
    let batch: T[] = [];
    for (const item of items) {
      batch.push(item);
      if (batch.length === size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  })();
}

/** The baseline: the same rows (origin, seq, hlc, kind, key, body) into a plain table of the same shape, no merge, no clock. */
function plainTable(file: string): { db: Database.Database; insert: (rows: { seq: number; hlc: string; c: NewChange }[]) => void } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE entries (origin INTEGER NOT NULL, seq INTEGER NOT NULL, hlc TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT, PRIMARY KEY (origin, seq)) WITHOUT ROWID');
  const stmt = db.prepare('INSERT INTO entries (origin, seq, hlc, kind, key, body) VALUES (1, ?, ?, ?, ?, ?)');
  const insert = db.transaction((rows: { seq: number; hlc: string; c: NewChange }[]) => {
    for (const r of rows) stmt.run(r.seq, r.hlc, r.c.kind, r.c.key, r.c.body === null ? null : JSON.stringify(r.c.body));
  });
  return { db, insert };
}

function fileBytes(file: string): number {
  let total = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      total += statSync(f).size;
    } catch {
      // no WAL after a truncating checkpoint
    }
  }
  return total;
}

/**
 * Raw call events as sources send them: SIP Call-IDs of ~40 characters, about two thirds of the
 * calls answered (some with a hold), the rest busy, unanswered or cancelled, 4.3 events a call.
 */
export function* callEvents(n: number, seed = 17): Generator<CoreEvent> {
  const random = prng(seed);
  const hex = (len: number) => Array.from({ length: len }, () => Math.floor(random() * 16).toString(16)).join('');
  let made = 0;
  for (let c = 0; made < n; c++) {
    const script = new CallScript(`pbx${c % 3}`, Date.UTC(2026, 0, 1) + c * 200, 'office.example');
    const id = `${hex(24)}@10.0.${c % 250}.${(c >> 8) % 250}`;
    const from = String(100 + Math.floor(random() * 800));
    const to = random() < 0.3 ? `+4930${hex(7).replace(/[a-f]/g, '5')}` : String(100 + Math.floor(random() * 800));
    script.invite(0, id, from, to, { direction: random() < 0.5 ? 'inbound' : 'internal' }).ring(120, id, `tt-${hex(8)}`);
    const fate = random();
    if (fate < 0.66) {
      script.answer(4000, id, script.events[1]?.toTag ?? 'tt1');
      if (random() < 0.15) script.hold(20_000, id).resume(30_000, id);
      script.end(90_000, id, random() < 0.5 ? 'caller' : 'callee');
    } else if (fate < 0.8) script.fail(20_000, id, 486);
    else if (fate < 0.9) script.fail(30_000, id, 480);
    else script.cancel(8000, id);
    for (const e of script.events) {
      if (made++ === n) return;
      yield toCore({ ...e, id: `${e.source}-${c}-${e.seq}` });
    }
  }
}

/** Bytes per table and index of a SQLite file (dbstat), largest first. */
function bytesByTable(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC').all() as { name: string; bytes: number }[];
    return Object.fromEntries(rows.map((r) => [r.name, r.bytes]));
  } finally {
    db.close();
  }
}

/** The log's entries copied as they are into a plain table of the same shape and page size: the baseline of a disk figure. */
function plainCopy(logFile: string, plainFile: string): number {
  const source = new Database(logFile, { readonly: true });
  const pageSize = source.pragma('page_size', { simple: true }) as number;
  source.close();
  const plain = new Database(plainFile);
  plain.pragma(`page_size = ${pageSize}`);
  plain.pragma('journal_mode = WAL');
  plain.exec('CREATE TABLE entries (origin INTEGER NOT NULL, seq INTEGER NOT NULL, hlc TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT, PRIMARY KEY (origin, seq)) WITHOUT ROWID');
  plain.exec(`ATTACH DATABASE '${logFile.replace(/'/g, "''")}' AS log`);
  plain.exec('INSERT INTO entries SELECT origin, seq, hlc, kind, key, body FROM log.entries ORDER BY origin, seq');
  plain.exec('DETACH DATABASE log');
  plain.close();
  checkpoint(plainFile);
  return fileBytes(plainFile);
}

const MB_PER_MILLION = (bytes: number, count: number) => ((bytes / count) * 1e6) / 1048576;

function checkpoint(file: string): void {
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

export async function run(opts: BenchOptions): Promise<Row[]> {
  const perCommit = opts.quick ? 300 : 3000;
  const batched = opts.quick ? 50_000 : 1_000_000;
  const work = mkdtempSync(join(process.env['BENCH_TMPDIR'] ?? tmpdir(), 'sitecall-bench-changelog-'));
  const rows: Row[] = [];
  try {
    // --- one change per transaction (a configuration save, a token revoke) ---------------------
    {
      const file = join(work, 'per-commit.sqlite');
      const cl = ChangeLog.open(file, { origin: 'site-bench', policyOf });
      const items = [...changes(perCommit, 1)];
      let t0 = performance.now();
      for (const c of items) cl.append(c);
      const logRate = perCommit / ((performance.now() - t0) / 1000);
      await cl.close();
      const plain = plainTable(join(work, 'per-commit-plain.sqlite'));
      const hlc0 = Date.now();
      t0 = performance.now();
      items.forEach((c, i) => plain.insert([{ seq: i + 1, hlc: encodeHlc({ wall: hlc0 + i, counter: 0 }), c }]));
      const plainRate = perCommit / ((performance.now() - t0) / 1000);
      plain.db.close();
      log(`one per transaction: log ${Math.round(logRate)}/s, plain ${Math.round(plainRate)}/s`);
      rows.push({ name: `log appends/s, one per transaction, fsync (${perCommit.toLocaleString('en-US')})`, figure: logRate, unit: 'appends/s', baseline: plainRate, baselineName: 'plain insert of the same row, one per transaction' });
    }

    // --- batched: 1,000 changes per transaction (the joined path of high-volume records) ---------
    const logFile = join(work, 'batched.sqlite');
    {
      const cl = ChangeLog.open(logFile, { origin: 'site-bench', policyOf });
      let ms = 0;
      let done = 0;
      for (const batch of batchesOf(changes(batched, 2), BATCH)) {
        const t0 = performance.now();
        cl.appendMany(batch);
        ms += performance.now() - t0;
        done += batch.length;
        if (done % 200_000 === 0) log(`appended ${done.toLocaleString('en-US')}`);
      }
      await cl.close();
      const logRate = batched / (ms / 1000);
      checkpoint(logFile);
      const logBytes = fileBytes(logFile);

      const plainFile = join(work, 'batched-plain.sqlite');
      const plain = plainTable(plainFile);
      const hlc0 = Date.now();
      ms = 0;
      let seq = 0;
      for (const batch of batchesOf(changes(batched, 2), BATCH)) {
        const rowsOf = batch.map((c) => ({ seq: ++seq, hlc: encodeHlc({ wall: hlc0 + Math.floor(seq / 8), counter: seq % 8 }), c }));
        const t0 = performance.now();
        plain.insert(rowsOf);
        ms += performance.now() - t0;
      }
      plain.db.close();
      const plainRate = batched / (ms / 1000);
      checkpoint(plainFile);
      const plainBytes = fileBytes(plainFile);
      log(`${BATCH} per transaction: log ${Math.round(logRate)}/s, plain ${Math.round(plainRate)}/s; ${logBytes} bytes vs ${plainBytes}`);
      rows.push({ name: `log appends/s, ${BATCH.toLocaleString('en-US')} per transaction, fsync (${batched.toLocaleString('en-US')})`, figure: logRate, unit: 'appends/s', baseline: plainRate, baselineName: 'plain inserts of the same rows, same transactions' });
      rows.push({
        name: `disk per million config-like changes (measured on ${batched.toLocaleString('en-US')}, ~200-byte bodies)`,
        figure: (logBytes / batched) * 1e6 / 1048576,
        unit: 'MB',
        baseline: (plainBytes / batched) * 1e6 / 1048576,
        baselineName: 'the same rows in a plain table',
        note: 'the log file includes the documents table (merged last versions)',
      });
    }

    // --- disk: raw call events, as the journal writes them (entry + index row + active dialog) ----
    {
      const count = opts.quick ? 20_000 : 300_000;
      const file = join(work, 'events', 'changelog.sqlite');
      const cl = ChangeLog.open(file, { origin: 'site-bench', policyOf, durability: 'os' });
      const journal = await EventJournal.open<CoreEvent>(cl, { instance: 'callstore1', durability: 'os', dialogsOf });
      const finished = new Set<string>();
      let message: CoreEvent[] = [];
      let messages = 0;
      for (const e of callEvents(count)) {
        message.push(e);
        if (e.type === 'end' || e.type === 'fail' || e.type === 'cancel') finished.add(e.callId);
        if (message.length < 100) continue;
        journal.append(message, e.tsMs);
        message = [];
        // the calls finished by then leave the active set, as the record writer does
        if (++messages % 16 === 0) {
          void journal.finish(finished);
          finished.clear();
          await journal.flush();
        }
      }
      if (message.length) journal.append(message, Date.now());
      void journal.finish(finished);
      await cl.close();
      const logBytes = fileBytes(file);
      const tables = bytesByTable(file);
      const plainBytes = plainCopy(file, join(work, 'events', 'plain.sqlite'));
      const index = (tables['journal_events'] ?? 0) + (tables['journal_events_call'] ?? 0) + (tables['journal_events_received'] ?? 0) + (tables['journal_active'] ?? 0);
      log(`${count} events: ${logBytes} bytes (entries ${tables['entries']}, journal index ${index}) vs plain ${plainBytes}`);
      rows.push({
        name: `disk per million raw call events (measured on ${count.toLocaleString('en-US')}, 4.3 a call, ~40-character Call-IDs)`,
        figure: MB_PER_MILLION(logBytes, count),
        unit: 'MB',
        baseline: MB_PER_MILLION(plainBytes, count),
        baselineName: 'the same entry rows in a plain table',
        note: `the log file: entries ${MB_PER_MILLION(tables['entries'] ?? 0, count).toFixed(0)} MB, the journal's index (journal_events and its two indexes, journal_active) ${MB_PER_MILLION(index, count).toFixed(0)} MB`,
      });
    }

    // --- disk: CDRs, each a 'cdr' entry appended with the finish of its call ----------------------
    {
      const count = opts.quick ? 5_000 : 100_000;
      const file = join(work, 'cdrs', 'changelog.sqlite');
      const cl = ChangeLog.open(file, { origin: 'site-bench', policyOf, durability: 'os' });
      for (const batch of batchesOf(makeCdrs(count, { seed: 16, ordered: true }), 100)) {
        await cl.write((w) => {
          for (const cdr of batch) w.append({ kind: CDR_ENTRY_KIND, key: cdr.id, body: cdr });
        }).committed;
      }
      await cl.close();
      const logBytes = fileBytes(file);
      const plainBytes = plainCopy(file, join(work, 'cdrs', 'plain.sqlite'));
      log(`${count} CDRs: ${logBytes} bytes vs plain ${plainBytes}`);
      rows.push({
        name: `disk per million CDRs in the log (measured on ${count.toLocaleString('en-US')}, test/support/cdr-factory records)`,
        figure: MB_PER_MILLION(logBytes, count),
        unit: 'MB',
        baseline: MB_PER_MILLION(plainBytes, count),
        baselineName: 'the same entry rows in a plain table',
        note: 'the CDR store (cdrs.sqlite, its indexes and full-text index) comes on top: it is a view of these entries',
      });
    }

    // --- start: a nedb collection rebuilt from the log (an emptied db directory) ------------------
    {
      const dir = join(work, 'rebuild');
      const cl = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 'site-bench', policyOf, durability: 'os' });
      const docs = Array.from({ length: REBUILD_DOCS }, (_, i): NewChange => ({ kind: 'tokens', key: `tok-${i}`, body: { _id: `tok-${i}`, name: `integration ${i}`, scopes: ['read'], secretHash: `${i}`.padStart(64, '0'), createdAt: new Date(0).toISOString(), lastUsedAt: null } }));
      for (const batch of batchesOf(docs, BATCH)) cl.appendMany(batch);
      await cl.close();
      const openTokens = async () => {
        const t0 = performance.now();
        const feed = new ChangeFeed();
        const store = new DocumentStore(DocumentStore.directoryFor(dir), feed);
        const changeLog = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 'site-bench', policyOf });
        store.attachLog(changeLog);
        const tokens = await store.open('tokens', { indexes: [{ fieldName: 'secretHash', unique: true }] });
        const ms = performance.now() - t0;
        const count = await tokens.count();
        await store.flush();
        await changeLog.close();
        if (count !== REBUILD_DOCS) throw new Error(`rebuilt ${count} of ${REBUILD_DOCS}`);
        return ms;
      };
      const rebuildMs = await openTokens(); // no db directory: rebuilt from the log
      const loadMs = await openTokens(); // the file is there and current: today's start
      log(`start with ${REBUILD_DOCS} tokens: rebuild ${rebuildMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms`);
      rows.push({ name: `start: rebuild a collection of ${REBUILD_DOCS.toLocaleString('en-US')} documents from the log (empty db directory)`, figure: rebuildMs, unit: 'ms', baseline: loadMs, baselineName: 'open the same collection from its nedb file' });
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
