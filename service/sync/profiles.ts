import { Counter, Gauge, type Registry } from 'prom-client';
import { MAX_PROFILE_PAIRS, PROFILE_COUNT_MAX, PROFILE_NAME_MAX, PROFILE_VALUE_MAX, PROFILES_TOPIC, ProfileMessage, type ProfileCountsMessage } from '../../shared/sync/profiles.js';
import type { ResolvedInstance } from '../config/roles.js';
import type { Logger } from '../logger.js';
import { validator } from '../validation.js';
import type { PeerChannel, PeerMessage } from './channel.js';
import { pairKey, ProfileTable, SendPlan, type ProfileCount, type RemoteProfileList } from './profile-table.js';

export type { ProfileCount, RemoteProfileList } from './profile-table.js';

/*
 * Profile counts across sites (design section 4.4; wire types and the flow in
 * shared/sync/profiles.ts, the pure core in sync/profile-table.ts): this site tells each paired
 * peer its absolute local counts, and keeps the last list of each peer for admission.
 *
 * The seam: this module declares the port it consumes (`LocalProfiles`: this site's counts, the
 * callstore's profile book) and offers `RemoteProfiles` (implemented by ProfileExchange);
 * app.ts wires one to the other, and admission reads `RemoteProfiles`. Neither imports the other.
 */

/** What the exchange needs of this site: its own counts, and word when they change. */
export interface LocalProfiles {
  /** every pair with a count above 0 on this site now (its calls and reservations) */
  localCounts(): ProfileCount[];
  onLocalChange(listener: () => void): () => void;
}

/** What the exchange offers admission and GET /api/v1/profiles. */
export interface RemoteProfiles {
  /** per paired site (by id), its last list and when it arrived; a lost site's within remote_profile_ttl */
  remoteCounts(): ReadonlyMap<string, RemoteProfileList>;
  /** the calls of a pair on every site held in `remoteCounts`, summed (a map lookup: for admission) */
  remoteTotal(name: string, value: string | null): number;
  /** whether every reachable peer answered this site's request-for-update since it started or relinked (or sync_timeout passed) */
  synced(): boolean;
  /** the settings in force (`rejectUntilSynced`: admission answers `syncing` while not synced) */
  settings(): ProfileSettings;
  /** called when a list is taken or dropped, or `synced` changes */
  onRemoteChange(listener: () => void): () => void;
}

/** The settings of the exchange (design section 3: the callstore instance's `ext`). */
export interface ProfileSettings {
  /** `sync_timeout` (s, default 5) */
  syncTimeoutMs: number;
  /** `remote_profile_ttl` (s, default 30) */
  remoteTtlMs: number;
  /** `reject_until_synced` (default true) */
  rejectUntilSynced: boolean;
}

export const DEFAULT_PROFILE_SETTINGS: ProfileSettings = { syncTimeoutMs: 5_000, remoteTtlMs: 30_000, rejectUntilSynced: true };

/**
 * The settings from the configuration: the `ext` of this site's enabled callstore instances.
 * Profile counts are the site's, not an instance's, so when several instances run here the
 * strictest value wins: the longest `sync_timeout` and `remote_profile_ttl` (a peer's calls are
 * counted rather than forgotten), and `reject_until_synced` on unless every one of them turns it
 * off. A site with no callstore instance takes the defaults. A value that does not validate
 * (service/config/validate.ts refuses it) is passed over.
 */
export function profileSettingsOf(instances: readonly ResolvedInstance[], siteId: string): ProfileSettings {
  const mine = instances.filter((i) => i.roletype === 'callstore' && i.enabled && i.site === siteId);
  if (mine.length === 0) return DEFAULT_PROFILE_SETTINGS;
  const seconds = (ext: Record<string, unknown>, key: string): number | undefined => {
    const v = ext[key];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v * 1000 : undefined;
  };
  let syncTimeoutMs: number | undefined;
  let remoteTtlMs: number | undefined;
  let offEverywhere = true;
  for (const i of mine) {
    const ext = Array.isArray(i.ext) ? {} : i.ext;
    const timeout = seconds(ext, 'sync_timeout') ?? DEFAULT_PROFILE_SETTINGS.syncTimeoutMs;
    const ttl = seconds(ext, 'remote_profile_ttl') ?? DEFAULT_PROFILE_SETTINGS.remoteTtlMs;
    syncTimeoutMs = Math.max(syncTimeoutMs ?? 0, timeout);
    remoteTtlMs = Math.max(remoteTtlMs ?? 0, ttl);
    if (ext['reject_until_synced'] !== false) offEverywhere = false;
  }
  return { syncTimeoutMs: syncTimeoutMs as number, remoteTtlMs: remoteTtlMs as number, rejectUntilSynced: !offEverywhere };
}

