import type { AdmissionResponse, ProfileCounts, ProfileRow } from '../../shared/api/limits.js';
import { pairsOfDialog, ProfileCounter, type ProfileCount } from './core/profiles.js';

/*
 * The edge around the profile counter (design section 4.4): it keeps this site's local counts
 * from what the callstore instances fold, holds the reservations of admitted calls (with a timer
 * for their end), mirrors the paired sites' lists from the cross-site exchange, takes the limits
 * from their store, and answers admissions and the profiles listing.
 *
 * The seam with the cross-site exchange (sync/profiles.ts) is structural: this side offers
 * `localCounts()` and `onLocalChange()`, and consumes the `RemoteProfiles` port declared here;
 * app.ts wires the two. Neither imports the other.
 */

/** A pair and its count, as the sites exchange them (absolute counts, never increments). */
export interface ExchangedCount {
  name: string;
  value: string | null;
  count: number;
}

/**
 * What this site knows of the paired sites' counts: the last whole list of each origin with when
 * it arrived (a lost peer's list is dropped once remote_profile_ttl has passed), and whether every
 * reachable peer has answered this site's request for update (or sync_timeout passed). A site
 * with no paired peers has no lists and is synced.
 */
export interface RemoteProfiles {
  remoteCounts(): ReadonlyMap<string, { counts: readonly ExchangedCount[]; receivedAtMs: number }>;
  synced(): boolean;
  onRemoteChange(listener: () => void): () => void;
}

/** The answer of a site with no paired peers: nothing remote, and nothing to wait for. */
export const NO_PEERS: RemoteProfiles = {
  remoteCounts: () => new Map(),
  synced: () => true,
  onRemoteChange: () => () => undefined,
};

/** What this site offers the exchange: its local counts, and a word after each change. */
export interface LocalProfiles {
  localCounts(): ExchangedCount[];
  onLocalChange(listener: () => void): () => void;
}

/** How one callstore instance tells the book which of its dialogs count (its own sources' dialogs that are up). */
export interface DialogProfiles {
  /** the dialog counts under total, its domain and these invite pairs (the same arguments again change nothing) */
  count(callId: string, domain: string | null, profiles: readonly { name: string; value?: string | null }[]): void;
  /** the dialog no longer counts (ended, dropped, or not this site's); a second call changes nothing */
  uncount(callId: string): void;
  /** every dialog of the instance leaves (it stops) */
  clear(): void;
}

/** The settings of the instance serving an admission's domain (its `ext`, design section 3). */
export interface AdmissionSettings {
  reservationTtlMs: number;
  rejectUntilSynced: boolean;
}

/** The limits as the book takes them. */
export interface LimitSource {
  rulesNow(): { id: string; profile: string; value: string | null; max: number }[];
  onChange(listener: () => void): () => void;
}

export interface ProfileBookOptions {
  remote?: RemoteProfiles;
  limits?: LimitSource;
  /** the name of a paired site, when known */
  siteName?: (id: string) => string | null;
  now?: () => number;
  /** told (coalesced, at most once per `liveIntervalMs`) that the counts changed: the live feed */
  onCountsChanged?: () => void;
  liveIntervalMs?: number;
}

interface Mirrored {
  counts: readonly ExchangedCount[];
  receivedAtMs: number;
}

