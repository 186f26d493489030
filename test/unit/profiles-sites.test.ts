import { afterEach, describe, expect, it } from 'vitest';
import { CallScript } from '../support/call-events.js';
import { active, CallSites, passive } from '../support/call-sites.js';
import { link, until } from '../support/replication-link.js';

/*
 * Each call counts once across an installation (design section 4.4 with section 7's
 * Active-Passive): a passive site folds the same calls as the active one from the peers' log, so
 * a site counts only the dialogs its own sources brought in. Two real data directories with their
 * change logs, a callstore instance of one group on each, linked by real replication; each site
 * has its ProfileBook as the service wires it. Restarts rebuild the counts from the calls restored.
 */

const sites = new CallSites(['csA', 'csB']);
afterEach(() => sites.cleanUp());
describe('profile counts across two sites (each call once)', () => {
  it('a site counts the dialogs its own sources brought in, not those it folds from the peer; a restart rebuilds the counts from the active calls', async () => {
    let a = await sites.openCallSite('site-a', 'csA', active(1));
    let b = await sites.openCallSite('site-b', 'csB', passive(1));
    sites.links.push(await link(a, b));
    const t0 = Date.now();

    // two calls taken in on A (one with a trunk profile), one on B
    const atA = new CallScript('pbxA', t0).invite(0, 'a-1', '100', '200', { profiles: [{ name: 'trunk', value: 'sip1' }] }).answer(100, 'a-1').invite(200, 'a-2', '101', '201');
    await a.ingest(atA.events);
    const atB = new CallScript('pbxB', t0).invite(0, 'b-1', '102', '202', { profiles: [{ name: 'trunk', value: 'sip1' }] });
    await b.ingest(atB.events);
    await until('both sites fold all three calls', () => ['a-1', 'a-2', 'b-1'].every((id) => a.instance.get(id) && b.instance.get(id)), 5_000);

    expect(a.total()).toBe(2);
    expect(b.total()).toBe(1);
    expect(a.book.localCounts()).toEqual(
      expect.arrayContaining([
        { name: 'total', value: null, count: 2 },
        { name: 'domain', value: 'office.example', count: 2 },
        { name: 'trunk', value: 'sip1', count: 1 },
      ]),
    );
    expect(b.book.localCounts()).toEqual(expect.arrayContaining([{ name: 'trunk', value: 'sip1', count: 1 }]));

    // an end that reaches A through the log (the source sent it to B) ends A's dialog there
    const endAtB = new CallScript('pbxA2', t0);
    endAtB.add(1_000, 'end', 'a-2', { id: 'pbxA2-end-a-2', by: 'caller' });
    await b.ingest(endAtB.events);
    await until('a-2 ended on A', () => a.total() === 1, 5_000);
    expect(b.total()).toBe(1);

    // a restart of either site: the counts come back from the calls restored, its own only
    a = await sites.reopen(a, 'csA', active(1));
    b = await sites.reopen(b, 'csB', passive(1));
    expect(a.instance.get('b-1')).toBeDefined();
    expect(a.total()).toBe(1);
    expect(b.total()).toBe(1);
    expect(a.book.localCounts()).toEqual(expect.arrayContaining([{ name: 'trunk', value: 'sip1', count: 1 }]));

    // an end the callstore makes (admin terminate on the active site) uncounts at once, even while its record waits
    a.instance.terminate('a-1', 'admin');
    expect(a.total()).toBe(0);
    // a duplicate end changes nothing
    await a.ingest(new CallScript('pbxA', t0).add(3_000, 'end', 'a-1', { id: 'dup-end', by: 'caller' }).events);
    expect(a.total()).toBe(0);
    expect(b.total()).toBe(1);
  });

  it('an admitted call holds a reservation that its invite turns into the dialog, counted once', async () => {
    const a = await sites.openCallSite('site-a', 'csA', active(1));
    const settings = { reservationTtlMs: 60_000, rejectUntilSynced: true };
    expect(a.book.admit({ callId: 'r-1', domain: 'Office.Example' }, settings)).toMatchObject({ allow: true, reason: 'ok' });
    expect(a.total()).toBe(1);
    expect(a.book.holds('r-1')).toBe('reserved');
    await a.ingest(new CallScript('pbxA', Date.now()).invite(0, 'r-1', '100', '200').events);
    expect(a.book.holds('r-1')).toBe('dialog');
    expect(a.total()).toBe(1);
    expect(a.book.counts().items.find((i) => i.name === 'total')).toMatchObject({ count: 1, local: 1, reserved: 0, remote: [] });
    // Kamailio retransmits: the same call id is admitted again, nothing more counted
    expect(a.book.admit({ callId: 'r-1', domain: 'office.example' }, settings)).toMatchObject({ allow: true, counts: [{ name: 'total', count: 1 }, { name: 'domain', value: 'office.example', count: 1 }] });
    expect(a.total()).toBe(1);
  });
});
