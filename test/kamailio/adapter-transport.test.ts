import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { CallEvent } from '../../shared/api/events.js';
import { Adapter } from '../../integrations/kamailio/adapter/adapter.js';
import { parseConfig } from '../../integrations/kamailio/adapter/config.js';
import { createLogger } from '../../integrations/kamailio/adapter/log.js';
import { eventually } from '../support/events-client.js';
import { FakeKamailio } from './fake-kamailio.js';

/**
 * The adapter's transport logic against a scripted Kamailio (evapi + snapshot) and a scripted
 * appliance (event stream + sync endpoint), in process: where a dialog list lands in the event
 * stream, what is sent again after the appliance drops, and when the stream is closed.
 */

/** A fake appliance: records what arrives, in order, acking each message (unless told to drop). */
class FakeAppliance {
  readonly http: HttpServer;
  readonly wss: WebSocketServer;
  /** `ev:<kseq>` per event received (again after a resend), `sync` per sync */
  readonly log: string[] = [];
  readonly sockets = new Set<WebSocket>();
  opened = 0;
  /** drop the connection instead of acking the next message */
  dropNext = false;
  /** answer a dialog list sent as NDJSON as an appliance from before NDJSON did (400) */
  refuseNdjson = false;
  /** per dialog list posted: its Content-Type and its dialogs' call ids */
  readonly syncs: { type: string; callIds: string[] }[] = [];
  /** refuse the stream's upgrade with this status (and Retry-After, s) instead of taking it */
  refuseUpgrade: { status: number; retryAfter?: number } | null = null;
  /** when each upgrade was asked for (ms), taken or refused */
  readonly upgrades: number[] = [];
  /** the Authorization header of each upgrade */
  readonly authorizations: string[] = [];
  /** what GET /healthz answers */
  health: { status: number; body: { status: string } } = { status: 200, body: { status: 'ok' } };
  healthProbes = 0;
  /** hold each ack this long (ms) */
  ackDelayMs = 0;
  /** answer nothing on the stream (no ack, no pong), as a machine that froze */
  silent = false;

