import type { SourceInfo, SourceState } from '../../shared/api/sources.js';
import type { Collection, DocumentStore } from '../storage/documents.js';

type Transport = SourceInfo['transport'];

interface SourceDoc {
  _id: string;
  transport: Transport;
  lastSeenAt: string | null;
  lastSyncAt: string | null;
  heartbeatIntervalMs: number | null;
  eventsReceived: number;
  gaps: number;
}

interface Source extends SourceDoc {
  state: SourceState;
  lostAt: number | null;
  syncRequested: boolean;
  /** open WebSocket connections carrying its events */
  sockets: Set<SocketHandle>;
  missTimer: NodeJS.Timeout | undefined;
  dirty: boolean;
}

/** A WebSocket connection of a source: how to ask it for a sync. */
export interface SocketHandle {
  requestSync(sourceId: string): void;
}

export interface SourceEvents {
  /** the source went away: its calls stay valid for resync_timeout */
  lost(id: string): void;
  /** the source is back before its calls were ended */
  back(id: string): void;
  /** a source not known here before sent its first event or heartbeat (it may have been known at a peer) */
  appeared?(id: string): void;
}

export const DEFAULT_HEARTBEAT_MS = 5000;
const MISSED_HEARTBEATS = 3;
const PERSIST_EVERY_MS = 5000;

/**
 * The processes that serve dialogs (design section 4.3): which are connected, which were lost and
 * when, which the callstore wants a dialog list from. A WebSocket source is connected while a
 * socket carries its events; an HTTP source is monitored once it sends heartbeats (lost after three
 * missed). Registered sources and their counters are kept in nedb through a Collection.
 */
export class SourceRegistry {
  private readonly sources = new Map<string, Source>();
  private persistTimer: NodeJS.Timeout | undefined;
  private syncEveryone = false;

  private constructor(
    private readonly docs: Collection<SourceDoc>,
    private readonly events: SourceEvents,
  ) {}

  static async open(store: DocumentStore, events: SourceEvents): Promise<SourceRegistry> {
    const docs = await store.open<SourceDoc>('sources');
    const registry = new SourceRegistry(docs, events);
    const now = Date.now();
    for (const doc of await docs.find()) {
      // Nobody is connected to a service that just started: a source that was watched is lost
      // until it is back, and its restored calls wait resync_timeout for it.
      const watched = doc.transport === 'websocket' || doc.heartbeatIntervalMs !== null;
      registry.sources.set(doc._id, { ...doc, state: watched ? 'lost' : 'connected', lostAt: watched ? now : null, syncRequested: false, sockets: new Set(), missTimer: undefined, dirty: false });
    }
    registry.persistTimer = setInterval(() => void registry.persist(), PERSIST_EVERY_MS);
    registry.persistTimer.unref();
    return registry;
  }

  /** Announces the sources lost at start-up, once the instances can act on it. */
  announceStartupLosses(): void {
    for (const s of this.sources.values()) if (s.state === 'lost') this.events.lost(s._id);
  }

  has(id: string): boolean {
    return this.sources.has(id);
  }

  get(id: string): Source | undefined {
    return this.sources.get(id);
  }

  /** The sources connected to this site now (told to peers: a source they lost may be connected here). */
  connectedIds(): string[] {
    return [...this.sources.values()].filter((s) => s.state !== 'lost').map((s) => s._id);
  }

  state(id: string): { state: SourceState; lostAt: number | null } | undefined {
    const s = this.sources.get(id);
    return s ? { state: s.state, lostAt: s.lostAt } : undefined;
  }

  /** Events of a source were received (over a socket, when `socket` is given). */
  seen(id: string, count: number, gaps: number, socket?: SocketHandle): void {
    const s = this.ensure(id, socket ? 'websocket' : 'http');
    s.eventsReceived += count;
    s.gaps += gaps;
    s.lastSeenAt = new Date().toISOString();
    s.dirty = true;
    if (socket && !s.sockets.has(socket)) {
      s.sockets.add(socket);
      s.transport = 'websocket';
      if (s.syncRequested) socket.requestSync(id);
    }
    if (!socket && s.heartbeatIntervalMs !== null) this.armMissTimer(s);
    this.contact(s);
  }

