import type { ActiveCall, Cdr, CallState, Disposition, EndReason, Fork, Hold, Leg, Link } from '../../../shared/api/cdr.js';
import type { CallEvent, Direction } from '../../../shared/api/events.js';

/**
 * The pure core of the callstore: the state of one call is a function of the *set* of its events.
 * Events are folded in (ts, seq, id) order whatever order they arrived in, so any delivery order of
 * the same events gives the same state and the same CDR. No I/O, no clock: time comes from events.
 */

/** An event as the core sees it: validated, its time parsed, and marked when the callstore made it. */
export interface CoreEvent extends Omit<CallEvent, 'kind'> {
  tsMs: number;
  /** `resumed` (internal): a call reconstructed by a resync after its record was written links to it */
  kind?: Link['kind'];
  /** set on `end` events the callstore produced itself (source lost, admin, timeout, resync) */
  synthesized?: Exclude<EndReason, 'normal'>;
  /** set on the invite and answer the callstore made from a source's dialog list (resync) */
  reconstructed?: boolean;
}

export function compareEvents(a: CoreEvent, b: CoreEvent): number {
  return a.tsMs - b.tsMs || a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

type LegState = Leg['state'];
type Party = Hold['by'];

interface HoldFold {
  on: number;
  off: number | null;
  by: Party;
}

interface Branch {
  toTag: string;
  code: number | null;
  at: number;
  outcome: Fork['outcome'];
  answeredAs: string | null;
}

interface LegFold {
  callId: string;
  fromTag: string;
  callRef: string | null;
  source: string;
  from: string | null;
  to: string | null;
  domain: string | null;
  direction: Direction | null;
  invitedAt: number | null;
  ringingAt: number | null;
  answeredAt: number | null;
  endedAt: number | null;
  firstEventAt: number;
  state: LegState;
  winner: string | null;
  branches: Map<string, Branch>;
  finalCode: number | null;
  cancelled: boolean;
  /** the kind of event that ended the leg */
  endedBy: 'end' | 'fail' | 'cancel' | null;
  hangup: { by: 'caller' | 'callee' | 'system' | null; code: number | null; reason: string | null } | null;
  endReason: EndReason;
  holds: HoldFold[];
  /** the hold each side has open on this leg: caller and callee can each hold the other at once */
  openHolds: Map<Party, HoldFold>;
  cdrFlag: boolean;
  profiles: { name: string; value?: string }[];
}

export interface CallFold {
  legs: LegFold[];
  links: Link[];
  /** the link kinds each dialog takes part in (either end of a link) */
  linkKindsByCallId: Map<string, Set<Link['kind']>>;
  eventIds: string[];
  anomalies: string[];
  lastEventAt: number;
  /** events the call table left out past its per-call limit (see CallTable) */
  leftOut: number;
}

function newLeg(e: CoreEvent): LegFold {
  return {
    callId: e.callId,
    fromTag: e.fromTag ?? '',
    callRef: null,
    source: e.source,
    from: null,
    to: null,
    domain: e.domain ?? null,
    direction: null,
    invitedAt: null,
    ringingAt: null,
    answeredAt: null,
    endedAt: null,
    firstEventAt: e.tsMs,
    state: 'trying',
    winner: null,
    branches: new Map(),
    finalCode: null,
    cancelled: false,
    endedBy: null,
    hangup: null,
    endReason: 'normal',
    holds: [],
    openHolds: new Map(),
    cdrFlag: false,
    profiles: [],
  };
}

function closeHolds(leg: LegFold, at: number): void {
  for (const h of leg.openHolds.values()) h.off = at;
  leg.openHolds.clear();
}

function terminate(leg: LegFold, at: number, by: NonNullable<LegFold['endedBy']>): boolean {
  if (leg.state === 'terminated') return false;
  leg.state = 'terminated';
  leg.endedAt = at;
  leg.endedBy = by;
  closeHolds(leg, at);
  return true;
}

/** Takes back the end of a leg: the leg is up again as it was before it. */
function reopen(leg: LegFold): void {
  leg.state = leg.answeredAt !== null ? 'confirmed' : leg.branches.size > 0 ? 'early' : 'trying';
  leg.endedAt = null;
  leg.endedBy = null;
  leg.hangup = null;
  leg.endReason = 'normal';
}

/**
 * An end the callstore made is its guess that the dialog is over (its source was lost, an admin
 * or a timeout ended it); an end, failure or cancel the source itself sends later is what really
 * happened, and replaces the guess.
 */
function overridesGuess(leg: LegFold, e: CoreEvent): boolean {
  return leg.state === 'terminated' && leg.endReason !== 'normal' && !e.synthesized && (e.type === 'end' || leg.answeredAt === null);
}

/**
 * Folds the events of one call into its legs, forks, holds and links, one event at a time in
 * (ts, seq, id) order. The call table keeps one per call and folds each event that sorts after the
 * others straight on (the usual case: events mostly arrive in order), so a busy call costs the same
 * per event however long it gets; an event that sorts earlier makes it fold the call again from
 * the start. Everything derived from the whole (branch outcomes, the order of legs) is worked out
 * when it is read, never written back, so folding can always go on.
 */
export class CallFolder {
  readonly fold: CallFold = { legs: [], links: [], linkKindsByCallId: new Map(), eventIds: [], anomalies: [], lastEventAt: 0, leftOut: 0 };
  private readonly legsById = new Map<string, LegFold>();
  private readonly seenIds = new Set<string>();
  private readonly linkKeys = new Set<string>();
  private last: CoreEvent | undefined;

  /** Whether `e` sorts after every event folded so far: folding it on gives what a refold would. */
  takesNext(e: CoreEvent): boolean {
    return this.last === undefined || compareEvents(this.last, e) < 0;
  }

  leg(callId: string): LegFold | undefined {
    return this.legsById.get(callId);
  }

  /** Folds in one more event, which must sort after those before it (see takesNext). */
  add(e: CoreEvent): void {
    if (this.seenIds.has(e.id)) return;
    this.seenIds.add(e.id);
    this.fold.eventIds.push(e.id);
    this.last = e;
    this.fold.lastEventAt = e.tsMs;
    const links = this.fold.links;
    const linkKindsByCallId = this.fold.linkKindsByCallId;
    let leg = this.legsById.get(e.callId);
    let reorder = false;
    if (!leg) {
      leg = newLeg(e);
      this.legsById.set(e.callId, leg);
      reorder = true;
    }
    if (e.fromTag && !leg.fromTag) leg.fromTag = e.fromTag;
    if (e.domain && !leg.domain) leg.domain = e.domain;
    if (e.type === 'invite' && leg.invitedAt === null) reorder = true;

    switch (e.type) {
      case 'invite':
        if (leg.invitedAt !== null) {
          this.fold.anomalies.push(`second invite for ${e.callId} (${e.id}) ignored`);
          break;
        }
        leg.invitedAt = e.tsMs;
        leg.source = e.source;
        leg.from = e.from ?? null;
        leg.to = e.to ?? null;
        leg.domain = e.domain ?? leg.domain;
        leg.direction = e.direction ?? null;
        leg.callRef = e.callRef ?? null;
        leg.cdrFlag = e.cdr === true;
        leg.profiles = e.profiles ?? [];
        if (e.reconstructed) this.fold.anomalies.push(`${e.callId} was reconstructed from the dialog list of ${e.source} after a resync; its start is the answer time it reported, or the end of its earlier record`);
        break;
      case 'progress': {
        const tag = e.toTag ?? '';
        const branch = leg.branches.get(tag);
        if (branch) branch.code = e.code ?? branch.code;
        else leg.branches.set(tag, { toTag: tag, code: e.code ?? null, at: e.tsMs, outcome: 'pending', answeredAs: null });
        if (e.code !== undefined && e.code >= 180 && e.code < 190 && leg.ringingAt === null) leg.ringingAt = e.tsMs;
        if (leg.state === 'trying') leg.state = 'early';
        break;
      }
      case 'answer': {
        if (e.reconstructed && leg.state === 'terminated' && leg.endReason !== 'normal') {
          // The callstore ended this dialog (a guess: its source was lost, say) and the source has
          // since listed it as up at a resync: it went on. An answered leg is up again as it was.
          this.fold.anomalies.push(`${e.callId} was ended by the callstore (${leg.endReason}) and listed as up by ${e.source} at a resync (${e.id}): it went on`);
          reopen(leg);
          if (leg.winner !== null) break;
        }
        const tag = e.toTag ?? '';
        let branch = leg.branches.get(tag);
        if (!branch) {
          branch = { toTag: tag, code: null, at: e.tsMs, outcome: 'pending', answeredAs: null };
          leg.branches.set(tag, branch);
        }
        if (leg.winner !== null) {
          if (leg.winner !== tag) {
            this.fold.anomalies.push(`second answer on ${e.callId} by branch ${tag} after ${leg.winner} (${e.id}): counted as a lost race`);
            branch.outcome = 'lose_race';
            branch.code = 200;
          }
          break;
        }
        leg.winner = tag;
        branch.outcome = 'answered';
        branch.code = 200;
        branch.answeredAs = e.to ?? null;
        if (leg.state === 'terminated' && leg.endedBy === 'cancel') {
          // The CANCEL crossed the 200 on the wire: a final answer cannot be cancelled, so the call
          // was answered (the caller's side then sends a BYE, which ends it).
          this.fold.anomalies.push(`cancel of ${e.callId} crossed its answer (${e.id}): the call was answered`);
          leg.cancelled = false;
          leg.answeredAt = e.tsMs;
          reopen(leg);
        } else if (leg.state === 'terminated') {
          // The end was stamped before the answer (clocks of two sources disagree): keep the
          // answer, but never let it fall after the end.
          this.fold.anomalies.push(`answer on ${e.callId} is later than its end (${e.id})`);
          leg.answeredAt = leg.endedAt;
        } else {
          leg.answeredAt = e.tsMs;
          leg.state = 'confirmed';
        }
        break;
      }
      case 'hold': {
        if (leg.state === 'terminated') break;
        const by = e.by ?? 'caller';
        if (leg.openHolds.has(by)) break;
        const hold: HoldFold = { on: e.tsMs, off: null, by };
        leg.holds.push(hold);
        leg.openHolds.set(by, hold);
        break;
      }
      case 'resume': {
        // a side takes off its own hold; the other side's hold, if any, goes on
        const by = e.by ?? 'caller';
        const open = leg.openHolds.get(by);
        if (open) {
          open.off = e.tsMs;
          leg.openHolds.delete(by);
        }
        break;
      }
      case 'link': {
        const other = e.otherCallId ?? '';
        const kind = e.kind ?? 'transfer';
        // A resumed call links to the record of its own dialog: the only link to itself allowed.
        const key = `${kind}\u0000${other}`;
        if (!this.linkKeys.has(key) && (other !== e.callId || kind === 'resumed')) {
          this.linkKeys.add(key);
          links.push({ kind, callId: other, fromCallId: e.callId, at: new Date(e.tsMs).toISOString() });
        }
        for (const id of [e.callId, other]) linkKindsByCallId.set(id, (linkKindsByCallId.get(id) ?? new Set()).add(kind));
        break;
      }
      case 'end':
        if (overridesGuess(leg, e)) {
          this.fold.anomalies.push(`${e.callId} was ended by the callstore (${leg.endReason}) before its source's own end (${e.id}), which is kept`);
          reopen(leg);
        }
        if (terminate(leg, e.tsMs, 'end')) {
          leg.hangup = { by: e.by ?? null, code: null, reason: e.reason ?? null };
          if (e.synthesized) leg.endReason = e.synthesized;
          if (leg.answeredAt === null) this.fold.anomalies.push(`end of ${e.callId} before any answer (${e.id})`);
        }
        break;
      case 'fail':
        if (overridesGuess(leg, e)) {
          this.fold.anomalies.push(`${e.callId} was ended by the callstore (${leg.endReason}) before its source's own failure (${e.id}), which is kept`);
          reopen(leg);
        }
        if (leg.finalCode === null) leg.finalCode = e.code ?? null;
        if (terminate(leg, e.tsMs, 'fail')) leg.hangup = { by: 'callee', code: e.code ?? null, reason: e.reason ?? null };
        break;
      case 'cancel':
        if (leg.answeredAt !== null) {
          this.fold.anomalies.push(`cancel of ${e.callId} after its answer (${e.id}) ignored`);
          break;
        }
        if (overridesGuess(leg, e)) {
          this.fold.anomalies.push(`${e.callId} was ended by the callstore (${leg.endReason}) before its source's own cancel (${e.id}), which is kept`);
          reopen(leg);
        }
        leg.cancelled = true;
        if (terminate(leg, e.tsMs, 'cancel')) leg.hangup = { by: 'caller', code: 487, reason: e.reason ?? 'cancelled' };
        break;
    }
    if (reorder) this.fold.legs = [...this.legsById.values()].sort((a, b) => (a.invitedAt ?? a.firstEventAt) - (b.invitedAt ?? b.firstEventAt) || (a.callId < b.callId ? -1 : 1));
  }
}

/** Folds the events of one call (any order) into its legs, forks, holds and links. */
export function foldCall(events: readonly CoreEvent[]): CallFold {
  const folder = new CallFolder();
  for (const e of [...events].sort(compareEvents)) folder.add(e);
  return folder.fold;
}

/** A branch's outcome: what its own events said, else what the leg's end makes of it. */
function outcomeOf(leg: LegFold, b: Branch): Fork['outcome'] {
  if (b.outcome !== 'pending') return b.outcome;
  if (leg.winner !== null) return 'lose_race';
  if (leg.cancelled) return 'cancelled';
  if (leg.state === 'terminated') return 'failed';
  return 'pending';
}

/** A call is finished when every dialog in it has ended. */
export function isFinished(fold: CallFold): boolean {
  return fold.legs.length > 0 && fold.legs.every((l) => l.state === 'terminated');
}

/** A call has an owner when some leg was invited; events of calls never invited are orphans. */
export function hasInvite(fold: CallFold): boolean {
  return fold.legs.some((l) => l.invitedAt !== null);
}

/** The identity of the call: the callRef (or callId) of the leg invited first. */
export function callIdOf(fold: CallFold): string {
  const root = rootLeg(fold);
  return root ? (root.callRef ?? root.callId) : '';
}

function rootLeg(fold: CallFold): LegFold | undefined {
  return fold.legs.find((l) => l.invitedAt !== null) ?? fold.legs[0];
}

/** Whether the call asked for a CDR (cdr_mode `flagged`). */
export function isFlagged(fold: CallFold): boolean {
  return fold.legs.some((l) => l.cdrFlag);
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const seconds = (ms: number) => Math.round(ms) / 1000;

/**
 * The party of a URI as far as telling parties apart goes: user@host, without scheme, display
 * name, port and parameters (a phone that makes its second call from another port is the same
 * party).
 */
export function partyKey(uri: string | null): string | null {
  if (!uri) return null;
  const inner = /<([^>]*)>/.exec(uri)?.[1] ?? uri;
  const addr = (inner.trim().replace(/^(sips?|tel):/i, '').split(/[;?]/)[0] ?? '').toLowerCase();
  const at = addr.lastIndexOf('@');
  return at < 0 ? addr : `${addr.slice(0, at)}@${addr.slice(at + 1).replace(/:\d+$/, '')}`;
}

/** Whether the caller of the call is the called party of this leg (a pickup: C calls A). */
function facesCaller(leg: LegFold, root: LegFold): boolean {
  const caller = partyKey(root.from);
  return leg !== root && caller !== null && partyKey(leg.to) === caller && partyKey(leg.from) !== caller;
}

/** The party a leg connected the caller with: its callee, or its caller when the leg faces the caller. */
function partyOf(leg: LegFold, root: LegFold): string | null {
  if (facesCaller(leg, root)) return leg.from;
  const branch = leg.winner !== null ? leg.branches.get(leg.winner) : undefined;
  return branch?.answeredAs ?? leg.to;
}

/** Link kinds that hand the caller over to another dialog: the first dialog's end is not the call's. */
const HANDOVER_KINDS: readonly Link['kind'][] = ['transfer', 'replaces', 'pickup'];

/**
 * The legs the caller was handed over to (a transfer, a replacement, a pickup): legs with such a
 * link that have the caller at one end. The transferor's consultation call (B calls C before an
 * attended transfer) has a `replaces` link too, but not the caller: it is not one of them.
 */
function handedOverLegs(fold: CallFold, root: LegFold): LegFold[] {
  const caller = partyKey(root.from);
  return fold.legs.filter((l) => {
    if (l === root || caller === null) return false;
    const kinds = fold.linkKindsByCallId.get(l.callId);
    if (!kinds || !HANDOVER_KINDS.some((k) => kinds.has(k))) return false;
    return partyKey(l.from) === caller || partyKey(l.to) === caller;
  });
}

/**
 * Who the caller talked to last: once the caller was handed over (transfer, replacement, pickup),
 * the party of the handed-over leg answered last; otherwise the earliest answer among the first
 * leg and the legs it reached through a b2bua, pickup or forward link.
 */
function answeredByOf(fold: CallFold, root: LegFold): string | null {
  const lastHandedOver = handedOverLegs(fold, root)
    .filter((l) => l.answeredAt !== null)
    .sort((a, b) => (b.answeredAt ?? 0) - (a.answeredAt ?? 0) || (a.callId < b.callId ? -1 : 1))[0];
  if (lastHandedOver) return partyOf(lastHandedOver, root);
  const kinds = (l: LegFold) => fold.linkKindsByCallId.get(l.callId) ?? new Set<Link['kind']>();
  const reaching = fold.legs.filter((l) => l === root || ['b2bua', 'pickup', 'forward'].some((k) => kinds(l).has(k as Link['kind'])));
  const answered = reaching.filter((l) => l.answeredAt !== null).sort((a, b) => (a.answeredAt ?? 0) - (b.answeredAt ?? 0) || (a === root ? 1 : b === root ? -1 : 0));
  const first = answered[0] ?? fold.legs.filter((l) => l.answeredAt !== null).sort((a, b) => (a.answeredAt ?? 0) - (b.answeredAt ?? 0))[0];
  return first ? partyOf(first, root) : null;
}

/**
 * Who ended the call: the first leg's hang-up (else that of the last leg to end), except once the
 * caller was handed over: the first leg's end was then the transfer, and the call ended with the
 * handed-over leg that ended last; its `by` is told from the call's caller (in a pickup the leg's
 * caller is the call's callee).
 */
function hangupOf(fold: CallFold, root: LegFold, lastEnded: LegFold): Cdr['hangup'] {
  const last = handedOverLegs(fold, root)
    .filter((l) => l.hangup !== null)
    .sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0) || (a.callId < b.callId ? -1 : 1))[0];
  if (last?.hangup && (last.endedAt ?? 0) >= (root.endedAt ?? 0)) {
    const { by } = last.hangup;
    const seenFromCaller = facesCaller(last, root) && by === 'caller' ? 'callee' : facesCaller(last, root) && by === 'callee' ? 'caller' : by;
    return { ...last.hangup, by: seenFromCaller };
  }
  const fallback = root.hangup ? root : lastEnded;
  return fallback.hangup ?? { by: null, code: null, reason: null };
}

