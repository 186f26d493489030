import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Adapter } from '../../integrations/kamailio/adapter/adapter.js';
import { parseConfig } from '../../integrations/kamailio/adapter/config.js';
import { createLogger } from '../../integrations/kamailio/adapter/log.js';
import { apiClient } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { FakeKamailio, KBOOT } from './fake-kamailio.js';
import { REPO } from './harness.js';
import { storedEvents, type Admin } from './stack.js';

/**
 * The adapter between a scripted Kamailio (evapi and dialog list, as in adapter-refusals) and two
 * real appliances (separate single-site services, A preferred): an appliance that freezes (its
 * stream answers nothing, as a machine that hangs or a cut cable), and one that cannot store
 * events for now (no callstore instance runs there). Each time every event ends up stored by A or
 * B, and the adapter is back on A once A can take them again. The kill -9 of an appliance under
 * real SIP traffic is failover.test.ts.
 */

interface Appliance {
  svc: RunningTestService;
  admin: Admin;
  token: string;
}

const SOURCE = 'kam-af';
const idOf = (kseq: number) => `${SOURCE}-${KBOOT}-${kseq}`;
const ARTIFACTS = join(REPO, 'test', 'artifacts');
let runs = 0;

describe('adapter: two appliances, one of them failing', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function appliance(instances: unknown[]): Promise<Appliance> {
    const svc = await startService();
    cleanup.push(() => svc.stop());
    const admin = apiClient(svc.url, await login(svc));
    expect((await admin.put('/api/v1/config/roles', { revision: 1, instances })).status).toBe(200);
    const token = (await admin.post('/api/v1/tokens', { name: 'kamailio', scopes: ['events'] })).body.token as string;
    return { svc, admin, token };
  }

  async function adapterFor(a: Appliance, b: Appliance, extra: string[] = []) {
    const kam = new FakeKamailio();
    const { evapiPort, httpPort } = await kam.listen();
    cleanup.push(() => kam.close());
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-adapter-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const logs: string[] = [];
    const cfg = parseConfig(
      ['--evapi', `127.0.0.1:${evapiPort}`, '--rpc-url', `http://127.0.0.1:${httpPort}/RPC`, '--appliance', `${a.svc.url},${b.svc.url}`, '--token', `${a.token},${b.token}`, '--source', SOURCE, '--state-dir', dir, '--stats-interval', '0', '--batch', '5', '--probe-max', '2', ...extra],
      {},
    );
    const adapter = new Adapter(cfg, createLogger('debug', {}, (l) => logs.push(l)));
    cleanup.push(async () => {
      await adapter.stop(0);
      // the adapter's log, for whoever reads a failure
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(join(ARTIFACTS, `adapter-failover-${++runs}.log`), logs.join(''));
    });
    /** the adapter's log lines with this message */
    const lines = (msg: string) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === msg);
    return { kam, adapter, lines };
  }

  /** One call per event pair: invite and answer, in office.example. */
  function call(kam: FakeKamailio, n: number): void {
    kam.event({ type: 'invite', callId: `af-${n}`, fromTag: `f${n}`, from: `sip:1${n}@office.example`, to: `sip:2${n}@office.example`, domain: 'office.example' });
    kam.event({ type: 'answer', callId: `af-${n}`, fromTag: `f${n}`, toTag: `t${n}` });
  }

  /** Every event numbered so far stored by A or B; the events stored by both. */
  async function everyEventStored(kam: FakeKamailio, a: Appliance, b: Appliance): Promise<{ onA: Set<string>; onB: Set<string>; both: string[] }> {
    const emitted = Array.from({ length: kam.kseq }, (_, i) => idOf(i + 1));
    return eventually(async () => {
      // (the appliances' own events, such as the ends a dialog list makes, are not the adapter's)
      const mine = (dataDir: string) => new Set([...storedEvents(dataDir).keys()].filter((id) => id.startsWith(`${SOURCE}-`)));
      const onA = mine(a.svc.dataDir);
      const onB = mine(b.svc.dataDir);
      if (!emitted.every((id) => onA.has(id) || onB.has(id))) return undefined;
      expect([...new Set([...onA, ...onB])].sort()).toEqual([...emitted].sort());
      return { onA, onB, both: [...onA].filter((id) => onB.has(id)) };
    }, 15_000, 'every event on A or B');
  }

  it('A freezes (its stream answers nothing): the adapter moves to B after the link timeout, and back to A once A answers again', async () => {
    const a = await appliance([cs(), vm()]);
    const b = await appliance([cs(), vm()]);
    // a frozen A must be thawed before it can be stopped
    cleanup.push(() => void (a.svc.proc.pid && process.kill(a.svc.proc.pid, 'SIGCONT')));
    const { kam, adapter, lines } = await adapterFor(a, b, ['--link-timeout', '1']);
    adapter.start();
    await eventually(async () => adapter.stats().syncsPosted >= 1 && adapter.stats().applianceUrl?.startsWith(a.svc.url), 10_000, 'the first dialog list, on A');
    for (let n = 1; n <= 5; n++) call(kam, n);
    await eventually(async () => storedEvents(a.svc.dataDir).size === 10, 10_000, 'ten events on A');

    process.kill(a.svc.proc.pid as number, 'SIGSTOP');
    const frozenAt = Date.now();
    let n = 5;
    const flow = setInterval(() => call(kam, ++n), 50);
    cleanup.push(() => clearInterval(flow));
    await eventually(async () => adapter.stats().applianceUrl?.startsWith(b.svc.url), 10_000, 'the adapter on B');
    const movedMs = Date.now() - frozenAt;
    await eventually(async () => lines('sync applied by the appliance').some((l) => String(l['appliance']).startsWith(b.svc.url)), 10_000, 'a dialog list on B');
    console.log(`frozen A: the adapter on B ${movedMs} ms after A stopped answering (link timeout 1 s)`);
    expect(movedMs).toBeGreaterThanOrEqual(900);
    expect(movedMs).toBeLessThan(3000);

    process.kill(a.svc.proc.pid as number, 'SIGCONT');
    const thawedAt = Date.now();
    await eventually(async () => adapter.stats().applianceUrl?.startsWith(a.svc.url), 15_000, 'the adapter back on A');
    console.log(`frozen A: back on A ${Date.now() - thawedAt} ms after it answered again`);
    clearInterval(flow);
    const { onA, onB, both } = await everyEventStored(kam, a, b);
    console.log(`frozen A: ${kam.kseq} events, ${onA.size} stored by A, ${onB.size} by B, ${both.length} by both`);
    expect(onB.size).toBeGreaterThan(0);
    expect(adapter.stats()).toMatchObject({ rejected: 0, dropped: 0, switches: 2 });
  }, 90_000);

  it('A cannot store events for now (no callstore instance runs there): they go to B meanwhile; once A has one, the adapter goes back to A for good', async () => {
    const a = await appliance([cs({ enabled: false }), vm()]);
    const b = await appliance([cs(), vm()]);
    const { kam, adapter, lines } = await adapterFor(a, b);
    adapter.start();
    // A takes the stream and an empty dialog list (nothing to store): the first events it must refuse
    await eventually(async () => adapter.stats().applianceUrl?.startsWith(a.svc.url) && adapter.stats().syncsPosted >= 1, 15_000, 'the first dialog list, on A');
    for (let n = 1; n <= 10; n++) call(kam, n);
    await eventually(async () => adapter.stats().applianceUrl?.startsWith(b.svc.url) && lines('sync applied by the appliance').some((l) => String(l['appliance']).startsWith(b.svc.url)), 15_000, 'the adapter on B, a dialog list applied there');
    await eventually(async () => [...storedEvents(b.svc.dataDir).keys()].filter((id) => id.startsWith(`${SOURCE}-`)).length === 20, 10_000, 'the twenty events on B');
    expect(adapter.stats().heldBack).toBeGreaterThanOrEqual(1);
    // A keeps refusing: a return to it after its Retry-After, with calls going on, ends on B again
    const refusedEpisodes = () => lines('event stream closed').filter((l) => String(l['appliance']).startsWith(a.svc.url) && String(l['reason']).includes('cannot store events now')).length;
    let n = 10;
    const flow = setInterval(() => call(kam, ++n), 150);
    cleanup.push(() => clearInterval(flow));
    await eventually(async () => refusedEpisodes() >= 2, 20_000, 'A refusing a second time');
    clearInterval(flow);
    await eventually(async () => adapter.stats().applianceUrl?.startsWith(b.svc.url), 10_000, 'the adapter on B again');
    const beforeEnable = kam.kseq;
    const { revision } = (await a.admin.get('/api/v1/config/roles')).body as { revision: number };
    expect((await a.admin.put('/api/v1/config/roles', { revision, instances: [cs(), vm()] })).status).toBe(200);
    const enabledAt = Date.now();
    await eventually(async () => adapter.stats().applianceUrl?.startsWith(a.svc.url) && lines('sync applied by the appliance').some((l) => String(l['appliance']).startsWith(a.svc.url)), 20_000, 'the adapter on A, its dialog list applied there');
    console.log(`refusing A: back on A ${Date.now() - enabledAt} ms after its callstore instance was enabled`);
    const last = n;
    for (let k = last + 1; k <= last + 5; k++) call(kam, k);
    const { onA, onB } = await everyEventStored(kam, a, b);
    // what A refused is on B; the calls after the return are A's: stored there, and known there
    for (let k = 1; k <= beforeEnable; k++) expect(onB.has(idOf(k))).toBe(true);
    for (let k = beforeEnable + 1; k <= kam.kseq; k++) expect(onA.has(idOf(k))).toBe(true);
    expect(adapter.stats()).toMatchObject({ rejected: 0, dropped: 0 });
    expect(adapter.stats().switches).toBeGreaterThanOrEqual(4);
    // (active, or ended by a later dialog list of the scripted Kamailio, which lists no dialog)
    for (let k = last + 1; k <= last + 5; k++) {
      await eventually(async () => (await a.admin.get(`/api/v1/calls/af-${k}`)).status === 200 || (await a.admin.get(`/api/v1/cdrs/af-${k}`)).status === 200, 10_000, `call af-${k} on A`);
    }
    // one warning per refusal, not one per message refused behind it
    expect(lines('the appliance cannot store events now; trying the next appliance address')).toHaveLength(refusedEpisodes());
  }, 90_000);
});
