import { join } from 'node:path';
import type { ChangeLog, GroupWriter } from '../storage/changelog/log.js';
import { EventJournal } from '../storage/journal.js';
import type { CoreEvent } from './core/call.js';

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

/** Where an instance's journal lived before the change log: adopted at its first start. */
export function legacyJournalFile(dataDir: string, instance: string): string {
  return join(dataDir, 'callstore', instance, 'journal.sqlite');
}

/** The journals of the instances of a data directory, in its change log. */
export function journalsIn(log: ChangeLog, dataDir: string): OpenCallJournal {
  return (instance, durability) => EventJournal.open<CoreEvent>(log, { instance, durability, dialogsOf, legacyFile: legacyJournalFile(dataDir, instance) });
}
