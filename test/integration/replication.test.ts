import { afterEach, describe, expect, it } from 'vitest';
import { EventJournal, type JournalEvent } from '../../service/storage/journal.js';
import type { NewChange } from '../../service/storage/changelog/log.js';
import { link, openSite, removeSiteDirs, reopenSite, stateOf, until, type TestLink, type TestSite } from '../support/replication-link.js';

const sites: TestSite[] = [];
const links: TestLink[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) await l.cut().catch(() => undefined);
  for (const s of sites.splice(0)) await s.log.close().catch(() => undefined);
  removeSiteDirs();
});

function site(id: string, serves: TestSite['serves'] = 'all'): TestSite {
  const s = openSite(id, serves);
  sites.push(s);
  return s;
}

async function connect(x: TestSite, y: TestSite): Promise<TestLink> {
  const l = await link(x, y);
  links.push(l);
  return l;
}

const DOCS = ['config', 'users', 'tokens', 'vmail_mailboxes'];
const RECORDS = ['event', 'cdr'];

function cdr(i: number, domain: string, tag: string): NewChange {
  return { kind: 'cdr', key: `${tag}-cdr-${i}`, body: { id: `${tag}-cdr-${i}`, domain, duration: i % 300 } };
}

function event(i: number, domain: string, tag: string): NewChange {
  return { kind: 'event', key: `${tag}-ev-${i}`, body: { instance: 'callstore1', receivedAt: 1_000 + i, tsMs: 1_000 + i, event: { id: `${tag}-ev-${i}`, callId: `${tag}-call-${i >> 2}`, domain, type: 'state' } } };
}

/** Appends `n` changes of a mixed load (config-like documents, events and CDRs) in transactions of 1,000. */
function appendMixed(s: TestSite, n: number, tag: string, domains: readonly string[] = ['a.example']): void {
  for (let from = 0; from < n; from += 1000) {
    const batch: NewChange[] = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      const d = domains[i % domains.length] as string;
      if (i % 10 === 0) batch.push({ kind: 'config', key: `k${i % 37}`, body: { tag, i } });
      else if (i % 10 === 1) batch.push(cdr(i, d, tag));
      else batch.push(event(i, d, tag));
    }
    s.log.appendMany(batch);
  }
}

const same = (x: TestSite, y: TestSite) => JSON.stringify(stateOf(x.log, DOCS, RECORDS)) === JSON.stringify(stateOf(y.log, DOCS, RECORDS));

