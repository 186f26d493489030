import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { SYNC_LIMITS, SyncDialog, SyncRequest } from '../../shared/api/sources.js';
import { AppError, ValidationError } from '../errors.js';
import { validator } from '../validation.js';

const dialogCheck = validator(SyncDialog);
const requestCheck = validator(SyncRequest);

export type SyncBodyFormat = 'ndjson' | 'json';

/** The format a dialog list is sent in, from its Content-Type; a clear refusal for any other. */
export function syncBodyFormat(contentType: string | undefined): SyncBodyFormat {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (/^application\/(x-)?(ndjson|jsonl|jsonlines)$/.test(type)) return 'ndjson';
  if (type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type)) return 'json';
  // 415, as the edge answers an unsupported Content-Type on every other route
  throw new AppError(415, 'invalid_request', `Send the dialog list as application/x-ndjson (one dialog a line) or as application/json {"dialogs": [...]} (its Content-Type is ${JSON.stringify(type.slice(0, 100)) || 'missing'}).`);
}

function tooLarge(): AppError {
  return new AppError(413, 'payload_too_large', `The dialog list is larger than the limit of ${SYNC_LIMITS.bodyBytes} bytes (${SYNC_LIMITS.bodyBytes / 1024 / 1024} MiB).`);
}

/** The body's bytes with any Content-Encoding undone, at most SYNC_LIMITS.bodyBytes of them. */
async function* bodyBytes(req: IncomingMessage): AsyncGenerator<Buffer> {
  if (Number(req.headers['content-length']) > SYNC_LIMITS.bodyBytes) throw tooLarge();
  const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decoders: Record<string, () => NodeJS.ReadWriteStream> = { gzip: createGunzip, 'x-gzip': createGunzip, deflate: createInflate, br: createBrotliDecompress };
  let source: AsyncIterable<Buffer> = req;
  if (encoding !== 'identity') {
    const make = decoders[encoding];
    if (!make) {
      throw new AppError(415, 'invalid_request', `The Content-Encoding ${JSON.stringify(encoding.slice(0, 40))} is not supported: send the list as it is, or compressed with gzip, deflate or br.`, undefined, { 'Accept-Encoding': 'gzip, deflate, br' });
    }
    // pipeline, not pipe: an error of the request reaches the decoder, and so the loop below
    source = pipeline(req, make(), () => undefined) as unknown as AsyncIterable<Buffer>;
  }
  let total = 0;
  try {
    for await (const chunk of source) {
      total += chunk.length;
      if (total > SYNC_LIMITS.bodyBytes) throw tooLarge();
      yield chunk;
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || code.startsWith('ERR__')) throw new AppError(400, 'invalid_request', `The request body cannot be decoded as ${encoding}.`);
    if (!req.complete) throw new AppError(400, 'invalid_request', 'The dialog list was cut off: the client closed the connection before its end.');
    throw err;
  }
}

/** dialogs handed on at once from a JSON body (an NDJSON body hands on what each chunk of it holds) */
const JSON_BATCH = 1000;

/**
 * The dialogs of a sync body, in batches, each dialog checked at the edge against SyncDialog:
 *
 *  - NDJSON, one dialog a line: read and handed on as the lines arrive (the dialogs of each chunk
 *    that came in), so that a list of the documented 100,000 dialogs never sits in memory as a
 *    whole. A bad line refuses the request at that line (path `/<index>`); the dialogs before it
 *    have been handed on already.
 *  - JSON `{"dialogs": [...]}` (the form before NDJSON, kept): the body is read whole (it is bounded
 *    by the body limit), checked whole (every problem and every dialog listed twice reported at
 *    once, nothing handed on), then handed on in batches.
 */
export async function* syncDialogs(req: IncomingMessage, format: SyncBodyFormat): AsyncGenerator<SyncDialog[]> {
  if (format === 'json') {
    const dialogs = await jsonDialogs(req);
    for (let i = 0; i < dialogs.length; i += JSON_BATCH) {
      yield dialogs.slice(i, i + JSON_BATCH);
      // The whole list is in memory: a turn of the event loop between batches lets other work in.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return;
  }
  const text = new StringDecoder('utf8');
  let pending = '';
  let index = 0;
  const take = (line: string, into: SyncDialog[]): void => {
    if (line.trim() === '') return;
    if (index >= SYNC_LIMITS.dialogs) throw new AppError(413, 'payload_too_large', `The dialog list holds more than ${SYNC_LIMITS.dialogs} dialogs.`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new ValidationError(`Line ${index + 1} of the dialog list is not valid JSON: ${(err as Error).message}.`, [{ path: `/${index}`, message: 'is not valid JSON' }]);
    }
    into.push(dialogCheck.parse(value, `The dialog at line ${index + 1}`, `/${index}`));
    index++;
  };
  for await (const chunk of bodyBytes(req)) {
    pending += text.write(chunk);
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    if (pending.length > SYNC_LIMITS.lineBytes) throw new ValidationError(`Line ${index + 1} of the dialog list is longer than ${SYNC_LIMITS.lineBytes} bytes: one dialog a line.`, [{ path: `/${index}`, message: 'is too long' }]);
    // The dialogs before a bad line go on first: the refusal says they were taken in.
    const batch: SyncDialog[] = [];
    let refusal: unknown;
    try {
      for (const line of lines) take(line, batch);
    } catch (err) {
      refusal = err;
    }
    if (batch.length) yield batch;
    if (refusal !== undefined) throw refusal;
  }
  const last: SyncDialog[] = [];
  take(pending + text.end(), last);
  if (last.length) yield last;
}

async function jsonDialogs(req: IncomingMessage): Promise<SyncDialog[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of bodyBytes(req)) chunks.push(chunk);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new AppError(400, 'invalid_json', `The request body is not valid JSON: ${(err as Error).message}.`);
  }
  chunks.length = 0;
  const { dialogs } = requestCheck.parse(value, 'The request body');
  const first = new Map<string, number>();
  const twice = dialogs.flatMap((d, i) => {
    const at = first.get(d.callId);
    if (at === undefined) first.set(d.callId, i);
    return at === undefined ? [] : [{ path: `/dialogs/${i}/callId`, message: `"${d.callId}" is listed twice (first at /dialogs/${at})` }];
  });
  if (twice.length) throw new ValidationError(`The dialog list names ${twice.length === 1 ? 'a dialog' : 'dialogs'} twice; nothing was changed.`, twice);
  return dialogs;
}
