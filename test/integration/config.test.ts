import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { cs, RULE_CASES, vm } from '../support/config-cases.js';
import { login, startService, type RunningTestService } from '../support/service.js';

describe('role configuration API', () => {
  let svc: RunningTestService;
  let api: ReturnType<typeof apiClient>;
  let siteId: string;

  beforeAll(async () => {
    svc = await startService();
    api = apiClient(svc.url, await login(svc));
    siteId = (await api.get('/api/v1/status')).body.site.id;
  });
  afterAll(async () => {
    await svc.stop();
  });

  it('starts from the embedded default at revision 1', async () => {
    const { status, body } = await api.get('/api/v1/config/roles');
    expect(status).toBe(200);
    expect(body.revision).toBe(1);
    expect(body.instances.map((i: { name: string; group: number; include_domains: string[]; site: string }) => [i.name, i.group, i.include_domains, i.site])).toEqual([
      ['callstore1', 1, [], siteId],
      ['vmail1', 2, [], siteId],
    ]);
  });

  // The rule cases that do not depend on the unit tests' made-up sites and aliases.
  const portable = RULE_CASES.filter(([, instances, , aliases]) => aliases === undefined && !JSON.stringify(instances).includes('site-b'));

  it.each(portable)('validates and refuses %s, storing nothing', async (_what, instances, expected) => {
    const [path, ...rest] = expected.split(': ');
    const message = rest.join(': ');
    const siteSpecific = /office|eth0|site-/.test(message);

    const validated = await api.post('/api/v1/config/validate', { instances });
    expect(validated.status).toBe(200);
    const problem = validated.body.problems.find((p: { path: string; severity: string }) => p.path === path && p.severity === 'error');
    expect(problem, JSON.stringify(validated.body.problems)).toBeDefined();
    if (!siteSpecific) expect(problem.message).toBe(message);

    const before = (await api.get('/api/v1/config/roles')).body;
    const put = await api.put('/api/v1/config/roles', { revision: before.revision, instances });
    expect(put.status).toBe(400);
    expect(put.body.error.code).toBe('invalid_request');
    expect(put.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect((await api.get('/api/v1/config/roles')).body).toEqual(before);
  });

  it('refuses unknown top-level keys and a body that is not a configuration', async () => {
    const put = await api.put('/api/v1/config/roles', { revision: 1, instances: [], instancez: [] });
    expect(put.status).toBe(400);
    expect(put.body.error.details).toEqual([{ path: '/instancez', message: 'is not a known field' }]);
    const noRevision = await api.put('/api/v1/config/roles', { instances: [cs(), vm()] });
    expect(noRevision.body.error.details).toEqual([{ path: '/revision', message: 'is required' }]);
  });

  it('answers a stale revision with 409 and keeps the stored configuration', async () => {
    const before = (await api.get('/api/v1/config/roles')).body;
    const put = await api.put('/api/v1/config/roles', { revision: before.revision - 1, instances: [cs(), vm({ name: 'vmail7' })] });
    expect(put.status).toBe(409);
    expect(put.body.error.code).toBe('conflict');
    expect(put.body.error.message).toMatch(/changed by someone else/);
    expect(put.body.error.details).toEqual([{ path: '/revision', message: `is ${before.revision - 1}; the current revision is ${before.revision}` }]);
    expect((await api.get('/api/v1/config/roles')).body).toEqual(before);
  });

  it('lets only one of two concurrent saves of one revision win', async () => {
    const { revision } = (await api.get('/api/v1/config/roles')).body;
    const [a, b] = await Promise.all([
      api.put('/api/v1/config/roles', { revision, instances: [cs(), vm()] }),
      api.put('/api/v1/config/roles', { revision, instances: [cs(), vm()] }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
  });

  it('applies a saved configuration at once: instances start, stop and change without a restart', async () => {
    const { revision } = (await api.get('/api/v1/config/roles')).body;
    const saved = await api.put('/api/v1/config/roles', {
      revision,
      instances: [
        cs(),
        cs({ name: 'callstore2', order: 2 }),
        cs({ name: 'callstore3', group: 20, include_domains: ['sales.example.com'], state_save: 'transactional' }),
        vm(),
        vm({ name: 'vmail2', group: 3, include_domains: ['example.com'], enabled: false }),
      ],
    });
    expect(saved.status).toBe(200);
    expect(saved.body.revision).toBe(revision + 1);
    expect(saved.body.warnings).toEqual([]);

    const status = (await api.get('/api/v1/status')).body;
    expect(status.configRevision).toBe(revision + 1);
    const view = Object.fromEntries(status.instances.map((i: { name: string; state: string; active: boolean; group: number }) => [i.name, [i.group, i.state, i.active]]));
    expect(view).toEqual({
      callstore1: [1, 'running', true],
      callstore2: [1, 'running', false],
      callstore3: [20, 'running', true],
      vmail1: [2, 'running', true],
      vmail2: [3, 'disabled', false],
    });

    const next = await api.put('/api/v1/config/roles', { revision: revision + 1, instances: [cs({ order: 5 }), cs({ name: 'callstore2', order: 2 }), vm({ enabled: false })] });
    expect(next.status).toBe(200);
    expect(next.body.warnings.map((w: { message: string }) => w.message)).toEqual(['no enabled vmail instance: no voicemail is served']);
    const after = (await api.get('/api/v1/status')).body.instances;
    expect(after.map((i: { name: string; state: string; active: boolean }) => [i.name, i.state, i.active])).toEqual([
      ['callstore1', 'running', false],
      ['callstore2', 'running', true],
      ['vmail1', 'disabled', false],
    ]);
  });

  it('answers which group and instance serve a domain', async () => {
    const { revision } = (await api.get('/api/v1/config/roles')).body;
    expect(
      (
        await api.put('/api/v1/config/roles', {
          revision,
          instances: [
            cs({ name: 'cs1', group: 1, include_domains: ['example.com'] }),
            cs({ name: 'cs1b', group: 1, order: 2, include_domains: ['example.com'] }),
            cs({ name: 'cs2', group: 2, include_domains: ['sales.example.com'] }),
            cs({ name: 'csdefault', group: 9 }),
            vm({ group: 30, include_domains: ['example.com'] }),
          ],
        })
      ).status,
    ).toBe(200);
    const q = (roletype: string, domain: string) => api.get(`/api/v1/config/partition?roletype=${roletype}&domain=${encodeURIComponent(domain)}`);
    expect((await q('callstore', 'EU.sales.example.com.')).body).toEqual({ domain: 'eu.sales.example.com', group: 2, matched: 'sales.example.com', instances: ['cs2'], active: 'cs2' });
    expect((await q('callstore', 'hr.example.com')).body).toEqual({ domain: 'hr.example.com', group: 1, matched: 'example.com', instances: ['cs1', 'cs1b'], active: 'cs1' });
    expect((await q('callstore', 'xexample.com')).body).toMatchObject({ group: 9, matched: null, active: 'csdefault' });
    expect((await q('vmail', 'other.org')).body).toEqual({ domain: 'other.org', group: null, matched: null, instances: [], active: null });

    const bad = await q('callstore', 'a..b');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe('The domain "a..b" has an empty label (two dots in a row, or a leading dot).');
    const badRole = await q('pbx', 'a.b');
    expect(badRole.status).toBe(400);
    expect(badRole.body.error.details[0].path).toBe('/roletype');
  });

  it('lists this site’s interfaces for the iface field', async () => {
    const { body } = await api.get('/api/v1/config/interfaces');
    expect(body.site).toBe(siteId);
    expect(body.interfaces.map((i: { name: string }) => i.name)).toContain('lo');
  });

  it('accepts an interface alias the site defines', async () => {
    const { revision } = (await api.get('/api/v1/config/roles')).body;
    const put = await api.put('/api/v1/config/roles', { revision, instances: [cs({ iface: 'internal' }), vm()], ifaceAliases: { [siteId]: { internal: 'lo' } } });
    expect(put.status).toBe(200);
    expect((await api.get('/api/v1/config/interfaces')).body.aliases).toEqual({ internal: 'lo' });
  });

  it('never shows secrets in ext, and keeps them when the redacted configuration is saved back', async () => {
    const { revision } = (await api.get('/api/v1/config/roles')).body;
    const smtp = { host: '127.0.0.1', port: 2525, user: 'vm', pass: 'hunter2-secret' };
    const put = await api.put('/api/v1/config/roles', { revision, instances: [cs(), vm({ ext: { smtp } })] });
    expect(put.status).toBe(200);
    expect(put.text).not.toContain('hunter2');
    const shown = (await api.get('/api/v1/config/roles')).body;
    expect(shown.instances[1].ext.smtp).toEqual({ ...smtp, pass: '********' });
    // the console saves what it was shown: the secret stays
    expect((await api.put('/api/v1/config/roles', { revision: shown.revision, instances: shown.instances })).status).toBe(200);
    const stored = readFileSync(join(svc.dataDir, 'db', 'config.db'), 'utf8').trim().split('\n').at(-1) ?? '';
    expect(stored).toContain('hunter2-secret');
    expect(stored).not.toContain('********');
  });

  it('needs the admin scope to change the configuration', async () => {
    const token = (await api.post('/api/v1/tokens', { name: 'viewer', scopes: ['read'] })).body.token;
    const reader = apiClient(svc.url, token);
    expect((await reader.get('/api/v1/config/roles')).status).toBe(200);
    const { revision } = (await reader.get('/api/v1/config/roles')).body;
    expect((await reader.put('/api/v1/config/roles', { revision, instances: [cs(), vm()] })).status).toBe(403);
  });
});

describe('role configuration across a restart', () => {
  it('keeps the saved configuration and revision and starts the saved instances', async () => {
    const first = await startService();
    const api = apiClient(first.url, await login(first));
    const saved = await api.put('/api/v1/config/roles', { revision: 1, instances: [cs(), cs({ name: 'callstore2', order: 2 }), vm()] });
    expect(saved.status).toBe(200);
    await first.stop({ keepData: true });

    const second = await startService({ dataDir: first.dataDir });
    try {
      const api2 = apiClient(second.url, await login(second));
      expect((await api2.get('/api/v1/config/roles')).body).toMatchObject({ revision: 2 });
      const names = (await api2.get('/api/v1/status')).body.instances.filter((i: { state: string }) => i.state === 'running').map((i: { name: string }) => i.name);
      expect(names).toEqual(['callstore1', 'callstore2', 'vmail1']);
    } finally {
      await second.stop();
    }
  });
});
