import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { legacyJournalFile } from '../../service/callstore/journal.js';
import { LEGACY_SUFFIX } from '../../service/storage/journal.js';
import { CallScript, toCore } from '../support/call-events.js';
import { startTestInstance, type TestInstance } from '../support/callstore-instance.js';
import { openTestLog } from '../support/callstore-harness.js';

/**
 * The callstore's journal in the change log's database: each event is a row of the journal and an
 * `event` entry of the log, committed together; a data directory from before the log (one
 * journal.sqlite per instance) has its active calls adopted at the first start.
 */

const dirs: string[] = [];
const opened: TestInstance[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-journal-'));
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string): Promise<TestInstance> {
  const t = await startTestInstance({ finish_settle_ms: 20 }, { dataDir });
  opened.push(t);
  return t;
}

/** What the log's file holds of the journal and of its entries, read on a connection of its own. */
function onDisk(dataDir: string): { rows: string[]; active: string[]; entries: { seq: number; key: string; body: { instance: string; tsMs: number; event: { id: string } } }[] } {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true });
  try {
    return {
      rows: db.prepare('SELECT id FROM journal_events ORDER BY id').pluck().all() as string[],
      active: db.prepare('SELECT call_id FROM journal_active ORDER BY call_id').pluck().all() as string[],
      entries: (db.prepare("SELECT seq, key, body FROM entries WHERE kind = 'event' ORDER BY seq").all() as { seq: number; key: string; body: string }[]).map((r) => ({ ...r, body: JSON.parse(r.body) })),
    };
  } finally {
    db.close();
  }
}

