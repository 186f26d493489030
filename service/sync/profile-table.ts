/*
 * The pure core of the profile exchange between sites (design section 4.4; the edge is
 * sync/profiles.ts, the wire types shared/sync/profiles.ts). No clock, no timer, no socket: the
 * edge hands it each link that opens or is lost, each list a peer sent, and the time; it says
 * which list of each origin holds, what the remote totals are, and whether this site is synced.
 */

/** One profile pair's active calls on one site. */
export interface ProfileCount {
  name: string;
  /** null: the profile's calls that carry no value */
  value: string | null;
  count: number;
}

/** What is known of one peer's local counts: its last list and when it arrived. */
export interface RemoteProfileList {
  counts: readonly ProfileCount[];
  receivedAtMs: number;
}

/** The order of a sender's lists: its start, then the number of the list since. */
export interface ListStamp {
  boot: number;
  seq: number;
}

export interface ProfileTableSettings {
  /** how long a site that starts or relinks waits for the reachable peers' answers before it is synced anyway */
  syncTimeoutMs: number;
  /** how long the list of a peer whose link was lost is kept */
  remoteTtlMs: number;
}

interface OriginState {
  list: (RemoteProfileList & { stamp: ListStamp }) | undefined;
  reachable: boolean;
  /** when its link was lost (while not reachable) */
  lostAtMs: number;
  /** a link opened since the last list taken: its first list may come from another boot (a restart) */
  freshLink: boolean;
}

/** The key of a pair in the totals: null and '' are different values. */
export function pairKey(name: string, value: string | null): string {
  return value === null ? `${name}\u0000` : `${name}\u0000=${value}`;
}

export type OfferResult = 'taken' | 'stale' | 'unreachable';

/**
 * Per origin (a paired peer, by site id) the last list it sent, with its arrival time; the sum of
 * the lists held per pair, kept as lists come and go (`remoteTotal` is a map lookup); and the
 * synced gate.
 *
 * - A list replaces the one held when its stamp is higher (same boot: a higher seq; another boot:
 *   a later one), or when it is the first list of a new link from another boot (a restarted
 *   sender whose clock went back is not ignored).
 * - A reachable origin's list is kept however old; a lost origin's is dropped `remoteTtlMs` after
 *   the loss, unless a link opened meanwhile (then the next list replaces it).
 * - Synced: false at the start while a paired peer may still answer, and after each link that
 *   opens, until every origin awaited has sent a list (or lost its link), or `syncTimeoutMs`
 *   passed since the site became unsynced (a new link while unsynced does not prolong it: a
 *   flapping link cannot keep the site unsynced for good).
 */
export class ProfileTable {
  private readonly origins = new Map<string, OriginState>();
  private readonly totals = new Map<string, number>();
  /** origins whose answer the gate waits for */
  private readonly awaited = new Set<string>();
  /** while unsynced: when the site is synced anyway */
  private syncingUntilMs: number | undefined;
  /** the map `remote()` hands out, made again after a change */
  private view: ReadonlyMap<string, RemoteProfileList> | undefined;

  /**
   * `paired`: the peers this site is paired with when it starts; it waits for their answers
   * (they may be up, with calls) until `syncTimeoutMs`. None: synced at once.
   */
  constructor(
    private readonly settings: () => ProfileTableSettings,
    nowMs: number,
    paired: readonly string[],
  ) {
    for (const peer of paired) this.awaited.add(peer);
    if (this.awaited.size > 0) this.syncingUntilMs = nowMs + this.settings().syncTimeoutMs;
  }

  /** A link to `origin` opened (a request-for-update goes out on it): the site is unsynced until it answers. */
  linkOpened(origin: string, nowMs: number): void {
    const state = this.stateOf(origin);
    state.reachable = true;
    state.freshLink = true;
    this.awaited.add(origin);
    this.settle(nowMs);
    if (this.syncingUntilMs === undefined) this.syncingUntilMs = nowMs + this.settings().syncTimeoutMs;
  }

  /** The last link to `origin` closed: its list is kept `remoteTtlMs` from now, and it is not awaited. */
  linkLost(origin: string, nowMs: number): void {
    const state = this.origins.get(origin);
    if (!state?.reachable) return;
    state.reachable = false;
    state.lostAtMs = nowMs;
    this.awaited.delete(origin);
    this.settle(nowMs);
  }

