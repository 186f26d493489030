import { describe, expect, it } from 'vitest';
import { ChangeFeed, type Change } from '../../service/storage/changes.js';

describe('ChangeFeed', () => {
  it('a change published by a listener reaches every listener after the change it reacted to', () => {
    const feed = new ChangeFeed();
    // as vmail does: a message change makes the mailbox's MWI counts change
    feed.subscribe((c) => {
      if (c.collection === 'vmail_messages') feed.publish({ collection: 'mwi', op: 'put', id: 'box', doc: { n: 1 }, replicate: false });
    });
    const seen: string[] = [];
    feed.subscribe((c: Change) => seen.push(c.collection));
    feed.publish({ collection: 'vmail_messages', op: 'put', id: 'm1', doc: {}, replicate: true });
    feed.publish({ collection: 'vmail_messages', op: 'put', id: 'm2', doc: {}, replicate: true });
    expect(seen).toEqual(['vmail_messages', 'mwi', 'vmail_messages', 'mwi']);
  });

  it('a change of the log carries its origin and seq; others carry seq 0 (nothing to resume from)', () => {
    const feed = new ChangeFeed();
    const seen: Change[] = [];
    feed.subscribe((c) => seen.push(c));
    feed.publish({ collection: 'tokens', op: 'put', id: 't', doc: {}, replicate: true, origin: 'site-a', seq: 12 });
    feed.publish({ collection: 'sessions', op: 'delete', id: 's', doc: null, replicate: false });
    feed.publishLazy({ collection: 'calls', op: 'put', id: 'c', replicate: true }, () => ({ lazy: true }));
    expect(seen.map((c) => [c.collection, c.origin, c.seq])).toEqual([
      ['tokens', 'site-a', 12],
      ['sessions', undefined, 0],
      ['calls', undefined, 0],
    ]);
    expect(seen[2]?.doc).toEqual({ lazy: true });
  });
});
