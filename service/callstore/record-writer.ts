import type { Cdr } from '../../shared/api/cdr.js';
import type { HealthReporter } from '../health.js';
import type { Logger } from '../logger.js';

/** Where finished calls' records go: the CDR store (idempotent per id). */
export interface CdrWriter {
  /**
   * Writes the records whose id is not stored yet; resolves, once committed (and fsync'd when
   * durable), with the ids written now. Rejects with `permanent: true` for a batch that can never
   * be stored; any other rejection is temporary.
   */
  insert(cdrs: Cdr[], opts: { durable: boolean }): Promise<string[]>;
  /** why the store cannot take records now (its thread is down), or undefined when it can */
  readonly unavailable: string | undefined;
  /** resolves when the store can take records again */
  whenAvailable(): Promise<void>;
}

/** A finished call handed to the writer: its record (if one is built) and the dialogs it frees. */
export interface FinishedCall {
  cdr: Cdr | undefined;
  /** whether cdr_mode / cdr_aggregation want the record stored */
  wanted: boolean;
  callIds: Set<string>;
}

export interface RecordWriterDeps {
  cdrs: CdrWriter;
  /** the dialogs of calls whose records are committed leave the journal's active set */
  finish(callIds: string[]): void;
  /** a record stored now (not before) */
  written(cdr: Cdr): void;
  /** finished calls not handed over yet (the settle queue): they count toward the backlog */
  queued(): number;
  /** false once the instance stopped: nobody waits for the backlog then */
  running(): boolean;
  /** whether records must be fsync'd before their dialogs leave the active set (state_save transactional) */
  durable(): boolean;
  /** the name /healthz shows when records cannot be written */
  component: string;
  health?: HealthReporter | undefined;
  log: Logger;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * Writes the records of finished calls to the CDR store, batched, and only then takes their
 * dialogs out of the journal's active set: a crash in between replays the calls on restart, and
 * the CDR store's idempotence keeps the record single. It also holds ingestion (belowBacklog) while
 * records pile up faster than the store takes them, and while the store cannot take them at all.
 *
 * A batch the store could not take stays first in line and is sent again (after the store's
 * thread is back, or after a delay for other errors): no record is given up while the instance
 * runs. Only a batch the store calls malformed is set aside; its dialogs stay active in the
 * journal, so the next start tries it again.
 */
export class RecordWriter {
  /** records of calls finished in this turn of the event loop, written together on the next */
  private pending: FinishedCall[] = [];
  /** per dialog, the records not committed yet that name it: those dialogs must stay active */
  private readonly unwritten = new Map<string, number>();
  private scheduled = false;
  private busy = false;
  /** the last write failed: hold the acks until one succeeds */
  private failing: string | undefined;
  private retryDelayMs = RETRY_MIN_MS;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private drainWaiters: { limit: number; resolve: () => void }[] = [];
  /** the record writes under way, in order: close() waits for them */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: RecordWriterDeps) {}

