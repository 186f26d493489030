import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeDomain, suffixesOf } from '../../service/config/domains.js';
import { PartitionTable } from '../../service/config/partition.js';
import type { ResolvedInstance } from '../../service/config/roles.js';
import type { RoleType } from '../../shared/api/roles.js';

function inst(name: string, roletype: RoleType, group: number, order: number, includeDomains: string[], enabled = true): ResolvedInstance {
  return { name, roletype, iface: 'lo', ext: {}, enabled, group, order, includeDomains, site: 'A' };
}

describe('domain-tree partitioning', () => {
  const nested = new PartitionTable([
    inst('cs1', 'callstore', 1, 1, ['example.com']),
    inst('cs1b', 'callstore', 1, 2, ['example.com']),
    inst('cs2', 'callstore', 2, 1, ['sales.example.com']),
    inst('cs9', 'callstore', 9, 1, []),
    inst('vm1', 'vmail', 11390, 3, ['test.rootdomain.ru']),
  ]);

  it.each([
    ['eu.sales.example.com', 2, 'sales.example.com'],
    ['sales.example.com', 2, 'sales.example.com'],
    ['example.com', 1, 'example.com'],
    ['hr.example.com', 1, 'example.com'],
    ['ales.example.com', 1, 'example.com'],
    ['xexample.com', 9, null],
    ['com', 9, null],
    ['EU.Sales.Example.COM.', 2, 'sales.example.com'],
    ['example.com.', 1, 'example.com'],
    ['other.org', 9, null],
  ])('callstore %s → group %s', (domain, group, matched) => {
    expect(nested.lookup('callstore', domain)).toMatchObject({ group, matched });
  });

  it('follows the seeds: a vmail group for test.rootdomain.ru and no vmail default', () => {
    expect(nested.lookup('vmail', 'a.test.rootdomain.ru')).toMatchObject({ group: 11390, matched: 'test.rootdomain.ru' });
    expect(nested.lookup('vmail', 'rootdomain.ru')).toBeUndefined();
    expect(nested.lookup('vmail', 'xtest.rootdomain.ru')).toBeUndefined();
  });

  it('returns the members of the group in Active-Passive order', () => {
    expect(nested.lookup('callstore', 'hr.example.com')?.members.map((m) => m.name)).toEqual(['cs1', 'cs1b']);
  });

  it('counts a disabled instance beside enabled ones of its group neither as a member nor for its domains', () => {
    const t = new PartitionTable([inst('a', 'callstore', 1, 1, ['x.org']), inst('a2', 'callstore', 1, 2, ['y.org'], false), inst('b', 'callstore', 2, 1, [])]);
    expect(t.lookup('callstore', 'x.org')?.members.map((m) => m.name)).toEqual(['a']);
    expect(t.lookup('callstore', 'y.org')?.group).toBe(2);
  });

  it('keeps the domains of a group whose instances are all disabled, with no member (not served now), after the enabled claims', () => {
    const t = new PartitionTable([inst('a', 'callstore', 1, 1, ['x.org'], false), inst('b', 'callstore', 2, 1, []), inst('c', 'callstore', 3, 1, ['b.x.org']), inst('d', 'callstore', 4, 1, ['b.x.org'], false)]);
    expect(t.lookup('callstore', 'a.x.org')).toEqual({ group: 1, matched: 'x.org', members: [] });
    expect(t.lookup('callstore', 'b.x.org')?.group).toBe(3);
    expect(t.lookup('callstore', 'other.org')?.group).toBe(2);
    // a default group with every instance disabled is still the default group
    const d = new PartitionTable([inst('a', 'callstore', 1, 1, [], false), inst('c', 'callstore', 3, 1, ['c.org'])]);
    expect(d.lookup('callstore', 'other.org')).toEqual({ group: 1, matched: null, members: [] });
  });

  it('has no group for a roletype without instances', () => {
    expect(new PartitionTable([]).lookup('callstore', 'a.b')).toBeUndefined();
  });

  it('splits a domain into its subtrees on label boundaries', () => {
    expect(suffixesOf('a.b.example')).toEqual(['a.b.example', 'b.example', 'example']);
    expect(normalizeDomain(' A.B. ')).toBe('a.b');
  });
});

// Small alphabets make nesting and near-misses (ab.c vs b.c) frequent.
const label = fc.constantFrom('a', 'b', 'ab', 'c', 'x');
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));

/** Random callstore configurations: groups with distinct claimed domains, optionally a default. */
const config = fc
  .record({
    claims: fc.uniqueArray(domain, { maxLength: 8 }),
    groupCount: fc.integer({ min: 1, max: 4 }),
    withDefault: fc.boolean(),
  })
  .map(({ claims, groupCount, withDefault }) => {
    const byGroup = new Map<number, string[]>();
    claims.forEach((d, i) => byGroup.set((i % groupCount) + 1, [...(byGroup.get((i % groupCount) + 1) ?? []), d]));
    const instances = [...byGroup].map(([g, ds]) => inst(`c${g}`, 'callstore', g, 1, ds));
    if (withDefault) instances.push(inst('cdefault', 'callstore', 100, 1, []));
    return instances;
  });

/** Reference: the longest claimed suffix of the domain on label boundaries, by brute force. */
function reference(instances: ResolvedInstance[], d: string): number | undefined {
  let best: { len: number; group: number } | undefined;
  for (const i of instances) {
    for (const c of i.includeDomains) {
      if ((d === c || d.endsWith(`.${c}`)) && (!best || c.length > best.len)) best = { len: c.length, group: i.group };
    }
  }
  return best?.group ?? instances.find((i) => i.includeDomains.length === 0)?.group;
}

describe('partitioning properties', () => {
  it('maps every domain to exactly one group when a default exists: the longest claimed suffix, else the default', () => {
    fc.assert(
      fc.property(config, domain, (instances, d) => {
        const got = new PartitionTable(instances).lookup('callstore', d);
        const want = reference(instances, d);
        if (instances.some((i) => i.includeDomains.length === 0)) expect(got).toBeDefined();
        expect(got?.group).toBe(want);
      }),
      { numRuns: 500 },
    );
  });

  it('adding a domain to a group moves only that subtree', () => {
    fc.assert(
      fc.property(config, domain, fc.array(domain, { minLength: 1, maxLength: 20 }), (instances, added, probes) => {
        // A group that already claims domains: giving the default group a domain would end its being the default.
        const target = instances.find((i) => i.includeDomains.length > 0);
        fc.pre(target !== undefined && !instances.some((i) => i.includeDomains.includes(added)));
        if (!target) return;
        const before = new PartitionTable(instances);
        const after = new PartitionTable(instances.map((i) => (i === target ? { ...i, includeDomains: [...i.includeDomains, added] } : i)));
        for (const x of [...probes, added]) {
          const inSubtree = x === added || x.endsWith(`.${added}`);
          const was = before.lookup('callstore', x);
          const now = after.lookup('callstore', x);
          if (!inSubtree) expect(now?.group).toBe(was?.group);
          else if (was?.matched && was.matched.length > added.length) expect(now?.group).toBe(was.group);
          else expect(now?.group).toBe(target.group);
        }
      }),
      { numRuns: 500 },
    );
  });
});
