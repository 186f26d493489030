import { STANDING_TOPIC, StandingMessage } from '../../shared/sync/standing.js';
import type { SiteView } from '../config/election.js';
import type { Logger } from '../logger.js';
import { validator } from '../validation.js';
import type { PeerChannel, PeerMessage } from './channel.js';

/** What standing needs of a replication session: whether this site holds what the peer held when their link opened. */
export interface SyncingSession {
  readonly peerId: string;
  synced(): Promise<void>;
}

export interface StandingDeps {
  selfId: string;
  /** the peers this site is paired with and links to (not one that unpaired it) */
  peers(): readonly string[];
  /** the link layer: each new link to a peer */
  onPeerChannel(listener: (channel: PeerChannel) => void): () => void;
  /** the replication sessions: the one running with a peer now, and each that starts */
  replication: { session(peerId: string): SyncingSession | undefined; onSession(listener: (session: SyncingSession) => void): () => void };
  /** ids of the event sources connected to this site now */
  localSources(): readonly string[];
  /**
   * how long a site that starts waits for the links to its paired peers before it counts an
   * unreachable one out (default STARTUP_GRACE_MS); until then it is not synced
   */
  startupGraceMs?: number;
  /** how often the standing is told to the peers again, and the sources looked at (default 1 s) */
  everyMs?: number;
  now?: () => number;
  log?: Logger;
}

/**
 * A site that starts does not know yet whether a peer of its is up, active, and holding entries
 * it lacks: it waits this long for the links (a peer that is up links within a fraction of it)
 * before it is synced on its own. The loss of a link is seen within 3 s (HEARTBEAT_LOSS_MS).
 */
export const STARTUP_GRACE_MS = 3_000;

const parseStanding = validator(StandingMessage);

interface PeerStanding {
  channel: PeerChannel;
  /** what the peer last said on this link; undefined until it has */
  synced: boolean | undefined;
  sources: ReadonlySet<string>;
}

/**
 * This site's standing among its peers, and theirs as they tell it (design section 7): the
 * SiteView the Active-Passive election runs on. A peer is reachable while its link is open. This
 * site is synced once, for each peer linked now, its log holds what the peer held when the link
 * opened (the replication session says so), and, in its first moments, once every paired peer
 * linked (once: a link lost later is a loss) or STARTUP_GRACE_MS passed: a site that comes back (a restart, a healed link) is not
 * synced until it has caught up. Each site tells its peers whether it is synced and which
 * sources are connected to it (topic `standing`) when the link opens, when it changes, and every
 * second; a peer is synced as it last said on the current link.
 */
export class SiteStanding implements SiteView {
  private readonly links = new Map<string, PeerStanding>();
  /** sessions whose peer-held entries this log holds */
  private readonly syncedSessions = new WeakSet<SyncingSession>();
  private selfSynced = false;
  private readonly startedAt: number;
  /** peers linked at least once since the start: their loss is a loss, not a peer still to come */
  private readonly linkedSinceStart = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: StandingDeps) {
    this.now = deps.now ?? Date.now;
    this.startedAt = this.now();
  }

  start(): void {
    this.unsubscribe.push(
      this.deps.onPeerChannel((channel) => this.linked(channel)),
      this.deps.replication.onSession((session) => this.followSession(session)),
    );
    const grace = this.deps.startupGraceMs ?? STARTUP_GRACE_MS;
    this.graceTimer = setTimeout(() => this.recompute(), grace + 10);
    this.graceTimer.unref();
    this.timer = setInterval(() => this.tick(), this.deps.everyMs ?? 1_000);
    this.timer.unref();
    this.recompute(true);
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.graceTimer);
    for (const u of this.unsubscribe) u();
    this.listeners.clear();
  }

  /** Called when reachability, a peer's standing or this site's synced state changes. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isReachable(siteId: string): boolean {
    return siteId === this.deps.selfId || this.links.get(siteId)?.channel.isOpen === true;
  }

  isSynced(siteId: string): boolean {
    if (siteId === this.deps.selfId) return this.selfSynced;
    const l = this.links.get(siteId);
    return l !== undefined && l.channel.isOpen && l.synced === true;
  }

  /** Per reachable peer, the sources connected there now (as it last said). */
  sourcesElsewhere(): Map<string, ReadonlySet<string>> {
    const out = new Map<string, ReadonlySet<string>>();
    for (const [peer, l] of this.links) if (l.channel.isOpen && l.sources.size) out.set(peer, l.sources);
    return out;
  }

  /** For the log and the tests: this site's own synced state and what it waits for. */
  get synced(): boolean {
    return this.selfSynced;
  }

  private linked(channel: PeerChannel): void {
    const peer = channel.peerId;
    const l: PeerStanding = { channel, synced: undefined, sources: new Set() };
    this.links.set(peer, l);
    this.linkedSinceStart.add(peer);
    const offMessage = channel.onMessage(STANDING_TOPIC, (m) => this.heard(l, m));
    channel.onClose(() => {
      offMessage();
      if (this.links.get(peer) !== l) return;
      this.links.delete(peer);
      this.recompute(true);
    });
    // a new link: not synced with the peer until its session says so (a session of an older link does not count)
    this.recompute(true);
    this.tell(l);
  }

  private followSession(session: SyncingSession): void {
    session.synced().then(
      () => {
        this.syncedSessions.add(session);
        this.recompute();
      },
      () => undefined,
    );
  }

  private heard(l: PeerStanding, raw: PeerMessage): void {
    let m: StandingMessage;
    try {
      m = parseStanding.parse(raw, 'standing message');
    } catch (err) {
      // a peer of another version: its standing is unknown (not synced), the link stays
      this.deps.log?.warn({ err, peer: l.channel.peerId }, 'a standing message that is not one: ignored');
      return;
    }
    const sources = new Set(m.sources);
    const changed = l.synced !== m.synced || sources.size !== l.sources.size || [...sources].some((s) => !l.sources.has(s));
    l.synced = m.synced;
    l.sources = sources;
    if (changed) this.notify();
  }

  /** This site's synced state from its links and sessions; told to the peers and the listeners when it changes. */
  private recompute(notify = false): void {
    const synced = this.computeSynced();
    const changed = synced !== this.selfSynced;
    this.selfSynced = synced;
    if (changed) {
      this.deps.log?.info({ synced }, synced ? 'synced with the reachable sites' : 'catching up with the reachable sites');
      for (const l of this.links.values()) this.tell(l);
    }
    if (changed || notify) this.notify();
  }

  private computeSynced(): boolean {
    const starting = this.now() - this.startedAt < (this.deps.startupGraceMs ?? STARTUP_GRACE_MS);
    for (const peer of this.deps.peers()) {
      const l = this.links.get(peer);
      if (!l?.channel.isOpen) {
        // just started, and the peer not linked yet: it may be up with entries this site lacks
        if (starting && !this.linkedSinceStart.has(peer)) return false;
        continue;
      }
      const session = this.deps.replication.session(peer);
      if (!session || !this.syncedSessions.has(session)) return false;
    }
    return true;
  }

  private tick(): void {
    this.recompute();
    for (const l of this.links.values()) this.tell(l);
  }

  /** Tells a peer this site's standing (every second anyway: a few bytes, and a lost one matters little). */
  private tell(l: PeerStanding): void {
    if (!l.channel.isOpen) return;
    const message: StandingMessage = { topic: STANDING_TOPIC, type: 'state', synced: this.selfSynced, sources: [...this.deps.localSources()] };
    l.channel.send(message).catch(() => undefined);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
