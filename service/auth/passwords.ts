import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { BusyError } from '../errors.js';

/** scrypt parameters: N=2^15, r=8, p=1 is OWASP's floor for scrypt; ~50 ms here. */
const PARAMS = { N: 1 << 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 64;

/** Runs at most `concurrency` tasks at once and queues up to `maxQueued` more; refuses the rest at once. */
export class WorkLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
  ) {}

  get load(): { running: number; queued: number } {
    return { running: this.running, queued: this.waiting.length };
  }

  async run<T>(task: () => Promise<T>, refuse: () => Error): Promise<T> {
    if (this.running < this.concurrency) this.running++;
    else if (this.waiting.length < this.maxQueued) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else throw refuse();
    try {
      return await task();
    } finally {
      // the slot passes straight to the next in line, or is freed
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * scrypt runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), which
 * every file operation shares: nedb's writes, the voicemail store's reads and fsyncs. Unbounded, a
 * burst of wrong logins queued hundreds of hashes in front of them (a token's first use waited
 * 13 s behind 200). Each hash also keeps a core busy for its ~50 ms: at most half the cores (one
 * or two) hash at once, which leaves pool threads to the files and a core to the event loop; a
 * short queue absorbs the logins and PIN checks of ordinary use, and beyond it the caller is asked
 * to come back in a second (a login burst from many addresses gets no further than that).
 */
export const HASHING = { concurrency: Math.max(1, Math.min(2, Math.floor(availableParallelism() / 2))), maxQueued: 8, retryAfterSec: 1 } as const;
const hashing = new WorkLimiter(HASHING.concurrency, HASHING.maxQueued);

/** How many hashes run and wait now (for tests and metrics). */
export function hashingLoad(): { running: number; queued: number } {
  return hashing.load;
}

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return hashing.run(
    () =>
      new Promise((resolve, reject) => {
        scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
      }),
    () => new BusyError('Too many password checks are under way: try again in a moment.', HASHING.retryAfterSec),
  );
}

function options(N: number, r: number, p: number): ScryptOptions {
  // scrypt needs 128·N·r bytes; Node's default cap (32 MiB) is just below what N=2^15 asks.
  return { N, r, p, maxmem: 256 * N * r };
}

/** `scrypt$N$r$p$salt$hash` (base64): the parameters travel with the hash so they can be raised later. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, KEY_LENGTH, options(PARAMS.N, PARAMS.r, PARAMS.p));
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, saltB64, keyB64] = stored.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !keyB64) return false;
  const expected = Buffer.from(keyB64, 'base64');
  const actual = await scryptAsync(secret, Buffer.from(saltB64, 'base64'), expected.length, options(Number(n), Number(r), Number(p)));
  return timingSafeEqual(actual, expected);
}

/** A password a person can type from a log line: 20 characters from an unambiguous alphabet (~114 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(40);
  let out = '';
  for (const b of bytes) {
    // rejection sampling keeps every character equally likely
    if (b < 256 - (256 % alphabet.length)) out += alphabet[b % alphabet.length];
    if (out.length === 20) break;
  }
  return out.length === 20 ? out : generatePassword();
}
