import type { Logger } from '../../logger.js';
import type { ChangeLog } from '../../storage/changelog/log.js';
import type { HeldRange, LogEntry, SinceVector } from '../../storage/changelog/reader.js';
import { validator } from '../../validation.js';
import type { PeerChannel, PeerMessage } from '../channel.js';
import {
  REPLICATION_PROTOCOL,
  REPLICATION_TOPIC,
  ReplicationMessage,
  type BatchMessage,
  type ReplicationMetrics,
  type ServedDomains,
  type SnapshotDocsMessage,
  type SnapshotEndMessage,
} from '../../../shared/sync/replication.js';
import { ageOf, DEFAULT_LIMITS, lagOf, RateCounter, readBatch, receiveBatch, SenderState, serves, snapshotPositions, type BatchLimits, type DomainOf } from './core.js';

export interface ReplicationDeps {
  log: ChangeLog;
  /** the domains this site serves (said at connect, and again whenever the answer changes while the link is up: the sender asks at each turn of its loop, so keep it cheap) */
  serves: () => ServedDomains;
  /** an entry's domain, from the composition root (callstore and vmail know their bodies; sync does not) */
  domainOf: DomainOf;
  limits?: Partial<BatchLimits>;
  /** batches sent and not acknowledged at most (the sender holds one batch at a time besides) */
  window?: number;
  /** how often a caught-up sender looks for new entries when no commit woke it */
  pollMs?: number;
  /** how long the sender waits after a refused batch before it sends again */
  retryMs?: number;
  /** documents per snapshot message */
  snapshotChunk?: number;
  now?: () => number;
  logger?: Logger;
}

const parseMessage = validator(ReplicationMessage);
/** what the peer has, saved for retention (and the next start) at most this often */
const CHECKPOINT_MS = 1_000;
/** receive() calls whose stores have not applied yet: past this many, the receiver waits (and so acks later) */
const MAX_PENDING_APPLIES = 2;

export interface ReplicationSession {
  readonly peerId: string;
  /** a plain getter: GET /api/v1/sites reads it */
  readonly metrics: ReplicationMetrics;
  /** resolves once the peer has acknowledged everything this log holds (of what the peer takes), or rejects at stop */
  caughtUp(): Promise<void>;
  /**
   * resolves once this log holds everything the peer held when the link opened (its hello's
   * `have`, this site's own origin aside): this site is synced with the peer (Active-Passive,
   * design section 7); rejects at stop
   */
  synced(): Promise<void>;
  /** stops sending and applying; the channel stays open (the link layer owns it) */
  stop(): Promise<void>;
}

/**
 * Starts replicating with one paired peer over its channel (the link layer calls this for each
 * link it opens; a lost link ends the session, and the next link starts a new one, which resumes
 * from the peer's hello). Both directions run at once: this site's sender sends what the peer
 * lacks, its receiver applies what the peer sends.
 */
export function startReplication(channel: PeerChannel, deps: ReplicationDeps): ReplicationSession {
  return new Session(channel, deps);
}

class Session implements ReplicationSession {
  readonly peerId: string;
  private readonly log: ChangeLog;
  private readonly limits: BatchLimits;
  private readonly now: () => number;
  private readonly pollMs: number;
  private readonly retryMs: number;
  private readonly snapshotChunk: number;
  private readonly sender: SenderState;
  private readonly sentRate = new RateCounter();
  private readonly receivedRate = new RateCounter();
  private state: ReplicationMetrics['state'] = 'connecting';
  private lastError: string | undefined;
  private blocked: string[] = [];
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly loop: Promise<void>;
  /** messages of the peer, applied one after another */
  private inbox: Promise<void> = Promise.resolve();
  private readonly pendingApplies: Promise<void>[] = [];
  private lastCheckpoint = 0;
  /** after a refused batch the sender waits until then */
  private pausedUntil = 0;
  private checkpointed: SinceVector = {};
  private readonly caughtUpWaiters = new Set<{ resolve: () => void; reject: (err: Error) => void }>();
  /** what the peer held when the link opened (its hello), until this log holds it all */
  private syncTarget: SinceVector | undefined;
  private isSynced = false;
  /** what this site last told the peer it serves (hello, then `serves`), as JSON */
  private announcedServes: string;
  private readonly syncedWaiters = new Set<{ resolve: () => void; reject: (err: Error) => void }>();

