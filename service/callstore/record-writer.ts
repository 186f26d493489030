import type { Cdr } from '../../shared/api/cdr.js';
import type { Logger } from '../logger.js';

/** Where finished calls' records go: the CDR store (idempotent per id). */
export interface CdrWriter {
  /** writes the records whose id is not stored yet; resolves, once committed, with the ids written */
  insert(cdrs: Cdr[]): Promise<string[]>;
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
  log: Logger;
}

/**
 * Writes the records of finished calls to the CDR store, batched, and only then takes their
 * dialogs out of the journal's active set: a crash in between replays the calls on restart, and
 * the CDR store's idempotence keeps the record single. It also holds ingestion (belowBacklog) while
 * records pile up faster than the store takes them.
 */
export class RecordWriter {
  /** records of calls finished in this turn of the event loop, written together on the next */
  private pending: FinishedCall[] = [];
  private scheduled = false;
  private busy = false;
  private drainWaiters: { limit: number; resolve: () => void }[] = [];
  /** the record writes under way, in order: stop() waits for them */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: RecordWriterDeps) {}

  add(call: FinishedCall): void {
    this.pending.push(call);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.write());
    }
  }

  /** Writes what is pending now and resolves when every write under way is done. */
  async flush(): Promise<void> {
    this.write();
    await this.writing;
  }

  /** Lets go of everyone waiting for the backlog (the instance stops). */
  releaseWaiters(): void {
    for (const w of this.drainWaiters) w.resolve();
    this.drainWaiters = [];
  }

  /** Records finished but not yet written: the backlog behind the CDR store. */
  get backlog(): number {
    return this.pending.length + this.deps.queued();
  }

  /**
   * Resolves when the backlog is below `limit`: ingestion waits here (holding the acks) rather
   * than let records pile up in memory when the store is slower than the sources.
   */
  belowBacklog(limit: number): Promise<void> {
    if (this.backlog < limit) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ limit, resolve }));
  }

  private write(): void {
    this.scheduled = false;
    if (this.busy || this.pending.length === 0) return;
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
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const cdrs = batch.filter((r) => r.wanted && r.cdr).map((r) => r.cdr as Cdr);
      try {
        const written = new Set(cdrs.length ? await this.deps.cdrs.insert(cdrs) : []);
        for (const cdr of cdrs) if (written.has(cdr.id)) this.deps.written(cdr);
        if (this.deps.running()) this.deps.finish(batch.flatMap((r) => [...r.callIds]));
      } catch (err) {
        // The calls stay active in the journal: the next start replays them and writes their records.
        this.deps.log.error({ err, calls: batch.length }, 'call records could not be written; they are kept for the next start');
      }
      this.notifyDrained();
    }
  }

  private notifyDrained(): void {
    this.drainWaiters = this.drainWaiters.filter((w) => {
      if (this.backlog >= w.limit && this.deps.running()) return true;
      w.resolve();
      return false;
    });
  }
}
