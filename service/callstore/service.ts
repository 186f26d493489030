import { CALL_LIST_LIMITS, type ActiveCall, type CallList, type Cdr } from '../../shared/api/cdr.js';
import type { EventProblem, IngestResult, StoredEvent } from '../../shared/api/events.js';
import type { PartitionResult } from '../../shared/api/roles.js';
import type { SourceInfo, SyncDialog, SyncResult } from '../../shared/api/sources.js';
import { NotFoundError, UnavailableError, ValidationError } from '../errors.js';
import { planResync, type KnownDialog } from './core/resync.js';
import type { SocketHandle, SourceEvents, SourceRegistry } from './sources.js';
import { compareEvents, type CallSummary, type CoreEvent } from './core/call.js';
import { capProblems, parseEvents } from './ingest.js';
import type { CallstoreInstance, InstanceRole } from './instance.js';
import type { CallstoreMetrics } from './metrics.js';
import type { ProfileBook } from './profiles.js';
import { SourceSequences } from './sequences.js';
import type { AdmissionRequest, AdmissionResponse, ProfileCounts } from '../../shared/api/limits.js';

/** Finished calls an instance may hold before it delays acknowledgements (see belowBacklog). */
export const RECORD_BACKLOG_LIMIT = 20_000;

/**
 * How long a source waits before it sends again what no instance could take here (the group's
 * active instance is down, disabled or at another site): a takeover or an instance that starts
 * takes seconds, so a short wait costs little.
 */
export const UNROUTED_RETRY_AFTER_SEC = 2;
/** distinct reasons listed in the details of such a refusal */
const UNROUTED_DETAILS_MAX = 20;
/** reconstructed events a sync hands an instance at once: one journal write each */
const SYNC_CHUNK_EVENTS = 2000;
/** missing dialogs a sync ends at once, before it lets other work in */
const SYNC_END_SLICE = 2000;

/** Which group and instance serve a domain (the configuration's partitioning), or why none can. */
export type CallstorePartition = (domain: string | null) => PartitionResult | string;

export interface CallFilter {
  domain?: string | undefined;
  state?: ActiveCall['state'] | 'orphan' | undefined;
  number?: string | undefined;
}

/**
 * Why an event has no instance here. `temporary`: the domain's group exists but has no active
 * instance running on this site (a takeover, a disabled or starting instance, another site): the
 * source must keep the event and send it again. Otherwise the event can never be routed as it is
 * (no group serves its domain, or the domain is not a domain name).
 */
export interface RouteRefusal {
  refused: string;
  temporary: boolean;
}

function isRefusal(target: CallstoreInstance | RouteRefusal): target is RouteRefusal {
  return 'refused' in target;
}

export interface CallPageRequest {
  /** default CALL_LIST_LIMITS.defaultLimit; 0: the total only */
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface IngestReport extends IngestResult {
  /** the highest seq among the events now stored (new or already stored): the WebSocket ack */
  highestSeq: number | null;
}

/**
 * The callstore role as the API sees it: it validates events, routes each to the active instance
 * of the group serving its domain (or to the instance already holding its call), and answers
 * questions about active calls across the instances running here.
 */
export class CallstoreService {
  private readonly running = new Map<string, CallstoreInstance>();
  private readonly sequences = new SourceSequences();
  private sources: SourceRegistry | undefined;
  /** per lost source, the timers that end its calls in each instance after resync_timeout */
  private readonly lossTimers = new Map<string, NodeJS.Timeout[]>();
  /**
   * Event streams whose last message was refused for now: the messages that follow it on the
   * socket (already sent, pipelined) are refused too until the retry time, so that nothing sent
   * after the refused message is stored before it (an answer without its domain would otherwise
   * land in the default group while its invite waits).
   */
  private readonly heldStreams = new WeakMap<SocketHandle, { untilMs: number; reason: string }>();
  /** each instance's part in its group (Active-Passive across sites); unset: every instance is active */
  private roleOf: ((instance: string) => InstanceRole) | undefined;
  /** per paired site reachable now, the sources connected there (design section 7: a source is lost when no site has it) */
  private sourcesElsewhere: () => ReadonlyMap<string, ReadonlySet<string>> = () => new Map();
  /** the sources connected at a reachable peer, as last looked at */
  private connectedElsewhere = new Set<string>();
  /** since when each source is connected to no reachable site */
  private readonly lostSince = new Map<string, number>();
  private profiles: ProfileBook | undefined;