export interface ProfileExchangeDeps {
  local: LocalProfiles;
  /** the peers this site is paired with (the gate at start waits for their answers) */
  peers(): readonly string[];
  /** the link layer: each new link to a peer */
  onPeerChannel(listener: (channel: PeerChannel) => void): () => void;
  settings(): ProfileSettings;
  /** the least time between two lists sent to one peer when the counts change (default 100 ms) */
  coalesceMs?: number;
  /** how often the full list goes to each peer anyway (default 2 s) */
  fullEveryMs?: number;
  now?: () => number;
  registry?: Registry;
  log?: Logger;
}

const parseMessage = validator(ProfileMessage);

interface PeerState {
  /** the peer's open links (two for a moment while a duplicate link resolves); the newest sends */
  channels: PeerChannel[];
  plan: SendPlan;
  timer: NodeJS.Timeout | undefined;
  /** refused messages logged on this peer's links (the first is logged, the rest counted) */
  logged: boolean;
}

/** The counters of the exchange: `stats` for the tests, and /metrics with a registry. */
class ProfileMeter {
  readonly stats = { sent: 0, received: 0, taken: 0, stale: 0, refused: 0, dropped: 0, omitted: 0 };
  private readonly messages: Counter<'direction' | 'type'> | undefined;
  private readonly refusedCounter: Counter<'reason'> | undefined;
  private readonly omittedCounter: Counter | undefined;
  private readonly droppedCounter: Counter | undefined;

  constructor(registry: Registry | undefined, exchange: ProfileExchange) {
    if (!registry) return;
    const registers = [registry];
    this.messages = new Counter({ name: 'sitecall_profile_messages_total', help: 'Messages of the profile exchange between sites, by direction (sent, received) and type (request, counts)', labelNames: ['direction', 'type'], registers });
    this.refusedCounter = new Counter({
      name: 'sitecall_profile_messages_refused_total',
      help: 'Messages of a peer’s profile exchange refused (the link stays): malformed (not a profile message, or a list past its bounds), duplicate_pair (a pair listed twice)',
      labelNames: ['reason'],
      registers,
    });
    this.omittedCounter = new Counter({ name: 'sitecall_profile_pairs_omitted_total', help: 'Profile pairs this site left out of the lists it sent, past the cap of pairs per list (the pairs with the lowest counts)', registers });
    this.droppedCounter = new Counter({ name: 'sitecall_profile_remote_lists_dropped_total', help: 'Lists of lost peers dropped remote_profile_ttl after the loss', registers });
    new Gauge({
      name: 'sitecall_profile_synced',
      help: 'Whether every reachable peer answered this site’s request for profile counts since it started or relinked, or sync_timeout passed (1), or not yet (0)',
      registers,
      collect() {
        this.set(exchange.synced() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sitecall_profile_remote_calls',
      help: 'Active calls (profile `total`) of each paired site, as its last list says; a lost site’s until remote_profile_ttl',
      labelNames: ['origin'],
      registers,
      collect() {
        this.reset();
        for (const [origin, list] of exchange.remoteCounts()) this.set({ origin }, list.counts.find((c) => c.name === 'total' && c.value === null)?.count ?? 0);
      },
    });
    new Gauge({
      name: 'sitecall_profile_remote_list_age_seconds',
      help: 'Age of the last profile list of each paired site held',
      labelNames: ['origin'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const [origin, list] of exchange.remoteCounts()) this.set({ origin }, Math.max(0, now - list.receivedAtMs) / 1000);
      },
    });
  }

  message(direction: 'sent' | 'received', type: 'request' | 'counts'): void {
    if (direction === 'sent') this.stats.sent++;
    else this.stats.received++;
    this.messages?.inc({ direction, type });
  }

  refused(reason: 'malformed' | 'duplicate_pair'): void {
    this.stats.refused++;
    this.refusedCounter?.inc({ reason });
  }

  omitted(pairs: number): void {
    this.stats.omitted += pairs;
    this.omittedCounter?.inc(pairs);
  }

  dropped(lists: number): void {
    this.stats.dropped += lists;
    this.droppedCounter?.inc(lists);
  }
}

/**
 * The profile exchange of this site with its paired peers (design section 4.4):
 * - on each link that opens (the start, a reconnect) it sends `request`, and answers a peer's
 *   `request` with its full list at once;
 * - when the local counts change, it sends the full list to each peer, at most one per
 *   `coalesceMs` per peer (the list is built when it goes, so it holds every change since), and
 *   every `fullEveryMs` anyway (a lost message, a peer that missed one, costs at most that);
 * - it keeps each peer's last list (by the sender's `(boot, seq)`, never an older over a newer),
 *   a lost peer's for `remote_profile_ttl`, and is unsynced after the start and each link until
 *   every reachable peer answered or `sync_timeout` passed (ProfileTable).
 * A message of a peer that is not a profile message, or a list past its bounds, is refused and
 * counted; the link stays (it carries replication and the rest).
 */
export class ProfileExchange implements RemoteProfiles {
  private readonly table: ProfileTable;
  private readonly peerStates = new Map<string, PeerState>();
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly now: () => number;
  private readonly boot: number;
  private seq = 0;
  private readonly meter: ProfileMeter;
  private fullTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineAt: number | undefined;
  private lastSynced: boolean;
  private stopped = false;

