import { Worker } from 'node:worker_threads';
import type { Cdr } from '../../../shared/api/cdr.js';
import type { CdrExportSort, CdrFilter, CdrPageRequest, CdrQuery } from '../../../shared/api/cdr-query.js';
import { ValidationError } from '../../errors.js';
import type { FromWorker, ReaderWorkerData, ToWorker, WorkerError } from './protocol.js';
import { parseCdrQuery } from './query.js';
import { collectionDir } from './schema.js';
import type { StatsWindow } from './stats.js';
import type { CallStats } from '../../../shared/api/stats.js';

export interface CdrReaderOptions {
  /** month databases the worker keeps open; default 6 */
  maxOpenMonths?: number;
  /** page cache per open month in the worker, KiB; default 8192 */
  cacheKiB?: number;
  /** trigram-index matches per month up to which a search drives the query (see engine.ts); default 4000 */
  ftsDriveMax?: number;
  /** default export batch size; default 1000 */
  batchSize?: number;
  /** the worker script; default reader-worker.js next to this module (tests run the TypeScript through a loader shim) */
  workerUrl?: URL;
  /** extra workerData for such a shim */
  workerData?: Record<string, unknown>;
}

export interface CdrPage {
  items: Cdr[];
  /** every match, not only the page */
  total: number;
}

export interface CdrExportOptions {
  /** default startedAt (oldest first) */
  sort?: CdrExportSort;
  /** rows per batch, 1..10000; default the reader's (1000) */
  batchSize?: number;
  /** abort to cancel (e.g. when the HTTP client goes away); the iterator then throws the abort reason */
  signal?: AbortSignal;
}

type Handler = (msg: FromWorker) => void;

const MAX_BATCH = 10_000;

/**
 * The read side of the CDR collection, for the main thread: every query and export runs on a
 * worker thread with its own read-only connections (WAL: readers never block the writer), so a
 * long export or a search never stalls ingestion.
 *
 * Exports stream with backpressure: the worker sends a batch, then waits for the consumer to ask
 * for the next one (it reads that one ahead meanwhile); returning from the iterator early, or
 * aborting its signal, cancels the worker's cursor.
 */
export class CdrReader {
  readonly dir: string;
  private worker: Worker | undefined;
  private readonly handlers = new Map<number, Handler>();
  private seq = 0;
  private closed = false;
  private readonly batchSize: number;

  constructor(
    dataDir: string,
    private readonly opts: CdrReaderOptions = {},
  ) {
    this.dir = collectionDir(dataDir);
    this.batchSize = checkBatchSize(opts.batchSize ?? 1000);
  }

  /** A page of CDRs and the total of matches. Validates the query first (ValidationError with `details`). */
  async query(q: CdrQuery): Promise<CdrPage> {
    return this.page(parseCdrQuery(q));
  }

  /** A page for an already parsed request. */
  async page(req: CdrPageRequest): Promise<CdrPage> {
    const msg = await this.request((id) => ({ type: 'page', id, req }));
    if (msg.type !== 'page') throw new Error(`The CDR reader worker answered ${msg.type} to a page query.`);
    return { items: msg.docs.map((d) => JSON.parse(d) as Cdr), total: msg.total };
  }

  /** The dashboard's figures from the records of a window (the calls up now are the caller's to add). */
  async stats(window: StatsWindow): Promise<Omit<CallStats, 'active'>> {
    const msg = await this.request((id) => ({ type: 'stats', id, window }));
    if (msg.type !== 'stats') throw new Error(`The CDR reader worker answered ${msg.type} to a stats query.`);
    return msg.stats;
  }

  /** SQLite's plan for a page query within one month (diagnostics). */
  async explain(month: string, q: CdrQuery): Promise<string[]> {
    const req = parseCdrQuery(q);
    const msg = await this.request((id) => ({ type: 'explain', id, month, req }));
    return msg.type === 'explain' ? msg.plan : [];
  }

  /** The matching CDRs in time order, in batches. */
  async *export(filter: CdrFilter, opts: CdrExportOptions = {}): AsyncGenerator<Cdr[], void, undefined> {
    for await (const docs of this.exportJson(filter, opts)) yield docs.map((d) => JSON.parse(d) as Cdr);
  }

