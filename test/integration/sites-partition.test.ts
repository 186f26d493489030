/**
 * Partitions and heal (design section 7, "Failure and heal"), on real processes: two sites paired
 * (B joined A's installation: callstore group 1 has A's instance at order 1, B's at order 2), a
 * TCP proxy under the test's control in front of each peer port.
 *
 * The links are cut; B takes the group over in a raised term, so both sides are active and
 * record their own calls. During the cut the phone system sends:
 * - calls only to A, and calls only to B;
 * - calls with events on both sides, as an adapter that moves between the two addresses makes
 *   them: the invite and answer to A and the BYE to B; the invite and answer to both (a batch
 *   resent to the other address) and a BYE of each party, one to each side (each side records
 *   the call, each with its own end); the whole call to A and a hold and resume to B.
 * Then the links heal. Both sites must end with identical CDR sets (whole records compared, not
 * just ids), one record per call id, and each call with events on both sides recorded from the
 * union of its events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import type { CallEvent } from '../../shared/api/events.js';
import type { GroupStatus } from '../../shared/api/status.js';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { peerOf, startPairedSites, waitFor, type Site, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

const PASSWORD = 'password-of-the-installation';
/** calls of each kind */
const N = 8;

async function groupOf(s: Site): Promise<GroupStatus | undefined> {
  const res = await s.api.get('/api/v1/status');
  if (res.status !== 200) return undefined;
  return (res.body.groups as GroupStatus[]).find((g) => g.roletype === 'callstore' && g.group === 1);
}

async function cdrsOf(s: Site, token: string): Promise<Cdr[]> {
  const res = await fetch(`${s.service.url}/api/v1/cdrs/export?format=ndjson`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`export: ${res.status}`);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Cdr)
    .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

const linkState = async (s: Site, peer: Site) => (await peerOf(s, peer.self.id))?.state;

/** A record's comparable whole: its event ids sorted (the order of a fold's list follows arrival), the rest as it is. */
const whole = (c: Cdr) => ({ ...c, eventIds: [...c.eventIds].sort() });