  constructor(
    private readonly channel: PeerChannel,
    private readonly deps: ReplicationDeps,
  ) {
    this.peerId = channel.peerId;
    this.log = deps.log;
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.now = deps.now ?? Date.now;
    this.pollMs = deps.pollMs ?? 250;
    this.retryMs = deps.retryMs ?? 1_000;
    this.snapshotChunk = deps.snapshotChunk ?? 500;
    this.sender = new SenderState(deps.window ?? 4);
    this.unsubscribe.push(
      channel.onMessage(REPLICATION_TOPIC, (m) => this.onMessage(m)),
      channel.onClose((reason) => this.end(`link closed: ${reason}`)),
      this.log.onCommit(() => this.poke()),
    );
    const served = deps.serves();
    this.announcedServes = JSON.stringify(served);
    this.loop = this.run();
    this.send({ topic: REPLICATION_TOPIC, type: 'hello', protocol: REPLICATION_PROTOCOL, have: this.log.head(), serves: served });
  }

  get metrics(): ReplicationMetrics {
    const now = this.now();
    let head: SinceVector = {};
    try {
      head = this.log.head();
    } catch {
      // the log is closed: the figures of the last moment it was open are gone with it
    }
    const lagEntries = this.sender.greeted ? lagOf(head, this.sender.peerHave) : 0;
    return {
      peer: this.peerId,
      state: this.state,
      lagEntries,
      lagMs: lagEntries === 0 ? 0 : this.lagMs(now),
      sentPerSecond: this.sentRate.rate(now),
      receivedPerSecond: this.receivedRate.rate(now),
      sentTotal: this.sentRate.total,
      receivedTotal: this.receivedRate.total,
      blockedOrigins: [...this.blocked],
      lastError: this.lastError,
    };
  }

  /** The age of the oldest entry the peer lacks: sent and not acknowledged, or not sent yet. */
  private lagMs(now: number): number {
    const inflight = this.sender.oldestUnackedHlc;
    if (inflight) return ageOf(inflight, now);
    try {
      let oldest: string | undefined;
      const have = this.sender.peerHave;
      for (const [origin, seq] of Object.entries(this.log.head())) {
        if (seq <= (have[origin] ?? 0)) continue;
        const next = this.log.after(origin, have[origin] ?? 0, 1)[0];
        if (next && (oldest === undefined || next.hlc < oldest)) oldest = next.hlc;
      }
      return oldest ? ageOf(oldest, now) : 0;
    } catch {
      return 0;
    }
  }

  caughtUp(): Promise<void> {
    if (this.isCaughtUp()) return Promise.resolve();
    return new Promise((resolve, reject) => this.caughtUpWaiters.add({ resolve, reject }));
  }

