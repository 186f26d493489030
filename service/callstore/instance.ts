import type { ActiveCall, Cdr, EndReason } from '../../shared/api/cdr.js';
import type { SyncDialog } from '../../shared/api/sources.js';
import type { ResolvedInstance } from '../config/roles.js';
import type { HealthReporter } from '../health.js';
import type { Logger } from '../logger.js';
import type { RoleRuntime } from '../roles/host.js';
import type { ChangeFeed } from '../storage/changes.js';
import { eventCount } from '../storage/cdr/winner.js';
import { buildCdr, callSummaryOf, foldCall, hasInvite, isFinished, isFlagged, toActiveCall, type CallFold, type CallSummary, type CoreEvent } from './core/call.js';
import { SourceClocks } from './core/clock.js';
import type { KnownDialog } from './core/resync.js';
import { CallTable, type CallBucket } from './core/table.js';
import { dialogsOfRecord, type CallJournal, type Durability, type OpenCallJournal } from './journal.js';
import type { CallstoreMetrics } from './metrics.js';
import type { DialogProfiles } from './profiles.js';
import { RecordWriter, type CdrRecords } from './record-writer.js';

export type { CdrRecords } from './record-writer.js';

/**
 * An instance's part in its group's Active-Passive (design section 7), from the election: only
 * the active instance of the current term writes records, ends the calls of lost sources and
 * sweeps; a passive one folds the same calls and keeps them finished until the active one's
 * record comes.
 */
export interface InstanceRole {
  active: boolean;
  /** the group's term (stamped on the records written in it) */
  term: number;
  /**
   * no record is written before this (epoch ms): just after a takeover from an instance that is
   * still reachable, the records it wrote before it heard of the new term are let in first
   */
  writableAtMs: number;
}

/** The role of an instance outside an installation of sites (tests, tools): active, term 0. */
export const ALWAYS_ACTIVE: InstanceRole = { active: true, term: 0, writableAtMs: 0 };

export interface CallstoreDeps {
  siteId: string;
  /** the CDR store, a view of the change log's `cdr` entries */
  cdrs: CdrRecords;
  feed: ChangeFeed;
  metrics: CallstoreMetrics;
  /** opens the instance's raw event journal (the change log's, in the service) */
  journals: OpenCallJournal;
  /** told when the instance's records cannot be written */
  health?: HealthReporter;
  /** the role it starts with (default ALWAYS_ACTIVE); the service's election sets it with setRole */
  role?: InstanceRole;
  /**
   * where the dialogs this site's sources brought in are counted while they are up (design
   * section 4.4); a peer's dialogs, folded here for Active-Passive, count at the peer
   */
  profiles?: DialogProfiles;
}

/** Tunables of a callstore instance from its `ext` (design section 3), with their defaults. */
export interface CallstoreTunables {
  callTimeoutMs: number;
  resyncTimeoutMs: number;
  rawEventRetentionDays: number;
  /** how long a finished call waits for straggling events before its CDR is written */
  finishSettleMs: number;
  /** what a resync does with answered dialogs unknown here */
  resyncUnknown: 'reconstruct' | 'refuse';
  /** how long an admitted call's reservation holds its place until its invite comes (`reservation_ttl`) */
  reservationTtlMs: number;
  /** admission refuses new calls with `syncing` until the paired sites' counts are known */
  rejectUntilSynced: boolean;
}

export function tunablesOf(instance: ResolvedInstance): CallstoreTunables {
  const ext = Array.isArray(instance.ext) ? {} : instance.ext;
  const num = (key: string, fallback: number) => (typeof ext[key] === 'number' && Number.isFinite(ext[key]) && (ext[key] as number) > 0 ? (ext[key] as number) : fallback);
  return {
    callTimeoutMs: num('call_timeout', 14_400) * 1000,
    resyncTimeoutMs: num('resync_timeout', 10) * 1000,
    rawEventRetentionDays: num('raw_event_retention_days', 31),
    finishSettleMs: num('finish_settle_ms', 500),
    resyncUnknown: ext['resync_unknown'] === 'refuse' ? 'refuse' : 'reconstruct',
    reservationTtlMs: num('reservation_ttl', 10) * 1000,
    rejectUntilSynced: ext['reject_until_synced'] !== false,
  };
}

export interface IngestOutcome {
  /** per event: stored now (false: its id was already stored) */
  fresh: boolean[];
  /**
   * resolves when the transaction holding the events is committed (a kill -9 keeps them), and
   * fsync'd for transactional (a power loss keeps them): the ack waits for it in every mode
   */
  stored: Promise<void>;
}

const RECENTLY_FINISHED_MS = 10 * 60_000;
/** the longest the rebuilding of records runs before it lets I/O in */
const REBUILD_SLICE_MS = 5;

