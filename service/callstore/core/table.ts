import { CallFolder, callIdOf, compareEvents, type CallFold, type CoreEvent } from './call.js';

/** One call as the table holds it: its events in order and the fold of them. */
export interface CallBucket {
  readonly key: number;
  events: CoreEvent[];
  callIds: Set<string>;
  refs: Set<string>;
  /** folds the call's events; `fold` is its result */
  folder: CallFolder;
  fold: CallFold;
  /** events acknowledged but left out of the fold past MAX_EVENTS_PER_CALL */
  leftOut: number;
  /** the public id (callRef of the first invited leg); changes when an earlier leg turns up */
  id: string;
  /** arrival time (the table's clock) of the last event: call_timeout counts from here */
  lastActivityMs: number;
}

export interface AddResult {
  bucket: CallBucket;
  /** ids under which the call was known before this event, if its id changed or calls merged */
  retiredIds: string[];
}

/**
 * How many events one call folds in full: a runaway source must not grow memory without bound.
 * Past it a call takes only what changes how it stands (see CallTable.admits); past
 * MAX_EVENTS_PER_CALL_HARD only what ends or answers a dialog it already has, so it still finishes.
 */
export const MAX_EVENTS_PER_CALL = 10_000;
export const MAX_EVENTS_PER_CALL_HARD = 2 * MAX_EVENTS_PER_CALL;

/**
 * The active calls of one callstore instance, pure and synchronous: events are grouped into calls
 * by callId, by callRef and by `link` events (transitively: linking two calls merges them).
 * Each change refolds the call from its events, so arrival order never matters.
 */
export class CallTable {
  private nextKey = 1;
  private readonly buckets = new Map<number, CallBucket>();
  private readonly byCallId = new Map<string, CallBucket>();
  private readonly byRef = new Map<string, CallBucket>();
  private readonly byId = new Map<string, CallBucket>();

  get size(): number {
    return this.buckets.size;
  }

  calls(): IterableIterator<CallBucket> {
    return this.buckets.values();
  }

  get(id: string): CallBucket | undefined {
    return this.byId.get(id);
  }

  byDialog(callId: string): CallBucket | undefined {
    return this.byCallId.get(callId);
  }

  /** Adds an event (a duplicate id is ignored by the fold) and returns the call it belongs to. */
  add(e: CoreEvent, nowMs: number): AddResult {
    const related = new Set<CallBucket>();
    const own = this.byCallId.get(e.callId);
    if (own) related.add(own);
    if (e.callRef) {
      const b = this.byRef.get(e.callRef);
      if (b) related.add(b);
    }
    if (e.type === 'link' && e.otherCallId) {
      const b = this.byCallId.get(e.otherCallId) ?? this.byRef.get(e.otherCallId);
      if (b) related.add(b);
    }

    const retiredIds: string[] = [];
    let bucket: CallBucket;
    if (related.size === 0) {
      const folder = new CallFolder();
      bucket = { key: this.nextKey++, events: [], callIds: new Set(), refs: new Set(), folder, fold: folder.fold, leftOut: 0, id: '', lastActivityMs: nowMs };
      this.buckets.set(bucket.key, bucket);
    } else {
      const [first, ...others] = [...related].sort((a, b) => a.key - b.key);
      bucket = first as CallBucket;
      for (const other of others) {
        retiredIds.push(other.id);
        this.absorb(bucket, other);
      }
      // merged calls are folded again from the start, before the event is weighed against them
      if (others.length > 0) this.refoldFromTheStart(bucket);
    }

    // An event that sorts after the others is folded on; one that sorts earlier refolds the call.
    let refoldAll = false;
    if (!this.admits(bucket, e)) bucket.leftOut++;
    else if (insertSorted(bucket.events, e)) {
      if (bucket.folder.takesNext(e)) bucket.folder.add(e);
      else refoldAll = true;
    }
    bucket.callIds.add(e.callId);
    this.byCallId.set(e.callId, bucket);
    if (e.callRef) {
      bucket.refs.add(e.callRef);
      this.byRef.set(e.callRef, bucket);
    }
    if (e.type === 'link' && e.otherCallId && !this.byCallId.has(e.otherCallId)) {
      // The other dialog's events may still come: they must land in this call.
      bucket.callIds.add(e.otherCallId);
      this.byCallId.set(e.otherCallId, bucket);
    }
    bucket.lastActivityMs = Math.max(bucket.lastActivityMs, nowMs);
    this.refold(bucket, retiredIds, refoldAll);
    return { bucket, retiredIds };
  }