describe('the journal in the change log', () => {
  it('makes every new event an entry of the log in the same commit as its row, and a duplicate neither', async () => {
    const dataDir = tempDir();
    const t = await start(dataDir);
    const s = new CallScript('pbx1', Date.now()).invite(0, 'c1', '101', '102').answer(1000, 'c1');
    const first = t.instance.ingest(s.events.map(toCore));
    // before the commit another connection sees neither
    expect(onDisk(dataDir).rows).toEqual([]);
    await first.stored;
    const again = t.instance.ingest(s.events.map(toCore));
    expect(again.fresh).toEqual([false, false]);
    await again.stored;
    const disk = onDisk(dataDir);
    const ids = s.events.map((e) => e.id).sort();
    expect(disk.rows).toEqual(ids);
    expect(disk.entries.map((e) => e.key).sort()).toEqual(ids);
    expect(disk.entries.map((e) => e.seq)).toEqual([1, 2]);
    expect(disk.entries[0]?.body).toMatchObject({ instance: 'callstore1', tsMs: Date.parse(s.events[0]!.ts), event: { id: s.events[0]!.id } });
    expect(disk.active).toEqual(['c1']);
  });

  it('takes a message larger than one statement with duplicates in it and of stored events: each new id once, the seqs without a gap', async () => {
    const dataDir = tempDir();
    const t = await start(dataDir);
    const s = new CallScript('pbx1', Date.now());
    for (let c = 0; c < 40; c++) s.invite(c, `c${c}`, '101', '102').answer(1000 + c, `c${c}`);
    const events = s.events.map(toCore);
    // 20 of the 80 stored first; then all 80 with every 7th sent twice in the same message
    await t.instance.ingest(events.slice(0, 20)).stored;
    const message = events.flatMap((e, i) => (i % 7 === 0 ? [e, e] : [e]));
    const taken = t.instance.ingest(message);
    const seen = new Set<string>();
    expect(taken.fresh).toEqual(message.map((e) => {
      const isNew = !seen.has(e.id) && events.indexOf(e) >= 20;
      seen.add(e.id);
      return isNew;
    }));
    await taken.stored;
    const disk = onDisk(dataDir);
    expect(disk.rows).toEqual(events.map((e) => e.id).sort());
    expect(disk.entries.map((e) => e.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    expect(disk.entries.map((e) => e.key)).toEqual(events.map((e) => e.id));
    expect(disk.active).toEqual(Array.from({ length: 40 }, (_, c) => `c${c}`).sort());
  });

  it('keeps the entries its index names through the log’s compaction, and lets them go once purged', async () => {
    const dataDir = tempDir();
    const t = await start(dataDir);
    const s = new CallScript('pbx1', Date.now()).invite(0, 'k1', '101', '102').answer(1000, 'k1');
    await t.instance.ingest(s.events.map(toCore)).stored;
    t.log.append({ kind: 'config', key: 'roles', body: { revision: 1 } });
    // every entry is old enough and no peer holds any back: only the journal's index does
    const far = Date.now() + 365 * 86_400_000;
    expect(t.log.compact({ minAgeMs: 0, now: far }).removed).toBe(0);
    expect(t.instance.rawEvents(['k1']).map((e) => e.id).sort()).toEqual(s.events.map((e) => e.id).sort());
    // once the index no longer names them (as after the retention purge of a finished call), the log lets them go
    t.log.database.prepare('DELETE FROM journal_events').run();
    expect(t.log.compact({ minAgeMs: 0, now: far }).removed).toBe(3);
  });

  it('adopts the active calls of a journal file from before the log, committed ones in its WAL too, once', async () => {
    const dataDir = tempDir();
    const t0 = Date.now() - 60_000;
    const s = new CallScript('pbx1', t0).invite(0, 'up', '101', '102').answer(1000, 'up').invite(10, 'done', '103', '104').answer(1000, 'done').end(5000, 'done');
    // A journal as the service wrote it before the change log, left as a kill -9 leaves it: the
    // last transactions still in its WAL.
    const scratch = tempDir();
    const oldFile = join(scratch, 'journal.sqlite');
    const old = new Database(oldFile);
    old.pragma('journal_mode = WAL');
    old.pragma('wal_autocheckpoint = 0');
    old.exec(`CREATE TABLE events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, ts INTEGER NOT NULL, source TEXT NOT NULL, seq INTEGER NOT NULL, call_id TEXT NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE active (call_id TEXT PRIMARY KEY) WITHOUT ROWID;`);
    const insert = old.prepare('INSERT INTO events (id, received_at, ts, source, seq, call_id, body) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const e of s.events.map(toCore)) {
      const { tsMs, ...body } = e;
      insert.run(e.id, t0, tsMs, e.source, e.seq, e.callId, JSON.stringify(body));
    }
    old.prepare('INSERT INTO active (call_id) VALUES (?)').run('up');
    const legacy = legacyJournalFile(dataDir, 'callstore1');
    mkdirSync(join(dataDir, 'callstore', 'callstore1'), { recursive: true });
    copyFileSync(oldFile, legacy);
    copyFileSync(`${oldFile}-wal`, `${legacy}-wal`);
    old.close();

    const t = await start(dataDir);
    expect(t.instance.list().map((c) => c.id)).toEqual(['up']);
    const upEvents = s.events.filter((e) => e.callId === 'up').map((e) => e.id).sort();
    let disk = onDisk(dataDir);
    expect(disk.rows).toEqual(upEvents);
    expect(disk.entries.map((e) => e.key).sort()).toEqual(upEvents);
    expect(disk.active).toEqual(['up']);
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(`${legacy}${LEGACY_SUFFIX}`)).toBe(true);
    await t.instance.stop();
    await t.log.close();
    opened.splice(opened.indexOf(t), 1);

    // A crash before the rename adopts the file again: nothing is taken twice.
    copyFileSync(`${legacy}${LEGACY_SUFFIX}`, legacy);
    const again = await start(dataDir);
    expect(again.instance.list().map((c) => c.id)).toEqual(['up']);
    disk = onDisk(dataDir);
    expect(disk.entries.map((e) => e.key).sort()).toEqual(upEvents);
    expect(disk.rows).toEqual(upEvents);
  });

  it('indexes at start the event entries a log took in without its journal rows (a replay into an empty data directory)', async () => {
    const first = tempDir();
    const t = await start(first);
    const s = new CallScript('pbx1', Date.now()).invite(0, 'live', '101', '102').answer(1000, 'live').invite(10, 'gone', '103', '104').answer(1000, 'gone').end(5000, 'gone');
    await t.instance.ingest(s.events.map(toCore)).stored;
    await expect.poll(() => t.instance.list().map((c) => c.id)).toEqual(['live']);
    await t.log.flush();
    const entries = t.log.after('site-a', 0, 10_000);
    await t.instance.stop();
    await t.log.close();
    opened.splice(opened.indexOf(t), 1);

    // only the entries, taken in by an empty log: no journal table came with them
    const second = tempDir();
    const log = openTestLog(second, 'site-a');
    log.receive(entries);
    const tables = log.database.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'journal%'").pluck().all();
    await log.close();
    expect(tables).toEqual([]);

    const replayed = await start(second);
    const disk = onDisk(second);
    expect(disk.rows).toEqual(s.events.map((e) => e.id).sort());
    // the finished call folds again and finishes again; the call still up is active, as it was
    await expect.poll(() => replayed.instance.list().map((c) => c.id)).toEqual(['live']);
    expect(replayed.instance.rawEvents(['gone']).map((e) => e.id).sort()).toEqual(s.events.filter((e) => e.callId === 'gone').map((e) => e.id).sort());
  });
});
