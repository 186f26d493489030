import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, runCli, startService, tempDir, type RunningTestService } from '../support/service.js';

async function api(svc: RunningTestService, path: string, init: RequestInit & { token?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  if (typeof init.body === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const res = await fetch(svc.url + path, { ...init, headers });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { res, text, json: json as Record<string, any> };
}

describe('the service process', () => {
  let svc: RunningTestService;
  let admin: string;

  beforeAll(async () => {
    svc = await startService();
    admin = await login(svc);
  });
  afterAll(async () => {
    expect(await svc.stop()).toBe(0);
  });

  it('answers /healthz without auth with status, site and version', async () => {
    const { res, json } = await api(svc, '/healthz');
    expect(res.status).toBe(200);
    const { tasks, ...rest } = json as { tasks?: unknown };
    expect(rest).toEqual({ status: 'ok', site: expect.any(String), version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    // the background work after the start (the vmail store check), running or done
    expect(tasks).toEqual([expect.objectContaining({ component: expect.stringMatching(/^vmail /), task: 'store check', state: expect.stringMatching(/^(running|done)$/) })]);
  });

  it('logs in and returns a bearer token with an expiry', async () => {
    const { res, json } = await api(svc, '/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'admin', password: svc.adminPassword }) });
    expect(res.status).toBe(200);
    expect(json['token']).toMatch(/^scs_/);
    const expiresIn = Date.parse(json['expiresAt']) - Date.now();
    expect(expiresIn).toBeGreaterThan(60 * 60_000);
    expect(json['scopes']).toEqual(['admin']);
  });

  it('refuses a wrong password and an unknown user with the same 401, naming neither', async () => {
    const wrongPassword = await api(svc, '/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'admin', password: 'nope' }) });
    const unknownUser = await api(svc, '/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'mallory', password: 'nope' }) });
    for (const r of [wrongPassword, unknownUser]) {
      expect(r.res.status).toBe(401);
      expect(r.json).toEqual({ error: { code: 'unauthorized', message: 'Wrong user name or password.' } });
    }
  });

  it('needs auth on every API route, /metrics included', async () => {
    for (const path of ['/api/v1/status', '/api/v1/tokens', '/api/v1/auth/me', '/metrics', '/api/v1/openapi.json']) {
      const { res, json } = await api(svc, path);
      expect(res.status, path).toBe(401);
      expect(json['error']['code']).toBe('unauthorized');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const bad = await api(svc, '/api/v1/status', { token: 'scs_forged' });
    expect(bad.res.status).toBe(401);
  });

  it('shows the site, version, uptime and the default role instances on /api/v1/status', async () => {
    const { res, json } = await api(svc, '/api/v1/status', { token: admin });
    expect(res.status).toBe(200);
    expect(json['configRevision']).toBe(1);
    expect(json['uptimeSec']).toBeGreaterThanOrEqual(0);
    const instances = json['instances'] as Array<Record<string, unknown>>;
    expect(instances.map((i) => [i['name'], i['roletype'], i['group'], i['state'], i['active'], i['includeDomains']])).toEqual([
      ['callstore1', 'callstore', 1, 'running', true, []],
      ['vmail1', 'vmail', 2, 'running', true, []],
    ]);
    expect(instances.every((i) => i['site'] === json['site']['id'])).toBe(true);
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const { res, json } = await api(svc, '/api/v1/auth/login', { method: 'POST', body: '{"username": "admin",' });
    expect(res.status).toBe(400);
    expect(json['error']['code']).toBe('invalid_json');
    expect(json['error']['message']).toMatch(/not valid JSON/);
  });

  it('answers a body over the limit with 413', async () => {
    const big = JSON.stringify({ username: 'admin', password: 'x'.repeat(1024 * 1024 + 10) });
    const { res, json } = await api(svc, '/api/v1/auth/login', { method: 'POST', body: big });
    expect(res.status).toBe(413);
    expect(json['error']).toEqual({ code: 'payload_too_large', message: 'The request body is larger than the limit of 1048576 bytes.' });
  });

  it('answers an unknown API route with 404 in the error shape', async () => {
    const { res, json } = await api(svc, '/api/v1/no-such-thing', { token: admin });
    expect(res.status).toBe(404);
    expect(json['error']['code']).toBe('not_found');
  });

  it('lists every problem of an invalid body with its JSON path', async () => {
    const { res, json } = await api(svc, '/api/v1/tokens', { method: 'POST', token: admin, body: JSON.stringify({ scopes: ['events', 'root'], colour: 'red' }) });
    expect(res.status).toBe(400);
    expect(json['error']['code']).toBe('invalid_request');
    const paths = (json['error']['details'] as { path: string }[]).map((d) => d.path).sort();
    expect(paths).toEqual(['/colour', '/name', '/scopes/1']);
  });

  it('enforces the scopes of API tokens and forgets revoked ones', async () => {
    const events = await api(svc, '/api/v1/tokens', { method: 'POST', token: admin, body: JSON.stringify({ name: 'kamailio', scopes: ['events'] }) });
    expect(events.res.status).toBe(201);
    expect(events.json['token']).toMatch(/^sct_/);
    const read = await api(svc, '/api/v1/tokens', { method: 'POST', token: admin, body: JSON.stringify({ name: 'grafana', scopes: ['read'] }) });

    const forbidden = await api(svc, '/api/v1/status', { token: events.json['token'] });
    expect(forbidden.res.status).toBe(403);
    expect(forbidden.json['error']['message']).toMatch(/lacks the "read" scope/);
    expect((await api(svc, '/api/v1/status', { token: read.json['token'] })).res.status).toBe(200);
    expect((await api(svc, '/api/v1/tokens', { token: read.json['token'] })).res.status).toBe(403);

    const list = await api(svc, '/api/v1/tokens', { token: admin });
    const names = (list.json['items'] as { name: string }[]).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['kamailio', 'grafana']));
    expect(list.text).not.toContain(events.json['token']);
    expect(list.text).not.toMatch(/secretHash|sct_/);

    expect((await api(svc, `/api/v1/tokens/${read.json['id']}`, { method: 'DELETE', token: admin })).res.status).toBe(204);
    expect((await api(svc, '/api/v1/status', { token: read.json['token'] })).res.status).toBe(401);
    expect((await api(svc, `/api/v1/tokens/${read.json['id']}`, { method: 'DELETE', token: admin })).res.status).toBe(404);
  });

  it('serves Prometheus metrics with request counts and latencies', async () => {
    const { res, text } = await api(svc, '/metrics', { token: admin });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(text).toMatch(/sitecall_http_requests_total\{method="GET",route="\/api\/v1\/status",status="200",app="sitecall"\} \d+/);
    expect(text).toMatch(/sitecall_http_request_duration_seconds_bucket\{.*route="\/api\/v1\/auth\/login"/);
    expect(text).not.toMatch(/route="\/api\/v1\/tokens\/[0-9a-f-]{36}"/);
  });

  it('serves an OpenAPI document built from the route schemas', async () => {
    const { json } = await api(svc, '/api/v1/openapi.json', { token: admin });
    expect(json['openapi']).toBe('3.1.0');
    expect(Object.keys(json['paths'])).toEqual(expect.arrayContaining(['/healthz', '/api/v1/auth/login', '/api/v1/tokens', '/api/v1/tokens/{id}']));
    expect(json['paths']['/api/v1/tokens']['post']['requestBody']['content']['application/json']['schema']['required']).toEqual(['name', 'scopes']);
  });

  it('serves the console without auth, with client routes falling back to index.html', async () => {
    for (const path of ['/', '/calls']) {
      const { res, text } = await api(svc, path, { headers: { accept: 'text/html' } });
      expect(res.status, path).toBe(200);
      expect(text).toMatch(/<div id="root">/);
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    }
  });

  it('ends the session on logout', async () => {
    const token = await login(svc);
    expect((await api(svc, '/api/v1/auth/logout', { method: 'POST', token })).res.status).toBe(204);
    expect((await api(svc, '/api/v1/auth/me', { token })).res.status).toBe(401);
  });
});

describe('login rate limit', () => {
  it('answers 429 with Retry-After after 10 failed attempts from one address', async () => {
    const svc = await startService();
    try {
      const attempt = () => api(svc, '/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'admin', password: 'guess' }) });
      for (let i = 0; i < 10; i++) expect((await attempt()).res.status).toBe(401);
      const limited = await attempt();
      expect(limited.res.status).toBe(429);
      expect(limited.json['error']['code']).toBe('rate_limited');
      expect(Number(limited.res.headers.get('retry-after'))).toBeGreaterThan(0);
      // even the right password waits: the attacker must not learn it by trying on
      const right = await api(svc, '/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'admin', password: svc.adminPassword }) });
      expect(right.res.status).toBe(429);
    } finally {
      await svc.stop();
    }
  });
});

describe('start-up and shutdown', () => {
  it('generates the admin password on first start, prints it once and keeps it in an owner-only file', async () => {
    const svc = await startService({ adminPassword: null });
    try {
      expect(svc.adminPassword).toMatch(/^[A-Za-z0-9]{20}$/);
      const file = join(svc.dataDir, 'initial-admin-password');
      expect(readFileSync(file, 'utf8').trim()).toBe(svc.adminPassword);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      await login(svc);
      expect(svc.logs().split(svc.adminPassword).length - 1).toBe(1);
    } finally {
      await svc.stop();
    }
  });

  it('stops on SIGTERM with exit 0 and keeps everything for the next start', async () => {
    const first = await startService();
    const admin = await login(first);
    const created = await (
      await fetch(`${first.url}/api/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'pbx', scopes: ['read'] }),
      })
    ).json();
    const status1 = await (await fetch(`${first.url}/api/v1/status`, { headers: { authorization: `Bearer ${admin}` } })).json();
    expect(await first.stop({ keepData: true })).toBe(0);
    expect(first.logs()).toMatch(/"msg":"stopped"/);
    expect(existsSync(join(first.dataDir, 'sitecall.lock'))).toBe(false);

    // The password in the environment only counts on the first start.
    const second = await startService({ dataDir: first.dataDir, adminPassword: 'another-password' });
    try {
      const status2 = await (await fetch(`${second.url}/api/v1/status`, { headers: { authorization: `Bearer ${created.token}` } })).json();
      expect(status2.site).toEqual(status1.site);
      expect(await login({ url: second.url, adminPassword: first.adminPassword })).toMatch(/^scs_/);
      const res = await fetch(`${second.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'another-password' }) });
      expect(res.status).toBe(401);
    } finally {
      await second.stop();
    }
  });

  it('refuses a taken port with one sentence and exit code 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = await runCli(['start', '--port', String(port), '--data-dir', join(tempDir(), 'data')], { SITECALL_ADMIN_PASSWORD: 'test-admin-password' });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`sitecall: Port ${port} on 127.0.0.1 is already in use by another program: stop it or choose another port with --port or SITECALL_PORT.\n`);
    } finally {
      blocker.close();
    }
  });

  it('refuses an unwritable data directory with one sentence and exit code 1', async () => {
    const blocker = join(tempDir(), 'a-file');
    writeFileSync(blocker, 'not a directory');
    const run = await runCli(['start', '--port', '0', '--data-dir', join(blocker, 'data')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^sitecall: Cannot write to the data directory .*a-file\/data: a part of the path is a file, not a directory \(ENOTDIR\)\. Choose another with --data-dir or SITECALL_DATA_DIR\.\n$/);
  });

  it('refuses bad settings from flags, environment and config file, naming where they came from', async () => {
    const dir = tempDir();
    const flag = await runCli(['start', '--port', 'eighty', '--data-dir', dir]);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/^sitecall: Invalid setting --port in the command line: must be integer\.\n$/);
    const env = await runCli(['start', '--data-dir', dir], { SITECALL_PORT: '70000' });
    expect(env.stderr).toMatch(/^sitecall: Invalid setting SITECALL_PORT in the environment: must be <= 65535\.\n$/);
    const file = join(dir, 'sitecall.json');
    writeFileSync(file, JSON.stringify({ port: 7090, hots: 'x' }));
    const cfg = await runCli(['start', '--config', file]);
    expect(cfg.stderr).toBe(`sitecall: Invalid setting hots in the config file ${file}: is not a known field.\n`);
    const unknown = await runCli(['start', '--colour', 'red']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^sitecall: Unknown option '--colour'\. Run "sitecall start --help" for the options\.\n$/);
  });

  it('takes settings from a config file, overridden by env, overridden by flags', async () => {
    const dir = tempDir();
    const file = join(dir, 'sitecall.json');
    writeFileSync(file, JSON.stringify({ siteName: 'from-file', dataDir: join(dir, 'data') }));
    const svc = await startService({ args: ['--config', file], dataDir: join(dir, 'data'), env: { SITECALL_SITE_NAME: 'from-env' } });
    try {
      expect((await (await fetch(`${svc.url}/healthz`)).json()).site).toBe('from-env');
    } finally {
      await svc.stop();
    }
  });

  it('refuses a second service on the same data directory', async () => {
    const svc = await startService();
    try {
      const run = await runCli(['start', '--port', '0', '--data-dir', svc.dataDir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^sitecall: Another Sitecall service \(pid \d+\) is already using the data directory/);
    } finally {
      await svc.stop();
    }
  });

  it('sets a new admin password from the CLI while the service is stopped', async () => {
    const svc = await startService({ adminPassword: null });
    await svc.stop({ keepData: true });
    const run = await runCli(['admin', 'password', '--data-dir', svc.dataDir], { SITECALL_ADMIN_PASSWORD: 'brand-new-password' });
    expect(run.code).toBe(0);
    expect(existsSync(join(svc.dataDir, 'initial-admin-password'))).toBe(false);
    const again = await startService({ dataDir: svc.dataDir, adminPassword: null });
    try {
      expect(await login({ url: again.url, adminPassword: 'brand-new-password' })).toMatch(/^scs_/);
    } finally {
      await again.stop();
    }
  });
});
