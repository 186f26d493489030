import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { activeInstanceOf, activeInstances } from '../../service/config/partition.js';
import type { ResolvedInstance } from '../../service/config/roles.js';

function instance(name: string, group: number, order: number, enabled = true, site = 'A'): ResolvedInstance {
  return { name, roletype: 'callstore', iface: 'lo', ext: {}, enabled, group, order, includeDomains: [], site };
}

describe('Active-Passive within a group', () => {
  const up = (s: string) => s === 'A';

  it('picks the enabled instance with the lowest order on a site that is up', () => {
    const members = [instance('c3', 1, 3), instance('c1', 1, 1, false), instance('c2', 1, 2, true, 'B'), instance('c4', 1, 4)];
    expect(activeInstanceOf(members, up)?.name).toBe('c3');
    expect(activeInstanceOf(members, () => true)?.name).toBe('c2');
    expect(activeInstanceOf([instance('x', 1, 1, false)], up)).toBeUndefined();
  });

  it('has one active instance per group', () => {
    expect([...activeInstances([instance('a', 1, 2), instance('b', 1, 1), instance('c', 2, 5)], up)].sort()).toEqual(['b', 'c']);
  });

  it('property: the active instance is enabled, up, and no eligible member has a lower order', () => {
    const member = fc.record({ order: fc.integer({ min: -5, max: 50 }), enabled: fc.boolean(), site: fc.constantFrom('A', 'B', 'C') });
    fc.assert(
      fc.property(fc.array(member, { maxLength: 12 }), fc.subarray(['A', 'B', 'C']), (spec, upSites) => {
        const members = spec.map((m, i) => instance(`i${i}`, 7, m.order, m.enabled, m.site));
        const isUp = (s: string) => upSites.includes(s);
        const eligible = members.filter((m) => m.enabled && isUp(m.site));
        const active = activeInstanceOf(members, isUp);
        if (eligible.length === 0) return active === undefined;
        return active !== undefined && eligible.includes(active) && eligible.every((m) => m.order >= active.order);
      }),
    );
  });
});