  constructor(private readonly deps: ProfileExchangeDeps) {
    this.now = deps.now ?? Date.now;
    this.boot = Date.now();
    this.table = new ProfileTable(() => deps.settings(), this.now(), deps.peers());
    this.lastSynced = this.table.synced(this.now());
    this.meter = new ProfileMeter(deps.registry, this);
  }

  get stats(): ProfileMeter['stats'] {
    return this.meter.stats;
  }

  start(): void {
    this.unsubscribe.push(
      this.deps.onPeerChannel((channel) => this.linked(channel)),
      this.deps.local.onLocalChange(() => this.localChanged()),
    );
    this.fullTimer = setInterval(() => this.sendFullToAll(), this.deps.fullEveryMs ?? 2_000);
    this.fullTimer.unref();
    this.changed();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.fullTimer);
    clearTimeout(this.deadlineTimer);
    for (const p of this.peerStates.values()) clearTimeout(p.timer);
    for (const u of this.unsubscribe) u();
    this.listeners.clear();
  }

  remoteCounts(): ReadonlyMap<string, RemoteProfileList> {
    this.expireDue();
    return this.table.remote();
  }

  remoteTotal(name: string, value: string | null): number {
    this.expireDue();
    return this.table.remoteTotal(name, value);
  }

  synced(): boolean {
    return this.table.synced(this.now());
  }

  settings(): ProfileSettings {
    return this.deps.settings();
  }

  onRemoteChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private linked(channel: PeerChannel): void {
    const peer = channel.peerId;
    let state = this.peerStates.get(peer);
    if (!state) this.peerStates.set(peer, (state = { channels: [], plan: new SendPlan(this.deps.coalesceMs ?? 100), timer: undefined, logged: false }));
    const s = state;
    s.channels.push(channel);
    s.logged = false;
    const offMessage = channel.onMessage(PROFILES_TOPIC, (m) => this.heard(s, channel, m));
    channel.onClose(() => {
      offMessage();
      s.channels = s.channels.filter((c) => c !== channel);
      if (s.channels.some((c) => c.isOpen)) return;
      clearTimeout(s.timer);
      s.timer = undefined;
      this.table.linkLost(peer, this.now());
      this.deps.log?.info({ peer, ttlMs: this.deps.settings().remoteTtlMs }, 'profile link lost: the peer’s counts are kept for remote_profile_ttl');
      this.changed();
    });
    this.table.linkOpened(peer, this.now());
    this.send(channel, { topic: PROFILES_TOPIC, type: 'request' }, 'request');
    this.changed();
  }

  private heard(s: PeerState, channel: PeerChannel, raw: PeerMessage): void {
    if (this.stopped) return;
    let m: ProfileMessage;
    try {
      m = parseMessage.parse(raw, 'profile message');
    } catch (err) {
      this.refuse(s, channel, 'malformed', err);
      return;
    }
    this.meter.message('received', m.type);
    if (m.type === 'request') {
      this.sendList(s, channel);
      return;
    }
    const seen = new Set<string>();
    for (const c of m.counts) {
      const key = pairKey(c.name, c.value);
      if (seen.has(key)) {
        this.refuse(s, channel, 'duplicate_pair', new Error(`the pair ${c.name}=${String(c.value)} is listed twice`));
        return;
      }
      seen.add(key);
    }
    const result = this.table.offer(channel.peerId, { boot: m.boot, seq: m.seq }, m.counts.filter((c) => c.count > 0), this.now());
    if (result === 'taken') this.meter.stats.taken++;
    else this.meter.stats.stale++;
    this.changed();
  }