  constructor(
    private readonly partition: CallstorePartition,
    private readonly metrics: CallstoreMetrics,
  ) {}

  /** What the source registry tells the callstore: a source lost, a source back in time. */
  sourceEvents(): SourceEvents {
    return {
      lost: (id) => this.onSourceLost(id),
      back: (id) => this.clearLoss(id),
      appeared: (id) => this.clearLoss(id),
    };
  }

  attachSources(sources: SourceRegistry): void {
    this.sources = sources;
  }

  /** The profile counts and limits of this site (design section 4.4): admission asks them. */
  attachProfiles(profiles: ProfileBook): void {
    this.profiles = profiles;
  }

  /**
   * May this call be relayed? The domain selects the callstore instance here (active or
   * passive), whose settings apply (reservation_ttl, reject_until_synced); no instance of the
   * domain's group runs here: 503 with Retry-After (a takeover, a starting instance), as for events.
   */
  admit(req: AdmissionRequest): AdmissionResponse {
    const profiles = this.requireProfiles();
    if (this.running.size === 0) throw new UnavailableError(`No callstore instance runs on this site: the call cannot be admitted here now. Ask again in ${UNROUTED_RETRY_AFTER_SEC} s, or ask another site.`, UNROUTED_RETRY_AFTER_SEC);
    const target = this.route({ id: '', source: '', seq: 0, ts: '', tsMs: 0, type: 'invite', callId: req.callId, domain: req.domain });
    if (isRefusal(target)) {
      if (target.temporary) throw new UnavailableError(`The call cannot be admitted here now: ${target.refused}. Ask again in ${UNROUTED_RETRY_AFTER_SEC} s.`, UNROUTED_RETRY_AFTER_SEC, [{ path: '/domain', message: target.refused }]);
      throw new ValidationError(`The call cannot be admitted: ${target.refused}.`, [{ path: '/domain', message: target.refused }]);
    }
    const { reservationTtlMs, rejectUntilSynced } = target.settingsNow;
    const { repeated, ...answer } = profiles.admit(req, { reservationTtlMs, rejectUntilSynced });
    this.metrics.admissions.inc({ result: repeated ? 'again' : answer.reason });
    return answer;
  }

  /** The counts per profile and value, local and per paired site. */
  profileCounts(): ProfileCounts {
    return this.requireProfiles().counts();
  }

  private requireProfiles(): ProfileBook {
    if (!this.profiles) throw new UnavailableError('The profile counts are not ready.', 1);
    return this.profiles;
  }

  /**
   * Active-Passive across sites (design section 7): the election's role of each instance, and the
   * sources connected at the reachable peers (their `standing`). Without it every instance is
   * active and a source is lost when it is lost here.
   */
  attachSites(sites: { roleOf(instance: string): InstanceRole; sourcesElsewhere(): ReadonlyMap<string, ReadonlySet<string>> }): void {
    this.roleOf = (name) => sites.roleOf(name);
    this.sourcesElsewhere = () => sites.sourcesElsewhere();
    this.connectedElsewhere = this.elsewhereNow();
  }

  /**
   * The election changed an instance's role. Taking over, it also takes over the loss timers:
   * each source with a dialog up in its calls that is known lost (here, or gone from the peer it
   * was connected to) and that no reachable site has now: its calls end after resync_timeout from
   * its loss unless it comes back to some site. A source never seen here nor at a peer is not
   * presumed lost (as on a single site: nothing says it went).
   */
  setRole(name: string, role: InstanceRole): void {
    const instance = this.running.get(name);
    if (!instance) return;
    const took = role.active && !instance.isActive;
    instance.setRole(role);
    if (!took) return;
    for (const source of instance.liveSources()) {
      if (this.connectedAnywhere(source)) continue;
      const since = this.lostSince.get(source) ?? this.sources?.state(source)?.lostAt ?? undefined;
      if (since === undefined) continue;
      this.lostSince.set(source, since);
      this.armLoss(source, instance, since);
    }
  }