  /**
   * Whether a call folds this event. Every event is, up to MAX_EVENTS_PER_CALL. Past it, what
   * floods a call (provisional replies, holds, a resume with no hold open) is left out, and what
   * makes the record (invites, answers, ends, failures, cancels, links) is still folded; past the
   * hard limit, only the events that change a dialog the call already has: its first end, its
   * answer, the resume of a hold still open. Those are a few per dialog, so memory stays bounded
   * while every dialog can still end and the call finish with the right record. The left-out
   * events stay in the journal (acknowledged) and the record counts them in its anomalies.
   */
  private admits(bucket: CallBucket, e: CoreEvent): boolean {
    const count = bucket.events.length;
    if (count < MAX_EVENTS_PER_CALL) return true;
    const leg = bucket.folder.leg(e.callId);
    if (e.type === 'resume') return leg?.openHolds.has(e.by ?? 'caller') ?? false;
    if (e.type === 'progress' || e.type === 'hold') return false;
    if (count < MAX_EVENTS_PER_CALL_HARD) return true;
    if (!leg) return false;
    switch (e.type) {
      case 'answer':
        return leg.winner === null || e.reconstructed === true;
      case 'end':
      case 'fail':
        return leg.state !== 'terminated';
      case 'cancel':
        return leg.state !== 'terminated' && leg.answeredAt === null;
      default:
        return false;
    }
  }

  remove(bucket: CallBucket): void {
    this.buckets.delete(bucket.key);
    for (const id of bucket.callIds) if (this.byCallId.get(id) === bucket) this.byCallId.delete(id);
    for (const ref of bucket.refs) if (this.byRef.get(ref) === bucket) this.byRef.delete(ref);
    if (this.byId.get(bucket.id) === bucket) this.byId.delete(bucket.id);
  }

  private absorb(into: CallBucket, other: CallBucket): void {
    for (const e of other.events) insertSorted(into.events, e);
    into.leftOut += other.leftOut;
    for (const id of other.callIds) {
      into.callIds.add(id);
      this.byCallId.set(id, into);
    }
    for (const ref of other.refs) {
      into.refs.add(ref);
      this.byRef.set(ref, into);
    }
    into.lastActivityMs = Math.max(into.lastActivityMs, other.lastActivityMs);
    if (this.byId.get(other.id) === other) this.byId.delete(other.id);
    this.buckets.delete(other.key);
  }

  private refoldFromTheStart(bucket: CallBucket): void {
    bucket.folder = new CallFolder();
    for (const e of bucket.events) bucket.folder.add(e);
    bucket.fold = bucket.folder.fold;
  }

  private refold(bucket: CallBucket, retiredIds: string[], fromTheStart: boolean): void {
    if (fromTheStart) this.refoldFromTheStart(bucket);
    bucket.fold.leftOut = bucket.leftOut;
    const id = callIdOf(bucket.fold);
    if (id !== bucket.id) {
      if (bucket.id && this.byId.get(bucket.id) === bucket) {
        this.byId.delete(bucket.id);
        retiredIds.push(bucket.id);
      }
      bucket.id = id;
    }
    this.byId.set(id, bucket);
    const stillRetired = retiredIds.filter((r) => r !== id);
    retiredIds.length = 0;
    retiredIds.push(...stillRetired);
  }
}

/** Inserts in (ts, seq, id) order; false when it is there already. */
function insertSorted(events: CoreEvent[], e: CoreEvent): boolean {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareEvents(events[mid] as CoreEvent, e) <= 0) lo = mid + 1;
    else hi = mid;
  }
  if (events[lo - 1]?.id === e.id) return false;
  if (lo === events.length) events.push(e);
  else events.splice(lo, 0, e);
  return true;
}
