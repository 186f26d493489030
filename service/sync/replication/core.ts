import { decodeHlc } from '../../storage/changelog/core/hlc.js';
import { LogCompactedError, type HeldRange, type LogEntry, type SinceVector } from '../../storage/changelog/reader.js';
import type { AckMessage, RefusedMessage, ServedDomains } from '../../../shared/sync/replication.js';
import { REPLICATION_TOPIC } from '../../../shared/sync/replication.js';

/*
 * The replication protocol's core (design section 7), free of I/O: what to send a peer next, read
 * from the log by position, and the state of one direction of a link (what the peer has, what was
 * sent and not acknowledged). The session (session.ts) does the sending, the waiting and the
 * applying; the property test drives this same core with logs and a network of its own.
 */

/** What the sender reads: the change log (or a read-only reader of it), by position, synchronously. */
export interface ReplicationSource {
  head(): SinceVector;
  /** entries of `origin` after `seq`, in order (their seqs jump the ranges held elsewhere); throws LogCompactedError */
  after(origin: string, seq: number, limit: number): LogEntry[];
  heldElsewhere(origin: string, seq: number, limit: number): HeldRange[];
}

/**
 * Which domain an entry's data belongs to: given by the composition root, which knows the kinds'
 * bodies (a CDR's domain, a mailbox's); undefined for data of every site (configuration, users,
 * tokens, a tombstone, whose body is gone).
 */
export type DomainOf = (kind: string, body: unknown) => string | undefined;

export interface BatchLimits {
  /** entries a batch carries at most (filtered-out entries read for it count too, so one read stays short) */
  maxEntries: number;
  /** about how many bytes of bodies a batch carries at most (at least one entry goes) */
  maxBytes: number;
}

export const DEFAULT_LIMITS: BatchLimits = { maxEntries: 1_000, maxBytes: 1024 * 1024 };

export interface PeerFilter {
  /** what the peer serves (its hello) */
  peerServes: ServedDomains;
  /** what this site serves: the ranges it holds elsewhere are passed on only to a peer that serves no more than it */
  selfServes: ServedDomains;
  domainOf: DomainOf;
  /** the peer's own origin: it has all of it, so none of it is sent back (an echo before its ack came) */
  peerOrigin?: string;
}

/** An item of a batch: an entry, or a range of an origin's seqs the peer does not get. */
export type BatchItem = LogEntry | HeldRange;

export const isHeld = (item: BatchItem): item is HeldRange => 'first' in item;

export type ReadResult =
  | {
      kind: 'batch';
      items: BatchItem[];
      /** entries among the items */
      entries: number;
      /** the position the batch brings the peer to (what it covers, held ranges included) */
      through: SinceVector;
      /** the stamp of the oldest entry in it (for the lag in ms) */
      oldestHlc: string | undefined;
      /** origins that stop before a range this site holds elsewhere the peer may want */
      blocked: string[];
    }
  | { kind: 'compacted'; origin: string; base: number };

/** A served list as a set of normalized domains, built once per list (the sender asks for every entry it reads). */
const servedSets = new WeakMap<readonly string[], Set<string>>();

function servedSet(served: readonly string[]): Set<string> {
  let set = servedSets.get(served);
  if (!set) servedSets.set(served, (set = new Set(served.map(normalizedDomain))));
  return set;
}

/** Domains compare case-insensitively, a trailing dot ignored (as the configuration's partitioning does). */
function normalizedDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

/**
 * Whether a site serving `served` takes data of `domain`: a served domain takes its whole subtree
 * (`a.b.example` is under `b.example`, `xb.example` is not), as the configuration's partitioning
 * assigns domains to groups (design section 3). Data without a domain goes to every site.
 */
export function serves(served: ServedDomains, domain: string | undefined): boolean {
  if (domain === undefined || served === 'all') return true;
  if (served.length === 0) return false;
  const set = servedSet(served);
  let d = normalizedDomain(domain);
  for (;;) {
    if (set.has(d)) return true;
    const dot = d.indexOf('.');
    if (dot < 0) return false;
    d = d.slice(dot + 1);
  }
}

/** Whether every domain `peer` serves is served by `self` too, subtrees included (then nothing this site filtered out is of use to the peer). */
export function servesNoMoreThan(peer: ServedDomains, self: ServedDomains): boolean {
  if (self === 'all') return true;
  if (peer === 'all') return false;
  return peer.every((d) => serves(self, d));
}