  /** The sources connected at the peers changed (a peer's standing, a link up or down). */
  presenceChanged(): void {
    const now = this.elsewhereNow();
    const before = this.connectedElsewhere;
    this.connectedElsewhere = now;
    for (const id of now) if (!before.has(id)) this.clearLoss(id);
    for (const id of before) {
      if (now.has(id) || this.connectedHere(id)) continue;
      // it was at a peer that lost it or that is gone: lost from now on, for every site
      this.lostSince.set(id, Date.now());
      for (const instance of this.instances()) if (instance.isActive) this.armLoss(id, instance, Date.now());
    }
  }

  /** Events of a group a peer took in, for the instance holding its calls here (journaled already). */
  received(holder: string, events: readonly { event: CoreEvent; receivedAt: number }[]): void {
    this.running.get(holder)?.foldReplicated(events);
  }

  /** A record a peer's active instance wrote: the instance holding its call here drops it. */
  recordArrived(cdr: Pick<Cdr, 'id' | 'legs' | 'eventIds'>): void {
    for (const instance of this.running.values()) instance.recordArrived(cdr);
  }

  /** Called by the role factory when an instance starts and stops. */
  register(instance: CallstoreInstance): void {
    this.running.set(instance.name, instance);
    if (this.roleOf) this.setRole(instance.name, this.roleOf(instance.name));
    // Without saved state the instance knows no call: every source is asked for its dialogs.
    if (instance.definition.callstore?.stateSave === 'none') this.sources?.requestSyncFromAll();
  }

  unregister(instance: CallstoreInstance): void {
    if (this.running.get(instance.name) === instance) this.running.delete(instance.name);
  }

  instances(): CallstoreInstance[] {
    return [...this.running.values()];
  }

  /**
   * Validates, routes and stores a batch; resolves when it is stored as state_save requires.
   * Every event is routed before any is stored: when one has no instance here for now, the whole
   * batch is refused as temporarily unavailable (nothing of it stored) for the source to send
   * again; invalid events and events no group can ever take are reported one by one instead.
   */
  async ingest(items: readonly unknown[], alreadyRejected: EventProblem[] = [], socket?: SocketHandle): Promise<IngestReport> {
    const held = socket ? this.heldStreams.get(socket) : undefined;
    if (held && held.untilMs > Date.now()) {
      const waitSec = Math.max(1, Math.ceil((held.untilMs - Date.now()) / 1000));
      throw new UnavailableError(`A message sent before this one on the stream could not be stored here now (${held.reason}); this one is refused too, so that nothing is stored out of order. Nothing of it was stored; send both again in ${waitSec} s.`, waitSec);
    }
    const { events, rejected, omitted } = parseEvents(items, new Set(alreadyRejected.map((r) => r.index)));
    rejected.unshift(...alreadyRejected);
    const byInstance = new Map<CallstoreInstance, { index: number; event: CoreEvent }[]>();
    const unrouted = new Map<string, { index: number; path: string; count: number }>();
    // Events without a domain follow their call; a call started in this same batch is not held by
    // an instance yet, so the events with a domain are routed first and lead the others.
    const inBatch = new Map<string, CallstoreInstance>();
    const targets = new Map<(typeof events)[number], CallstoreInstance | RouteRefusal>();
    // the partition of a domain, looked up once per batch (the events of a batch share a few domains)
    const partitions = new Map<string | null, ReturnType<CallstorePartition>>();
    for (const pass of [true, false]) {
      for (const item of events) {
        if ((item.event.domain !== undefined) !== pass) continue;
        const target = this.route(item.event, inBatch, partitions);
        targets.set(item, target);
        if (!isRefusal(target)) inBatch.set(item.event.callId, target);
      }
    }
    for (const item of events) {
      const target = targets.get(item) as CallstoreInstance | RouteRefusal;
      const path = item.event.domain ? '/domain' : '';
      if (isRefusal(target)) {
        if (!target.temporary) {
          rejected.push({ index: item.index, id: item.event.id, path, message: target.refused });
          continue;
        }
        const seen = unrouted.get(target.refused);
        if (seen) seen.count++;
        else unrouted.set(target.refused, { index: item.index, path, count: 1 });
        continue;
      }
      const list = byInstance.get(target) ?? [];
      list.push(item);
      byInstance.set(target, list);
    }
    if (unrouted.size > 0) {
      if (socket) this.heldStreams.set(socket, { untilMs: Date.now() + UNROUTED_RETRY_AFTER_SEC * 1000, reason: [...unrouted.keys()][0] as string });
      throw unroutedError(unrouted);
    }
    for (const r of rejected) this.metrics.rejected.inc({ reason: r.path || 'event' });

    let stored = 0;
    let duplicates = 0;
    let highestSeq: number | null = null;
    const perSource = new Map<string, { count: number; gaps: number }>();
    const waits: Promise<void>[] = [];
    for (const [instance, items] of byInstance) {
      const outcome = instance.ingest(items.map((i) => i.event));
      waits.push(outcome.stored);
      outcome.fresh.forEach((fresh, i) => {
        const e = (items[i] as { event: CoreEvent }).event;
        const tally = perSource.get(e.source) ?? { count: 0, gaps: 0 };
        perSource.set(e.source, tally);
        tally.count++;
        if (fresh) {
          stored++;
          const { skipped, reordered } = this.sequences.observe(e.source, e.seq);
          tally.gaps += skipped;
          if (skipped) this.metrics.seqGaps.inc({ source: e.source }, skipped);
          if (reordered) this.metrics.seqReordered.inc({ source: e.source });
        } else duplicates++;
        highestSeq = Math.max(highestSeq ?? e.seq, e.seq);
      });
    }
    for (const [source, { count, gaps }] of perSource) this.sources?.seen(source, count, gaps, socket);
    // Backpressure: while an instance's records wait for the CDR store, the acks wait too.
    for (const instance of byInstance.keys()) waits.push(instance.belowBacklog(RECORD_BACKLOG_LIMIT));
    await Promise.all(waits);
    rejected.sort((a, b) => a.index - b.index);
    return { accepted: stored + duplicates, stored, duplicates, ...capProblems(rejected, omitted), highestSeq };
  }

