/**
 * Dialog profiles and call limits (design section 4.4), the pure core: no I/O, no clock (the
 * caller passes the time), no timers. Counts are kept incrementally, so an admission costs
 * O(pairs of the call) map lookups, never a scan of the calls.
 *
 * What is counted here is this site's *local* count: the dialogs its own sources brought in that
 * are up now, plus the reservations of the calls it admitted whose `invite` has not come yet. A
 * dialog's count is a membership (dialog id → the pairs it counts under), never a free-standing
 * increment: setting a dialog twice, or removing it twice, changes nothing, and a count can never
 * go below zero. The *remote* counts are the last absolute lists each paired site sent (one list
 * per origin, replaced whole, dropped whole), summed beside the local ones.
 */

/** A profile and, for profiles with values, one value: what a dialog is counted under. */
export interface ProfilePair {
  name: string;
  value: string | null;
}

export interface ProfileCount extends ProfilePair {
  count: number;
}

/** The built-in profile every dialog counts under. */
export const TOTAL_PROFILE = 'total';
/** The built-in profile with the dialog's domain as its value (lower case, no trailing dot). */
export const DOMAIN_PROFILE = 'domain';

/** A limit: at most `max` dialogs under (profile, value); without a value, under each value of the profile on its own. */
export interface LimitRule {
  id: string;
  profile: string;
  value: string | null;
  max: number;
}

export interface CheckedCount extends ProfilePair {
  /** local + remote, before this call */
  count: number;
  local: number;
  remote: number;
}

export interface DeniedBy {
  id: string;
  profile: string;
  /** the value counted: the rule's own, or for a rule without one, the call's value it was applied to */
  value: string | null;
  max: number;
  /** the rule has no value of its own: it applies to each value of the profile on its own */
  perValue: boolean;
}

export type AdmissionDecision =
  | { allow: true; reason: 'ok'; counts: CheckedCount[]; /** an earlier admission of this call holds, or the call is up already */ repeated: boolean }
  | { allow: false; reason: 'limit'; limit: DeniedBy; counts: CheckedCount[] }
  | { allow: false; reason: 'syncing'; counts: CheckedCount[] };

/** Lower case without a trailing dot: how partitioning compares domains (design section 3). */
export function normalizeDomain(domain: string): string {
  return domain.toLowerCase().replace(/\.+$/, '');
}

/** The key of a pair in the maps: a null value and the empty string are different values. */
export function pairKey(name: string, value: string | null): string {
  return value === null ? `${name}\u0000` : `${name}\u0000\u0001${value}`;
}

/**
 * The pairs a dialog counts under: `total`, `domain` = its domain (when it has one) and the
 * `{name, value?}` pairs of its invite, each once (a pair named twice, or an invite pair that
 * repeats a built-in, counts once).
 */
export function pairsOfDialog(domain: string | null | undefined, profiles: readonly { name: string; value?: string | null }[] | undefined): ProfilePair[] {
  const out: ProfilePair[] = [{ name: TOTAL_PROFILE, value: null }];
  if (domain) out.push({ name: DOMAIN_PROFILE, value: normalizeDomain(domain) });
  if (profiles && profiles.length) {
    for (const p of profiles) {
      const value = p.value ?? null;
      if (out.some((o) => o.name === p.name && o.value === value)) continue;
      out.push({ name: p.name, value });
    }
  }
  return out;
}

interface Tally extends ProfileCount {
  key: string;
}

interface Reservation {
  callId: string;
  keys: string[];
  expiresAtMs: number;
}

interface LimitIndex {
  /** rules with a value, by that value's key */
  exact: Map<string, LimitRule[]>;
  /** rules without a value: each applies to every value on its own */
  perValue: LimitRule[];
}

/**
 * The counts of one site and the remote lists it knows, with the limits to admit calls against.
 * Every method is synchronous and I/O-free; `nowMs` is the caller's clock.
 */
