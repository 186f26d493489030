import { randomBytes } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { CPaceAbort, CPaceParty, lvCat } from './cpace.js';
import type { CodeRefusal, PairingCodes } from './codes.js';

/**
 * The pairing exchange, over a WebSocket on the peer listener's `/v1/pair`, inside TLS where the
 * joining site (B, the one the code was typed into) presents its certificate and learns the
 * code holder's (A) from the handshake. Neither can pin the other yet: CPace binds both
 * fingerprints and a session id made of both sides' random halves into the key, so a man in the
 * middle with other certificates gets keys that do not confirm, and gets one online guess per try.
 *
 *   B → A  hello   {sid: B's 16 random bytes}
 *   A → B  share   {sid: A's 16 bytes, Y: Ya, ad: A's name and address}        (A: CPace initiator)
 *   B → A  proof   {Y: Yb, ad: B's name and address, tag: B's confirmation}
 *   A → B  confirm {tag: A's confirmation}   (A pinned B before it answers)
 *   B → A  done                                (B pinned A)
 * Either side may instead send `refused` {reason, message}; a refusal never carries the code.
 */

export const PAIRING_PATH = '/v1/pair';
export const PAIRING_VERSION = 1;
/** A proof must follow its share within this: an old one is refused as expired. */
export const PROOF_TIMEOUT_MS = 30_000;

export type PairingRefusalReason = CodeRefusal | 'expired_proof' | 'already_paired' | 'self' | 'bad_message' | 'no_certificate' | 'confirmation_failed';

export class PairingRefused extends Error {
  override name = 'PairingRefused';
  constructor(
    readonly reason: PairingRefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export interface SiteInfo {
  name: string;
  publicUrl: string;
}

const enc = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const dec = (s: unknown, len?: number): Uint8Array => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new PairingRefused('bad_message', 'A pairing message is malformed.');
  const b = new Uint8Array(Buffer.from(s, 'base64url'));
  if (len !== undefined && b.length !== len) throw new PairingRefused('bad_message', 'A pairing message is malformed.');
  return b;
};

/** The channel identifier: the protocol, then the code holder's and the joining site's fingerprints. */
export function channelIdentifier(holderId: string, joinerId: string): Uint8Array {
  return lvCat(new TextEncoder().encode(`sitecall pairing v${PAIRING_VERSION}`), Buffer.from(holderId, 'hex'), Buffer.from(joinerId, 'hex'));
}

function prs(code: string): Uint8Array {
  return new TextEncoder().encode(code);
}

function infoBytes(info: SiteInfo): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ name: info.name, publicUrl: info.publicUrl }));
}

function parseInfo(bytes: Uint8Array): SiteInfo {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<SiteInfo>;
    if (typeof v.name === 'string' && typeof v.publicUrl === 'string' && v.name.length <= 200 && v.publicUrl.length <= 2048) return { name: v.name, publicUrl: v.publicUrl };
  } catch {
    // fall through
  }
  throw new PairingRefused('bad_message', 'A pairing message is malformed.');
}

/** Reads the messages of one WebSocket in order; `next` waits for one, at most `timeoutMs`. */
export function messageReader(ws: WebSocket) {
  const queue: Record<string, unknown>[] = [];
  const waiting: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  let ended: Error | undefined;
  ws.on('message', (data: RawData) => {
    let m: unknown;
    try {
      m = JSON.parse(Buffer.from(data as Buffer).toString('utf8'));
    } catch {
      m = undefined;
    }
    const message = typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : { type: 'malformed' };
    const w = waiting.shift();
    if (w) w.resolve(message);
    else queue.push(message);
  });
  const end = (why: string) => {
    ended ??= new Error(why);
    for (const w of waiting.splice(0)) w.reject(ended);
  };
  ws.on('close', () => end('the other site closed the pairing connection'));
  ws.on('error', (err: Error) => end(err.message));
  return {
    next(timeoutMs: number): Promise<Record<string, unknown>> {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        const entry = {
          resolve: (v: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e: Error) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(new PairingRefused('expired_proof', 'The other site did not answer in time.'));
        }, timeoutMs);
        waiting.push(entry);
      });
    },
  };
}

function send(ws: WebSocket, message: Record<string, unknown>): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

export interface HolderContext {
  selfId: string;
  self: SiteInfo;
  /** the joining site's id, from its TLS client certificate */
  joinerId: string;
  codes: PairingCodes;
  isPaired(id: string): boolean;
  /** pins the joining site (durably) before A confirms */
  pin(peer: { id: string; name: string; url: string }): Promise<void>;
  refused(reason: PairingRefusalReason): void;
  /** the joining site said it pinned this site (or did not say so in time): the links may start */
  finished(peerId: string): void;
  proofTimeoutMs?: number;
}

const REFUSAL_TEXT: Record<PairingRefusalReason, string> = {
  no_code: 'The site shows no pairing code: make one there first.',
  code_expired: 'The pairing code has expired: make a new one on the other site.',
  code_used: 'The pairing code was used already: make a new one on the other site.',
  code_void: 'The pairing code is void after too many wrong tries: make a new one on the other site.',
  wrong_code: 'The pairing code is wrong.',
  replayed_proof: 'The pairing proof was replayed from an earlier attempt.',
  expired_proof: 'The pairing proof came too late.',
  already_paired: 'The two sites are paired already.',
  self: 'That address is this site itself.',
  bad_message: 'A pairing message is malformed.',
  no_certificate: 'The joining site presented no certificate.',
  confirmation_failed: 'The other site’s key confirmation failed: the connection may have been intercepted.',
};

