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
 * - `base` of an entry and of a document (schema 2): the version a document change was made from,
 *   `hlc/origin` (the origin by name: it travels to peers as it is), '' for none (the key's first
 *   version), NULL where it is not known (records, entries from before schema 2).
 * - `conflicts` (schema 2): the versions overwritten by a change whose writer had not seen them
 *   (core/merge.ts conflictStep): this site's finding, derived from the entries it holds (the
 *   same on every site that holds the same ones), so it is not replicated itself; `id` is the
 *   same everywhere (conflictId); `moot` is 1 while the document held says the same (core/merge.ts
 *   sameContent); `detected_at` is this site's clock (ms). A dismissal is a replicated document
 *   (kind `conflict_dismissals`, key the id).
 * - `awaited_bases` (schema 2): bases named by versions held here that were not seen here yet.
 */
export const SCHEMA_VERSION = 2;

export function createSchema(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
  const row = db.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as { value: string } | undefined;
  if (row && Number(row.value) > SCHEMA_VERSION) throw new Error(`the change log was written by a newer Sitecall (schema ${row.value}; this one knows ${SCHEMA_VERSION})`);
  db.exec(`
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
      base TEXT,
      PRIMARY KEY (origin, seq)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS documents (
      kind TEXT NOT NULL,
      key TEXT NOT NULL,
      hlc TEXT NOT NULL,
      origin INTEGER NOT NULL,
      body TEXT,
      base TEXT,
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
  // schema 1 files: the columns of schema 2 (NULL: base not known), before the tables that need them
  for (const table of ['entries', 'documents']) {
    const columns = db.prepare(`SELECT name FROM pragma_table_info('${table}')`).pluck().all() as string[];
    if (!columns.includes('base')) db.exec(`ALTER TABLE ${table} ADD COLUMN base TEXT`);
  }
  db.exec(`
    CREATE TABLE IF NOT EXISTS conflicts (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      key TEXT NOT NULL,
      hlc TEXT NOT NULL,
      origin TEXT NOT NULL,
      body TEXT,
      beaten_hlc TEXT NOT NULL,
      beaten_origin TEXT NOT NULL,
      moot INTEGER NOT NULL DEFAULT 0,
      detected_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS conflicts_by_key ON conflicts (kind, key);
    CREATE INDEX IF NOT EXISTS conflicts_by_stamp ON conflicts (hlc, id);
    CREATE TABLE IF NOT EXISTS awaited_bases (
      kind TEXT NOT NULL,
      key TEXT NOT NULL,
      hlc TEXT NOT NULL,
      origin TEXT NOT NULL,
      PRIMARY KEY (kind, key, hlc, origin)
    ) WITHOUT ROWID;
  `);
  if (!row) db.prepare("INSERT INTO meta (name, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
  else if (Number(row.value) < SCHEMA_VERSION) db.prepare("UPDATE meta SET value = ? WHERE name = 'schema'").run(String(SCHEMA_VERSION));
}