  /**
   * The matching CDRs in time order, in batches of their stored JSON text (one `JSON.stringify(cdr)`
   * per record, no newline inside): NDJSON needs no parsing.
   */
  async *exportJson(filter: CdrFilter, opts: CdrExportOptions = {}): AsyncGenerator<string[], void, undefined> {
    const batchSize = checkBatchSize(opts.batchSize ?? this.batchSize);
    const { signal } = opts;
    signal?.throwIfAborted();
    const worker = this.ensureWorker();
    const id = ++this.seq;
    const inbox: FromWorker[] = [];
    let wake: (() => void) | undefined;
    const onAbort = () => wake?.();
    this.handlers.set(id, (msg) => {
      inbox.push(msg);
      wake?.();
    });
    this.refresh();
    signal?.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    try {
      this.post({ type: 'export', id, filter, sort: opts.sort ?? 'startedAt', batchSize });
      for (;;) {
        while (inbox.length === 0) {
          signal?.throwIfAborted();
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        const msg = inbox.shift() as FromWorker;
        if (msg.type === 'batch') {
          yield msg.docs;
          // The consumer wants more: only now may the worker send the next batch.
          signal?.throwIfAborted();
          if (this.worker === worker) this.post({ type: 'ack', id });
        } else if (msg.type === 'end') {
          finished = true;
          return;
        } else if (msg.type === 'error') {
          finished = true;
          throw errorFrom(msg.error);
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.handlers.delete(id);
      if (!finished && this.worker === worker) this.post({ type: 'cancel', id });
      this.refresh();
    }
  }

  /** Streams the export into a callback, awaiting it per batch (backpressure); resolves with the row count. */
  async exportTo(filter: CdrFilter, onBatch: (cdrs: Cdr[]) => void | Promise<void>, opts: CdrExportOptions = {}): Promise<number> {
    let rows = 0;
    for await (const batch of this.export(filter, opts)) {
      await onBatch(batch);
      rows += batch.length;
    }
    return rows;
  }

  /** Ends the worker (cancelling running exports). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ type: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private request(make: (id: number) => ToWorker): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      this.ensureWorker();
      const id = ++this.seq;
      this.handlers.set(id, (msg) => {
        this.handlers.delete(id);
        this.refresh();
        if (msg.type === 'error') reject(errorFrom(msg.error));
        else resolve(msg);
      });
      this.refresh();
      this.post(make(id));
    });
  }

  private post(msg: ToWorker): void {
    this.worker?.postMessage(msg);
  }

  /** Keeps the process alive only while something waits for the worker. */
  private refresh(): void {
    if (!this.worker) return;
    if (this.handlers.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private ensureWorker(): Worker {
    if (this.closed) throw new Error('The CDR reader is closed.');
    if (this.worker) return this.worker;
    const workerData: ReaderWorkerData & Record<string, unknown> = {
      ...this.opts.workerData,
      dir: this.dir,
      maxOpenMonths: this.opts.maxOpenMonths ?? 6,
      cacheKiB: this.opts.cacheKiB ?? 8192,
      ...(this.opts.ftsDriveMax !== undefined ? { ftsDriveMax: this.opts.ftsDriveMax } : {}),
    };
    const worker = new Worker(this.opts.workerUrl ?? new URL('./reader-worker.js', import.meta.url), { workerData });
    worker.on('message', (msg: FromWorker) => this.handlers.get(msg.id)?.(msg));
    const fail = (error: WorkerError) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const [id, handler] of [...this.handlers]) handler({ type: 'error', id, error });
    };
    worker.on('error', (err) => fail({ name: 'Error', message: `The CDR reader worker failed: ${err.message}` }));
    worker.on('exit', (code) => fail({ name: 'Error', message: `The CDR reader worker exited (code ${code}).` }));
    this.worker = worker;
    return worker;
  }
}

function checkBatchSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_BATCH) {
    throw new ValidationError(`The export batch size must be an integer from 1 to ${MAX_BATCH}.`, [
      { path: '/batchSize', message: `must be an integer from 1 to ${MAX_BATCH}` },
    ]);
  }
  return n;
}

function errorFrom(e: WorkerError): Error {
  if (e.name === 'ValidationError') return new ValidationError(e.message, e.details ?? []);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}
