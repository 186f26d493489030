import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { normalizeDomain, suffixesOf } from '../../service/config/domains.js';
import { PartitionTable } from '../../service/config/partition.js';
import type { ResolvedInstance } from '../../service/config/roles.js';
import { servedDomainsOf } from '../../service/config/election.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { isHeld, readBatch, serves, servesNoMoreThan } from '../../service/sync/replication/core.js';
import { link, openSite, removeSiteDirs, testDomainOf, until, type TestLink, type TestSite } from '../support/replication-link.js';

/*
 * Replication's domain filter takes a served domain's whole subtree, as the configuration's
 * partitioning assigns domains to groups (design section 3: `a.b.example` is under `b.example`,
 * `xb.example` is not), case and a trailing dot aside.
 */

const dirs: string[] = [];
const logs: ChangeLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the domain filter is by subtree', () => {
  it.each([
    [['b.example'], 'b.example', true],
    [['b.example'], 'a.b.example', true],
    [['b.example'], 'x.y.a.b.example', true],
    [['b.example'], 'xb.example', false],
    [['b.example'], 'example', false],
    [['B.Example.'], 'a.b.EXAMPLE.', true],
    [['c.example', 'b.example'], 'q.b.example', true],
    [[], 'b.example', false],
  ] as const)('%j serves %s: %s', (served, domain, expected) => {
    expect(serves([...served], domain)).toBe(expected);
  });

  it('data without a domain goes to every site; `all` takes everything', () => {
    expect(serves([], undefined)).toBe(true);
    expect(serves('all', 'anything.example')).toBe(true);
  });

  it('a peer serving a subdomain of what this site serves serves no more than it', () => {
    expect(servesNoMoreThan(['a.b.example'], ['b.example'])).toBe(true);
    expect(servesNoMoreThan(['b.example'], ['a.b.example'])).toBe(false);
    expect(servesNoMoreThan(['xb.example'], ['b.example'])).toBe(false);
    expect(servesNoMoreThan('all', ['b.example'])).toBe(false);
    expect(servesNoMoreThan(['b.example'], 'all')).toBe(true);
  });

  it('property: a site takes the data of every domain the groups it runs are assigned by the partitioning', () => {
    const label = fc.constantFrom('a', 'b', 'x', 'sales', 'eu');
    const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => `${ls.join('.')}.example`);
    fc.assert(
      fc.property(fc.uniqueArray(domain, { minLength: 1, maxLength: 4 }), fc.array(domain, { maxLength: 12 }), (claims, probes) => {
        const instances: ResolvedInstance[] = claims.map((d, i) => ({ name: `c${i}`, roletype: 'callstore', iface: 'lo', ext: {}, enabled: true, group: i + 1, order: 1, includeDomains: [d], site: i % 2 ? 'B' : 'A' }));
        const table = new PartitionTable(instances);
        const servedByA = servedDomainsOf(instances, 'A');
        for (const probe of probes) {
          const group = table.lookup('callstore', probe)?.group;
          const owner = instances.find((i) => i.group === group);
          // the site of the group serving a domain takes the domain's data
          if (owner?.site === 'A') expect(serves(servedByA, probe)).toBe(true);
          // and a site takes no domain outside every subtree it serves
          if (serves(servedByA, probe)) expect(suffixesOf(normalizeDomain(probe)).some((s) => (servedByA as string[]).includes(s))).toBe(true);
        }
      }),
    );
  });

  it('the sender sends a peer serving b.example the records of a.b.example, and holds back those of xb.example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-serves-'));
    dirs.push(dir);
    const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 'site-a', policyOf, durability: 'os' });
    logs.push(log);
    log.appendMany([
      { kind: 'cdr', key: 'c1', body: { id: 'c1', domain: 'a.b.example' } },
      { kind: 'cdr', key: 'c2', body: { id: 'c2', domain: 'xb.example' } },
      { kind: 'config', key: 'roles', body: { v: 1 } },
    ]);
    const r = readBatch(log, {}, { peerServes: ['b.example'], selfServes: 'all', domainOf: testDomainOf });
    expect(r.kind).toBe('batch');
    const items = r.kind === 'batch' ? r.items : [];
    expect(items.filter((i) => !isHeld(i)).map((i) => ('key' in i ? i.key : ''))).toEqual(['c1', 'roles']);
    expect(items.filter(isHeld)).toEqual([{ origin: 'site-a', first: 2, last: 2 }]);
  });
});

describe('a change of what a site serves reaches its peer on the link that is up', () => {
  const links: TestLink[] = [];
  const sites: TestSite[] = [];
  afterEach(async () => {
    for (const l of links.splice(0)) await l.cut().catch(() => undefined);
    for (const s of sites.splice(0)) await s.log.close().catch(() => undefined);
    removeSiteDirs();
  });

  const cdr = (site: TestSite, key: string, domain: string) => site.log.append({ kind: 'cdr', key, body: { id: key, domain } });
  const holds = (site: TestSite, key: string) => site.log.database.prepare("SELECT 1 FROM entries WHERE kind = 'cdr' AND key = ?").get(key) !== undefined;

  /** Appends a probe of `domain` on `from` and waits until `to` has acknowledged all of `from`'s log: whether `to` now holds it. */
  async function probe(from: TestSite, to: TestSite, l: TestLink, key: string, domain: string): Promise<boolean> {
    cdr(from, key, domain);
    await until(`${to.id} to have ${from.id}'s head`, () => (to.log.head()[from.id] ?? 0) >= (from.log.head()[from.id] ?? 0));
    await l.a.caughtUp();
    return holds(to, key);
  }

  it('the peer starts sending a domain the site now serves, and stops sending one it no longer serves, without a new link', async () => {
    const a = openSite('site-a', 'all', undefined, 'os');
    const b = openSite('site-b', ['a.example'], undefined, 'os');
    sites.push(a, b);
    const l = await link(a, b);
    links.push(l);

    expect(await probe(a, b, l, 'before-a', 'a.example')).toBe(true);
    expect(await probe(a, b, l, 'before-b', 'b.example')).toBe(false);

    // B's configuration now gives it b.example too: A learns it over this link
    b.serves = ['a.example', 'b.example'];
    let i = 0;
    while (!(await probe(a, b, l, `grown-${i}`, 'b.example'))) if (++i > 50) throw new Error('A never sent b.example to B on the link that was up');
    // from then on every b.example entry reaches B; the one held before stays held (as after a new link)
    expect(await probe(a, b, l, 'grown-after', 'b.example')).toBe(true);
    expect(holds(b, 'before-b')).toBe(false);

    // and B no longer serves b.example: A stops sending it, still on the same link
    b.serves = ['a.example'];
    let j = 0;
    while (await probe(a, b, l, `shrunk-${j}`, 'b.example')) if (++j > 50) throw new Error('A kept sending b.example to B');
    expect(await probe(a, b, l, 'shrunk-after', 'b.example')).toBe(false);
    expect(await probe(a, b, l, 'shrunk-a', 'a.example')).toBe(true);
    // the link was never replaced: both sessions are the ones it started with
    expect(l.a.metrics.state).not.toBe('stopped');
    expect(l.b.metrics.state).not.toBe('stopped');
  });
});
