import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { BAD_JSON_BODIES, BAD_JSON_VALUES, Rng, toJsonText, withField } from '../support/fuzz-inputs.js';
import { requestsFor, type FuzzCredentials, type FuzzRequest } from '../support/fuzz-requests.js';
import { loopbackAddresses, rawRequest } from '../support/http-raw.js';
import { assertAlive, stopOrKill, tail } from '../support/liveness.js';
import { operationsOf, type Operation } from '../support/openapi-ops.js';
import { rawExchange, sendAndReset, upgradeRequest } from '../support/raw-ws.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { UNPARSEABLE_TARGETS, WS_ENDPOINTS, WS_VIOLATIONS } from '../support/ws-attacks.js';

/**
 * Bad input on every operation the OpenAPI document lists and on both WebSockets, sent to a real
 * service process. Fails on any 5xx, any answer slower than SLOW_MS, any 4xx of the API not in
 * the error shape, and any exit (or hang) of the process; /healthz is checked after each
 * operation's round. A service that went down is started again, so one run reports every
 * problem. Seeded: FUZZ_SEED=<n> replays a run (the seed is in every failure).
 */
const SEED = Number(process.env['FUZZ_SEED'] ?? 20_261_215);
const SLOW_MS = 2000;
const SCOPES = ['events', 'admission', 'vmail', 'read', 'admin'] as const;
const FIXTURE = { domain: 'fuzz.example', box: '100' };
/** After this many losses of the service a round stops: the failures so far say enough. */
const MAX_LOSSES = 3;

interface Target {
  svc: RunningTestService;
  creds: FuzzCredentials;
  /** why the process ended, once it has */
  exit?: string;
}

async function boot(): Promise<Target> {
  const svc = await startService();
  const target: Target = { svc, creds: { admin: '', byScope: {} } };
  svc.proc.once('exit', (code, signal) => (target.exit = `exited (code ${String(code)}, signal ${String(signal)})`));
  const admin = apiClient(svc.url, await login(svc));
  for (const scope of SCOPES) target.creds.byScope[scope] = (await admin.post('/api/v1/tokens', { name: `fuzz-${scope}`, scopes: [scope] })).body.token;
  target.creds.admin = target.creds.byScope['admin'] as string;
  return target;
}

