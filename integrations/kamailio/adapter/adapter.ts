import { join } from 'node:path';
import { ApplianceLink, type OpenInfo, type StreamReply } from './appliance.js';
import type { AdapterConfig } from './config.js';
import { EvapiClient } from './evapi-client.js';
import { DEFAULT_RULES } from './addresses.js';
import { comparePositions, toCallEvent, type KamEvent, type KamHello, type KamMessage, type KamPosition } from './kamailio.js';
import type { Logger } from './log.js';
import { OutboundQueue, type QueueItem, type SyncBarrier } from './queue.js';
import { fetchSnapshot } from './rpc.js';
import { SeqState } from './seq-state.js';
import { toSyncDialogs, type Snapshot } from './snapshot.js';

/** How long a resync waits for the events numbered before its snapshot to come in over evapi. */
const PLACE_WAIT_MS = 2000;
/** How long the stream stays open after Kamailio is lost, to deliver what is still queued. */
const DRAIN_MS = 3000;
/** Bounds on the wait after a temporary refusal, whatever the appliance's Retry-After says. */
const HOLD_MIN_MS = 250;
const HOLD_MAX_MS = 60_000;
/** The wait when a temporary refusal names none. */
const HOLD_DEFAULT_MS = 1000;
/** How long a return to a preferred appliance waits for the acks of what the current one has in flight. */
const SWITCH_DRAIN_MS = 5000;

export interface AdapterStats {
  received: number;
  forwarded: number;
  rejected: number;
  /** messages the appliance could not store for now (no active instance for their domain): kept and sent again */
  heldBack: number;
  missedFromKamailio: number;
  dropped: number;
  queued: number;
  spooled: number;
  inFlight: number;
  resyncs: number;
  /** links opened to another appliance address than the previous link's */
  switches: number;
  syncsPosted: number;
  kamailio: boolean;
  appliance: boolean;
  /** the appliance address in use, or null */
  applianceUrl: string | null;
}

interface Resync {
  reasons: string[];
  /** events received while the snapshot is taken, with their positions: placed around the barrier */
  side: { pos: KamPosition; item: QueueItem }[];
  target: KamPosition | null;
  reached: (() => void) | null;
}

/**
 * Kamailio (evapi) → appliance (WebSocket) with nothing lost:
 *
 *  - every event is queued until the appliance acknowledges it (stored as its state_save needs);
 *    a dropped stream sends the unacknowledged ones again, and event ids make that harmless;
 *  - on every (re)connect to Kamailio or to the appliance, and when the appliance asks, the
 *    adapter takes Kamailio's dialog list and queues it as a sync *barrier* exactly after the last
 *    event numbered before the list was taken: the appliance applies events and list in the order
 *    they happened, so a call that ends (or starts) around a resync is neither lost nor ended twice;
 *  - while Kamailio is unreachable the stream to the appliance is closed (after delivering what
 *    is queued), so the appliance sees its source as lost and applies its resync timeout;
 *  - of several appliance addresses it uses the most preferred one that is up (addresses.ts):
 *    when that link fails it moves to the next at once, sending again there what the last one
 *    did not acknowledge and then a fresh dialog list; when a preferred address is healthy again
 *    it lets the acks of what is in flight come in, then goes back to it.
 */
export class Adapter {
  readonly evapi: EvapiClient;
  readonly appliance: ApplianceLink;
  readonly queue: OutboundQueue;
  private readonly seq: SeqState;
  private kamailioUp = false;
  private lastPos: KamPosition | null = null;
  private inFlight: { count: number; sentAt: number }[] = [];
  private posting = false;
  private resync: Resync | null = null;
  private resyncAgain: string[] = [];
  private drainTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** after a temporary refusal: nothing is sent before this time (ms) */
  private holdUntil = 0;
  private holdTimer: NodeJS.Timeout | null = null;
  /** the appliance refuses for now (logged once per episode, not per retry) */
  private held = false;
  /**
   * Replies still to come on this connection for messages sent after a refused one: their events
   * are sent again anyway (the appliance refuses them too, or stored them: event ids make a resend
   * harmless), so these replies are only counted off.
   */
  private staleReplies = 0;
  private housekeeping: NodeJS.Timeout | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** sync barriers in the queue not yet posted */
  private barriersQueued = 0;
  /** events were dropped for want of room: resync once the queue is empty */
  private needsResyncAfterDrop = false;
  /** a preferred appliance is healthy again: nothing more is sent until the link switches (see onBetter) */
  private switchPending = false;
  private switchTimer: NodeJS.Timeout | null = null;
  private readonly counters = { received: 0, forwarded: 0, rejected: 0, heldBack: 0, missedFromKamailio: 0, resyncs: 0, syncsPosted: 0, switches: 0 };

