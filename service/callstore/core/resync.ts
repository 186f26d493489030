import type { SyncDialog } from '../../../shared/api/sources.js';

/** A dialog of the source as the callstore knows it. */
export interface KnownDialog {
  callId: string;
  terminated: boolean;
}

export interface ResyncPlan {
  keep: string[];
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
 */
export function planResync(known: readonly KnownDialog[], reported: readonly SyncDialog[], unknownPolicy: 'reconstruct' | 'refuse'): ResyncPlan {
  const plan: ResyncPlan = { keep: [], reconstruct: [], refuse: [], terminate: [], drop: [] };
  const knownIds = new Map(known.map((k) => [k.callId, k]));
  const reportedIds = new Set(reported.map((d) => d.callId));
  for (const d of reported) {
    if (knownIds.has(d.callId)) plan.keep.push(d.callId);
    else if (d.state !== 'confirmed') plan.drop.push(d);
    else if (unknownPolicy === 'refuse') plan.refuse.push(d);
    else plan.reconstruct.push(d);
  }
  for (const k of known) if (!k.terminated && !reportedIds.has(k.callId)) plan.terminate.push(k.callId);
  return plan;
}
