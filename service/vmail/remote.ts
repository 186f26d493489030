import type { Readable } from 'node:stream';
import type { ByteRange, MediaFailure, MediaOpenFailure, MediaRef } from '../../shared/sync/media.js';
import { AppError, NotFoundError, UnavailableError } from '../errors.js';

/*
 * Voicemail across sites (design section 5): a message is hosted on the site that received its
 * deposit (its `originSite`), its metadata is on every site serving its domain, and playing it
 * elsewhere streams its audio from the origin over the link between them. What vmail needs of
 * that link is this interface; app.ts hands it the sync layer's media hub (sync/media.ts), and
 * the hub asks vmail, on the origin, what a peer's request names (`VmailService.audioForPeer`).
 */

/**
 * What the origin's answer to an open was, with a stream of the bytes when the audio is there.
 * A stream that fails after it began (the link lost, the origin's read failed, the bytes not
 * matching the SHA-256) errors with an Error that has the `reason` (`streamCutReason`).
 */
export type RemoteOpen = { ok: true; size: number; stream: Readable } | { ok: false; reason: MediaOpenFailure; message: string };

/** The audio other sites hold, as vmail asks for it. */
export interface RemoteAudio {
  /** whether the link to the site is open now (its audio is `available`) */
  connected(siteId: string): boolean;
  /** asks the site for the audio `ref` names (a range of it, or all); never rejects */
  open(siteId: string, ref: MediaRef, opts: { range?: ByteRange; expect: { size: number; sha256: string | null } }): Promise<RemoteOpen>;
}

/** What this site, as the origin, serves a peer for a ref: the audio, or why not. */
export type ServedAudio = { size: number; read(range?: ByteRange): Readable } | { reason: MediaFailure; message: string };

const OPEN_FAILURES: ReadonlySet<string> = new Set<MediaOpenFailure>(['not_found', 'gone', 'damaged', 'changed', 'refused', 'busy', 'error', 'unreachable', 'timeout', 'link_lost']);

/** The reason a remote stream failed with, when `err` is such a failure. */
export function streamCutReason(err: unknown): MediaOpenFailure | undefined {
  const reason = err instanceof Error ? (err as Error & { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' && OPEN_FAILURES.has(reason) ? (reason as MediaOpenFailure) : undefined;
}

/** How long a client is told to wait before it asks again for audio of a site that is not connected (links redial within 10 s). */
export const REMOTE_RETRY_AFTER_SEC = 5;

/**
 * The error a request gets when the origin site did not send the audio: temporary conditions
 * (not connected, no answer, busy, metadata here behind the origin's) are 503 with Retry-After;
 * audio the origin no longer has, or that failed its SHA-256 there, is 404 with what happened.
 */
export function remoteFailure(what: string, origin: string, reason: MediaOpenFailure, detail: string): AppError {
  const from = `site ${origin}`;
  switch (reason) {
    case 'unreachable':
    case 'link_lost':
      return new UnavailableError(`${what} is held by ${from}, which is not connected now; it can be played once the link is back.`, REMOTE_RETRY_AFTER_SEC);
    case 'timeout':
      return new UnavailableError(`${what} is held by ${from}, which did not answer in time (${detail}); try again.`, REMOTE_RETRY_AFTER_SEC);
    case 'busy':
      return new UnavailableError(`${what} is held by ${from}, which streams as many files to this site as it takes at once; try again shortly.`, 1);
    case 'changed':
      return new UnavailableError(`${what} on ${from} is newer than the metadata this site holds (${detail}); try again once it has caught up.`, 1);
    case 'refused':
      return new UnavailableError(`${from} does not let this site read ${what.charAt(0).toLowerCase()}${what.slice(1)} (${detail}): its configuration does not have this site serving the domain yet.`, REMOTE_RETRY_AFTER_SEC);
    case 'error':
      return new UnavailableError(`${what} could not be read on ${from}: ${detail}`, REMOTE_RETRY_AFTER_SEC);
    case 'not_found':
      return new NotFoundError(`${what} is no longer held by ${from}, the site that recorded it (${detail}).`);
    case 'gone':
      return new NotFoundError(`${what} is missing from the store of ${from}, the site that recorded it.`);
    case 'damaged':
      return new NotFoundError(`${what} does not match the SHA-256 taken when it was received: ${from}, which holds it, moved it into its quarantine and marked it audioMissing.`);
  }
}
