import { describe, expect, it } from 'vitest';
import { generatePassword, HASHING, hashingLoad, hashSecret, verifySecret, WorkLimiter } from '../../service/auth/passwords.js';
import { BusyError } from '../../service/errors.js';

describe('password hashing', () => {
  it('verifies the right password and refuses others', async () => {
    const hash = await hashSecret('correct horse battery staple');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifySecret('correct horse battery staple', hash)).toBe(true);
    expect(await verifySecret('correct horse battery stapl', hash)).toBe(false);
    expect(await verifySecret('', hash)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashSecret('same')).not.toBe(await hashSecret('same'));
  });

  it('refuses a stored value that is not an scrypt hash', async () => {
    expect(await verifySecret('x', 'plaintext')).toBe(false);
    expect(await verifySecret('x', 'bcrypt$1$2$3$a$b')).toBe(false);
  });

  it('generates readable passwords without ambiguous characters', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toMatch(/^[a-km-zA-HJ-NP-Z2-9]{20}$/);
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });
});

describe('bounded hashing', () => {
  it('runs at most the limit at once, queues up to its bound, and refuses the rest at once', async () => {
    const limiter = new WorkLimiter(2, 3);
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const task = () =>
      new Promise<string>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        releases.push(() => {
          running--;
          resolve('done');
        });
      });
    const refused = () => new Error('full');
    const outcomes = Array.from({ length: 8 }, () => limiter.run(task, refused).catch((e: Error) => e.message));
    expect(limiter.load).toEqual({ running: 2, queued: 3 });
    // the three beyond running and queued were refused without waiting
    await expect(Promise.race([Promise.all(outcomes.slice(5)), new Promise((r) => setTimeout(() => r('waited'), 100))])).resolves.toEqual(['full', 'full', 'full']);
    while (releases.length) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(outcomes.slice(0, 5))).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(peak).toBe(2);
    expect(limiter.load).toEqual({ running: 0, queued: 0 });
  });

  it('frees its slot when a task fails', async () => {
    const limiter = new WorkLimiter(1, 0);
    await expect(limiter.run(() => Promise.reject(new Error('boom')), () => new Error('full'))).rejects.toThrow('boom');
    await expect(limiter.run(() => Promise.resolve(1), () => new Error('full'))).resolves.toBe(1);
  });

  it('bounds real scrypt work: a burst gets 503 with Retry-After beyond the queue, the rest are checked', async () => {
    const hash = await hashSecret('right');
    const burst = HASHING.concurrency + HASHING.maxQueued + 10;
    const checks = Array.from({ length: burst }, (_, i) => verifySecret(i === 0 ? 'right' : `wrong ${i}`, hash).catch((e: unknown) => e));
    expect(hashingLoad()).toEqual({ running: HASHING.concurrency, queued: HASHING.maxQueued });
    const results = await Promise.all(checks);
    const busy = results.filter((r): r is BusyError => r instanceof BusyError);
    expect(busy).toHaveLength(10);
    expect(busy[0]?.status).toBe(503);
    expect(busy[0]?.headers).toEqual({ 'Retry-After': String(HASHING.retryAfterSec) });
    expect(results.slice(0, HASHING.concurrency + HASHING.maxQueued)).toEqual([true, ...Array.from({ length: HASHING.concurrency + HASHING.maxQueued - 1 }, () => false)]);
    expect(hashingLoad()).toEqual({ running: 0, queued: 0 });
  });
});
