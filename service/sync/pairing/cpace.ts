import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';

/**
 * CPace on ristretto255 with SHA-512 (CPACE-RISTR255-SHA512 of the CFRG draft
 * draft-irtf-cfrg-cpace, "CPace group objects G_Ristretto255"), initiator-responder form, plus an
 * explicit key confirmation. Pure: no I/O; randomness only where a scalar is sampled, and a caller
 * (the draft's test vectors) may pass the scalar. All curve arithmetic is @noble/curves'.
 */

const DSI = new TextEncoder().encode('CPaceRistretto255');
const DSI_ISK = new TextEncoder().encode('CPaceRistretto255_ISK');
/** SHA-512's input block size (H.s_in_bytes) */
const S_IN_BYTES = 128;
const FIELD_SIZE_BYTES = 32;
const Point = ristretto255.Point;

/** LEB128 length, then the bytes (the draft's prepend_len). */
export function prependLen(data: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  do {
    len.push(n < 128 ? n : (n & 0x7f) | 0x80);
    n >>>= 7;
  } while (n > 0);
  return concat(Uint8Array.from(len), data);
}

/** The draft's lv_cat: each part with its length prepended. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concat(...parts.map(prependLen));
}

export function generatorString(dsi: Uint8Array, prs: Uint8Array, ci: Uint8Array, sid: Uint8Array, sInBytes: number): Uint8Array {
  const zpad = Math.max(0, sInBytes - 1 - prependLen(prs).length - prependLen(dsi).length);
  return lvCat(dsi, prs, new Uint8Array(zpad), ci, sid);
}

/**
 * G.calculate_generator: the hash of the generator string, mapped by ristretto255's element
 * derivation (RFC 9496 4.3.4); returned encoded (the draft's "encoded generator g").
 */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const hash = sha512(generatorString(DSI, prs, ci, sid, S_IN_BYTES)).slice(0, 2 * FIELD_SIZE_BYTES);
  const derive = ristretto255_hasher.deriveToCurve;
  if (!derive) throw new Error('@noble/curves lacks ristretto255 element derivation');
  return derive(hash).toBytes();
}

/** G.sample_scalar as the draft recommends: 32 random bytes, bits above 252 cleared, little-endian. */
export function sampleScalar(random: (n: number) => Uint8Array = randomBytes): bigint {
  for (;;) {
    const bytes = Uint8Array.from(random(FIELD_SIZE_BYTES));
    bytes[31] = (bytes[31] ?? 0) & 0x0f;
    const y = littleEndian(bytes);
    if (y !== 0n) return y;
  }
}

export function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0);
  return n;
}

/** G.scalar_mult: y·g (g encoded), encoded. */
export function scalarMult(y: bigint, g: Uint8Array): Uint8Array {
  return Point.fromBytes(g).multiply(y).toBytes();
}

/** G.scalar_mult_vfy: y·decode(X) encoded, or undefined (the draft's G.I) when X does not decode or the result is the identity. */
export function scalarMultVfy(y: bigint, x: Uint8Array): Uint8Array | undefined {
  let point: ReturnType<typeof Point.fromBytes>;
  try {
    point = Point.fromBytes(x);
  } catch {
    return undefined;
  }
  if (point.is0()) return undefined;
  const k = point.multiply(y);
  return k.is0() ? undefined : k.toBytes();
}

export function transcriptIr(ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array): Uint8Array {
  return concat(lvCat(ya, ada), lvCat(yb, adb));
}

/** ISK = H(lv_cat(DSI_ISK, sid, K) || transcript). */
export function intermediateSessionKey(sid: Uint8Array, k: Uint8Array, transcript: Uint8Array): Uint8Array {
  return sha512(concat(lvCat(DSI_ISK, sid, k), transcript));
}

/** The inputs both sides share: the code (PRS), the channel identifier and the session id. */
export interface CPaceInputs {
  prs: Uint8Array;
  ci: Uint8Array;
  sid: Uint8Array;
}

/** What a side holds once both messages are known: the keys of the confirmation, one per direction. */
export interface CPaceKeys {
  /** the tag this side sends */
  ownTag: Uint8Array;
  /** whether the other side's tag is right (constant time) */
  checkPeerTag(tag: Uint8Array): boolean;
}

export class CPaceAbort extends Error {
  override name = 'CPaceAbort';
}

/**
 * One side of a run. The initiator sends Ya first (`share`), the responder answers with Yb; each
 * then calls `finish` with the other's share and associated data.
 *
 * Key confirmation (the draft's section "Key confirmation", with HKDF instead of a bare hash): two
 * keys are derived from ISK with HKDF-SHA-512 (salt sid), one per direction, so a tag can never be
 * reflected back; each side's tag is HMAC-SHA-512 over the whole transcript.
 */
export class CPaceParty {
  readonly share: Uint8Array;
  private readonly y: bigint;

  constructor(
    readonly role: 'initiator' | 'responder',
    private readonly inputs: CPaceInputs,
    readonly ad: Uint8Array,
    scalar?: bigint,
  ) {
    this.y = scalar ?? sampleScalar();
    this.share = scalarMult(this.y, calculateGenerator(inputs.prs, inputs.ci, inputs.sid));
  }

  /** The ISK from the other side's share; throws CPaceAbort when the share is invalid. */
  isk(peerShare: Uint8Array, peerAd: Uint8Array): Uint8Array {
    if (peerShare.length !== FIELD_SIZE_BYTES) throw new CPaceAbort('the peer share is not 32 bytes');
    const k = scalarMultVfy(this.y, peerShare);
    if (!k) throw new CPaceAbort('the peer share is not a valid group element');
    return intermediateSessionKey(this.inputs.sid, k, this.transcript(peerShare, peerAd));
  }

  finish(peerShare: Uint8Array, peerAd: Uint8Array): CPaceKeys {
    const isk = this.isk(peerShare, peerAd);
    const transcript = this.transcript(peerShare, peerAd);
    const key = (label: string) => Buffer.from(hkdfSync('sha512', isk, this.inputs.sid, `sitecall CPace confirm ${label}`, 64));
    const tag = (label: string) => new Uint8Array(createHmac('sha512', key(label)).update(transcript).digest());
    const peerLabel = this.role === 'initiator' ? 'responder' : 'initiator';
    const ownTag = tag(this.role);
    const expected = tag(peerLabel);
    return {
      ownTag,
      checkPeerTag: (t) => t.length === expected.length && timingSafeEqual(t, expected),
    };
  }

  private transcript(peerShare: Uint8Array, peerAd: Uint8Array): Uint8Array {
    return this.role === 'initiator' ? transcriptIr(this.share, this.ad, peerShare, peerAd) : transcriptIr(peerShare, peerAd, this.share, this.ad);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
