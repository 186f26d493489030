import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiResponse } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually } from '../support/events-client.js';
import { freePort, runCli, startService, tempDir, type RunningTestService } from '../support/service.js';
import { makeWav, vmailClient } from '../support/vmail.js';

/**
 * Issue 15: a secret set anywhere a secret can go never leaves the service, whatever way out:
 * the live feed (to a `read` token), every REST answer that shows configuration, the process's
 * own output at debug level, the config export, the e-mail the smtp password sends. Each secret is
 * a unique random string; every byte that came out is searched for each of them.
 */

const MARK = '********';
/** label → value; every value is unique, so finding one anywhere is a leak, whatever the context. */
const secrets = new Map<string, string>();
const secret = (label: string): string => {
  const value = `${label}-${randomBytes(12).toString('base64url')}`;
  secrets.set(label, value);
  return value;
};
const digits = (label: string): string => {
  const value = Array.from({ length: 16 }, () => randomInt(10)).join('');
  secrets.set(label, value);
  return value;
};

const numericSecret = (label: string): number => {
  const value = randomInt(100_000_000, 1_000_000_000);
  secrets.set(label, String(value));
  return value;
};

/** Everything that came out of the service, by where it came from. */
const outputs: { where: string; text: string }[] = [];
const keep = (where: string, r: ApiResponse | { text: string }) => {
  outputs.push({ where, text: r.text });
  return r;
};

interface LiveClient {
  frames: string[];
  close(): void;
}

function openLive(url: string, token: string, how: 'query' | 'header'): Promise<LiveClient> {
  const base = `${url.replace(/^http/, 'ws')}/api/v1/live`;
  const ws = how === 'query' ? new WebSocket(`${base}?token=${encodeURIComponent(token)}`) : new WebSocket(base, { headers: { authorization: `Bearer ${token}` } });
  const frames: string[] = [];
  ws.on('message', (data) => frames.push(data.toString()));
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`live feed refused: ${res.statusCode}`)));
    ws.once('open', () => resolve({ frames, close: () => ws.close() }));
  });
}

