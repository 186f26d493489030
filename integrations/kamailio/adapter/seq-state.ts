import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KamPosition } from './kamailio.js';

interface Saved {
  /** every seq below this may have been used */
  next: number;
  /** the last Kamailio event seen (for counting what was missed across an adapter restart) */
  last: KamPosition | null;
}

/**
 * The source's `seq`: one increasing number per event across restarts of Kamailio and of this
 * adapter. Numbers are reserved on disk a block at a time (so a crash can only skip numbers, never
 * reuse them); a graceful stop records the exact next number. Events Kamailio numbered that never
 * reached us (evapi drops events while nobody is connected) are skipped here too, so the
 * appliance's gap count says how many events it never got.
 */
export class SeqState {
  private next: number;
  private reservedUpTo: number;
  private lastSeen: KamPosition | null;
  private readonly file: string;

  constructor(
    dir: string,
    private readonly block = 10_000,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'seq.json');
    let saved: Saved = { next: 1, last: null };
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<Saved>;
      if (typeof parsed.next === 'number' && Number.isSafeInteger(parsed.next) && parsed.next > 0) saved = { next: parsed.next, last: parsed.last ?? null };
    } catch {
      // first start (or an unreadable file: start over at 1; the appliance then counts reorders, never loses events)
    }
    this.next = saved.next;
    this.lastSeen = saved.last;
    this.reservedUpTo = this.next;
  }

  /** The last Kamailio position this adapter saw (persisted across restarts). */
  get last(): KamPosition | null {
    return this.lastSeen;
  }

  /** Skips `count` numbers: events that were emitted but never received. */
  skip(count: number): void {
    if (count > 0) this.next += count;
  }

  /** The seq for the event at `pos`. */
  take(pos: KamPosition): number {
    if (this.next >= this.reservedUpTo) {
      this.reservedUpTo = this.next + this.block;
      this.write(this.reservedUpTo, pos);
    }
    this.lastSeen = pos;
    return this.next++;
  }

  /** Remembers where Kamailio's numbering stands without taking a seq (a hello). */
  see(pos: KamPosition): void {
    this.lastSeen = pos;
  }

  /** Records the exact next number (graceful stop). */
  close(): void {
    this.write(this.next, this.lastSeen);
  }

  private write(next: number, last: KamPosition | null): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ next, last } satisfies Saved));
    renameSync(tmp, this.file);
  }
}
