import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_KEY_PATTERN, type GreetingInfo } from '../../shared/api/vmail.js';
import {
  afterWrongPin,
  chooseGreeting,
  DEPOSIT_KEY_LIFETIME_MS,
  depositContent,
  depositRetry,
  lockRemainingSec,
  newMailboxDoc,
  newMessageDoc,
  patchMessageDoc,
  purgeDue,
  toMessage,
  undeleteFolder,
  type DepositContent,
  type MessageDoc,
} from '../../service/vmail/core.js';
import { parseRange } from '../../service/vmail/range.js';
import { idempotencyKeyOf } from '../../service/vmail/upload.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);

function msg(id: string, s: number, over: Partial<MessageDoc> = {}): MessageDoc {
  const doc = newMessageDoc(
    { id, domain: 'a.example', mailbox: '1001', urgent: false, callerName: null, callerNumber: null, callId: null, durationMs: 1000, format: { encoding: 'pcm_s16le', sampleRate: 8000, channels: 1 }, originSite: 's1', key: `a.example/1001/${id}.wav`, size: 100, forwardedFrom: null },
    at(s),
  );
  return { ...doc, ...over };
}

describe('message changes', () => {
  it('moves to deleted and back to where it was, and marks read once', () => {
    const m = msg('x', 0);
    const read = patchMessageDoc(m, { read: true }, at(5));
    expect(read?.readAt).toBe(at(5).toISOString());
    expect(patchMessageDoc(read as MessageDoc, { read: true }, at(9))).toBeNull();
    const deleted = patchMessageDoc(read as MessageDoc, { folder: 'deleted' }, at(10)) as MessageDoc;
    expect(deleted).toMatchObject({ folder: 'deleted', deletedAt: at(10).toISOString(), folderBeforeDelete: 'new' });
    expect(undeleteFolder(deleted)).toBe('new');
    const back = patchMessageDoc(deleted, { folder: undeleteFolder(deleted) }, at(11));
    expect(back).toMatchObject({ folder: 'new', deletedAt: null, folderBeforeDelete: null });
    expect(patchMessageDoc(m, { folder: 'new', read: false }, at(1))).toBeNull();
    expect(toMessage(m, true)).not.toHaveProperty('_id');
    expect(toMessage(m, true)).not.toHaveProperty('box');
    // available: its origin can be reached and its audio is not missing
    expect(toMessage(m, true).available).toBe(true);
    expect(toMessage(m, false).available).toBe(false);
    expect(toMessage({ ...m, audioMissing: true }, true).available).toBe(false);
  });

  it('purges a deleted message once its retention has passed', () => {
    const d = patchMessageDoc(msg('x', 0), { folder: 'deleted' }, at(0)) as MessageDoc;
    expect(purgeDue(d, 1, new Date(T0 + 86_400_000 - 1))).toBe(false);
    expect(purgeDue(d, 1, new Date(T0 + 86_400_000))).toBe(true);
    expect(purgeDue(d, 0, at(0))).toBe(true);
    expect(purgeDue(msg('y', 0), 0, at(100))).toBe(false);
  });
});

describe('greetings and PINs', () => {
  const g = (kind: GreetingInfo['kind']): GreetingInfo => ({ kind, durationMs: 1, format: { encoding: 'alaw', sampleRate: 8000, channels: 1 }, originSite: 's', storage: { handler: 'fs', key: 'k', size: 1, contentType: 'audio/wav', sha256: null }, updatedAt: '' });

  it('plays the temporary greeting over the others', () => {
    expect(chooseGreeting({ unavailable: g('unavailable'), busy: g('busy') }, 'busy')?.kind).toBe('busy');
    expect(chooseGreeting({ unavailable: g('unavailable'), temporary: g('temporary') }, 'busy')?.kind).toBe('temporary');
    expect(chooseGreeting({ busy: g('busy') }, 'unavailable')).toBeUndefined();
    expect(chooseGreeting({ name: g('name') }, 'unavailable')).toBeUndefined();
  });

  it('passes over a greeting whose audio was found damaged: the next one plays, or the system greeting', () => {
    const damaged = (kind: GreetingInfo['kind']): GreetingInfo => ({ ...g(kind), audioMissing: true });
    expect(chooseGreeting({ busy: g('busy'), temporary: damaged('temporary') }, 'busy')?.kind).toBe('busy');
    expect(chooseGreeting({ busy: damaged('busy'), unavailable: g('unavailable') }, 'busy')).toBeUndefined();
    expect(chooseGreeting({ busy: damaged('busy'), temporary: damaged('temporary') }, 'busy')).toBeUndefined();
    expect(chooseGreeting({ unavailable: { ...g('unavailable'), audioMissing: false } }, 'unavailable')?.kind).toBe('unavailable');
  });

  it('locks after five wrong PINs in a row for fifteen minutes, then counts afresh', () => {
    let guard = null;
    for (let i = 1; i <= 4; i++) {
      guard = afterWrongPin('a/1', guard, at(i));
      expect(guard).toMatchObject({ failures: i, lockedUntil: null });
    }
    guard = afterWrongPin('a/1', guard, at(5));
    expect(guard.lockedUntil).toBe(at(5 + 900).toISOString());
    expect(lockRemainingSec(guard, at(6))).toBe(899);
    expect(lockRemainingSec(guard, at(905))).toBe(0);
    expect(afterWrongPin('a/1', guard, at(906))).toMatchObject({ failures: 1, lockedUntil: null });
  });

  it('starts a mailbox with the documented defaults', () => {
    expect(newMailboxDoc({ number: '1001', name: 'Reception' }, 'a.example', null, at(0))).toMatchObject({
      _id: 'a.example/1001',
      maxMessages: 100,
      maxMessageSeconds: 300,
      retentionDays: 30,
      notify: 'attach',
      email: null,
      pinHash: null,
      greetings: {},
    });
  });
});

