import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { VMAIL_LIMITS } from '../../shared/api/vmail.js';
import { AppError, ValidationError } from '../errors.js';
import type { FileStore, PendingFile } from './fsstore.js';
import { WavError, WavValidator, type WavHeader } from './wav.js';

/**
 * Taking audio in: the bytes are checked as they stream (wav.ts) and nothing touches the disk until
 * the WAV header has shown that the audio is acceptable, fits the size limit and is not longer
 * than allowed; then they go to a temp file of the store that only a commit puts in place.
 */

/** 413: the upload is larger than the limit (`size`), or its audio lasts longer than allowed (`duration`). */
export class TooLargeError extends AppError {
  constructor(
    message: string,
    readonly reason: 'size' | 'duration' = 'size',
  ) {
    super(413, 'payload_too_large', message);
  }
}

/** How long, and how many more bytes, a refused upload's body is read and dropped before the connection is cut. */
export const LINGER = { ms: 10_000, bytes: 2 * VMAIL_LIMITS.uploadBytes } as const;

/**
 * After an upload is refused before its body has been read: the body is read and dropped so the
 * client, still sending, gets to read the answer (closing at once makes it fail with EPIPE or a
 * reset instead). A client that goes on for longer than LINGER has its connection cut.
 */
export function lingerAfterRefusal(req: IncomingMessage): void {
  if (req.complete) return;
  let dropped = 0;
  const cut = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.socket?.destroy();
  };
  const onData = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER.bytes) cut();
  };
  const timer = setTimeout(cut, LINGER.ms);
  timer.unref();
  req.on('data', onData);
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

export function tooLarge(maxBytes: number): TooLargeError {
  return new TooLargeError(`The upload is larger than the limit of ${maxBytes} bytes (${Math.round(maxBytes / 1024 / 1024)} MiB).`);
}

/** The longest audio an upload may hold, and how a refusal names it: "The message lasts 31.0 s; <sentence>." */
export interface DurationLimit {
  seconds: number;
  /** the end of the refusal's sentence, after the duration: e.g. "mailbox 1001 takes messages of at most 30 s" */
  sentence: string;
  /** what the upload is, for the refusal: "message" or "greeting" */
  what: string;
}

export interface ScanOptions {
  maxBytes: number;
  /** refused (413, reason duration) as soon as the header shows the audio lasts longer */
  maxDuration: DurationLimit;
}

export interface ReceiveOptions extends ScanOptions {
  store: FileStore;
  key: string;
}

export interface Received {
  file: PendingFile;
  header: WavHeader;
  /** the SHA-256 of the bytes as they arrived (hex), computed while they streamed in */
  sha256: string;
}

/**
 * Reads a WAV from a stream into a pending file of the store, hashing it as it goes (the file is
 * never read back for its checksum); on any error nothing is left behind.
 */
export async function receiveWav(source: AsyncIterable<Buffer>, opts: ReceiveOptions): Promise<Received> {
  let file: PendingFile | undefined;
  try {
    const { header, sha256 } = await scanWav(source, opts, async (chunk) => {
      file ??= await opts.store.create(opts.key);
      await file.write(chunk);
    });
    if (!file) throw new Error('a complete WAV was never written');
    return { file, header, sha256 };
  } catch (err) {
    await (file as PendingFile | undefined)?.abort();
    throw err;
  }
}

/**
 * Reads a WAV from a stream through the same checks as `receiveWav` and keeps only its header
 * and SHA-256: nothing is written (a deposit retried with its Idempotency-Key is compared, not
 * stored again).
 */
export function hashWav(source: AsyncIterable<Buffer>, opts: ScanOptions): Promise<{ header: WavHeader; sha256: string }> {
  return scanWav(source, opts);
}

/**
 * The checks of an upload as it streams: size, WAV header (format, duration), hashing. `sink`
 * gets the bytes only once the header has shown the audio is acceptable (what came before is
 * held until then), so nothing touches the disk for an upload refused by its header.
 */
async function scanWav(source: AsyncIterable<Buffer>, opts: ScanOptions, sink?: (chunk: Buffer) => Promise<void>): Promise<{ header: WavHeader; sha256: string }> {
  const validator = new WavValidator({ headerBytes: VMAIL_LIMITS.headerBytes });
  const hash = createHash('sha256');
  const limit = opts.maxDuration;
  let held: Buffer[] | undefined = [];
  let received = 0;
  try {
    for await (const chunk of source) {
      received += chunk.length;
      if (received > opts.maxBytes) throw tooLarge(opts.maxBytes);
      const header = validator.push(chunk);
      if (header) {
        if (header.totalBytes > opts.maxBytes) throw tooLarge(opts.maxBytes);
        if (header.durationMs > limit.seconds * 1000) throw new TooLargeError(`The ${limit.what} lasts ${(header.durationMs / 1000).toFixed(1)} s; ${limit.sentence}.`, 'duration');
      }
      hash.update(chunk);
      if (!sink) continue;
      if (held) {
        if (!validator.header) {
          held.push(chunk);
          continue;
        }
        for (const h of held) await sink(h);
        held = undefined;
      }
      await sink(chunk);
    }
    return { header: validator.end(), sha256: hash.digest('hex') };
  } catch (err) {
    if (err instanceof WavError) throw new ValidationError(`The audio is not an acceptable WAV: ${err.message}`);
    throw err;
  }
}