  /**
   * The instance for an event, or why there is none (for now, or for good). `inBatch`: the
   * dialogs routed earlier in the same batch, not stored yet.
   */
  private route(e: CoreEvent, inBatch?: ReadonlyMap<string, CallstoreInstance>, partitions?: Map<string | null, ReturnType<CallstorePartition>>): CallstoreInstance | RouteRefusal {
    for (const instance of this.running.values()) {
      if (instance.holds(e.callId) || (e.otherCallId !== undefined && instance.holds(e.otherCallId))) return instance;
    }
    const batched = inBatch?.get(e.callId) ?? (e.otherCallId !== undefined ? inBatch?.get(e.otherCallId) : undefined);
    if (batched) return batched;
    const domain = e.domain ?? null;
    let p = partitions?.get(domain);
    if (p === undefined) {
      p = this.partition(domain);
      partitions?.set(domain, p);
    }
    if (typeof p === 'string') return { refused: `the domain ${e.domain ?? ''} ${p}`, temporary: false };
    if (p.group === null) {
      return {
        refused: e.domain ? `no callstore group serves the domain ${p.domain}` : 'domain is required: the call is unknown here and no default callstore group exists',
        temporary: false,
      };
    }
    const serving = p.matched === null ? `the default callstore group ${p.group}` : `callstore group ${p.group} (serving ${p.matched})`;
    // The group's instance on this site holds its calls, active or passive (design section 7):
    // the event is stored here and reaches the active instance through the log.
    const active = p.active === null ? undefined : this.running.get(p.active);
    if (active) return active;
    for (const name of p.instances) {
      const instance = this.running.get(name);
      if (instance) return instance;
    }
    if (p.instances.length === 0) return { refused: `${serving} has no active instance`, temporary: true };
    return { refused: `no instance of ${serving} runs on this site (${p.instances.join(', ')} ${p.instances.length === 1 ? 'runs' : 'run'} elsewhere or is starting)`, temporary: true };
  }

  /**
   * The active calls the filter matches, newest first (start, else last event; ties by id), a page
   * at a time. The cursor names the last call of the page before, so a page follows on from it
   * however many calls started or ended meanwhile. Only the page's calls are built as views.
   */
  listPage(filter: CallFilter = {}, page: CallPageRequest = {}): CallList {
    const limit = page.limit ?? CALL_LIST_LIMITS.defaultLimit;
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
    const matches = callFilter(filter);
    let total = 0;
    const rest: { summary: CallSummary; view: () => ActiveCall }[] = [];
    for (const instance of this.instances()) {
      for (const entry of instance.summaries()) {
        if (!matches(entry.summary)) continue;
        total++;
        if (after && compareListed(entry.summary, after) <= 0) continue;
        rest.push(entry);
      }
    }
    const items = firstInOrder(rest, limit, (a, b) => compareListed(a.summary, b.summary));
    const last = items.at(-1);
    return { items: items.map((e) => e.view()), total, nextCursor: rest.length > limit && last ? encodeCursor(last.summary) : null };
  }

