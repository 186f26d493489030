import { describe, expect, it } from 'vitest';
import { validateRolesConfig, type ValidationContext } from '../../service/config/validate.js';
import { cs, RULE_CASES, vm } from '../support/config-cases.js';

const ctx: ValidationContext = {
  selfSiteId: 'site-a',
  sites: new Map([
    ['site-a', { name: 'office', interfaces: ['lo', 'eth0'] }],
    ['site-b', { name: 'branch', interfaces: ['lo', 'ens3'] }],
  ]),
};

function problems(instances: unknown[], ifaceAliases?: unknown) {
  return validateRolesConfig({ instances, ...(ifaceAliases !== undefined ? { ifaceAliases } : {}) }, ctx).problems;
}
function errors(instances: unknown[], ifaceAliases?: unknown) {
  return problems(instances, ifaceAliases).filter((p) => p.severity === 'error').map((p) => `${p.path}: ${p.message}`);
}

describe('role configuration validation', () => {
  it('accepts the default configuration without a problem', () => {
    const result = validateRolesConfig({ instances: [cs(), vm()] }, ctx);
    expect(result.problems).toEqual([]);
    expect(result.valid?.instances).toHaveLength(2);
  });

  it.each(RULE_CASES)('refuses %s', (_what, instances, expected, aliases) => {
    expect(errors(instances, aliases)).toContain(expected);
  });

  it('accepts an alias the site defines, and an interface of the instance’s own site', () => {
    expect(errors([cs({ iface: 'internal' }), vm({ iface: 'ens3', site: 'site-b' })], { 'site-a': { internal: 'eth0' } })).toEqual([]);
  });

  it('neither validates nor counts disabled instances, but still checks their shape', () => {
    expect(errors([cs(), cs({ name: 'cs2', iface: 'nope', enabled: false, include_domains: ['bad..x'] })])).toEqual([]);
    expect(errors([cs(), cs({ name: 'cs2', enabled: false, order: 'x' })])).toEqual(['/instances/1/order: must be integer']);
  });

  it('reports every problem at once', () => {
    const all = errors([cs({ name: '9', iface: 'nope' }), vm({ cdr_mode: 'all', include_domains: ['a..b'] })]);
    expect(all).toHaveLength(4);
  });

  it('treats domains case-insensitively with the trailing dot ignored', () => {
    expect(errors([cs({ include_domains: ['Example.COM.'] }), cs({ name: 'b', group: 2, include_domains: ['example.com'] })])).toHaveLength(1);
  });

  it('allows nested domains in different groups', () => {
    expect(errors([cs({ include_domains: ['example.com'] }), cs({ name: 'b', group: 2, include_domains: ['sales.example.com'] }), cs({ name: 'c', group: 3 })])).toEqual([]);
  });

  it('warns when a roletype has no default group, or no instance at all', () => {
    const warnings = problems([cs({ include_domains: ['a.com'] })]).filter((p) => p.severity === 'warning');
    expect(warnings).toEqual([
      { severity: 'warning', path: '/instances', message: 'no default callstore group (one with empty include_domains): domains outside a.com are served by no callstore instance' },
      { severity: 'warning', path: '/instances', message: 'no enabled vmail instance: no voicemail is served' },
    ]);
    expect(validateRolesConfig({ instances: [cs({ include_domains: ['a.com'] })] }, ctx).valid).toBeDefined();
  });

  it('warns about a domain listed twice in one instance', () => {
    expect(problems([cs({ include_domains: ['a.com', 'A.COM'] }), cs({ name: 'd', group: 9 }), vm()])).toEqual([
      { severity: 'warning', path: '/instances/0/include_domains/1', message: '"A.COM" is listed twice' },
    ]);
  });
});

describe('an instance whose shape is wrong', () => {
  it('still has its other fields checked, so every problem shows at once', () => {
    expect(errors([cs({ name: '2bad', iface: 'wlan9', include_domains: ['a..b'], ext: { resync_timeout: 0 } }), vm()])).toEqual([
      '/instances/0/name: must match pattern "^[A-Za-z][A-Za-z0-9]*$"',
      '/instances/0/iface: "wlan9" is neither an interface of site office nor an alias it defines (known: lo, eth0)',
      '/instances/0/ext/resync_timeout: must be a number of seconds greater than 0',
      '/instances/0/include_domains/0: "a..b" has an empty label (two dots in a row, or a leading dot)',
    ]);
  });

  it('is not checked further when disabled', () => {
    expect(errors([cs(), cs({ name: '2bad', enabled: false, iface: 'wlan9' })])).toEqual(['/instances/1/name: must match pattern "^[A-Za-z][A-Za-z0-9]*$"']);
  });
});
