import { Counter, Gauge, type Registry } from 'prom-client';

/** The callstore's Prometheus metrics, one set for all instances (labelled by instance). */
export class CallstoreMetrics {
  readonly events: Counter<'instance' | 'type'>;
  readonly duplicates: Counter<'instance'>;
  readonly late: Counter<'instance'>;
  readonly rejected: Counter<'reason'>;
  readonly orphanEvents: Counter<'instance'>;
  readonly orphansDropped: Counter<'instance'>;
  readonly cdrs: Counter<'instance' | 'disposition' | 'end_reason'>;
  readonly anomalies: Counter<'instance'>;
  readonly active: Gauge<'instance'>;
  readonly seqGaps: Counter<'source'>;
  readonly seqReordered: Counter<'source'>;
  readonly replicatedEvents: Counter<'instance'>;
  readonly recordsOfPeers: Counter<'instance'>;
  readonly awaitingRecords: Gauge<'instance'>;
  readonly admissions: Counter<'result'>;
  readonly rebuiltRecords: Counter<'instance'>;
  readonly staleRecords: Gauge<'instance'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.events = new Counter({ name: 'sitecall_callstore_events_total', help: 'Call events stored, by instance and type', labelNames: ['instance', 'type'], registers });
    this.duplicates = new Counter({ name: 'sitecall_callstore_events_duplicate_total', help: 'Events received again with an id already stored (not stored twice)', labelNames: ['instance'], registers });
    this.late = new Counter({ name: 'sitecall_callstore_events_late_total', help: 'Events for calls whose CDR was already written', labelNames: ['instance'], registers });
    this.rejected = new Counter({ name: 'sitecall_callstore_events_rejected_total', help: 'Invalid events refused at the edge, by reason', labelNames: ['reason'], registers });
    this.orphanEvents = new Counter({ name: 'sitecall_callstore_orphan_events_total', help: 'Events for dialogs never seen starting (no invite yet)', labelNames: ['instance'], registers });
    this.orphansDropped = new Counter({ name: 'sitecall_callstore_orphan_calls_dropped_total', help: 'Orphan calls whose invite never came within call_timeout', labelNames: ['instance'], registers });
    this.cdrs = new Counter({ name: 'sitecall_callstore_cdrs_written_total', help: 'CDRs written to cdr/COPM3_dialogs', labelNames: ['instance', 'disposition', 'end_reason'], registers });
    this.anomalies = new Counter({ name: 'sitecall_callstore_anomalies_total', help: 'Calls whose events did not fit the protocol (see the CDR anomalies)', labelNames: ['instance'], registers });
    this.active = new Gauge({ name: 'sitecall_callstore_active_calls', help: 'Active calls held, by instance', labelNames: ['instance'], registers });
    this.seqGaps = new Counter({ name: 'sitecall_events_seq_gaps_total', help: 'Sequence numbers skipped by a source (events possibly lost before reaching us)', labelNames: ['source'], registers });
    this.replicatedEvents = new Counter({ name: 'sitecall_callstore_replicated_events_total', help: 'Events of the group taken in by a peer and folded here (Active-Passive: every instance of a group folds its calls)', labelNames: ['instance'], registers });
    this.recordsOfPeers = new Counter({ name: 'sitecall_callstore_peer_records_total', help: 'Calls held here that left when the record the active instance wrote at a peer arrived', labelNames: ['instance'], registers });
    this.awaitingRecords = new Gauge({ name: 'sitecall_callstore_awaiting_records', help: 'Finished calls held for the record of the active instance (a passive instance), or until this one may write', labelNames: ['instance'], registers });
    this.admissions = new Counter({ name: 'sitecall_admissions_total', help: 'Admission answers (POST /api/v1/admission), by result: ok, again (a call already admitted or up), limit, syncing', labelNames: ['result'], registers });
    this.rebuiltRecords = new Counter({ name: 'sitecall_callstore_records_rebuilt_total', help: 'Records written again from the union of their call\'s events, after events of the call came from the other side of a partition', labelNames: ['instance'], registers });
    this.staleRecords = new Gauge({ name: 'sitecall_callstore_stale_records', help: 'Recorded calls with events their record lacks (from a peer), waiting for the active instance to rebuild them', labelNames: ['instance'], registers });
    this.seqReordered = new Counter({ name: 'sitecall_events_seq_reordered_total', help: 'Events that arrived after a higher seq of their source', labelNames: ['source'], registers });
  }
}