function holdMs(intervals: { on: number; off: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.on - b.on);
  let total = 0;
  let cur: { on: number; off: number } | undefined;
  for (const i of sorted) {
    if (!cur || i.on > cur.off) {
      if (cur) total += cur.off - cur.on;
      cur = { ...i };
    } else cur.off = Math.max(cur.off, i.off);
  }
  if (cur) total += cur.off - cur.on;
  return total;
}

function legView(l: LegFold): Leg {
  return {
    callId: l.callId,
    fromTag: l.fromTag,
    toTag: l.winner ?? ([...l.branches.keys()].at(-1) || null),
    from: l.from,
    to: l.to,
    source: l.source,
    startedAt: iso(l.invitedAt),
    ringingAt: iso(l.ringingAt),
    answeredAt: iso(l.answeredAt),
    endedAt: iso(l.endedAt),
    code: l.answeredAt !== null ? 200 : (l.finalCode ?? (l.cancelled ? 487 : null)),
    state: l.state,
  };
}

function forksOf(fold: CallFold): Fork[] {
  return fold.legs.flatMap((l) =>
    [...l.branches.values()].filter((b) => b.toTag !== '').map((b) => ({ callId: l.callId, toTag: b.toTag, code: b.code, at: new Date(b.at).toISOString(), outcome: outcomeOf(l, b) })),
  );
}

