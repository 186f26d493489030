/**
 * Joining (design section 7): the merged configuration (pure, property-tested) and the adoption
 * itself between two real data directories (nedb collections over real change logs, the real
 * AuthService and ConfigService), with the donor's clock ahead of the joining site's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { RoleInstance, RolesConfig } from '../../shared/api/roles.js';
import { AuthService } from '../../service/auth/auth.js';
import { RolesConfigStore } from '../../service/config/roles-store.js';
import { ConfigService } from '../../service/config/service.js';
import { ChangeFeed } from '../../service/storage/changes.js';
import { conflictRuleOf, policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { DocumentStore } from '../../service/storage/documents.js';
import { adoptFromDonor } from '../../service/sync/adopt.js';
import { ConflictService } from '../../service/sync/conflicts.js';
import { donorState } from '../../service/sync/join.js';
import { mergeJoiningConfig } from '../../service/sync/join-config.js';
import { checkpointWorker } from '../support/callstore-harness.js';

const SELF = { id: 'b'.repeat(64), name: 'branch-2' };
const DONOR = 'a'.repeat(64);

const instanceArb = (site: string) =>
  fc.record({
    name: fc.constantFrom('callstore1', 'Callstore1', 'vmail1', 'store', 'branch2', 'vmail1branch2'),
    roletype: fc.constantFrom('callstore' as const, 'vmail' as const),
    group: fc.integer({ min: 1, max: 4 }),
    order: fc.integer({ min: 1, max: 3 }),
    include_domains: fc.constantFrom<string[][]>([], ['a.example'], ['b.example', 'a.example']),
  }).map((r): RoleInstance => ({ ...r, iface: 'lo', enabled: true, site, ext: {} }));

/** A configuration whose names are unique ignoring case (as validation keeps them). */
const configArb = (site: string) =>
  fc.tuple(fc.array(instanceArb(site), { maxLength: 6 }), fc.integer({ min: 1, max: 50 })).map(([list, revision]): RolesConfig => {
    const seen = new Set<string>();
    return { revision, instances: list.filter((i) => !seen.has(i.name.toLowerCase()) && seen.add(i.name.toLowerCase())) };
  });

describe('the configuration a joining site adopts', () => {
  it('keeps the installation’s instances as they are, adds every own instance under its site with unique names, and is the same when adopted again', () => {
    fc.assert(
      fc.property(configArb(DONOR), configArb(SELF.id), (installation, own) => {
        const merged = mergeJoiningConfig(installation, own, SELF);
        const names = merged.instances.map((i) => i.name.toLowerCase());
        expect(new Set(names).size).toBe(names.length);
        for (const n of merged.instances.map((i) => i.name)) expect(n).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
        expect(merged.instances.slice(0, installation.instances.length)).toEqual(installation.instances);
        const added = merged.instances.slice(installation.instances.length);
        expect(added.map((i) => ({ roletype: i.roletype, iface: i.iface, include_domains: i.include_domains }))).toEqual(own.instances.map((i) => ({ roletype: i.roletype, iface: i.iface, include_domains: i.include_domains })));
        for (const i of added) expect(i.site).toBe(SELF.id);
        // a group joined as standby keeps the installation's orders below its own
        for (const [k, i] of added.entries()) {
          const mine = own.instances[k] as RoleInstance;
          expect(i.order).toBeGreaterThanOrEqual(mine.order);
        }
        // a join repeated after a crash (its own configuration is the merged one now) changes nothing more
        const again = mergeJoiningConfig(installation, { revision: installation.revision + 1, ...merged }, SELF);
        expect(again.instances).toEqual(merged.instances);
      }),
      { numRuns: 300 },
    );
  });

  it('renames clashing names with the site name, and places a default group of the joining site as standby of the installation’s', () => {
    const installation: RolesConfig = {
      revision: 3,
      instances: [
        { name: 'callstore1', roletype: 'callstore', iface: 'eth0', group: 1, order: 1, include_domains: [], site: DONOR },
        { name: 'store', roletype: 'callstore', iface: 'eth0', group: 2, order: 1, include_domains: ['b.example'], site: DONOR },
      ],
    };
    const own: RolesConfig = {
      revision: 1,
      instances: [
        { name: 'callstore1', roletype: 'callstore', iface: 'lo', group: 1, order: 1, include_domains: [], site: SELF.id },
        { name: 'vmail1', roletype: 'vmail', iface: 'lo', group: 2, order: 1, site: SELF.id },
      ],
    };
    expect(mergeJoiningConfig(installation, own, SELF).instances).toEqual([
      ...installation.instances,
      { name: 'callstore1branch2', roletype: 'callstore', iface: 'lo', group: 1, order: 2, include_domains: [], site: SELF.id },
      // no vmail group of the installation serves the same domains, and 2 is a callstore group: the next free number
      { name: 'vmail1', roletype: 'vmail', iface: 'lo', group: 3, order: 1, site: SELF.id },
    ]);
  });
});

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function siteData(id: string, name: string, password: string, clockAheadMs = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-joining-'));
  dirs.push(dir);
  const documents = new DocumentStore(DocumentStore.directoryFor(dir), new ChangeFeed());
  const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: id, policyOf, conflictRuleOf, durability: 'os', checkpointWorker: checkpointWorker(), physicalNow: () => Date.now() + clockAheadMs });
  documents.attachLog(log);
  closers.push(async () => {
    await documents.flush();
    documents.detachLog();
    await log.close();
  });
  const auth = await AuthService.open(documents, { sessionTtlMs: 60_000 });
  await auth.setPassword('admin', password);
  const config = new ConfigService(await RolesConfigStore.open(documents, id), { selfId: id, selfName: name, peers: () => new Map(), isUp: (s) => s === id });
  const conflicts = new ConflictService({ log, selfId: id, siteName: () => null });
  return { id, name, log, auth, config, conflicts };
}