  constructor(
    private readonly cfg: AdapterConfig,
    private readonly log: Logger,
  ) {
    this.seq = new SeqState(cfg.stateDir);
    this.queue = new OutboundQueue({ maxMemory: cfg.maxMemory, spoolDir: cfg.maxSpoolBytes > 0 ? join(cfg.stateDir, 'spool') : null, maxSpoolBytes: cfg.maxSpoolBytes });
    this.evapi = new EvapiClient(cfg.evapiHost, cfg.evapiPort, log);
    this.appliance = new ApplianceLink(
      cfg.applianceUrls.map((url, i) => ({ url, token: cfg.tokens[i] ?? (cfg.tokens[0] as string) })),
      cfg.source,
      log,
      { linkTimeoutMs: cfg.linkTimeoutMs, rules: { ...DEFAULT_RULES, probeMaxMs: cfg.probeMaxMs } },
    );
    this.lastPos = this.seq.last;

    this.evapi.on('message', (m) => this.onKamailio(m));
    this.evapi.on('disconnected', (reason) => this.onKamailioLost(reason));
    this.appliance.on('open', (info) => this.onApplianceOpen(info));
    this.appliance.on('better', (info) => this.onBetter(info));
    this.appliance.on('close', () => this.onApplianceClosed());
    this.appliance.on('reply', (r) => this.onReply(r));
    this.appliance.on('syncRequest', () => {
      this.log.info('the appliance asked for a sync');
      this.requestResync('appliance sync_request');
    });
  }

  start(): void {
    this.log.info('adapter starting', {
      source: this.cfg.source,
      evapi: `${this.cfg.evapiHost}:${this.cfg.evapiPort}`,
      rpc: this.cfg.rpcUrl,
      appliances: this.cfg.applianceUrls,
      stateDir: this.cfg.stateDir,
      queuedFromSpool: this.queue.size,
    });
    this.evapi.start();
    this.housekeeping = setInterval(() => this.checkAcks(), 1000);
    if (this.cfg.statsIntervalMs > 0) this.statsTimer = setInterval(() => this.log.info('stats', { ...this.stats() }), this.cfg.statsIntervalMs);
  }

