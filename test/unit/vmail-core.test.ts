import { describe, expect, it } from 'vitest';
import type { GreetingInfo } from '../../shared/api/vmail.js';
import { afterWrongPin, chooseGreeting, lockRemainingSec, MessageListing, newMailboxDoc, newMessageDoc, patchMessageDoc, purgeDue, toMessage, undeleteFolder, type MessageDoc } from '../../service/vmail/core.js';
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

describe('the message listing', () => {
  it('pages a folder newest or oldest first and counts every folder', () => {
    const l = new MessageListing();
    // inserted out of order on purpose
    for (const s of [5, 1, 3, 2, 4]) l.apply(`m${s}`, msg(`m${s}`, s));
    l.apply('s1', msg('s1', 10, { folder: 'saved' }));
    l.apply('d1', msg('d1', 11, { folder: 'deleted' }));
    l.apply('u1', msg('u1', 12, { urgent: true }));
    expect(l.counts('a.example/1001')).toEqual({ new: 6, saved: 1, deleted: 1, urgent: 1 });
    expect(l.page('a.example/1001', 'new', 'newest', 0, 3)).toEqual({ ids: ['u1', 'm5', 'm4'], total: 6 });
    expect(l.page('a.example/1001', 'new', 'oldest', 4, 10)).toEqual({ ids: ['m5', 'u1'], total: 6 });
    expect(l.page('a.example/1001', 'inbox', 'newest', 0, 3)).toEqual({ ids: ['u1', 's1', 'm5'], total: 7 });
    expect(l.page('a.example/1001', 'inbox', 'oldest', 5, 5)).toEqual({ ids: ['s1', 'u1'], total: 7 });
    expect(l.page('a.example/1001', 'deleted', 'newest', 0, 5)).toEqual({ ids: ['d1'], total: 1 });
    expect(l.page('other/1', 'new', 'newest', 0, 5)).toEqual({ ids: [], total: 0 });
  });

  it('follows moves and deletes, keeping the urgent count to new messages', () => {
    const l = new MessageListing();
    const u = msg('u', 1, { urgent: true });
    expect(l.apply('u', u)).toEqual(['a.example/1001']);
    expect(l.counts('a.example/1001').urgent).toBe(1);
    l.apply('u', { ...u, folder: 'saved' });
    expect(l.counts('a.example/1001')).toEqual({ new: 0, saved: 1, deleted: 0, urgent: 0 });
    l.apply('u', null);
    expect(l.counts('a.example/1001')).toEqual({ new: 0, saved: 0, deleted: 0, urgent: 0 });
    expect(l.apply('nothing', null)).toEqual([]);
  });

  it('pages ten thousand messages in order', () => {
    const l = new MessageListing();
    for (let i = 0; i < 10_000; i++) l.apply(`m${String(i).padStart(5, '0')}`, msg(`m${String(i).padStart(5, '0')}`, i % 2 ? 10_000 - i : i));
    const all = l.page('a.example/1001', 'new', 'oldest', 0, 10_000).ids;
    expect(new Set(all).size).toBe(10_000);
    const page = l.page('a.example/1001', 'new', 'newest', 9_990, 50);
    expect(page.ids).toEqual(all.slice(0, 10).reverse());
  });
});

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
    expect(toMessage(m)).not.toHaveProperty('_id');
    expect(toMessage(m)).not.toHaveProperty('box');
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
  const g = (kind: GreetingInfo['kind']): GreetingInfo => ({ kind, durationMs: 1, format: { encoding: 'alaw', sampleRate: 8000, channels: 1 }, originSite: 's', storage: { handler: 'fs', key: 'k', size: 1, contentType: 'audio/wav' }, updatedAt: '' });

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