export function refusalText(reason: PairingRefusalReason): string {
  return REFUSAL_TEXT[reason];
}

/** Site A's side: the site that shows the code. */
export async function answerPairing(ws: WebSocket, ctx: HolderContext): Promise<void> {
  const reader = messageReader(ws);
  const refuse = (reason: PairingRefusalReason, message = REFUSAL_TEXT[reason]) => {
    ctx.refused(reason);
    send(ws, { type: 'refused', reason, message });
    ws.close(1000, reason);
  };
  try {
    const hello = await reader.next(ctx.proofTimeoutMs ?? PROOF_TIMEOUT_MS);
    if (hello['type'] !== 'hello' || hello['version'] !== PAIRING_VERSION) return refuse('bad_message');
    const sidB = dec(hello['sid'], 16);
    if (ctx.joinerId === ctx.selfId) return refuse('self');
    if (ctx.isPaired(ctx.joinerId)) return refuse('already_paired');
    const opened = ctx.codes.open();
    if ('refused' in opened) return refuse(opened.refused);
    const sidA = randomBytes(16);
    const sid = Buffer.concat([sidB, sidA]);
    const party = new CPaceParty('initiator', { prs: prs(opened.code), ci: channelIdentifier(ctx.selfId, ctx.joinerId), sid }, infoBytes(ctx.self));
    send(ws, { type: 'share', sid: enc(sidA), Y: enc(party.share), ad: enc(party.ad) });
    const sentAt = Date.now();
    const proof = await reader.next(ctx.proofTimeoutMs ?? PROOF_TIMEOUT_MS);
    if (proof['type'] !== 'proof') return refuse('bad_message');
    if (Date.now() - sentAt > (ctx.proofTimeoutMs ?? PROOF_TIMEOUT_MS)) return refuse('expired_proof');
    const yb = dec(proof['Y'], 32);
    const adb = dec(proof['ad']);
    const tag = dec(proof['tag'], 64);
    const info = parseInfo(adb);
    let valid = false;
    let ownTag: Uint8Array | undefined;
    try {
      const keys = party.finish(yb, adb);
      valid = keys.checkPeerTag(tag);
      ownTag = keys.ownTag;
    } catch (err) {
      if (!(err instanceof CPaceAbort)) throw err;
    }
    const judged = ctx.codes.judge(opened.code, yb, valid);
    if ('refused' in judged) {
      const left = judged.refused === 'wrong_code' ? ` ${judged.triesLeft} ${judged.triesLeft === 1 ? 'try is' : 'tries are'} left.` : '';
      return refuse(judged.refused, REFUSAL_TEXT[judged.refused] + left);
    }
    await ctx.pin({ id: ctx.joinerId, name: info.name, url: info.publicUrl });
    send(ws, { type: 'confirm', tag: enc(ownTag as Uint8Array) });
    await reader.next(ctx.proofTimeoutMs ?? PROOF_TIMEOUT_MS).catch(() => undefined);
    ws.close(1000, 'paired');
    ctx.finished(ctx.joinerId);
  } catch (err) {
    if (err instanceof PairingRefused) refuse(err.reason, err.message);
    else ws.close(1011, 'pairing failed');
  }
}

export interface JoinerContext {
  selfId: string;
  self: SiteInfo;
  /** the code holder's id, from its TLS server certificate */
  holderId: string;
  code: string;
  timeoutMs?: number;
}

/** Site B's side, on an open WebSocket to A's `/v1/pair`: resolves with A's info once both confirmed, before B pins A. */
export async function joinPairing(ws: WebSocket, ctx: JoinerContext): Promise<{ info: SiteInfo; done: () => void }> {
  const reader = messageReader(ws);
  const timeout = ctx.timeoutMs ?? PROOF_TIMEOUT_MS;
  const expect = async (type: string) => {
    const m = await reader.next(timeout);
    if (m['type'] === 'refused') {
      const reason = typeof m['reason'] === 'string' && m['reason'] in REFUSAL_TEXT ? (m['reason'] as PairingRefusalReason) : 'bad_message';
      throw new PairingRefused(reason, typeof m['message'] === 'string' ? m['message'].slice(0, 300) : REFUSAL_TEXT[reason]);
    }
    if (m['type'] !== type) throw new PairingRefused('bad_message', REFUSAL_TEXT.bad_message);
    return m;
  };
  const sidB = randomBytes(16);
  send(ws, { type: 'hello', version: PAIRING_VERSION, sid: enc(sidB) });
  const share = await expect('share');
  const sid = Buffer.concat([sidB, dec(share['sid'], 16)]);
  const ya = dec(share['Y'], 32);
  const ada = dec(share['ad']);
  const info = parseInfo(ada);
  const party = new CPaceParty('responder', { prs: prs(ctx.code), ci: channelIdentifier(ctx.holderId, ctx.selfId), sid }, infoBytes(ctx.self));
  let keys;
  try {
    keys = party.finish(ya, ada);
  } catch (err) {
    if (err instanceof CPaceAbort) throw new PairingRefused('bad_message', REFUSAL_TEXT.bad_message);
    throw err;
  }
  send(ws, { type: 'proof', Y: enc(party.share), ad: enc(party.ad), tag: enc(keys.ownTag) });
  const confirm = await expect('confirm');
  if (!keys.checkPeerTag(dec(confirm['tag'], 64))) throw new PairingRefused('confirmation_failed', REFUSAL_TEXT.confirmation_failed);
  return {
    info,
    done: () => {
      send(ws, { type: 'done' });
      ws.close(1000, 'paired');
    },
  };
}