  private refuse(s: PeerState, channel: PeerChannel, reason: 'malformed' | 'duplicate_pair', err: unknown): void {
    this.meter.refused(reason);
    if (s.logged) return;
    s.logged = true;
    this.deps.log?.warn({ err, peer: channel.peerId, reason }, 'a profile message of the peer is refused (the next ones on this link are counted, not logged)');
  }

  private localChanged(): void {
    if (this.stopped) return;
    const now = this.now();
    for (const s of this.peerStates.values()) {
      if (!s.channels.some((c) => c.isOpen)) continue;
      const at = s.plan.changed(now);
      if (at === undefined) continue;
      clearTimeout(s.timer);
      s.timer = setTimeout(() => {
        s.timer = undefined;
        // The plan this timer was armed for, unless a list went meanwhile (which cleared it). Not
        // compared with the clock: a timer may fire a few ms before Date.now() says it is due
        // (it counts from the loop's cached time), and a plan skipped then would wait for the
        // periodic full list, seconds later (the overshoot bench saw it).
        if (s.plan.planned !== undefined) this.sendList(s);
      }, at - now);
      s.timer.unref();
    }
  }

  private sendFullToAll(): void {
    for (const s of this.peerStates.values()) this.sendList(s);
    this.expireDue();
  }

  /** Sends this site's whole list now, on `channel` or the peer's newest open link. */
  private sendList(s: PeerState, channel?: PeerChannel): void {
    const to = channel ?? [...s.channels].reverse().find((c) => c.isOpen);
    if (!to?.isOpen) return;
    s.plan.sent(this.now());
    this.send(to, this.buildList(), 'counts');
  }

  /** The local counts as a list: a new seq each time, the cap applied (the lowest counts left out, the built-ins kept first). */
  private buildList(): ProfileCountsMessage {
    // a pair listed twice would have the whole list refused by the peer: summed here
    const merged = new Map<string, ProfileCount>();
    let unfit = 0;
    for (const c of this.deps.local.localCounts()) {
      if (!(c.count > 0)) continue;
      // a pair past the wire's bounds would have the whole list refused: left out and counted
      if (c.name.length === 0 || c.name.length > PROFILE_NAME_MAX || (c.value !== null && c.value.length > PROFILE_VALUE_MAX) || !Number.isSafeInteger(c.count) || c.count > PROFILE_COUNT_MAX) {
        unfit++;
        continue;
      }
      const key = pairKey(c.name, c.value);
      const known = merged.get(key);
      merged.set(key, known ? { ...known, count: known.count + c.count } : { name: c.name, value: c.value, count: c.count });
    }
    let counts = [...merged.values()];
    let omitted = unfit;
    if (counts.length > MAX_PROFILE_PAIRS) {
      const builtIn = (c: ProfileCount) => (c.name === 'total' || c.name === 'domain' ? 0 : 1);
      counts = [...counts].sort((a, b) => builtIn(a) - builtIn(b) || b.count - a.count);
      omitted += counts.length - MAX_PROFILE_PAIRS;
      counts = counts.slice(0, MAX_PROFILE_PAIRS);
    }
    if (omitted) this.meter.omitted(omitted);
    return { topic: PROFILES_TOPIC, type: 'counts', boot: this.boot, seq: ++this.seq, counts, omitted };
  }

  private send(channel: PeerChannel, message: ProfileMessage, type: 'request' | 'counts'): void {
    this.meter.message('sent', type);
    channel.send(message).catch(() => undefined);
  }

  private expireDue(): void {
    const dropped = this.table.expire(this.now());
    if (dropped.length) {
      this.meter.dropped(dropped.length);
      this.deps.log?.info({ peers: dropped }, 'profile counts of lost peers dropped after remote_profile_ttl');
      this.changed();
    }
  }

  /** After any change of the table: the listeners told, the synced change logged, the next deadline armed. */
  private changed(): void {
    if (this.stopped) return;
    const synced = this.table.synced(this.now());
    if (synced !== this.lastSynced) {
      this.lastSynced = synced;
      this.deps.log?.info({ synced }, synced ? 'profile counts synced with the reachable sites' : 'profile counts: waiting for the reachable sites’ lists');
    }
    for (const l of this.listeners) l();
    this.armDeadline();
  }

  private armDeadline(): void {
    const next = this.table.nextDeadline();
    if (next === this.deadlineAt) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineAt = next;
    if (next === undefined) return;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineAt = undefined;
      this.expireDue();
      this.changed();
    }, Math.max(0, next - this.now()) + 1);
    this.deadlineTimer.unref();
  }
}
