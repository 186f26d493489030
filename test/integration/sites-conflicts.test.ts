/**
 * Partitions: the configuration edited on both sides of a cut (design section 7). Two real service
 * processes pair (B joins A); the links between them are cut at their TCP proxies; each site saves
 * its own edit of the role configuration; the links heal. Both sites then hold the same
 * configuration (the later edit, by the rules of the log), and both list the same conflict: the
 * overwritten edit beside the current one, its secret redacted. A dismissal on one site dismisses
 * it on the other; "use the overwritten one" is an ordinary save.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Conflict, ConflictList } from '../../shared/api/conflicts.js';
import type { RolesConfig } from '../../shared/api/roles.js';
import { pairingCode, peerOf, startSite, waitFor, type Site, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

async function roles(s: Site): Promise<RolesConfig> {
  const res = await s.api.get('/api/v1/config/roles');
  expect(res.status, res.text).toBe(200);
  return res.body as RolesConfig;
}

async function openConflicts(s: Site): Promise<ConflictList> {
  const res = await s.api.get('/api/v1/conflicts?kind=config&key=roles');
  expect(res.status, res.text).toBe(200);
  return res.body as ConflictList;
}

/** Saves the configuration with the first instance's ext replaced. */
async function editFirst(s: Site, ext: Record<string, unknown>): Promise<RolesConfig> {
  const current = await roles(s);
  const [first, ...rest] = current.instances;
  const res = await s.api.put('/api/v1/config/roles', { revision: current.revision, instances: [{ ...first, ext }, ...rest], ...(current.ifaceAliases ? { ifaceAliases: current.ifaceAliases } : {}) });
  expect(res.status, res.text).toBe(200);
  return res.body as RolesConfig;
}

const linkState = async (s: Site, peer: Site) => (await peerOf(s, peer.self.id))?.state;

