import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { ChangeLog, type ChangeLogOptions } from '../../service/storage/changelog/log.js';

export interface ChangeLogSandbox {
  /** a change log file in a new temporary directory, removed after the test */
  tempFile(): string;
  /** opens a log with the sandbox's options and `opts` over them; closed after the test */
  open(file: string, opts?: Partial<ChangeLogOptions>): ChangeLog;
  /** the logs still to close after the test: a test that "crashes" one takes it out (never closed) */
  opened: ChangeLog[];
}

/**
 * Real change log files in temp directories for the unit tests of the log: call at the top of a
 * test file. `options` is called for each open (a checkpoint worker, say, is one per log).
 */
export function changeLogSandbox(prefix: string, options: () => ChangeLogOptions): ChangeLogSandbox {
  const dirs: string[] = [];
  const opened: ChangeLog[] = [];
  afterEach(async () => {
    for (const log of opened.splice(0)) await log.close().catch(() => undefined);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return {
    opened,
    tempFile() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return join(dir, 'changelog.sqlite');
    },
    open(file, opts = {}) {
      const log = ChangeLog.open(file, { ...options(), ...opts });
      opened.push(log);
      return log;
    },
  };
}
