import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { encodeHlc } from '../../service/storage/changelog/core/hlc.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { runCli, startService, tempDir } from '../support/service.js';

const DAY_MS = 24 * 60 * 60_000;

/** The base (compacted up to) of an origin, read beside the service. */
function baseOf(dataDir: string, origin: string): number | undefined {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT base FROM origins WHERE name = ?').get(origin) as { base: number } | undefined)?.base;
  } finally {
    db.close();
  }
}

describe('change log retention setting', () => {
  it('compacts at start the entries older than logRetentionDays, and only those', async () => {
    const first = await startService({ env: { SITECALL_LOG_LEVEL: 'warn' } });
    const dataDir = first.dataDir;
    try {
      expect(await first.stop({ keepData: true })).toBe(0);
      // Entries of another site, 10 days and 2 days old: tombstones of tokens nobody holds, so the
      // state the service serves is the same whichever of them it keeps.
      const log = ChangeLog.open(join(dataDir, 'changelog.sqlite'), { origin: 'writer-of-this-test', policyOf });
      const at = (daysAgo: number, seq: number) => ({ origin: 'old-site', seq, hlc: encodeHlc({ wall: Date.now() - daysAgo * DAY_MS, counter: 0 }), kind: 'tokens', key: `gone-${seq}`, body: null });
      log.receive([at(10, 1), at(10, 2), at(2, 3)]);
      await log.close();

      // the default (30 days) keeps all three
      let svc = await startService({ dataDir, env: { SITECALL_LOG_LEVEL: 'warn' } });
      expect(await svc.stop({ keepData: true })).toBe(0);
      expect(baseOf(dataDir, 'old-site')).toBe(0);
      // 5 days: the two older ones go, the base moves to 2
      svc = await startService({ dataDir, env: { SITECALL_LOG_LEVEL: 'info', SITECALL_LOG_RETENTION_DAYS: '5' } });
      expect(svc.logs()).toMatch(/"removed":2,.*"msg":"change log compacted"/);
      expect(await svc.stop({ keepData: true })).toBe(0);
      expect(baseOf(dataDir, 'old-site')).toBe(2);
      // a flag beats the environment: 1 day takes the third one too
      svc = await startService({ dataDir, env: { SITECALL_LOG_LEVEL: 'warn', SITECALL_LOG_RETENTION_DAYS: '30' }, args: ['--log-retention-days', '1'] });
      expect(await svc.stop({ keepData: true })).toBe(0);
      expect(baseOf(dataDir, 'old-site')).toBe(3);
    } finally {
      rmSync(dirname(dataDir), { recursive: true, force: true });
    }
  }, 90_000);

  it('refuses to start with a retention out of bounds, in one sentence', async () => {
    const dataDir = join(tempDir(), 'data');
    try {
      const run = await runCli(['start', '--data-dir', dataDir, '--port', '0'], { SITECALL_LOG_RETENTION_DAYS: '0' });
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toBe('sitecall: Invalid setting SITECALL_LOG_RETENTION_DAYS in the environment: must be >= 1.');
    } finally {
      rmSync(dirname(dataDir), { recursive: true, force: true });
    }
  }, 30_000);
});