describe('adopting the installation', () => {
  it('takes the donor’s users (its clock 30 s ahead), tokens and configuration; keeps its own tokens; its pre-join user loses everywhere; a second adoption writes nothing', async () => {
    const donor = await siteData(DONOR, 'main', 'donor-password', 30_000);
    const donorToken = await donor.auth.createToken('pbx of main', ['events']);
    const joiner = await siteData(SELF.id, SELF.name, 'joiner-password');
    const joinerToken = await joiner.auth.createToken('pbx of branch', ['events']);
    await joiner.auth.login('admin', 'joiner-password');
    const preJoin = joiner.log.document('users', 'admin');

    const state = donorState(donor.log);
    const result = await adoptFromDonor({ log: joiner.log, config: joiner.config, auth: joiner.auth, conflicts: joiner.conflicts, self: SELF }, state);
    expect(result.replacedUsers).toEqual(['admin']);

    // the donor's user: its clock is ahead, so its version won the merge as it is (a later edit on the donor is not overwritten)
    const adopted = joiner.log.document<{ passwordHash: string }>('users', 'admin');
    const donorVersion = donor.log.document<{ passwordHash: string }>('users', 'admin');
    expect(adopted).toEqual(donorVersion);
    expect((adopted?.hlc ?? '') > (preJoin?.hlc ?? '')).toBe(true);
    // the merged configuration is written after the clock saw the donor's stamps: it beats the donor's 30 s ahead
    expect((joiner.log.document('config', 'roles')?.hlc ?? '') > (donor.log.document('config', 'roles')?.hlc ?? '')).toBe(true)
    await expect(joiner.auth.login('admin', 'donor-password')).resolves.toBeTruthy();
    await expect(joiner.auth.login('admin', 'joiner-password')).rejects.toThrow(/Wrong user name or password/);
    // both sites' tokens work on the joining site
    await expect(joiner.auth.authenticate(donorToken.token)).resolves.toMatchObject({ kind: 'token', name: 'pbx of main' });
    await expect(joiner.auth.authenticate(joinerToken.token)).resolves.toMatchObject({ kind: 'token', name: 'pbx of branch' });
    // the configuration: the donor's and the joiner's instances, as a revision past both
    const config = joiner.config.get();
    expect(config.revision).toBe(Math.max(donor.config.get().revision, 1) + 1);
    expect(config.instances.map((i) => [i.name, i.site])).toEqual([
      ['callstore1', DONOR],
      ['vmail1', DONOR],
      ['callstore1branch2', SELF.id],
      ['vmail1branch2', SELF.id],
    ]);

    // the joiner's whole log (its pre-join versions first) reaching the donor changes the donor's user back to nothing else
    const { applied } = donor.log.receive(joiner.log.after(SELF.id, 0, 1_000));
    await applied;
    expect(donor.log.document<{ passwordHash: string }>('users', 'admin')?.body?.passwordHash).toBe(donorVersion?.body?.passwordHash);
    expect((donor.log.document<RolesConfig>('config', 'roles')?.body?.instances ?? []).map((i) => i.name)).toEqual(config.instances.map((i) => i.name));
    await expect(donor.auth.login('admin', 'donor-password')).resolves.toBeTruthy();
    await expect(donor.auth.authenticate(joinerToken.token)).resolves.toMatchObject({ name: 'pbx of branch' });
    // what the join replaced of either site is found as overwritten when the logs meet, and dismissed by the adoption
    expect(donor.log.conflicts({ state: 'all', limit: 10 }).items.map((c) => [c.kind, c.key])).toEqual(expect.arrayContaining([['config', 'roles']]));
    expect(donor.log.conflicts({ state: 'open', limit: 10 }).items).toEqual([]);

    // adopting again (a crash before it was recorded) replaces nobody and adds no instance
    const again = await adoptFromDonor({ log: joiner.log, config: joiner.config, auth: joiner.auth, conflicts: joiner.conflicts, self: SELF }, donorState(donor.log));
    expect(again.replacedUsers).toEqual([]);
    expect(joiner.config.get().instances).toEqual(config.instances);
  });

  it('writes the donor’s user anew when its own pre-join one is the later: past both stamps, so it wins on the donor too', async () => {
    const donor = await siteData(DONOR, 'main', 'donor-password', -30_000);
    const joiner = await siteData(SELF.id, SELF.name, 'joiner-password');
    const preJoin = joiner.log.document('users', 'admin');
    const donorVersion = donor.log.document<{ passwordHash: string }>('users', 'admin');
    expect((preJoin?.hlc ?? '') > (donorVersion?.hlc ?? '')).toBe(true);
    const result = await adoptFromDonor({ log: joiner.log, config: joiner.config, auth: joiner.auth, conflicts: joiner.conflicts, self: SELF }, donorState(donor.log));
    expect(result.replacedUsers).toEqual(['admin']);
    const adopted = joiner.log.document<{ passwordHash: string }>('users', 'admin');
    expect(adopted?.origin).toBe(SELF.id);
    expect(adopted?.body?.passwordHash).toBe(donorVersion?.body?.passwordHash);
    expect((adopted?.hlc ?? '') > (preJoin?.hlc ?? '')).toBe(true);
    await expect(joiner.auth.login('admin', 'donor-password')).resolves.toBeTruthy();
    // on the donor, the joiner's entries in order: its pre-join user, then the adoption's later one
    await donor.log.receive(joiner.log.after(SELF.id, 0, 1_000)).applied;
    expect(donor.log.document<{ passwordHash: string }>('users', 'admin')?.body?.passwordHash).toBe(donorVersion?.body?.passwordHash);
    await expect(donor.auth.login('admin', 'donor-password')).resolves.toBeTruthy();
  });

  it('the joiner’s later pre-join user and configuration never win on the donor, entry by entry, once the donor is told what the adoption superseded (without it they do)', async () => {
    const donor = await siteData(DONOR, 'main', 'donor-password', -30_000);
    const control = await siteData(DONOR, 'main', 'donor-password', -30_000);
    const joiner = await siteData(SELF.id, SELF.name, 'joiner-password');
    const session = await donor.auth.login('admin', 'donor-password');
    const donorHash = donor.log.document<{ passwordHash: string }>('users', 'admin')?.body?.passwordHash;
    const donorRoles = JSON.stringify(donor.config.get().instances);
    const preJoinRoles = JSON.stringify(joiner.config.get().instances);
    expect((joiner.log.document('users', 'admin')?.hlc ?? '') > (donor.log.document('users', 'admin')?.hlc ?? '')).toBe(true);
    const result = await adoptFromDonor({ log: joiner.log, config: joiner.config, auth: joiner.auth, conflicts: joiner.conflicts, self: SELF }, donorState(donor.log));
    expect(result.supersedes.map((v) => `${v.kind}/${v.key}`).sort()).toEqual(['config/roles', 'users/admin']);
    for (const v of result.supersedes) expect(v.hlc).toBe(joiner.log.document(v.kind, v.key)?.hlc);
    // the same adoption repeated (a crash before it was recorded) names the same keys, read from what the log holds then
    const again = await adoptFromDonor({ log: joiner.log, config: joiner.config, auth: joiner.auth, conflicts: joiner.conflicts, self: SELF }, donorState(donor.log));
    expect(again.supersedes.map((v) => `${v.kind}/${v.key}`)).toEqual(result.supersedes.map((v) => `${v.kind}/${v.key}`));
    for (const v of again.supersedes) expect(v.hlc).toBe(joiner.log.document(v.kind, v.key)?.hlc);

    donor.log.supersedeOwnVersions(SELF.id, again.supersedes);
    const entries = joiner.log.after(SELF.id, 0, 1_000);
    let controlLost = false;
    for (const entry of entries) {
      // one entry a batch: the donor's state between any two of the joiner's entries
      await donor.log.receive([entry]).applied;
      await control.log.receive([entry]).applied;
      expect(donor.log.document<{ passwordHash: string }>('users', 'admin')?.body?.passwordHash, `after ${entry.kind}/${entry.key}#${entry.seq}`).toBe(donorHash);
      expect(JSON.stringify(donor.config.get().instances)).not.toBe(preJoinRoles);
      await expect(donor.auth.authenticate(session.token)).resolves.toMatchObject({ kind: 'session', name: 'admin' });
      if (control.log.document<{ passwordHash: string }>('users', 'admin')?.body?.passwordHash !== donorHash) controlLost = true;
    }
    // the donor that was not told held the joiner's older admin for a while: what this guards against
    expect(controlLost).toBe(true);
    expect(donor.log.head()[SELF.id]).toBe(entries.at(-1)?.seq);
    expect(JSON.stringify(donor.config.get().instances)).toBe(JSON.stringify(joiner.config.get().instances));
    expect(JSON.stringify(donor.config.get().instances)).not.toBe(donorRoles);
    expect(donor.log.conflicts({ state: 'open', limit: 10 }).items).toEqual([]);
  });
});
