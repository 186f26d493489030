import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { freePort, login, runCli, startService, tempDir, type RunningTestService } from '../support/service.js';

function file(content: unknown): string {
  const path = join(tempDir(), 'roles.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('sitecall config validate', () => {
  const dataDir = join(tempDir(), 'none');

  it('exits 0 on a clean file', async () => {
    const run = await runCli(['config', 'validate', file({ instances: [cs(), vm()] }), '--data-dir', dataDir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/no problems \(2 instances\)/);
  });

  it('exits 1 and prints every problem one a line', async () => {
    const run = await runCli(['config', 'validate', file([cs({ name: '1x' }), cs({ name: 'b', include_domains: ['a..b'] }), vm({ state_save: 'none' })]), '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split('\n')).toEqual([
      'error /instances/0/name: must match pattern "^[A-Za-z][A-Za-z0-9]*$"',
      'error /instances/2/state_save: applies only to callstore instances, not to vmail',
      'error /instances/1/include_domains/0: "a..b" has an empty label (two dots in a row, or a leading dot)',
    ]);
  });

  it('treats warnings as problems unless --allow-warnings', async () => {
    const path = file({ instances: [cs()] });
    expect((await runCli(['config', 'validate', path, '--data-dir', dataDir])).code).toBe(1);
    const allowed = await runCli(['config', 'validate', path, '--data-dir', dataDir, '--allow-warnings']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toBe('warning /instances: no enabled vmail instance: no voicemail is served\n');
  });

  it('says clearly when the file is missing or not a configuration', async () => {
    const missing = await runCli(['config', 'validate', '/nonexistent/roles.json']);
    expect([missing.code, missing.stderr]).toEqual([1, 'sitecall: Cannot read /nonexistent/roles.json: ENOENT.\n']);
    const notJson = await runCli(['config', 'validate', file('{')]);
    expect(notJson.stderr).toMatch(/is not valid JSON/);
    const wrong = await runCli(['config', 'validate', file({ roles: [] })]);
    expect(wrong.stderr).toMatch(/must hold \{"instances": \[\.\.\.\]\}/);
  });
});

describe('sitecall config export and import', () => {
  let svc: RunningTestService;
  let token: string;

  beforeAll(async () => {
    svc = await startService();
    const api = apiClient(svc.url, await login(svc));
    token = (await api.post('/api/v1/tokens', { name: 'cli', scopes: ['admin'] })).body.token;
  });
  afterAll(async () => {
    await svc.stop();
  });

  it('exports, imports a changed file, and refuses a stale one without --force', async () => {
    const exported = await runCli(['config', 'export', '--url', svc.url], { SITECALL_TOKEN: token });
    expect(exported.code).toBe(0);
    const config = JSON.parse(exported.stdout);
    expect(config.revision).toBe(1);

    config.instances.push(cs({ name: 'callstore2', order: 2, site: undefined }));
    const path = file(config);
    const imported = await runCli(['config', 'import', path, '--url', svc.url, '--token', token]);
    expect(imported.stdout).toBe('Imported 3 instances: the configuration is now at revision 2.\n');
    expect(imported.code).toBe(0);

    // The same file again: it was exported at revision 1, the service is now at 2.
    const stale = await runCli(['config', 'import', path, '--url', svc.url, '--token', token]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/exported at revision 1, but the service is at revision 2/);
    const forced = await runCli(['config', 'import', path, '--url', svc.url, '--token', token, '--force']);
    expect(forced.stdout).toMatch(/now at revision 3/);
  });

  it('prints the service’s problems and changes nothing on an invalid import', async () => {
    const run = await runCli(['config', 'import', file([cs(), cs({ name: 'b' })]), '--url', svc.url, '--token', token]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'sitecall: The configuration has 1 error; nothing was changed.\nerror /instances/1/order: 1 is already the order of /instances/0 in group 1; orders are unique in a group\n',
    );
  });

  it('needs a token and a reachable service', async () => {
    const noToken = await runCli(['config', 'export', '--url', svc.url], { SITECALL_TOKEN: '' });
    expect(noToken.stderr).toMatch(/pass an API token with the admin scope/);
    const closed = await freePort();
    const down = await runCli(['config', 'export', '--url', `http://127.0.0.1:${closed}`], { SITECALL_TOKEN: token });
    expect(down.stderr).toBe(`sitecall: Cannot reach the service at http://127.0.0.1:${closed}: ECONNREFUSED. Is it running? (--url)\n`);
  });
});
