import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RolesConfig } from '../../shared/api/roles.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { moveConfig } from '../../service/sync/upgrade.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const OLD = '0b9c3e52-7d1a-4c3e-9f00-0123456789ab';
const NEW = 'a'.repeat(64);

describe('renaming the log origin of an upgraded site', () => {
  it('renames one row: the entries and the documents follow, the clock and the seq go on; a second run has nothing to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-rename-'));
    dirs.push(dir);
    const file = join(dir, 'changelog.sqlite');
    expect(ChangeLog.renameOrigin(file, OLD, NEW)).toBe(false);
    const before = ChangeLog.open(file, { origin: OLD, policyOf: () => 'last-writer-wins', durability: 'os' });
    before.append({ kind: 'config', key: 'roles', body: { revision: 1 } });
    before.append({ kind: 'users', key: 'admin', body: { name: 'admin' } });
    await before.flush();
    const lastHlc = before.after(OLD, 0, 10).at(-1)?.hlc ?? '';
    await before.close();

    expect(ChangeLog.renameOrigin(file, OLD, NEW)).toBe(true);
    expect(ChangeLog.renameOrigin(file, OLD, NEW)).toBe(false);
    const after = ChangeLog.open(file, { origin: NEW, policyOf: () => 'last-writer-wins', durability: 'os' });
    try {
      expect(after.head()).toEqual({ [NEW]: 2 });
      expect(after.document('config', 'roles')).toMatchObject({ origin: NEW, body: { revision: 1 } });
      const next = after.append({ kind: 'config', key: 'roles', body: { revision: 2 } });
      await after.flush();
      expect(next.entry).toMatchObject({ origin: NEW, seq: 3 });
      expect(next.entry.hlc > lastHlc).toBe(true);
    } finally {
      await after.close();
    }
  });

  it('refuses when both names are in the log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-rename-'));
    dirs.push(dir);
    const file = join(dir, 'changelog.sqlite');
    for (const origin of [OLD, NEW]) {
      const log = ChangeLog.open(file, { origin, policyOf: () => 'last-writer-wins', durability: 'os' });
      await log.close();
    }
    expect(() => ChangeLog.renameOrigin(file, OLD, NEW)).toThrow(/both origins/);
  });
});

describe('moving the configuration to the new site id', () => {
  const config: RolesConfig = {
    revision: 4,
    instances: [
      { name: 'callstore1', roletype: 'callstore', iface: 'lo', enabled: true, group: 1, order: 1, include_domains: [], site: OLD, ext: {} },
      { name: 'vmail1', roletype: 'vmail', iface: 'lo', enabled: true, group: 2, order: 1, include_domains: [], ext: {} },
    ],
    ifaceAliases: { [OLD]: { lan: 'lo' } },
  } as RolesConfig;

  it('names the new id where the old one was, and nothing else changes', () => {
    const moved = moveConfig(config, new Set([OLD]), NEW);
    expect(moved?.instances.map((i) => i.site)).toEqual([NEW, undefined]);
    expect(moved?.ifaceAliases).toEqual({ [NEW]: { lan: 'lo' } });
    expect(moved?.instances[1]).toBe(config.instances[1]);
  });

  it('finds nothing to move once moved', () => {
    const moved = moveConfig(config, new Set([OLD]), NEW);
    expect(moveConfig({ ...config, ...moved } as RolesConfig, new Set([OLD]), NEW)).toBeUndefined();
  });
});