/**
 * A call with a record, as this instance knows it (for RECENTLY_FINISHED_MS): its dialogs, and
 * the events of the best record of it known here (its own, or a peer's). One object per call,
 * shared by its dialogs.
 */
interface RecordedCall {
  id: string;
  dialogs: Set<string>;
  /** the events of the greatest record of the call seen here (winner.ts orders by them first) */
  events: number;
  at: number;
}
/** the longest a takeover's writing of the records it held runs before it lets I/O in */
const DRAIN_SLICE_MS = 5;
const PURGE_INTERVAL_MS = 60 * 60_000;
/** the longest the settle loop runs before it lets I/O in */
const SETTLE_SLICE_MS = 5;

/**
 * A callstore role instance on this site: the repository of active calls of the domains its
 * group serves. It journals every event, folds it into the call through the pure core, writes the
 * CDR once the call is finished, and sweeps calls whose events stopped. This class is the I/O edge
 * around `core/`: timers, the journal, the CDR store and the change feed.
 */
export class CallstoreInstance implements RoleRuntime {
  private readonly table = new CallTable();
  private journal: CallJournal | undefined;
  private tunables: CallstoreTunables;
  /** finished calls waiting out the settle delay, oldest first (the delay is the same for all) */
  private readonly settling = new Map<number, { bucket: CallBucket; dueMs: number; endedAt: number }>();
  private settleTimer: NodeJS.Timeout | undefined;
  /**
   * finished calls whose record this instance may not write now (it is passive, or a takeover's
   * first moment): the active instance's record drops them (recordArrived), a takeover writes them
   */
  private readonly awaiting = new Map<number, CallBucket>();
  private drainTimer: NodeJS.Timeout | undefined;
  private role: InstanceRole;
  private readonly recentlyFinished = new Map<string, number>();
  /** the calls recorded lately, by dialog (RecordedCall) */
  private readonly recorded = new Map<string, RecordedCall>();
  /**
   * recorded calls with events their record lacks, which came from the other side of a
   * partition (a peer's event after the record here, or a peer's record lacking events held
   * here): the active instance rebuilds each from the union of its journaled events
   */
  private readonly stale = new Map<string, RecordedCall>();
  private rebuildTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private synthSeq = 0;
  private readonly records: RecordWriter;
  /** each source's clock against ours: what the ends this instance makes are stamped with */
  private readonly clocks = new SourceClocks();
  /**
   * the dialogs whose invite this site's own sources brought in (not a peer's, through the log):
   * those count in this site's profiles, so that a call folded on both sites counts once
   */
  private readonly ownDialogs = new Set<string>();

  constructor(
    private instance: ResolvedInstance,
    private readonly deps: CallstoreDeps,
    private readonly log: Logger,
  ) {
    this.tunables = tunablesOf(instance);
    this.role = deps.role ?? ALWAYS_ACTIVE;
    this.records = new RecordWriter({
      cdrs: deps.cdrs,
      finish: (callIds, also) => void this.requireJournal().finish(callIds, also),
      written: (cdr) => this.recordWritten(cdr),
      queued: () => this.settling.size,
      running: () => this.journal !== undefined,
      component: `callstore ${instance.name}`,
      health: deps.health,
      log,
    });
  }

  get name(): string {
    return this.instance.name;
  }

  get definition(): ResolvedInstance {
    return this.instance;
  }

  get settingsNow(): CallstoreTunables {
    return this.tunables;
  }

  /** Whether this instance is the active one of its group's current term. */
  get isActive(): boolean {
    return this.role.active;
  }

  get roleNow(): InstanceRole {
    return this.role;
  }

  /**
   * The election's word (design section 7). Becoming active (a takeover), it writes the records
   * of the calls it holds finished, from `writableAtMs` on; the sweep is its from then on.
   * Becoming passive, it writes no record from now on (those queued to the log already go).
   */
  setRole(role: InstanceRole): void {
    const was = this.role;
    this.role = role;
    if (role.active && !was.active) this.log.info({ term: role.term, finished: this.awaiting.size }, 'active in its group: writes the records');
    else if (!role.active && was.active) this.log.info({ term: role.term }, 'passive in its group: the active instance writes the records');
    if (role.active) {
      this.scheduleDrain();
      this.scheduleRebuild();
    }
  }

  /** Finished calls held for a record another instance writes (or this one once it may). */
  get awaitingRecords(): number {
    return this.awaiting.size;
  }

  private mayWrite(now = Date.now()): boolean {
    return this.role.active && now >= this.role.writableAtMs;
  }

  private scheduleDrain(): void {
    if (!this.role.active || this.awaiting.size === 0 || this.drainTimer || !this.journal) return;
    this.drainTimer = setTimeout(() => this.drain(), Math.max(0, this.role.writableAtMs - Date.now()));
  }