  /** Every active call the filter matches, newest first, each built as its view: for a few calls (tests, tools); the API pages with listPage. */
  list(filter: CallFilter = {}): ActiveCall[] {
    const matches = callFilter(filter);
    return this.instances()
      .flatMap((i) => i.summaries())
      .filter((e) => matches(e.summary))
      .sort((a, b) => compareListed(a.summary, b.summary))
      .map((e) => e.view());
  }

  /** Every active call here, summarized (no views built): for counts and figures. */
  summaries(): CallSummary[] {
    return this.instances().flatMap((i) => i.summaries().map((e) => e.summary));
  }

  get(id: string): { call: ActiveCall; instance: CallstoreInstance } {
    for (const instance of this.instances()) {
      const call = instance.get(id);
      if (call) return { call, instance };
    }
    throw new NotFoundError(`No active call with id ${id}.`);
  }

  /** The stored raw events of these dialogs, from every instance's journal, in order. */
  rawEvents(callIds: readonly string[]): StoredEvent[] {
    const seen = new Set<string>();
    const events: CoreEvent[] = [];
    for (const instance of this.instances()) {
      for (const e of instance.rawEvents(callIds)) {
        if (seen.has(e.id)) continue;
        seen.add(e.id);
        events.push(e);
      }
    }
    return events.sort(compareEvents).map(({ tsMs, ...e }) => e);
  }

  terminate(id: string): Cdr | undefined {
    const { instance } = this.get(id);
    return instance.terminate(id, 'admin');
  }

  socketOpened(source: string, socket: SocketHandle): void {
    this.sources?.seen(source, 0, 0, socket);
  }

  socketClosed(socket: SocketHandle): void {
    this.sources?.socketClosed(socket);
  }

  listSources(): SourceInfo[] {
    return this.requireSources().list((id) => this.instances().reduce((n, i) => n + i.dialogsOf(id).filter((d) => !d.terminated).length, 0));
  }

  heartbeat(id: string, intervalMs: number): { state: SourceInfo['state']; syncRequested: boolean } {
    return this.requireSources().heartbeat(id, intervalMs);
  }

