import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ActiveCall, Cdr } from '../../shared/api/cdr.js';
import { Adapter } from '../../integrations/kamailio/adapter/adapter.js';
import { parseConfig } from '../../integrations/kamailio/adapter/config.js';
import { createLogger } from '../../integrations/kamailio/adapter/log.js';
import { apiClient } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually } from '../support/events-client.js';
import { login, startService } from '../support/service.js';
import { FakeKamailio, KBOOT } from './fake-kamailio.js';

/**
 * The adapter against the real service while the callstore group of a domain has no active
 * instance (a takeover, a disabled instance): the appliance refuses for now (503, Retry-After),
 * the adapter keeps the events and sends them again, and once the group has an instance again
 * (the configuration edited through the API) every event is stored, in order, none lost or
 * split off into another group. Kamailio is scripted (evapi and snapshot), as in
 * adapter-transport.test.ts.
 */
describe('adapter: temporary refusals by the appliance', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('keeps what the appliance cannot store now and delivers all of it once the domain’s group has an active instance', async () => {
    const svc = await startService();
    cleanup.push(() => svc.stop());
    const admin = apiClient(svc.url, await login(svc));
    // sales.example belongs to group 5, whose only instance is disabled; the default group takes the rest
    const instances = (salesEnabled: boolean) => [cs(), cs({ name: 'sales', group: 5, include_domains: ['sales.example'], enabled: salesEnabled }), vm()];
    expect((await admin.put('/api/v1/config/roles', { revision: 1, instances: instances(false) })).status).toBe(200);
    const token = (await admin.post('/api/v1/tokens', { name: 'kamailio', scopes: ['events'] })).body.token as string;

    const kam = new FakeKamailio();
    const { evapiPort, httpPort } = await kam.listen();
    cleanup.push(() => kam.close());
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-adapter-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const logs: string[] = [];
    const cfg = parseConfig(['--evapi', `127.0.0.1:${evapiPort}`, '--rpc-url', `http://127.0.0.1:${httpPort}/RPC`, '--appliance', svc.url, '--token', token, '--source', 'kam-failover', '--state-dir', dir, '--stats-interval', '0', '--batch', '2'], {});
    const adapter = new Adapter(cfg, createLogger('debug', {}, (l) => logs.push(l)));
    cleanup.push(() => adapter.stop(0));
    adapter.start();
    await eventually(async () => adapter.stats().syncsPosted >= 1, 10_000, 'the first dialog list posted');

    // The first event is of sales.example: what follows it waits with it, in order.
    const party = (n: string, domain: string) => ({ from: `sip:${n}@${domain}`, to: `sip:2${n}@${domain}` });
    kam.event({ type: 'invite', callId: 'fo-sales', fromTag: 'fb', ...party('102', 'sales.example'), domain: 'sales.example' });
    kam.event({ type: 'invite', callId: 'fo-office', fromTag: 'fa', ...party('101', 'office.example'), domain: 'office.example' });
    // no domain on the follow-ups, as kamailio.cfg sends them: they go where their invite went
    kam.event({ type: 'progress', callId: 'fo-sales', fromTag: 'fb', toTag: 'tb', code: 180 });
    kam.event({ type: 'answer', callId: 'fo-sales', fromTag: 'fb', toTag: 'tb' });
    kam.event({ type: 'answer', callId: 'fo-office', fromTag: 'fa', toTag: 'ta' });
    kam.event({ type: 'invite', callId: 'fo-busy', fromTag: 'fc', ...party('103', 'sales.example'), domain: 'sales.example' });
    const last = kam.event({ type: 'fail', callId: 'fo-busy', fromTag: 'fc', code: 486 });

    // Refused for now, more than once, and kept: nothing stored, nothing dropped or counted as refused.
    await eventually(async () => adapter.stats().heldBack >= 2, 15_000, 'two temporary refusals');
    expect((await admin.get('/api/v1/calls')).body.total).toBe(0);
    expect((await admin.get('/api/v1/cdrs/fo-busy')).status).toBe(404);
    expect(adapter.stats()).toMatchObject({ queued: last, rejected: 0, dropped: 0 });
    expect(logs.filter((l) => l.includes('the appliance cannot store events now'))).toHaveLength(1);

    // The group gets its instance back: the next retry goes through.
    const { revision } = (await admin.get('/api/v1/config/roles')).body as { revision: number };
    expect((await admin.put('/api/v1/config/roles', { revision, instances: instances(true) })).status).toBe(200);
    await eventually(async () => adapter.stats().queued === 0 && adapter.stats().inFlight === 0, 15_000, 'the queue delivered');

    const call = async (id: string) => (await admin.get<ActiveCall & { events: { id: string }[] }>(`/api/v1/calls/${id}`)).body;
    const office = await call('fo-office');
    const sales = await call('fo-sales');
    expect([office.instance, office.state, office.eventCount]).toEqual(['callstore1', 'talking', 2]);
    expect([sales.instance, sales.state, sales.eventCount]).toEqual(['sales', 'talking', 3]);
    const busy = await eventually(async () => {
      const r = await admin.get<Cdr>('/api/v1/cdrs/fo-busy');
      return r.status === 200 ? r.body : undefined;
    }, 10_000, 'the record of the busy call');
    expect(busy.disposition).toBe('BUSY');
    // every event stored once: the ids the adapter made from Kamailio's numbering, 1 to 7
    expect(office.events.map((e) => e.id)).toEqual([`kam-failover-${KBOOT}-2`, `kam-failover-${KBOOT}-5`]);
    const stored = [...office.events.map((e) => e.id), ...sales.events.map((e) => e.id), ...busy.eventIds].sort();
    expect(stored).toEqual(Array.from({ length: last }, (_, i) => `kam-failover-${KBOOT}-${i + 1}`).sort());
    expect(adapter.stats()).toMatchObject({ forwarded: last, rejected: 0, dropped: 0 });
    expect(logs.some((l) => l.includes('the appliance stores events again'))).toBe(true);
  });
});
