import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { REPLICATION_PROTOCOL, type ReplicationMessage, type ServedDomains } from '../../shared/sync/replication.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog, type NewChange } from '../../service/storage/changelog/log.js';
import { readBatch, receiveBatch, SenderState, type BatchItem } from '../../service/sync/replication/core.js';
import { stateOf, testDomainOf } from '../support/replication-link.js';

/*
 * The protocol core driven through the path the session takes (readBatch → batch → receiveBatch
 * → ack/refused → SenderState), between real change logs, over a network the test controls: any
 * interleaving of appends, connects, disconnects, deliveries, duplicated and lost messages. Then
 * the sites are linked in a line and left to settle: every log holds the same documents and the
 * same records, and no entry was applied twice.
 */

const dirs: string[] = [];
const logs: ChangeLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const SITES = 3;
const DOCS = ['config', 'users', 'tokens'];
const RECORDS = ['event', 'cdr'];
const LIMITS = { maxEntries: 3, maxBytes: 400 };

type Action =
  | { t: 'append'; site: number; kind: string; key: number; del: boolean; domain: number }
  | { t: 'connect' | 'disconnect'; a: number; b: number }
  | { t: 'pump' | 'deliver' | 'duplicate' | 'drop'; a: number; b: number; forward: boolean };

const pair = fc.tuple(fc.integer({ min: 0, max: SITES - 1 }), fc.integer({ min: 0, max: SITES - 2 })).map(([a, d]) => ({ a, b: (a + 1 + d) % SITES }));
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('append' as const), site: fc.integer({ min: 0, max: SITES - 1 }), kind: fc.constantFrom('config', 'users', 'tokens', 'event', 'cdr'), key: fc.integer({ min: 0, max: 4 }), del: fc.boolean(), domain: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 1, arbitrary: pair.map((p) => ({ t: 'connect' as const, ...p })) },
  { weight: 1, arbitrary: pair.map((p) => ({ t: 'disconnect' as const, ...p })) },
  { weight: 6, arbitrary: fc.tuple(pair, fc.constantFrom('pump' as const, 'deliver' as const, 'duplicate' as const, 'drop' as const), fc.boolean()).map(([p, t, forward]) => ({ t, ...p, forward })) },
);

interface Direction {
  /** the sending site's sender about the other: its batches go on this direction's queue */
  sender: SenderState;
  /** messages on their way from the sending site to the other */
  queue: ReplicationMessage[];
}

interface Link {
  from: number;
  to: number;
  dirs: [Direction, Direction];
}