export class ProfileCounter {
  /** local counts (dialogs and reservations), only pairs above zero */
  private readonly local = new Map<string, Tally>();
  /** of which reservations */
  private readonly reservedCounts = new Map<string, Tally>();
  /** dialog id → the keys it counts under */
  private readonly dialogs = new Map<string, string[]>();
  private readonly reservations = new Map<string, Reservation>();
  /** reservations by expiry (a min-heap; an entry replaced or removed is skipped when it surfaces) */
  private readonly expiries: Reservation[] = [];
  /** per origin, its last list */
  private readonly remoteLists = new Map<string, Map<string, Tally>>();
  /** the sum of the remote lists, only pairs above zero */
  private readonly remoteSum = new Map<string, Tally>();
  private limitsByProfile = new Map<string, LimitIndex>();
  private limitList: LimitRule[] = [];

  // ---- local dialogs ----

  /**
   * The pairs a dialog counts under now, or null when it does not count (ended, or not this
   * site's). A reservation of the same call id turns into the dialog: it is counted once.
   * Returns whether a count changed.
   */
  setDialog(callId: string, pairs: readonly ProfilePair[] | null): boolean {
    const changed = this.unreserve(callId);
    const before = this.dialogs.get(callId);
    if (pairs === null) {
      if (!before) return changed;
      this.dialogs.delete(callId);
      for (const k of before) this.dec(this.local, k);
      return true;
    }
    const { keys, unique } = keyed(pairs);
    if (before && sameKeys(before, keys)) return changed;
    if (before) for (const k of before) this.dec(this.local, k);
    for (let i = 0; i < keys.length; i++) this.inc(this.local, keys[i] as string, unique[i] as ProfilePair);
    this.dialogs.set(callId, keys);
    return true;
  }

  /** Whether the call id counts now, and how: as an up dialog or as a reservation. */
  holds(callId: string): 'dialog' | 'reserved' | undefined {
    if (this.dialogs.has(callId)) return 'dialog';
    return this.reservations.has(callId) ? 'reserved' : undefined;
  }

  get dialogCount(): number {
    return this.dialogs.size;
  }

  get reservationCount(): number {
    return this.reservations.size;
  }

  // ---- reservations ----

