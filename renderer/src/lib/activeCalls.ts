/**
 * The active calls, kept live: loaded from GET /api/v1/calls when the live feed is (re)connected,
 * then changed by the feed's batches. One store for the console, shared by the Active calls page
 * and the dashboard, alive while one of them is shown.
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
      const list = await listCalls(controller.signal);
      if (controller.signal.aborted) return;
      const calls = new Map<string, ActiveCall>();
      for (const c of list.items) calls.set(c.id, c);
      const pending = this.buffered ?? [];
      this.buffered = null;
      this.controller = null;
      this.set({ calls: applyChanges(calls, pending, new Map(this.snapshot.ended)).calls, loaded: true, loading: false, error: undefined, loadedAt: Date.now() });
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

/** Applies live changes to `calls` (mutated and returned); ended ids are remembered in a new map. */
function applyChanges(
  calls: Map<string, ActiveCall>,
  changes: readonly LiveChange[],
  endedBefore: ReadonlyMap<string, number>,
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
      calls.set(c.id, c.doc);
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