  /** Writes the records of the calls held finished while it could not, a slice at a time. */
  private drain(): void {
    this.drainTimer = undefined;
    if (!this.journal) return;
    if (!this.mayWrite()) {
      this.scheduleDrain();
      return;
    }
    const sliceEnd = performance.now() + DRAIN_SLICE_MS;
    for (const [key, bucket] of this.awaiting) {
      if (performance.now() > sliceEnd) {
        this.drainTimer = setTimeout(() => this.drain(), 0);
        return;
      }
      this.awaiting.delete(key);
      if (this.table.get(bucket.id) === bucket && isFinished(bucket.fold)) this.finalize(bucket);
    }
  }

  private get settings() {
    return this.instance.callstore ?? { cdrMode: 'all' as const, cdrAggregation: true, stateSave: 'async' as const };
  }

  async start(): Promise<void> {
    this.journal = await this.deps.journals(this.instance.name, durabilityOf(this.settings.stateSave));
    if (this.settings.stateSave === 'none') {
      // Without saved state the calls of before the restart are unknown here; the sources resync
      // them. A call that had finished is not one of them: its record is owed, and written now.
      const now = Date.now();
      for (const e of this.journal.activeEvents()) this.table.add(e, now);
      for (const bucket of [...this.table.calls()]) {
        if (isFinished(bucket.fold) && hasInvite(bucket.fold)) this.afterChange(bucket);
        else {
          this.removeCall(bucket);
          void this.journal.finish(bucket.callIds);
        }
      }
    } else {
      const events = this.journal.activeEventsWithOrigin();
      const now = Date.now();
      // The profile counts are rebuilt from the calls restored, never from saved counts.
      for (const { event, own } of events) {
        this.table.add(event, now);
        if (own && event.type === 'invite') this.ownDialogs.add(event.callId);
      }
      for (const bucket of [...this.table.calls()]) this.afterChange(bucket);
      if (events.length) this.log.info({ calls: this.table.size, events: events.length }, 'active calls restored from the journal');
    }
    this.gauges();
    this.scheduleSweep();
    this.purgeTimer = setInterval(() => this.purgeJournal(), PURGE_INTERVAL_MS);
    this.purgeTimer.unref();
  }

  async stop(): Promise<void> {
    this.records.close();
    clearTimeout(this.sweepTimer);
    clearInterval(this.purgeTimer);
    clearTimeout(this.settleTimer);
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    clearTimeout(this.rebuildTimer);
    this.rebuildTimer = undefined;
    this.settling.clear();
    this.awaiting.clear();
    this.deps.profiles?.clear();
    this.ownDialogs.clear();
    this.stale.clear();
    const journal = this.journal;
    this.journal = undefined;
    await journal?.close();
  }

  reconfigure(instance: ResolvedInstance): void {
    this.instance = instance;
    this.tunables = tunablesOf(instance);
    // From the next transaction on, commits are fsync'd (or not) as the new state_save says.
    this.journal?.setDurability(durabilityOf(this.settings.stateSave));
    this.scheduleSweep();
  }

  /** How the journal commits now: `fsync` for state_save transactional. */
  get journalDurability(): 'fsync' | 'os' {
    return this.requireJournal().durability;
  }

  /** Does this instance hold the call of this dialog? */
  holds(callId: string): boolean {
    return this.table.byDialog(callId) !== undefined;
  }

  ingest(events: readonly CoreEvent[]): IngestOutcome {
    const journal = this.requireJournal();
    const now = Date.now();
    const fresh = journal.append(events, now);
    const changed = new Set<CallBucket>();
    const retired: string[] = [];
    const late: string[] = [];
    // counted once per type and message: a counter's labels cost a lookup at every increment
    const byType = new Map<string, number>();
    let duplicates = 0;
    events.forEach((e, i) => {
      if (!fresh[i]) {
        duplicates++;
        return;
      }
      byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
      this.foldOne(e, now, now, changed, retired, late);
      if (e.type === 'invite' && this.table.byDialog(e.callId)) this.ownDialogs.add(e.callId);
    });
    if (duplicates) this.deps.metrics.duplicates.inc({ instance: this.name }, duplicates);
    for (const [type, count] of byType) this.deps.metrics.events.inc({ instance: this.name, type }, count);
    this.afterFold(changed, retired, late);
    return { fresh, stored: journal.flush() };
  }

