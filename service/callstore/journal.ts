import { join } from 'node:path';
import type { Cdr } from '../../shared/api/cdr.js';
import type { ChangeLog, GroupWriter } from '../storage/changelog/log.js';
import { EventJournal, type LoggedRecords } from '../storage/journal.js';
import type { CoreEvent } from './core/call.js';
import { CDR_ENTRY_KIND } from './record-writer.js';

export type Durability = 'fsync' | 'os';

/**
 * Where a callstore instance keeps its raw events (the journal): every event, for the retention
 * period, and which dialogs are still active. The instance holds it through this interface; the
 * change log's journal (storage/journal.ts) is the one the service uses.
 */
export interface CallJournal {
  /** the durability commits get now: `fsync` for state_save transactional */
  readonly durability: Durability;
  setDurability(durability: Durability): void;
  /** stores the events not stored yet (in the open transaction); per event, whether it was new */
  append(events: readonly CoreEvent[], receivedAt: number): boolean[];
  /**
   * the dialogs leave the active set; `also` writes in the same transaction (a finished call's
   * record): resolves once it committed
   */
  finish(callIds: Iterable<string>, also?: (writer: GroupWriter) => void): Promise<void>;
  /** resolves once everything written so far is committed (fsync'd with `fsync`) */
  flush(): Promise<void>;
  /** the events of the dialogs still active */
  activeEvents(): CoreEvent[];
  /** the same, each with whether this site took it in (own) or a peer did */
  activeEventsWithOrigin(): { event: CoreEvent; own: boolean }[];
  /** whether any event of this dialog is stored */
  knows(callId: string): boolean;
  eventsOf(callIds: Iterable<string>): CoreEvent[];
  purgeReceivedBefore(cutoffMs: number): number;
  close(): Promise<void>;
}

/** Opens the journal of an instance (at its start). */
export type OpenCallJournal = (instance: string, durability: Durability) => Promise<CallJournal>;

/** The dialogs an event makes active: its own, and for a link the other one too. */
export function dialogsOf(e: CoreEvent): readonly string[] {
  return e.type === 'link' && e.otherCallId ? [e.callId, e.otherCallId] : [e.callId];
}

/** The records of calls as the journal reads them in a replayed log: a dialog a record finished stays finished, unless a resync reopened it after. */
const RECORDS: LoggedRecords<CoreEvent> = {
  kind: CDR_ENTRY_KIND,
  dialogsOf: (body) => (typeof body === 'object' && body !== null ? dialogsOfRecord(body as Pick<Cdr, 'legs'>) : []),
  reopens: (e) => e.reconstructed === true,
};

/** Where an instance's journal lived before the change log: adopted at its first start. */
export function legacyJournalFile(dataDir: string, instance: string): string {
  return join(dataDir, 'callstore', instance, 'journal.sqlite');
}

/**
 * What the callstore does with what peers replicate (Active-Passive across sites, design section
 * 7): a peer's events go to the instance here that holds the calls of their group, active or
 * passive; a peer's record of a call finishes the call here without a record of its own.
 */
export interface PeerIntake {
  /** the instance of this site holding the calls of the group of the instance named in a peer's event */
  holderOf(instance: string): string | undefined;
  /** this site's callstore instances (a peer's record finishes its dialogs in their journals) */
  localInstances(): readonly string[];
  /** a peer's events for `holder`, once committed here */
  events(holder: string, events: { event: CoreEvent; receivedAt: number }[]): void;
  /** a peer's call record, once committed here (its dialogs have left the journal's active set in the same transaction) */
  record(cdr: Cdr): void;
}

/** The dialogs a record names: those of its legs. */
export function dialogsOfRecord(cdr: Pick<Cdr, 'legs'>): string[] {
  return Array.isArray(cdr.legs) ? cdr.legs.map((l) => l.callId).filter((id): id is string => typeof id === 'string') : [];
}

/**
 * The journals of the instances of a data directory, in its change log. With `peers`, the events
 * and records peers send are taken in as PeerIntake says, from now on (before any link opens).
 */
export function journalsIn(log: ChangeLog, dataDir: string, peers?: PeerIntake): OpenCallJournal {
  EventJournal.prepare<CoreEvent>(log, dialogsOf, peers ? { holderOf: (i) => peers.holderOf(i), indexed: (holder, events) => peers.events(holder, events) } : undefined, RECORDS);
  if (peers) followPeerRecords(log, peers);
  return (instance, durability) => EventJournal.open<CoreEvent>(log, { instance, durability, dialogsOf, legacyFile: legacyJournalFile(dataDir, instance) });
}

/**
 * A peer's `cdr` entry, in the transaction of `receive` that takes it in: its call's dialogs
 * leave the active set of this site's instances (a restart does not fold the call again), and
 * after the commit the record is handed over (the instance holding the call drops it).
 */
function followPeerRecords(log: ChangeLog, peers: PeerIntake): void {
  const stillThere = log.database.prepare('SELECT 1 FROM entries WHERE origin = ? AND seq = ?');
  let pending: { originId: number; seq: number; cdr: Cdr }[] = [];
  log.onReceive((entry, originId) => {
    if (entry.kind !== CDR_ENTRY_KIND || originId === log.localOriginId || typeof entry.body !== 'object' || entry.body === null) return;
    const cdr = entry.body as Cdr;
    EventJournal.finishDialogs(log, peers.localInstances(), dialogsOfRecord(cdr));
    pending.push({ originId, seq: entry.seq, cdr });
  });
  log.onCommit(() => {
    if (pending.length === 0) return;
    const taken = pending;
    pending = [];
    // a receive that rolled back took nothing in: its records come again
    for (const p of taken) if (stillThere.get(p.originId, p.seq) !== undefined) peers.record(p.cdr);
  });
}
