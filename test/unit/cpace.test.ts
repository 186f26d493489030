import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calculateGenerator, CPaceAbort, CPaceParty, generatorString, intermediateSessionKey, littleEndian, lvCat, prependLen, scalarMult, scalarMultVfy, transcriptIr } from '../../service/sync/pairing/cpace.js';
import { CODE_ALPHABET, CODE_LENGTH, displayPairingCode, makePairingCode, normalizePairingCode } from '../../service/sync/pairing/code.js';
import { ristretto255 } from '@noble/curves/ed25519.js';

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const text = (s: string) => new TextEncoder().encode(s);

/**
 * The test vectors of draft-irtf-cfrg-cpace, appendix "Test vector for CPace using group
 * ristretto255 and hash SHA-512" (github.com/cfrg/draft-irtf-cfrg-cpace, draft-irtf-cfrg-cpace.md).
 */
const V = {
  prs: text('Password'),
  ci: hex('0b415f696e69746961746f720b425f726573706f6e646572'),
  sid: hex('7e4b4791d6a8ef019b936c79fb7f2c57'),
  generatorString: hex(`11435061636552697374726574746f3235350850617373776f726464
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000180b415f696e69746961746f
      720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f
      2c57`),
  g: '222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56',
  ya: hex('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08'),
  Ya: 'd6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157',
  yb: hex('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d'),
  Yb: '3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258',
  K: '80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f',
  transcriptIr: `20d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0e
      ec482b915703414461203ea7e0b19560d7c0b0f5734f63b955286dfa
      8232b5ebe63324e2d9e7433f725803414462`,
  iskIr: `b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dc
      ae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c
      3fa2068af7900447`,
  // scalar_mult_vfy with invalid inputs
  s: hex('7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05'),
  X: hex('2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c'),
  sX: '7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e',
  Yi1: hex('2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c'),
};

describe('CPace on ristretto255 (draft-irtf-cfrg-cpace test vectors)', () => {
  it('prepend_len and lv_cat as the draft defines them', () => {
    expect(toHex(prependLen(new Uint8Array(0)))).toBe('00');
    expect(toHex(prependLen(new Uint8Array(127))).slice(0, 2)).toBe('7f');
    expect(toHex(prependLen(new Uint8Array(128))).slice(0, 4)).toBe('8001');
    expect(toHex(lvCat(text('1234'), text('5'), text(''), text('678')))).toBe('04313233340135000336373'.concat('8'));
  });

  it('calculate_generator', () => {
    expect(toHex(generatorString(text('CPaceRistretto255'), V.prs, V.ci, V.sid, 128))).toBe(toHex(V.generatorString));
    expect(toHex(calculateGenerator(V.prs, V.ci, V.sid))).toBe(V.g);
  });

  it('Ya, Yb, K and ISK (initiator-responder)', () => {
    const g = calculateGenerator(V.prs, V.ci, V.sid);
    const ya = littleEndian(V.ya);
    const yb = littleEndian(V.yb);
    expect(toHex(scalarMult(ya, g))).toBe(V.Ya);
    expect(toHex(scalarMult(yb, g))).toBe(V.Yb);
    const kA = scalarMultVfy(ya, hex(V.Yb));
    const kB = scalarMultVfy(yb, hex(V.Ya));
    expect(kA && toHex(kA)).toBe(V.K);
    expect(kB && toHex(kB)).toBe(V.K);
    const transcript = transcriptIr(hex(V.Ya), text('ADa'), hex(V.Yb), text('ADb'));
    expect(toHex(transcript)).toBe(V.transcriptIr.replace(/\s+/g, ''));
    expect(toHex(intermediateSessionKey(V.sid, hex(V.K), transcript))).toBe(V.iskIr.replace(/\s+/g, ''));
    // and through the parties the service uses
    const a = new CPaceParty('initiator', { prs: V.prs, ci: V.ci, sid: V.sid }, text('ADa'), ya);
    const b = new CPaceParty('responder', { prs: V.prs, ci: V.ci, sid: V.sid }, text('ADb'), yb);
    expect(toHex(a.share)).toBe(V.Ya);
    expect(toHex(a.isk(b.share, b.ad))).toBe(V.iskIr.replace(/\s+/g, ''));
    expect(toHex(b.isk(a.share, a.ad))).toBe(V.iskIr.replace(/\s+/g, ''));
  });

  it('scalar_mult_vfy: a valid point, and the identity or a non-point give G.I', () => {
    expect(toHex(scalarMultVfy(littleEndian(V.s), V.X) ?? new Uint8Array())).toBe(V.sX);
    expect(scalarMultVfy(littleEndian(V.s), V.Yi1)).toBeUndefined();
    expect(scalarMultVfy(littleEndian(V.s), new Uint8Array(32))).toBeUndefined();
    const party = new CPaceParty('initiator', { prs: V.prs, ci: V.ci, sid: V.sid }, text('ADa'));
    expect(() => party.finish(new Uint8Array(32), text('ADb'))).toThrow(CPaceAbort);
    expect(() => party.finish(V.Yi1, text('ADb'))).toThrow(CPaceAbort);
    expect(() => party.finish(ristretto255.Point.BASE.toBytes().slice(0, 31), text('ADb'))).toThrow(CPaceAbort);
  });
});

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const run = (a: { prs: Uint8Array; ci: Uint8Array; sid: Uint8Array }, b: { prs: Uint8Array; ci: Uint8Array; sid: Uint8Array }) => {
  const initiator = new CPaceParty('initiator', a, text('A'));
  const responder = new CPaceParty('responder', b, text('B'));
  const ka = initiator.finish(responder.share, responder.ad);
  const kb = responder.finish(initiator.share, initiator.ad);
  return { initiatorAccepts: ka.checkPeerTag(kb.ownTag), responderAccepts: kb.checkPeerTag(ka.ownTag), isk: [toHex(initiator.isk(responder.share, responder.ad)), toHex(responder.isk(initiator.share, initiator.ad))] };
};