  /** Graceful stop: delivers what it can within `graceMs`, then keeps the rest in the spool. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopped = true;
    this.evapi.stop();
    const deadline = Date.now() + graceMs;
    while (this.appliance.isOpen && this.queue.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const t of [this.drainTimer, this.retryTimer, this.holdTimer, this.switchTimer]) if (t) clearTimeout(t);
    for (const t of [this.housekeeping, this.statsTimer, this.heartbeatTimer]) if (t) clearInterval(t);
    this.appliance.close('adapter stopping');
    const left = this.queue.size;
    const kept = this.queue.persist();
    this.seq.close();
    this.log.info('adapter stopped', { ...this.stats(), undelivered: left, persisted: kept ? left : 0 });
  }

  stats(): AdapterStats {
    return {
      ...this.counters,
      dropped: this.queue.dropped,
      queued: this.queue.size,
      spooled: this.queue.spooled,
      inFlight: this.queue.inFlight,
      kamailio: this.kamailioUp,
      appliance: this.appliance.isOpen,
      applianceUrl: this.appliance.currentUrl,
    };
  }

  // ---- Kamailio side ----

  private onKamailio(m: KamMessage): void {
    if (m.k === 'hello') this.onHello(m);
    else this.onEvent(m);
  }

  private onHello(h: KamHello): void {
    const prev = this.lastPos;
    const restarted = prev !== null && prev.kboot !== h.kboot;
    // what Kamailio numbered while nobody (or not us) listened: skipped in seq, so the appliance counts it as a gap
    const missed = prev === null ? 0 : restarted ? h.kseq : Math.max(0, h.kseq - prev.kseq);
    if (missed > 0) {
      this.counters.missedFromKamailio += missed;
      this.seq.skip(missed);
      this.log.warn('events emitted by Kamailio while the adapter was not connected', { missed, from: prev, to: { kboot: h.kboot, kseq: h.kseq } });
    }
    this.lastPos = { kboot: h.kboot, kseq: h.kseq };
    this.seq.see(this.lastPos);
    this.kamailioUp = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    this.log.info('kamailio hello', { kboot: h.kboot, kseq: h.kseq, restarted, missed });
    this.appliance.connect();
    this.requestResync(restarted ? 'kamailio connected (restarted)' : 'kamailio connected');
  }

  private onEvent(ev: KamEvent): void {
    const pos = { kboot: ev.kboot, kseq: ev.kseq };
    const prev = this.lastPos;
    if (prev && prev.kboot === ev.kboot && ev.kseq > prev.kseq + 1) {
      const missed = ev.kseq - prev.kseq - 1;
      this.counters.missedFromKamailio += missed;
      this.seq.skip(missed);
      this.log.warn('hole in the event numbering from Kamailio', { missed, after: prev });
      this.requestResync('events missed');
    }
    this.lastPos = pos;
    this.counters.received++;
    const item: QueueItem = { kind: 'event', event: toCallEvent(ev, this.cfg.source, this.seq.take(pos)) };
    const r = this.resync;
    if (r) {
      r.side.push({ pos, item });
      if (r.target && r.reached && comparePositions(pos, r.target) >= 0) r.reached();
      return;
    }
    this.enqueue(item);
    this.pump();
  }

  private enqueue(item: QueueItem): void {
    if (this.queue.push(item)) {
      if (item.kind === 'sync') this.barriersQueued++;
      return;
    }
    if (item.kind === 'event') {
      if (this.queue.dropped === 1 || this.queue.dropped % 1000 === 0) this.log.error('buffer full: events dropped (a resync will restore active calls)', { dropped: this.queue.dropped });
      this.needsResyncAfterDrop = true;
    }
  }

  private onKamailioLost(reason: string): void {
    this.kamailioUp = false;
    this.resync?.reached?.();
    this.log.warn('kamailio lost', { reason, queued: this.queue.size });
    if (this.stopped) return;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    // deliver what is queued, then close the stream: the appliance must see the source as lost
    this.drainTimer = setTimeout(() => this.closeStreamIfKamailioDown('kamailio unreachable'), DRAIN_MS);
    this.pump();
  }

  private closeStreamIfKamailioDown(reason: string): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    if (!this.kamailioUp && !this.stopped) this.appliance.disconnect(reason);
  }

  // ---- resync ----

  /** Takes Kamailio's dialog list and queues it at its place in the stream (one at a time). */
  requestResync(reason: string): void {
    if (this.stopped) return;
    if (!this.kamailioUp) {
      this.log.debug('resync deferred until kamailio is back', { reason });
      return;
    }
    if (this.resync) {
      this.resyncAgain.push(reason);
      return;
    }
    const r: Resync = { reasons: [reason], side: [], target: null, reached: null };
    this.resync = r;
    void this.runResync(r);
  }