  /**
   * Holds a place for an admitted call until its dialog is set or `expiresAtMs` passes. False
   * (nothing changed) when the call id counts already.
   */
  reserve(callId: string, pairs: readonly ProfilePair[], expiresAtMs: number, precomputed?: Keyed): boolean {
    if (this.holds(callId)) return false;
    const { keys, unique } = precomputed ?? keyed(pairs);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      const pair = unique[i] as ProfilePair;
      this.inc(this.local, k, pair);
      this.inc(this.reservedCounts, k, pair);
    }
    const r: Reservation = { callId, keys, expiresAtMs };
    this.reservations.set(callId, r);
    heapPush(this.expiries, r);
    return true;
  }

  /** Ends the reservations whose time is up; returns how many ended. */
  expire(nowMs: number): number {
    let ended = 0;
    for (let top = this.expiries[0]; top !== undefined && top.expiresAtMs <= nowMs; top = this.expiries[0]) {
      heapPop(this.expiries);
      if (this.reservations.get(top.callId) !== top) continue;
      this.dropReservation(top);
      ended++;
    }
    return ended;
  }

  /** When the next reservation ends (epoch ms), if any is held. */
  nextExpiry(): number | undefined {
    while (this.expiries[0] && this.reservations.get(this.expiries[0].callId) !== this.expiries[0]) heapPop(this.expiries);
    return this.expiries[0]?.expiresAtMs;
  }

  private unreserve(callId: string): boolean {
    const r = this.reservations.get(callId);
    if (!r) return false;
    this.dropReservation(r);
    return true;
  }

  private dropReservation(r: Reservation): void {
    this.reservations.delete(r.callId);
    for (const k of r.keys) {
      this.dec(this.local, k);
      this.dec(this.reservedCounts, k);
    }
  }

  // ---- remote lists ----

  /** The whole list of an origin, replacing what it sent before (absolute counts, design section 4.4). */
  setRemote(origin: string, counts: readonly ProfileCount[]): void {
    this.dropRemote(origin);
    const list = new Map<string, Tally>();
    for (const c of counts) {
      const n = Number.isSafeInteger(c.count) && c.count > 0 ? c.count : 0;
      if (n === 0) continue;
      const key = pairKey(c.name, c.value);
      const held = list.get(key);
      if (held) held.count += n;
      else list.set(key, { key, name: c.name, value: c.value, count: n });
    }
    for (const t of list.values()) this.inc(this.remoteSum, t.key, t, t.count);
    // an empty list is kept: the origin is known, and counts nothing
    this.remoteLists.set(origin, list);
  }

  dropRemote(origin: string): void {
    const old = this.remoteLists.get(origin);
    if (!old) return;
    this.remoteLists.delete(origin);
    for (const t of old.values()) this.dec(this.remoteSum, t.key, t.count);
  }

  remoteOrigins(): string[] {
    return [...this.remoteLists.keys()];
  }

  // ---- reading ----

  localCount(name: string, value: string | null): number {
    return this.local.get(pairKey(name, value))?.count ?? 0;
  }

  reservedCount(name: string, value: string | null): number {
    return this.reservedCounts.get(pairKey(name, value))?.count ?? 0;
  }

  remoteCount(name: string, value: string | null, origin?: string): number {
    const key = pairKey(name, value);
    if (origin === undefined) return this.remoteSum.get(key)?.count ?? 0;
    return this.remoteLists.get(origin)?.get(key)?.count ?? 0;
  }

  count(name: string, value: string | null): number {
    const key = pairKey(name, value);
    return (this.local.get(key)?.count ?? 0) + (this.remoteSum.get(key)?.count ?? 0);
  }

  /** Every local pair above zero (reservations included): what this site sends its peers. */
  localCounts(): ProfileCount[] {
    return [...this.local.values()].map(({ name, value, count }) => ({ name, value, count }));
  }

  remoteCounts(origin: string): ProfileCount[] {
    return [...(this.remoteLists.get(origin)?.values() ?? [])].map(({ name, value, count }) => ({ name, value, count }));
  }

  /** Every pair counted anywhere (local or some origin), once each. */
  pairs(): ProfilePair[] {
    const out = new Map<string, ProfilePair>();
    for (const t of this.local.values()) out.set(t.key, { name: t.name, value: t.value });
    for (const t of this.remoteSum.values()) if (!out.has(t.key)) out.set(t.key, { name: t.name, value: t.value });
    return [...out.values()];
  }

  // ---- limits and admission ----

  setLimits(rules: readonly LimitRule[]): void {
    const index = new Map<string, LimitIndex>();
    const sorted = [...rules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const rule of sorted) {
      let at = index.get(rule.profile);
      if (!at) index.set(rule.profile, (at = { exact: new Map(), perValue: [] }));
      if (rule.value === null) at.perValue.push(rule);
      else {
        const key = pairKey(rule.profile, rule.value);
        at.exact.set(key, [...(at.exact.get(key) ?? []), rule]);
      }
    }
    this.limitsByProfile = index;
    this.limitList = sorted;
  }

  limits(): readonly LimitRule[] {
    return this.limitList;
  }

  /** The rules that apply to a pair: those of its value first, then those of every value. */
  rulesOf(pair: ProfilePair): LimitRule[] {
    const at = this.limitsByProfile.get(pair.name);
    if (!at) return [];
    const exact = pair.value === null ? undefined : at.exact.get(pairKey(pair.name, pair.value));
    return exact ? [...exact, ...at.perValue] : at.perValue;
  }

  /**
   * Decides a call: allowed when, for every pair it counts under, each rule applying to the pair
   * has room for one more (local + remote < max). An allowed call holds a reservation until
   * `expiresAtMs`. A call id that counts already (a retransmitted INVITE asks again) is allowed
   * again without a second reservation. `synced` false refuses new calls with `syncing` (the
   * remote counts are not known yet, design section 4.4).
   */
  admit(callId: string, pairs: readonly ProfilePair[], opts: { nowMs: number; expiresAtMs: number; synced: boolean }): AdmissionDecision {
    this.expire(opts.nowMs);
    const k = keyed(pairs);
    const counts: CheckedCount[] = k.unique.map((p, i) => {
      const key = k.keys[i] as string;
      const local = this.local.get(key)?.count ?? 0;
      const remote = this.remoteSum.get(key)?.count ?? 0;
      return { name: p.name, value: p.value, count: local + remote, local, remote };
    });
    if (this.holds(callId)) return { allow: true, reason: 'ok', counts, repeated: true };
    if (!opts.synced) return { allow: false, reason: 'syncing', counts };
    for (let i = 0; i < k.unique.length; i++) {
      const pair = k.unique[i] as ProfilePair;
      const at = this.limitsByProfile.get(pair.name);
      if (!at) continue;
      const count = (counts[i] as CheckedCount).count;
      const exact = pair.value === null ? undefined : at.exact.get(k.keys[i] as string);
      if (exact) for (const rule of exact) if (count >= rule.max) return { allow: false, reason: 'limit', limit: { id: rule.id, profile: rule.profile, value: rule.value, max: rule.max, perValue: false }, counts };
      for (const rule of at.perValue) if (count >= rule.max) return { allow: false, reason: 'limit', limit: { id: rule.id, profile: rule.profile, value: pair.value, max: rule.max, perValue: true }, counts };
    }
    this.reserve(callId, pairs, opts.expiresAtMs, k);
    return { allow: true, reason: 'ok', counts, repeated: false };
  }

  // ---- tallies ----

  private inc(map: Map<string, Tally>, key: string, pair: ProfilePair, by = 1): void {
    const t = map.get(key);
    if (t) t.count += by;
    else map.set(key, { key, name: pair.name, value: pair.value, count: by });
  }

  private dec(map: Map<string, Tally>, key: string, by = 1): void {
    const t = map.get(key);
    if (!t) return;
    t.count -= by;
    if (t.count <= 0) map.delete(key);
  }
}