describe('replication over real WebSockets between real change logs', () => {
  it('an entry appended on A reaches B, and B\'s reaches A; caught up, the lag is zero and the peer vector saved', async () => {
    const a = site('site-a');
    const b = site('site-b');
    const l = await connect(a, b);
    a.log.append({ kind: 'config', key: 'roles', body: { v: 1 } });
    b.log.append({ kind: 'users', key: 'admin', body: { name: 'b' } });
    await until('both ways', () => b.log.document('config', 'roles')?.body !== undefined && a.log.document('users', 'admin') !== undefined, 5_000);
    await l.a.caughtUp();
    expect(l.a.metrics).toMatchObject({ peer: 'site-b', lagEntries: 0, lagMs: 0, lastError: undefined });
    expect(l.a.metrics.sentTotal).toBe(1);
    expect(l.b.metrics.receivedTotal).toBe(1);
    expect(same(a, b)).toBe(true);
    await l.cut();
    // the peers table holds what B has: compaction keeps what it lacks
    expect(a.log.database.prepare("SELECT seq FROM peers p JOIN origins o ON o.id = p.origin WHERE p.peer = 'site-b' AND o.name = 'site-a'").pluck().get()).toBe(1);
  });

  it('B restarts mid-stream (its log closed and opened again): it misses nothing and applies nothing twice', async () => {
    const a = site('site-a');
    let b = site('site-b');
    const applied = new Map<string, number>();
    const count = (key: string) => applied.set(key, (applied.get(key) ?? 0) + 1);
    let stopCounting = b.log.onApplied((c) => count(`${c.entry.origin}#${c.entry.seq}`), { records: true });
    appendMixed(a, 20_000, 'a');
    let l = await connect(a, b);
    await until('part of the stream', () => (b.log.head()['site-a'] ?? 0) > 2_000);
    await l.cut();
    links.splice(links.indexOf(l), 1);
    stopCounting();
    sites.splice(sites.indexOf(b), 1);
    b = await reopenSite(b);
    sites.push(b);
    const before = b.log.head()['site-a'] ?? 0;
    expect(before).toBeGreaterThan(2_000);
    expect(before).toBeLessThan(20_000);
    stopCounting = b.log.onApplied((c) => count(`${c.entry.origin}#${c.entry.seq}`), { records: true });
    appendMixed(a, 1_000, 'a2');
    l = await connect(a, b);
    await l.a.caughtUp();
    stopCounting();
    expect(b.log.head()['site-a']).toBe(21_000);
    expect(same(a, b)).toBe(true);
    // every entry reported once, across both lives of B
    expect(applied.size).toBe(21_000);
    expect([...applied.values()].every((n) => n === 1)).toBe(true);
  });

  it('a peer away for 100,000 entries catches up', async () => {
    const a = site('site-a');
    const b = site('site-b');
    appendMixed(a, 100_000, 'a');
    const started = Date.now();
    const l = await connect(a, b);
    await l.a.caughtUp();
    const seconds = (Date.now() - started) / 1000;
    console.log(`[replication] caught up 100,000 entries in ${seconds.toFixed(2)} s: ${Math.round(100_000 / seconds)} entries/s`);
    expect(b.log.head()['site-a']).toBe(100_000);
    expect(same(a, b)).toBe(true);
  }, 120_000);

  it('a log compacted past the peer\'s position sends a snapshot, then the entries after it', async () => {
    const a = site('site-a');
    const b = site('site-b');
    a.log.appendMany([{ kind: 'config', key: 'roles', body: { v: 1 } }, { kind: 'users', key: 'u1', body: { n: 1 } }, { kind: 'users', key: 'u2', body: { n: 2 } }, { kind: 'users', key: 'u2', body: null }]);
    const { removed } = a.log.compact({ minAgeMs: 0, now: Date.now() + 60_000 });
    expect(removed).toBeGreaterThan(0);
    const l = await connect(a, b);
    await l.a.caughtUp();
    expect(b.log.document('users', 'u1')?.body).toEqual({ n: 1 });
    expect(b.log.document('users', 'u2')?.tombstone).toBe(true);
    expect(b.log.head()['site-a']).toBe(4);
    a.log.append({ kind: 'users', key: 'u3', body: { n: 3 } });
    await until('the entry after the snapshot', () => b.log.document('users', 'u3') !== undefined, 5_000);
    expect(same(a, b)).toBe(true);
  });

  it('three sites in a line converge: B relays what it holds of A to C and of C to A', async () => {
    const a = site('site-a');
    const b = site('site-b');
    const c = site('site-c');
    const ab = await connect(a, b);
    const bc = await connect(b, c);
    appendMixed(a, 3_000, 'a');
    appendMixed(c, 3_000, 'c');
    b.log.append({ kind: 'config', key: 'k1', body: { tag: 'b' } });
    await until('convergence', () => same(a, b) && same(b, c) && (a.log.head()['site-c'] ?? 0) === 3_000 && (c.log.head()['site-a'] ?? 0) === 3_000);
    await Promise.all([ab.a.caughtUp(), ab.b.caughtUp(), bc.a.caughtUp(), bc.b.caughtUp()]);
    expect(stateOf(a.log, DOCS, RECORDS).records.length).toBe(2 * 2_700);
  });

  it('the domain filter: a site takes only the domains it serves, its position moves past the rest, and it relays what it holds', async () => {
    const a = site('site-a');
    const b = site('site-b', ['b.example']);
    const ab = await connect(a, b);
    appendMixed(a, 2_000, 'a', ['a.example', 'b.example']);
    await until('B at A\'s head', () => b.log.head()['site-a'] === 2_000);
    await ab.a.caughtUp();
    const bState = stateOf(b.log, DOCS, RECORDS);
    const aState = stateOf(a.log, DOCS, RECORDS);
    // configuration for every site; records of b.example only
    expect(bState.documents).toEqual(aState.documents);
    const bRecords = b.log.database.prepare("SELECT body FROM entries WHERE kind IN ('event', 'cdr')").pluck().all() as string[];
    const aRecordsOfB = (a.log.database.prepare("SELECT body FROM entries WHERE kind IN ('event', 'cdr')").pluck().all() as string[]).filter((body) => body.includes('"b.example"'));
    expect(aRecordsOfB.length).toBe(1_000);
    expect(bRecords.length).toBe(aRecordsOfB.length);
    expect(bRecords.every((body) => body.includes('"b.example"'))).toBe(true);
    expect(ab.a.metrics.lagEntries).toBe(0);
    // B's own entries reach A whatever their domain
    b.log.appendMany([cdr(1, 'b.example', 'b'), cdr(2, 'c.example', 'b')]);
    await until('B\'s records on A', () => a.log.head()['site-b'] === 2);

    // C serves a.example and hears of A only through B: B does not hold A's a.example records, so
    // its relay of A stops before the first range it holds elsewhere (C must be paired with a site
    // that serves a.example); B's own entries still reach C
    const c = site('site-c', ['a.example']);
    const bc = await connect(b, c);
    await until('B\'s entries on C', () => c.log.head()['site-b'] === 2);
    await until('the relay of A said blocked', () => bc.a.metrics.blockedOrigins.includes('site-a'));
    expect(c.log.head()['site-a'] ?? 0).toBeLessThan(2_000);
    expect(bc.a.metrics.lagEntries).toBeGreaterThan(0);
    // D serves b.example only, no more than B: B passes its held ranges on, and D converges on A's b.example records
    const d = site('site-d', ['b.example']);
    await connect(b, d);
    await until('D at A\'s head through B', () => d.log.head()['site-a'] === 2_000 && d.log.head()['site-b'] === 2);
    const onB = stateOf(b.log, DOCS, RECORDS);
    // all of B but its own c.example record
    expect(stateOf(d.log, DOCS, RECORDS)).toEqual({ documents: onB.documents, records: onB.records.filter((r) => r !== 'cdr/b-cdr-2') });
  });

  it('a peer\'s raw events are indexed by the journal as they are received (not made active: their finish is not in the log)', async () => {
    const a = site('site-a');
    const b = site('site-b');
    const dialogsOf = (e: JournalEvent) => [e.callId];
    const journal = await EventJournal.open<JournalEvent & { domain: string }>(b.log, { instance: 'callstore1', durability: 'os', dialogsOf });
    await connect(a, b);
    a.log.appendMany([event(0, 'a.example', 'a'), event(1, 'a.example', 'a')]);
    await until('the events on B', () => b.log.head()['site-a'] === 2, 5_000);
    expect(journal.knows('a-call-0')).toBe(true);
    expect(journal.eventsOf(['a-call-0']).map((e) => e.id).sort()).toEqual(['a-ev-0', 'a-ev-1']);
    expect(journal.activeEvents()).toEqual([]);
  });
});