describe('HTTP Range', () => {
  it.each([
    [undefined, { kind: 'full' }],
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=100-', { kind: 'partial', start: 100, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=990-5000', { kind: 'partial', start: 990, end: 999 }],
    ['bytes=999-999', { kind: 'partial', start: 999, end: 999 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=5-2', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=-', { kind: 'unsatisfiable' }],
    ['bytes=abc', { kind: 'unsatisfiable' }],
    ['nonsense', { kind: 'unsatisfiable' }],
    ['items=0-5', { kind: 'full' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
  ])('%s of 1000 bytes', (header, expected) => {
    expect(parseRange(header, 1000)).toEqual(expected);
  });
});

describe('deposits with an Idempotency-Key', () => {
  const SHA = 'a'.repeat(64);
  const content: DepositContent = { sha256: SHA, urgent: false, callerName: 'Ann', callerNumber: '100', callId: 'c1' };
  const stored = (s: number) => msg('m1', s, { idempotencyKey: 'k', storage: { handler: 'fs', key: 'a.example/1001/m1.wav', size: 100, contentType: 'audio/wav', sha256: SHA }, callerName: 'Ann', callerNumber: '100', callId: 'c1' });

  it('keeps the key in the document, not in the message the API shows', () => {
    const m = newMessageDoc({ id: 'm', domain: 'a.example', mailbox: '1001', urgent: false, callerName: null, callerNumber: null, callId: null, durationMs: 1, format: { encoding: 'alaw', sampleRate: 8000, channels: 1 }, originSite: 's', key: 'k', size: 1, forwardedFrom: null, idempotencyKey: 'key-1' }, at(0));
    expect(m.idempotencyKey).toBe('key-1');
    expect(toMessage(m, true)).not.toHaveProperty('idempotencyKey');
    expect(msg('n', 0)).not.toHaveProperty('idempotencyKey');
  });

  it('answers the same deposit with its message within the lifetime, names what differs otherwise, and frees the key after it', () => {
    expect(depositRetry(null, content, at(0))).toEqual({ kind: 'new' });
    expect(depositRetry(stored(0), content, at(60))).toMatchObject({ kind: 'replay', message: { _id: 'm1' } });
    expect(depositRetry(stored(0), { ...content, sha256: 'b'.repeat(64), callId: null }, at(60))).toMatchObject({ kind: 'mismatch', differs: ['sha256', 'callId'] });
    expect(depositRetry(stored(0), content, new Date(T0 + DEPOSIT_KEY_LIFETIME_MS - 1)).kind).toBe('replay');
    expect(depositRetry(stored(0), content, new Date(T0 + DEPOSIT_KEY_LIFETIME_MS))).toEqual({ kind: 'new' });
    // a message from before checksums never matches a retry's audio: refused, not taken for the same
    expect(depositRetry({ ...stored(0), storage: { ...stored(0).storage, sha256: null } }, content, at(1)).kind).toBe('mismatch');
  });

  it('reads the form as the message keeps it: empty fields are none, urgent is true or 1', () => {
    expect(depositContent({ urgent: '1', callerName: '', callerNumber: undefined }, SHA)).toEqual({ sha256: SHA, urgent: true, callerName: null, callerNumber: null, callId: null });
    expect(depositContent({ urgent: 'false' }, SHA).urgent).toBe(false);
    expect(depositContent({ urgent: '' }, SHA).urgent).toBe(false);
  });

  it('property: a retry is a replay exactly when its content is the stored one, within the lifetime', () => {
    const text = fc.option(fc.constantFrom('', 'Ann', 'Bob', '100'), { nil: undefined });
    const form = fc.record({ urgent: fc.option(fc.constantFrom('true', 'false', '1', '0', ''), { nil: undefined }), callerName: text, callerNumber: text, callId: text });
    fc.assert(
      fc.property(form, form, fc.boolean(), fc.integer({ min: 0, max: 2 * DEPOSIT_KEY_LIFETIME_MS }), (first, retry, sameAudio, later) => {
        const a = depositContent(first, SHA);
        const earlier = { ...msg('m', 0), ...a, storage: { handler: 'fs' as const, key: 'k', size: 1, contentType: 'audio/wav', sha256: SHA }, idempotencyKey: 'k' };
        const b = depositContent(retry, sameAudio ? SHA : 'c'.repeat(64));
        const result = depositRetry(earlier, b, new Date(T0 + later));
        const differs = (Object.keys(a) as (keyof DepositContent)[]).filter((k) => a[k] !== b[k]);
        if (later >= DEPOSIT_KEY_LIFETIME_MS) return result.kind === 'new';
        return differs.length === 0 ? result.kind === 'replay' : result.kind === 'mismatch' && JSON.stringify(result.differs) === JSON.stringify(differs);
      }),
    );
  });

  it('takes the key quoted (the IETF draft’s string) or bare (as Stripe’s clients send it) as the same key', () => {
    expect(idempotencyKeyOf('"abc"')).toBe('abc');
    expect(idempotencyKeyOf('abc')).toBe('abc');
    expect(idempotencyKeyOf(undefined)).toBeUndefined();
    const pattern = new RegExp(IDEMPOTENCY_KEY_PATTERN, 'u');
    for (const good of ['"8e03978e-40d5-43e8-bc93-6894a57f9324"', 'k', 'k'.repeat(255), '"a,b"', 'a:b/c=d+e']) expect(pattern.test(good), good).toBe(true);
    for (const bad of ['', '""', '"', 'a b', '"a"b"', 'a\\b', 'k'.repeat(256), 'é', 'a\tb']) expect(pattern.test(bad), bad).toBe(false);
  });
});