describe(`fuzz (seed ${SEED})`, () => {
  let t: Target;
  let ops: Operation[];
  const nextAddress = loopbackAddresses();
  let losses = 0;

  beforeAll(async () => {
    t = await boot();
    const doc = await apiClient(t.svc.url, t.creds.admin).get('/api/v1/openapi.json');
    expect(doc.status).toBe(200);
    ops = operationsOf(doc.body);
  });
  afterAll(async () => {
    if (t) await stopOrKill(t.svc);
  });

  /** Whether the service still runs and answers; if not, the reason, and a fresh service in its place. */
  const downAfter = async (what: string): Promise<string | undefined> => {
    let why = t.exit;
    if (!why) {
      try {
        await assertAlive(t.svc, what);
        return undefined;
      } catch (err) {
        why = t.exit ?? `stopped answering (${(err as Error).message.split('\n')[0]})`;
      }
    }
    const logs = tail(t.svc.logs(), 8);
    await stopOrKill(t.svc, 2000);
    losses++;
    t = await boot();
    return `the service ${why} after ${what} (seed ${SEED}):\n${logs}`;
  };

  /** The mailbox the vmail routes are aimed at; made again when a round deleted it. */
  const ensureFixtures = async () => {
    const res = await rawRequest(t.svc.url, {
      method: 'POST',
      path: `/api/v1/domains/${FIXTURE.domain}/mailboxes`,
      headers: { authorization: `Bearer ${t.creds.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ number: FIXTURE.box, name: 'Fuzz' }),
    });
    if (res.status !== 201 && res.status !== 409) throw new Error(`the fixture mailbox: ${res.status} ${res.body.toString().slice(0, 200)}`);
  };

  /** Sends one request; returns what is wrong with the answer, or undefined. 'no answer' means look at the process. */
  const problemOf = async (req: FuzzRequest): Promise<string | undefined> => {
    try {
      const res = await rawRequest(t.svc.url, { ...req, localAddress: nextAddress(), timeoutMs: SLOW_MS * 2 });
      if (res.status >= 500) return `${res.status} ${res.body.toString().slice(0, 200)}`;
      if (res.ms > SLOW_MS) return `answered ${res.status} after ${Math.round(res.ms)} ms`;
      if (res.status >= 400 && req.path.startsWith('/api') && !isErrorShape(res.json)) return `${res.status} not in the error shape: ${res.body.toString().slice(0, 200)}`;
      return undefined;
    } catch (err) {
      return `no answer (${String(err)})`;
    }
  };

  it('answers every bad request to every documented operation below 500, within 2 s, in the error shape, and stays up', async () => {
    const rng = new Rng(SEED);
    const failures: string[] = [];
    expect(ops.length).toBeGreaterThan(40);
    let sent = 0;
    for (const op of ops) {
      const name = `${op.method} ${op.path}${op.operationId ? ` (${op.operationId})` : ''}`;
      await ensureFixtures();
      for (const req of requestsFor(op, rng, t.creds, { hints: FIXTURE })) {
        const problem = await problemOf(req);
        sent++;
        if (problem) failures.push(`${name} [${req.label}] (seed ${SEED}): ${problem}`);
        if (t.exit || problem?.startsWith('no answer')) break;
      }
      const down = await downAfter(`the round of ${name}`);
      if (down) failures.push(down);
      if (losses >= MAX_LOSSES) break;
    }
    expect(failures.length, summary(failures, `of ${sent} requests`)).toBe(0);
    expect(sent).toBeGreaterThan(ops.length * 20);
    losses = 0;
  }, 180_000);

  it('takes every attack on both WebSockets and stays up', async () => {
    const rng = new Rng(SEED + 1);
    const failures: string[] = [];
    losses = 0;
    const check = async (what: string) => {
      const down = await downAfter(what);
      if (down) failures.push(down);
      if (losses >= MAX_LOSSES) throw new Error(`the service went down ${losses} times; the first failures:\n${failures.join('\n')}`);
    };
    for (const endpoint of WS_ENDPOINTS) {
      const token = () => t.creds.byScope[endpoint.scope] as string;
      const auth = () => ({ Authorization: `Bearer ${token()}` });
      const expectRefused = async (what: string, request: () => string, statuses: number[]) => {
        const answer = await rawExchange(t.svc.port, request(), { timeoutMs: SLOW_MS });
        if (answer.status === null || !statuses.includes(answer.status)) failures.push(`${endpoint.path} ${what}: answered ${String(answer.status)} (${answer.ended}), expected ${statuses.join('/')}`);
        await check(`${what} on ${endpoint.path}`);
      };
      // The upgrade itself
      for (const target of UNPARSEABLE_TARGETS) await expectRefused(`an upgrade to ${target}`, () => upgradeRequest(target, auth()), [400]);
      await expectRefused('no token', () => upgradeRequest(endpoint.path), [401]);
      await expectRefused('a forged token', () => upgradeRequest(endpoint.path, { Authorization: 'Bearer scs_forged' }), [401]);
      await expectRefused('?token=%zz', () => upgradeRequest(`${endpoint.path}?token=%zz`), [401]);
      await expectRefused('a token of another scope', () => upgradeRequest(endpoint.path, { Authorization: `Bearer ${t.creds.byScope[endpoint.scope === 'read' ? 'events' : 'read']}` }), [403]);
      await expectRefused('a bad ?source=', () => upgradeRequest(`${endpoint.path}?source=%zz%20x`, auth()), [400]);
      await expectRefused('WebSocket version 99', () => upgradeRequest(endpoint.path, { ...auth(), 'Sec-WebSocket-Version': '99' }), [400, 426]);
      await expectRefused('a bad key', () => upgradeRequest(endpoint.path, { ...auth(), 'Sec-WebSocket-Key': 'short' }), [400]);
      await expectRefused('an upgrade to h2c', () => upgradeRequest(endpoint.path, { ...auth(), Upgrade: 'h2c' }), [400]);
      await expectRefused('an upgrade by POST', () => upgradeRequest(endpoint.path, auth()).replace(/^GET/, 'POST'), [400, 405]);
      for (let i = 0; i < 10; i++) await sendAndReset(t.svc.port, upgradeRequest(i % 2 ? endpoint.path : `${endpoint.path}?token=${token()}`, i % 3 ? auth() : {}));
      await check(`upgrades reset at once on ${endpoint.path}`);

      // Protocol violations after the upgrade, sent as raw frames
      for (const v of WS_VIOLATIONS) {
        const answer = await rawExchange(t.svc.port, upgradeRequest(endpoint.path, auth()), { afterOpen: v.frames(endpoint.maxPayload), timeoutMs: SLOW_MS });
        if (answer.status !== 101 || answer.closeCode !== v.closeCode) failures.push(`${endpoint.path} ${v.what}: status ${String(answer.status)}, close ${String(answer.closeCode)} (${answer.ended}), expected close ${v.closeCode}`);
        await check(`${v.what} on ${endpoint.path}`);
      }

      // Messages that are well framed but bad: each is answered (event stream) or ignored (live)
      const ws = new WebSocket(`${t.svc.url.replace(/^http/, 'ws')}${endpoint.path}`, { headers: auth() });
      const replies: unknown[] = [];
      ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
      ws.on('error', () => undefined);
      await opened(ws);
      const event = { id: 'fuzz-ws-1', source: 'fuzzws', seq: 1, ts: new Date().toISOString(), type: 'invite', callId: 'fuzz-ws-1', from: 'sip:1@fuzz.example', to: 'sip:2@fuzz.example', domain: 'fuzz.example' };
      const messages = [
        ...rng.sample(BAD_JSON_BODIES, 10),
        ...rng.sample(Object.keys(event), 6).flatMap((field) => rng.sample(BAD_JSON_VALUES, 2).map((bad) => toJsonText(withField(event, [field], bad)))),
        JSON.stringify(Array.from({ length: 5001 }, (_, i) => ({ ...event, id: `fuzz-ws-big-${i}` }))),
        // a message over the endpoint's limit closes it with 1009 by design: the violations above test that
      ].filter((m) => Buffer.byteLength(m) <= endpoint.maxPayload);
      const started = Date.now();
      for (const m of messages) ws.send(m);
      ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
      // The event stream answers each message (the binary one too); the live feed only says hello.
      const expected = endpoint.path === '/api/v1/live' ? 1 : messages.length + 1;
      const deadline = Date.now() + SLOW_MS * 3;
      while (replies.length < expected && ws.readyState === ws.OPEN && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (replies.length < expected) failures.push(`${endpoint.path}: ${replies.length} answers, ${expected} expected, within ${Date.now() - started} ms (socket ${ws.readyState === ws.OPEN ? 'open' : 'closed'})`);
      if (ws.readyState !== ws.OPEN) failures.push(`${endpoint.path}: closed on well-framed bad messages`);
      ws.close();
      await check(`bad messages on ${endpoint.path}`);
    }
    // After all that the stream still takes events.
    const source = new WebSocket(`${t.svc.url.replace(/^http/, 'ws')}/api/v1/events/stream`, { headers: { Authorization: `Bearer ${t.creds.byScope['events']}` } });
    await opened(source);
    const ack = new Promise((resolve) => source.once('message', (d) => resolve(JSON.parse(d.toString()))));
    source.send(JSON.stringify({ id: 'fuzz-ws-final', source: 'fuzzws2', seq: 1, ts: new Date().toISOString(), type: 'invite', callId: 'fuzz-ws-final', from: 'sip:1@fuzz.example', to: 'sip:2@fuzz.example', domain: 'fuzz.example' }));
    expect(await ack).toMatchObject({ ack: 1, stored: 1 });
    source.close();
    expect(failures.length, summary(failures, 'WebSocket attacks')).toBe(0);
  }, 120_000);

  it('logged nothing fatal', () => {
    expect(t.exit).toBeUndefined();
    expect(t.svc.logs()).not.toMatch(/"level":60/);
  });
});

/** The failures of a round, the first 60 in full: vitest cuts long diffs short. */
function summary(failures: readonly string[], of: string): string {
  return `${failures.length} failures ${of}:\n${failures.slice(0, 60).join('\n')}${failures.length > 60 ? `\n… and ${failures.length - 60} more` : ''}\n`;
}

function isErrorShape(json: unknown): boolean {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return typeof error?.code === 'string' && typeof error.message === 'string';
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}