  /** A list `origin` sent on an open link. It answers the request either way; it replaces the held one when it is newer. */
  offer(origin: string, stamp: ListStamp, counts: readonly ProfileCount[], nowMs: number): OfferResult {
    const state = this.origins.get(origin);
    if (!state?.reachable) return 'unreachable';
    this.awaited.delete(origin);
    this.settle(nowMs);
    const held = state.list;
    const newer = !held || (state.freshLink && stamp.boot !== held.stamp.boot) || stamp.boot > held.stamp.boot || (stamp.boot === held.stamp.boot && stamp.seq > held.stamp.seq);
    if (!newer) return 'stale';
    if (held) this.addToTotals(held.counts, -1);
    state.list = { stamp, counts, receivedAtMs: nowMs };
    state.freshLink = false;
    this.addToTotals(counts, 1);
    this.view = undefined;
    return 'taken';
  }

  /** Drops the lists of origins lost longer than `remoteTtlMs`; returns their ids. */
  expire(nowMs: number): string[] {
    const ttl = this.settings().remoteTtlMs;
    const dropped: string[] = [];
    for (const [origin, state] of this.origins) {
      if (state.reachable || nowMs - state.lostAtMs < ttl) continue;
      if (state.list) {
        this.addToTotals(state.list.counts, -1);
        dropped.push(origin);
        this.view = undefined;
      }
      this.origins.delete(origin);
    }
    return dropped;
  }

  /** Per origin, the list held (lost origins' within their TTL: call `expire` first). */
  remote(): ReadonlyMap<string, RemoteProfileList> {
    if (!this.view) {
      const view = new Map<string, RemoteProfileList>();
      for (const [origin, state] of this.origins) if (state.list) view.set(origin, { counts: state.list.counts, receivedAtMs: state.list.receivedAtMs });
      this.view = view;
    }
    return this.view;
  }

  /** The calls of a pair on every origin held: the sum of their lists' counts. */
  remoteTotal(name: string, value: string | null): number {
    return this.totals.get(pairKey(name, value)) ?? 0;
  }

  /** Whether the reachable peers have answered (or the wait is over). */
  synced(nowMs: number): boolean {
    this.settle(nowMs);
    return this.syncingUntilMs === undefined;
  }

  /** Whether `origin` is awaited by the gate now (for the log and the tests). */
  awaiting(): ReadonlySet<string> {
    return this.awaited;
  }

  /** The next moment something changes by time alone (a lost origin's list expires, the gate's wait ends); undefined: none. */
  nextDeadline(): number | undefined {
    const ttl = this.settings().remoteTtlMs;
    let next = this.syncingUntilMs;
    for (const state of this.origins.values()) {
      if (state.reachable || !state.list) continue;
      const at = state.lostAtMs + ttl;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  private settle(nowMs: number): void {
    if (this.syncingUntilMs === undefined) return;
    if (this.awaited.size === 0 || nowMs >= this.syncingUntilMs) {
      this.syncingUntilMs = undefined;
      // peers that did not answer in time are no longer waited for; their lists are taken when they come
      this.awaited.clear();
    }
  }

  private stateOf(origin: string): OriginState {
    let state = this.origins.get(origin);
    if (!state) this.origins.set(origin, (state = { list: undefined, reachable: false, lostAtMs: 0, freshLink: false }));
    return state;
  }

  private addToTotals(counts: readonly ProfileCount[], sign: 1 | -1): void {
    for (const c of counts) {
      if (c.count === 0) continue;
      const key = pairKey(c.name, c.value);
      const next = (this.totals.get(key) ?? 0) + sign * c.count;
      if (next === 0) this.totals.delete(key);
      else this.totals.set(key, next);
    }
  }
}

/**
 * When the next list goes to one peer (pure): at once when none went for `minGapMs`, else once
 * that gap has passed since the last one. A change while a send is planned changes nothing (the
 * planned list is built when it goes, so it holds that change too).
 */
export class SendPlan {
  private lastSentAtMs = Number.NEGATIVE_INFINITY;
  private plannedAtMs: number | undefined;

  constructor(private readonly minGapMs: number) {}

  /** The local counts changed: when to send (undefined: a send is planned already). */
  changed(nowMs: number): number | undefined {
    if (this.plannedAtMs !== undefined) return undefined;
    this.plannedAtMs = Math.max(nowMs, this.lastSentAtMs + this.minGapMs);
    return this.plannedAtMs;
  }

  /** A list went (planned, answering a request, or the periodic full list). */
  sent(nowMs: number): void {
    this.lastSentAtMs = nowMs;
    this.plannedAtMs = undefined;
  }

  get planned(): number | undefined {
    return this.plannedAtMs;
  }
}