  /**
   * Events of this instance's group a peer took in, journaled here already (indexed for this
   * instance in the transaction that received them): folded as the events of this site's
   * sources are, so the passive instance holds the same calls as the active one.
   */
  foldReplicated(events: readonly { event: CoreEvent; receivedAt: number }[]): void {
    if (!this.journal) return;
    const now = Date.now();
    const changed = new Set<CallBucket>();
    const retired: string[] = [];
    const late: string[] = [];
    for (const { event, receivedAt } of events) {
      this.deps.metrics.replicatedEvents.inc({ instance: this.name });
      const lateBefore = late.length;
      this.foldOne(event, Math.min(receivedAt, now), now, changed, retired, late);
      // an event of a call recorded here that a peer took in: the record lacks it (a call with
      // events on both sides of a cut), so the call is recorded again from the union of its events
      const call = late.length > lateBefore ? this.recorded.get(event.callId) : undefined;
      if (call) this.markStale(call);
    }
    this.afterFold(changed, retired, late);
  }

  private foldOne(e: CoreEvent, receivedAt: number, now: number, changed: Set<CallBucket>, retired: string[], late: string[]): void {
    if (!e.reconstructed && !e.synthesized) this.clocks.observe(e.source, e.tsMs, receivedAt);
    if (!e.reconstructed && !this.table.byDialog(e.callId) && this.recentlyFinished.has(e.callId)) {
      // A straggler of a call whose record is written: kept in the journal, not a new call.
      this.deps.metrics.late.inc({ instance: this.name });
      late.push(e.callId);
      return;
    }
    const { bucket, retiredIds } = this.table.add(e, now);
    if (!hasInvite(bucket.fold)) this.deps.metrics.orphanEvents.inc({ instance: this.name });
    retired.push(...retiredIds);
    changed.add(bucket);
  }

  private afterFold(changed: Set<CallBucket>, retired: string[], late: string[]): void {
    // A straggler's dialog leaves the active set again: its call's record and finish are in the
    // log already (committed before, or earlier in this same transaction).
    if (late.length) void this.requireJournal().finish(late);
    for (const id of retired) this.publishCallGone(id);
    for (const bucket of changed) this.afterChange(bucket);
    this.gauges();
  }

  /**
   * A peer's record of a call (the active instance of its group wrote it there): the call held
   * here for it leaves, without a record of its own; its dialogs left the journal's active set
   * when the record was received. Its dialogs' later events are stragglers, as after a record of
   * this instance's own.
   */
  recordArrived(cdr: Pick<Cdr, 'id' | 'legs' | 'eventIds'>): void {
    if (!this.journal) return;
    const now = Date.now();
    const ids = new Set(dialogsOfRecord(cdr));
    const buckets = new Set<CallBucket>();
    for (const id of ids) {
      const bucket = this.table.byDialog(id);
      if (bucket) buckets.add(bucket);
      this.recentlyFinished.set(id, now);
    }
    const call = this.noteRecord(cdr.id, ids, eventCount(cdr), now);
    const named = buckets.size ? new Set(Array.isArray(cdr.eventIds) ? cdr.eventIds : []) : undefined;
    for (const bucket of buckets) {
      // events held here that the record lacks: they came to this side of a partition; the call
      // leaves as the record says, and is recorded again from the union of its events
      if (bucket.events.some((e) => !named?.has(e.id))) {
        for (const id of bucket.callIds) {
          call.dialogs.add(id);
          this.recorded.set(id, call);
        }
        this.markStale(call);
      }
      this.settling.delete(bucket.key);
      this.awaiting.delete(bucket.key);
      this.removeCall(bucket);
      // dialogs of the call the record does not name (an orphan merged into it) leave too
      const extra = [...bucket.callIds].filter((id) => !ids.has(id));
      for (const id of extra) this.recentlyFinished.set(id, now);
      if (extra.length) void this.journal.finish(extra);
      this.publishCallGone(bucket.id);
      this.deps.metrics.recordsOfPeers.inc({ instance: this.name });
    }
    // a stale call whose record now names as many events as the journal holds of it: rebuilt elsewhere
    if (this.stale.get(call.id) === call && !buckets.size && new Set(this.journal.eventsOf(call.dialogs).map((e) => e.id)).size <= call.events) {
      this.stale.delete(call.id);
      this.deps.metrics.staleRecords.set({ instance: this.name }, this.stale.size);
    }
    if (buckets.size) this.gauges();
  }

  /** A record of a call (this instance's or a peer's): remembered with its dialogs, the most events of its records kept. */
  private noteRecord(id: string, dialogs: Iterable<string>, events: number, now: number): RecordedCall {
    let call: RecordedCall | undefined;
    for (const d of dialogs) {
      const known = this.recorded.get(d);
      if (known?.id === id) call = known;
    }
    call ??= { id, dialogs: new Set(), events: 0, at: now };
    call.events = Math.max(call.events, events);
    call.at = now;
    for (const d of dialogs) {
      call.dialogs.add(d);
      this.recorded.set(d, call);
    }
    return call;
  }