export class ProfileBook implements LocalProfiles {
  private readonly counter = new ProfileCounter();
  private remote: RemoteProfiles;
  private offRemote: () => void;
  private readonly mirrored = new Map<string, Mirrored>();
  private readonly localListeners = new Set<() => void>();
  private notifyQueued = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryAt = Infinity;
  private liveTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly opts: ProfileBookOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.remote = opts.remote ?? NO_PEERS;
    this.offRemote = this.remote.onRemoteChange(() => this.remoteChanged());
    if (opts.limits) {
      const limits = opts.limits;
      this.counter.setLimits(limits.rulesNow());
      limits.onChange(() => {
        this.counter.setLimits(limits.rulesNow());
        this.countsChanged();
      });
    }
  }

  /** The cross-site exchange, once it exists (app.ts): its lists replace whatever was mirrored. */
  attachRemote(remote: RemoteProfiles): void {
    this.offRemote();
    this.remote = remote;
    this.offRemote = remote.onRemoteChange(() => this.remoteChanged());
    this.remoteChanged();
  }

  // ---- what the exchange reads ----

  localCounts(): ExchangedCount[] {
    this.expireNow();
    return this.counter.localCounts();
  }

  onLocalChange(listener: () => void): () => void {
    this.localListeners.add(listener);
    return () => this.localListeners.delete(listener);
  }

  // ---- what the callstore instances write ----

  /** The handle of one instance: the dialogs it counts, so that they all leave when it stops. */
  forInstance(): DialogProfiles {
    const held = new Map<string, { domain: string | null; profiles: readonly { name: string; value?: string | null }[] }>();
    return {
      count: (callId, domain, profiles) => {
        const before = held.get(callId);
        if (before && before.domain === domain && (before.profiles === profiles || (before.profiles.length === 0 && profiles.length === 0))) return;
        held.set(callId, { domain, profiles });
        if (this.counter.setDialog(callId, pairsOfDialog(domain, profiles))) this.localChanged();
      },
      uncount: (callId) => {
        if (!held.delete(callId)) return;
        if (this.counter.setDialog(callId, null)) this.localChanged();
      },
      clear: () => {
        let changed = false;
        for (const callId of held.keys()) changed = this.counter.setDialog(callId, null) || changed;
        held.clear();
        if (changed) this.localChanged();
      },
    };
  }

  // ---- admission ----

  /** Decides a call against the limits (design section 4.4); an allowed one holds a reservation. */
  admit(req: { callId: string; domain: string; profiles?: readonly { name: string; value?: string }[] | undefined }, settings: AdmissionSettings): AdmissionResponse & { repeated: boolean } {
    this.syncRemote();
    const nowMs = this.now();
    this.expireNow(nowMs);
    const synced = !settings.rejectUntilSynced || this.remote.synced();
    const decision = this.counter.admit(req.callId, pairsOfDialog(req.domain, req.profiles), { nowMs, expiresAtMs: nowMs + settings.reservationTtlMs, synced });
    if (decision.allow && !decision.repeated) {
      this.armExpiry();
      this.localChanged();
    }
    if (decision.reason === 'limit') return { allow: false, reason: 'limit', limit: decision.limit, counts: decision.counts, repeated: false };
    return { allow: decision.allow, reason: decision.reason, counts: decision.counts, repeated: decision.allow && decision.repeated };
  }

  /** Whether this call id counts here now (a dialog up, or a reservation). */
  holds(callId: string): 'dialog' | 'reserved' | undefined {
    this.expireNow();
    return this.counter.holds(callId);
  }

  // ---- the listing ----

  counts(): ProfileCounts {
    this.syncRemote();
    const nowMs = this.now();
    this.expireNow(nowMs);
    const origins = [...this.mirrored.entries()].map(([site, m]) => ({ site, name: this.opts.siteName?.(site) ?? null, ageMs: Math.max(0, Math.round(nowMs - m.receivedAtMs)) }));
    const items: ProfileRow[] = this.counter
      .pairs()
      .sort((a, b) => cmp(a.name, b.name) || (a.value === null ? (b.value === null ? 0 : -1) : b.value === null ? 1 : cmp(a.value, b.value)))
      .map((p) => {
        const remote = origins.flatMap((o) => {
          const count = this.counter.remoteCount(p.name, p.value, o.site);
          return count > 0 ? [{ ...o, count }] : [];
        });
        return { name: p.name, value: p.value, count: this.counter.count(p.name, p.value), local: this.counter.localCount(p.name, p.value), reserved: this.counter.reservedCount(p.name, p.value), remote };
      });
    return { synced: this.remote.synced(), sites: origins, items };
  }

  /** Figures for the metrics and the bench. */
  get figures(): { dialogs: number; reservations: number; origins: number } {
    return { dialogs: this.counter.dialogCount, reservations: this.counter.reservationCount, origins: this.mirrored.size };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.expiryTimer);
    clearTimeout(this.liveTimer);
    this.offRemote();
  }

  // ---- inside ----

  /**
   * Brings the mirrored remote lists in line with the exchange's: an origin whose list is new
   * (another object or arrival time) is replaced whole, one gone is dropped. O(origins).
   */
  private syncRemote(): boolean {
    const lists = this.remote.remoteCounts();
    let changed = false;
    for (const [origin, list] of lists) {
      const had = this.mirrored.get(origin);
      if (had && had.counts === list.counts && had.receivedAtMs === list.receivedAtMs) continue;
      this.counter.setRemote(origin, list.counts as ProfileCount[]);
      this.mirrored.set(origin, { counts: list.counts, receivedAtMs: list.receivedAtMs });
      changed = true;
    }
    if (this.mirrored.size !== lists.size || changed) {
      for (const origin of [...this.mirrored.keys()]) {
        if (lists.has(origin)) continue;
        this.counter.dropRemote(origin);
        this.mirrored.delete(origin);
        changed = true;
      }
    }
    return changed;
  }

  /** Ends the reservations whose time is up, and says so when any did. */
  private expireNow(nowMs = this.now()): void {
    if (this.counter.expire(nowMs) > 0) this.localChanged();
  }

  private remoteChanged(): void {
    if (this.syncRemote()) this.countsChanged();
  }

  private localChanged(): void {
    this.countsChanged();
    if (this.notifyQueued || this.localListeners.size === 0) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const l of this.localListeners) l();
    });
  }

  /** The live feed's word, at most once per interval. */
  private countsChanged(): void {
    if (!this.opts.onCountsChanged || this.liveTimer || this.stopped) return;
    this.liveTimer = setTimeout(() => {
      this.liveTimer = undefined;
      this.opts.onCountsChanged?.();
    }, this.opts.liveIntervalMs ?? 200);
    this.liveTimer.unref();
  }

  /** A timer at the next reservation's end, so that its count drops (and peers hear of it) without waiting for the next admission. */
  private armExpiry(): void {
    const next = this.counter.nextExpiry();
    if (next === undefined || this.stopped) return;
    if (this.expiryTimer && this.expiryAt <= next) return;
    clearTimeout(this.expiryTimer);
    this.expiryAt = next;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expiryAt = Infinity;
      this.expireNow();
      this.armExpiry();
    }, Math.max(0, next - this.now()) + 1);
    this.expiryTimer.unref();
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

