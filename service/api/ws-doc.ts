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
      'The service sends `hello` with the collections it watches, then `changes` gathered for up to 200 ms (the last state of each document only), ' +
      'and `resync` when the client fell behind and changes were dropped (reload what is shown). The client sends nothing; what it sends is ignored.',
    tag: 'system',
    auth: 'read',
    maxMessageBytes: 64 * 1024,
    server: { name: 'LiveServerMessage', schema: LiveServerMessage },
  },
];