  add(call: FinishedCall): void {
    for (const id of call.callIds) this.unwritten.set(id, (this.unwritten.get(id) ?? 0) + 1);
    this.pending.push(call);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.write());
    }
  }

  /** Whether a record naming this dialog waits to be committed (the dialog must stay active until then). */
  holds(callId: string): boolean {
    return this.unwritten.has(callId);
  }

  /**
   * Writes what is pending and waits for it, up to `graceMs` when the store cannot take it; what
   * is left then stays active in the journal and is written at the next start.
   */
  async close(graceMs: number): Promise<void> {
    this.write();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.writing, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.stop();
    this.releaseWaiters();
    const unwritten = this.pending.length + (this.busy ? 1 : 0);
    if (unwritten) this.deps.log.warn({ batches: unwritten }, 'call records not written before the stop; their calls stay in the journal and are written at the next start');
    this.deps.health?.recover(this.deps.component);
  }

  /** Records finished but not yet written: the backlog behind the CDR store. */
  get backlog(): number {
    return this.pending.length + this.deps.queued();
  }

  /**
   * Resolves when records can be written and the backlog is below `limit`: ingestion waits here
   * (holding the acks) rather than let records pile up in memory when the store is slower than
   * the sources, or cannot take them at all.
   */
  belowBacklog(limit: number): Promise<void> {
    if (!this.stopped && this.deps.cdrs.unavailable !== undefined) return this.deps.cdrs.whenAvailable().then(() => this.belowBacklog(limit));
    if (!this.mustWait(limit)) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ limit, resolve }));
  }

  private mustWait(limit: number): boolean {
    return this.deps.running() && !this.stopped && (this.failing !== undefined || this.backlog >= limit);
  }

  private stop(): void {
    this.stopped = true;
    this.wakeUp?.();
  }

  private releaseWaiters(): void {
    for (const w of this.drainWaiters) w.resolve();
    this.drainWaiters = [];
  }

  private write(): void {
    this.scheduled = false;
    if (this.busy || this.stopped || this.pending.length === 0) return;
    this.busy = true;
    this.writing = this.drain().finally(() => {
      this.busy = false;
      this.notifyDrained();
    });
  }

  /**
   * Writes what has accumulated, then what accumulated meanwhile, until nothing is left: under
   * load the batches grow by themselves, and one large transaction costs the store far less than
   * many small ones.
   */
  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.stopped) {
      const batch = this.pending;
      this.pending = [];
      const cdrs = batch.filter((r) => r.wanted && r.cdr).map((r) => r.cdr as Cdr);
      try {
        const written = new Set(cdrs.length ? await this.deps.cdrs.insert(cdrs, { durable: this.deps.durable() }) : []);
        this.succeeded();
        for (const cdr of cdrs) if (written.has(cdr.id)) this.deps.written(cdr);
        const freed = batch.flatMap((r) => [...r.callIds]);
        if (this.deps.running()) this.deps.finish(freed);
        for (const id of freed) this.release(id);
      } catch (err) {
        if ((err as { permanent?: unknown }).permanent === true) {
          // Its dialogs stay active in the journal (and held here, so no straggler frees them): the next start tries again.
          this.deps.log.error({ err, calls: batch.length }, 'call records refused by the CDR store; their calls are kept for the next start');
        } else {
          this.pending = batch.concat(this.pending);
          await this.waitToRetry(err);
        }
      }
      this.notifyDrained();
    }
  }

  private release(callId: string): void {
    const n = (this.unwritten.get(callId) ?? 1) - 1;
    if (n > 0) this.unwritten.set(callId, n);
    else this.unwritten.delete(callId);
  }

  private succeeded(): void {
    this.retryDelayMs = RETRY_MIN_MS;
    if (this.failing === undefined) return;
    this.failing = undefined;
    this.deps.health?.recover(this.deps.component);
    this.deps.log.info({ calls: this.pending.length }, 'call records are written again');
  }

  /** Until the store's thread runs again, or for a growing delay after another error; stop() cuts it short. */
  private async waitToRetry(err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    if (this.failing === undefined) this.deps.log.warn({ err, calls: this.pending.length }, 'call records could not be written; they are kept and sent again, and acknowledgements wait');
    this.failing = message;
    const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
    if (this.deps.cdrs.unavailable !== undefined) {
      // The thread's own health entry says why; this one says what it holds up.
      this.deps.health?.degrade(this.deps.component, `${this.pending.length} call records wait for the CDR store; events are acknowledged once they are written`);
      await Promise.race([this.deps.cdrs.whenAvailable(), woken]);
    } else {
      this.deps.health?.degrade(this.deps.component, `call records cannot be written (${message}); retrying, events are acknowledged once they are written`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, this.retryDelayMs))), woken]);
      clearTimeout(timer);
      this.retryDelayMs = Math.min(RETRY_MAX_MS, this.retryDelayMs * 2);
    }
    this.wakeUp = undefined;
  }

  private notifyDrained(): void {
    this.drainWaiters = this.drainWaiters.filter((w) => {
      if (this.mustWait(w.limit)) return true;
      w.resolve();
      return false;
    });
  }
}