  private markStale(call: RecordedCall): void {
    this.stale.set(call.id, call);
    this.deps.metrics.staleRecords.set({ instance: this.name }, this.stale.size);
    this.scheduleRebuild();
  }

  /**
   * The active instance rebuilds the stale records after the settle delay (more of the peer's
   * events may be on their way in the next batches), and from `writableAtMs` on.
   */
  private scheduleRebuild(): void {
    if (!this.role.active || this.stale.size === 0 || this.rebuildTimer || !this.journal) return;
    this.rebuildTimer = setTimeout(() => this.rebuildStale(), Math.max(this.tunables.finishSettleMs, this.role.writableAtMs - Date.now()));
  }

  private rebuildStale(): void {
    this.rebuildTimer = undefined;
    if (!this.journal || !this.role.active) return;
    if (!this.mayWrite()) {
      this.scheduleRebuild();
      return;
    }
    const sliceEnd = performance.now() + REBUILD_SLICE_MS;
    this.records.batch(() => {
      for (const [id, call] of this.stale) {
        if (performance.now() > sliceEnd) {
          this.rebuildTimer = setTimeout(() => this.rebuildStale(), 0);
          return;
        }
        this.stale.delete(id);
        this.rebuild(call);
      }
    });
    this.deps.metrics.staleRecords.set({ instance: this.name }, this.stale.size);
  }

  /**
   * Folds a recorded call again from every event the journal holds of its dialogs (this site's
   * and the peers'), and writes the record when it is built from more events than any record of
   * it known here: that record beats the others in every store (winner.ts), so both sides of a
   * partition end with it. Deterministic: the same events give the same record on either site.
   */
  private rebuild(call: RecordedCall): void {
    // a dialog of it up again here (a resync reopened it) is recorded when it finishes
    for (const d of call.dialogs) if (this.table.byDialog(d)) return;
    const fold = foldCall(this.requireJournal().eventsOf(call.dialogs));
    if (!isFinished(fold) || !hasInvite(fold)) return;
    const cdr = buildCdr(fold, { site: this.deps.siteId, instance: this.name });
    if (cdr.id !== call.id) {
      this.log.warn({ callId: call.id, rebuiltAs: cdr.id }, 'a recorded call folds under another id with the events of the other side; its record is left as it is');
      return;
    }
    if (eventCount(cdr) <= call.events) return;
    const { cdrMode, cdrAggregation } = this.settings;
    const wanted = cdrAggregation && (cdrMode === 'all' || (cdrMode === 'flagged' && isFlagged(fold)));
    if (!wanted) return;
    if (this.role.term > 0) cdr.term = this.role.term;
    call.events = eventCount(cdr);
    this.records.add({ cdr, wanted, callIds: new Set(call.dialogs) });
    this.deps.metrics.rebuiltRecords.inc({ instance: this.name });
    this.log.info({ callId: cdr.id, events: cdr.eventIds.length, term: cdr.term }, 'call record rebuilt from the union of its events (events of it came from the other side of a partition)');
  }

  /** The sources with a dialog still up in the calls held here (a takeover watches them: its loss timers). */
  liveSources(): Set<string> {
    const out = new Set<string>();
    for (const bucket of this.table.calls()) for (const leg of bucket.fold.legs) if (leg.state !== 'terminated') out.add(leg.source);
    return out;
  }

  list(): ActiveCall[] {
    return [...this.table.calls()].map((b) => this.view(b));
  }

  /** Every call held here, summarized, with its view built only when asked: lists page over these. */
  summaries(): { summary: CallSummary; view: () => ActiveCall }[] {
    return [...this.table.calls()].map((b) => ({ summary: callSummaryOf(b.fold), view: () => this.view(b) }));
  }

  get(id: string): ActiveCall | undefined {
    const bucket = this.table.get(id);
    return bucket ? this.view(bucket) : undefined;
  }

  get activeCount(): number {
    return this.table.size;
  }

  /** The stored raw events of the dialogs of a call, for rebuilding or inspecting its record. */
  rawEvents(callIds: Iterable<string>): CoreEvent[] {
    return this.requireJournal().eventsOf(callIds);
  }

  /**
   * Ends a call here and now (admin terminate, timeout): an `end` is synthesized for every dialog
   * still up, journaled like any event, and the CDR is written at once.
   */
  terminate(id: string, reason: Exclude<EndReason, 'normal'>): Cdr | undefined {
    const bucket = this.table.get(id);
    return bucket ? this.endLegs(bucket, () => true, reason) : undefined;
  }

