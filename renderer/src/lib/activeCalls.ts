/**
 * The active calls, kept live: loaded from GET /api/v1/calls (page after page, by cursor) when the
 * live feed is (re)connected, then changed by the feed's batches. One store for the Active calls
 * page, alive while it is shown (and a little after). The dashboard needs the count only: it has a
 * store of its own below, that asks for the total and nothing else.
 *
 * Each live batch becomes ONE new snapshot (one render), and calls a batch does not touch keep
 * their object identity, so memoised rows of unchanged calls do not render again.
 */
import { useSyncExternalStore } from 'react';
import type { ActiveCall } from '../../../shared/api/cdr.js';
import type { LiveChange } from '../../../shared/api/live.js';
import { isAbort, toApiError, type ApiError } from '../api/client.js';
import { listCalls } from '../api/endpoints.js';
import { liveFeed } from './live.js';

export interface ActiveCallsSnapshot {
  /** by call id; replaced (never mutated) on every change */
  calls: ReadonlyMap<string, ActiveCall>;
  /** the list has been loaded at least once */
  loaded: boolean;
  loading: boolean;
  /** the last load failed (the calls shown, if any, are from before) */
  error: ApiError | undefined;
  /** when the list was last loaded (ms) */
  loadedAt: number | undefined;
  /** ids of calls that ended since this store started, with when (ms): the detail panel says so */
  ended: ReadonlyMap<string, number>;
}

/** Without a live connection after this long, load the list anyway (and reload once it connects). */
const OFFLINE_LOAD_AFTER_MS = 3000;
/** Calls per request while the list loads: about 1 MB of JSON, well under the service's maximum. */
const LOAD_PAGE = 2000;
const ENDED_KEPT = 500;

function isActiveCall(doc: unknown): doc is ActiveCall {
  return typeof doc === 'object' && doc !== null && 'id' in doc && typeof doc.id === 'string' && 'state' in doc;
}

class ActiveCallsStore {
  private snapshot: ActiveCallsSnapshot = { calls: new Map(), loaded: false, loading: false, error: undefined, loadedAt: undefined, ended: new Map() };
  private readonly listeners = new Set<() => void>();
  private unsubscribeLive: (() => void) | null = null;
  private controller: AbortController | null = null;
  /** changes that arrived while a load was in flight: applied on top of its answer */
  private buffered: LiveChange[] | null = null;
  private offlineTimer: number | undefined;
  private stopTimer: number | undefined;

  getSnapshot = (): ActiveCallsSnapshot => this.snapshot;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    window.clearTimeout(this.stopTimer);
    if (!this.unsubscribeLive) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        // Moving between the dashboard and the calls page keeps the store (and its data) alive.
        window.clearTimeout(this.stopTimer);
        this.stopTimer = window.setTimeout(() => this.stop(), 5000);
      }
    };
  };

  /** Loads the list again now (the Retry button). */
  reload = (): void => {
    void this.load();
  };

  private start(): void {
    this.unsubscribeLive = liveFeed.subscribe({
      collections: ['calls'],
      onChanges: (changes) => this.apply(changes),
      onSync: () => void this.load(),
    });
    this.offlineTimer = window.setTimeout(() => {
      if (!this.snapshot.loaded && !this.snapshot.loading) void this.load();
    }, OFFLINE_LOAD_AFTER_MS);
  }

  private stop(): void {
    this.unsubscribeLive?.();
    this.unsubscribeLive = null;
    this.controller?.abort();
    this.controller = null;
    this.buffered = null;
    window.clearTimeout(this.offlineTimer);
    this.snapshot = { calls: new Map(), loaded: false, loading: false, error: undefined, loadedAt: undefined, ended: new Map() };
  }

  private set(patch: Partial<ActiveCallsSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const l of this.listeners) l();
  }

  private async load(): Promise<void> {
    window.clearTimeout(this.offlineTimer);
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.buffered = [];
    this.set({ loading: true });
    try {
      const calls = new Map<string, ActiveCall>();
      let cursor: string | undefined;
      do {
        const page = await listCalls({ limit: LOAD_PAGE, ...(cursor !== undefined ? { cursor } : {}) }, controller.signal);
        if (controller.signal.aborted) return;
        for (const c of page.items) calls.set(c.id, c);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      const pending = this.buffered ?? [];
      this.buffered = null;
      this.controller = null;
      // A change that came while the pages loaded may be older than a page fetched after it.
      this.set({ calls: applyChanges(calls, pending, new Map(this.snapshot.ended), { keepNewer: true }).calls, loaded: true, loading: false, error: undefined, loadedAt: Date.now() });
    } catch (err) {
      if (controller.signal.aborted || isAbort(err)) return;
      this.buffered = null;
      this.controller = null;
      this.set({ loading: false, error: toApiError(err) });
    }
  }

  private apply(changes: LiveChange[]): void {
    if (this.buffered) {
      this.buffered.push(...changes);
      return;
    }
    if (!this.snapshot.loaded) return;
    const { calls, ended } = applyChanges(new Map(this.snapshot.calls), changes, this.snapshot.ended);
    this.set({ calls, ended });
  }
}

