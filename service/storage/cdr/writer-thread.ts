import { parentPort, workerData } from 'node:worker_threads';
import type { Cdr } from '../../../shared/api/cdr.js';
import { WalCheckpoints } from '../wal-checkpoints.js';
import { CdrStore } from './store.js';

/** What the writer thread is started with. */
export interface WriterThreadData {
  dataDir: string;
  /** honour `exit-for-test` (SITECALL_TEST_HOOKS=1 only) */
  testHooks?: boolean;
}

/** Messages to the writer thread and its answers (see CdrWriterThread). */
export type ToWriter =
  | { type: 'insert'; id: number; cdrs: Cdr[]; durable: boolean }
  /** the same, each record as its JSON text (parsed here, off the sending thread) */
  | { type: 'insert-texts'; id: number; texts: string[]; durable: boolean }
  | { type: 'get'; id: number; cdrId: string }
  /** fsync what was inserted without `durable` (CdrStore.sync) */
  | { type: 'sync'; id: number }
  /** a WAL checkpoint of another file (the change log's: ChangeLogOptions.checkpointer) */
  | { type: 'checkpoint'; id: number; file: string }
  | { type: 'close'; id: number }
  /** the thread ends at once, as if it had crashed (test hook; ignored unless testHooks) */
  | { type: 'exit-for-test'; id: number };
export type FromWriter =
  /** the store is open: the thread takes requests */
  | { type: 'ready'; id: 0 }
  | { type: 'inserted'; id: number; ids: string[] }
  | { type: 'got'; id: number; cdr: Cdr | undefined }
  | { type: 'synced'; id: number }
  | { type: 'checkpointed'; id: number }
  | { type: 'closed'; id: number }
  /** `name` is the error's class: ValidationError means the request can never succeed */
  | { type: 'error'; id: number; name: string; message: string };

// The writer thread owns the CDR store: SQLite's index and FTS upkeep runs beside ingestion, not in it.
// It checkpoints the change log's WAL too: a thread of its own for that would cost the service
// about 10 MB of resident memory (a Node.js thread's heap and runtime) for a pragma a second.
if (parentPort) {
  const port = parentPort;
  const data = workerData as WriterThreadData;
  // A store that cannot be opened ends the thread here; its owner restarts it after a while.
  const store = new CdrStore(data.dataDir);
  const checkpoints = new WalCheckpoints();
  port.on('message', (msg: ToWriter) => {
    try {
      switch (msg.type) {
        case 'insert':
          port.postMessage({ type: 'inserted', id: msg.id, ids: store.insert(msg.cdrs, { durable: msg.durable }) } satisfies FromWriter);
          break;
        case 'insert-texts':
          port.postMessage({ type: 'inserted', id: msg.id, ids: store.insert(msg.texts.map((t) => JSON.parse(t) as Cdr), { durable: msg.durable }) } satisfies FromWriter);
          break;
        case 'sync':
          store.sync();
          port.postMessage({ type: 'synced', id: msg.id } satisfies FromWriter);
          break;
        case 'checkpoint':
          checkpoints.checkpoint(msg.file);
          port.postMessage({ type: 'checkpointed', id: msg.id } satisfies FromWriter);
          break;
        case 'get':
          port.postMessage({ type: 'got', id: msg.id, cdr: store.get(msg.cdrId) } satisfies FromWriter);
          break;
        case 'close':
          // the change log closes after this store (app.ts): its own close checkpoints it
          checkpoints.close({ truncate: false });
          store.close();
          port.postMessage({ type: 'closed', id: msg.id } satisfies FromWriter);
          port.close();
          break;
        case 'exit-for-test':
          if (data.testHooks) process.exit(70);
          break;
      }
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      port.postMessage({ type: 'error', id: msg.id, name: e.name, message: e.message } satisfies FromWriter);
    }
  });
  port.postMessage({ type: 'ready', id: 0 } satisfies FromWriter);
}
