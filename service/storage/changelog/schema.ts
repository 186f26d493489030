import type Database from 'better-sqlite3';

/**
 * The tables of the change log (one SQLite file, WAL):
 * - `origins`: the sites whose changes the log holds, by a small integer (an entry stores 1-2
 *   bytes instead of a 36-character site id); `base` is the seq up to which this log no longer
 *   holds the origin's entries (compacted away, or known only through a snapshot), `base_hlc` the
 *   stamp of that entry, so the clock continues after it even when no entry is left.
 * - `entries`: the log itself, `(origin, seq)` gapless per origin; `body` NULL is a tombstone.
 * - `documents`: the merged last version of every key of the document kinds, kept in the same
 *   transaction as each entry: what a write-ahead store is rebuilt from, and the snapshot a new
 *   peer starts from once old entries are compacted.
 * - `positions`: per write-ahead store, up to which seq of each origin its own files hold.
 * - `peers`: per paired peer, its since-vector (what it has of each origin): retention keeps what
 *   any of them still lacks.
 * - `held_elsewhere`: ranges of an origin's seqs this log took no entries for because the peer
 *   that sent them filtered them out (domains this site does not serve, sync/replication): the
 *   origin's head moves past them, so the next entry follows without a gap, and no row is kept.
 */
export const SCHEMA_VERSION = 1;

export function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS origins (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      base INTEGER NOT NULL DEFAULT 0,
      base_hlc TEXT
    );
    CREATE TABLE IF NOT EXISTS entries (
      origin INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      hlc TEXT NOT NULL,
      kind TEXT NOT NULL,
      key TEXT NOT NULL,
      body TEXT,
      PRIMARY KEY (origin, seq)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS documents (
      kind TEXT NOT NULL,
      key TEXT NOT NULL,
      hlc TEXT NOT NULL,
      origin INTEGER NOT NULL,
      body TEXT,
      PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS positions (
      store TEXT NOT NULL,
      origin INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      PRIMARY KEY (store, origin)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS peers (
      peer TEXT NOT NULL,
      origin INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      PRIMARY KEY (peer, origin)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS held_elsewhere (
      origin INTEGER NOT NULL,
      first INTEGER NOT NULL,
      last INTEGER NOT NULL,
      PRIMARY KEY (origin, first)
    ) WITHOUT ROWID;
  `);
  const row = db.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as { value: string } | undefined;
  if (!row) db.prepare("INSERT INTO meta (name, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
  else if (Number(row.value) > SCHEMA_VERSION) throw new Error(`the change log was written by a newer Sitecall (schema ${row.value}; this one knows ${SCHEMA_VERSION})`);
}
