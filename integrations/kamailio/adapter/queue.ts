import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallEvent } from '../../../shared/api/events.js';
import type { SyncDialog } from '../../../shared/api/sources.js';

/** A dialog list to POST to /sources/{id}/sync at its place in the event stream. */
export interface SyncBarrier {
  kind: 'sync';
  reason: string;
  takenAt: string;
  dialogs: SyncDialog[];
}

export type QueueItem = { kind: 'event'; event: CallEvent } | SyncBarrier;

export interface QueueOptions {
  /** items kept in memory; beyond this they go to the spool (or are dropped without one) */
  maxMemory: number;
  /** directory for overflow segments; null: no spool */
  spoolDir: string | null;
  /** bytes the spool may take */
  maxSpoolBytes: number;
}

export type NextUnsent = { kind: 'events'; events: CallEvent[] } | { kind: 'sync'; barrier: SyncBarrier } | null;

const SEGMENT_ITEMS = 10_000;
const FIRST_SEGMENT = 1_000_000_000_000;
const segName = (n: number) => `seg-${String(n).padStart(16, '0')}.ndjson`;
const segNumber = (name: string) => Number(/^seg-(\d{16})\.ndjson$/.exec(name)?.[1] ?? NaN);

/**
 * The outbound queue: everything received from Kamailio and not yet acknowledged by the
 * appliance, in stream order. The head part has been sent and awaits its acks (acks come in
 * order); on a reconnect it is all sent again (the appliance stores an event id once).
 *
 * Memory holds up to `maxMemory` items; past that, items go to NDJSON segment files in the spool
 * directory (oldest segment first back into memory as the queue drains), up to `maxSpoolBytes`.
 * Past that, new events are dropped and counted: the adapter then resyncs, which restores the
 * active calls (never the events of calls that ended meanwhile). On a graceful stop the memory
 * part is written to the spool too, and a new start picks the spool up.
 */
export class OutboundQueue {
  private items: QueueItem[] = [];
  private head = 0;
  private sent = 0;
  private segments: number[] = [];
  private tailSegment: { n: number; count: number } | null = null;
  private spoolBytes = 0;
  private spooledItems = 0;
  /** events refused for want of room since start */
  dropped = 0;

  constructor(private readonly opts: QueueOptions) {
    if (opts.spoolDir) {
      mkdirSync(opts.spoolDir, { recursive: true });
      this.segments = readdirSync(opts.spoolDir)
        .map(segNumber)
        .filter((n) => Number.isFinite(n))
        .sort((a, b) => a - b);
      for (const n of this.segments) {
        const file = join(opts.spoolDir, segName(n));
        this.spoolBytes += statSync(file).size;
        this.spooledItems += readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
      }
      this.refill();
    }
  }

  /** Items waiting (sent or not), memory and spool. */
  get size(): number {
    return this.memorySize + this.spooledItems;
  }

  get memorySize(): number {
    return this.items.length - this.head;
  }

  get spooled(): number {
    return this.spooledItems;
  }

  /** Items sent and not acknowledged yet. */
  get inFlight(): number {
    return this.sent;
  }

  /** Adds an item at the end. False when there was no room (the item is dropped). */
  push(item: QueueItem): boolean {
    if (this.segments.length === 0 && this.memorySize < this.opts.maxMemory) {
      this.items.push(item);
      return true;
    }
    if (!this.opts.spoolDir) return this.drop(item);
    const line = JSON.stringify(item) + '\n';
    if (this.spoolBytes + line.length > this.opts.maxSpoolBytes) return this.drop(item);
    if (!this.tailSegment || this.tailSegment.count >= SEGMENT_ITEMS || this.segments.at(-1) !== this.tailSegment.n) {
      const n = Math.max(FIRST_SEGMENT, (this.segments.at(-1) ?? 0) + 1);
      this.tailSegment = { n, count: 0 };
      this.segments.push(n);
    }
    appendFileSync(join(this.opts.spoolDir, segName(this.tailSegment.n)), line);
    this.tailSegment.count++;
    this.spoolBytes += line.length;
    this.spooledItems++;
    return true;
  }

  private drop(item: QueueItem): false {
    if (item.kind === 'event') this.dropped++;
    return false;
  }

  /** What to send next: a run of events (up to `max`) or a sync barrier; null when all is sent. */
  nextUnsent(max: number): NextUnsent {
    const start = this.head + this.sent;
    const first = this.items[start];
    if (!first) return null;
    if (first.kind === 'sync') return { kind: 'sync', barrier: first };
    const events: CallEvent[] = [];
    for (let i = start; i < this.items.length && events.length < max; i++) {
      const item = this.items[i] as QueueItem;
      if (item.kind !== 'event') break;
      events.push(item.event);
    }
    return { kind: 'events', events };
  }

  markSent(count: number): void {
    this.sent = Math.min(this.sent + count, this.memorySize);
  }

  /** The appliance took the first `count` sent items: forget them. */
  ack(count: number): void {
    const n = Math.min(count, this.sent);
    for (let i = 0; i < n; i++) this.items[this.head + i] = undefined as unknown as QueueItem;
    this.head += n;
    this.sent -= n;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.refill();
  }

  /** The connection dropped: whatever was sent and not acknowledged goes again. */
  unsendAll(): void {
    this.sent = 0;
  }

  /** Moves spooled segments back into memory while there is room (oldest first). */
  private refill(): void {
    const dir = this.opts.spoolDir;
    while (dir && this.segments.length > 0 && this.memorySize <= this.opts.maxMemory / 2) {
      const n = this.segments.shift() as number;
      const file = join(dir, segName(n));
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          this.items.push(JSON.parse(line) as QueueItem);
        } catch {
          // a torn last line of a crash: skip it
        }
        this.spooledItems = Math.max(0, this.spooledItems - 1);
      }
      this.spoolBytes = Math.max(0, this.spoolBytes - Buffer.byteLength(text));
      if (this.tailSegment?.n === n) this.tailSegment = null;
      unlinkSync(file);
    }
  }

  /** Graceful stop: the items in memory go to the front of the spool. False without a spool. */
  persist(): boolean {
    const dir = this.opts.spoolDir;
    if (!dir) return false;
    if (this.memorySize === 0) return true;
    const n = (this.segments[0] ?? FIRST_SEGMENT) - 1;
    const lines = this.items.slice(this.head).map((i) => JSON.stringify(i) + '\n');
    writeFileSync(join(dir, segName(n)), lines.join(''));
    this.items = [];
    this.head = 0;
    this.sent = 0;
    this.segments.unshift(n);
    return true;
  }
}