describe('sites: configuration edited on both sides of a cut', () => {
  it('after the heal both sites run the later edit and list the same overwritten one; a dismissal on one reaches the other; using it is a normal save', async () => {
    const a = await startSite(running, {}, { adminPassword: 'password-of-a' });
    const b = await startSite(running, {}, { adminPassword: 'password-of-b' });
    const paired = await b.api.post('/api/v1/sites', { url: a.self.publicUrl, code: await pairingCode(a) });
    expect(paired.status, paired.text).toBe(201);
    await b.relogin('password-of-a');
    await waitFor('B synced', async () => ((await peerOf(b, a.self.id))?.join?.state === 'synced' ? true : undefined), 30_000);
    const joined = await roles(b);
    await waitFor('A to have the joined configuration', async () => ((await roles(a)).revision === joined.revision ? true : undefined));
    // joining replaced each site's configuration on purpose: nothing shows as overwritten
    expect((await openConflicts(a)).items).toEqual([]);
    expect((await openConflicts(b)).items).toEqual([]);

    // the cut: both proxies drop every connection and refuse new ones
    a.proxy.cut();
    b.proxy.cut();
    await waitFor('the link down on both sides', async () => ((await linkState(a, b)) !== 'connected' && (await linkState(b, a)) !== 'connected' ? true : undefined), 10_000);

    // both sides edit the same revision (B saves after A, so B's stamp is normally the later one;
    // which one wins is read back below, not assumed)
    const onA = await editFirst(a, { edited: 'on A', smtpPassword: 'secret-of-a' });
    const onB = await editFirst(b, { edited: 'on B', smtpPassword: 'secret-of-b' });
    expect(onA.revision).toBe(onB.revision);

    a.proxy.heal();
    b.proxy.heal();
    await waitFor('the link up again', async () => ((await linkState(a, b)) === 'connected' && (await linkState(b, a)) === 'connected' ? true : undefined), 20_000);

    // the same configuration on both: the later edit
    const edited = (c: RolesConfig) => (c.instances[0]?.ext as { edited?: string } | undefined)?.edited;
    const kept = await waitFor('the same configuration on both', async () => {
      const [ca, cb] = [edited(await roles(a)), edited(await roles(b))];
      return ca === cb ? ca : undefined;
    });
    expect(['on A', 'on B']).toContain(kept);
    expect((await roles(a)).instances).toEqual((await roles(b)).instances);
    const [winner, loser] = kept === 'on B' ? [b, a] : [a, b];
    const lostEdit = kept === 'on B' ? 'on A' : 'on B';

    // the same conflict on both: the edit that lost, overwritten by the other
    const listed = await waitFor('the conflict on both', async () => {
      const [la, lb] = [await openConflicts(a), await openConflicts(b)];
      return la.items.length === 1 && lb.items.length === 1 ? [la, lb] : undefined;
    });
    const [ca, cb] = listed.map((l) => l.items[0] as Conflict) as [Conflict, Conflict];
    expect(ca.id).toBe(cb.id);
    for (const c of [ca, cb]) {
      expect(c).toMatchObject({ kind: 'config', key: 'roles', state: 'open', dismissal: null });
      expect(c.overwritten.origin).toBe(loser.self.id);
      expect(c.overwrittenBy.origin).toBe(winner.self.id);
      const lostFirst = (c.overwritten.body as RolesConfig).instances[0]?.ext as Record<string, unknown>;
      expect(lostFirst).toEqual({ edited: lostEdit, smtpPassword: '********' });
      expect(((c.current?.body as RolesConfig).instances[0]?.ext as Record<string, unknown>)['edited']).toBe(kept);
      expect(JSON.stringify(c)).not.toMatch(/secret-of-/);
      expect(Date.parse(c.overwritten.writtenAt)).toBeLessThanOrEqual(Date.parse(c.overwrittenBy.writtenAt));
    }
    expect(ca.overwritten.siteName).toBe(loser.self.name);
    expect(cb.overwritten.siteName).toBe(loser.self.name);
    // the answer's shape: total and paging
    expect(listed[0]?.total).toBe(1);
    expect(listed[0]?.nextCursor).toBeNull();

    // bad input: a clear error, nothing stored
    const badId = await a.api.post('/api/v1/conflicts/not-an-id/dismiss');
    expect(badId.status).toBe(400);
    expect(JSON.stringify(badId.body)).toMatch(/\/id/);
    const unknown = await a.api.post(`/api/v1/conflicts/${'0'.repeat(32)}/dismiss`);
    expect(unknown.status).toBe(404);
    const badCursor = await a.api.get('/api/v1/conflicts?cursor=nope');
    expect(badCursor.status).toBe(400);

    // "use the overwritten one": its instances saved again through the normal save (on the winner's site), a new revision
    const now = await roles(winner);
    const restored = await winner.api.put('/api/v1/config/roles', { revision: now.revision, instances: (ca.overwritten.body as RolesConfig).instances.map((i, n) => (n === 0 ? { ...i, ext: { edited: lostEdit } } : i)) });
    expect(restored.status, restored.text).toBe(200);
    await waitFor('the other site runs the restored edit', async () => (edited(await roles(loser)) === lostEdit ? true : undefined));

    // keep current (dismiss) on A: B shows it dismissed too, by whom and where
    const dismissed = await a.api.post(`/api/v1/conflicts/${ca.id}/dismiss`);
    expect(dismissed.status, dismissed.text).toBe(200);
    expect(dismissed.body).toMatchObject({ id: ca.id, state: 'dismissed', dismissal: { by: 'admin', origin: a.self.id } });
    expect((await openConflicts(a)).items).toEqual([]);
    await waitFor('the dismissal on B', async () => ((await openConflicts(b)).items.length === 0 ? true : undefined));
    const onBAll = (await b.api.get('/api/v1/conflicts?state=dismissed')).body as ConflictList;
    // beside it, what the join replaced on purpose, dismissed by the join itself
    expect(onBAll.items.map((c) => c.id)).toContain(ca.id);
    expect(onBAll.items.filter((c) => c.id !== ca.id).map((c) => c.dismissal?.by)).toEqual(onBAll.items.filter((c) => c.id !== ca.id).map(() => 'system (joining)'));
    // dismissing again keeps the first dismissal
    const again = await b.api.post(`/api/v1/conflicts/${ca.id}/dismiss`);
    expect(again.status).toBe(200);
    expect(again.body.dismissal).toEqual(dismissed.body.dismissal);
  });
});