/**
 * The key an Idempotency-Key header carries: a Structured Field string ("…", the IETF draft) or
 * the bare key (as Stripe's clients send it) are the same key. The header's syntax is checked by
 * the route's schema (DepositHeaders) before this.
 */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? header.slice(1, -1) : header;
}

/** The client went away in the middle of its upload. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}

export interface MultipartResult<T> {
  fields: Record<string, string>;
  file: T;
}

/**
 * Reads a multipart/form-data body with busboy: text fields, and one file in `fileField` handed to
 * `onFile` as a stream while it arrives. Any problem stops reading the body (the caller's
 * answer closes the connection), and the refusal is answered only after the file is cleaned up:
 * `onFile` cleans up after itself when it fails; a file it has finished is handed to `discard`.
 * That covers a refusal after the file (a field over the limit, a second file, the client
 * leaving), and busboy parsing on in the chunk it holds after a refusal: a file part that starts
 * then is drained, never received.
 */
export function readMultipart<T>(
  req: IncomingMessage,
  opts: { fileField: string; maxBytes: number },
  onFile: (stream: Readable) => Promise<T>,
  discard: (file: T) => Promise<void>,
): Promise<MultipartResult<T>> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { files: 1, fileSize: opts.maxBytes, fields: 16, fieldSize: 4096, parts: 24, headerPairs: 32 },
      });
    } catch (err) {
      reject(new ValidationError(`Send the audio as multipart/form-data with the file in the field "${opts.fileField}": ${(err as Error).message}.`));
      return;
    }
    const fields: Record<string, string> = {};
    let filePromise: Promise<T> | undefined;
    let fileStream: Readable | undefined;
    let settled = false;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      // The rest of the body is read and dropped until the answer closes the connection.
      req.resume();
      if (fileStream && !fileStream.destroyed) fileStream.destroy(err instanceof Error ? err : new Error(String(err)));
      const cleanedUp = filePromise ? filePromise.then(discard, () => undefined) : Promise.resolve();
      void cleanedUp.then(
        () => reject(err),
        () => reject(err),
      );
    };

    bb.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated) return fail(new ValidationError(`The form field "${name.slice(0, 40)}" is longer than 4096 bytes.`));
      if (Object.hasOwn(fields, name)) return fail(new ValidationError(`The form field "${name}" is sent twice.`));
      fields[name] = value;
    });
    bb.on('file', (name, stream) => {
      if (settled) {
        stream.resume();
        return;
      }
      if (name !== opts.fileField || filePromise) {
        stream.resume();
        return fail(new ValidationError(filePromise ? 'Send one audio file per request.' : `The file must be in the form field "${opts.fileField}", not "${name}".`));
      }
      fileStream = stream;
      stream.once('limit', () => fail(tooLarge(opts.maxBytes)));
      filePromise = onFile(stream);
      filePromise.catch(fail);
    });
    bb.on('filesLimit', () => fail(new ValidationError('Send one audio file per request.')));
    bb.on('fieldsLimit', () => fail(new ValidationError('The form has too many fields.')));
    bb.on('partsLimit', () => fail(new ValidationError('The form has too many parts.')));
    bb.on('error', (err: Error) => fail(new ValidationError(`The multipart body cannot be read: ${err.message}.`)));
    bb.on('close', () => {
      if (settled) return;
      if (!filePromise) return fail(new ValidationError(`The form has no file in the field "${opts.fileField}".`));
      filePromise.then(
        (file) => {
          if (settled) return;
          settled = true;
          resolve({ fields, file });
        },
        fail,
      );
    });
    req.on('close', () => {
      if (!req.complete) fail(new ClientGoneError('the client closed the connection during the upload'));
    });
    req.pipe(bb);
  });
}

/** Reads a raw request body (Content-Type audio/wav) as the file. */
export async function readRawBody<T>(req: IncomingMessage, onFile: (stream: AsyncIterable<Buffer>) => Promise<T>): Promise<T> {
  // Stopping early must not destroy the request: its socket still has to carry the answer.
  const chunks = req.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>;
  let gone = false;
  const onClose = () => {
    if (!req.complete) gone = true;
  };
  req.on('close', onClose);
  try {
    return await onFile({ [Symbol.asyncIterator]: () => chunks });
  } catch (err) {
    req.resume();
    throw gone ? new ClientGoneError('the client closed the connection during the upload') : err;
  } finally {
    req.off('close', onClose);
  }
}