export function maxVector(a: SinceVector, b: SinceVector): SinceVector {
  const out = { ...a };
  for (const [origin, seq] of Object.entries(b)) if ((out[origin] ?? 0) < seq) out[origin] = seq;
  return out;
}

/** How many seqs `head` holds that `have` lacks. */
export function lagOf(head: SinceVector, have: SinceVector): number {
  let n = 0;
  for (const [origin, seq] of Object.entries(head)) n += Math.max(0, seq - (have[origin] ?? 0));
  return n;
}

/**
 * The next batch for a peer at position `from`: per origin in order, the entries after it that
 * the peer's domains take, and for the rest a held range (consecutive filtered-out entries and
 * the ranges this log itself holds elsewhere merge into one), bounded by `limits`. An origin stops
 * at a range this log holds elsewhere unless the peer serves no more than this site (it could
 * want some of those entries, and only a site that holds them can send them). Throws nothing for
 * a compacted position: that is a `compacted` result (the peer starts from a snapshot).
 */
export function readBatch(source: ReplicationSource, from: SinceVector, filter: PeerFilter, limits: BatchLimits = DEFAULT_LIMITS): ReadResult {
  const items: BatchItem[] = [];
  const through: SinceVector = { ...from };
  const blocked: string[] = [];
  const forwardHeld = servesNoMoreThan(filter.peerServes, filter.selfServes);
  let read = 0;
  let entries = 0;
  let bytes = 0;
  let oldestHlc: string | undefined;
  const head = source.head();
  for (const origin of Object.keys(head).sort()) {
    if (origin === filter.peerOrigin) continue;
    let cursor = from[origin] ?? 0;
    const top = head[origin] ?? 0;
    if (top <= cursor) continue;
    if (read >= limits.maxEntries || bytes >= limits.maxBytes) break;
    let page: LogEntry[];
    try {
      page = source.after(origin, cursor, limits.maxEntries - read);
    } catch (err) {
      if (err instanceof LogCompactedError) return { kind: 'compacted', origin: err.origin, base: err.base };
      throw err;
    }
    const held = source.heldElsewhere(origin, cursor, 64);
    let skip: HeldRange | undefined;
    const skipTo = (last: number) => {
      if (skip) skip.last = last;
      else skip = { origin, first: cursor + 1, last };
      cursor = last;
    };
    const flushSkip = () => {
      if (skip) items.push(skip);
      skip = undefined;
    };
    let i = 0;
    let full = false;
    while (cursor < top) {
      const range = held[0];
      if (range && range.first <= cursor + 1) {
        held.shift();
        if (range.last <= cursor) continue;
        if (!forwardHeld) {
          blocked.push(origin);
          break;
        }
        skipTo(range.last);
        continue;
      }
      const e = page[i];
      if (!e || e.seq !== cursor + 1) break; // the page is used up (or the next range is further on)
      i++;
      read++;
      if (serves(filter.peerServes, filter.domainOf(e.kind, e.body))) {
        flushSkip();
        items.push(e);
        entries++;
        bytes += approximateBytes(e);
        if (oldestHlc === undefined || e.hlc < oldestHlc) oldestHlc = e.hlc;
        cursor = e.seq;
      } else {
        skipTo(e.seq);
      }
      if (read >= limits.maxEntries || bytes >= limits.maxBytes) {
        full = true;
        break;
      }
    }
    flushSkip();
    through[origin] = cursor;
    if (full) break;
  }
  return { kind: 'batch', items, entries, through, oldestHlc, blocked };
}

/** About the size of an entry on the wire: its body as JSON and the fields around it. */
function approximateBytes(e: LogEntry): number {
  return 96 + e.key.length + (e.body === null ? 4 : JSON.stringify(e.body).length);
}

/**
 * Where the peer's log goes on after a snapshot: for each origin compacted past `from`, its base
 * (the documents include everything up to the head; the entries after the base are still here and
 * follow as usual, and merge again to the same versions).
 */
export function snapshotPositions(source: ReplicationSource, from: SinceVector): SinceVector {
  const out: SinceVector = {};
  for (const origin of Object.keys(source.head())) {
    try {
      source.after(origin, from[origin] ?? 0, 1);
    } catch (err) {
      if (err instanceof LogCompactedError) out[origin] = err.base;
      else throw err;
    }
  }
  return out;
}

interface InFlight {
  id: number;
  through: SinceVector;
  entries: number;
  oldestHlc: string | undefined;
}

/**
 * One direction of a link, as the sender sees it: what the peer has (its hello, then its acks),
 * what was sent and not acknowledged yet (at most `window` batches). A new connection starts
 * from the peer's hello, so what was sent and not acknowledged before is sent again (the peer
 * takes entries idempotently by (origin, seq)).
 */