  constructor() {
    this.http = createHttpServer((req, res) => {
      if (req.url === '/healthz') {
        this.healthProbes++;
        return void res.writeHead(this.health.status, { 'content-type': 'application/json' }).end(JSON.stringify({ ...this.health.body, site: 's', version: '0' }));
      }
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url?.endsWith('/sync')) {
          const type = req.headers['content-type'] ?? '';
          if (type === 'application/x-ndjson' && this.refuseNdjson) {
            this.syncs.push({ type, callIds: [] });
            return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'invalid_request', message: 'The request body is invalid: / must be object.' } }));
          }
          const dialogs = (type === 'application/x-ndjson' ? body.split('\n').filter(Boolean).map((l) => JSON.parse(l)) : (JSON.parse(body) as { dialogs: unknown[] }).dialogs) as { callId: string }[];
          this.syncs.push({ type, callIds: dialogs.map((d) => d.callId) });
          this.log.push('sync');
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kept: [], reconstructed: [], refused: [], terminated: [], dropped: [] }));
        }
        if (req.url?.endsWith('/heartbeat')) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ state: 'connected', syncRequested: false }));
        res.writeHead(404).end();
      });
    });
    this.wss = new WebSocketServer({ noServer: true, autoPong: false });
    this.http.on('upgrade', (req, socket, head) => {
      this.upgrades.push(Date.now());
      this.authorizations.push(req.headers.authorization ?? '');
      const refuse = this.refuseUpgrade;
      if (refuse) {
        const after = refuse.retryAfter !== undefined ? `Retry-After: ${refuse.retryAfter}\r\n` : '';
        return void socket.end(`HTTP/1.1 ${refuse.status} Refused\r\n${after}Content-Length: 0\r\nConnection: close\r\n\r\n`);
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
    });
    this.wss.on('connection', (ws) => {
      this.opened++;
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      ws.on('ping', (data) => {
        if (!this.silent) ws.pong(data);
      });
      let dead = false;
      ws.on('message', (data) => {
        // what follows a dropped message on the same socket is lost with it
        if (dead) return;
        const events = JSON.parse(data.toString()) as CallEvent[];
        if (this.dropNext) {
          this.dropNext = false;
          dead = true;
          this.log.push(...events.map((e) => `lost:${e.id.split('-').at(-1)}`));
          ws.terminate();
          return;
        }
        this.log.push(...events.map((e) => `ev:${e.id.split('-').at(-1)}`));
        if (this.silent) return;
        const ack = () => ws.send(JSON.stringify({ ack: events.at(-1)?.seq ?? null, stored: events.length, duplicates: 0 }));
        if (this.ackDelayMs > 0) setTimeout(ack, this.ackDelayMs);
        else ack();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.http.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    await new Promise((r) => this.http.close(r));
  }
}

describe('adapter transport (scripted Kamailio and appliance)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup() {
    const kam = new FakeKamailio();
    const { evapiPort, httpPort } = await kam.listen();
    const app = new FakeAppliance();
    const url = await app.listen();
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-adapter-'));
    const logs: string[] = [];
    const cfg = parseConfig(['--evapi', `127.0.0.1:${evapiPort}`, '--rpc-url', `http://127.0.0.1:${httpPort}/RPC`, '--appliance', url, '--token', 't', '--source', 'kamx', '--state-dir', dir, '--stats-interval', '0', '--batch', '2'], {});
    const adapter = new Adapter(cfg, createLogger('debug', {}, (l) => logs.push(l)));
    cleanup.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => app.close(),
      () => kam.close(),
      () => adapter.stop(0),
    );
    return { kam, app, adapter, logs };
  }

  it('puts the dialog list after every event numbered before it and before every later one', async () => {
    const { kam, app, adapter } = await setup();
    // the list is taken at number 5; events 4 and 5 (before it) and 6 (after it) reach the
    // adapter over evapi only after the list does
    kam.onConnect = () => kam.emit(3);
    kam.onSnapshot = () => ({
      kseq: 5,
      dialogs: [],
      after: () =>
        setTimeout(() => {
          kam.emit(3);
        }, 150),
    });
    adapter.start();
    await eventually(async () => app.log.includes('ev:6'), 5000, 'all events delivered');
    expect(app.log).toEqual(['ev:1', 'ev:2', 'ev:3', 'ev:4', 'ev:5', 'sync', 'ev:6']);
  });

  it('sends again what the appliance did not acknowledge before it dropped', async () => {
    const { kam, app, adapter } = await setup();
    adapter.start();
    await eventually(async () => app.log.includes('sync'), 5000, 'the first sync');
    kam.emit(2);
    await eventually(async () => app.log.includes('ev:2'), 5000, 'events 1-2');
    app.dropNext = true;
    kam.emit(2);
    await eventually(async () => app.opened === 2 && app.log.includes('ev:4'), 8000, 'events 3-4 after the reconnect');
    kam.emit(1);
    await eventually(async () => app.log.includes('ev:5'), 5000, 'event 5');
    expect(app.log.filter((x) => x.startsWith('ev:'))).toEqual(['ev:1', 'ev:2', 'ev:3', 'ev:4', 'ev:5']);
    expect(app.log).toContain('lost:3');
  });

  it('keeps events while the appliance is away and delivers them, in order, when it is back', async () => {
    const { kam, app, adapter } = await setup();
    adapter.start();
    await eventually(async () => app.log.includes('sync'), 5000, 'the first sync');
    for (const ws of app.sockets) ws.terminate();
    kam.emit(5);
    await eventually(async () => app.log.includes('ev:5') && app.log.filter((x) => x === 'sync').length === 2, 8000, 'events and a dialog list after the reconnect');
    expect(app.log.filter((x) => x.startsWith('ev:'))).toEqual(['ev:1', 'ev:2', 'ev:3', 'ev:4', 'ev:5']);
    // after the reconnect: the queued events, then a fresh dialog list
    expect(app.log.lastIndexOf('sync')).toBeGreaterThan(app.log.indexOf('ev:5'));
  });

  it('closes the stream when Kamailio goes (the appliance then sees the source lost) and reopens it when Kamailio is back', async () => {
    const { kam, app, adapter, logs } = await setup();
    adapter.start();
    await eventually(async () => app.sockets.size === 1 && app.log.includes('sync'), 5000, 'connected');
    kam.emit(2);
    kam.dropClients();
    await eventually(async () => app.sockets.size === 0, 6000, 'the stream closed');
    expect(app.log).toContain('ev:2');
    await eventually(async () => app.sockets.size === 1, 8000, 'the stream open again');
    expect(logs.some((l) => l.includes('"msg":"kamailio lost"'))).toBe(true);
  });

  it('reads the dialog list of a Kamailio whose cfg predates /sitecall/dialogs from GET /sitecall/snapshot, still in its place', async () => {
    const { kam, app, adapter } = await setup();
    kam.form = 'snapshot';
    kam.onConnect = () => kam.emit(2);
    kam.onSnapshot = () => ({ kseq: 3, dialogs: [], after: () => setTimeout(() => kam.emit(2), 100) });
    adapter.start();
    await eventually(async () => app.log.includes('ev:4'), 5000, 'all events delivered');
    expect(app.log).toEqual(['ev:1', 'ev:2', 'ev:3', 'sync', 'ev:4']);
    expect(kam.asked.slice(0, 2)).toEqual(['POST /sitecall/dialogs', 'GET /sitecall/snapshot']);
  });

  it('posts the dialog list as NDJSON, and as JSON from then on to an appliance that does not take NDJSON', async () => {
    const { kam, app, adapter } = await setup();
    const dialog = (n: number) => ({ 'call-id': `d${n}`, state: 4, from_uri: 'sip:1@office.example', to_uri: 'sip:2@office.example', caller: { tag: `f${n}` }, callee: { tag: `t${n}` }, variables: [{ sc_dom: 'office.example' }] });
    kam.onSnapshot = () => ({ kseq: kam.kseq, dialogs: [dialog(1), dialog(2)] });
    adapter.start();
    await eventually(async () => app.syncs.length >= 1, 5000, 'the first dialog list');
    expect(app.syncs[0]).toEqual({ type: 'application/x-ndjson', callIds: ['d1', 'd2'] });
    app.refuseNdjson = true;
    adapter.requestResync('test');
    await eventually(async () => app.syncs.length >= 3, 5000, 'the list refused as NDJSON, then sent as JSON');
    expect(app.syncs.slice(1)).toEqual([
      { type: 'application/x-ndjson', callIds: [] },
      { type: 'application/json', callIds: ['d1', 'd2'] },
    ]);
    adapter.requestResync('test again');
    await eventually(async () => app.syncs.length >= 4, 5000, 'the next list');
    expect(app.syncs[3]?.type).toBe('application/json');
  });
});

