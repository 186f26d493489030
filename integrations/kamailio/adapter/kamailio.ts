import type { CallEvent, EventType, LinkKind } from '../../../shared/api/events.js';

/**
 * What the shipped kamailio.cfg sends over evapi (one JSON object per netstring):
 *
 *  - `{"k":"hello", kboot, kseq, tvs, tvu}` when an adapter connection is accepted: the numbering
 *    of this Kamailio run (`kboot`, ms since the epoch as text) and the last number used so far;
 *  - `{"k":"ev", kboot, kseq, tvs, tvu, type, callId, fromTag, ...}` per call event (a `link`
 *    with `otherCallId` and `kind`), numbered
 *    1, 2, 3 ... per run under one lock, in stream order; `tvs`/`tvu` is when it happened.
 *
 * Kamailio's script integers are 32-bit, so the event's `id`, 53-bit `seq` and RFC 3339 `ts` are
 * made here.
 */

/** Where an event stands in Kamailio's numbering: run, then number. */
export interface KamPosition {
  kboot: string;
  kseq: number;
}

export interface KamHello extends KamPosition {
  k: 'hello';
  tvs: number;
  tvu: number;
}

export interface KamEvent extends KamPosition {
  k: 'ev';
  tvs: number;
  tvu: number;
  type: EventType;
  callId: string;
  fromTag?: string;
  toTag?: string;
  from?: string;
  to?: string;
  domain?: string;
  code?: number;
  reason?: string;
  by?: 'caller' | 'callee' | 'system';
  /** link: the dialog this one continues, and how */
  otherCallId?: string;
  kind?: LinkKind;
}

export type KamMessage = KamHello | KamEvent;

const TYPES: readonly EventType[] = ['invite', 'progress', 'answer', 'hold', 'resume', 'link', 'end', 'fail', 'cancel'];
const STRING_FIELDS = ['fromTag', 'toTag', 'from', 'to', 'domain', 'reason'] as const;
const BY = new Set(['caller', 'callee', 'system']);
// the kinds the shipped configuration emits (a literal list: this module imports no appliance code at run time)
const LINK_KINDS: readonly LinkKind[] = ['transfer', 'replaces', 'b2bua', 'pickup', 'forward'];

export class KamMessageError extends Error {
  override name = 'KamMessageError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Parses and checks one evapi payload. Throws KamMessageError with the reason. */
export function parseKamMessage(payload: string): KamMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(payload);
  } catch (err) {
    throw new KamMessageError(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new KamMessageError('not a JSON object');
  if (typeof raw['kboot'] !== 'string' || !/^\d{1,16}$/.test(raw['kboot'])) throw new KamMessageError('kboot missing or not digits');
  if (!isCount(raw['kseq'])) throw new KamMessageError('kseq missing or not a count');
  if (!isCount(raw['tvs']) || !isCount(raw['tvu']) || (raw['tvu'] as number) > 999_999) throw new KamMessageError('tvs/tvu missing or out of range');
  const base = { kboot: raw['kboot'], kseq: raw['kseq'], tvs: raw['tvs'], tvu: raw['tvu'] };
  if (raw['k'] === 'hello') return { k: 'hello', ...base };
  if (raw['k'] !== 'ev') throw new KamMessageError(`unknown message kind ${JSON.stringify(raw['k'])}`);

  const type = raw['type'];
  if (typeof type !== 'string' || !TYPES.includes(type as EventType)) throw new KamMessageError(`unknown event type ${JSON.stringify(type)}`);
  if (typeof raw['callId'] !== 'string' || raw['callId'] === '') throw new KamMessageError('callId missing');
  const ev: KamEvent = { k: 'ev', ...base, type: type as EventType, callId: raw['callId'] };
  for (const f of STRING_FIELDS) {
    const v = raw[f];
    // Kamailio leaves a field empty when the message had nothing there (a To-tag not known yet)
    if (typeof v === 'string' && v !== '') ev[f] = v;
  }
  if (typeof raw['code'] === 'number' && Number.isInteger(raw['code']) && raw['code'] >= 100 && raw['code'] <= 699) ev.code = raw['code'];
  if (typeof raw['by'] === 'string' && BY.has(raw['by'])) ev.by = raw['by'] as KamEvent['by'];
  if (type === 'link') {
    if (typeof raw['otherCallId'] !== 'string' || raw['otherCallId'] === '') throw new KamMessageError('link without otherCallId');
    if (typeof raw['kind'] !== 'string' || !LINK_KINDS.includes(raw['kind'] as LinkKind)) throw new KamMessageError(`unknown link kind ${JSON.stringify(raw['kind'])}`);
    ev.otherCallId = raw['otherCallId'];
    ev.kind = raw['kind'] as LinkKind;
  }
  return ev;
}

/** Orders two positions: negative when `a` came first. Runs are ordered by their boot stamps. */
export function comparePositions(a: KamPosition, b: KamPosition): number {
  if (a.kboot !== b.kboot) return Number(a.kboot) - Number(b.kboot);
  return a.kseq - b.kseq;
}

/** RFC 3339 UTC with milliseconds from Kamailio's seconds + microseconds. */
export function isoOf(tvs: number, tvu: number): string {
  return new Date(tvs * 1000 + Math.floor(tvu / 1000)).toISOString();
}

/**
 * The event of the appliance's contract (design section 4.1). The id is made from Kamailio's own
 * numbering, so an event keeps its id whoever forwards it and however often: the appliance stores
 * it once.
 */
export function toCallEvent(ev: KamEvent, source: string, seq: number): CallEvent {
  const out: CallEvent = {
    id: `${source}-${ev.kboot}-${ev.kseq}`,
    source,
    seq,
    ts: isoOf(ev.tvs, ev.tvu),
    type: ev.type,
    callId: ev.callId,
  };
  if (ev.fromTag !== undefined) out.fromTag = ev.fromTag;
  if (ev.toTag !== undefined) out.toTag = ev.toTag;
  if (ev.from !== undefined) out.from = ev.from;
  if (ev.to !== undefined) out.to = ev.to;
  if (ev.domain !== undefined) out.domain = ev.domain;
  if (ev.code !== undefined) out.code = ev.code;
  if (ev.reason !== undefined) out.reason = ev.reason;
  if (ev.by !== undefined) out.by = ev.by;
  if (ev.otherCallId !== undefined) out.otherCallId = ev.otherCallId;
  if (ev.kind !== undefined) out.kind = ev.kind;
  return out;
}
