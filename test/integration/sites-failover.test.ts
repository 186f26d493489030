/**
 * Active-Passive across sites (design section 7), on real processes: two sites paired (B joined
 * A's installation, so callstore group 1 has A's instance at order 1 and B's at order 2), a TCP
 * proxy under the test's control in front of each peer port.
 *
 * - An event sent to A is an active call on B within a second; a call gets one record, written
 *   by the active site (A), in its term, and present on both.
 * - Under load (two phone systems streaming over WebSocket, one to each site, each with both
 *   appliance addresses), A is killed (-9) mid-call: B is active within 3 s in a raised term,
 *   every call ends with exactly one record on B, no acknowledged event is lost.
 * - A starts again: it catches up before it takes its role back (its term comes only once it
 *   holds what B held), and both sites end with the same records.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import type { CallEvent, StoredEvent } from '../../shared/api/events.js';
import type { GroupStatus } from '../../shared/api/status.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { callLoad, inParallel } from '../support/crash-source.js';
import { FailoverSource } from '../support/failover-source.js';
import { restartSite, startPairedSites, waitFor, type Site, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

const PASSWORD = 'password-of-the-installation';
/** short calls B takes in while A is away: A's catch-up then takes a moment */
const BURST_CALLS = 10_000;

async function groupOf(s: Site, roletype = 'callstore', group = 1): Promise<GroupStatus | undefined> {
  const res = await s.api.get('/api/v1/status');
  if (res.status !== 200) return undefined;
  return (res.body.groups as GroupStatus[]).find((g) => g.roletype === roletype && g.group === group);
}

async function cdrsOf(s: Site): Promise<Cdr[]> {
  const res = await fetch(`${s.service.url}/api/v1/cdrs/export?format=ndjson`, { headers: { authorization: `Bearer ${await tokenOf(s)}` } });
  if (!res.ok) throw new Error(`export: ${res.status}`);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Cdr);
}

const tokens = new Map<Site, string>();
async function tokenOf(s: Site): Promise<string> {
  const known = tokens.get(s);
  if (known) return known;
  const res = await s.api.post('/api/v1/tokens', { name: `test ${s.self.name}`, scopes: ['events', 'read'] });
  expect(res.status, res.text).toBe(201);
  tokens.set(s, res.body.token as string);
  return res.body.token as string;
}

/** The highest seq of `origin` a site's change log holds (read beside the running service, as the next start would). */
function headOf(s: Site, origin: string): number {
  const db = new Database(join(s.service.dataDir, 'changelog.sqlite'), { readonly: true });
  try {
    const row = db.prepare('SELECT max(e.seq) AS seq FROM entries e JOIN origins o ON o.id = e.origin WHERE o.name = ?').get(origin) as { seq: number | null };
    const held = db.prepare('SELECT max(h.last) AS seq FROM held_elsewhere h JOIN origins o ON o.id = h.origin WHERE o.name = ?').get(origin) as { seq: number | null };
    return Math.max(row.seq ?? 0, held.seq ?? 0);
  } finally {
    db.close();
  }
}

/** The `cdr` entries of a site's log: per record id, the origins that wrote one. */
function recordEntries(s: Site): Map<string, string[]> {
  const db = new Database(join(s.service.dataDir, 'changelog.sqlite'), { readonly: true });
  try {
    const out = new Map<string, string[]>();
    for (const r of db.prepare("SELECT e.key AS key, o.name AS origin FROM entries e JOIN origins o ON o.id = e.origin WHERE e.kind = 'cdr'").all() as { key: string; origin: string }[]) {
      out.set(r.key, [...(out.get(r.key) ?? []), r.origin]);
    }
    return out;
  } finally {
    db.close();
  }
}

/** The ids of the raw events in a (stopped) site's change log. */
function eventsInLog(s: Site): Set<string> {
  const db = new Database(join(s.service.dataDir, 'changelog.sqlite'), { readonly: true });
  try {
    return new Set(db.prepare("SELECT key FROM entries WHERE kind = 'event'").pluck().all() as string[]);
  } finally {
    db.close();
  }
}