describe('adapter transport: several appliance addresses (scripted Kamailio and appliances)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(extra: string[] = []) {
    const kam = new FakeKamailio();
    const { evapiPort, httpPort } = await kam.listen();
    const a = new FakeAppliance();
    const b = new FakeAppliance();
    const urls = [await a.listen(), await b.listen()];
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-adapter-'));
    const logs: string[] = [];
    const cfg = parseConfig(
      ['--evapi', `127.0.0.1:${evapiPort}`, '--rpc-url', `http://127.0.0.1:${httpPort}/RPC`, '--appliance', urls.join(','), '--token', 'sct_a,sct_b', '--source', 'kamx', '--state-dir', dir, '--stats-interval', '0', '--batch', '2', '--probe-max', '2', ...extra],
      {},
    );
    const adapter = new Adapter(cfg, createLogger('debug', {}, (l) => logs.push(l)));
    cleanup.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => a.close(),
      () => b.close(),
      () => kam.close(),
      () => adapter.stop(0),
    );
    const events = (app: FakeAppliance) => app.log.filter((x) => x.startsWith('ev:'));
    return { kam, a, b, adapter, logs, events };
  }

  it('an upgrade refused with 503 and Retry-After: the next address takes the events; the first is not dialled before its Retry-After, then taken back once healthy', async () => {
    const { kam, a, b, adapter, events } = await setup();
    a.refuseUpgrade = { status: 503, retryAfter: 2 };
    adapter.start();
    await eventually(async () => b.log.includes('sync'), 5000, 'the dialog list on B');
    kam.emit(3);
    await eventually(async () => b.log.includes('ev:3'), 5000, 'events 1-3 on B');
    expect(a.upgrades).toHaveLength(1);
    const refusedAt = a.upgrades[0] as number;
    a.refuseUpgrade = null;
    await eventually(async () => a.opened === 1 && a.log.includes('sync'), 10_000, 'back on A, with a dialog list');
    // not asked again before the Retry-After (2 s), and only after two healthy probes
    expect((a.upgrades[1] as number) - refusedAt).toBeGreaterThanOrEqual(2000 - 20);
    expect(a.healthProbes).toBeGreaterThanOrEqual(2);
    kam.emit(2);
    await eventually(async () => a.log.includes('ev:5'), 5000, 'events 4-5 on A');
    expect(events(b)).toEqual(['ev:1', 'ev:2', 'ev:3']);
    expect(events(a)).toEqual(['ev:4', 'ev:5']);
    // each address got its own token
    expect(new Set(a.authorizations)).toEqual(new Set(['Bearer sct_a']));
    expect(new Set(b.authorizations)).toEqual(new Set(['Bearer sct_b']));
    expect(adapter.stats()).toMatchObject({ switches: 1, applianceUrl: expect.stringContaining(`:${(a.http.address() as { port: number }).port}/`) });
  });

  it('a link that stops answering (no ack, no pong) is dead after the link timeout: what it did not acknowledge goes to the next address, then a dialog list', async () => {
    const { kam, a, b, adapter, logs, events } = await setup(['--link-timeout', '1']);
    adapter.start();
    await eventually(async () => a.log.includes('sync'), 5000, 'the first dialog list on A');
    kam.emit(2);
    await eventually(async () => a.log.includes('ev:2'), 5000, 'events 1-2 on A');
    a.silent = true;
    const frozeAt = Date.now();
    kam.emit(2);
    await eventually(async () => b.log.includes('sync'), 8000, 'events and a dialog list on B');
    const movedAfter = Date.now() - frozeAt;
    // detected after the link timeout (1 s: pings every 1/3 s), moved within a second more
    expect(movedAfter).toBeGreaterThanOrEqual(900);
    expect(movedAfter).toBeLessThan(2500);
    expect(events(a)).toEqual(['ev:1', 'ev:2', 'ev:3', 'ev:4']);
    expect(events(b)).toEqual(['ev:3', 'ev:4']);
    expect(b.log.indexOf('sync')).toBeGreaterThan(b.log.indexOf('ev:4'));
    expect(logs.some((l) => l.includes('"msg":"moved to another appliance"'))).toBe(true);
  });

  it('going back to the preferred address waits for the acks of what is in flight: no event goes to both', async () => {
    const { kam, a, b, adapter, events } = await setup();
    a.refuseUpgrade = { status: 503 };
    adapter.start();
    await eventually(async () => b.log.includes('sync'), 5000, 'the dialog list on B');
    b.ackDelayMs = 300;
    a.refuseUpgrade = null;
    // a steady flow of events while the adapter goes back to A
    const flow = setInterval(() => kam.emit(1), 40);
    cleanup.push(() => clearInterval(flow));
    await eventually(async () => a.opened === 1 && events(a).length >= 5, 15_000, 'events on A again');
    clearInterval(flow);
    const sent = kam.kseq;
    await eventually(async () => events(a).includes(`ev:${sent}`), 5000, 'the last event on A');
    const onA = events(a);
    const onB = events(b);
    expect(onB.length).toBeGreaterThan(0);
    expect(onA.filter((e) => onB.includes(e))).toEqual([]);
    expect([...onB, ...onA]).toEqual(Array.from({ length: sent }, (_, i) => `ev:${i + 1}`));
  });
});
