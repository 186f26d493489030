import { Type, type Static } from '@sinclair/typebox';
import { DOMAIN_PATTERN, GreetingKind, MAILBOX_NUMBER_PATTERN, MESSAGE_ID_PATTERN } from '../api/vmail.js';

/*
 * Media between two paired sites (PeerChannel topic `media`, design sections 5 and 7): a site
 * plays a voicemail message or greeting whose audio another site holds (its `originSite`) by
 * streaming it from there. One request per stream, the asking site gives credit:
 *
 *   asker  → open {stream, ref, range, expect, window}   the audio `ref` names, bytes start..end (null: all of it)
 *   origin → ready {stream, size}                        it is there and matches what the asker expects
 *          | fail {stream, reason, message}             it is not (the stream ends)
 *   origin → chunk {stream, data}                        base64 bytes, in order, never more than the credit given
 *   asker  → credit {stream, bytes}                      the asker's reader took `bytes` more: the origin may send them
 *   origin → end {stream}                                every byte of the range was sent
 *   asker  → cancel {stream}                             the asker stopped (its client went away, a timeout)
 *
 * A ref names what the metadata names (a message by id, a greeting by its mailbox, kind and store
 * key), never a path: the origin finds the file from its own metadata.
 */

export const MEDIA_TOPIC = 'media';
/** the bytes of one chunk before base64 (the base64 text is 4/3 of it) */
export const MEDIA_CHUNK_BYTES = 64 * 1024;
/** the most credit an asker may give at once: what the origin may have in flight for one stream */
export const MEDIA_MAX_WINDOW = 16 * 1024 * 1024;

const StreamId = Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 });
const ByteCount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const MediaRef = Type.Union([
  Type.Object({ kind: Type.Literal('vmail-message'), id: Type.String({ pattern: MESSAGE_ID_PATTERN }) }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal('vmail-greeting'),
      domain: Type.String({ pattern: DOMAIN_PATTERN }),
      mailbox: Type.String({ pattern: MAILBOX_NUMBER_PATTERN }),
      greeting: GreetingKind,
      /** the store key the asker's metadata names: compared with the origin's, never used as a path */
      key: Type.String({ minLength: 1, maxLength: 1024 }),
    },
    { additionalProperties: false },
  ),
]);
export type MediaRef = Static<typeof MediaRef>;

export const ByteRange = Type.Object({ start: ByteCount, end: ByteCount }, { additionalProperties: false, description: 'first and last byte, inclusive' });
export type ByteRange = Static<typeof ByteRange>;

/**
 * Why the origin does not send what was asked:
 * - not_found: it holds no such message or greeting (unknown, purged, or held by another site)
 * - gone: the metadata is there but its audio is not in the store
 * - damaged: the audio does not match its SHA-256 (the origin moved it into its quarantine and marked the message)
 * - changed: the origin's audio is not the one the asker's metadata describes (another size or checksum, a greeting replaced): the asker's metadata lags
 * - refused: the asking site does not serve the message's domain
 * - busy: the origin streams as many files to this site as it takes at once
 * - error: the origin failed (its store cannot be read, no instance of the domain's group runs there)
 */
export const MEDIA_FAILURES = ['not_found', 'gone', 'damaged', 'changed', 'refused', 'busy', 'error'] as const;
export type MediaFailure = (typeof MEDIA_FAILURES)[number];
const MediaFailureSchema = Type.Union(MEDIA_FAILURES.map((r) => Type.Literal(r)));

const envelope = { topic: Type.Literal(MEDIA_TOPIC), stream: StreamId };

export const OpenMessage = Type.Object(
  {
    ...envelope,
    type: Type.Literal('open'),
    ref: MediaRef,
    range: Type.Union([ByteRange, Type.Null()]),
    /** what the asker's metadata says of the file: a file of another size or checksum is `changed` */
    expect: Type.Object({ size: ByteCount, sha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()]) }, { additionalProperties: false }),
    window: Type.Integer({ minimum: MEDIA_CHUNK_BYTES, maximum: MEDIA_MAX_WINDOW }),
  },
  { additionalProperties: false },
);
export type OpenMessage = Static<typeof OpenMessage>;

export const ReadyMessage = Type.Object({ ...envelope, type: Type.Literal('ready'), size: ByteCount }, { additionalProperties: false });
export const ChunkMessage = Type.Object(
  // base64 of at most MEDIA_CHUNK_BYTES (its length is checked as the bytes are decoded)
  { ...envelope, type: Type.Literal('chunk'), data: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);
export const EndMessage = Type.Object({ ...envelope, type: Type.Literal('end') }, { additionalProperties: false });
export const FailMessage = Type.Object({ ...envelope, type: Type.Literal('fail'), reason: MediaFailureSchema, message: Type.String({ maxLength: 500 }) }, { additionalProperties: false });
export const CreditMessage = Type.Object({ ...envelope, type: Type.Literal('credit'), bytes: Type.Integer({ minimum: 1, maximum: MEDIA_MAX_WINDOW }) }, { additionalProperties: false });
export const CancelMessage = Type.Object({ ...envelope, type: Type.Literal('cancel') }, { additionalProperties: false });

export type ReadyMessage = Static<typeof ReadyMessage>;
export type ChunkMessage = Static<typeof ChunkMessage>;
export type EndMessage = Static<typeof EndMessage>;
export type FailMessage = Static<typeof FailMessage>;
export type CreditMessage = Static<typeof CreditMessage>;
export type CancelMessage = Static<typeof CancelMessage>;

/** what the asking site receives */
export const OriginMessage = Type.Union([ReadyMessage, ChunkMessage, EndMessage, FailMessage]);
export type OriginMessage = Static<typeof OriginMessage>;
/** what the origin receives */
export const AskerMessage = Type.Union([OpenMessage, CreditMessage, CancelMessage]);
export type AskerMessage = Static<typeof AskerMessage>;

/**
 * How an asking site's open ends when it does not get the audio: what the origin said, or, said
 * by the asking site itself, `unreachable` (no link to the origin now), `timeout` (the origin did
 * not answer in time) and `link_lost` (the link ended before the origin answered).
 */
export type MediaOpenFailure = MediaFailure | 'unreachable' | 'timeout' | 'link_lost';
