import { Worker } from 'node:worker_threads';
import type { Cdr } from '../../../shared/api/cdr.js';
import type { WorkerShim } from '../journal.js';
import type { FromWriter, ToWriter } from './writer-thread.js';

type Pending = { resolve: (msg: FromWriter) => void; reject: (err: Error) => void };

/**
 * The CDR store on a thread of its own. Inserts are queued in order and answered in order; a
 * record is committed when its insert resolves (and fsync'd with `durable`). Reads by id go through the same thread
 * so they see every insert that resolved before them.
 */
export class CdrWriterThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private failed: Error | undefined;

  constructor(dataDir: string, shim: WorkerShim = {}) {
    this.worker = new Worker(shim.workerUrl ?? new URL('./writer-thread.js', import.meta.url), { workerData: { ...shim.workerData, dataDir } });
    this.worker.on('message', (msg: FromWriter) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'error') p.reject(new Error(`CDR store: ${msg.message}`));
      else p.resolve(msg);
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the CDR writer thread exited (code ${code})`)));
  }

  /** Writes the records not stored yet; resolves with the ids written now (fsync'd first when durable). */
  async insert(cdrs: Cdr[], opts: { durable: boolean } = { durable: false }): Promise<string[]> {
    const msg = await this.request({ type: 'insert', id: 0, cdrs, durable: opts.durable });
    return msg.type === 'inserted' ? msg.ids : [];
  }

  async get(id: string): Promise<Cdr | undefined> {
    const msg = await this.request({ type: 'get', id: 0, cdrId: id });
    return msg.type === 'got' ? msg.cdr : undefined;
  }

  async close(): Promise<void> {
    if (this.failed) return;
    await this.request({ type: 'close', id: 0 });
    await this.worker.terminate();
  }

  private request(msg: ToWriter): Promise<FromWriter> {
    if (this.failed) return Promise.reject(this.failed);
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