  /** The dialogs of a source in the calls held here, for a resync. */
  dialogsOf(source: string): KnownDialog[] {
    const dialogs: KnownDialog[] = [];
    for (const bucket of this.table.calls()) {
      for (const leg of bucket.fold.legs) {
        if (leg.source !== source) continue;
        const terminated = leg.state === 'terminated';
        dialogs.push({ callId: leg.callId, terminated, endedByCallstore: terminated && leg.endReason !== 'normal' });
      }
    }
    return dialogs;
  }

  /** Ends the dialogs of a source (source lost); calls with other live dialogs go on. */
  endSource(source: string, reason: Exclude<EndReason, 'normal'>): number {
    let ended = 0;
    for (const bucket of [...this.table.calls()]) {
      if (bucket.fold.legs.some((l) => l.source === source && l.state !== 'terminated')) {
        this.endLegs(bucket, (leg) => leg.source === source, reason);
        ended++;
      }
    }
    return ended;
  }

  /** Ends the named dialogs (resync: known here, missing from the source's list). */
  endDialogs(callIds: ReadonlySet<string>, reason: Exclude<EndReason, 'normal'>): void {
    for (const id of callIds) {
      const bucket = this.table.byDialog(id);
      if (bucket) this.endLegs(bucket, (leg) => callIds.has(leg.callId), reason);
    }
  }

  /** Has this dialog been seen here before (its record may be written already)? */
  knowsDialog(callId: string): boolean {
    return this.recentlyFinished.has(callId) || this.requireJournal().knows(callId);
  }

  /**
   * What the journal says of a dialog no call here holds any more: whether its source itself
   * ended it (a BYE, a failure, a cancel; else the callstore did), and the time of its last end.
   * Undefined for a dialog never seen.
   */
  pastDialog(callId: string): { endedBySource: boolean; endedAt: number | null } | undefined {
    if (!this.knowsDialog(callId)) return undefined;
    const ends = this.requireJournal()
      .eventsOf([callId])
      .filter((e) => e.type === 'end' || e.type === 'fail' || e.type === 'cancel');
    return { endedBySource: ends.some((e) => !e.synthesized), endedAt: ends.length ? Math.max(...ends.map((e) => e.tsMs)) : null };
  }

  /**
   * Brings back dialogs the callstore ended (its guess) that their source lists as up at a resync:
   * an answer of the callstore's own, stamped now in the source's time and after the call's last
   * event, reopens each (see the fold), and its call goes on as one record.
   */
  reopenDialogs(source: string, dialogs: readonly SyncDialog[]): string[] {
    const now = Date.now();
    const reopened: string[] = [];
    for (const d of dialogs) {
      const bucket = this.table.byDialog(d.callId);
      const leg = bucket?.folder.leg(d.callId);
      if (!bucket || !leg || leg.state !== 'terminated' || leg.endReason === 'normal') continue;
      const atMs = Math.max(this.sourceTime(source, now), bucket.fold.lastEventAt + 1);
      const { stored } = this.ingest([{ id: `${source}:resync:${d.callId}:${now}:reopen`, source, seq: 0, ts: new Date(atMs).toISOString(), tsMs: atMs, type: 'answer', callId: d.callId, fromTag: leg.fromTag, toTag: leg.winner ?? d.toTag, reconstructed: true }]);
      // A failed commit must not end the process: the call stays up here, and the source's next sync reopens it again.
      stored.catch((err: unknown) => this.log.error({ err, callId: d.callId }, 'a reopened dialog could not be journaled'));
      reopened.push(d.callId);
    }
    return reopened;
  }

  /**
   * Takes in the invites and answers a resync made for dialogs it learned of from the list only.
   * The answer to the sync does not wait for their commit; a failed one is logged, the calls stay
   * up here, and the source's next sync finds them known.
   */
  reconstruct(events: readonly CoreEvent[]): void {
    const { stored } = this.ingest(events);
    stored.catch((err: unknown) => this.log.error({ err, events: events.length }, 'reconstructed dialogs could not be journaled'));
  }

  /** Now, as this source's clock shows it (see SourceClocks). */
  sourceTime(source: string, nowMs = Date.now()): number {
    return this.clocks.toSourceTime(source, nowMs);
  }

