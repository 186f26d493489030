import { Type } from '@sinclair/typebox';
import { ErrorCode } from './errors.js';
import { CallEvent, EVENT_LIMITS, EventProblem } from './events.js';

/**
 * The messages of the event stream (WebSocket /api/v1/events/stream), for the OpenAPI document's
 * x-websocket. A source sends text messages, each one event or an array of events; each message
 * gets one answer, in the order the messages came.
 */
export const EventStreamClientMessage = Type.Union([CallEvent, Type.Array(CallEvent, { minItems: 1, maxItems: EVENT_LIMITS.batchEvents })], {
  description: `one event or an array of at most ${EVENT_LIMITS.batchEvents}, as a text message of at most ${EVENT_LIMITS.batchBytes} bytes`,
});

/** The events of a message are stored (as state_save requires): acknowledged. */
export const EventStreamAck = Type.Object({
  ack: Type.Union([Type.Integer(), Type.Null()], { description: 'the highest seq of this message now stored; null when none was' }),
  stored: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Optional(Type.Array(EventProblem, { description: 'the invalid events of the message, not stored; the valid ones were' })),
});

/** The message as a whole was refused (not JSON, too many events, a temporary condition): send it again when the error says so. */
export const EventStreamError = Type.Object({
  ack: Type.Null(),
  error: Type.Object({
    code: ErrorCode,
    message: Type.String(),
    retryAfter: Type.Optional(
      Type.Integer({ minimum: 0, description: 'with code unavailable: nothing of the message was stored for now (its group has no active instance here); send it, and the messages after it, again after this many seconds' }),
    ),
  }),
});

/** The callstore asks a source for its dialog list (POST /api/v1/sources/{id}/sync). */
export const SyncRequestMessage = Type.Object({ type: Type.Literal('sync_request'), source: Type.String() });

export const EventStreamServerMessage = Type.Union([EventStreamAck, EventStreamError, SyncRequestMessage]);