  /**
   * A source's list of its active dialogs (caf-call-legs-resync): known dialogs stay, unknown
   * answered ones are reconstructed (or refused, per the serving instance's resync_unknown),
   * known ones missing from the list end with resync_missing, unknown unanswered or terminating
   * ones are dropped; a dialog the callstore ended that the list shows up is reopened, one its
   * source ended is dropped. A dialog reconstructed after its record was written starts a new
   * record linked to the old one (kind resumed).
   *
   * The list is taken in as it arrives, a batch of dialogs at a time (NDJSON comes in the chunks it
   * is read in; an array is one batch), and the reconstructions of a batch go to their instance in
   * one ingest, so a list of 100,000 dialogs is neither held whole nor folded one call at a time.
   * Only what needs the whole list waits for its end: the known dialogs it does not name are ended
   * once it has all been read. A list refused on the way (an invalid or repeated dialog, a dialog
   * whose group has no active instance here for now) has taken in the dialogs before that one,
   * which a corrected list finds known, and ended nothing.
   */
  async sync(id: string, dialogs: readonly SyncDialog[] | AsyncIterable<readonly SyncDialog[]>, opts: { pathPrefix?: string } = {}): Promise<SyncResult> {
    const at = (i: number) => `${opts.pathPrefix ?? ''}/${i}`;
    const sources = this.requireSources();
    if (!sources.has(id)) throw new NotFoundError(`Unknown source ${id}: it has sent no event or heartbeat to this site.`);
    const batches: Iterable<readonly SyncDialog[]> | AsyncIterable<readonly SyncDialog[]> = Symbol.asyncIterator in dialogs ? dialogs : [dialogs as readonly SyncDialog[]];
    // What this site knows of the source's dialogs, once, before the list moves anything.
    const known = new Map<string, { dialog: KnownDialog; instance: CallstoreInstance }>();
    for (const instance of this.instances()) {
      for (const dialog of instance.dialogsOf(id)) if (!known.has(dialog.callId)) known.set(dialog.callId, { dialog, instance });
    }

    const result: SyncResult = { kept: [], reconstructed: [], refused: [], terminated: [], dropped: [] };
    const listedAt = new Map<string, number>();
    const pending = new Map<CallstoreInstance, CoreEvent[]>();
    const flush = (instance: CallstoreInstance) => {
      const events = pending.get(instance);
      if (!events?.length) return;
      pending.delete(instance);
      instance.reconstruct(events);
    };
    const flushAll = () => {
      for (const instance of [...pending.keys()]) flush(instance);
    };
    const now = Date.now();
    let index = 0;
    try {
      for await (const batch of batches) {
        // A dialog listed twice refuses the list there; the ones before it are taken in.
        let twice: ValidationError | undefined;
        let upTo = batch.length;
        for (let i = 0; i < batch.length; i++) {
          const callId = (batch[i] as SyncDialog).callId;
          const first = listedAt.get(callId);
          if (first !== undefined) {
            twice = new ValidationError(`The dialog list names "${callId}" twice; the dialogs before the second were taken in, none was ended: send the list again without it.`, [
              { path: `${at(index + i)}/callId`, message: `"${callId}" is listed twice (first at ${at(first)})` },
            ]);
            upTo = i;
            break;
          }
          listedAt.set(callId, index + i);
        }
        const part = upTo === batch.length ? batch : batch.slice(0, upTo);
        const indexOf = new Map(part.map((d, i) => [d.callId, index + i]));
        index += part.length;
        const plan = planResync(
          part.flatMap((d) => known.get(d.callId)?.dialog ?? []),
          part,
          'reconstruct',
        );
        result.kept.push(...plan.keep);
        // ended here by the callstore, up at the source: they stay, and are kept
        for (const d of plan.reopen) result.kept.push(...(known.get(d.callId)?.instance.reopenDialogs(id, [d]) ?? []));
        result.dropped.push(...plan.drop.map((d) => d.callId));
        result.refused.push(...plan.refuse.map((d) => d.callId));
        for (const d of plan.reconstruct) {
          const target = this.route({ id: '', source: id, seq: 0, ts: '', tsMs: now, type: 'invite', callId: d.callId, domain: d.domain });
          if (isRefusal(target) && target.temporary) {
            throw new UnavailableError(`The dialog ${d.callId} cannot be taken in here now: ${target.refused}. The dialogs before it were taken in, none was ended; send the list again in ${UNROUTED_RETRY_AFTER_SEC} s.`, UNROUTED_RETRY_AFTER_SEC, [
              { path: `${at(indexOf.get(d.callId) ?? 0)}/domain`, message: target.refused },
            ]);
          }
          if (isRefusal(target) || target.settingsNow.resyncUnknown === 'refuse') {
            result.refused.push(d.callId);
            continue;
          }
          const past = target.pastDialog(d.callId);
          // Its source ended it (its record is written): the list was taken before that end came.
          if (past?.endedBySource) {
            result.dropped.push(d.callId);
            continue;
          }
          const events = pending.get(target) ?? [];
          pending.set(target, events);
          events.push(...reconstruction(id, d, target.sourceTime(id, now), now, past));
          result.reconstructed.push(d.callId);
          if (events.length >= SYNC_CHUNK_EVENTS) flush(target);
        }
        if (twice) throw twice;
        // Each batch is taken in before the next is read (a streamed list waits for its next
        // chunk there, which lets other work in).
        flushAll();
      }
    } finally {
      // What was decided is taken in, also when the list is refused further on.
      flushAll();
    }

    // The whole list is in: the known dialogs it does not name have ended at the source.
    const missing = [...known.values()].filter((k) => !listedAt.has(k.dialog.callId));
    const plan = planResync(
      missing.map((k) => k.dialog),
      [],
      'reconstruct',
    );
    const endings = new Map<CallstoreInstance, string[]>();
    for (const callId of plan.terminate) {
      const instance = known.get(callId)?.instance;
      if (instance) endings.set(instance, [...(endings.get(instance) ?? []), callId]);
    }
    // In slices, letting other work in between, and held back as ingestion is when records pile
    // up: ending tens of thousands of calls at once would hold the event loop (every source's
    // acks) for seconds.
    for (const [instance, ids] of endings) {
      for (let i = 0; i < ids.length; i += SYNC_END_SLICE) {
        instance.endDialogs(new Set(ids.slice(i, i + SYNC_END_SLICE)), 'resync_missing');
        if (i + SYNC_END_SLICE < ids.length) {
          await new Promise((resolve) => setImmediate(resolve));
          await instance.belowBacklog(RECORD_BACKLOG_LIMIT);
        }
      }
    }
    result.terminated = plan.terminate;
    sources.synced(id);
    this.clearLoss(id);
    return result;
  }

