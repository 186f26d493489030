import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import {
  AudioQuery,
  DEPOSIT_KEY_LIMITS,
  DepositForm,
  DepositHeaders,
  DomainParams,
  ForwardRequest,
  GreetingChoice,
  GreetingChoiceQuery,
  GreetingForm,
  GreetingInfo,
  GreetingParams,
  Mailbox,
  MailboxCreate,
  MailboxList,
  MailboxParams,
  MailboxPatch,
  Message,
  MessageDeleteQuery,
  MessageList,
  MessageParams,
  MessagePatch,
  MessageQuery,
  Mwi,
  MwiList,
  PinCheckRequest,
  PinCheckResult,
  QuarantineList,
  QuarantineParams,
  QuarantineRestore,
  VMAIL_LIMITS,
} from '../../../shared/api/vmail.js';
import { AppError, ValidationError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { AudioFile, AudioIntake, VmailService } from '../../vmail/service.js';
import { parseRange } from '../../vmail/range.js';
import { ClientGoneError, idempotencyKeyOf, lingerAfterRefusal, readMultipart, readRawBody, tooLarge } from '../../vmail/upload.js';
import { route, type RouteDef } from '../route.js';

const BASE = '/api/v1/domains/:domain/mailboxes';
const BOX = `${BASE}/:box`;
const MESSAGE = `${BOX}/messages/:id`;
const QUARANTINE = '/api/v1/domains/:domain/quarantine';
/** what a multipart envelope may add to the audio's bytes */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const RAW_AUDIO_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave', 'application/octet-stream'];

/** How the audio of an upload is read: multipart/form-data (field `audio`), or a raw WAV body where allowed. */
function intakeOf(req: Request, allowRaw: boolean): AudioIntake {
  const length = Number(req.headers['content-length']);
  if (Number.isFinite(length) && length > VMAIL_LIMITS.uploadBytes + MULTIPART_OVERHEAD_BYTES) throw tooLarge(VMAIL_LIMITS.uploadBytes);
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'multipart/form-data') {
    return (onFile, discard) => readMultipart(req, { fileField: 'audio', maxBytes: VMAIL_LIMITS.uploadBytes }, onFile, discard);
  }
  if (allowRaw && RAW_AUDIO_TYPES.includes(type)) {
    return async (onFile) => ({ fields: {}, file: await readRawBody(req, onFile) });
  }
  throw new ValidationError(
    allowRaw
      ? `Send the greeting as audio/wav, or as multipart/form-data with the file in the field "audio" (the Content-Type is "${type || 'missing'}").`
      : `Send the message as multipart/form-data with the WAV in the field "audio" (the Content-Type is "${type || 'missing'}").`,
  );
}

/** Runs an upload; when it is refused before its body has been read, the rest of the body is dropped (bounded). */
async function upload<T>(req: Request, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    lingerAfterRefusal(req);
    if (err instanceof ClientGoneError) throw new AppError(400, 'invalid_request', 'The upload was interrupted: the client closed the connection.');
    throw err;
  }
}

/**
 * Streams a stored WAV with HTTP Range support (one range; 206, or 416 with Content-Range bytes *\/size).
 * The audio is opened before the headers go out, so that audio another site holds and cannot
 * send now is an error answer (503 with Retry-After, 404); a stream that fails once begun (the
 * link to that site lost) cuts the response short.
 */
