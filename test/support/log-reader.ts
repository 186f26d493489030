/**
 * A reader of a service's change log in a process of its own, for the crash tests:
 * `node --import ./test/kamailio/ts-register.mjs test/support/log-reader.ts LOG SINK`.
 *
 * It follows LOG from the position saved in SINK (a SQLite file of its own) in small pages, and
 * stores each page's entries together with the new position in one transaction: killed at any
 * moment and started again, it must take every entry once. Prints its position after each page.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ChangeLogReader } from '../../service/storage/changelog/reader.js';
import { LogTail } from '../../service/storage/changelog/tail.js';

const [logFile, sinkFile] = process.argv.slice(2) as [string, string];
const sink = new Database(sinkFile);
sink.pragma('journal_mode = WAL');
sink.exec(`
  CREATE TABLE IF NOT EXISTS seen (origin TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, tombstone INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS position (origin TEXT PRIMARY KEY, seq INTEGER NOT NULL);
`);
const insertSeen = sink.prepare('INSERT INTO seen (origin, seq, kind, key, tombstone) VALUES (?, ?, ?, ?, ?)');
const savePosition = sink.prepare('INSERT INTO position (origin, seq) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq');
const from = Object.fromEntries((sink.prepare('SELECT origin, seq FROM position').all() as { origin: string; seq: number }[]).map((r) => [r.origin, r.seq]));

while (!existsSync(logFile)) await new Promise((r) => setTimeout(r, 20));
const reader = ChangeLogReader.open(logFile);
const tail = new LogTail(reader, { from, pageSize: 5, pollMs: 20 });
process.on('SIGTERM', () => tail.close());
for await (const page of tail) {
  const position = tail.position;
  sink.transaction(() => {
    for (const e of page) insertSeen.run(e.origin, e.seq, e.kind, e.key, e.body === null ? 1 : 0);
    for (const [origin, seq] of Object.entries(position)) savePosition.run(origin, seq);
  })();
  process.stdout.write(`${JSON.stringify(position)}\n`);
}
reader.close();
sink.close();
