import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_WRONG_TRIES, PairingCodes } from '../../service/sync/pairing/codes.js';

const share = (n: number) => Uint8Array.of(n & 255, n >> 8, 1, 2);

describe('the pairing code a site shows', () => {
  it('lives its lifetime, to the millisecond, on a clock the test controls', () => {
    let now = 1_000_000;
    const codes = new PairingCodes(600_000, () => now);
    expect(codes.open()).toEqual({ refused: 'no_code' });
    const { code, expiresAt } = codes.issue();
    expect(expiresAt).toBe(now + 600_000);
    now = expiresAt - 1;
    expect(codes.open()).toEqual({ code });
    now = expiresAt;
    expect(codes.open()).toEqual({ refused: 'code_expired' });
    expect(codes.judge(code, share(1), true)).toMatchObject({ refused: 'code_expired' });
  });

  it('is single use, and a new code replaces the old one', () => {
    const codes = new PairingCodes(60_000);
    const first = codes.issue().code;
    const second = codes.issue().code;
    expect(codes.judge(first, share(1), true)).toMatchObject({ refused: 'code_void' });
    expect(codes.judge(second, share(2), true)).toEqual({ ok: true });
    expect(codes.open()).toEqual({ refused: 'code_used' });
    expect(codes.judge(second, share(3), true)).toMatchObject({ refused: 'code_used' });
  });

  it('any order of wrong, replayed and right proofs: void from the fifth wrong try on, a right proof pairs only before it, a share counts once', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ valid: fc.boolean(), share: fc.integer({ min: 0, max: 6 }) }), { maxLength: 12 }), (attempts) => {
        const codes = new PairingCodes(60_000);
        const { code } = codes.issue();
        let wrong = 0;
        let used = false;
        const seen = new Set<number>();
        for (const a of attempts) {
          const result = codes.judge(code, share(a.share), a.valid);
          const replay = seen.has(a.share);
          // a share is remembered when its proof was judged (the code still usable)
          if (!used && wrong < MAX_WRONG_TRIES) seen.add(a.share);
          if (used) expect(result).toMatchObject({ refused: 'code_used' });
          else if (wrong >= MAX_WRONG_TRIES) expect(result).toMatchObject({ refused: 'code_void' });
          else if (a.valid && !replay) {
            expect(result).toEqual({ ok: true });
            used = true;
          } else {
            wrong++;
            expect(result).toEqual({ refused: replay ? 'replayed_proof' : wrong >= MAX_WRONG_TRIES ? 'code_void' : 'wrong_code', triesLeft: MAX_WRONG_TRIES - wrong });
          }
        }
      }),
    );
  });
});