describe('CPace properties', () => {
  const inputs = fc.record({ prs: bytes(1, 16), ci: bytes(0, 80), sid: bytes(8, 32) });
  it('both sides agree when code, channel and session match', () => {
    fc.assert(
      fc.property(inputs, (i) => {
        const r = run(i, i);
        expect(r.isk[0]).toBe(r.isk[1]);
        expect(r.initiatorAccepts && r.responderAccepts).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('a wrong code, another fingerprint in the channel, or another session id: different keys, both confirmations fail', () => {
    const change = (b: Uint8Array) => {
      const c = Uint8Array.from(b);
      c[0] = (c[0] ?? 0) ^ 1;
      return c;
    };
    fc.assert(
      fc.property(inputs, fc.constantFrom('prs', 'ci', 'sid'), (i, field) => {
        const base = { ...i, ci: i.ci.length ? i.ci : Uint8Array.of(0) };
        const other = { ...base, [field]: change(base[field]) };
        const r = run(base, other);
        expect(r.isk[0]).not.toBe(r.isk[1]);
        expect(r.initiatorAccepts).toBe(false);
        expect(r.responderAccepts).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it('a tag is never accepted in the other direction (no reflection)', () => {
    const i = { prs: text('K7QW2M9X'), ci: text('ci'), sid: text('session-0001') };
    const a = new CPaceParty('initiator', i, text('A'));
    const b = new CPaceParty('responder', i, text('B'));
    const ka = a.finish(b.share, b.ad);
    expect(ka.checkPeerTag(ka.ownTag)).toBe(false);
  });
});

describe('pairing code', () => {
  it('is 8 characters of the unambiguous alphabet and reads back through typos of case, dashes and O/I/L', () => {
    expect(CODE_ALPHABET).toHaveLength(32);
    expect(CODE_ALPHABET).not.toMatch(/[ILOU]/);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 5, maxLength: 5 }), (random) => {
        const code = makePairingCode(() => random);
        expect(code).toHaveLength(CODE_LENGTH);
        for (const c of code) expect(CODE_ALPHABET).toContain(c);
        expect(normalizePairingCode(displayPairingCode(code).toLowerCase())).toBe(code);
        expect(normalizePairingCode(` ${code.slice(0, 4)} ${code.slice(4)} `)).toBe(code);
        expect(normalizePairingCode(code.replaceAll('0', 'o').replaceAll('1', 'l'))).toBe(code);
      }),
    );
  });

  it('distinct random bytes give distinct codes (40 bits, nothing lost)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 5, maxLength: 5 }), fc.uint8Array({ minLength: 5, maxLength: 5 }), (x, y) => {
        fc.pre(toHex(x) !== toHex(y));
        expect(makePairingCode(() => x)).not.toBe(makePairingCode(() => y));
      }),
    );
  });

  it('refuses what cannot be a code', () => {
    for (const bad of ['', 'ABC', 'ABCDEFGHJ', 'ABCD-EFG!', 'UUUUUUUU']) expect(normalizePairingCode(bad)).toBeUndefined();
  });
});