/** Every acknowledged event is held by the site: in a record, an active call, or the raw events of a record (a straggler). */
async function missingEvents(s: Site, acked: readonly CallEvent[]): Promise<string[]> {
  const api = apiClient(s.service.url, await tokenOf(s));
  const have = new Set<string>();
  for (const c of await cdrsOf(s)) for (const id of c.eventIds) have.add(id);
  const calls = (await api.get('/api/v1/calls?limit=5000')).body.items as { id: string }[];
  await inParallel(calls, 6, async ({ id }) => {
    const detail = await api.get<{ events: { id: string }[] }>(`/api/v1/calls/${encodeURIComponent(id)}`);
    if (detail.status === 200) for (const e of detail.body.events) have.add(e.id);
  });
  const lookUp = [...new Set(acked.filter((e) => !have.has(e.id)).map((e) => e.callId))];
  await inParallel(lookUp, 6, async (callId) => {
    const res = await api.get<{ items: StoredEvent[] }>(`/api/v1/cdrs/${encodeURIComponent(callId)}/events`);
    for (const e of res.body.items ?? []) have.add(e.id);
  });
  return acked.filter((e) => !have.has(e.id)).map((e) => e.id);
}

async function pairSites(): Promise<{ a: Site; b: Site; instanceA: string; instanceB: string }> {
  const { a, b, callstoreOf } = await startPairedSites(running, PASSWORD);
  const instanceA = callstoreOf(a);
  const instanceB = callstoreOf(b);
  // both sites elect A's instance, in the same term
  for (const s of [a, b]) await waitFor(`${s.self.name} electing A`, async () => ((await groupOf(s))?.state === 'active' && (await groupOf(s))?.active === instanceA ? true : undefined), 20_000);
  expect((await groupOf(b))?.term).toBe((await groupOf(a))?.term);
  return { a, b, instanceA, instanceB };
}