  private async runResync(r: Resync): Promise<void> {
    const started = Date.now();
    let snapshot: Snapshot | null = null;
    try {
      snapshot = await fetchSnapshot(this.cfg.rpcUrl);
    } catch (err) {
      this.log.error('resync: cannot read the dialog list', { reason: r.reasons.join('; '), error: err instanceof Error ? err.message : String(err) });
    }
    if (snapshot?.position) {
      const target = snapshot.position;
      r.target = target;
      const behind = () => this.kamailioUp && (this.lastPos === null || comparePositions(this.lastPos, target) < 0);
      if (behind()) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.log.warn('resync: events before the snapshot did not all arrive', { target, last: this.lastPos });
            resolve();
          }, PLACE_WAIT_MS);
          r.reached = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
    this.resync = null;
    // events numbered up to the snapshot go before it, the rest after
    const target = r.target;
    const cut = target ? r.side.findIndex((s) => comparePositions(s.pos, target) > 0) : r.side.length;
    const before = cut < 0 ? r.side : r.side.slice(0, cut);
    const after = cut < 0 ? [] : r.side.slice(cut);
    for (const s of before) this.enqueue(s.item);
    if (snapshot) {
      const dialogs = toSyncDialogs(snapshot.dialogs, { ...(this.cfg.domain ? { domain: this.cfg.domain } : {}) });
      const barrier: SyncBarrier = { kind: 'sync', reason: r.reasons.join('; '), takenAt: new Date().toISOString(), dialogs };
      this.counters.resyncs++;
      this.enqueue(barrier);
      this.log.info('resync: dialog list taken', {
        reason: barrier.reason,
        dialogs: dialogs.length,
        listed: snapshot.dialogs.length,
        position: snapshot.position,
        placed: target ? 'exact' : 'approximate',
        eventsBefore: before.length,
        eventsAfter: after.length,
        ms: Date.now() - started,
      });
      this.needsResyncAfterDrop = false;
    }
    for (const s of after) this.enqueue(s.item);
    this.pump();
    if (!snapshot && this.kamailioUp) this.resyncAgain.push(...r.reasons);
    if (this.resyncAgain.length > 0) {
      const reasons = this.resyncAgain.splice(0);
      if (snapshot) this.requestResync(reasons.join('; '));
      else this.retryLater(() => this.requestResync(reasons.join('; ')), 1000);
    }
  }

  private retryLater(fn: () => void, ms: number): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      fn();
    }, ms);
  }

  // ---- appliance side ----

  private onApplianceOpen(info: OpenInfo): void {
    this.inFlight = [];
    this.staleReplies = 0;
    this.queue.unsendAll();
    this.endSwitch();
    // a link to another address than the last: what the last did not acknowledge goes here, then a dialog list
    if (info.previous !== null && info.previous !== info.index) {
      this.counters.switches++;
      this.log.warn('moved to another appliance', { to: info.url, address: info.index + 1, from: this.cfg.applianceUrls[info.previous], resent: this.queue.size });
    }
    this.log.info('forwarding to the appliance', { appliance: info.url, queued: this.queue.size });
    this.startHeartbeats();
    // a dialog list already on its way does the job: it reaches the appliance after what precedes it
    if (!this.resync && this.barriersQueued === 0) this.requestResync('appliance connected');
    this.pump();
  }

  private onApplianceClosed(): void {
    // whatever was sent and not acknowledged goes again on the next connection
    this.inFlight = [];
    this.staleReplies = 0;
    this.queue.unsendAll();
    this.endSwitch();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /**
   * Heartbeats while the stream is open: they register the source before any event (a sync from
   * an unknown source is refused) and keep it connected on the appliance while no call is made;
   * when Kamailio goes, the stream closes and they stop, so the source is lost either way.
   */
  private startHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const interval = this.cfg.heartbeatMs;
    if (interval <= 0) return;
    const beat = async () => {
      if (!this.appliance.isOpen || !this.kamailioUp) return;
      const r = await this.appliance.heartbeat(interval);
      if (r?.syncRequested && !this.resync) this.requestResync('appliance wants a sync (heartbeat)');
    };
    void beat();
    this.heartbeatTimer = setInterval(() => void beat(), interval);
  }

  private onReply(reply: StreamReply): void {
    if (this.staleReplies > 0) {
      this.staleReplies--;
      return;
    }
    const batch = this.inFlight.shift();
    if (!batch) {
      this.log.warn('an ack for nothing sent', { reply });
      return;
    }
    if (reply.error) {
      if (reply.error.code === 'unavailable') {
        this.holdBack(reply.error);
        return;
      }
      if (reply.error.code === 'internal') {
        // the appliance could not store them: send again on a fresh connection
        this.appliance.reset(`appliance error ${reply.error.code}: ${reply.error.message}`);
        return;
      }
      this.log.error('the appliance refused a whole message; its events are dropped', { error: reply.error, events: batch.count });
      this.counters.rejected += batch.count;
      this.queue.ack(batch.count);
      this.pump();
      return;
    }
    const rejected = reply.rejected ?? [];
    if (rejected.length > 0) {
      this.counters.rejected += rejected.length;
      this.log.error('events refused by the appliance', { rejected: rejected.slice(0, 20), count: rejected.length });
    }
    this.counters.forwarded += batch.count - rejected.length;
    if (this.held) {
      this.held = false;
      this.log.info('the appliance stores events again', { queued: this.queue.size });
    }
    this.queue.ack(batch.count);
    this.pump();
  }

  /**
   * The appliance cannot store a message for now (e.g. the callstore group of its domain has no
   * active instance during a takeover): nothing of it was stored. Its events and everything after
   * them stay queued (memory, then the spool) and go again, in order, after the Retry-After; the
   * messages already sent behind it are sent again too.
   */
  private holdBack(error: NonNullable<StreamReply['error']>): void {
    const waitMs = Math.min(HOLD_MAX_MS, Math.max(HOLD_MIN_MS, error.retryAfter !== undefined ? error.retryAfter * 1000 : HOLD_DEFAULT_MS));
    this.counters.heldBack++;
    if (this.appliance.hasAlternative()) {
      // another appliance may store them meanwhile: this one is left until its Retry-After has passed
      this.log.warn('the appliance cannot store events now; trying the next appliance address', { error: error.message, appliance: this.appliance.currentUrl, queued: this.queue.size, backInMs: waitMs });
      // the replies to what was sent behind it on this link are refusals too: not counted again
      this.staleReplies += this.inFlight.length;
      this.inFlight = [];
      this.appliance.refusedForNow(`the appliance cannot store events now: ${error.message}`, waitMs);
      return;
    }
    this.staleReplies += this.inFlight.length;
    this.inFlight = [];
    this.queue.unsendAll();
    const detail = { error: error.message, queued: this.queue.size, retryInMs: waitMs };
    if (!this.held) this.log.warn('the appliance cannot store events now; they are kept and sent again', detail);
    else this.log.debug('still refused for now; sending again later', detail);
    this.held = true;
    this.holdUntil = Date.now() + waitMs;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.holdUntil = 0;
      this.pump();
    }, waitMs);
  }

  /**
   * A preferred appliance is healthy again. Going back at once would send it what the current one
   * is about to acknowledge: nothing more is sent, the acks of what is in flight (and a dialog
   * list being posted) are awaited, at most SWITCH_DRAIN_MS, then the link switches.
   */
  private onBetter(info: OpenInfo): void {
    if (this.switchPending || this.stopped) return;
    this.switchPending = true;
    this.log.info('a preferred appliance is healthy again; returning once what is in flight is acknowledged', { to: info.url, from: this.appliance.currentUrl, inFlight: this.inFlight.length });
    this.switchTimer = setTimeout(() => this.switchNow('in-flight acks did not all come in'), SWITCH_DRAIN_MS);
    this.maybeSwitch();
  }

  private maybeSwitch(): void {
    if (this.switchPending && this.inFlight.length === 0 && !this.posting) this.switchNow('in flight acknowledged');
  }

  private switchNow(reason: string): void {
    if (!this.switchPending) return;
    if (this.switchTimer) clearTimeout(this.switchTimer);
    this.switchTimer = null;
    this.appliance.switchBack(reason);
  }

  private endSwitch(): void {
    this.switchPending = false;
    if (this.switchTimer) clearTimeout(this.switchTimer);
    this.switchTimer = null;
  }

  private checkAcks(): void {
    const oldest = this.inFlight[0];
    if (oldest && Date.now() - oldest.sentAt > this.cfg.ackTimeoutMs) this.appliance.reset(`no ack for ${Math.round((Date.now() - oldest.sentAt) / 1000)} s`);
    if (this.needsResyncAfterDrop && this.kamailioUp && !this.resync && this.queue.size === 0) this.requestResync('events were dropped');
  }

  /** Sends what can be sent: runs of events (pipelined), a sync barrier once everything before it is acknowledged. */
  private pump(): void {
    if (this.switchPending) return this.maybeSwitch();
    while (this.appliance.isOpen && !this.posting && Date.now() >= this.holdUntil) {
      const next = this.queue.nextUnsent(this.cfg.batch);
      if (!next) break;
      if (next.kind === 'events') {
        if (this.inFlight.length >= this.cfg.maxInFlight) return;
        this.appliance.send(next.events);
        this.queue.markSent(next.events.length);
        this.inFlight.push({ count: next.events.length, sentAt: Date.now() });
        continue;
      }
      if (this.inFlight.length > 0) return;
      void this.postSync(next.barrier);
      return;
    }
    if (!this.kamailioUp && this.drainTimer && this.queue.size === 0 && this.inFlight.length === 0 && !this.posting) {
      this.closeStreamIfKamailioDown('kamailio unreachable');
    }
  }

  private async postSync(barrier: SyncBarrier): Promise<void> {
    this.posting = true;
    // the list goes to the appliance of the link it was started on (aborted if that link goes)
    const appliance = this.appliance.currentUrl;
    let outcome = await this.appliance.postSync(barrier.dialogs);
    if (!outcome.ok && outcome.status === 404) {
      // the appliance does not know this source yet (no event, no heartbeat): introduce it and retry
      await this.appliance.heartbeat(Math.max(this.cfg.heartbeatMs, 1000));
      outcome = await this.appliance.postSync(barrier.dialogs);
    }
    this.posting = false;
    if (outcome.ok) {
      this.counters.syncsPosted++;
      const r = outcome.result;
      const ids = (xs: string[] | undefined) => (xs ?? []).slice(0, 50);
      this.log.info('sync applied by the appliance', {
        appliance,
        reason: barrier.reason,
        dialogs: barrier.dialogs.length,
        kept: r.kept?.length ?? 0,
        reconstructed: ids(r.reconstructed),
        refused: ids(r.refused),
        terminated: ids(r.terminated),
        dropped: r.dropped?.length ?? 0,
      });
      this.queue.markSent(1);
      this.queue.ack(1);
      this.barriersQueued = Math.max(0, this.barriersQueued - 1);
    } else if (outcome.retry) {
      const waitMs = Math.min(HOLD_MAX_MS, Math.max(HOLD_MIN_MS, outcome.retryAfterMs ?? HOLD_DEFAULT_MS));
      if (outcome.status === 503 && this.appliance.currentUrl === appliance && this.appliance.hasAlternative()) {
        // refused for now, as a message of events can be: another appliance takes the list (and what follows) meanwhile
        this.log.warn('sync not applied for now; trying the next appliance address', { appliance, error: outcome.message, backInMs: waitMs });
        this.appliance.refusedForNow(`the appliance cannot take the dialog list now: ${outcome.message}`, waitMs);
        return;
      }
      this.log.warn('sync not applied; will retry', { appliance, status: outcome.status, error: outcome.message, retryInMs: waitMs });
      this.retryLater(() => this.pump(), waitMs);
      return;
    } else {
      this.log.error('sync refused by the appliance; skipped', { appliance, status: outcome.status, error: outcome.message, reason: barrier.reason });
      this.queue.markSent(1);
      this.queue.ack(1);
      this.barriersQueued = Math.max(0, this.barriersQueued - 1);
    }
    this.pump();
  }
}
