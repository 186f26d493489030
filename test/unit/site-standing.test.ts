import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { channelOverWebSocket, type PeerChannel } from '../../service/sync/channel.js';
import { startReplication, type ReplicationSession } from '../../service/sync/replication/session.js';
import { SiteStanding } from '../../service/sync/standing.js';
import { openSite, removeSiteDirs, testDomainOf, until, type TestSite } from '../support/replication-link.js';

/*
 * The standing (sync/standing.ts) on real parts: two change logs, a real WebSocket between them,
 * a PeerChannel and a replication session on each end, and a SiteStanding on each site that
 * hears of the channels and sessions as the service's link layer and hub tell it.
 */

interface StandingSite {
  site: TestSite;
  standing: SiteStanding;
  channelListeners: Set<(c: PeerChannel) => void>;
  sessionListeners: Set<(s: ReplicationSession) => void>;
  sessions: Map<string, ReplicationSession>;
  sources: string[];
}

const made: StandingSite[] = [];
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const s of made.splice(0)) {
    s.standing.stop();
    await s.site.log.close().catch(() => undefined);
  }
  removeSiteDirs();
});

function standingSite(id: string, peers: string[], graceMs: number): StandingSite {
  const site = openSite(id);
  const channelListeners = new Set<(c: PeerChannel) => void>();
  const sessionListeners = new Set<(s: ReplicationSession) => void>();
  const sessions = new Map<string, ReplicationSession>();
  const s: StandingSite = { site, channelListeners, sessionListeners, sessions, sources: [], standing: undefined as unknown as SiteStanding };
  s.standing = new SiteStanding({
    selfId: id,
    peers: () => peers,
    onPeerChannel: (l) => {
      channelListeners.add(l);
      return () => channelListeners.delete(l);
    },
    replication: {
      session: (peer) => sessions.get(peer),
      onSession: (l) => {
        sessionListeners.add(l);
        return () => sessionListeners.delete(l);
      },
    },
    localSources: () => s.sources,
    startupGraceMs: graceMs,
    everyMs: 100,
  });
  s.standing.start();
  made.push(s);
  return s;
}

/** Links two standing sites as the link layer and the hub do: a channel to each, then a session on each. */
async function connect(x: StandingSite, y: StandingSite): Promise<{ cut(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', (ws) => resolve(ws)));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const serverSide = await accepted;
  const ends: [StandingSite, PeerChannel, string][] = [
    [x, channelOverWebSocket(client, y.site.id), y.site.id],
    [y, channelOverWebSocket(serverSide, x.site.id), x.site.id],
  ];
  const started: ReplicationSession[] = [];
  for (const [s, channel] of ends) for (const l of s.channelListeners) l(channel);
  for (const [s, channel, peer] of ends) {
    const session = startReplication(channel, { log: s.site.log, serves: () => 'all', domainOf: testDomainOf, pollMs: 50 });
    started.push(session);
    s.sessions.set(peer, session);
    channel.onClose(() => {
      if (s.sessions.get(peer) === session) s.sessions.delete(peer);
    });
    for (const l of s.sessionListeners) l(session);
  }
  const cut = async () => {
    client.terminate();
    serverSide.terminate();
    await Promise.all(started.map((r) => r.stop()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  closers.push(cut);
  return { cut };
}

describe('the standing of the sites', () => {
  it('a site that starts is not synced while a paired peer may still link; linked, it is synced once it holds what the peer held; the peer hears it', async () => {
    const a = standingSite('site-a', ['site-b'], 60_000);
    for (let i = 0; i < 300; i++) a.site.log.append({ kind: 'config', key: `k${i % 7}`, body: { i } });
    const b = standingSite('site-b', ['site-a'], 60_000);
    // both just started, the peer not linked: a site of the installation may be up with entries they lack
    expect([a.standing.synced, b.standing.synced]).toEqual([false, false]);
    expect(b.standing.isReachable('site-a')).toBe(false);
    a.sources = ['pbx1'];
    await connect(a, b);
    await until('both synced', () => a.standing.synced && b.standing.synced, 10_000);
    // B holds A's entries: synced means caught up with what the peer held when the link opened
    expect(b.site.log.head()['site-a']).toBe(300);
    await until('each hears the other synced', () => a.standing.isSynced('site-b') && b.standing.isSynced('site-a'), 5_000);
    expect(b.standing.isReachable('site-a')).toBe(true);
    await until('B hears of A’s source', () => b.standing.sourcesElsewhere().get('site-a')?.has('pbx1') === true, 5_000);
  });

  it('a peer linked once and lost is a loss: the site stays synced, even within its start-up grace', async () => {
    const a = standingSite('site-a', ['site-b'], 60_000);
    const b = standingSite('site-b', ['site-a'], 60_000);
    const l = await connect(a, b);
    await until('both synced', () => a.standing.synced && b.standing.synced, 10_000);
    await l.cut();
    await until('A unreachable from B', () => !b.standing.isReachable('site-a'), 5_000);
    // a few rounds of the standing (every 100 ms here) later
    await new Promise((r) => setTimeout(r, 400));
    expect(b.standing.synced).toBe(true);
    expect(b.standing.isSynced('site-a')).toBe(false);
    expect(b.standing.sourcesElsewhere().size).toBe(0);
  });

  it('a paired peer that never links is counted out once the grace has passed; a new link makes the site catch up again', async () => {
    const a = standingSite('site-a', ['site-b', 'site-c'], 300);
    const b = standingSite('site-b', ['site-a'], 300);
    expect(a.standing.synced).toBe(false);
    await until('A synced alone after the grace', () => a.standing.synced, 5_000);
    for (let i = 0; i < 50; i++) b.site.log.append({ kind: 'config', key: `b${i}`, body: { i } });
    let changes = 0;
    a.standing.onChange(() => changes++);
    await connect(a, b);
    // linked: not synced until it holds B's entries, then synced again
    await until('A synced with B', () => a.standing.synced && (a.site.log.head()['site-b'] ?? 0) === 50, 10_000);
    expect(changes).toBeGreaterThan(0);
  });
});
