/**
 * The dashboard's view of each group's election (renderer/src/pages/dashboard/groups.ts): which
 * instance is active, on which site by name, and the term; from `groups` when the status reports
 * them, else from the instances' `active` flags.
 */
import { describe, expect, it } from 'vitest';
import type { GroupStatus, RoleInstanceStatus, SiteRef } from '../../shared/api/status.js';
import { groupElection, siteLabel } from '../../renderer/src/pages/dashboard/groups.js';
import { groupInstances, type RoleGroup } from '../../renderer/src/lib/roles.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const self: SiteRef = { id: A, name: 'Lakeside Office' };
const peers = [{ id: B, name: 'Hillcrest Branch' }];

const instance = (name: string, site: string, order: number, over: Partial<RoleInstanceStatus> = {}): RoleInstanceStatus => ({
  name,
  roletype: 'callstore',
  group: 1,
  order,
  site,
  includeDomains: [],
  enabled: true,
  state: site === A ? 'running' : 'remote',
  active: false,
  startedAt: null,
  ...over,
});
const groupOf = (instances: RoleInstanceStatus[]): RoleGroup => {
  const g = groupInstances(instances)[0]?.groups[0];
  if (!g) throw new Error('no group');
  return g;
};
const reported = (over: Partial<GroupStatus>): GroupStatus => ({ roletype: 'callstore', group: 1, active: null, activeSite: null, term: 0, since: null, state: 'none', ...over });

describe('the site of an instance', () => {
  it('is this site, a paired site by name, or the first group of an id no one named', () => {
    expect(siteLabel(A, self, peers)).toEqual({ name: 'Lakeside Office', self: true, known: true });
    // a configuration from before site ids names the site by its name
    expect(siteLabel('Lakeside Office', self, peers)).toMatchObject({ self: true });
    expect(siteLabel(B, self, peers)).toEqual({ name: 'Hillcrest Branch', self: false, known: true });
    expect(siteLabel(C, self, peers)).toEqual({ name: 'CCCCCCCC', self: false, known: false });
    expect(siteLabel(B, self, undefined)).toEqual({ name: 'BBBBBBBB', self: false, known: false });
    expect(siteLabel('branch-7', self, peers)).toEqual({ name: 'branch-7', self: false, known: false });
  });
});

describe('the election of a group', () => {
  const group = groupOf([instance('callstore1', A, 1), instance('callstore1hillcrest', B, 2)]);

  it('names the active instance, its site by name and the term, from the status’s groups', () => {
    const v = groupElection(group, 'callstore', [reported({ active: 'callstore1hillcrest', activeSite: B, term: 3, since: '2030-01-01T10:00:00.000Z', state: 'active' })], self, peers);
    expect(v).toMatchObject({ state: 'active', tone: 'success', label: 'Active', instance: 'callstore1hillcrest', site: { name: 'Hillcrest Branch', self: false }, term: 3, since: '2030-01-01T10:00:00.000Z' });
    expect(v.sentence).toBe('callstore1hillcrest on Hillcrest Branch is active, term 3.');
  });

  it('finds the site from the instance when the group names none, and matches the group by role type and number', () => {
    const v = groupElection(group, 'callstore', [reported({ roletype: 'vmail', active: 'x', state: 'active', term: 9 }), reported({ active: 'callstore1', state: 'active', term: 1 })], self, peers);
    expect(v).toMatchObject({ instance: 'callstore1', site: { name: 'Lakeside Office', self: true }, term: 1 });
    expect(v.sentence).toBe('callstore1 on Lakeside Office (this site) is active, term 1.');
  });

  it('says a takeover is under way, and that none can be active, with the term', () => {
    const t = groupElection(group, 'callstore', [reported({ active: 'callstore1hillcrest', activeSite: B, term: 4, state: 'takeover' })], self, peers);
    expect(t).toMatchObject({ state: 'takeover', tone: 'warning', label: 'Takeover under way', instance: 'callstore1hillcrest', term: 4 });
    expect(t.sentence).toBe('callstore1hillcrest on Hillcrest Branch is taking over, term 4.');
    const n = groupElection(group, 'callstore', [reported({ active: 'callstore1', activeSite: A, term: 4, state: 'none' })], self, peers);
    expect(n).toMatchObject({ state: 'none', tone: 'danger', label: 'No active instance', instance: null, site: null, term: 4 });
    expect(n.sentence).toMatch(/^No instance of this group can be active/);
  });

  it('without groups in the status, names the instance flagged active, without a term', () => {
    const flagged = groupOf([instance('callstore1', A, 1), instance('callstore1hillcrest', B, 2, { active: true })]);
    expect(groupElection(flagged, 'callstore', undefined, self, peers)).toMatchObject({ state: 'active', instance: 'callstore1hillcrest', site: { name: 'Hillcrest Branch' }, term: null, since: null });
    // a status whose groups do not have this one: the same
    expect(groupElection(flagged, 'callstore', [reported({ group: 2 })], self, peers)).toMatchObject({ instance: 'callstore1hillcrest', term: null });
    const none = groupElection(group, 'callstore', undefined, self, peers);
    expect(none).toMatchObject({ state: 'none', label: 'No active instance', instance: null, term: null });
    expect(none.sentence).toBe('No instance of this group is active.');
  });
});