/** A real SMTP server that accepts only the right password, keeping every message as sent. */
async function smtpServer(user: string, pass: string) {
  const raw: string[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass) callback(null, { user });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        raw.push(Buffer.concat(chunks).toString('utf8'));
        callback();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { port, raw, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The role configuration as stored now: the last `roles` line of the nedb file. */
function storedRoles(dataDir: string): { instances: { name: string; ext?: unknown }[] } {
  const lines = readFileSync(join(dataDir, 'db', 'config.db'), 'utf8').split('\n').filter(Boolean);
  const docs = lines.map((l) => JSON.parse(l) as { _id: string }).filter((d) => d._id === 'roles');
  return docs[docs.length - 1] as never;
}

describe('no secret leaves the service', () => {
  let svc: RunningTestService;
  let dataDir: string;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let adminSession: string;
  let adminToken: string;
  let readToken: string;
  let live: LiveClient[] = [];
  let runs = 0;
  const config: { instances: unknown[] } = { instances: [] };

  const start = async (adminPassword: string) => {
    svc = await startService({ dataDir, adminPassword, env: { SITECALL_LOG_LEVEL: 'debug' } });
    runs++;
  };
  /** Stops the service and keeps what it wrote. */
  const stop = async () => {
    for (const l of live) l.close();
    expect(await svc.stop({ keepData: true })).toBe(0);
    outputs.push({ where: `service output (run ${runs})`, text: svc.logs() });
    outputs.push(...live.map((l, i) => ({ where: `live feed client ${i} (run ${runs})`, text: l.frames.join('\n') })));
    live = [];
  };
  const loginAs = async (password: string) => {
    const r = await apiClient(svc.url).post('/api/v1/auth/login', { username: 'admin', password });
    expect(r.status).toBe(200);
    return r.body.token as string;
  };
  const admin = () => apiClient(svc.url, adminSession);
  const connectLive = async () => {
    live = [await openLive(svc.url, readToken, 'query'), await openLive(svc.url, readToken, 'header')];
    await eventually(async () => live.every((l) => l.frames.some((f) => f.includes('"hello"'))), 10_000, 'hello on the live feed');
  };
  const liveSawRevision = (revision: number) =>
    eventually(async () => live.every((l) => l.frames.some((f) => f.includes('"collection":"config"') && f.includes(`"revision":${revision}`))), 10_000, `revision ${revision} on the live feed`);

  beforeAll(async () => {
    dataDir = join(tempDir('sitecall-secrets-'), 'data');
    const smtpPass = secret('smtp-pass');
    smtp = await smtpServer('vmail', smtpPass);
    await start(secret('admin-password'));
    adminSession = await loginAs(secrets.get('admin-password') as string);
    const token = async (scopes: string[], label: string) => {
      const r = await admin().post('/api/v1/tokens', { name: label, scopes });
      expect(r.status).toBe(201);
      secrets.set(label, r.body.token);
      return r.body.token as string;
    };
    adminToken = await token(['admin'], 'admin-token');
    readToken = await token(['read'], 'read-token');
    await token(['events'], 'events-token');
    await token(['vmail'], 'vmail-token');
    await connectLive();

    config.instances = [
      cs({
        ext: {
          resync_timeout: 30,
          pass: secret('callstore-pass'),
          upstream: {
            url: `https://relay:${secret('callstore-url-password')}@relay.example/in?site=1&token=${secret('callstore-url-token')}`,
            auth: { user: 'relay', password: secret('callstore-depth3-password') },
            peers: [{ name: 'a', secret: secret('callstore-array-secret') }, [{ apiKey: secret('callstore-nested-array-apikey') }]],
          },
          numeric: { pin: numericSecret('callstore-numeric-pin') },
        },
      }),
      vm({
        ext: {
          smtp: { host: '127.0.0.1', port: smtp.port, secure: false, user: 'vmail', pass: smtpPass, from: 'Voicemail <voicemail@office.example>', ignore_tls: true },
          console_url: 'http://console.office.example:7080',
          archive: [{ kind: 's3', credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: secret('vmail-s3-secret') } }],
          a: { b: { c: { d: { e: { f: { token: secret('vmail-depth7-token') } } } } } },
        },
      }),
      cs({ name: 'callstore2', group: 3, order: 1, include_domains: ['other.example'], enabled: false, ext: [{ password: secret('callstore2-list-password') }, [{ api_token: secret('callstore2-nested-token') }]] }),
    ];
  });

  afterAll(async () => {
    for (const l of live) l.close();
    if (svc && svc.proc.exitCode === null) await svc.stop({ keepData: true });
    await smtp?.close();
    if (dataDir) rmSync(dirname(dataDir), { recursive: true, force: true });
  });

  it('shows the secrets of every instance as the mark, and keeps them when what was shown is saved back', async () => {
    const { revision } = (await admin().get('/api/v1/config/roles')).body;
    const saved = keep('PUT /api/v1/config/roles', await admin().put('/api/v1/config/roles', { revision, instances: config.instances })) as ApiResponse;
    expect(saved.status).toBe(200);
    await liveSawRevision(saved.body.revision);

    const shown = keep('GET /api/v1/config/roles', await admin().get('/api/v1/config/roles')) as ApiResponse;
    const [callstore, vmail, callstore2] = shown.body.instances;
    expect(callstore.ext.pass).toBe(MARK);
    expect(callstore.ext.resync_timeout).toBe(30);
    expect(callstore.ext.upstream.url).toBe(`https://relay:${MARK}@relay.example/in?site=1&token=${MARK}`);
    expect(callstore.ext.upstream.auth).toEqual({ user: 'relay', password: MARK });
    expect(callstore.ext.upstream.peers).toEqual([{ name: 'a', secret: MARK }, [{ apiKey: MARK }]]);
    expect(callstore.ext.numeric).toEqual({ pin: MARK });
    expect(vmail.ext.smtp).toMatchObject({ user: 'vmail', pass: MARK, host: '127.0.0.1' });
    expect(vmail.ext.archive).toEqual([{ kind: 's3', credentials: { accessKeyId: MARK, secretAccessKey: MARK } }]);
    expect(vmail.ext.a.b.c.d.e.f.token).toBe(MARK);
    expect(callstore2.ext).toEqual([{ password: MARK }, [{ api_token: MARK }]]);

    // the console saves what it was shown: every stored secret stays
    const back = keep('PUT /api/v1/config/roles (saved back)', await admin().put('/api/v1/config/roles', { revision: shown.body.revision, instances: shown.body.instances })) as ApiResponse;
    expect(back.status).toBe(200);
    expect(back.body.warnings).toEqual([]);
    await liveSawRevision(back.body.revision);
    expect(storedRoles(dataDir).instances.map((i) => i.ext)).toEqual(config.instances.map((i) => (i as { ext: unknown }).ext));
  });

  it('shows no secret on any other route that returns configuration', async () => {
    keep('POST /api/v1/config/validate', await admin().post('/api/v1/config/validate', { instances: config.instances }));
    keep('GET /api/v1/config/partition', await admin().get('/api/v1/config/partition?roletype=vmail&domain=office.example'));
    keep('GET /api/v1/config/interfaces', await admin().get('/api/v1/config/interfaces'));
    keep('GET /api/v1/status', await admin().get('/api/v1/status'));
    keep('GET /api/v1/tokens', await admin().get('/api/v1/tokens'));
    keep('GET /api/v1/auth/me', await admin().get('/api/v1/auth/me'));
    keep('GET /metrics', await admin().get('/metrics'));
    keep('GET /api/v1/config/roles (read token)', await apiClient(svc.url, readToken).get('/api/v1/config/roles'));
  });

  it('sends the e-mail with the kept smtp password, and takes PINs without showing them', async () => {
    const v = vmailClient(svc.url, adminSession);
    const pin = digits('mailbox-pin');
    const created = await v.createMailbox({ number: '1001', name: 'Alice', email: 'alice@office.example', notify: 'link', pin });
    expect(created.status).toBe(201);
    keep('POST mailbox', { text: created.bytes.toString() });
    keep('GET mailboxes', { text: (await v.json('GET', '')).bytes.toString() });
    const wrong = await v.json('POST', '/1001/pin-check', { pin: digits('wrong-pin') });
    expect(wrong.status).toBeGreaterThanOrEqual(400);
    keep('wrong PIN', { text: wrong.bytes.toString() });
    expect((await v.json('POST', '/1001/pin-check', { pin })).status).toBe(200);
    expect((await v.deposit('1001', makeWav(1), { callerNumber: '200' })).status).toBe(201);
    // only the stored smtp password gets the mail through this server
    await eventually(async () => smtp.raw.length > 0, 15_000, 'the notification e-mail');
    outputs.push({ where: 'e-mail', text: smtp.raw.join('\n') });
  });

  it('takes logins and tokens in every form without showing them', async () => {
    const anon = apiClient(svc.url);
    expect((await anon.post('/api/v1/auth/login', { username: 'admin', password: secret('wrong-password') })).status).toBe(401);
    // a body that does not parse, the password in it unquoted: the parser's message quotes it
    const malformed = keep('malformed login', await anon.post('/api/v1/auth/login', `{"username":"admin","password":${secret('malformed-password')}}`)) as ApiResponse;
    expect(malformed.status).toBe(400);
    expect((await anon.post(`/api/v1/auth/login?password=${secret('query-password')}`, { username: 'admin', password: secret('wrong-password-2') })).status).toBe(401);
    // a token in the query string of a REST route is refused, and logged with its URL
    keep('token in a query string', await anon.get(`/api/v1/status?token=${readToken}`));
    const basic = await fetch(`${svc.url}/api/v1/status`, { headers: { authorization: `Basic ${Buffer.from(`admin:${secret('basic-password')}`).toString('base64')}` } });
    outputs.push({ where: 'basic auth', text: await basic.text() });
    // the event stream with its token in the URL
    const events = new WebSocket(`${svc.url.replace(/^http/, 'ws')}/api/v1/events/stream?token=${secrets.get('events-token')}&source=pbx1`);
    await new Promise<void>((resolve, reject) => {
      events.once('open', () => resolve());
      events.once('error', reject);
    });
    events.close();
    // a token revoked: refused with a message that does not repeat it
    const doomed = await admin().post('/api/v1/tokens', { name: 'doomed', scopes: ['read'] });
    secrets.set('revoked-token', doomed.body.token);
    expect((await admin().delete(`/api/v1/tokens/${doomed.body.id}`)).status).toBe(204);
    keep('revoked token', await apiClient(svc.url, doomed.body.token).get('/api/v1/status'));
  });

  it('changes the admin password with the command line, and logs in with the new one', async () => {
    await stop();
    const newPassword = secret('admin-new-password');
    const run = await runCli(['admin', 'password', '--data-dir', dataDir], { SITECALL_ADMIN_PASSWORD: newPassword });
    expect(run.code).toBe(0);
    outputs.push({ where: 'sitecall admin password', text: run.stdout + run.stderr });
    await start(newPassword);
    expect((await apiClient(svc.url).post('/api/v1/auth/login', { username: 'admin', password: secrets.get('admin-password') })).status).toBe(401);
    adminSession = await loginAs(newPassword);
    await connectLive();
    // a change after the restart goes out on the live feed too
    const shown = (await admin().get('/api/v1/config/roles')).body;
    const saved = keep('PUT after restart', await admin().put('/api/v1/config/roles', { revision: shown.revision, instances: shown.instances })) as ApiResponse;
    expect(saved.status).toBe(200);
    await liveSawRevision(saved.body.revision);
  });

  it('exports the configuration without its secrets, and an import of the export keeps them', async () => {
    const exported = await runCli(['config', 'export', '--url', svc.url, '--token', adminToken]);
    expect(exported.code).toBe(0);
    outputs.push({ where: 'sitecall config export', text: exported.stdout + exported.stderr });
    expect(JSON.parse(exported.stdout).instances[1].ext.smtp.pass).toBe(MARK);
    const file = join(dirname(dataDir), 'export.json');
    writeFileSync(file, exported.stdout);
    const imported = await runCli(['config', 'import', file, '--url', svc.url, '--token', adminToken]);
    outputs.push({ where: 'sitecall config import', text: imported.stdout + imported.stderr });
    expect(imported.code).toBe(0);
    expect(storedRoles(dataDir).instances.map((i) => i.ext)).toEqual(config.instances.map((i) => (i as { ext: unknown }).ext));
  });

  it('let none of them out: not on the live feed, in an answer, in the output at debug level, an export or an e-mail', async () => {
    await stop();
    expect(outputs.filter((o) => o.where.startsWith('live feed')).every((o) => o.text.includes('"collection":"config"'))).toBe(true);
    expect(outputs.some((o) => o.where.startsWith('service output') && o.text.includes('"level":20'))).toBe(true);
    const leaks: string[] = [];
    for (const { where, text } of outputs) {
      for (const [label, value] of secrets) if (text.includes(value)) leaks.push(`${label} in ${where}`);
    }
    expect(leaks).toEqual([]);
  });
});