  /**
   * A source lost here. Connected at a reachable peer, it is not lost (its calls go on there);
   * otherwise each active instance ends its calls after resync_timeout unless it comes back to
   * some site. A passive instance does not: the active one's ends reach it through the log.
   */
  private onSourceLost(id: string): void {
    this.clearLoss(id);
    if (this.elsewhereNow().has(id)) return;
    const lostAt = this.sources?.state(id)?.lostAt ?? Date.now();
    this.lostSince.set(id, lostAt);
    for (const instance of this.instances()) if (instance.isActive) this.armLoss(id, instance, lostAt);
  }

  private armLoss(id: string, instance: CallstoreInstance, lostAt: number): void {
    const timer = setTimeout(
      () => {
        // back at some site meanwhile, or no longer the active instance: not its to end
        if (this.connectedAnywhere(id) || !instance.isActive || this.running.get(instance.name) !== instance) return;
        if (instance.endSource(id, 'source_lost') > 0) this.sources?.calledOff(id);
      },
      Math.max(0, lostAt + instance.settingsNow.resyncTimeoutMs - Date.now()),
    );
    const timers = this.lossTimers.get(id) ?? [];
    timers.push(timer);
    this.lossTimers.set(id, timers);
  }

  private clearLoss(id: string): void {
    for (const t of this.lossTimers.get(id) ?? []) clearTimeout(t);
    this.lossTimers.delete(id);
    this.lostSince.delete(id);
  }

  private connectedHere(id: string): boolean {
    const s = this.sources?.state(id);
    return s !== undefined && s.state !== 'lost';
  }

  private connectedAnywhere(id: string): boolean {
    return this.connectedHere(id) || this.elsewhereNow().has(id);
  }

  private elsewhereNow(): Set<string> {
    const out = new Set<string>();
    for (const ids of this.sourcesElsewhere().values()) for (const id of ids) out.add(id);
    return out;
  }

  private requireSources(): SourceRegistry {
    if (!this.sources) throw new UnavailableError('The source registry is not ready.');
    return this.sources;
  }

  get activeCount(): number {
    return this.instances().reduce((n, i) => n + i.activeCount, 0);
  }

  assertRunning(): void {
    if (this.running.size === 0) throw new UnavailableError('No callstore instance runs on this site.');
  }
}

function callFilter(filter: CallFilter): (c: CallSummary) => boolean {
  const number = filter.number?.toLowerCase();
  const domain = filter.domain?.toLowerCase().replace(/\.$/, '');
  return (c) => {
    if (domain && c.domain?.toLowerCase() !== domain) return false;
    if (filter.state === 'orphan' ? !c.orphan : filter.state && c.state !== filter.state) return false;
    if (number && ![c.from, c.to, c.answeredBy].some((p) => p?.toLowerCase().includes(number))) return false;
    return true;
  };
}

/** Where a call stands in the list: its start (else its last event), newest first, then its id. */
type ListPosition = Pick<CallSummary, 'id' | 'startedAtMs' | 'lastEventAtMs'>;

function compareListed(a: ListPosition, b: ListPosition): number {
  const byTime = (b.startedAtMs ?? b.lastEventAtMs) - (a.startedAtMs ?? a.lastEventAtMs);
  return byTime !== 0 ? byTime : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** An opaque cursor: the position of the last call of a page. */
function encodeCursor(c: ListPosition): string {
  return Buffer.from(JSON.stringify([c.startedAtMs ?? c.lastEventAtMs, c.id])).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || value.length !== 2 || !Number.isSafeInteger(value[0]) || typeof value[1] !== 'string') {
    throw new ValidationError('The cursor is not one this list gave out; ask for the first page again (without cursor).', [{ path: '/cursor', message: 'is not a cursor of this list' }]);
  }
  return { startedAtMs: value[0] as number, lastEventAtMs: value[0] as number, id: value[1] as string };
}

/** The first `k` of `items` in the order of `compare`, sorted; O(n log k), for a page of a long list. */
function firstInOrder<T>(items: readonly T[], k: number, compare: (a: T, b: T) => number): T[] {
  if (k <= 0) return [];
  if (items.length <= k) return [...items].sort(compare);
  // A heap of the k first so far, the one furthest down the order at its root.
  const heap: T[] = [];
  const swap = (i: number, j: number) => {
    const t = heap[i] as T;
    heap[i] = heap[j] as T;
    heap[j] = t;
  };
  for (const item of items) {
    if (heap.length < k) {
      heap.push(item);
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (compare(heap[i] as T, heap[parent] as T) <= 0) break;
        swap(i, parent);
        i = parent;
      }
    } else if (compare(item, heap[0] as T) < 0) {
      heap[0] = item;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let top = i;
        if (l < k && compare(heap[l] as T, heap[top] as T) > 0) top = l;
        if (r < k && compare(heap[r] as T, heap[top] as T) > 0) top = r;
        if (top === i) break;
        swap(i, top);
        i = top;
      }
    }
  }
  return heap.sort(compare);
}

