import { createHash } from 'node:crypto';
import { makePairingCode } from './code.js';

export const MAX_WRONG_TRIES = 5;

/** Why an attempt at the code was refused (the label of the refusal counter, and what the joining site is told). */
export type CodeRefusal = 'no_code' | 'code_expired' | 'code_used' | 'code_void' | 'wrong_code' | 'replayed_proof';

interface ActiveCode {
  code: string;
  expiresAt: number;
  wrongTries: number;
  used: boolean;
  /** hashes of the shares proofs were made with: the same share twice is a replay */
  shares: Set<string>;
}

/**
 * The one pairing code a site shows at a time (a new one replaces the last). Kept in memory only:
 * a restart voids it, which is what an admin expects of a code shown on a screen. Single use;
 * void after MAX_WRONG_TRIES wrong tries; expires after its lifetime.
 */
export class PairingCodes {
  private current: ActiveCode | undefined;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  issue(): { code: string; expiresAt: number; tries: number } {
    const code = makePairingCode();
    this.current = { code, expiresAt: this.now() + this.ttlMs, wrongTries: 0, used: false, shares: new Set() };
    return { code, expiresAt: this.current.expiresAt, tries: MAX_WRONG_TRIES };
  }

  /** The code an attempt starts with, or why there is none to try. */
  open(): { code: string } | { refused: CodeRefusal } {
    const why = this.unusable();
    return why ? { refused: why } : { code: (this.current as ActiveCode).code };
  }

  /**
   * Judges the proof of an attempt that started with `code`: `valid` is whether its confirmation
   * tag was right. A share seen before is a replay (refused, and a wrong try); a wrong proof
   * counts a wrong try and voids the code at the fifth; a right one uses the code up.
   */
  judge(code: string, share: Uint8Array, valid: boolean): { ok: true } | { refused: CodeRefusal; triesLeft: number } {
    const c = this.current;
    if (!c || c.code !== code) return { refused: 'code_void', triesLeft: 0 };
    const why = this.unusable();
    if (why) return { refused: why, triesLeft: Math.max(0, MAX_WRONG_TRIES - c.wrongTries) };
    const seen = createHash('sha256').update(share).digest('hex');
    const replayed = c.shares.has(seen);
    c.shares.add(seen);
    if (valid && !replayed) {
      c.used = true;
      return { ok: true };
    }
    c.wrongTries++;
    const triesLeft = Math.max(0, MAX_WRONG_TRIES - c.wrongTries);
    if (replayed) return { refused: 'replayed_proof', triesLeft };
    return { refused: triesLeft === 0 ? 'code_void' : 'wrong_code', triesLeft };
  }

  private unusable(): CodeRefusal | undefined {
    const c = this.current;
    if (!c) return 'no_code';
    if (c.used) return 'code_used';
    if (c.wrongTries >= MAX_WRONG_TRIES) return 'code_void';
    if (this.now() >= c.expiresAt) return 'code_expired';
    return undefined;
  }
}
