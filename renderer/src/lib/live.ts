/**
 * The console's one connection to the live feed (WebSocket /api/v1/live): opened when a page
 * subscribes, closed a little after the last one leaves, reconnected with backoff when it drops.
 *
 * It keeps the position of the last message (shared/api/live.ts) and reconnects with
 * `?after=<position>`: the service then sends the changes of the positioned collections (those
 * the change log carries) after it, nothing missed and nothing twice, even across a restart.
 *
 * A subscriber gets `onSync` whenever what it shows may have missed changes: when it joins (once
 * the connection is up), after every reconnection if it watches a collection without a position,
 * when the service says `resync` naming a collection it watches (changes of it were not sent:
 * dropped while the console fell behind, or call records past the bound of a resumed
 * connection), and for everyone when it says `reload` (the
 * position could not be resumed). It reloads then; changes that arrive while it reloads are its to
 * buffer (see activeCalls.ts).
 */
import { useSyncExternalStore } from 'react';
import type { LiveChange, LiveMessage, LivePosition } from '../../../shared/api/live.js';
import { currentSession } from '../auth/session.js';

export type LiveState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface LiveSubscriber {
  collections: readonly string[];
  onChanges(changes: LiveChange[]): void;
  onSync(): void;
}

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15_000, 30_000];
/** A connection kept open this long after the last subscriber left: page changes reuse it. */
const LINGER_MS = 10_000;

function isLiveMessage(value: unknown): value is LiveMessage {
  return typeof value === 'object' && value !== null && 'type' in value && typeof value.type === 'string';
}

class LiveFeed {
  private ws: WebSocket | null = null;
  private readonly subscribers = new Set<LiveSubscriber>();
  private readonly stateListeners = new Set<() => void>();
  private state: LiveState = 'closed';
  private attempt = 0;
  private retryTimer: number | undefined;
  private lingerTimer: number | undefined;
  /** the socket said hello: subscribers joining now sync at once */
  private ready = false;
  /** the position of the last message: where a reconnection resumes (null: start from now) */
  private position: LivePosition | null = null;
  /** the collections the service reads by position (from its hello) */
  private positioned: ReadonlySet<string> = new Set();
  /** subscribers that joined while the socket was not ready: they load once it is */
  private readonly joined = new Set<LiveSubscriber>();

  getState = (): LiveState => this.state;

  subscribeState = (listener: () => void): (() => void) => {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  };

  subscribe(subscriber: LiveSubscriber): () => void {
    this.subscribers.add(subscriber);
    if (!this.ready) this.joined.add(subscriber);
    window.clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (!this.ws && this.retryTimer === undefined) this.connect();
    else if (this.ready) queueMicrotask(() => this.subscribers.has(subscriber) && subscriber.onSync());
    return () => {
      this.subscribers.delete(subscriber);
      this.joined.delete(subscriber);
      if (this.subscribers.size === 0) {
        window.clearTimeout(this.lingerTimer);
        this.lingerTimer = window.setTimeout(() => this.close(), LINGER_MS);
      }
    };
  }

  /** Ends the connection now (logout, or nobody is listening). */
  close(): void {
    window.clearTimeout(this.retryTimer);
    window.clearTimeout(this.lingerTimer);
    this.retryTimer = undefined;
    this.lingerTimer = undefined;
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    // Nobody is left to resume for: the next connection starts from now, and its subscribers load.
    this.position = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      ws.close(1000, 'console closed');
    }
    this.attempt = 0;
    this.setState('closed');
  }

  private setState(state: LiveState): void {
    if (this.state === state) return;
    this.state = state;
    for (const l of this.stateListeners) l();
  }

  private connect(): void {
    this.retryTimer = undefined;
    const session = currentSession();
    if (!session || this.subscribers.size === 0) {
      this.setState('closed');
      return;
    }
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const after = this.position ? `&after=${encodeURIComponent(JSON.stringify(this.position))}` : '';
    const resuming = this.position !== null;
    const ws = new WebSocket(`${scheme}//${window.location.host}/api/v1/live?token=${encodeURIComponent(session.token)}${after}`);
    this.ws = ws;
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== 'string') return;
      let msg: unknown;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!isLiveMessage(msg)) return;
      if (msg.position) this.position = msg.position;
      if (msg.type === 'hello') {
        this.ready = true;
        this.attempt = 0;
        this.positioned = new Set(msg.positioned ?? []);
        this.setState('open');
        // Resumed: the positioned changes missed meanwhile follow; the rest must be loaded again.
        this.sync((s) => !resuming || this.joined.has(s) || this.watchesUnpositioned(s));
        this.joined.clear();
      } else if (msg.type === 'resync') {
        // (a service that names none means the collections without a position)
        const named = Array.isArray(msg.collections) ? new Set(msg.collections) : undefined;
        this.sync((s) => (named ? s.collections.some((c) => named.has(c)) : this.watchesUnpositioned(s)));
      } else if (msg.type === 'reload') {
        this.sync(() => true);
      } else if (msg.type === 'changes') {
        this.dispatch(msg.changes);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.scheduleRetry();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  private scheduleRetry(): void {
    if (this.subscribers.size === 0 || !currentSession()) {
      this.close();
      return;
    }
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] ?? 30_000;
    this.attempt++;
    this.setState('reconnecting');
    // ±20 % so that many consoles do not come back in step after a service restart.
    const delay = base * (0.8 + Math.random() * 0.4);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private sync(which: (s: LiveSubscriber) => boolean): void {
    for (const s of [...this.subscribers]) if (which(s)) s.onSync();
  }

  private watchesUnpositioned(s: LiveSubscriber): boolean {
    return s.collections.some((c) => !this.positioned.has(c));
  }

  private dispatch(changes: LiveChange[]): void {
    for (const s of [...this.subscribers]) {
      const mine = changes.filter((c) => s.collections.includes(c.collection));
      if (mine.length > 0) s.onChanges(mine);
    }
  }
}

export const liveFeed = new LiveFeed();

/** The state of the live connection, for an indicator. */
export function useLiveState(): LiveState {
  return useSyncExternalStore(liveFeed.subscribeState, liveFeed.getState);
}
