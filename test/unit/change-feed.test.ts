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
  it('a listener that names its collections gets those only; watches() says whether anyone takes a collection', () => {
    const feed = new ChangeFeed();
    const config: string[] = [];
    const unsubscribe = feed.subscribe((c) => config.push(c.id), { collections: ['config'] });
    let made = 0;
    const publishCall = (id: string) => feed.publishLazy({ collection: 'calls', op: 'put', id, replicate: true }, () => ({ made: ++made }));
    expect(feed.watches('calls')).toBe(false);
    expect(feed.watches('config')).toBe(true);
    publishCall('c1');
    feed.publish({ collection: 'config', op: 'put', id: 'roles', doc: {}, replicate: true });
    expect(config).toEqual(['roles']);
    // a listener of every collection watches calls too, and its changes' documents are made when read
    const all: Change[] = [];
    const unsubscribeAll = feed.subscribe((c) => all.push(c));
    expect(feed.watches('calls')).toBe(true);
    publishCall('c2');
    expect(all.map((c) => c.id)).toEqual(['c2']);
    expect(config).toEqual(['roles']);
    expect(all[0]?.doc).toEqual({ made: 1 });
    unsubscribeAll();
    unsubscribe();
    unsubscribe();
    expect(feed.watches('calls')).toBe(false);
    expect(feed.watches('config')).toBe(false);
  });
});
