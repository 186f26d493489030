import type { LogEntry, SinceVector } from './reader.js';

/** What a tail reads from: the writer's own log, or a read-only ChangeLogReader. */
export interface TailSource {
  since(vector: SinceVector, limit: number): LogEntry[];
  /** the entries of some kinds only, and how far the read went (reader.ts) */
  sinceOfKinds(vector: SinceVector, limit: number, kinds: readonly string[]): { entries: LogEntry[]; through: SinceVector };
  /** present on the writer: new commits wake the tail at once instead of at the next poll */
  onCommit?(listener: () => void): () => void;
}

export interface TailOptions {
  /** where to start: what the reader has already (empty: from the beginning) */
  from: SinceVector;
  /** entries per page: the most the tail holds at once (default 500) */
  pageSize?: number;
  /** how often to look for new entries when nothing wakes it (default 250 ms) */
  pollMs?: number;
  /**
   * only the entries of these kinds (the console's live feed: not the raw events, which come by
   * the thousand a second); the position still moves past the others
   */
  kinds?: readonly string[];
}

/**
 * Follows the log from a position, page by page, for as long as it is open: the console's live
 * feed and the replication sender read this way. It holds one page at a time (bounded memory,
 * however far behind the reader is); `position` is what the pages taken so far cover, and a
 * reader that saves it with what it did with them resumes after a restart without a loss or a
 * repeat. Entries come in order per origin and gapless (a compacted position throws
 * LogCompactedError: the reader starts again from a snapshot).
 */
export class LogTail implements AsyncIterable<LogEntry[]> {
  private pos: SinceVector;
  private readonly pageSize: number;
  private readonly pollMs: number;
  private readonly kinds: readonly string[] | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    private readonly source: TailSource,
    opts: TailOptions,
  ) {
    this.pos = { ...opts.from };
    this.pageSize = opts.pageSize ?? 500;
    this.pollMs = opts.pollMs ?? 250;
    this.kinds = opts.kinds;
    this.unsubscribe = source.onCommit?.(() => this.wake?.());
  }

  get position(): SinceVector {
    return { ...this.pos };
  }

  /** The next page (at least one entry), waiting for one if need be; [] once closed. */
  async next(): Promise<LogEntry[]> {
    while (!this.closed) {
      if (this.kinds) {
        const { entries, through } = this.source.sinceOfKinds(this.pos, this.pageSize, this.kinds);
        const moved = Object.keys(through).some((o) => through[o] !== this.pos[o]);
        this.pos = through;
        if (entries.length) return entries;
        if (moved) {
          // passed over entries of other kinds: read on, after letting the event loop run
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        await this.waitForCommit();
        continue;
      }
      const page = this.source.since(this.pos, this.pageSize);
      if (page.length) {
        for (const e of page) {
          const have = this.pos[e.origin] ?? 0;
          if (e.seq !== have + 1) throw new Error(`change log tail: ${e.origin}#${e.seq} does not follow ${have}`);
          this.pos[e.origin] = e.seq;
        }
        return page;
      }
      await this.waitForCommit();
    }
    return [];
  }

  /** Until a commit wakes it, the poll interval passes, or it is closed. */
  private waitForCommit(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.pollMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LogEntry[]> {
    for (;;) {
      const page = await this.next();
      if (page.length === 0) return;
      yield page;
    }
  }
}