  synced(): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error(`replication with ${this.peerId} ended`));
    return new Promise((resolve, reject) => this.syncedWaiters.add({ resolve, reject }));
  }

  /** Whether this log now holds the peer's hello `have`; resolves the waiters once it does. */
  private checkSynced(): void {
    if (this.isSynced || !this.syncTarget) return;
    const head = this.log.head();
    for (const [origin, seq] of Object.entries(this.syncTarget)) {
      if (origin !== this.log.origin && (head[origin] ?? 0) < seq) return;
    }
    this.isSynced = true;
    this.syncTarget = undefined;
    for (const w of this.syncedWaiters) w.resolve();
    this.syncedWaiters.clear();
  }

  private isCaughtUp(): boolean {
    return this.sender.greeted && this.sender.unacknowledged === 0 && this.state === 'caught-up';
  }

  async stop(): Promise<void> {
    this.end('stopped');
    await this.loop;
    await this.inbox;
    await Promise.allSettled(this.pendingApplies);
  }

  private end(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.state = 'stopped';
    for (const u of this.unsubscribe) u();
    this.checkpoint(true);
    for (const w of [...this.caughtUpWaiters, ...this.syncedWaiters]) w.reject(new Error(`replication with ${this.peerId} ended: ${why}`));
    this.caughtUpWaiters.clear();
    this.syncedWaiters.clear();
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private send(message: PeerMessage): Promise<void> {
    return this.channel.send(message).catch((err: unknown) => {
      this.fail(err);
      this.end('the link failed');
    });
  }

  private fail(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
  }

  // --- the sender ---------------------------------------------------------------------------

  /**
   * Tells the peer the domains this site serves when they changed since it last said (a
   * configuration edit while the link is up), so the peer's sender starts or stops sending
   * them now rather than at the next link. Asked at each turn of the sender's loop: a
   * configuration change is a commit, which wakes it, and the loop turns every pollMs anyway.
   */
  private announceServes(): void {
    let served: ServedDomains;
    try {
      served = this.deps.serves();
    } catch (err) {
      this.fail(err);
      return;
    }
    const text = JSON.stringify(served);
    if (text === this.announcedServes) return;
    this.announcedServes = text;
    this.deps.logger?.info({ peer: this.peerId, serves: served }, 'the domains this site serves changed: told the peer');
    void this.send({ topic: REPLICATION_TOPIC, type: 'serves', serves: served });
  }

  /** Reads what the peer lacks and sends it, a batch at a time, within the window. */
  private async run(): Promise<void> {
    while (!this.stopped) {
      this.announceServes();
      const paused = this.pausedUntil - this.now();
      if (paused > 0) {
        await this.sleep(paused);
        continue;
      }
      if (!this.sender.canSend()) {
        await this.sleep(this.pollMs);
        continue;
      }
      let result;
      try {
        result = readBatch(this.log, this.sender.position, { peerServes: this.sender.peerServes ?? [], selfServes: this.deps.serves(), domainOf: this.deps.domainOf, peerOrigin: this.peerId }, this.limits);
      } catch (err) {
        if (this.stopped) return;
        this.fail(err);
        await this.sleep(this.retryMs);
        continue;
      }
      if (result.kind === 'compacted') {
        await this.sendSnapshot();
        continue;
      }
      this.blocked = result.blocked;
      if (result.items.length === 0) {
        this.state = 'caught-up';
        if (this.sender.unacknowledged === 0) this.resolveCaughtUp();
        await this.sleep(this.pollMs);
        continue;
      }
      this.state = 'sending';
      const id = this.sender.sentBatch(result.through, result.entries, result.oldestHlc);
      this.sentRate.add(result.entries, this.now());
      // the channel's backpressure: a slow peer holds the sender here, not in memory
      await this.send({ topic: REPLICATION_TOPIC, type: 'batch', id, items: result.items });
    }
  }

  /**
   * The log no longer holds what the peer needs: its documents (of the peer's domains) go in
   * chunks, then the positions they include. Records compacted away are not in it (their stores
   * hold them; the joining copy sends them, planned).
   */
  private async sendSnapshot(): Promise<void> {
    this.state = 'snapshot';
    const from = this.sender.position;
    const positions = snapshotPositions(this.log, from);
    const snapshot = this.log.snapshot();
    const peerServes = this.sender.peerServes ?? [];
    const id = this.sender.sentSnapshot(positions);
    await this.send({ topic: REPLICATION_TOPIC, type: 'snapshot-begin', id });
    let chunk: SnapshotDocsMessage['documents'] = [];
    for (const doc of snapshot.documents) {
      if (this.stopped) return;
      if (!doc.tombstone && !serves(peerServes, this.deps.domainOf(doc.kind, doc.body))) continue;
      chunk.push({ kind: doc.kind, key: doc.key, hlc: doc.hlc, origin: doc.origin, tombstone: doc.tombstone, body: doc.body });
      if (chunk.length >= this.snapshotChunk) {
        await this.send({ topic: REPLICATION_TOPIC, type: 'snapshot-docs', id, documents: chunk });
        chunk = [];
      }
    }
    if (chunk.length) await this.send({ topic: REPLICATION_TOPIC, type: 'snapshot-docs', id, documents: chunk });
    const vector: SnapshotEndMessage['vector'] = {};
    for (const [origin, seq] of Object.entries(positions)) vector[origin] = { seq, hlc: snapshot.vector[origin]?.hlc ?? null };
    await this.send({ topic: REPLICATION_TOPIC, type: 'snapshot-end', id, vector });
  }

  private resolveCaughtUp(): void {
    for (const w of this.caughtUpWaiters) w.resolve();
    this.caughtUpWaiters.clear();
  }

  /** Saves what the peer has (retention keeps what it lacks; the peers table survives a restart). */
  private checkpoint(force = false): void {
    const now = this.now();
    if (!force && now - this.lastCheckpoint < CHECKPOINT_MS) return;
    const have = this.sender.peerHave;
    const changed: SinceVector = {};
    for (const [origin, seq] of Object.entries(have)) if ((this.checkpointed[origin] ?? -1) < seq) changed[origin] = seq;
    if (Object.keys(changed).length === 0) return;
    try {
      this.log.setPeerVector(this.peerId, changed);
      this.checkpointed = { ...this.checkpointed, ...changed };
      this.lastCheckpoint = now;
    } catch (err) {
      // a closed log at shutdown: the next connect's hello says it again
      this.fail(err);
    }
  }

  // --- the receiver -------------------------------------------------------------------------

  private onMessage(raw: PeerMessage): void {
    if (this.stopped) return;
    let message: ReplicationMessage;
    try {
      message = parseMessage.parse(raw, 'replication message');
    } catch (err) {
      // a malformed message is the peer's fault: said in the metrics, and the link ends (it may be a newer version)
      this.fail(err);
      this.channel.close('malformed replication message');
      return;
    }
    this.inbox = this.inbox.then(() => this.handle(message)).catch((err: unknown) => this.fail(err));
  }

  private async handle(message: ReplicationMessage): Promise<void> {
    if (this.stopped) return;
    switch (message.type) {
      case 'hello':
        if (message.protocol !== REPLICATION_PROTOCOL) {
          this.fail(new Error(`the peer speaks replication protocol ${message.protocol}; this site ${REPLICATION_PROTOCOL}`));
          this.channel.close('replication protocol mismatch');
          return;
        }
        this.sender.hello(message.have, message.serves);
        if (!this.isSynced) {
          this.syncTarget = { ...message.have };
          this.checkSynced();
        }
        this.checkpoint(true);
        this.poke();
        return;
      case 'serves':
        // from the next read on; entries sent as held before stay held (as after a new link's hello)
        this.sender.servesChanged(message.serves);
        this.poke();
        return;
      case 'ack':
        this.sender.ack(message.batch, message.have);
        this.checkpoint();
        if (this.sender.unacknowledged === 0 && this.state === 'caught-up') this.resolveCaughtUp();
        this.poke();
        return;
      case 'refused':
        this.lastError = `the peer refused a batch: ${message.reason}`;
        this.sender.refused(message.have);
        this.pausedUntil = this.now() + this.retryMs;
        return;
      case 'batch':
        return this.takeBatch(message);
      case 'snapshot-begin':
        return;
      case 'snapshot-docs':
        return this.apply(message.id, () => this.log.applySnapshot({ vector: {}, documents: message.documents }).applied);
      case 'snapshot-end':
        return this.apply(message.id, () => this.log.applySnapshot({ vector: message.vector, documents: [] }).applied, true);
    }
  }

  private async takeBatch(message: BatchMessage): Promise<void> {
    const { reply, accepted, applied } = receiveBatch(this.log, message.id, message.items as (LogEntry | HeldRange)[]);
    if (reply.type === 'refused') this.lastError = `a batch of the peer was refused: ${reply.reason}`;
    if (reply.type === 'ack') this.checkSynced();
    if (applied) await this.holdBehindStores(applied);
    this.receivedRate.add(accepted, this.now());
    await this.send(reply);
  }

  /** Past MAX_PENDING_APPLIES writes whose stores have not applied yet, waits for the oldest. */
  private async holdBehindStores(applied: Promise<void>): Promise<void> {
    applied.catch((err: unknown) => this.fail(err));
    this.pendingApplies.push(applied);
    void applied.finally(() => {
      const i = this.pendingApplies.indexOf(applied);
      if (i >= 0) this.pendingApplies.splice(i, 1);
    }).catch(() => undefined);
    if (this.pendingApplies.length > MAX_PENDING_APPLIES) await Promise.allSettled([this.pendingApplies[0]]);
  }

  /**
   * A snapshot's part, merged into the log (one transaction); its end is acknowledged with the
   * log's head like a batch. The stores' applies run behind (holdBehindStores).
   */
  private async apply(batch: number, write: () => Promise<void>, ack = false): Promise<void> {
    let applied: Promise<void>;
    try {
      applied = write();
    } catch (err) {
      this.fail(err);
      const reason = err instanceof Error ? err.message : String(err);
      await this.send({ topic: REPLICATION_TOPIC, type: 'refused', batch, have: this.log.head(), reason: reason.slice(0, 500) });
      return;
    }
    if (ack) this.checkSynced();
    await this.holdBehindStores(applied);
    if (ack) await this.send({ topic: REPLICATION_TOPIC, type: 'ack', batch, have: this.log.head() });
  }
}
