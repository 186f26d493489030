import { Worker } from 'node:worker_threads';
import type { Cdr } from '../../../shared/api/cdr.js';
import { UnavailableError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { WorkerShim } from '../worker-shim.js';
import type { FromWriter, ToWriter, WriterThreadData } from './writer-thread.js';

type Pending = { resolve: (msg: FromWriter) => void; reject: (err: Error) => void };

/** The writer thread is not running (it died and is being restarted): try again shortly. */
export class CdrWriterDownError extends UnavailableError {
  constructor(reason: string) {
    super(`The CDR store is not available right now (${reason}); try again shortly.`);
  }
}

/** The store refused a request; `permanent` when the same request can never succeed (a malformed record). */
export class CdrStoreError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(`CDR store: ${message}`);
    this.name = 'CdrStoreError';
  }
}

/** Whether the thread runs, and since when and why not. */
export type WriterState = { up: true } | { up: false; since: Date; reason: string };

export interface CdrWriterThreadOptions {
  log?: Logger;
  /** honour exitThreadForTest() (SITECALL_TEST_HOOKS=1); never set in production */
  testHooks?: boolean;
  /** the first restart delay after the thread died; it doubles (up to restartMaxMs) while restarts fail */
  restartMinMs?: number;
  restartMaxMs?: number;
}

/** A thread that stays up this long counts as recovered: the next death restarts it at the shortest delay again. */
const STABLE_MS = 30_000;

/**
 * The CDR store on a thread of its own. Inserts are queued in order and answered in order; a
 * record is committed when its insert resolves (and fsync'd with `durable`). Reads by id go
 * through the same thread so they see every insert that resolved before them.
 *
 * If the thread dies its requests in flight fail with CdrWriterDownError and it is started again,
 * after a delay that grows while it keeps dying; meanwhile `unavailable` says why, and
 * `whenAvailable()` resolves once it runs again. Nothing queued is retried here: the callers
 * (the record writer) keep what they sent and send it again.
 */
export class CdrWriterThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private state: WriterState = { up: true };
  private closed = false;
  private restartDelayMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private upWaiters: (() => void)[] = [];
  private readonly listeners = new Set<(state: WriterState) => void>();
  private readonly log: Logger | undefined;
  private readonly restartMinMs: number;
  private readonly restartMaxMs: number;
  /** how often the thread was started again after it died */
  restarts = 0;

  constructor(
    private readonly dataDir: string,
    private readonly shim: WorkerShim = {},
    private readonly opts: CdrWriterThreadOptions = {},
  ) {
    this.log = opts.log;
    this.restartMinMs = opts.restartMinMs ?? 250;
    this.restartMaxMs = opts.restartMaxMs ?? 15_000;
    this.restartDelayMs = this.restartMinMs;
    this.spawn();
  }

  /** Why records cannot be written now, or undefined while the thread runs. */
  get unavailable(): string | undefined {
    return this.state.up ? undefined : this.state.reason;
  }

  /** Resolves when the thread runs (at once if it does). */
  whenAvailable(): Promise<void> {
    if (this.state.up) return Promise.resolve();
    return new Promise((resolve) => this.upWaiters.push(resolve));
  }

  /** Called on every change between up and down (health reporting). */
  onStateChange(listener: (state: WriterState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes the records not stored yet; resolves with the ids written now. */
  async insert(cdrs: Cdr[], opts: { durable: boolean } = { durable: false }): Promise<string[]> {
    const msg = await this.request({ type: 'insert', id: 0, cdrs, durable: opts.durable });
    return msg.type === 'inserted' ? msg.ids : [];
  }

  /** The same for records as JSON text (the change log's entry bodies): the thread parses them, not this one. */
  async insertTexts(texts: string[], opts: { durable: boolean } = { durable: false }): Promise<string[]> {
    const msg = await this.request({ type: 'insert-texts', id: 0, texts, durable: opts.durable });
    return msg.type === 'inserted' ? msg.ids : [];
  }

  /** Makes every insert so far survive a power loss (see CdrStore.sync). */
  async sync(): Promise<void> {
    await this.request({ type: 'sync', id: 0 });
  }

  /** A PASSIVE checkpoint of another SQLite file's WAL on this thread (the change log's: ChangeLogOptions.checkpointer). */
  async checkpoint(file: string): Promise<void> {
    await this.request({ type: 'checkpoint', id: 0, file });
  }

  async get(id: string): Promise<Cdr | undefined> {
    const msg = await this.request({ type: 'get', id: 0, cdrId: id });
    return msg.type === 'got' ? msg.cdr : undefined;
  }

  /**
   * Ends the thread as a crash would (test hook): only with the `testHooks` option, which the
   * service sets from SITECALL_TEST_HOOKS=1 alone. Without it this does nothing.
   */
  exitThreadForTest(): void {
    if (!this.opts.testHooks || !this.worker || !this.state.up) return;
    this.worker.postMessage({ type: 'exit-for-test', id: 0 } satisfies ToWriter);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.stableTimer);
    // Nobody waits for a thread that will not come back.
    for (const w of this.upWaiters.splice(0)) w();
    const worker = this.worker;
    if (!worker) return;
    if (this.state.up) {
      try {
        await this.request({ type: 'close', id: 0 }, true);
      } catch {
        // it died on the way out: nothing left to close
      }
    }
    await worker.terminate();
  }

  private spawn(): void {
    const workerData: WriterThreadData & Record<string, unknown> = { ...this.shim.workerData, dataDir: this.dataDir, testHooks: this.opts.testHooks === true };
    const worker = new Worker(this.shim.workerUrl ?? new URL('./writer-thread.js', import.meta.url), { workerData });
    this.worker = worker;
    let lastError: Error | undefined;
    worker.on('message', (msg: FromWriter) => {
      if (msg.type === 'ready') return this.ready(worker);
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'error') p.reject(new CdrStoreError(msg.message, msg.name === 'ValidationError'));
      else p.resolve(msg);
    });
    worker.on('error', (err) => (lastError = err));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (this.closed) return;
      this.died(`the CDR writer thread exited with code ${code}${lastError ? `: ${lastError.message}` : ''}`);
    });
  }

  private ready(worker: Worker): void {
    if (this.worker !== worker || this.closed) return;
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => (this.restartDelayMs = this.restartMinMs), STABLE_MS);
    this.stableTimer.unref();
    if (this.state.up) return;
    this.log?.info({ restarts: this.restarts, downMs: Date.now() - this.state.since.getTime() }, 'the CDR writer thread runs again');
    this.setState({ up: true });
    for (const w of this.upWaiters.splice(0)) w();
  }

  private died(reason: string): void {
    clearTimeout(this.stableTimer);
    const err = new CdrWriterDownError(reason);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(this.restartMaxMs, this.restartDelayMs * 2);
    this.log?.error({ reason, restartInMs: delay }, 'the CDR writer thread died; it is started again, and the records wait');
    if (this.state.up) this.setState({ up: false, since: new Date(), reason });
    else this.setState({ ...this.state, reason });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.restarts++;
      this.spawn();
    }, delay);
  }

  private setState(state: WriterState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }

  private request(msg: ToWriter, closing = false): Promise<FromWriter> {
    if (this.closed && !closing) return Promise.reject(new CdrWriterDownError('the service is stopping'));
    const worker = this.worker;
    if (!this.state.up || !worker) return Promise.reject(new CdrWriterDownError(this.unavailable ?? 'the writer thread is starting'));
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id });
    });
  }
}