  heartbeat(id: string, intervalMs: number): { state: SourceState; syncRequested: boolean } {
    const s = this.ensure(id, 'http');
    if (s.sockets.size === 0) s.transport = 'http';
    s.heartbeatIntervalMs = intervalMs;
    s.lastSeenAt = new Date().toISOString();
    s.dirty = true;
    this.armMissTimer(s);
    this.contact(s);
    return { state: s.state, syncRequested: s.syncRequested };
  }

  socketClosed(socket: SocketHandle): void {
    for (const s of this.sources.values()) {
      if (s.sockets.delete(socket) && s.sockets.size === 0 && s.state !== 'lost') this.lose(s);
    }
  }

  /** Called when a source's calls were ended for its absence: it must sync when it returns. */
  calledOff(id: string): void {
    const s = this.sources.get(id);
    if (s) s.syncRequested = true;
  }

  /** Every source is asked for its dialogs at its next contact (a restart with state_save none). */
  requestSyncFromAll(): void {
    this.syncEveryone = true;
    for (const s of this.sources.values()) this.askForSync(s);
  }

  synced(id: string): void {
    const s = this.sources.get(id);
    if (!s) return;
    s.syncRequested = false;
    s.lastSyncAt = new Date().toISOString();
    s.state = 'connected';
    s.lostAt = null;
    s.dirty = true;
  }

  list(activeCalls: (id: string) => number): SourceInfo[] {
    return [...this.sources.values()]
      .map((s) => ({
        id: s._id,
        transport: s.transport,
        state: s.state,
        lastSeenAt: s.lastSeenAt,
        lostAt: s.lostAt === null ? null : new Date(s.lostAt).toISOString(),
        lastSyncAt: s.lastSyncAt,
        heartbeatIntervalMs: s.heartbeatIntervalMs,
        syncRequested: s.syncRequested,
        activeCalls: activeCalls(s._id),
        eventsReceived: s.eventsReceived,
        gaps: s.gaps,
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async close(): Promise<void> {
    clearInterval(this.persistTimer);
    for (const s of this.sources.values()) clearTimeout(s.missTimer);
    await this.persist();
  }

  private ensure(id: string, transport: Transport): Source {
    let s = this.sources.get(id);
    if (!s) {
      s = { _id: id, transport, lastSeenAt: null, lastSyncAt: null, heartbeatIntervalMs: null, eventsReceived: 0, gaps: 0, state: 'connected', lostAt: null, syncRequested: false, sockets: new Set(), missTimer: undefined, dirty: true };
      this.sources.set(id, s);
      if (this.syncEveryone) this.askForSync(s);
      this.events.appeared?.(id);
    }
    return s;
  }

  /** The source showed signs of life. */
  private contact(s: Source): void {
    if (s.state !== 'lost') return;
    // Back in time (its calls are intact): connected. Back too late: its calls were ended; it resyncs.
    s.state = s.syncRequested ? 'resyncing' : 'connected';
    s.lostAt = s.syncRequested ? s.lostAt : null;
    s.dirty = true;
    if (s.state === 'connected') this.events.back(s._id);
    else for (const socket of s.sockets) socket.requestSync(s._id);
  }

  private lose(s: Source): void {
    s.state = 'lost';
    s.lostAt = Date.now();
    s.dirty = true;
    this.events.lost(s._id);
  }

  private askForSync(s: Source): void {
    s.syncRequested = true;
    for (const socket of s.sockets) socket.requestSync(s._id);
  }

  private armMissTimer(s: Source): void {
    clearTimeout(s.missTimer);
    const interval = s.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS;
    s.missTimer = setTimeout(() => {
      if (s.sockets.size === 0 && s.state !== 'lost') this.lose(s);
    }, interval * MISSED_HEARTBEATS);
    s.missTimer.unref();
  }

  private async persist(): Promise<void> {
    for (const s of this.sources.values()) {
      if (!s.dirty) continue;
      s.dirty = false;
      const { _id, transport, lastSeenAt, lastSyncAt, heartbeatIntervalMs, eventsReceived, gaps } = s;
      await this.docs.put({ _id, transport, lastSeenAt, lastSyncAt, heartbeatIntervalMs, eventsReceived, gaps });
    }
  }
}
