import { Type, type Static } from '@sinclair/typebox';

/*
 * The replication messages between two paired sites (PeerChannel topic `replication`). Each side
 * is sender and receiver at once; the flow, one direction:
 *
 *   receiver → hello {have, serves}     on connect: what it holds of each origin, which domains it serves
 *   receiver → serves {serves}          whenever its configuration changes which domains it serves (the sender filters by it from then on)
 *   sender   → batch {id, items}        entries it lacks, in order per origin, and ranges held elsewhere
 *   receiver → ack {batch, have}        after the batch committed in its log: its new since-vector
 *   sender   → snapshot-begin / snapshot-docs / snapshot-end   when the log was compacted past `have`
 *   receiver → refused {have, reason}   a batch it could not take (a gap, a clock too far ahead): the sender goes on from `have`
 */

export const REPLICATION_TOPIC = 'replication';
/** the version of these messages; a peer speaking another one is refused at hello (2: entries and documents carry their base) */
export const REPLICATION_PROTOCOL = 2;

const OriginId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' });
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const WireVector = Type.Record(OriginId, Seq, { maxProperties: 1024, description: 'per origin (site id), the last seq held' });
export type WireVector = Static<typeof WireVector>;

export const Hlc = Type.String({ pattern: '^[0-9a-f]{16}$' });

/** the version a document change was made from (null: none); absent where not known (records) */
const WireBase = Type.Optional(Type.Union([Type.Null(), Type.Object({ hlc: Hlc, origin: OriginId }, { additionalProperties: false })]));

export const WireEntry = Type.Object(
  {
    origin: OriginId,
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    hlc: Hlc,
    kind: Type.String({ minLength: 1, maxLength: 64 }),
    key: Type.String({ minLength: 1, maxLength: 1024 }),
    body: Type.Unknown({ description: 'the document or record; null for a tombstone' }),
    base: WireBase,
  },
  { additionalProperties: false },
);
export type WireEntry = Static<typeof WireEntry>;

/** seqs first..last of an origin the receiver will not get: filtered out for it (domains it does not serve) */
export const WireHeld = Type.Object(
  { origin: OriginId, first: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), last: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) },
  { additionalProperties: false },
);
export type WireHeld = Static<typeof WireHeld>;

/** which domains a site serves; `all`: every domain (a site without a domain partition) */
export const ServedDomains = Type.Union([Type.Literal('all'), Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 10_000 })]);
export type ServedDomains = Static<typeof ServedDomains>;

const envelope = { topic: Type.Literal(REPLICATION_TOPIC) };

export const HelloMessage = Type.Object({ ...envelope, type: Type.Literal('hello'), protocol: Type.Integer(), have: WireVector, serves: ServedDomains }, { additionalProperties: false });
export type HelloMessage = Static<typeof HelloMessage>;

/** The domains the receiver serves now, when its configuration changed them while the link is up (the hello said the earlier ones). */
export const ServesMessage = Type.Object({ ...envelope, type: Type.Literal('serves'), serves: ServedDomains }, { additionalProperties: false });
export type ServesMessage = Static<typeof ServesMessage>;

export const MAX_BATCH_ITEMS = 10_000;

export const BatchMessage = Type.Object(
  { ...envelope, type: Type.Literal('batch'), id: Seq, items: Type.Array(Type.Union([WireEntry, WireHeld]), { maxItems: MAX_BATCH_ITEMS }) },
  { additionalProperties: false },
);
export type BatchMessage = Static<typeof BatchMessage>;

export const AckMessage = Type.Object({ ...envelope, type: Type.Literal('ack'), batch: Seq, have: WireVector }, { additionalProperties: false });
export type AckMessage = Static<typeof AckMessage>;

export const RefusedMessage = Type.Object({ ...envelope, type: Type.Literal('refused'), batch: Seq, have: WireVector, reason: Type.String({ maxLength: 500 }) }, { additionalProperties: false });
export type RefusedMessage = Static<typeof RefusedMessage>;

export const WireVersion = Type.Object(
  { kind: Type.String({ minLength: 1, maxLength: 64 }), key: Type.String({ minLength: 1, maxLength: 1024 }), hlc: Hlc, origin: OriginId, tombstone: Type.Boolean(), body: Type.Unknown(), base: WireBase },
  { additionalProperties: false },
);

export const SnapshotBeginMessage = Type.Object({ ...envelope, type: Type.Literal('snapshot-begin'), id: Seq }, { additionalProperties: false });
export const SnapshotDocsMessage = Type.Object({ ...envelope, type: Type.Literal('snapshot-docs'), id: Seq, documents: Type.Array(WireVersion, { maxItems: MAX_BATCH_ITEMS }) }, { additionalProperties: false });
/** the positions the documents sent include: per origin the seq the receiver's log goes on after, and its stamp */
export const SnapshotEndMessage = Type.Object(
  { ...envelope, type: Type.Literal('snapshot-end'), id: Seq, vector: Type.Record(OriginId, Type.Object({ seq: Seq, hlc: Type.Union([Hlc, Type.Null()]) }, { additionalProperties: false }), { maxProperties: 1024 }) },
  { additionalProperties: false },
);
export type SnapshotBeginMessage = Static<typeof SnapshotBeginMessage>;
export type SnapshotDocsMessage = Static<typeof SnapshotDocsMessage>;
export type SnapshotEndMessage = Static<typeof SnapshotEndMessage>;

export const ReplicationMessage = Type.Union([HelloMessage, ServesMessage, BatchMessage, AckMessage, RefusedMessage, SnapshotBeginMessage, SnapshotDocsMessage, SnapshotEndMessage]);
export type ReplicationMessage = Static<typeof ReplicationMessage>;

/** What the sites page shows of the replication with one peer (GET /api/v1/sites, planned). */
export interface ReplicationMetrics {
  peer: string;
  state: 'connecting' | 'sending' | 'caught-up' | 'snapshot' | 'stopped';
  /** entries this site holds that the peer has not acknowledged */
  lagEntries: number;
  /** age of the oldest entry not acknowledged (from its hybrid clock), 0 when caught up */
  lagMs: number;
  /** over the last few seconds */
  sentPerSecond: number;
  receivedPerSecond: number;
  sentTotal: number;
  receivedTotal: number;
  /** origins whose relay to this peer waits behind a range this site does not hold (filtered out for it) */
  blockedOrigins: string[];
  lastError: string | undefined;
}