describe('sites: Active-Passive failover', () => {
  it('an event sent to A is an active call on B within a second; one record per call, written by the active site in its term, on both', async () => {
    const { a, b, instanceA, instanceB } = await pairSites();
    const group = (await groupOf(a)) as GroupStatus;
    expect(group).toMatchObject({ roletype: 'callstore', group: 1, active: instanceA, activeSite: a.self.id, state: 'active' });
    expect(group.term).toBeGreaterThan(0);
    expect(Date.parse(group.since as string)).toBeGreaterThan(0);
    // the status lists the instances with the same election
    const instances = (await b.api.get('/api/v1/status')).body.instances as { name: string; active: boolean; state: string }[];
    expect(instances.find((i) => i.name === instanceA)).toMatchObject({ active: true, state: 'remote' });
    expect(instances.find((i) => i.name === instanceB)).toMatchObject({ active: false, state: 'running' });

    const tokenA = await tokenOf(a);
    const tokenB = await waitFor('A’s token on B', async () => ((await apiClient(b.service.url, tokenA).get('/api/v1/status')).status === 200 ? tokenA : undefined));
    const script = new CallScript('pbx-latency', Date.now());
    script.invite(0, 'lat-1', '100', '200').answer(300, 'lat-1');
    const sentAt = Date.now();
    expect((await apiClient(a.service.url, tokenA).post('/api/v1/events', script.events)).status).toBe(200);
    await waitFor('the call on B', async () => ((await apiClient(b.service.url, tokenB).get('/api/v1/calls/lat-1')).status === 200 ? true : undefined), 5_000);
    const latencyMs = Date.now() - sentAt;
    console.log(`[failover] an event acknowledged by A was an active call on B after ${latencyMs} ms`);
    expect(latencyMs).toBeLessThan(1_000);
    expect((await apiClient(b.service.url, tokenB).get('/api/v1/calls/lat-1')).body).toMatchObject({ instance: instanceB, state: 'talking' });

    // its end goes to B (the passive site): the record is A's, in A's term, on both
    const end = new CallScript('pbx-latency', Date.now());
    end.add(1000, 'end', 'lat-1', { id: 'pbx-latency-end', by: 'caller' });
    expect((await apiClient(b.service.url, tokenB).post('/api/v1/events', end.events)).status).toBe(200);
    for (const s of [a, b]) {
      const cdr = await waitFor(`the record on ${s.self.name}`, async () => {
        const res = await apiClient(s.service.url, tokenA).get('/api/v1/cdrs/lat-1');
        return res.status === 200 ? (res.body as Cdr) : undefined;
      });
      expect(cdr).toMatchObject({ id: 'lat-1', site: a.self.id, term: group.term, endReason: 'normal' });
    }
    await waitFor('the call gone from B', async () => ((await apiClient(b.service.url, tokenB).get('/api/v1/calls/lat-1')).status === 404 ? true : undefined), 5_000);
    expect(recordEntries(b).get('lat-1')).toEqual([a.self.id]);
    expect(recordEntries(a).get('lat-1')).toEqual([a.self.id]);
  }, 120_000);

  it('kill -9 of the active site under load: B active within 3 s in a raised term, one record per call on B, no acknowledged event lost; A comes back, catches up before it takes its role back, and holds the same records', async () => {
    const { a, b, instanceA, instanceB } = await pairSites();
    const before = (await groupOf(b)) as GroupStatus;
    const token = await tokenOf(a);
    await waitFor('the token on B', async () => ((await apiClient(b.service.url, token).get('/api/v1/status')).status === 200 ? true : undefined));
    const t0 = Date.parse('2026-11-22T10:00:00.000Z');
    // two phone systems, one streaming to A and one to B, each with both addresses
    const loadA = callLoad({ source: 'pbxA', calls: 400, concurrent: 40, batch: 4, t0, straggleEvery: 25 });
    const loadB = callLoad({ source: 'pbxB', calls: 400, concurrent: 40, batch: 4, t0, straggleEvery: 25 });
    const urls = [a.service.url, b.service.url];
    const toA = new FailoverSource(loadA.messages, { urls, token, window: 8, intervalMs: 4, start: 0, source: 'pbxA' });
    const toB = new FailoverSource(loadB.messages, { urls, token, window: 8, intervalMs: 4, start: 1, source: 'pbxB' });
    const runs = [toA.run(), toB.run()];
    await waitFor('40% of the load on A', async () => (toA.acked >= loadA.messages.length * 0.4 ? true : undefined), 60_000);
    const activeBefore = (await apiClient(b.service.url, token).get('/api/v1/calls?limit=0')).body.total as number;
    const ackedAtKill = toA.acked;
    const killedAt = Date.now();
    await a.service.kill();
    const after = await waitFor('B active in a raised term', async () => {
      const g = await groupOf(b);
      return g?.state === 'active' && g.active === instanceB && g.term > before.term ? g : undefined;
    }, 10_000);
    const failoverMs = Date.now() - killedAt;
    console.log(`[failover] A killed with ${activeBefore} calls up (source to A: ${ackedAtKill}/${loadA.messages.length} messages acknowledged): B active in term ${after.term} after ${failoverMs} ms`);
    expect(failoverMs).toBeLessThan(3_000);
    expect(after).toMatchObject({ activeSite: b.self.id });

    await Promise.all(runs);
    expect(toA.problems).toEqual([]);
    expect(toB.problems).toEqual([]);
    expect(toA.done && toB.done).toBe(true);
    expect(toA.moves).toBeGreaterThanOrEqual(1);

    // Every call ends with exactly one record on B, but those whose events A acknowledged in its
    // last moment, before they reached B: they are in A's log (read from its files, as its next
    // start reads them), and reach B when A is back. Nothing B acknowledged is missing.
    const allCalls = [...loadA.callIds, ...loadB.callIds];
    const ackedAll = [...toA.ackedEvents(), ...toB.ackedEvents()];
    const inLogOfA = eventsInLog(a);
    const settled = await waitFor('B settled', async () => {
      const missing = await missingEvents(b, ackedAll);
      const waiting = new Set(ackedAll.filter((e) => missing.includes(e.id)).map((e) => e.callId));
      const cdrs = await cdrsOf(b);
      const recorded = new Set(cdrs.map((c) => c.id));
      const up = (await apiClient(b.service.url, token).get('/api/v1/calls?limit=5000')).body.items as { id: string }[];
      const done = allCalls.every((c) => recorded.has(c) || waiting.has(c)) && up.every((c) => waiting.has(c.id));
      return done ? { missing, waiting, cdrs } : undefined;
    }, 60_000);
    const byB = new Set([...toA.ackedAt(1), ...toB.ackedAt(1)].map((e) => e.id));
    expect(settled.missing.filter((id) => byB.has(id))).toEqual([]);
    expect(settled.missing.filter((id) => !inLogOfA.has(id))).toEqual([]);
    const ids = settled.cdrs.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    console.log(`[failover] on B before A is back: ${ids.length} records of ${allCalls.length} calls; ${settled.missing.length} events acknowledged by A only (in A's log), ${settled.waiting.size} calls waiting for them; resyncs of the source that moved: ${JSON.stringify(toA.syncs.map((r) => ({ kept: r.kept.length, reconstructed: r.reconstructed.length, terminated: r.terminated.length, dropped: r.dropped.length })))}`);
    expect(settled.waiting.size).toBeLessThan(allCalls.length / 10);
    // the records B wrote are in its term; those before the kill are A's, in A's
    for (const c of settled.cdrs) {
      if (c.site === b.self.id) expect(c.term).toBe(after.term);
      else expect([c.site, c.term]).toEqual([a.self.id, before.term]);
    }

    // While A is away, B takes in a backlog (so that A's catch-up takes a while): short calls over HTTP.
    const burst = new CallScript('pbx-burst', t0);
    for (let c = 0; c < BURST_CALLS; c++) burst.invite(c * 10, `burst-${c}`, '300', '400').answer(c * 10 + 2, `burst-${c}`).end(c * 10 + 5, `burst-${c}`);
    for (let i = 0; i < burst.events.length; i += 1000) expect((await apiClient(b.service.url, token).post('/api/v1/events', burst.events.slice(i, i + 1000))).status).toBe(200);
    const targetOfB = headOf(b, b.self.id);

    // A starts again: not the active site until it holds what B held
    await restartSite(running, a, PASSWORD);
    tokens.delete(a);
    let sawActive: GroupStatus | undefined;
    let samples = 0;
    let catchingUp = 0;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const g = await groupOf(a);
      // read after the status: the head only grows, so a head short of the target now was short then too
      const head = headOf(a, b.self.id);
      samples++;
      if (head < targetOfB) catchingUp++;
      if (g?.active === instanceA && g.state === 'active') {
        expect(head, 'A took its role back before it held what B held').toBeGreaterThanOrEqual(targetOfB);
        sawActive = g;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    console.log(`[failover] A restarted: ${samples} samples, ${catchingUp} while it was catching up; active again in term ${sawActive?.term}`);
    // A's own account: it was synced (it held what B held when their link opened) before it raised the term
    // Its log reaches this process through a pipe, which the status answer (a socket) can overtake:
    // wait for the line rather than read the pipe's output at the moment the answer came.
    type LogLine = { time: string; msg: string; group?: string; synced?: boolean };
    const linesOfA = await waitFor('A logging its takeover', async () => {
      const lines = a.service.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
      return lines.some((l) => l.msg === 'took the group over: term raised' && l.group === 'callstore:1') ? lines : undefined;
    }, 10_000);
    const syncedAt = linesOfA.findIndex((l) => l.msg === 'synced with the reachable sites');
    const raisedAt = linesOfA.findIndex((l) => l.msg === 'took the group over: term raised' && l.group === 'callstore:1');
    expect(syncedAt).toBeGreaterThanOrEqual(0);
    expect(raisedAt).toBeGreaterThan(syncedAt);
    expect(Date.parse(linesOfA[raisedAt]?.time as string)).toBeGreaterThanOrEqual(Date.parse(linesOfA[syncedAt]?.time as string));
    expect(sawActive).toBeDefined();
    expect((sawActive as GroupStatus).term).toBeGreaterThan(after.term);
    expect((sawActive as GroupStatus).activeSite).toBe(a.self.id);
    await waitFor('B electing A again', async () => ((await groupOf(b))?.active === instanceA && (await groupOf(b))?.state === 'active' ? true : undefined), 10_000);

    // both sites hold the same records, one per call
    const expected = [...allCalls, ...Array.from({ length: BURST_CALLS }, (_, c) => `burst-${c}`)].sort();
    for (const s of [a, b]) {
      const got = await waitFor(`every record on ${s.self.name}`, async () => {
        const cdrs = await cdrsOf(s);
        return cdrs.length >= expected.length ? cdrs : undefined;
      }, 60_000);
      const gotIds = got.map((c) => c.id);
      expect(new Set(gotIds).size).toBe(gotIds.length);
      expect([...gotIds].sort()).toEqual(expected);
    }
    // and the same records whole: a call recorded by both (by A before the kill, by B after it)
    // or rebuilt from events only A had is one record on each site, the winner of its versions
    const whole = (c: Cdr) => ({ ...c, eventIds: [...c.eventIds].sort() });
    let differing: string[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const [ofA, ofB] = [await cdrsOf(a), await cdrsOf(b)];
      const onB = new Map(ofB.map((c) => [c.id, JSON.stringify(whole(c))]));
      differing = ofA.filter((c) => onB.get(c.id) !== JSON.stringify(whole(c))).map((c) => c.id);
      if (differing.length === 0 && ofA.length === ofB.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(differing).toEqual([]);
    // what A acknowledged before it was killed is on B now (a few were only in A's log until it came back)
    expect(await missingEvents(b, [...toA.ackedEvents(), ...toB.ackedEvents()])).toEqual([]);
    // records written by both sites: calls A finished just before the kill whose record had not reached B
    const both = [...recordEntries(b)].filter(([, origins]) => new Set(origins).size > 1).map(([id]) => id);
    console.log(`[failover] ${both.length} of ${expected.length} calls have a record entry of each site in the log (written by A before the kill and not yet replicated, then by B); each store holds one per call`);
  }, 300_000);
});
