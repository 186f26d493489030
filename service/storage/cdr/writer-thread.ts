import { parentPort, workerData } from 'node:worker_threads';
import type { Cdr } from '../../../shared/api/cdr.js';
import { CdrStore } from './store.js';

/** Messages to the writer thread and its answers (see CdrWriterThread). */
export type ToWriter = { type: 'insert'; id: number; cdrs: Cdr[]; durable: boolean } | { type: 'get'; id: number; cdrId: string } | { type: 'close'; id: number };
export type FromWriter =
  | { type: 'inserted'; id: number; ids: string[] }
  | { type: 'got'; id: number; cdr: Cdr | undefined }
  | { type: 'closed'; id: number }
  | { type: 'error'; id: number; message: string };

// The writer thread owns the CDR store: SQLite's index and FTS upkeep runs beside ingestion, not in it.
if (parentPort) {
  const port = parentPort;
  const store = new CdrStore((workerData as { dataDir: string }).dataDir);
  port.on('message', (msg: ToWriter) => {
    try {
      switch (msg.type) {
        case 'insert':
          port.postMessage({ type: 'inserted', id: msg.id, ids: store.insert(msg.cdrs, { durable: msg.durable }) } satisfies FromWriter);
          break;
        case 'get':
          port.postMessage({ type: 'got', id: msg.id, cdr: store.get(msg.cdrId) } satisfies FromWriter);
          break;
        case 'close':
          store.close();
          port.postMessage({ type: 'closed', id: msg.id } satisfies FromWriter);
          port.close();
          break;
      }
    } catch (err) {
      port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) } satisfies FromWriter);
    }
  });
}