describe('sites: a partition and its heal', () => {
  it('a cut link with calls on both sides, then heal: identical CDR sets, no duplicates, the calls with events on both sides recorded from the union of their events', async () => {
    const { a, b, callstoreOf } = await startPairedSites(running, PASSWORD);
    const [instanceA, instanceB] = [callstoreOf(a), callstoreOf(b)];
    for (const s of [a, b]) await waitFor(`${s.self.name} electing A`, async () => ((await groupOf(s))?.state === 'active' && (await groupOf(s))?.active === instanceA ? true : undefined), 20_000);
    const before = (await groupOf(a)) as GroupStatus;

    const tokenRes = await a.api.post('/api/v1/tokens', { name: 'phone system', scopes: ['events', 'read'] });
    expect(tokenRes.status, tokenRes.text).toBe(201);
    const token = tokenRes.body.token as string;
    await waitFor('the token on B', async () => ((await apiClient(b.service.url, token).get('/api/v1/status')).status === 200 ? true : undefined));
    const [toA, toB] = [apiClient(a.service.url, token), apiClient(b.service.url, token)];

    // the cut: both proxies drop every connection and refuse new ones
    a.proxy.cut();
    b.proxy.cut();
    await waitFor('the link down on both sides', async () => ((await linkState(a, b)) !== 'connected' && (await linkState(b, a)) !== 'connected' ? true : undefined), 10_000);
    const cutTerm = await waitFor('B active in a raised term', async () => {
      const g = await groupOf(b);
      return g?.state === 'active' && g.active === instanceB && g.term > before.term ? g.term : undefined;
    }, 10_000);
    expect((await groupOf(a))?.active).toBe(instanceA);

    // what each side is sent during the cut (a fixed start: nothing depends on today's date)
    const onA: CallEvent[] = [];
    const onB: CallEvent[] = [];
    const t0 = Date.parse('2026-11-22T10:00:00.000Z');
    const only = (to: CallEvent[], prefix: string, source: string) => {
      const s = new CallScript(source, t0);
      for (let k = 0; k < N; k++) s.invite(k * 100, `${prefix}-${k}`, '100', '200').answer(k * 100 + 1000, `${prefix}-${k}`).end(k * 100 + 4000, `${prefix}-${k}`);
      to.push(...s.events);
    };
    only(onA, 'only-a', 'pbx-a');
    only(onB, 'only-b', 'pbx-b');
    // the invite and answer to A, the BYE to B
    const split = new CallScript('pbx-split', t0);
    const byeOnB: CallEvent[] = [];
    for (let k = 0; k < N; k++) {
      split.invite(k * 100, `split-${k}`, '101', '201').answer(k * 100 + 1000, `split-${k}`);
      onA.push(...split.events.splice(0));
      split.end(k * 100 + 6000, `split-${k}`, 'callee');
      byeOnB.push(...split.events.splice(0));
    }
    onB.push(...byeOnB);
    // the invite and answer to both (resent to the other address), the caller's BYE to A and the callee's to B
    const both = new CallScript('pbx-both', t0);
    for (let k = 0; k < N; k++) {
      both.invite(k * 100, `both-${k}`, '102', '202').answer(k * 100 + 1000, `both-${k}`);
      const start = both.events.splice(0);
      onA.push(...start);
      onB.push(...start);
      both.end(k * 100 + 5000, `both-${k}`, 'caller');
      onA.push(...both.events.splice(0));
      both.end(k * 100 + 7000, `both-${k}`, 'callee');
      onB.push(...both.events.splice(0));
    }
    // the whole call to A, a hold and resume to B
    const held = new CallScript('pbx-held', t0);
    for (let k = 0; k < N; k++) {
      held.invite(k * 100, `held-${k}`, '103', '203').answer(k * 100 + 1000, `held-${k}`).end(k * 100 + 9000, `held-${k}`);
      onA.push(...held.events.splice(0));
      held.hold(k * 100 + 2000, `held-${k}`).resume(k * 100 + 5000, `held-${k}`);
      onB.push(...held.events.splice(0));
    }
    for (const [api, events] of [[toA, onA], [toB, onB]] as const) {
      const res = await api.post('/api/v1/events', events);
      expect(res.status, res.text).toBe(200);
    }
    const ids = (prefix: string) => Array.from({ length: N }, (_, k) => `${prefix}-${k}`);
    const expected = [...ids('only-a'), ...ids('only-b'), ...ids('split'), ...ids('both'), ...ids('held')].sort();
    // each side records what it can during the cut: its own calls, and the calls it holds whole
    const sideA = [...ids('only-a'), ...ids('both'), ...ids('held')].sort();
    const sideB = [...ids('only-b'), ...ids('both')].sort();
    for (const [s, want] of [[a, sideA], [b, sideB]] as const) {
      await waitFor(`the records of ${s.self.name} during the cut`, async () => {
        const got = (await cdrsOf(s, token)).map((c) => c.id);
        return JSON.stringify(got) === JSON.stringify(want) ? true : undefined;
      }, 20_000);
    }

    a.proxy.heal();
    b.proxy.heal();
    await waitFor('the link up again', async () => ((await linkState(a, b)) === 'connected' && (await linkState(b, a)) === 'connected' ? true : undefined), 20_000);
    for (const s of [a, b]) await waitFor(`${s.self.name} electing A again`, async () => ((await groupOf(s))?.state === 'active' && (await groupOf(s))?.active === instanceA ? true : undefined), 20_000);
    const healed = (await groupOf(a)) as GroupStatus;
    expect(healed.term).toBeGreaterThan(cutTerm);

    // both sites converge: the same records, whole, one per call; read until they agree (or the time is up, and the difference is shown)
    let last: [Cdr[], Cdr[]] = [[], []];
    const union = new Map<string, string[]>();
    for (const e of [...onA, ...onB]) union.set(e.callId, [...new Set([...(union.get(e.callId) ?? []), e.id])].sort());
    const complete = (cdrs: Cdr[]) => JSON.stringify(cdrs.map((c) => c.id)) === JSON.stringify(expected) && cdrs.every((c) => JSON.stringify(whole(c).eventIds) === JSON.stringify(union.get(c.id)));
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      last = [await cdrsOf(a, token), await cdrsOf(b, token)];
      if (complete(last[0]) && JSON.stringify(last[0].map(whole)) === JSON.stringify(last[1].map(whole))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [ofA, ofB] = last;
    const rebuilt = async (s: Site) => Number(/^sitecall_callstore_records_rebuilt_total\{[^}]*\} (\d+)/m.exec((await s.api.get('/metrics')).text)?.[1] ?? 0);
    const [rebuiltA, rebuiltB] = [await rebuilt(a), await rebuilt(b)];
    const differing = ofA.filter((c, i) => JSON.stringify(whole(c)) !== JSON.stringify(ofB[i] ? whole(ofB[i]) : null)).map((c) => c.id);
    console.log(`[partition] term ${before.term} before the cut, ${cutTerm} on B during it, ${healed.term} after the heal; records: ${ofA.length} on A, ${ofB.length} on B; rebuilt from the union: ${rebuiltA} by A, ${rebuiltB} by B; differing: ${differing.length} (${differing.slice(0, 4).join(', ')})`);
    expect(ofA.map((c) => c.id)).toEqual(expected);
    expect(ofB.map((c) => c.id)).toEqual(expected);
    expect(ofA.map(whole)).toEqual(ofB.map(whole));

    // the calls with events on both sides: one record of the union of their events
    const byId = new Map(ofA.map((c) => [c.id, c]));
    for (const id of expected) expect(whole(byId.get(id) as Cdr).eventIds, id).toEqual(union.get(id));
    for (const k of [0, N - 1]) {
      expect(byId.get(`split-${k}`)).toMatchObject({ disposition: 'ANSWERED', duration: 6, billsec: 5, hangup: { by: 'callee' }, endReason: 'normal' });
      // the earlier of the two BYEs ends the call; the other is noted
      expect(byId.get(`both-${k}`)).toMatchObject({ disposition: 'ANSWERED', duration: 5, billsec: 4, hangup: { by: 'caller' }, endReason: 'normal' });
      expect(byId.get(`held-${k}`)).toMatchObject({ disposition: 'ANSWERED', duration: 9, billsec: 8, holdSec: 3 });
      expect(byId.get(`only-a-${k}`)).toMatchObject({ disposition: 'ANSWERED', duration: 4, site: a.self.id, term: before.term });
      expect(byId.get(`only-b-${k}`)).toMatchObject({ disposition: 'ANSWERED', duration: 4, site: b.self.id, term: cutTerm });
    }
    // the calls recorded on a side that lacked the other side's events were rebuilt (both, held: 2N)
    expect(rebuiltA + rebuiltB).toBeGreaterThanOrEqual(2 * N);
    // no call is left up on either side
    for (const api of [toA, toB]) expect((await api.get('/api/v1/calls?limit=0')).body.total).toBe(0);
  }, 180_000);
});
