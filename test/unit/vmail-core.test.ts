import { describe, expect, it } from 'vitest';
import type { GreetingInfo } from '../../shared/api/vmail.js';
import { afterWrongPin, chooseGreeting, lockRemainingSec, newMailboxDoc, newMessageDoc, patchMessageDoc, purgeDue, toMessage, undeleteFolder, type MessageDoc } from '../../service/vmail/core.js';
import { parseRange } from '../../service/vmail/range.js';

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
