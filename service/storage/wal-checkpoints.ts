import Database from 'better-sqlite3';

/**
 * WAL checkpoints of SQLite files from a thread that is not their writer's (checkpoint-thread.ts,
 * and the CDR writer thread, which checkpoints the change log for the service): a checkpoint
 * copies pages back into the database and fsyncs it, tens of milliseconds that would hold up
 * every write on the writer's thread; from here a writer never waits for it (WAL lets both go on
 * at once). One connection per file, opened at its first checkpoint.
 */
export class WalCheckpoints {
  private readonly connections = new Map<string, Database.Database>();

  /** A PASSIVE checkpoint: what no reader holds is copied back; a busy writer makes it do less, never wait. */
  checkpoint(file: string): void {
    this.connection(file).pragma('wal_checkpoint(PASSIVE)');
  }

  /**
   * Closes the connections, with `truncate` after a last checkpoint of every file (TRUNCATE, when
   * nobody holds it: the file's writer is done with it). Without, the writer's own close, the
   * file's last connection, checkpoints what is left.
   */
  close(opts: { truncate: boolean }): void {
    for (const db of this.connections.values()) {
      if (opts.truncate) {
        try {
          db.pragma('wal_checkpoint(TRUNCATE)');
        } catch {
          // the writer still holds the WAL: it is checkpointed on its next open
        }
      }
      db.close();
    }
    this.connections.clear();
  }

  private connection(file: string): Database.Database {
    let db = this.connections.get(file);
    if (!db) {
      db = new Database(file, { fileMustExist: true });
      db.pragma('busy_timeout = 1000');
      this.connections.set(file, db);
    }
    return db;
  }
}