function run(actions: Action[], serves: ServedDomains[]): void {
  const sites = Array.from({ length: SITES }, (_, i) => {
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-repl-prop-'));
    dirs.push(dir);
    const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: `s${i}`, policyOf, durability: 'os' });
    logs.push(log);
    return log;
  });
  const applied = sites.map(() => new Map<string, number>());
  sites.forEach((log, i) => log.onApplied((c) => applied[i]?.set(`${c.entry.origin}#${c.entry.seq}`, (applied[i]?.get(`${c.entry.origin}#${c.entry.seq}`) ?? 0) + 1), { records: true }));
  const links = new Map<string, Link>();
  const keyOf = (a: number, b: number) => `${Math.min(a, b)}-${Math.max(a, b)}`;
  const log = (i: number) => sites[i] as ChangeLog;
  let counter = 0;

  const connect = (a: number, b: number) => {
    const hello = (i: number): ReplicationMessage => ({ topic: 'replication', type: 'hello', protocol: REPLICATION_PROTOCOL, have: log(i).head(), serves: serves[i] as ServedDomains });
    links.set(keyOf(a, b), { from: a, to: b, dirs: [{ sender: new SenderState(2), queue: [hello(a)] }, { sender: new SenderState(2), queue: [hello(b)] }] });
  };
  /** direction 0 carries from → to; a message on direction d is handled by its receiving end */
  const ends = (l: Link, forward: boolean) => (forward ? { me: l.from, peer: l.to, out: l.dirs[0], back: l.dirs[1] } : { me: l.to, peer: l.from, out: l.dirs[1], back: l.dirs[0] });
  const pump = (l: Link, forward: boolean) => {
    const { me, peer, out } = ends(l, forward);
    const sender = out.sender;
    if (!sender.canSend()) return;
    const r = readBatch(log(me), sender.position, { peerServes: sender.peerServes ?? [], selfServes: serves[me] as ServedDomains, domainOf: testDomainOf, peerOrigin: `s${peer}` }, LIMITS);
    if (r.kind !== 'batch' || r.items.length === 0) return;
    const id = sender.sentBatch(r.through, r.entries, r.oldestHlc);
    out.queue.push({ topic: 'replication', type: 'batch', id, items: r.items });
  };
  const deliver = (l: Link, forward: boolean, keep: boolean) => {
    const { peer, out, back } = ends(l, forward);
    const m = keep ? out.queue[0] : out.queue.shift();
    if (!m) return;
    // the message reaches `peer`: a hello, an ack or a refusal is about what `peer` sends, on the way back
    const peerSender = back.sender;
    switch (m.type) {
      case 'hello':
        peerSender.hello(m.have, m.serves);
        return;
      case 'batch': {
        const { reply } = receiveBatch(log(peer), m.id, m.items as BatchItem[]);
        back.queue.push(reply);
        return;
      }
      case 'ack':
        peerSender.ack(m.batch, m.have);
        return;
      case 'refused':
        peerSender.refused(m.have);
        return;
      default:
        throw new Error(`unexpected ${m.type}`);
    }
  };

  for (const a of actions) {
    if (a.t === 'append') {
      const kind = a.kind;
      const record = kind === 'event' || kind === 'cdr';
      const domain = `d${a.domain}.example`;
      const key = record ? `s${a.site}-${kind}-${counter++}` : `k${a.key}`;
      const body = record ? (kind === 'cdr' ? { id: key, domain } : { instance: 'c', receivedAt: 1, tsMs: 1, event: { id: key, callId: key, domain } }) : a.del ? null : { v: counter++, by: a.site };
      log(a.site).append({ kind, key, body } as NewChange);
      continue;
    }
    if (a.t === 'connect') {
      if (!links.has(keyOf(a.a, a.b))) connect(a.a, a.b);
      continue;
    }
    const l = links.get(keyOf(a.a, a.b));
    if (!l) continue;
    if (a.t === 'disconnect') links.delete(keyOf(a.a, a.b));
    else if (a.t === 'pump') pump(l, a.forward);
    else if (a.t === 'deliver') deliver(l, a.forward, false);
    else if (a.t === 'duplicate') deliver(l, a.forward, true);
    else if (a.t === 'drop') (a.forward ? l.dirs[0] : l.dirs[1]).queue.shift();
  }

  // heal: the line 0-1-2, fresh links, run until nothing moves. With a domain filter each site is
  // linked to every other: a site relays no origin past a range it holds elsewhere to a peer
  // that serves more than it does, so that peer must hear of the origin from a site that holds it.
  links.clear();
  const filtered = !serves.every((x) => x === 'all');
  connect(0, 1);
  connect(1, 2);
  if (filtered) connect(0, 2);
  for (let round = 0; round < 10_000; round++) {
    let moved = false;
    for (const l of links.values()) {
      for (const forward of [true, false]) {
        const { out } = ends(l, forward);
        const before = out.queue.length;
        pump(l, forward);
        if (out.queue.length !== before) moved = true;
      }
      for (const forward of [true, false]) {
        const { out } = ends(l, forward);
        while (out.queue.length) {
          deliver(l, forward, false);
          moved = true;
        }
      }
    }
    if (!moved) break;
  }

  const expected = stateOf(log(0), DOCS, RECORDS);
  for (let i = 1; i < SITES; i++) {
    const s = stateOf(log(i), DOCS, RECORDS);
    if (!filtered) expect(s).toEqual(expected);
    else expect(s.documents).toEqual(expected.documents);
  }
  for (const m of applied) for (const n of m.values()) expect(n).toBe(1);
  // each site's position reached every origin's head, held ranges included
  const heads = sites.map((l) => l.head());
  for (const h of heads) for (let o = 0; o < SITES; o++) expect(h[`s${o}`] ?? 0).toBe(heads[o]?.[`s${o}`] ?? 0);
  // with a domain filter: a site holds exactly the records of the domains it serves, of every origin
  for (let i = 0; i < SITES; i++) {
    const want = serves[i] as ServedDomains;
    const records = (log(i).database.prepare("SELECT o.name AS origin, e.kind AS kind, e.body AS body FROM entries e JOIN origins o ON o.id = e.origin WHERE e.kind IN ('event', 'cdr')").all() as { origin: string; kind: string; body: string }[]);
    for (const r of records) {
      if (r.origin === `s${i}` || want === 'all') continue;
      expect(want).toContain(testDomainOf(r.kind, JSON.parse(r.body)));
    }
  }
}

describe('the replication core (property)', () => {
  it('any interleaving of appends, connects, disconnects, duplicated and lost messages converges once linked, nothing applied twice', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => {
        run(actions, ['all', 'all', 'all']);
        for (const l of logs.splice(0)) void l.close();
      }),
      { numRuns: 40 },
    );
  });

  it('with a domain filter (the middle site serves one domain), every site holds the documents, and the records of its domains only', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => {
        run(actions, ['all', ['d1.example'], ['d1.example']]);
        for (const l of logs.splice(0)) void l.close();
      }),
      { numRuns: 40 },
    );
  });
});
