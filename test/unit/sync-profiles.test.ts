import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { MAX_PROFILE_PAIRS, PROFILES_TOPIC } from '../../shared/sync/profiles.js';
import { resolveInstance } from '../../service/config/roles.js';
import { channelOverWebSocket, type PeerChannel } from '../../service/sync/channel.js';
import { DEFAULT_PROFILE_SETTINGS, ProfileExchange, profileSettingsOf, type LocalProfiles, type ProfileCount, type ProfileSettings } from '../../service/sync/profiles.js';
import { loopbackSockets, until } from '../support/replication-link.js';

/*
 * The profile exchange (sync/profiles.ts) on real parts: two exchanges linked by a real
 * WebSocket, a PeerChannel on each end, handed over as the link layer hands them. Each site's
 * local counts are what the test sets (the port the callstore's profile book fills in the service).
 */

class Counts implements LocalProfiles {
  private counts: ProfileCount[] = [];
  private readonly listeners = new Set<() => void>();
  set(counts: ProfileCount[]): void {
    this.counts = counts;
    for (const l of this.listeners) l();
  }
  localCounts(): ProfileCount[] {
    return this.counts;
  }
  onLocalChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

interface TestSite {
  id: string;
  local: Counts;
  exchange: ProfileExchange;
  channelListeners: Set<(c: PeerChannel) => void>;
  settings: ProfileSettings;
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function site(id: string, peers: string[], settings: Partial<ProfileSettings> = {}, opts: { fullEveryMs?: number; now?: () => number } = {}): TestSite {
  const channelListeners = new Set<(c: PeerChannel) => void>();
  const s: TestSite = { id, local: new Counts(), channelListeners, settings: { ...DEFAULT_PROFILE_SETTINGS, ...settings }, exchange: undefined as unknown as ProfileExchange };
  s.exchange = new ProfileExchange({
    local: s.local,
    peers: () => peers,
    onPeerChannel: (l) => {
      channelListeners.add(l);
      return () => channelListeners.delete(l);
    },
    settings: () => s.settings,
    fullEveryMs: opts.fullEveryMs ?? 60_000,
    ...(opts.now ? { now: opts.now } : {}),
  });
  s.exchange.start();
  closers.push(() => s.exchange.stop());
  return s;
}

/** Links two sites as the link layer does; `raw` is x's socket, to send what a faulty peer would. */
async function connect(x: TestSite, y: TestSite): Promise<{ cut(): void; raw: WebSocket; toY: PeerChannel }> {
  const { client, serverSide, close } = await loopbackSockets();
  const toY = channelOverWebSocket(client, y.id);
  const toX = channelOverWebSocket(serverSide, x.id);
  for (const l of x.channelListeners) l(toY);
  for (const l of y.channelListeners) l(toX);
  const cut = () => {
    client.terminate();
    serverSide.terminate();
  };
  closers.push(async () => {
    cut();
    await close();
  });
  return { cut, raw: client, toY };
}

const totalOf = (s: TestSite, origin: string) => s.exchange.remoteCounts().get(origin)?.counts.find((c) => c.name === 'total')?.count;

describe('the profile exchange between two sites', () => {
  it('each link opens with a request-for-update answered at once: synced; a change travels as the whole absolute list', async () => {
    const a = site('site-a', ['site-b']);
    const b = site('site-b', ['site-a']);
    a.local.set([{ name: 'total', value: null, count: 3 }, { name: 'trunk', value: 'sip1', count: 2 }]);
    expect([a.exchange.synced(), b.exchange.synced()]).toEqual([false, false]);
    await connect(a, b);
    await until('both synced', () => a.exchange.synced() && b.exchange.synced(), 5_000);
    // synced means the peer answered: its list is there (the periodic full list is a minute away here)
    expect(b.exchange.remoteCounts().get('site-a')?.counts).toEqual([{ name: 'total', value: null, count: 3 }, { name: 'trunk', value: 'sip1', count: 2 }]);
    expect(a.exchange.remoteCounts().get('site-b')?.counts).toEqual([]);
    a.local.set([{ name: 'total', value: null, count: 1 }]);
    await until('the change on B', () => totalOf(b, 'site-a') === 1, 5_000);
    // a pair no longer listed counts 0 there: replaced, not added to
    expect(b.exchange.remoteTotal('trunk', 'sip1')).toBe(0);
    expect(b.exchange.remoteTotal('total', null)).toBe(1);
  });

  it('a burst of changes is coalesced: at most one list per 100 ms, the last one holding the final counts', async () => {
    const a = site('site-a', ['site-b']);
    const b = site('site-b', ['site-a']);
    await connect(a, b);
    await until('both synced', () => a.exchange.synced() && b.exchange.synced(), 5_000);
    const before = b.exchange.stats.received;
    const started = Date.now();
    for (let i = 1; i <= 400; i++) {
      a.local.set([{ name: 'total', value: null, count: i }]);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await until('the last count on B', () => totalOf(b, 'site-a') === 400, 5_000);
    const elapsed = Date.now() - started;
    const lists = b.exchange.stats.received - before;
    console.log(`[profiles] 400 changes in ${elapsed} ms reached B as ${lists} lists`);
    expect(lists).toBeLessThanOrEqual(Math.floor(elapsed / 100) + 1);
    // and lists went while the burst ran, not only after it
    expect(lists).toBeGreaterThan(1);
  });

  it('a planned list goes even when its timer fires before the clock says it is due (timers run on the loop’s cached time)', async () => {
    // a clock that reads a little behind now and then, as Date.now() reads against a timer started on the loop's older time
    let reads = 0;
    const a = site('site-a', ['site-b'], {}, { now: () => Date.now() - (reads++ % 2 === 0 ? 0 : 30) });
    const b = site('site-b', ['site-a']);
    await connect(a, b);
    await until('both synced', () => a.exchange.synced() && b.exchange.synced(), 5_000);
    for (let i = 1; i <= 20; i++) {
      a.local.set([{ name: 'total', value: null, count: i }]);
      // the periodic full list is a minute away: only the planned list can bring it
      await until(`count ${i} on B`, () => totalOf(b, 'site-a') === i, 2_000);
    }
  });

  it('a malformed, oversized or duplicated list is refused and counted; the link stays and the next good list is taken', async () => {
    const a = site('site-a', ['site-b']);
    const b = site('site-b', ['site-a']);
    const { toY } = await connect(a, b);
    await until('both synced', () => a.exchange.synced() && b.exchange.synced(), 5_000);
    const boot = Date.now();
    const pair = (i: number) => ({ name: 'user', value: `u${i}`, count: 1 });
    await toY.send({ topic: PROFILES_TOPIC, type: 'counts', boot, seq: 1, counts: [{ name: 'total', value: null, count: -1 }], omitted: 0 });
    await toY.send({ topic: PROFILES_TOPIC, type: 'counts', boot, seq: 2, counts: Array.from({ length: MAX_PROFILE_PAIRS + 1 }, (_, i) => pair(i)), omitted: 0 });
    await toY.send({ topic: PROFILES_TOPIC, type: 'counts', boot, seq: 3, counts: [pair(1), pair(1)], omitted: 0 });
    await toY.send({ topic: PROFILES_TOPIC, type: 'shout', text: 'hello' });
    await until('four refused', () => b.exchange.stats.refused === 4, 5_000);
    expect(toY.isOpen).toBe(true);
    // nothing of them was taken
    expect(b.exchange.remoteTotal('total', null)).toBe(0);
    expect(b.exchange.remoteTotal('user', 'u1')).toBe(0);
    a.local.set([{ name: 'total', value: null, count: 5 }]);
    await until('the good list on B', () => totalOf(b, 'site-a') === 5, 5_000);
  });

  it('past the cap of pairs a list keeps the built-ins and the highest counts, and says how many it left out', async () => {
    const a = site('site-a', ['site-b']);
    const b = site('site-b', ['site-a']);
    const users = Array.from({ length: MAX_PROFILE_PAIRS + 4 }, (_, i) => ({ name: 'user', value: `u${i}`, count: i < 10 ? 5 : 1 }));
    a.local.set([...users, { name: 'total', value: null, count: MAX_PROFILE_PAIRS + 40 }, { name: 'domain', value: 'a.test', count: 3 }, { name: 'user', value: 'u3', count: 2 }]);
    await connect(a, b);
    await until('A’s list on B', () => totalOf(b, 'site-a') === MAX_PROFILE_PAIRS + 40, 5_000);
    const list = b.exchange.remoteCounts().get('site-a')?.counts ?? [];
    expect(list.length).toBe(MAX_PROFILE_PAIRS);
    expect(b.exchange.remoteTotal('domain', 'a.test')).toBe(3);
    // a pair given twice is summed, and the highest counts are kept
    expect(b.exchange.remoteTotal('user', 'u3')).toBe(7);
    expect(b.exchange.remoteTotal('user', 'u9')).toBe(5);
    expect(a.exchange.stats.omitted).toBeGreaterThanOrEqual(6);
    expect(b.exchange.stats.refused).toBe(0);
  });

  it('a lost peer’s list is kept for remote_profile_ttl, then dropped; the peer back (restarted) replaces it', async () => {
    const a = site('site-a', ['site-b']);
    const b = site('site-b', ['site-a'], { remoteTtlMs: 400 });
    a.local.set([{ name: 'total', value: null, count: 7 }]);
    const link = await connect(a, b);
    await until('A’s list on B', () => totalOf(b, 'site-a') === 7, 5_000);
    let changes = 0;
    b.exchange.onRemoteChange(() => changes++);
    const lostAt = Date.now();
    link.cut();
    await until('A’s list dropped', () => !b.exchange.remoteCounts().has('site-a'), 5_000);
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(400);
    expect(b.exchange.remoteTotal('total', null)).toBe(0);
    expect(b.exchange.stats.dropped).toBe(1);
    expect(changes).toBeGreaterThanOrEqual(1);
    // A restarts (a new exchange, a new boot) with other counts: B, synced before, waits for its answer
    a.exchange.stop();
    const a2 = site('site-a', ['site-b']);
    a2.local.set([{ name: 'total', value: null, count: 2 }]);
    await connect(a2, b);
    await until('B synced with A back', () => b.exchange.synced() && totalOf(b, 'site-a') === 2, 5_000);
  });

  it('a peer lost within its TTL and back: the list of the new link replaces the kept one', async () => {
    const a = site('site-a', ['site-b']);
    const b = site('site-b', ['site-a'], { remoteTtlMs: 60_000 });
    a.local.set([{ name: 'total', value: null, count: 4 }]);
    const first = await connect(a, b);
    await until('A’s list on B', () => totalOf(b, 'site-a') === 4, 5_000);
    let changes = 0;
    b.exchange.onRemoteChange(() => changes++);
    first.cut();
    await until('B sees the loss', () => changes > 0, 5_000);
    a.local.set([{ name: 'total', value: null, count: 1 }]);
    // kept while lost
    expect(totalOf(b, 'site-a')).toBe(4);
    await connect(a, b);
    await until('the new list on B', () => totalOf(b, 'site-a') === 1, 5_000);
    expect(b.exchange.remoteTotal('total', null)).toBe(1);
  });

  it('a paired peer that never links: not synced until sync_timeout', async () => {
    const a = site('site-a', ['site-b'], { syncTimeoutMs: 300 });
    const startedAt = Date.now();
    expect(a.exchange.synced()).toBe(false);
    await until('A synced alone', () => a.exchange.synced(), 5_000);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
  });
});

describe('the settings of the exchange', () => {
  const cs = (name: string, site: string, ext: Record<string, unknown>, enabled = true) =>
    resolveInstance({ name, roletype: 'callstore', iface: 'lo', group: 1, order: name.length, site, ext, enabled }, 'site-a');

  it('are the ext of this site’s enabled callstore instances; with several, the strictest wins; else the defaults', () => {
    expect(profileSettingsOf([], 'site-a')).toEqual(DEFAULT_PROFILE_SETTINGS);
    expect(profileSettingsOf([cs('cs1', 'site-a', { sync_timeout: 2, remote_profile_ttl: 1.5, reject_until_synced: false })], 'site-a')).toEqual({ syncTimeoutMs: 2_000, remoteTtlMs: 1_500, rejectUntilSynced: false });
    // another site's instance and a disabled one do not count
    expect(profileSettingsOf([cs('cs1', 'site-b', { sync_timeout: 9 }), cs('cs2', 'site-a', { sync_timeout: 9 }, false)], 'site-a')).toEqual(DEFAULT_PROFILE_SETTINGS);
    // two here: the longest wait and TTL, reject_until_synced unless both turn it off
    expect(profileSettingsOf([cs('cs1', 'site-a', { sync_timeout: 1, remote_profile_ttl: 90, reject_until_synced: false }), cs('cs22', 'site-a', { sync_timeout: 3, remote_profile_ttl: 10 })], 'site-a')).toEqual({
      syncTimeoutMs: 3_000,
      remoteTtlMs: 90_000,
      rejectUntilSynced: true,
    });
  });
});
