import { Type, type TSchema } from '@sinclair/typebox';
import type { Scope } from '../../shared/api/auth.js';
import { EventStreamClientMessage, EventStreamServerMessage } from '../../shared/api/event-stream.js';
import { EVENT_LIMITS } from '../../shared/api/events.js';
import { LiveServerMessage } from '../../shared/api/live.js';
import { SourceId } from '../../shared/api/sources.js';

/**
 * A WebSocket endpoint as the OpenAPI document describes it. OpenAPI 3.1 has no WebSocket
 * operation: each endpoint is shown as the GET that opens it (101 Switching Protocols, or the
 * refusal of the upgrade), with its messages in `x-websocket`. The endpoints themselves are served
 * by ws.ts, whose paths, scopes and limits these must match (the OpenAPI test opens both).
 */
export interface WebSocketDoc {
  path: string;
  operationId: string;
  summary: string;
  description: string;
  tag: string;
  auth: Scope;
  /** query parameters besides `token` */
  query?: TSchema;
  /** the largest message the service takes; a larger one closes the socket (1009) */
  maxMessageBytes: number;
  /** what the client sends; absent when the service reads nothing */
  client?: { name: string; schema: TSchema };
  server: { name: string; schema: TSchema };
  /** extra statuses the upgrade can be refused with, besides 401 and 403 */
  errors?: number[];
}

export const WEBSOCKET_DOCS: readonly WebSocketDoc[] = [
  {
    path: '/api/v1/events/stream',
    operationId: 'openEventStream',
    summary: 'The event stream of a source: call lifecycle events in, one acknowledgement per message out, in order',
    description:
      'Each text message holds one event or an array of events (binary messages are refused). Every message is answered, in the order they came, ' +
      'with an acknowledgement naming the highest seq now stored (as state_save requires) and any event refused, or with an error for the message as a whole, ' +
      'which is then to be sent again. The service may also send `sync_request`: then POST the dialog list to /api/v1/sources/{id}/sync. ' +
      'A source that names itself with ?source= is connected from the start; the socket is pinged every 30 s.',
    tag: 'events',
    auth: 'events',
    query: Type.Object({ source: Type.Optional({ ...SourceId, description: 'the source this socket carries, connected from the start' }) }),
    maxMessageBytes: EVENT_LIMITS.batchBytes,
    client: { name: 'EventStreamClientMessage', schema: EventStreamClientMessage },
    server: { name: 'EventStreamServerMessage', schema: EventStreamServerMessage },
    errors: [400],
  },
  {
    path: '/api/v1/live',
    operationId: 'openLiveFeed',
    summary: 'The console’s live feed: changes of calls, call records, configuration, MWI counts and sites',
    description:
      'The service sends `hello` first, naming the collections it sends, those of them that are positioned (read from the change log by position: ' +
      'today the configuration and the call records) and the position the connection starts from. Then `changes`, each with the last state of each document only: ' +
      'positioned changes a page of log entries at a time, then as they are written, and the others gathered for up to 200 ms. ' +
      'Every message carries the client’s `position` (per origin, the last seq of the change log it has been sent). A client that reconnects with ' +
      '`?after=<position as JSON>` is sent exactly the positioned changes after it, nothing missed and nothing twice, also after a restart of the service; ' +
      'without `after` it starts from now and loads what it shows over REST. The collections without a position are loaded again after a reconnect, ' +
      'and after a `resync` naming them (the client fell behind and their changes were dropped). Call records are many and add-only: a client that resumes ' +
      'after more than 500 were written is sent 500, then the rest of that backlog is passed over and a `resync` naming `cdrs` says to load them over REST; ' +
      'the other positioned changes are sent as usual. A client that does not read is not buffered: the service stops ' +
      'reading the log for it until its socket drains and then goes on from its position. `reload` says the feed cannot go on from the client’s position ' +
      '(the log was compacted past it, or it is not of this log): reload everything shown, then go on from the `position` it gives. ' +
      'A malformed `after` refuses the upgrade with 400; an origin the log does not know is fine. The client sends nothing; what it sends is ignored.',
    tag: 'system',
    auth: 'read',
    query: Type.Object({
      after: Type.Optional(
        Type.String({
          description: 'the `position` of the last message the client took, as JSON: an object of origin (site id) to seq, e.g. {"5f0c…":42}; `{}` is the beginning of the log',
          examples: ['{"5f0c2a7e-9d3b-4c1e-8a2f-6b7d9e0f1a2b":42}'],
        }),
      ),
    }),
    maxMessageBytes: 64 * 1024,
    server: { name: 'LiveServerMessage', schema: LiveServerMessage },
    errors: [400],
  },
];
