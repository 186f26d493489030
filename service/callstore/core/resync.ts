import type { SyncDialog } from '../../../shared/api/sources.js';

/** A dialog of the source as the callstore knows it. */
export interface KnownDialog {
  callId: string;
  terminated: boolean;
  /** it was ended by the callstore (source lost, admin, timeout, resync), not by its source */
  endedByCallstore?: boolean;
}

export interface ResyncPlan {
  keep: string[];
  /** known, ended here by the callstore, listed as answered: the source knows better, it is up */
  reopen: SyncDialog[];
  reconstruct: SyncDialog[];
  refuse: SyncDialog[];
  /** known, still up here, missing from the source's list */
  terminate: string[];
  drop: SyncDialog[];
}

/**
 * What to do when a source sends its list of active dialogs (caf-call-legs-resync): known dialogs
 * stay; unknown answered ones are reconstructed (or refused); known ones missing from the list are
 * ended; unknown transient (unanswered) and terminating ones are dropped. Pure.
 *
 * A known dialog listed after it ended here depends on who ended it. Its source's own end (a BYE,
 * a final failure, a cancel) is a fact, and a list that still shows the dialog was taken before
 * that end reached us (the list and the events travel apart): it is dropped, and the record says
 * what the events say. An end the callstore made was a guess (its source was lost, say): the source
 * listing it answered knows better, so the dialog is reopened and its call goes on.
 */
export function planResync(known: readonly KnownDialog[], reported: readonly SyncDialog[], unknownPolicy: 'reconstruct' | 'refuse'): ResyncPlan {
  const plan: ResyncPlan = { keep: [], reopen: [], reconstruct: [], refuse: [], terminate: [], drop: [] };
  const knownIds = new Map(known.map((k) => [k.callId, k]));
  const reportedIds = new Set(reported.map((d) => d.callId));
  for (const d of reported) {
    const k = knownIds.get(d.callId);
    if (k && !k.terminated) plan.keep.push(d.callId);
    else if (k) (k.endedByCallstore && d.state === 'confirmed' ? plan.reopen : plan.drop).push(d);
    else if (d.state !== 'confirmed') plan.drop.push(d);
    else if (unknownPolicy === 'refuse') plan.refuse.push(d);
    else plan.reconstruct.push(d);
  }
  for (const k of known) if (!k.terminated && !reportedIds.has(k.callId)) plan.terminate.push(k.callId);
  return plan;
}