function holdsOf(fold: CallFold): Hold[] {
  return fold.legs.flatMap((l) => l.holds.map((h) => ({ callId: l.callId, on: new Date(h.on).toISOString(), off: iso(h.off), by: h.by })));
}

function minOf(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? Math.min(...present) : null;
}

/** The state an admin would call the call by: talking, on hold, ringing ... */
export function callStateOf(fold: CallFold): CallState {
  const live = fold.legs.filter((l) => l.state !== 'terminated');
  if (fold.legs.length > 0 && live.length === 0) return 'ending';
  const talking = live.filter((l) => l.state === 'confirmed');
  if (talking.length > 0) return talking.some((l) => l.openHolds.size > 0) ? 'on_hold' : 'talking';
  if (live.some((l) => l.state === 'early')) return 'ringing';
  return 'trying';
}

/** The anomalies of a call, as a copy: the fold goes on changing after a view is taken. */
function anomaliesOf(fold: CallFold): string[] {
  const anomalies = [...fold.anomalies];
  if (fold.leftOut > 0) anomalies.push(`${fold.leftOut} events past the limit of events per call were left out (repeated progress, holds and the like); every end was kept`);
  return anomalies;
}

export interface CallContext {
  site: string;
  instance: string;
}

export function toActiveCall(fold: CallFold, ctx: CallContext): ActiveCall {
  const root = rootLeg(fold);
  return {
    id: callIdOf(fold),
    domain: root?.domain ?? null,
    state: callStateOf(fold),
    direction: root?.direction ?? null,
    from: root?.from ?? null,
    to: root?.to ?? null,
    answeredBy: root ? answeredByOf(fold, root) : null,
    source: root?.source ?? '',
    instance: ctx.instance,
    startedAt: iso(minOf(fold.legs.map((l) => l.invitedAt))),
    ringingAt: iso(minOf(fold.legs.map((l) => l.ringingAt))),
    answeredAt: iso(minOf(fold.legs.map((l) => l.answeredAt))),
    lastEventAt: new Date(fold.lastEventAt).toISOString(),
    legs: fold.legs.map(legView),
    forks: forksOf(fold),
    holds: holdsOf(fold),
    links: [...fold.links],
    eventCount: fold.eventIds.length,
    anomalies: anomaliesOf(fold),
    orphan: !hasInvite(fold),
  };
}

