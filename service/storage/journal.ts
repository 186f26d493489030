import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CoreEvent } from '../callstore/core/call.js';

export type Durability = 'fsync' | 'os';

/** How the checkpoint thread is started: by default checkpoint-thread.js next to this module (tests run the TypeScript through a loader shim). */
export interface CheckpointWorkerOptions {
  workerUrl?: URL;
  /** extra workerData for such a shim */
  workerData?: Record<string, unknown>;
}

const CHECKPOINT_INTERVAL_MS = 1000;

/**
 * The raw event journal of one callstore instance, in SQLite (WAL). Every event is kept (for the
 * retention period) so a record can be rebuilt; the `active` table names the dialogs of calls not
 * finished yet, whose events restore the active calls after a restart.
 *
 * Writes go into a transaction that stays open for the rest of the event-loop turn and commits on
 * the next one: everything that arrived meanwhile shares one commit (group commit). With
 * durability `fsync` (state_save `transactional`) a commit is on disk before `flush()` resolves.
 */
export class EventJournal {
  private readonly db: Database.Database;
  private readonly insertEvent: Database.Statement;
  private readonly insertActive: Database.Statement;
  private readonly deleteActive: Database.Statement;
  private readonly selectByCall: Database.Statement;
  private readonly selectAnyOfCall: Database.Statement;
  private inTransaction = false;
  private commitWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private commitScheduled = false;
  private readonly checkpointer: Worker;

  constructor(
    readonly file: string,
    durability: Durability,
    worker: CheckpointWorkerOptions = {},
  ) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${durability === 'fsync' ? 'FULL' : 'NORMAL'}`);
    // Checkpoints run on their own thread (checkpoint-thread.ts), never in a commit on this one.
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        received_at INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        source TEXT NOT NULL,
        seq INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        body TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS events_call ON events(call_id);
      CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
      CREATE TABLE IF NOT EXISTS active (call_id TEXT PRIMARY KEY) WITHOUT ROWID;
    `);
    this.insertEvent = this.db.prepare('INSERT OR IGNORE INTO events (id, received_at, ts, source, seq, call_id, body) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.insertActive = this.db.prepare('INSERT OR IGNORE INTO active (call_id) VALUES (?)');
    this.deleteActive = this.db.prepare('DELETE FROM active WHERE call_id = ?');
    this.selectByCall = this.db.prepare('SELECT body FROM events WHERE call_id = ?');
    this.selectAnyOfCall = this.db.prepare('SELECT 1 FROM events WHERE call_id = ? LIMIT 1');
    this.checkpointer = new Worker(worker.workerUrl ?? new URL('./checkpoint-thread.js', import.meta.url), { workerData: { ...worker.workerData, file, intervalMs: CHECKPOINT_INTERVAL_MS } });
    this.checkpointer.unref();
  }

  /** Stores the events not stored yet; returns, per event, whether it was new. */
  append(events: readonly CoreEvent[], receivedAt: number): boolean[] {
    this.begin();
    return events.map((e) => {
      const { tsMs, ...body } = e;
      const fresh = this.insertEvent.run(e.id, receivedAt, tsMs, e.source, e.seq, e.callId, JSON.stringify(body)).changes === 1;
      if (fresh) {
        this.insertActive.run(e.callId);
        if (e.type === 'link' && e.otherCallId) this.insertActive.run(e.otherCallId);
      }
      return fresh;
    });
  }

  /** The dialogs of a finished call leave the active set (their events stay until retention). */
  finish(callIds: Iterable<string>): void {
    this.begin();
    for (const id of callIds) this.deleteActive.run(id);
  }

  /** Resolves once everything written so far is committed (on disk, with durability `fsync`). */
  flush(): Promise<void> {
    if (!this.inTransaction) return Promise.resolve();
    return new Promise((resolve, reject) => this.commitWaiters.push({ resolve, reject }));
  }

  /** The events of every dialog still active: what a restart folds back into active calls. */
  activeEvents(): CoreEvent[] {
    this.commitNow();
    const rows = this.db.prepare('SELECT e.ts AS ts, e.body AS body FROM events e JOIN active a ON e.call_id = a.call_id').all() as { ts: number; body: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.body) as Omit<CoreEvent, 'tsMs'>), tsMs: r.ts }));
  }

  /** Whether any event of this dialog is stored. */
  knows(callId: string): boolean {
    return this.selectAnyOfCall.get(callId) !== undefined;
  }

  eventsOf(callIds: Iterable<string>): CoreEvent[] {
    const out: CoreEvent[] = [];
    for (const id of callIds) {
      for (const row of this.selectByCall.all(id) as { body: string }[]) {
        const e = JSON.parse(row.body) as Omit<CoreEvent, 'tsMs'>;
        out.push({ ...e, tsMs: Date.parse(e.ts) });
      }
    }
    return out;
  }

  /** Deletes events received before the cut-off, except those of active dialogs. */
  purgeReceivedBefore(cutoffMs: number): number {
    this.commitNow();
    return this.db.prepare('DELETE FROM events WHERE received_at < ? AND call_id NOT IN (SELECT call_id FROM active)').run(cutoffMs).changes;
  }

  count(): number {
    this.commitNow();
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    this.commitNow();
    const closed = new Promise<void>((resolve) => {
      this.checkpointer.once('message', () => resolve());
      this.checkpointer.once('exit', () => resolve());
    });
    this.checkpointer.postMessage({ type: 'close' });
    await closed;
    await this.checkpointer.terminate();
    this.db.close();
  }

  private begin(): void {
    if (this.inTransaction) return;
    this.db.exec('BEGIN');
    this.inTransaction = true;
    if (!this.commitScheduled) {
      this.commitScheduled = true;
      setImmediate(() => {
        this.commitScheduled = false;
        this.commitNow();
      });
    }
  }

  /** Commits the open transaction and settles everyone waiting for it. */
  commitNow(): void {
    if (!this.inTransaction) return;
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    try {
      this.db.exec('COMMIT');
      this.inTransaction = false;
      for (const w of waiters) w.resolve();
    } catch (err) {
      this.inTransaction = false;
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // the failed COMMIT already ended the transaction
      }
      for (const w of waiters) w.reject(err);
    }
  }
}
