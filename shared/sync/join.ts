import { Type, type Static } from '@sinclair/typebox';
import { Hlc, WireVector, WireVersion } from './replication.js';

/*
 * Two small topics beside `replication` on the link between two paired sites (design section 7).
 *
 * `sites`: on every link each side says who it is as the configuration sees it (its name and its
 * network interfaces), so the other validates instances placed on it.
 *
 * `join`: the first link after pairing makes the joining site (the one that entered the code)
 * part of the installation of the other one (the donor). Before it replicates anything:
 *
 *   joiner → request {id}                     the documents of the adopted kinds, please
 *   donor  → documents {id, documents}        in chunks, the merged versions it holds (tombstones too)
 *   donor  → end {id, have}                   its log's head when it read them (the joining copy's target)
 *   joiner → ready {supersedes}               adopted; replication may start (sent on every later link too),
 *                                             with the versions the adoption wrote over the joiner's own
 *
 * The donor starts its replication session when it hears `ready`, so the joiner's own pre-join
 * documents cannot reach the donor before the joiner's adoption writes, which are later.
 */

export const SITES_TOPIC = 'sites';
export const JOIN_TOPIC = 'join';
/** the kinds a joining site adopts from its donor: the installation's configuration, users and API tokens */
export const ADOPTED_KINDS = ['config', 'users', 'tokens'] as const;

export const SiteAboutMessage = Type.Object(
  {
    topic: Type.Literal(SITES_TOPIC),
    type: Type.Literal('about'),
    name: Type.String({ maxLength: 200 }),
    interfaces: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1024 }),
  },
  { additionalProperties: false },
);
export type SiteAboutMessage = Static<typeof SiteAboutMessage>;

const joinEnvelope = { topic: Type.Literal(JOIN_TOPIC) };
const JoinId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

export const JoinRequestMessage = Type.Object({ ...joinEnvelope, type: Type.Literal('request'), id: JoinId }, { additionalProperties: false });
export const JoinDocumentsMessage = Type.Object({ ...joinEnvelope, type: Type.Literal('documents'), id: JoinId, documents: Type.Array(WireVersion, { maxItems: 10_000 }) }, { additionalProperties: false });
export const JoinEndMessage = Type.Object({ ...joinEnvelope, type: Type.Literal('end'), id: JoinId, have: WireVector }, { additionalProperties: false });
/**
 * The versions the joining site's adoption wrote over its own pre-join ones (its `admin` given the
 * installation's password, its configuration made the installation's): the donor takes none of
 * the joiner's versions of these keys stamped before them (ChangeLog.supersedeOwnVersions), so
 * the joiner's older documents never win there, not even for the batches between.
 */
export const SupersededVersion = Type.Object(
  { kind: Type.Union(ADOPTED_KINDS.map((k) => Type.Literal(k))), key: Type.String({ minLength: 1, maxLength: 1024 }), hlc: Hlc },
  { additionalProperties: false },
);
export type SupersededVersion = Static<typeof SupersededVersion>;
export const JoinReadyMessage = Type.Object(
  { ...joinEnvelope, type: Type.Literal('ready'), supersedes: Type.Optional(Type.Array(SupersededVersion, { maxItems: 10_000 })) },
  { additionalProperties: false },
);
export type JoinRequestMessage = Static<typeof JoinRequestMessage>;
export type JoinDocumentsMessage = Static<typeof JoinDocumentsMessage>;
export type JoinEndMessage = Static<typeof JoinEndMessage>;

export const JoinMessage = Type.Union([JoinRequestMessage, JoinDocumentsMessage, JoinEndMessage, JoinReadyMessage]);
export type JoinMessage = Static<typeof JoinMessage>;
