import { Type, type Static } from '@sinclair/typebox';

/** Call lifecycle events (design section 4.1, a contract). */
export const EVENT_TYPES = ['invite', 'progress', 'answer', 'hold', 'resume', 'link', 'end', 'fail', 'cancel'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const LINK_KINDS = ['transfer', 'replaces', 'b2bua', 'pickup', 'forward'] as const;
export type LinkKind = (typeof LINK_KINDS)[number];

export const DIRECTIONS = ['inbound', 'outbound', 'internal'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** Documented input limits: longer strings and larger batches are refused with a clear error. */
export const EVENT_LIMITS = {
  idLength: 200,
  sourceLength: 64,
  callIdLength: 256,
  tagLength: 128,
  uriLength: 512,
  domainLength: 253,
  reasonLength: 256,
  profiles: 32,
  /** events in one POST or one WebSocket message */
  batchEvents: 5000,
  /** bytes of one POST body or WebSocket message */
  batchBytes: 8 * 1024 * 1024,
  /** seq is a safe integer: beyond it JavaScript numbers stop counting one by one */
  seqMax: Number.MAX_SAFE_INTEGER,
  /**
   * How far `ts` may lie ahead of the receiver's clock: a source whose clock runs days ahead is
   * broken, and a time in year 9999 would open a CDR month file for it.
   */
  tsAheadMs: 7 * 24 * 3600_000,
  /**
   * How far `ts` may lie behind the receiver's clock. Generous on purpose: a source that was cut
   * off for weeks resends its backlog when it is back, and every call of it must still be recorded.
   */
  tsBehindMs: 366 * 24 * 3600_000,
  /** problems listed per refused event; the rest are counted in `truncated` */
  problemsPerEvent: 10,
  /** problems listed in one answer; the rest are counted in `truncated` */
  problemsPerAnswer: 100,
} as const;

const str = (maxLength: number, extra: object = {}) => Type.String({ minLength: 1, maxLength, ...extra });

/**
 * One event. Which optional fields a type needs (`toTag` on `answer`, `code` on `fail`, ...) is
 * checked after this shape, so that the error names the field and the type together.
 */
export const CallEvent = Type.Object(
  {
    id: str(EVENT_LIMITS.idLength, { description: 'unique per event: the same id twice is stored once' }),
    source: str(EVENT_LIMITS.sourceLength, { pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$', description: 'the process or server that serves the dialog' }),
    seq: Type.Integer({ minimum: 0, maximum: EVENT_LIMITS.seqMax, description: 'per source, increasing: gaps are counted' }),
    ts: Type.String({
      format: 'date-time',
      maxLength: 40,
      description: 'when it happened, RFC 3339 with a zone; at most 7 days ahead of the receiver’s clock and 366 days behind it (a source’s backlog after a long outage is still taken)',
    }),
    type: Type.Union(EVENT_TYPES.map((t) => Type.Literal(t))),
    callId: str(EVENT_LIMITS.callIdLength, { description: 'SIP Call-ID of the dialog' }),
    fromTag: Type.Optional(Type.String({ maxLength: EVENT_LIMITS.tagLength })),
    toTag: Type.Optional(Type.String({ maxLength: EVENT_LIMITS.tagLength })),
    domain: Type.Optional(str(EVENT_LIMITS.domainLength)),
    from: Type.Optional(Type.String({ maxLength: EVENT_LIMITS.uriLength })),
    to: Type.Optional(Type.String({ maxLength: EVENT_LIMITS.uriLength })),
    direction: Type.Optional(Type.Union(DIRECTIONS.map((d) => Type.Literal(d)))),
    callRef: Type.Optional(str(EVENT_LIMITS.callIdLength, { description: 'groups dialogs into one call; default the callId' })),
    profiles: Type.Optional(
      Type.Array(Type.Object({ name: str(64), value: Type.Optional(Type.String({ maxLength: 256 })) }, { additionalProperties: false }), { maxItems: EVENT_LIMITS.profiles }),
    ),
    cdr: Type.Optional(Type.Boolean({ description: 'with cdr_mode "flagged": this call gets a CDR' })),
    code: Type.Optional(Type.Integer({ minimum: 100, maximum: 699, description: 'SIP status code' })),
    reason: Type.Optional(Type.String({ maxLength: EVENT_LIMITS.reasonLength })),
    by: Type.Optional(Type.Union([Type.Literal('caller'), Type.Literal('callee'), Type.Literal('system')])),
    otherCallId: Type.Optional(str(EVENT_LIMITS.callIdLength)),
    kind: Type.Optional(Type.Union(LINK_KINDS.map((k) => Type.Literal(k)))),
  },
  { additionalProperties: false },
);
export type CallEvent = Static<typeof CallEvent>;

/** Fields each type needs beyond the common ones (design section 4.1). */
export const REQUIRED_BY_TYPE: Record<EventType, readonly (keyof CallEvent)[]> = {
  invite: ['from', 'to', 'domain'],
  progress: ['toTag', 'code'],
  answer: ['toTag'],
  hold: ['by'],
  resume: ['by'],
  link: ['otherCallId', 'kind'],
  end: ['by'],
  fail: ['code'],
  cancel: [],
};

export const EventProblem = Type.Object({
  index: Type.Integer({ description: 'position of the event in the batch (0 for a single object)' }),
  id: Type.Optional(Type.String()),
  path: Type.String({ description: 'JSON pointer into the event' }),
  message: Type.String(),
});
export type EventProblem = Static<typeof EventProblem>;

export const IngestResult = Type.Object({
  accepted: Type.Integer({ description: 'valid events in the batch, duplicates included' }),
  stored: Type.Integer({ description: 'events stored now (duplicates of stored ids are not stored again)' }),
  duplicates: Type.Integer(),
  rejected: Type.Array(EventProblem, { maxItems: EVENT_LIMITS.problemsPerAnswer, description: 'each problem once, at most 10 per event and 100 in all' }),
  truncated: Type.Optional(Type.Integer({ description: 'problems left out of the list (present only when some were)' })),
});
export type IngestResult = Static<typeof IngestResult>;

/**
 * An event as the journal keeps it: as sent, or made by the callstore itself — an `end` it
 * synthesized (`synthesized` names why: source_lost, resync_missing, admin, timeout), or the
 * invite/answer it reconstructed from a source's dialog list (`reconstructed`), linked with kind
 * `resumed` to the record written before.
 */
export const StoredEvent = Type.Object(
  {
    ...CallEvent.properties,
    kind: Type.Optional(Type.Union([...LINK_KINDS.map((k) => Type.Literal(k)), Type.Literal('resumed')])),
    synthesized: Type.Optional(Type.String()),
    reconstructed: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type StoredEvent = Static<typeof StoredEvent>;