/**
 * The fields of an active call that a list filters and sorts on, as toActiveCall has them, without
 * building its legs, forks and holds: a list of many calls builds views for one page only.
 */
export interface CallSummary {
  id: string;
  domain: string | null;
  state: CallState;
  from: string | null;
  to: string | null;
  answeredBy: string | null;
  startedAtMs: number | null;
  lastEventAtMs: number;
  orphan: boolean;
}

export function callSummaryOf(fold: CallFold): CallSummary {
  const root = rootLeg(fold);
  return {
    id: callIdOf(fold),
    domain: root?.domain ?? null,
    state: callStateOf(fold),
    from: root?.from ?? null,
    to: root?.to ?? null,
    answeredBy: root ? answeredByOf(fold, root) : null,
    startedAtMs: minOf(fold.legs.map((l) => l.invitedAt)),
    lastEventAtMs: fold.lastEventAt,
    orphan: !hasInvite(fold),
  };
}

/**
 * How an unanswered call went for the caller, which the root leg tells: a B2BUA cancels its own
 * leg to the callee when it gives up ringing and answers the caller 480, so a cancelled leg
 * elsewhere says nothing about the caller. Only when the root leg has no outcome of its own (its
 * end was synthesized, or a bare `end`) does the first other leg that has one speak for it.
 */