interface Keyed {
  keys: string[];
  /** the pairs of `keys`, in their order: each pair once */
  unique: ProfilePair[];
}

/** The keys of the pairs, each once. A call has a few pairs (at most 34), so a scan beats a Set. */
function keyed(pairs: readonly ProfilePair[]): Keyed {
  const keys: string[] = [];
  const unique: ProfilePair[] = [];
  for (const p of pairs) {
    const key = pairKey(p.name, p.value);
    if (keys.includes(key)) continue;
    keys.push(key);
    unique.push(p);
  }
  return { keys, unique };
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function heapPush(heap: Reservation[], r: Reservation): void {
  heap.push(r);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if ((heap[parent] as Reservation).expiresAtMs <= r.expiresAtMs) break;
    heap[i] = heap[parent] as Reservation;
    heap[parent] = r;
    i = parent;
  }
}

function heapPop(heap: Reservation[]): void {
  const last = heap.pop();
  if (last === undefined || heap.length === 0) return;
  heap[0] = last;
  for (let i = 0; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let top = i;
    if (l < heap.length && (heap[l] as Reservation).expiresAtMs < (heap[top] as Reservation).expiresAtMs) top = l;
    if (r < heap.length && (heap[r] as Reservation).expiresAtMs < (heap[top] as Reservation).expiresAtMs) top = r;
    if (top === i) break;
    const t = heap[i] as Reservation;
    heap[i] = heap[top] as Reservation;
    heap[top] = t;
    i = top;
  }
}
