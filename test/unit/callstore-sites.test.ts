import { afterEach, describe, expect, it } from 'vitest';
import { CallScript } from '../support/call-events.js';
import { active, type CallSite, CallSites, passive } from '../support/call-sites.js';
import { link, until } from '../support/replication-link.js';

/*
 * Active-Passive across sites, the callstore's part (design section 7), on real parts: two data
 * directories, each with its change log, its CDR store view and a callstore instance of the same
 * group (csA on site A, csB on site B), linked by real replication sessions over a WebSocket.
 * The roles are set by hand here (the election has its own tests, and the service wires it).
 */

const sites = new CallSites(['csA', 'csB']);
afterEach(() => sites.cleanUp());
describe('callstore across two sites (Active-Passive)', () => {
  it('the passive instance folds the calls the active one takes in and the other way round; only the active one writes records, which drop the passive one’s calls', async () => {
    const a = await sites.openCallSite('site-a', 'csA', active(1));
    const b = await sites.openCallSite('site-b', 'csB', passive(1));
    sites.links.push(await link(a, b));
    const t0 = Date.now();

    // an event taken in on A is an active call on B within a second
    const atA = new CallScript('pbxA', t0).invite(0, 'call-1', '100', '200').answer(500, 'call-1');
    await a.ingest(atA.events);
    const sentAt = Date.now();
    await until('call-1 on B', () => b.instance.get('call-1') !== undefined, 5_000);
    expect(Date.now() - sentAt).toBeLessThan(1_000);
    expect(b.instance.get('call-1')).toMatchObject({ state: 'talking', instance: 'csB' });

    // a call whose events reach the passive site: it is stored there and the active one folds and records it
    const atB = new CallScript('pbxB', t0).invite(0, 'call-2', '101', '201').answer(100, 'call-2').end(900, 'call-2');
    await b.ingest(atB.events);
    await until('call-2 recorded by A', () => a.ownRecords().includes('call-2'), 5_000);
    await until('call-2 gone from B', () => b.instance.get('call-2') === undefined, 5_000);
    expect(b.ownRecords()).toEqual([]);
    expect(b.activeDialogs()).toEqual(['call-1']);
    // the record reached B's store through the log: one record, the active site's, in its term
    await until('call-2 in B’s store', () => b.cdrs.records.has('call-2'), 5_000);
    expect(b.cdrs.records.get('call-2')).toMatchObject({ site: 'site-a', term: 1, eventIds: atB.events.map((e) => e.id) });

    // call-1 ends on A: recorded once, by A, and gone on both
    const end = new CallScript('pbxA', t0);
    end.add(5_000, 'end', 'call-1', { id: 'pbxA-end-1', by: 'caller' });
    await a.ingest(end.events);
    await until('call-1 recorded and gone on B', () => b.cdrs.records.has('call-1') && b.instance.get('call-1') === undefined, 5_000);
    expect(a.ownRecords()).toEqual(['call-1', 'call-2']);
    expect(b.ownRecords()).toEqual([]);
    expect(b.activeDialogs()).toEqual([]);
    expect(a.activeDialogs()).toEqual([]);
    expect(b.instance.awaitingRecords).toBe(0);

    // an event the source sent to both sites is stored once on each (a duplicate by id)
    const both = new CallScript('pbxAB', t0).invite(0, 'call-3', '102', '202');
    await a.ingest(both.events);
    await b.ingest(both.events);
    await until('call-3 on both', () => a.instance.get('call-3') !== undefined && b.instance.get('call-3') !== undefined, 5_000);
    const indexed = (s: CallSite) => s.log.database.prepare("SELECT count(*) FROM journal_events WHERE id = ?").pluck().get(both.events[0]?.id) as number;
    await new Promise((r) => setTimeout(r, 300));
    expect([indexed(a), indexed(b)]).toEqual([1, 1]);
    expect(a.instance.get('call-3')?.eventCount).toBe(1);
    expect(b.instance.get('call-3')?.eventCount).toBe(1);
  });

  it('a passive instance keeps finished calls unrecorded, folds a peer’s calls again after a restart, and writes their records in its term when it takes over', async () => {
    const a = await sites.openCallSite('site-a', 'csA', active(1));
    let b = await sites.openCallSite('site-b', 'csB', passive(1));
    const ab = await link(a, b);
    sites.links.push(ab);
    const t0 = Date.now();
    const s = new CallScript('pbx', t0).invite(0, 'call-x', '100', '200').answer(100, 'call-x').invite(200, 'call-y', '101', '201');
    await a.ingest(s.events);
    await until('both calls on B', () => b.instance.get('call-x') !== undefined && b.instance.get('call-y') !== undefined, 5_000);

    // the link is cut (A is gone); call-x ends at B, still passive: finished, no record
    sites.links.splice(sites.links.indexOf(ab), 1);
    await ab.cut();
    const end = new CallScript('pbx', t0);
    end.add(3_000, 'end', 'call-x', { id: 'pbx-end-x', by: 'callee' });
    await b.ingest(end.events);
    await until('call-x finished on B', () => b.instance.awaitingRecords === 1, 5_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(b.ownRecords()).toEqual([]);

    // B restarts (still passive): A's events of its calls were made active here, so both calls are back
    b = await sites.reopen(b, 'csB', passive(1));
    expect(b.instance.get('call-y')).toMatchObject({ state: 'trying' });
    await until('call-x finished again on B', () => b.instance.awaitingRecords === 1, 5_000);

    // B takes over in term 2: it writes the record of the finished call, and holds the other
    b.instance.setRole(active(2));
    // the log's entry first, then the store's view of it: wait for both
    await until('call-x recorded by B', () => b.ownRecords().includes('call-x') && b.cdrs.records.has('call-x'), 5_000);
    expect(b.cdrs.records.get('call-x')).toMatchObject({ site: 'site-b', term: 2, endReason: 'normal' });
    expect(b.instance.get('call-y')).toBeDefined();
    expect(b.instance.awaitingRecords).toBe(0);
    expect(b.activeDialogs()).toEqual(['call-y']);
  });

  it('right after a takeover from a reachable instance the new active one waits before it writes, and a record of the former active one arriving meanwhile drops the call: one record', async () => {
    const a = await sites.openCallSite('site-a', 'csA', active(1));
    const b = await sites.openCallSite('site-b', 'csB', passive(1));
    sites.links.push(await link(a, b));
    const t0 = Date.now();
    const s = new CallScript('pbx', t0).invite(0, 'call-h', '100', '200').answer(100, 'call-h');
    await a.ingest(s.events);
    await until('call-h on B', () => b.instance.get('call-h') !== undefined, 5_000);
    // B takes over (term 2) with a grace: A has not heard of it yet, and records the call's end
    b.instance.setRole({ active: true, term: 2, writableAtMs: Date.now() + 1_500 });
    const end = new CallScript('pbx', t0);
    end.add(2_000, 'end', 'call-h', { id: 'pbx-end-h', by: 'caller' });
    await a.ingest(end.events);
    await until('A’s record on B', () => b.cdrs.records.has('call-h'), 5_000);
    await new Promise((r) => setTimeout(r, 1_700));
    expect(a.ownRecords()).toEqual(['call-h']);
    expect(b.ownRecords()).toEqual([]);
    expect(b.instance.get('call-h')).toBeUndefined();
  });

  it.each([
    ['the site that stays active rebuilds it at once', false],
    ['a site passive at the heal rebuilds it once it takes over', true],
  ])('a call recorded on both sides of a cut, each without the other side’s BYE: after the heal both stores hold one record of the union of its events (%s)', async (_, passiveAtHeal) => {
    // the cut: both active, each in its own term
    const a = await sites.openCallSite('site-a', 'csA', active(3));
    const b = await sites.openCallSite('site-b', 'csB', active(2));
    const t0 = Date.now();
    // the invite and answer reached both (a batch resent to the other address); each party's BYE reached one side
    const start = new CallScript('pbx', t0).invite(0, 'call-p', '100', '200').answer(1_000, 'call-p');
    const byeA = new CallScript('pbx', t0).add(5_000, 'end', 'call-p', { id: 'pbx-bye-caller', by: 'caller' });
    const byeB = new CallScript('pbx', t0).add(7_000, 'end', 'call-p', { id: 'pbx-bye-callee', by: 'callee' });
    await a.ingest([...start.events, ...byeA.events]);
    await b.ingest([...start.events, ...byeB.events]);
    await until('a record on each side', () => a.cdrs.records.has('call-p') && b.cdrs.records.has('call-p'), 5_000);
    expect(a.cdrs.records.get('call-p')?.eventIds).toHaveLength(3);
    expect(b.cdrs.records.get('call-p')).toMatchObject({ site: 'site-b', term: 2, hangup: { by: 'callee' }, duration: 7 });

    // the heal: B learns A's later term and is passive (or both are, while A catches up)
    b.instance.setRole(passive(3));
    if (passiveAtHeal) a.instance.setRole(passive(3));
    sites.links.push(await link(a, b));
    const union = ['pbx-000001', 'pbx-000002', 'pbx-bye-caller', 'pbx-bye-callee'].sort();
    const rebuilt = (s: CallSite) => [...(s.cdrs.records.get('call-p')?.eventIds ?? [])].sort().join() === union.join();
    if (passiveAtHeal) {
      // each holds the other's record and events now; nobody rebuilds while no instance may write
      await until('each side has the other’s record', () => a.log.database.prepare("SELECT count(*) FROM entries WHERE kind = 'cdr'").pluck().get() === 2 && b.log.database.prepare("SELECT count(*) FROM entries WHERE kind = 'cdr'").pluck().get() === 2, 5_000);
      expect(rebuilt(a) || rebuilt(b)).toBe(false);
      a.instance.setRole(active(4));
    }
    await until('the rebuilt record on both', () => rebuilt(a) && rebuilt(b), 5_000);
    const record = a.cdrs.records.get('call-p');
    expect(b.cdrs.records.get('call-p')).toEqual(record);
    // the earlier BYE ends the call; the record is the active site's, in its term
    expect(record).toMatchObject({ site: 'site-a', term: passiveAtHeal ? 4 : 3, hangup: { by: 'caller' }, duration: 5, billsec: 4, disposition: 'ANSWERED' });
    // B wrote only its partial record; A its partial one and the rebuild
    expect(b.ownRecords()).toEqual(['call-p']);
    expect(a.ownRecords()).toEqual(['call-p', 'call-p']);
    expect(a.activeDialogs()).toEqual([]);
    expect(b.activeDialogs()).toEqual([]);
  });
});
