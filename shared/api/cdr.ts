import { Type, type Static } from '@sinclair/typebox';
import { DIRECTIONS, LINK_KINDS } from './events.js';

const Time = Type.String({ format: 'date-time', description: 'UTC, millisecond precision' });
const NullableTime = Type.Union([Time, Type.Null()]);
const NullableInt = Type.Union([Type.Integer(), Type.Null()]);

export const DISPOSITIONS = ['ANSWERED', 'CANCELLED', 'BUSY', 'NO_ANSWER', 'FAILED'] as const;
export type Disposition = (typeof DISPOSITIONS)[number];
export const END_REASONS = ['normal', 'source_lost', 'resync_missing', 'admin', 'timeout'] as const;
export type EndReason = (typeof END_REASONS)[number];
export const FORK_OUTCOMES = ['answered', 'lose_race', 'cancelled', 'failed', 'pending'] as const;
export const PARTIES = ['caller', 'callee', 'system'] as const;

const Direction = Type.Union([...DIRECTIONS.map((d) => Type.Literal(d)), Type.Null()]);
const Party = Type.Union(PARTIES.map((p) => Type.Literal(p)));

export const Leg = Type.Object({
  callId: Type.String(),
  fromTag: Type.String(),
  toTag: Type.Union([Type.String(), Type.Null()], { description: 'the answering branch, else the last branch heard' }),
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.Union([Type.String(), Type.Null()]),
  source: Type.String(),
  startedAt: NullableTime,
  ringingAt: NullableTime,
  answeredAt: NullableTime,
  endedAt: NullableTime,
  code: NullableInt,
  state: Type.Union([Type.Literal('trying'), Type.Literal('early'), Type.Literal('confirmed'), Type.Literal('terminated')]),
});
export type Leg = Static<typeof Leg>;

export const Fork = Type.Object({
  callId: Type.String(),
  toTag: Type.String(),
  code: NullableInt,
  at: Time,
  outcome: Type.Union(FORK_OUTCOMES.map((o) => Type.Literal(o))),
});
export type Fork = Static<typeof Fork>;

export const Hold = Type.Object({ callId: Type.String(), on: Time, off: NullableTime, by: Party });
export type Hold = Static<typeof Hold>;

export const Link = Type.Object({
  kind: Type.Union([...LINK_KINDS.map((k) => Type.Literal(k)), Type.Literal('resumed')]),
  callId: Type.String({ description: 'the dialog linked to: the transferred, replaced or picked-up one' }),
  fromCallId: Type.Optional(Type.String({ description: 'the dialog that made the link (its `link` event): the new call of a transfer, replacement or pickup' })),
  at: Type.Optional(Type.String({ format: 'date-time', description: 'when the link was made (its event’s time), UTC' })),
});
export type Link = Static<typeof Link>;

/** The complex call record of design section 4.2 (a contract), one per call in cdr/COPM3_dialogs. */
export const Cdr = Type.Object({
  id: Type.String({ description: 'the callRef of the call' }),
  domain: Type.String(),
  site: Type.String(),
  source: Type.String(),
  direction: Direction,
  from: Type.String(),
  to: Type.String(),
  answeredBy: Type.Union([Type.String(), Type.Null()]),
  startedAt: Time,
  ringingAt: NullableTime,
  answeredAt: NullableTime,
  endedAt: Time,
  duration: Type.Number({ description: 'seconds, end − start' }),
  billsec: Type.Number({ description: 'seconds, end − answer; 0 when unanswered' }),
  ringSec: Type.Number({ description: 'seconds, (answer, or end when unanswered) − start' }),
  holdSec: Type.Number({ description: 'seconds on hold (overlapping holds of several legs count once); never subtracted from billsec' }),
  disposition: Type.Union(DISPOSITIONS.map((d) => Type.Literal(d))),
  hangup: Type.Object({ by: Type.Union([Party, Type.Null()]), code: NullableInt, reason: Type.Union([Type.String(), Type.Null()]) }),
  endReason: Type.Union(END_REASONS.map((r) => Type.Literal(r))),
  legs: Type.Array(Leg),
  forks: Type.Array(Fork),
  holds: Type.Array(Hold),
  links: Type.Array(Link),
  synthesized: Type.Boolean({ description: 'some end of the call was produced by the callstore, not its source' }),
  eventIds: Type.Array(Type.String()),
  anomalies: Type.Array(Type.String(), { description: 'what did not fit the protocol (a second answer, an end before any answer ...)' }),
  term: Type.Optional(Type.Integer({ minimum: 0, description: 'the term of the callstore group in which the record was written (the active instance of that term wrote it); absent on records from before terms' })),
});
export type Cdr = Static<typeof Cdr>;

export const CALL_STATES = ['trying', 'ringing', 'talking', 'on_hold', 'ending'] as const;
export type CallState = (typeof CALL_STATES)[number];

/** An active call as the API and the console see it. */
export const ActiveCall = Type.Object({
  id: Type.String(),
  domain: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union(CALL_STATES.map((s) => Type.Literal(s))),
  direction: Direction,
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.Union([Type.String(), Type.Null()]),
  answeredBy: Type.Union([Type.String(), Type.Null()]),
  source: Type.String(),
  instance: Type.String({ description: 'the callstore instance that holds the call' }),
  startedAt: NullableTime,
  ringingAt: NullableTime,
  answeredAt: NullableTime,
  lastEventAt: Time,
  legs: Type.Array(Leg),
  forks: Type.Array(Fork),
  holds: Type.Array(Hold),
  links: Type.Array(Link),
  eventCount: Type.Integer(),
  anomalies: Type.Array(Type.String()),
  orphan: Type.Boolean({ description: 'events of dialogs never seen starting (no invite): kept until the invite arrives or call_timeout passes' }),
});
export type ActiveCall = Static<typeof ActiveCall>;

/** Paging of the active calls (`GET /api/v1/calls`): newest first, by cursor. */
export const CALL_LIST_LIMITS = {
  /** calls per page when `limit` is not given */
  defaultLimit: 1000,
  maxLimit: 5000,
  cursorLength: 400,
} as const;

export const CallListQuery = Type.Object(
  {
    domain: Type.Optional(Type.String({ maxLength: 253 })),
    state: Type.Optional(Type.Union([...CALL_STATES, 'orphan' as const].map((s) => Type.Literal(s)))),
    number: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'part of the caller, callee or answering party' })),
    limit: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: CALL_LIST_LIMITS.maxLimit,
        description: `calls per page, default ${CALL_LIST_LIMITS.defaultLimit}; 0: only the total (a cheap count)`,
      }),
    ),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: CALL_LIST_LIMITS.cursorLength, description: 'nextCursor of the page before: the calls after it' })),
  },
  { additionalProperties: false },
);
export type CallListQuery = Static<typeof CallListQuery>;

export const CallList = Type.Object({
  items: Type.Array(ActiveCall, { description: 'newest first (start, else last event), ties by id' }),
  total: Type.Integer({ description: 'every call the filter matches now, not only this page' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as cursor for the next page; null on the last page' }),
});
export type CallList = Static<typeof CallList>;