async function sendAudio(req: Request, res: Response, audio: AudioFile, download: boolean, log: Logger): Promise<void> {
  const range = parseRange(req.headers.range, audio.size);
  if (range.kind === 'unsatisfiable') {
    throw new AppError(416, 'invalid_request', `The range "${String(req.headers.range).slice(0, 100)}" cannot be served from ${audio.size} bytes.`, undefined, { 'Content-Range': `bytes */${audio.size}`, 'Accept-Ranges': 'bytes' });
  }
  const body = req.method === 'HEAD' ? undefined : await audio.open(range.kind === 'partial' ? range : undefined);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Content-Type', audio.contentType);
  res.setHeader('Cache-Control', 'private, no-cache');
  res.setHeader('Content-Disposition', `${download ? 'attachment' : 'inline'}; filename="${audio.filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`);
  if (range.kind === 'partial') {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${audio.size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.status(200);
    res.setHeader('Content-Length', String(audio.size));
  }
  if (!body) {
    res.end();
    return;
  }
  try {
    await pipeline(body, res);
  } catch (err) {
    // A player that seeks closes its connection mid-stream all the time.
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    // once the headers are out, the only way to say it is to cut the response short
    if (res.headersSent) {
      log.warn({ err }, 'the audio stream failed mid-way: the response was cut short');
      res.destroy();
      return;
    }
    throw err;
  }
}

export function vmailRoutes(vmail: VmailService): RouteDef[] {
  return [
    // ---- mailboxes ----
    route({
      method: 'get',
      path: BASE,
      operationId: 'listMailboxes',
      summary: 'The mailboxes of a domain with their message counts, by number',
      tag: 'vmail',
      auth: 'vmail',
      params: DomainParams,
      response: MailboxList,
      errors: [404, 503],
      handler: ({ params }) => vmail.listMailboxes(params.domain),
    }),
    route({
      method: 'post',
      path: BASE,
      operationId: 'createMailbox',
      summary: 'Create a mailbox (the PIN is stored as an scrypt hash and never returned)',
      tag: 'vmail',
      auth: 'admin',
      params: DomainParams,
      body: MailboxCreate,
      status: 201,
      response: Mailbox,
      errors: [404, 409, 503],
      handler: ({ params, body }) => vmail.createMailbox(params.domain, body),
    }),
    route({
      method: 'get',
      path: BOX,
      operationId: 'getMailbox',
      summary: 'One mailbox: settings, greetings, counts, PIN lockout',
      tag: 'vmail',
      auth: 'vmail',
      params: MailboxParams,
      response: Mailbox,
      errors: [404, 503],
      handler: ({ params }) => vmail.getMailbox(params.domain, params.box),
    }),
    route({
      method: 'patch',
      path: BOX,
      operationId: 'updateMailbox',
      summary: 'Change a mailbox’s settings; a new PIN ends a lockout, pin null removes it',
      tag: 'vmail',
      auth: 'admin',
      params: MailboxParams,
      body: MailboxPatch,
      response: Mailbox,
      errors: [404, 503],
      handler: ({ params, body }) => vmail.patchMailbox(params.domain, params.box, body),
    }),
    route({
      method: 'delete',
      path: BOX,
      operationId: 'deleteMailbox',
      summary: 'Delete a mailbox with all its messages and greetings',
      tag: 'vmail',
      auth: 'admin',
      params: MailboxParams,
      errors: [404, 503],
      handler: ({ params }) => vmail.deleteMailbox(params.domain, params.box),
    }),
    route({
      method: 'post',
      path: `${BOX}/pin-check`,
      operationId: 'checkMailboxPin',
      summary: 'Check a mailbox PIN (media server): 200, 401 wrong, 429 locked for 15 min after 5 wrong in a row, 409 no PIN set',
      tag: 'vmail',
      auth: 'vmail',
      params: MailboxParams,
      body: PinCheckRequest,
      response: PinCheckResult,
      errors: [404, 409, 429, 503],
      async handler({ params, body }) {
        await vmail.checkPin(params.domain, params.box, body.pin);
        return { ok: true as const };
      },
    }),
    route({
      method: 'get',
      path: `${BOX}/mwi`,
      operationId: 'getMailboxMwi',
      summary: 'Message-waiting counts of a mailbox: new, saved, urgent (new and urgent)',
      tag: 'vmail',
      auth: 'vmail',
      params: MailboxParams,
      response: Mwi,
      errors: [404, 503],
      handler: ({ params }) => vmail.mwi(params.domain, params.box),
    }),
    route({
      method: 'get',
      path: '/api/v1/domains/:domain/mwi',
      operationId: 'listDomainMwi',
      summary: 'Message-waiting counts of every mailbox of a domain',
      tag: 'vmail',
      auth: 'vmail',
      params: DomainParams,
      response: MwiList,
      errors: [404, 503],
      handler: ({ params }) => vmail.domainMwi(params.domain),
    }),

    // ---- messages ----
    route({
      method: 'get',
      path: `${BOX}/messages`,
      operationId: 'listMessages',
      summary: 'Messages of a mailbox by folder (default inbox = new + saved), newest first, paged, with the counts of every folder',
      tag: 'vmail',
      auth: 'vmail',
      params: MailboxParams,
      query: MessageQuery,
      response: MessageList,
      errors: [404, 503],
      handler: ({ params, query }) => vmail.listMessages(params.domain, params.box, query),
    }),
    route({
      method: 'post',
      path: `${BOX}/messages`,
      operationId: 'depositMessage',
      summary:
        'Deposit a message: multipart/form-data with the WAV in field "audio" (PCM 16-bit 8/16 kHz or G.711 8 kHz, at most 20 MiB) and fields callerNumber, callerName, callId, urgent. ' +
        'Answered 201 once the message is durable. With an Idempotency-Key a retry stores nothing twice: the same deposit again is answered 201 with the same message (Idempotent-Replayed: true). ' +
        '409 when the mailbox is full, 413 when too large or longer than maxMessageSeconds (both before anything is stored), ' +
        '422 when the key was used for another deposit, 400 when the WAV is not acceptable, 503 with Retry-After while a deposit with the same key is still being received',
      tag: 'vmail',
      auth: 'vmail',
      params: MailboxParams,
      headers: DepositHeaders,
      requestBody: {
        description: `the WAV in the form field "audio" (at most ${VMAIL_LIMITS.uploadBytes} bytes; the form around it may add ${MULTIPART_OVERHEAD_BYTES})`,
        content: { 'multipart/form-data': { schema: DepositForm, encoding: { audio: { contentType: 'audio/wav' } } } },
        maxBytes: VMAIL_LIMITS.uploadBytes,
      },
      status: 201,
      response: Message,
      responseHeaders: {
        'Idempotent-Replayed': { description: 'true: this deposit was stored by an earlier try with the same Idempotency-Key, and this is its message (nothing was stored now)', schema: { type: 'string', const: 'true' } },
      },
      errors: [
        404,
        { status: 409, description: 'The mailbox is full (nothing stored)' },
        413,
        { status: 422, description: `The Idempotency-Key was used for another deposit into this mailbox (other audio or fields) in the last ${DEPOSIT_KEY_LIMITS.hours} h: nothing stored; a new message needs a new key` },
        { status: 503, description: 'Temporarily unavailable, try again after Retry-After seconds: a deposit with the same Idempotency-Key into this mailbox is still being received (the retry once it is stored is answered with its message), or no active instance / not ready' },
      ],
      async handler({ params, headers, req, res }) {
        const idempotencyKey = idempotencyKeyOf(headers['Idempotency-Key']);
        const { message, replayed } = await upload(req, () => vmail.deposit(params.domain, params.box, intakeOf(req, false), { idempotencyKey }));
        if (replayed) res.setHeader('Idempotent-Replayed', 'true');
        return message;
      },
    }),
    route({
      method: 'get',
      path: MESSAGE,
      operationId: 'getMessage',
      summary: 'One message’s metadata',
      tag: 'vmail',
      auth: 'vmail',
      params: MessageParams,
      response: Message,
      errors: [404, 503],
      handler: ({ params }) => vmail.getMessage(params.domain, params.box, params.id),
    }),
    route({
      method: 'patch',
      path: MESSAGE,
      operationId: 'updateMessage',
      summary: 'Move a message to a folder (deleted = soft delete) and/or mark it read or unread',
      tag: 'vmail',
      auth: 'vmail',
      params: MessageParams,
      body: MessagePatch,
      response: Message,
      errors: [404, 503],
      handler: ({ params, body }) => vmail.patchMessage(params.domain, params.box, params.id, body),
    }),
    route({
      method: 'delete',
      path: MESSAGE,
      operationId: 'deleteMessage',
      summary: 'Soft-delete a message (folder deleted, purged after the mailbox’s retentionDays); purge=true removes it and its audio now',
      tag: 'vmail',
      auth: 'vmail',
      params: MessageParams,
      query: MessageDeleteQuery,
      errors: [404, 503],
      handler: ({ params, query }) => vmail.deleteMessage(params.domain, params.box, params.id, query.purge === true),
    }),
    route({
      method: 'post',
      path: `${MESSAGE}/undelete`,
      operationId: 'undeleteMessage',
      summary: 'Bring a deleted message back to the folder it was deleted from',
      tag: 'vmail',
      auth: 'vmail',
      params: MessageParams,
      response: Message,
      errors: [404, 503],
      handler: ({ params }) => vmail.undelete(params.domain, params.box, params.id),
    }),
    route({
      method: 'post',
      path: `${MESSAGE}/forward`,
      operationId: 'forwardMessage',
      summary: 'Copy a message into another mailbox as a new message, recording forwardedFrom and who forwarded it',
      tag: 'vmail',
      auth: 'vmail',
      params: MessageParams,
      body: ForwardRequest,
      status: 201,
      response: Message,
      errors: [404, 409, 503],
      handler: ({ params, body, principal }) => vmail.forward(params.domain, params.box, params.id, body, principal?.name ?? 'unknown'),
    }),
    route({
      method: 'get',
      path: `${MESSAGE}/audio`,
      operationId: 'getMessageAudio',
      summary: 'The message’s WAV, with HTTP Range (206; 416 for a range outside the file); download=true for Content-Disposition attachment. A message recorded on another site streams from that site (503 with Retry-After while it is not connected)',
      tag: 'vmail',
      auth: 'vmail',
      params: MessageParams,
      query: AudioQuery,
      produces: { 'audio/wav': {} },
      ranges: true,
      errors: [404, 416, 503],
      async handler({ params, query, req, res, log }) {
        await sendAudio(req, res, await vmail.messageAudio(params.domain, params.box, params.id), query.download === true, log);
      },
    }),

    // ---- greetings ----
    route({
      method: 'get',
      path: `${BOX}/greeting`,
      operationId: 'getGreetingChoice',
      summary: 'For the media server: the greeting to play now (temporary overrides unavailable/busy), or 404 to play the system one',
      tag: 'vmail',
      auth: 'vmail',
      params: MailboxParams,
      query: GreetingChoiceQuery,
      response: GreetingChoice,
      errors: [404, 503],
      handler: ({ params, query }) => vmail.greetingChoice(params.domain, params.box, query.for ?? 'unavailable'),
    }),
    route({
      method: 'put',
      path: `${BOX}/greetings/:kind`,
      operationId: 'putGreeting',
      summary: 'Upload a greeting (unavailable, busy, temporary, name): a WAV as audio/wav or multipart field "audio", checked like a message, at most 300 s',
      tag: 'vmail',
      auth: 'vmail',
      params: GreetingParams,
      requestBody: {
        description: `a WAV of at most ${VMAIL_LIMITS.greetingSeconds} s and ${VMAIL_LIMITS.uploadBytes} bytes: the body itself, or the form field "audio"`,
        content: {
          ...Object.fromEntries(RAW_AUDIO_TYPES.map((type) => [type, {}])),
          'multipart/form-data': { schema: GreetingForm, encoding: { audio: { contentType: 'audio/wav' } } },
        },
        maxBytes: VMAIL_LIMITS.uploadBytes,
      },
      response: GreetingInfo,
      errors: [404, 413, 503],
      handler: ({ params, req }) => upload(req, () => vmail.putGreeting(params.domain, params.box, params.kind, intakeOf(req, true))),
    }),
    route({
      method: 'get',
      path: `${BOX}/greetings/:kind`,
      operationId: 'getGreetingAudio',
      summary: 'A greeting’s WAV, with HTTP Range; one recorded on another site streams from that site (503 with Retry-After while it is not connected)',
      tag: 'vmail',
      auth: 'vmail',
      params: GreetingParams,
      query: AudioQuery,
      produces: { 'audio/wav': {} },
      ranges: true,
      errors: [404, 416, 503],
      async handler({ params, query, req, res, log }) {
        await sendAudio(req, res, await vmail.greetingAudio(params.domain, params.box, params.kind), query.download === true, log);
      },
    }),
    route({
      method: 'delete',
      path: `${BOX}/greetings/:kind`,
      operationId: 'deleteGreeting',
      summary: 'Reset a greeting (the system greeting plays again)',
      tag: 'vmail',
      auth: 'vmail',
      params: GreetingParams,
      errors: [404, 503],
      handler: ({ params }) => vmail.deleteGreeting(params.domain, params.box, params.kind),
    }),

    // ---- quarantine ----
    route({
      method: 'get',
      path: QUARANTINE,
      operationId: 'listQuarantine',
      summary: 'What the start-up check could not match in a domain: the files it moved into the quarantine (never deleted), and the messages whose audio is missing',
      tag: 'vmail',
      auth: 'admin',
      params: DomainParams,
      response: QuarantineList,
      errors: [404, 503],
      handler: ({ params }) => vmail.listQuarantine(params.domain),
    }),
    route({
      method: 'post',
      path: `${QUARANTINE}/:id/restore`,
      operationId: 'restoreQuarantined',
      summary: 'Restore a quarantined file as a new message of a mailbox (default: the one it was found in), when it is a WAV a deposit would take; 409 when it is not, or the mailbox is full',
      tag: 'vmail',
      auth: 'admin',
      params: QuarantineParams,
      body: QuarantineRestore,
      status: 201,
      response: Message,
      errors: [404, 409, 503],
      handler: ({ params, body, principal }) => vmail.restoreQuarantined(params.domain, params.id, body, principal?.name ?? 'unknown'),
    }),
    route({
      method: 'delete',
      path: `${QUARANTINE}/:id`,
      operationId: 'deleteQuarantined',
      summary: 'Delete a quarantined file for good',
      tag: 'vmail',
      auth: 'admin',
      params: QuarantineParams,
      errors: [404, 503],
      handler: ({ params, principal }) => vmail.deleteQuarantined(params.domain, params.id, principal?.name ?? 'unknown'),
    }),
  ];
}