  /**
   * Ends legs here and now with ends of the callstore's own. Each is stamped in its source's time,
   * so it sorts after what the source sent before (a source running ahead would otherwise see its
   * answer land after the end), and never before the call's last event, which is all there is to go
   * by when the source's offset is unknown (after a restart, say).
   */
  private endLegs(bucket: CallBucket, which: (leg: CallFold['legs'][number]) => boolean, reason: Exclude<EndReason, 'normal'>): Cdr | undefined {
    const now = Date.now();
    const notBefore = bucket.fold.lastEventAt + 1;
    const ends: CoreEvent[] = bucket.fold.legs
      .filter((l) => l.state !== 'terminated' && which(l))
      .map((l) => {
        const atMs = Math.max(this.sourceTime(l.source, now), notBefore);
        return {
          id: `${this.name}:${reason}:${l.callId}:${now}:${++this.synthSeq}`,
          source: l.source,
          seq: 0,
          ts: new Date(atMs).toISOString(),
          tsMs: atMs,
          type: 'end',
          callId: l.callId,
          fromTag: l.fromTag,
          by: 'system',
          reason,
          synthesized: reason,
        };
      });
    this.requireJournal().append(ends, now);
    for (const e of ends) this.table.add(e, now);
    if (isFinished(bucket.fold)) return this.finalize(bucket);
    this.afterChange(bucket);
    return undefined;
  }

  private view(bucket: CallBucket): ActiveCall {
    return toActiveCall(bucket.fold, { site: this.deps.siteId, instance: this.name });
  }

  /**
   * The profiles of the call's dialogs: a dialog counts while it is invited, not ended, and its
   * invite came from this site's own sources. Only a change reaches the counter.
   */
  private countProfiles(bucket: CallBucket): void {
    const profiles = this.deps.profiles;
    if (!profiles) return;
    for (const leg of bucket.fold.legs) {
      if (leg.invitedAt !== null && leg.state !== 'terminated' && this.ownDialogs.has(leg.callId)) profiles.count(leg.callId, leg.domain, leg.profiles);
      else profiles.uncount(leg.callId);
    }
  }

  /** A call leaves the table: its dialogs count no more. */
  private removeCall(bucket: CallBucket): void {
    this.table.remove(bucket);
    for (const id of bucket.callIds) {
      this.deps.profiles?.uncount(id);
      this.ownDialogs.delete(id);
    }
  }

  private afterChange(bucket: CallBucket): void {
    this.countProfiles(bucket);
    this.deps.feed.publishLazy({ collection: 'calls', op: 'put', id: bucket.id, replicate: true }, () => this.view(bucket));
    const finished = isFinished(bucket.fold) && hasInvite(bucket.fold);
    if (this.awaiting.has(bucket.key)) {
      // held for a record: it stays while it is finished (the record to come is the call's), else it is up again
      if (finished) return;
      this.awaiting.delete(bucket.key);
    }
    const endedAt = finished ? Math.max(...bucket.fold.legs.map((l) => l.endedAt ?? 0)) : 0;
    const waiting = this.settling.get(bucket.key);
    // A call that is up again, or that now ends elsewhere (a CANCEL crossed its 200 and its BYE
    // came), waits the whole delay from its new end, not what was left of the first one.
    if (waiting && (!finished || waiting.endedAt !== endedAt)) this.settling.delete(bucket.key);
    if (finished && !this.settling.has(bucket.key)) {
      // Wait a moment: an event of this call stamped earlier may still be on its way.
      this.settling.set(bucket.key, { bucket, dueMs: Date.now() + this.tunables.finishSettleMs, endedAt });
      this.settleTimer ??= setTimeout(() => this.settle(), this.tunables.finishSettleMs);
    }
  }

  /**
   * Finalizes the calls whose settle delay is over, a slice at a time: a burst of thousands of
   * calls ending together must not hold the event loop (and every source's acks) for long.
   */
  private settle(): void {
    // the records of the calls finished in this slice are written together
    this.records.batch(() => this.settleSlice());
  }

  private settleSlice(): void {
    this.settleTimer = undefined;
    const sliceEnd = performance.now() + SETTLE_SLICE_MS;
    const now = Date.now();
    for (const [key, { bucket, dueMs }] of this.settling) {
      if (dueMs > now) {
        this.settleTimer = setTimeout(() => this.settle(), dueMs - now);
        return;
      }
      if (performance.now() > sliceEnd) {
        this.settleTimer = setTimeout(() => this.settle(), 0);
        return;
      }
      this.settling.delete(key);
      if (isFinished(bucket.fold) && this.table.get(bucket.id) === bucket) this.finalize(bucket);
    }
  }

