import type { ActiveCall, Cdr } from '../../shared/api/cdr.js';
import type { EventProblem, IngestResult } from '../../shared/api/events.js';
import type { PartitionResult } from '../../shared/api/roles.js';
import { NotFoundError, UnavailableError } from '../errors.js';
import type { CoreEvent } from './core/call.js';
import { parseEvents } from './ingest.js';
import type { CallstoreInstance } from './instance.js';
import type { CallstoreMetrics } from './metrics.js';
import { SourceSequences } from './sequences.js';

/** Which group and instance serve a domain (the configuration's partitioning), or why none can. */
export type CallstorePartition = (domain: string | null) => PartitionResult | string;

export interface CallFilter {
  domain?: string | undefined;
  state?: ActiveCall['state'] | 'orphan' | undefined;
  number?: string | undefined;
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

  constructor(
    private readonly partition: CallstorePartition,
    private readonly metrics: CallstoreMetrics,
  ) {}

  /** Called by the role factory when an instance starts and stops. */
  register(instance: CallstoreInstance): void {
    this.running.set(instance.name, instance);
  }

  unregister(instance: CallstoreInstance): void {
    if (this.running.get(instance.name) === instance) this.running.delete(instance.name);
  }

  instances(): CallstoreInstance[] {
    return [...this.running.values()];
  }

  /** Validates, routes and stores a batch; resolves when it is stored as state_save requires. */
  async ingest(items: readonly unknown[], alreadyRejected: EventProblem[] = []): Promise<IngestReport> {
    const { events, rejected } = parseEvents(items, new Set(alreadyRejected.map((r) => r.index)));
    rejected.unshift(...alreadyRejected);
    const byInstance = new Map<CallstoreInstance, { index: number; event: CoreEvent }[]>();
    for (const item of events) {
      const target = this.route(item.event);
      if (typeof target === 'string') {
        rejected.push({ index: item.index, id: item.event.id, path: item.event.domain ? '/domain' : '', message: target });
        continue;
      }
      const list = byInstance.get(target) ?? [];
      list.push(item);
      byInstance.set(target, list);
    }
    for (const r of rejected) this.metrics.rejected.inc({ reason: r.path || 'event' });

    let stored = 0;
    let duplicates = 0;
    let highestSeq: number | null = null;
    const waits: Promise<void>[] = [];
    for (const [instance, items] of byInstance) {
      const outcome = instance.ingest(items.map((i) => i.event));
      waits.push(outcome.stored);
      outcome.fresh.forEach((fresh, i) => {
        const e = (items[i] as { event: CoreEvent }).event;
        if (fresh) {
          stored++;
          const { skipped, reordered } = this.sequences.observe(e.source, e.seq);
          if (skipped) this.metrics.seqGaps.inc({ source: e.source }, skipped);
          if (reordered) this.metrics.seqReordered.inc({ source: e.source });
        } else duplicates++;
        highestSeq = Math.max(highestSeq ?? e.seq, e.seq);
      });
    }
    await Promise.all(waits);
    rejected.sort((a, b) => a.index - b.index);
    return { accepted: stored + duplicates, stored, duplicates, rejected, highestSeq };
  }

  /** The instance for an event, or why there is none. */
  private route(e: CoreEvent): CallstoreInstance | string {
    for (const instance of this.running.values()) {
      if (instance.holds(e.callId) || (e.otherCallId !== undefined && instance.holds(e.otherCallId))) return instance;
    }
    const p = this.partition(e.domain ?? null);
    if (typeof p === 'string') return `the domain ${e.domain ?? ''} ${p}`;
    if (p.group === null) {
      return e.domain
        ? `no callstore group serves the domain ${p.domain}`
        : 'domain is required: the call is unknown here and no default callstore group exists';
    }
    if (p.active === null) return `callstore group ${p.group} has no active instance`;
    const instance = this.running.get(p.active);
    if (!instance) return `the active instance ${p.active} of callstore group ${p.group} does not run on this site`;
    return instance;
  }

  list(filter: CallFilter = {}): ActiveCall[] {
    const number = filter.number?.toLowerCase();
    const domain = filter.domain?.toLowerCase().replace(/\.$/, '');
    return this.instances()
      .flatMap((i) => i.list())
      .filter((c) => {
        if (domain && c.domain?.toLowerCase() !== domain) return false;
        if (filter.state === 'orphan' ? !c.orphan : filter.state && c.state !== filter.state) return false;
        if (number && ![c.from, c.to, c.answeredBy].some((p) => p?.toLowerCase().includes(number))) return false;
        return true;
      })
      .sort((a, b) => (b.startedAt ?? b.lastEventAt).localeCompare(a.startedAt ?? a.lastEventAt));
  }

  get(id: string): { call: ActiveCall; instance: CallstoreInstance } {
    for (const instance of this.instances()) {
      const call = instance.get(id);
      if (call) return { call, instance };
    }
    throw new NotFoundError(`No active call with id ${id}.`);
  }

  terminate(id: string): Cdr | undefined {
    const { instance } = this.get(id);
    return instance.terminate(id, 'admin');
  }

  get activeCount(): number {
    return this.instances().reduce((n, i) => n + i.activeCount, 0);
  }

  assertRunning(): void {
    if (this.running.size === 0) throw new UnavailableError('No callstore instance runs on this site.');
  }
}
