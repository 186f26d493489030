import { Type, type TSchema } from '@sinclair/typebox';
import { ActiveCall, Cdr } from './cdr.js';
import { Mwi } from './vmail.js';

/** Messages of the console's live feed (WebSocket /api/v1/live). */
export interface LiveChange {
  collection: string;
  op: 'put' | 'delete';
  id: string;
  /** the whole document after a put (an ActiveCall for `calls`, a Cdr for `cdrs`); null after a delete */
  doc: unknown;
}

export type LiveMessage =
  | { type: 'hello'; collections: string[] }
  | { type: 'changes'; changes: LiveChange[] }
  /** the client fell behind and changes were dropped: reload what is shown */
  | { type: 'resync'; reason: string };

/*
 * The same messages as schemas, for the OpenAPI document (x-websocket of GET /api/v1/live): each
 * collection with the document it carries.
 */
const Op = Type.Union([Type.Literal('put'), Type.Literal('delete')]);
const changeOf = (collection: string, doc: TSchema, what: string) =>
  Type.Object({
    collection: Type.Literal(collection),
    op: Op,
    id: Type.String(),
    doc: Type.Union([doc, Type.Null()], { description: `${what} after a put; null after a delete` }),
  });

export const LiveChangeSchema = Type.Union([
  changeOf('calls', ActiveCall, 'the active call'),
  changeOf('cdrs', Cdr, 'the call record'),
  changeOf('mwi', Mwi, 'the message-waiting counts of the mailbox `domain/number`'),
  changeOf('config', Type.Unknown(), 'the stored role configuration, secrets redacted'),
  changeOf('sites', Type.Unknown(), 'the site'),
]);

export const LiveHello = Type.Object({ type: Type.Literal('hello'), collections: Type.Array(Type.String(), { description: 'the collections this feed sends' }) });
export const LiveChanges = Type.Object({
  type: Type.Literal('changes'),
  changes: Type.Array(LiveChangeSchema, { description: 'gathered for up to 200 ms, the last state of each document only' }),
});
export const LiveResync = Type.Object({
  type: Type.Literal('resync'),
  reason: Type.String({ description: 'the client fell behind and changes were dropped: reload what is shown' }),
});
/** What the service sends on /api/v1/live; the client sends nothing (what it sends is ignored). */
export const LiveServerMessage = Type.Union([LiveHello, LiveChanges, LiveResync]);