/**
 * Applies live changes to `calls` (mutated and returned); ended ids are remembered in a new map.
 * `keepNewer`: a put does not replace a call that has more events already (a call's events only
 * grow), for changes buffered during a load whose later pages are newer than they are.
 */
function applyChanges(
  calls: Map<string, ActiveCall>,
  changes: readonly LiveChange[],
  endedBefore: ReadonlyMap<string, number>,
  opts: { keepNewer?: boolean } = {},
): { calls: Map<string, ActiveCall>; ended: ReadonlyMap<string, number> } {
  let ended = endedBefore;
  const now = Date.now();
  for (const c of changes) {
    if (c.collection !== 'calls') continue;
    if (c.op === 'delete') {
      if (calls.delete(c.id)) {
        if (ended === endedBefore) ended = new Map(endedBefore);
        (ended as Map<string, number>).set(c.id, now);
      }
    } else if (isActiveCall(c.doc)) {
      const had = opts.keepNewer ? calls.get(c.id) : undefined;
      if (!had || had.eventCount <= c.doc.eventCount) calls.set(c.id, c.doc);
    }
  }
  if (ended !== endedBefore && ended.size > ENDED_KEPT) {
    const m = ended as Map<string, number>;
    for (const key of [...m.keys()].slice(0, m.size - ENDED_KEPT)) m.delete(key);
  }
  return { calls, ended };
}

export const activeCalls = new ActiveCallsStore();

export function useActiveCalls(): ActiveCallsSnapshot {
  return useSyncExternalStore(activeCalls.subscribe, activeCalls.getSnapshot);
}

export interface ActiveCallCount {
  /** the number of active calls; undefined until the first answer */
  total: number | undefined;
  error: ApiError | undefined;
}

/** The count is asked again at most this often while calls change. */
const COUNT_EVERY_MS = 300;

/**
 * The number of active calls, kept live for the dashboard without holding the calls themselves:
 * GET /api/v1/calls?limit=0 (the total only) when the live feed connects, and again shortly after
 * any change of a call.
 */
class ActiveCallCountStore {
  private snapshot: ActiveCallCount = { total: undefined, error: undefined };
  private readonly listeners = new Set<() => void>();
  private unsubscribeLive: (() => void) | null = null;
  private controller: AbortController | null = null;
  private timer: number | undefined;
  private offlineTimer: number | undefined;
  /** a change came while a count was in flight: count again after it */
  private again = false;

  getSnapshot = (): ActiveCallCount => this.snapshot;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    if (!this.unsubscribeLive) {
      this.unsubscribeLive = liveFeed.subscribe({ collections: ['calls'], onChanges: () => this.soon(), onSync: () => void this.count() });
      this.offlineTimer = window.setTimeout(() => {
        if (this.snapshot.total === undefined && !this.controller) void this.count();
      }, OFFLINE_LOAD_AFTER_MS);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size > 0) return;
      this.unsubscribeLive?.();
      this.unsubscribeLive = null;
      this.controller?.abort();
      this.controller = null;
      window.clearTimeout(this.timer);
      window.clearTimeout(this.offlineTimer);
      this.timer = undefined;
      this.snapshot = { total: undefined, error: undefined };
    };
  };

  private soon(): void {
    if (this.controller) {
      this.again = true;
      return;
    }
    this.timer ??= window.setTimeout(() => {
      this.timer = undefined;
      void this.count();
    }, COUNT_EVERY_MS);
  }

  private async count(): Promise<void> {
    window.clearTimeout(this.offlineTimer);
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.again = false;
    try {
      const { total } = await listCalls({ limit: 0 }, controller.signal);
      if (controller.signal.aborted) return;
      this.set({ total, error: undefined });
    } catch (err) {
      if (controller.signal.aborted || isAbort(err)) return;
      this.set({ ...this.snapshot, error: toApiError(err) });
    } finally {
      if (this.controller === controller) this.controller = null;
    }
    if (this.again) this.soon();
  }

  private set(next: ActiveCallCount): void {
    this.snapshot = next;
    for (const l of this.listeners) l();
  }
}

const activeCallCount = new ActiveCallCountStore();

export function useActiveCallCount(): ActiveCallCount {
  return useSyncExternalStore(activeCallCount.subscribe, activeCallCount.getSnapshot);
}