export class SenderState {
  /** what the peer has told it holds */
  peerHave: SinceVector = {};
  private sent: SinceVector = {};
  private readonly inflight: InFlight[] = [];
  private nextId = 1;
  peerServes: ServedDomains | undefined;

  constructor(readonly window: number) {}

  get greeted(): boolean {
    return this.peerServes !== undefined;
  }

  /** The peer's hello: everything sent on an earlier connection and not acknowledged goes again. */
  hello(have: SinceVector, peerServes: ServedDomains): void {
    this.peerHave = { ...have };
    this.sent = { ...have };
    this.inflight.length = 0;
    this.peerServes = peerServes;
  }

  /** The peer serves other domains now (its `serves`): what is read from here on is filtered by them. What was sent stays as sent. */
  servesChanged(peerServes: ServedDomains): void {
    if (this.greeted) this.peerServes = peerServes;
  }

  canSend(): boolean {
    return this.greeted && this.inflight.length < this.window;
  }

  /** Where the next batch starts: after what was sent, or what the peer has from elsewhere if more. */
  get position(): SinceVector {
    return maxVector(this.sent, this.peerHave);
  }

  /** Records a batch as sent; returns its id. */
  sentBatch(through: SinceVector, entries: number, oldestHlc: string | undefined): number {
    const id = this.nextId++;
    this.inflight.push({ id, through: { ...through }, entries, oldestHlc });
    this.sent = maxVector(this.sent, through);
    return id;
  }

  /** A snapshot moves the peer to these positions once it acknowledges it. */
  sentSnapshot(positions: SinceVector): number {
    return this.sentBatch(positions, 0, undefined);
  }

  /** The peer took batch `id` (and those before it); `have` is its log's head now. */
  ack(id: number, have: SinceVector): void {
    while (this.inflight.length && (this.inflight[0] as InFlight).id <= id) this.inflight.shift();
    this.peerHave = maxVector(this.peerHave, have);
  }

  /** The peer could not take a batch: go on from what it has. */
  refused(have: SinceVector): void {
    this.peerHave = { ...have };
    this.sent = { ...have };
    this.inflight.length = 0;
  }

  get unacknowledged(): number {
    return this.inflight.length;
  }

  /** the stamp of the oldest entry sent and not acknowledged */
  get oldestUnackedHlc(): string | undefined {
    for (const b of this.inflight) if (b.oldestHlc) return b.oldestHlc;
    return undefined;
  }
}

/** Milliseconds from an entry's stamp to `now`. */
export function ageOf(hlc: string, now: number): number {
  return Math.max(0, now - decodeHlc(hlc).wall);
}

/** Counts over a sliding window of whole seconds, for the rates the sites page shows. */
export class RateCounter {
  private readonly buckets = new Map<number, number>();
  total = 0;

  constructor(private readonly seconds = 5) {}

  add(n: number, now: number): void {
    const s = Math.floor(now / 1000);
    this.buckets.set(s, (this.buckets.get(s) ?? 0) + n);
    this.total += n;
    for (const k of this.buckets.keys()) if (k <= s - this.seconds) this.buckets.delete(k);
  }

  /** per second over the window ending now (the current second counts as a whole one) */
  rate(now: number): number {
    const s = Math.floor(now / 1000);
    let n = 0;
    for (const [k, v] of this.buckets) if (k > s - this.seconds) n += v;
    return n / this.seconds;
  }
}

/** What the receiver writes into: the change log. */
export interface ReplicationTarget {
  receive(items: readonly BatchItem[]): { accepted: number; applied: Promise<void> };
  head(): SinceVector;
}

/**
 * Takes a batch into the log (one transaction: committed when this returns, or nothing of it) and
 * answers it: an ack with the log's head, or, when the log refuses it (a gap after a lost batch,
 * a stamp too far ahead), `refused` with the head, from which the sender goes on.
 */
export function receiveBatch(target: ReplicationTarget, id: number, items: readonly BatchItem[]): { reply: AckMessage | RefusedMessage; accepted: number; applied: Promise<void> | undefined } {
  try {
    const { accepted, applied } = target.receive(items);
    return { reply: { topic: REPLICATION_TOPIC, type: 'ack', batch: id, have: target.head() }, accepted, applied };
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).slice(0, 500);
    return { reply: { topic: REPLICATION_TOPIC, type: 'refused', batch: id, have: target.head(), reason }, accepted: 0, applied: undefined };
  }
}