/** A batch refused because some of its events have no instance here for now: a 503 with Retry-After. */
function unroutedError(unrouted: ReadonlyMap<string, { index: number; path: string; count: number }>): UnavailableError {
  const reasons = [...unrouted.entries()];
  const events = reasons.reduce((n, [, r]) => n + r.count, 0);
  const [first] = reasons[0] as [string, unknown];
  const more = reasons.length > 1 ? ` (and ${reasons.length - 1} other reason${reasons.length > 2 ? 's' : ''})` : '';
  return new UnavailableError(
    `${events === 1 ? 'An event' : `${events} events`} of this batch cannot be stored here now: ${first}${more}. Nothing of the batch was stored; send it again in ${UNROUTED_RETRY_AFTER_SEC} s.`,
    UNROUTED_RETRY_AFTER_SEC,
    reasons.slice(0, UNROUTED_DETAILS_MAX).map(([message, r]) => ({ path: `/${r.index}${r.path}`, message: `${message}${r.count > 1 ? ` (${r.count} events)` : ''}` })),
  );
}

/**
 * The invite and answer the callstore makes for an answered dialog it learns of only from a sync,
 * in the source's time: the answer time it reports, or its now (`sourceNowMs`, see SourceClocks).
 * A reported time in the future is cut to now; since the estimate of the source's now is a lower
 * bound (its events arrive late, never early), "now" is the later of ours and that estimate. A
 * dialog whose record was written (the callstore ended it) resumes where that record ended: the
 * time before is billed there already.
 */
function reconstruction(source: string, d: SyncDialog, sourceNowMs: number, nowMs: number, past: { endedAt: number | null } | undefined): CoreEvent[] {
  const answeredMs = d.answeredAt ? Math.min(Date.parse(d.answeredAt), Math.max(nowMs, sourceNowMs)) : sourceNowMs;
  const atMs = past && past.endedAt !== null ? Math.max(answeredMs, past.endedAt) : answeredMs;
  const ts = new Date(atMs).toISOString();
  const idOf = (what: string) => `${source}:resync:${d.callId}:${nowMs}:${what}`;
  // Written out, not spread from a common base: V8 makes slow dictionary objects of such spreads,
  // ten times slower to build (a sync builds hundreds of thousands) and larger in the call table.
  const invite: CoreEvent = { id: idOf('invite'), source, seq: 0, ts, tsMs: atMs, type: 'invite', callId: d.callId, fromTag: d.fromTag, from: d.from, to: d.to, domain: d.domain, reconstructed: true };
  const answer: CoreEvent = { id: idOf('answer'), source, seq: 0, ts, tsMs: atMs, type: 'answer', callId: d.callId, fromTag: d.fromTag, toTag: d.toTag, reconstructed: true };
  if (past === undefined) return [invite, answer];
  // A record of this dialog exists already: the resumed call is a new record that links to it.
  invite.callRef = `${d.callId}~resumed-${nowMs}`;
  return [invite, answer, { id: idOf('resumed'), source, seq: 0, ts, tsMs: atMs, type: 'link', callId: d.callId, fromTag: d.fromTag, otherCallId: d.callId, kind: 'resumed', reconstructed: true }];
}
