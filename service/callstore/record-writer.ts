import type { Cdr } from '../../shared/api/cdr.js';
import type { HealthReporter } from '../health.js';
import type { Logger } from '../logger.js';
import type { GroupWriter } from '../storage/changelog/log.js';

/** The kind of the change log's entries that carry call records. */
export const CDR_ENTRY_KIND = 'cdr';

/**
 * The CDR store as the callstore sees it: a write-ahead view of the change log's `cdr` entries
 * (storage/cdr/view.ts), which writes each record some time after its entry committed.
 */
export interface CdrRecords {
  /** records committed in the log and not written to the store yet */
  readonly backlog: number;
  /** why the last write failed, until one succeeds */
  readonly failing: string | undefined;
  /** why the store cannot take records now (its thread is down), or undefined when it can */
  readonly unavailable: string | undefined;
  /** resolves when the store can take records again */
  whenAvailable(): Promise<void>;
  /** called whenever the backlog or the failure changes */
  onProgress(listener: () => void): () => void;
  /** called with each record the store wrote now (not one it held already) */
  onWritten(listener: (cdr: Cdr) => void): () => void;
}

/** A finished call handed to the writer: its record (if one is built) and the dialogs it frees. */
export interface FinishedCall {
  cdr: Cdr | undefined;
  /** whether cdr_mode / cdr_aggregation want the record stored */
  wanted: boolean;
  callIds: Set<string>;
}

export interface RecordWriterDeps {
  cdrs: CdrRecords;
  /**
   * the dialogs of a finished call leave the journal's active set; `also` appends the call's
   * record in the same transaction
   */
  finish(callIds: readonly string[], also: ((writer: GroupWriter) => void) | undefined): void;
  /** a record stored now (not before) */
  written(cdr: Cdr): void;
  /** finished calls not handed over yet (the settle queue): they count toward the backlog */
  queued(): number;
  /** false once the instance stopped: nobody waits for the backlog then */
  running(): boolean;
  /** the name /healthz shows when records cannot be written */
  component: string;
  health?: HealthReporter | undefined;
  log: Logger;
}

/**
 * Writes the records of finished calls: each is a `cdr` entry of the change log, appended in the
 * same transaction as the journal's finish of its dialogs, so a crash never leaves a finished
 * call without its record, nor a record of a call still active. The CDR store is a view of those
 * entries and writes them after the commit; this class holds ingestion (belowBacklog) while
 * records pile up behind the store faster than it takes them, or while it cannot take them at
 * all, and says so on /healthz.
 */
export class RecordWriter {
  private stopped = false;
  private drainWaiters: { limit: number; resolve: () => void }[] = [];
  private readonly unsubscribe: (() => void)[];
  private degraded = false;
  /** ids of the records appended here and not written to the store yet */
  private readonly appended = new Set<string>();
  /** the finished calls of the batch under way (batch), written together at its end */
  private batching: FinishedCall[] | undefined;

  constructor(private readonly deps: RecordWriterDeps) {
    this.unsubscribe = [
      deps.cdrs.onProgress(() => this.progressed()),
      deps.cdrs.onWritten((cdr) => {
        if (this.appended.delete(cdr.id) && !this.stopped) deps.written(cdr);
      }),
    ];
  }

  add(call: FinishedCall): void {
    if (this.batching) this.batching.push(call);
    else this.write([call]);
  }

  /**
   * Runs `fn`, and writes the calls it finished (add) as one write: their dialogs' finish and
   * their records, a few dozen rows per statement, in one savepoint of the group (the settle
   * loop's slice). All of them or none are in the log, as for one call.
   */
  batch<T>(fn: () => T): T {
    if (this.batching) return fn();
    const calls: FinishedCall[] = [];
    this.batching = calls;
    try {
      return fn();
    } finally {
      this.batching = undefined;
      if (calls.length) this.write(calls);
    }
  }

  private write(calls: readonly FinishedCall[]): void {
    const callIds: string[] = [];
    const records: { key: string; body: Cdr; text: string }[] = [];
    for (const call of calls) {
      for (const id of call.callIds) callIds.push(id);
      const cdr = call.wanted ? call.cdr : undefined;
      // serialized once: this text is the entry's body, and what the CDR store's thread is sent
      if (cdr) records.push({ key: cdr.id, body: cdr, text: JSON.stringify(cdr) });
    }
    this.deps.finish(callIds, records.length ? (w) => void w.appendRecords(CDR_ENTRY_KIND, records) : undefined);
    for (const r of records) this.appended.add(r.key);
  }

  /** The records are in the log: nothing is left to write here. Nobody waits for the backlog any more. */
  close(): void {
    this.stopped = true;
    for (const u of this.unsubscribe) u();
    this.releaseWaiters();
    if (this.degraded) this.deps.health?.recover(this.deps.component);
    this.degraded = false;
  }

  /** Records finished but not yet in the store: the backlog behind the CDR store. */
  get backlog(): number {
    return this.deps.cdrs.backlog + this.deps.queued();
  }

  /**
   * Resolves when records can be written and the backlog is below `limit`: ingestion waits here
   * (holding the acks) rather than let records pile up when the store is slower than the
   * sources, or cannot take them at all.
   */
  belowBacklog(limit: number): Promise<void> {
    if (!this.stopped && this.deps.cdrs.unavailable !== undefined) return this.deps.cdrs.whenAvailable().then(() => this.belowBacklog(limit));
    if (!this.mustWait(limit)) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ limit, resolve }));
  }

  private mustWait(limit: number): boolean {
    return this.deps.running() && !this.stopped && (this.deps.cdrs.failing !== undefined || this.backlog >= limit);
  }

  private releaseWaiters(): void {
    for (const w of this.drainWaiters) w.resolve();
    this.drainWaiters = [];
  }

  private progressed(): void {
    this.drainWaiters = this.drainWaiters.filter((w) => {
      if (this.mustWait(w.limit)) return true;
      w.resolve();
      return false;
    });
    const { failing, unavailable, backlog } = this.deps.cdrs;
    if (failing !== undefined && backlog > 0) {
      // The thread's own health entry says why it is down; this one says what it holds up.
      const message = unavailable !== undefined ? `${backlog} call records wait for the CDR store; events are acknowledged once they are written` : `call records cannot be written (${failing}); retrying, events are acknowledged once they are written`;
      this.deps.health?.degrade(this.deps.component, message);
      this.degraded = true;
    } else if (this.degraded) {
      this.deps.health?.recover(this.deps.component);
      this.degraded = false;
    }
  }
}