  private finalize(bucket: CallBucket): Cdr | undefined {
    this.settling.delete(bucket.key);
    // ended here and now (terminate, a lost source): its dialogs count no more, whether or not its record waits
    this.countProfiles(bucket);
    const invited = hasInvite(bucket.fold);
    const { cdrMode, cdrAggregation } = this.settings;
    const wanted = invited && cdrAggregation && (cdrMode === 'all' || (cdrMode === 'flagged' && isFlagged(bucket.fold)));
    if (wanted && !this.mayWrite()) {
      // Only the active instance of the current term writes the record: held until it comes
      // from the active one, or until this one takes over.
      this.awaiting.set(bucket.key, bucket);
      this.deps.feed.publishLazy({ collection: 'calls', op: 'put', id: bucket.id, replicate: true }, () => this.view(bucket));
      this.scheduleDrain();
      return undefined;
    }
    this.awaiting.delete(bucket.key);
    this.removeCall(bucket);
    let cdr: Cdr | undefined;
    if (invited) {
      cdr = buildCdr(bucket.fold, { site: this.deps.siteId, instance: this.name });
      // the term it was written in (a standalone instance, outside an installation of sites, has none)
      if (this.role.active && this.role.term > 0) cdr.term = this.role.term;
      if (cdr.anomalies.length) {
        this.deps.metrics.anomalies.inc({ instance: this.name });
        this.log.warn({ callId: cdr.id, anomalies: cdr.anomalies }, 'call with anomalies');
      }
    }
    this.records.add({ cdr, wanted, callIds: bucket.callIds });
    const now = Date.now();
    for (const id of bucket.callIds) this.recentlyFinished.set(id, now);
    if (cdr && wanted) this.noteRecord(cdr.id, bucket.callIds, eventCount(cdr), now);
    this.publishCallGone(bucket.id);
    this.gauges();
    return cdr;
  }

  private recordWritten(cdr: Cdr): void {
    this.deps.metrics.cdrs.inc({ instance: this.name, disposition: cdr.disposition, end_reason: cdr.endReason });
    this.log.debug({ callId: cdr.id, disposition: cdr.disposition, endReason: cdr.endReason }, 'call record written');
  }

  /** Records finished but not yet written: the backlog behind the CDR store. */
  get recordBacklog(): number {
    return this.records.backlog;
  }

  /**
   * Resolves when the backlog is below `limit`: ingestion waits here (holding the acks) rather
   * than let records pile up in memory when the store is slower than the sources.
   */
  belowBacklog(limit: number): Promise<void> {
    return this.records.belowBacklog(limit);
  }

  private gauges(): void {
    this.deps.metrics.active.set({ instance: this.name }, this.table.size);
    this.deps.metrics.awaitingRecords.set({ instance: this.name }, this.awaiting.size);
  }

  private publishCallGone(id: string): void {
    if (id && this.deps.feed.watches('calls')) this.deps.feed.publish({ collection: 'calls', op: 'delete', id, doc: null, replicate: true });
  }

  private scheduleSweep(): void {
    clearTimeout(this.sweepTimer);
    const every = Math.min(10_000, Math.max(250, this.tunables.callTimeoutMs / 4));
    this.sweepTimer = setTimeout(() => {
      this.sweep();
      this.scheduleSweep();
    }, every);
    this.sweepTimer.unref();
  }

  /** Ends calls whose events stopped for call_timeout; drops orphans whose invite never came. */
  sweep(now = Date.now()): void {
    if (!this.journal) return;
    for (const bucket of [...this.table.calls()]) {
      if (now - bucket.lastActivityMs < this.tunables.callTimeoutMs) continue;
      // a call waiting for its record is finished: not the sweep's
      if (this.awaiting.has(bucket.key)) continue;
      if (!hasInvite(bucket.fold)) {
        this.removeCall(bucket);
        void this.journal.finish(bucket.callIds);
        this.publishCallGone(bucket.id);
        this.deps.metrics.orphansDropped.inc({ instance: this.name });
        this.log.warn({ callIds: [...bucket.callIds], events: bucket.events.length }, 'orphan events dropped: their invite never came');
      } else if (this.role.active) {
        // only the active instance ends calls (its end reaches the passive ones through the log)
        this.log.info({ callId: bucket.id }, 'call timed out: no events for call_timeout');
        this.terminate(bucket.id, 'timeout');
      }
    }
    for (const [id, at] of this.recentlyFinished) if (now - at > RECENTLY_FINISHED_MS) this.recentlyFinished.delete(id);
    for (const [id, call] of this.recorded) if (now - call.at > RECENTLY_FINISHED_MS) this.recorded.delete(id);
    // a passive instance's stale calls are rebuilt by the active one; kept only as long as the calls are
    for (const [id, call] of this.stale) if (now - call.at > RECENTLY_FINISHED_MS) this.stale.delete(id);
    this.gauges();
  }

  private purgeJournal(): void {
    if (!this.journal) return;
    const removed = this.journal.purgeReceivedBefore(Date.now() - this.tunables.rawEventRetentionDays * 86_400_000);
    if (removed) this.log.info({ removed }, 'raw events past their retention removed');
  }

  private requireJournal(): CallJournal {
    if (!this.journal) throw new Error(`callstore instance ${this.name} is not running`);
    return this.journal;
  }
}

function durabilityOf(stateSave: 'none' | 'async' | 'transactional'): Durability {
  return stateSave === 'transactional' ? 'fsync' : 'os';
}
