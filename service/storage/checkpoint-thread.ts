import { parentPort, workerData } from 'node:worker_threads';
import { WalCheckpoints } from './wal-checkpoints.js';

/**
 * Checkpoints a SQLite WAL from a thread of its own (wal-checkpoints.ts says why): the change
 * log's, where no other thread does it for the log (the offline CLI, tests; the service has the
 * CDR writer thread do it, see ChangeLogOptions.checkpointer).
 */
const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const checkpoints = new WalCheckpoints();
const timer = setInterval(() => {
  try {
    checkpoints.checkpoint(file);
  } catch {
    // busy or the file went away; the next round tries again
  }
}, intervalMs);

parentPort?.on('message', (msg: { type: 'close' }) => {
  if (msg.type !== 'close') return;
  clearInterval(timer);
  checkpoints.close({ truncate: true });
  parentPort?.postMessage({ type: 'closed' });
});
