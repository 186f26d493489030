import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * Checkpoints a SQLite WAL from a thread of its own. A checkpoint copies pages back into the
 * database and fsyncs it: done by the writing connection it stalls the event loop for tens of
 * milliseconds; done here, a writer never waits for it (WAL lets both go on at once).
 */
const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new Database(file);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // busy or the file went away; the next round tries again
  }
}, intervalMs);

parentPort?.on('message', (msg: { type: 'close' }) => {
  if (msg.type !== 'close') return;
  clearInterval(timer);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    // the writer still holds the WAL: it is checkpointed on its next open
  }
  db.close();
  parentPort?.postMessage({ type: 'closed' });
});