function dispositionOf(fold: CallFold, answeredAt: number | null, endReason: EndReason): Disposition {
  if (answeredAt !== null) return 'ANSWERED';
  const root = rootLeg(fold);
  const hasOutcome = (l: LegFold) => l.cancelled || l.finalCode !== null;
  const decides = root && hasOutcome(root) ? root : fold.legs.find(hasOutcome);
  if (decides?.cancelled) return 'CANCELLED';
  const code = decides?.finalCode ?? null;
  if (code === 486 || code === 600) return 'BUSY';
  if (code === 408 || code === 480 || endReason === 'timeout') return 'NO_ANSWER';
  return 'FAILED';
}

/**
 * The complex CDR of design section 4.2 for a finished call. Durations are in seconds with
 * millisecond precision; hold time never reduces billsec.
 */
export function buildCdr(fold: CallFold, ctx: CallContext): Cdr {
  if (!isFinished(fold)) throw new Error('buildCdr needs a finished call');
  const root = rootLeg(fold) as LegFold;
  const anomalies = anomaliesOf(fold);
  const startedAt = minOf(fold.legs.map((l) => l.invitedAt)) ?? Math.min(...fold.legs.map((l) => l.firstEventAt));
  // The legs of a call can come from sources whose clocks disagree: an end stamped before the
  // start, or an answer before it, would make a negative duration or ring time. The record keeps
  // start ≤ answer ≤ end and says so.
  const lastEnd = Math.max(...fold.legs.map((l) => l.endedAt ?? l.firstEventAt));
  if (lastEnd < startedAt) anomalies.push(`the call's end is stamped ${seconds(startedAt - lastEnd)} s before its start: ended at the start`);
  const endedAt = Math.max(lastEnd, startedAt);
  const firstAnswer = minOf(fold.legs.map((l) => l.answeredAt));
  if (firstAnswer !== null && firstAnswer < startedAt) anomalies.push(`the first answer is stamped ${seconds(startedAt - firstAnswer)} s before the call's start: answered at the start`);
  const answeredAt = firstAnswer === null ? null : Math.min(Math.max(firstAnswer, startedAt), endedAt);
  // The reason the call ended is the reason of its last leg to end; a synthesized end anywhere marks the record.
  const lastEnded = [...fold.legs].sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0))[0] as LegFold;
  const synthesizedLeg = fold.legs.find((l) => l.endReason !== 'normal');
  const endReason = lastEnded.endReason !== 'normal' ? lastEnded.endReason : (synthesizedLeg?.endReason ?? 'normal');
  // on hold only while the call is up: a hold stamped outside it (another source's clock) is cut
  const holdFrom = answeredAt ?? startedAt;
  const holdIntervals = fold.legs
    .flatMap((l) => l.holds.map((h) => ({ on: Math.max(h.on, holdFrom), off: Math.min(h.off ?? l.endedAt ?? endedAt, endedAt) })))
    .filter((h) => h.off > h.on);

  return {
    id: callIdOf(fold),
    domain: root.domain ?? '',
    site: ctx.site,
    source: root.source,
    direction: root.direction,
    from: root.from ?? '',
    to: root.to ?? '',
    answeredBy: answeredByOf(fold, root),
    startedAt: new Date(startedAt).toISOString(),
    ringingAt: iso(minOf(fold.legs.map((l) => l.ringingAt))),
    answeredAt: iso(answeredAt),
    endedAt: new Date(endedAt).toISOString(),
    duration: seconds(endedAt - startedAt),
    billsec: answeredAt === null ? 0 : seconds(Math.max(0, endedAt - answeredAt)),
    ringSec: seconds((answeredAt ?? endedAt) - startedAt),
    holdSec: seconds(holdMs(holdIntervals)),
    disposition: dispositionOf(fold, answeredAt, endReason),
    hangup: hangupOf(fold, root, lastEnded),
    endReason,
    legs: fold.legs.map(legView),
    forks: forksOf(fold),
    holds: holdsOf(fold),
    links: [...fold.links],
    synthesized: synthesizedLeg !== undefined,
    eventIds: [...fold.eventIds],
    anomalies,
  };
}
