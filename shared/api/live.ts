import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ActiveCall, Cdr } from './cdr.js';
import { ProfileCounts } from './limits.js';
import { Mwi } from './vmail.js';

/*
 * The console's live feed (WebSocket /api/v1/live).
 *
 * Two kinds of collection travel on it:
 * - **positioned** collections are read from the change log, by position: each message carries
 *   the client's new `position` (a since-vector: per origin, the last seq the client has been
 *   sent), and a client that reconnects with `?after=<position>` is sent exactly the entries after
 *   it, nothing missed and nothing twice, across a restart of the service too. Today those are
 *   `config`, `limits` and `cdrs` (the call records, the log's `cdr` entries); a collection becomes
 *   positioned when the log carries it: `hello.positioned` says which are, for this service.
 *   One bound: a client that resumes after more than LIVE_MAX_CATCHUP_RECORDS (500) call records
 *   were written is sent that many, then a `resync` naming `cdrs` (it loads them over REST) while
 *   the rest of the positioned changes follow as usual.
 * - the others (`calls`, `mwi`, `profiles`, `sites`) are derived or site-local state with no position:
 *   after a reconnect or a `resync` naming them a client loads them again.
 */

/**
 * A position in the change log: per origin (site id), the last seq the client has been sent.
 * In the query string it is this object as JSON: `?after=%7B%22<origin>%22%3A42%7D`.
 */
const positionSchema = (description: string) =>
  Type.Record(Type.String({ pattern: '^[^\\u0000-\\u001f]{1,128}$' }), Type.Integer({ minimum: 0 }), { maxProperties: 64, additionalProperties: false, description });
export const LivePosition = positionSchema('per origin (site id), the last seq of its change log the client has been sent');
export type LivePosition = Static<typeof LivePosition>;

export interface LiveChange {
  collection: string;
  op: 'put' | 'delete';
  id: string;
  /** the whole document after a put (an ActiveCall for `calls`, a Cdr for `cdrs`); null after a delete */
  doc: unknown;
  /** positioned collections only: the log entry of this document that the message ends with */
  origin?: string;
  seq?: number;
}

export type LiveMessage =
  /** first; `position` is where this connection starts (the client's `after` when it can go on from there) */
  | { type: 'hello'; collections: string[]; positioned: string[]; position: LivePosition }
  | { type: 'changes'; changes: LiveChange[]; position: LivePosition }
  /**
   * changes of `collections` were not sent: those without a position were dropped (the client
   * fell behind), or call records past the bound of a resumed connection were passed over: reload those
   */
  | { type: 'resync'; reason: string; collections: string[]; position: LivePosition }
  /** the feed cannot go on from the client's position (compacted away, or not this log's): reload everything, then go on from `position` */
  | { type: 'reload'; reason: string; position: LivePosition };

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
    origin: Type.Optional(Type.String({ description: 'positioned collections: the origin of the last log entry of this document the message covers' })),
    seq: Type.Optional(Type.Integer({ minimum: 1, description: 'positioned collections: the seq of that entry' })),
  });

export const LiveChangeSchema = Type.Union([
  changeOf('calls', ActiveCall, 'the active call'),
  changeOf('cdrs', Cdr, 'the call record'),
  changeOf('mwi', Mwi, 'the message-waiting counts of the mailbox `domain/number`'),
  changeOf('config', Type.Unknown(), 'the stored role configuration (the merged last version), secrets redacted'),
  changeOf('sites', Type.Unknown(), 'the site'),
  changeOf('limits', Type.Unknown(), 'the stored limit (`_id` is its id; the other fields as GET /api/v1/limits/{id} answers them)'),
  changeOf('profiles', ProfileCounts, 'the whole listing of GET /api/v1/profiles (id `counts`), sent at most every 200 ms while counts change'),
]);

const position = positionSchema;

export const LiveHello = Type.Object({
  type: Type.Literal('hello'),
  collections: Type.Array(Type.String(), { description: 'the collections this feed sends' }),
  positioned: Type.Array(Type.String(), { description: 'those of them read from the change log by position; the others are loaded again after a reconnect' }),
  position: position('where this connection starts: the `after` the client gave when the feed goes on from there, else the current end of the log'),
});
export const LiveChanges = Type.Object({
  type: Type.Literal('changes'),
  changes: Type.Array(LiveChangeSchema, {
    description: 'the last state of each document only: log entries a page at a time, the others gathered for up to 200 ms',
  }),
  position: position('the client’s position after this message: reconnect with ?after= this to go on from here'),
});
export const LiveResync = Type.Object({
  type: Type.Literal('resync'),
  reason: Type.String({ description: 'why changes of `collections` were not sent: reload those' }),
  collections: Type.Array(Type.String(), {
    description:
      'the collections to load again: those without a position when the client fell behind and their changes were dropped, or `cdrs` when more than 500 call records were written before a resumed connection began (they are passed over, not sent one by one)',
  }),
  position: position('where the feed goes on from: the positioned changes of the other collections are never dropped, they wait until the client reads'),
});
export const LiveReload = Type.Object({
  type: Type.Literal('reload'),
  reason: Type.String({ description: 'the change log no longer holds the entries after the client’s position (compacted), or the position is not of this log: reload everything shown' }),
  position: position('the position the feed goes on from'),
});
/** What the service sends on /api/v1/live; the client sends nothing (what it sends is ignored). */
export const LiveServerMessage = Type.Union([LiveHello, LiveChanges, LiveResync, LiveReload]);
