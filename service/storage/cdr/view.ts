import type { Cdr } from '../../../shared/api/cdr.js';
import type { Logger } from '../../logger.js';
import type { VersionedDoc } from '../changelog/core/merge.js';
import { bodyTextOf, type WriteAheadView } from '../changelog/log.js';
import { mergeRecords } from './winner.js';

/** The kind of the change log's entries that carry call records (kinds.ts). */
export const CDR_KIND = 'cdr';

/** What the view writes into: the CDR store's writer thread (CdrWriterThread), or a stand-in in a test. */
export interface CdrInserter {
  /** writes the records not stored yet; resolves with the ids written now; `permanent` on a rejection that can never succeed */
  insert(cdrs: Cdr[], opts: { durable: boolean }): Promise<string[]>;
  /**
   * the same, for records given as their JSON text: what the log stored, serialized once, which
   * costs the sending thread less than a structured copy of the object
   */
  insertTexts?(texts: string[], opts: { durable: boolean }): Promise<string[]>;
  /** why the store cannot take records now (its thread is down), or undefined */
  readonly unavailable: string | undefined;
  whenAvailable(): Promise<void>;
  /** makes what was inserted survive a power loss */
  sync?(): Promise<void>;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * The CDR store as a write-ahead view of the change log: a finished call's record is a `cdr`
 * entry, committed with the journal's finish of its dialogs; the log hands each group's records
 * to this view after the commit, and the view writes them into the store in one insert. The store
 * keeps one record per id, the winner by winner.ts (a call's record rebuilt from the union of its
 * events replaces the partial ones), so replaying entries changes nothing and every site's store,
 * given the same entries in any order, holds the same records. Its position in the log is saved only after `sync` made the store's inserts
 * durable, and at start the log re-applies what came after it.
 *
 * A batch the store cannot take now (its thread is down, or another temporary error) is sent
 * again until it goes in, and the records behind it wait: `backlog` counts them, and the
 * callstore holds its acknowledgements while it is large or while `failing`. Only a batch the
 * store calls malformed is given up (logged; the next start tries it again from the log).
 */
export class CdrStoreView implements WriteAheadView {
  readonly name = 'cdr-store';
  readonly kinds = [CDR_KIND] as const;
  private waiting = 0;
  private failure: string | undefined;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private retryDelayMs = RETRY_MIN_MS;
  private readonly progressListeners = new Set<() => void>();
  private readonly writtenListeners = new Set<(cdr: Cdr) => void>();

  constructor(
    private readonly store: CdrInserter,
    private readonly log?: Logger,
  ) {}

  /** records committed in the log and not written to the store yet */
  get backlog(): number {
    return this.waiting;
  }

  /** why the last write failed, until one succeeds */
  get failing(): string | undefined {
    return this.failure;
  }

  get unavailable(): string | undefined {
    return this.store.unavailable;
  }

  whenAvailable(): Promise<void> {
    return this.store.whenAvailable();
  }

  /** Called whenever the backlog or the failure changes. */
  onProgress(listener: () => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /** Called with each record the store wrote now (new, or replacing the one it held; not one it held already or that lost to it). */
  onWritten(listener: (cdr: Cdr) => void): () => void {
    this.writtenListeners.add(listener);
    return () => this.writtenListeners.delete(listener);
  }

  queued(count: number): void {
    this.waiting += count;
    this.notify();
  }

  apply(version: VersionedDoc): Promise<void> {
    return this.applyMany([version]);
  }

  async applyMany(versions: readonly VersionedDoc[]): Promise<void> {
    const cdrs = versions.map((v) => v.body as Cdr);
    const texts = this.store.insertTexts ? versions.map((v) => bodyTextOf(v) ?? JSON.stringify(v.body)) : undefined;
    try {
      for (;;) {
        try {
          const ids = texts && this.store.insertTexts ? await this.store.insertTexts(texts, { durable: false }) : await this.store.insert(cdrs, { durable: false });
          const written = new Set(ids);
          this.succeeded();
          // of several versions of an id in the batch, the store wrote the winner
          const winners = new Map<string, Cdr>();
          for (const cdr of cdrs) {
            if (!written.has(cdr.id)) continue;
            const other = winners.get(cdr.id);
            winners.set(cdr.id, other ? mergeRecords(other, cdr) : cdr);
          }
          for (const cdr of winners.values()) for (const l of this.writtenListeners) l(cdr);
          return;
        } catch (err) {
          if ((err as { permanent?: unknown }).permanent === true) {
            this.log?.error({ err, records: cdrs.length }, 'call records refused by the CDR store; they stay in the change log and are tried again at the next start');
            throw err;
          }
          if (this.stopped) throw err;
          await this.waitToRetry(err);
          if (this.stopped) throw err;
        }
      }
    } finally {
      // records replayed at start were never counted as queued
      this.waiting = Math.max(0, this.waiting - cdrs.length);
      this.notify();
    }
  }

  /** A rebuild: the records of the log, applied like any (the store keeps what it has). */
  load(versions: readonly VersionedDoc[]): Promise<void> {
    return versions.length ? this.applyMany(versions) : Promise.resolve();
  }

  /**
   * Records stored before the change log are not adopted into it (a million rows would be
   * appended at the first start): they stay in the store as they are, and the store counts as
   * current from the log's first `cdr` entry on.
   */
  async contents(): Promise<{ kind: string; key: string; body: unknown }[]> {
    return [];
  }

  async sync(): Promise<void> {
    await this.store.sync?.();
  }

  /** At shutdown: a batch waiting to be sent again gives up (it stays after the saved position, and is written at the next start). */
  stop(): void {
    this.stopped = true;
    this.wakeUp?.();
  }

  private succeeded(): void {
    this.retryDelayMs = RETRY_MIN_MS;
    if (this.failure === undefined) return;
    this.failure = undefined;
    this.log?.info({ records: this.waiting }, 'call records are written again');
  }

  /** Until the store's thread runs again, or for a growing delay after another error; stop() cuts it short. */
  private async waitToRetry(err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    if (this.failure === undefined) this.log?.warn({ err, records: this.waiting }, 'call records could not be written; they are kept in the change log and sent again');
    this.failure = message;
    this.notify();
    const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
    if (this.store.unavailable !== undefined) {
      await Promise.race([this.store.whenAvailable(), woken]);
    } else {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, this.retryDelayMs))), woken]);
      clearTimeout(timer);
      this.retryDelayMs = Math.min(RETRY_MAX_MS, this.retryDelayMs * 2);
    }
    this.wakeUp = undefined;
  }

  private notify(): void {
    for (const l of this.progressListeners) l();
  }
}
