import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Cdr } from '../../shared/api/cdr.js';
import { CallstoreInstance } from '../../service/callstore/instance.js';
import { CdrStoreView, type CdrInserter } from '../../service/storage/cdr/view.js';
import { supersedes } from '../../service/storage/cdr/winner.js';
import { CallstoreMetrics } from '../../service/callstore/metrics.js';
import { createLogger } from '../../service/logger.js';
import { ChangeFeed } from '../../service/storage/changes.js';
import { journalsIn } from '../../service/callstore/journal.js';
import type { ChangeLog } from '../../service/storage/changelog/log.js';
import { callstoreDefinition, openTestLog } from './callstore-harness.js';

/**
 * Collects the records a callstore instance writes, answering as the CDR store does (idempotent per
 * id: the ids not stored yet are written). Every attempt is counted, so a test sees a second write
 * of the same call even though the store would have refused it. The real store has its own tests
 * (cdr-store.test.ts, the integration tests); here the subject is the instance's record logic.
 */
export class CdrCollector implements CdrInserter {
  readonly records = new Map<string, Cdr>();
  readonly attempts = new Map<string, number>();
  /** always available: the thread that can die is the real store's (cdr-writer-restart.test.ts) */
  readonly unavailable: string | undefined = undefined;

  whenAvailable(): Promise<void> {
    return Promise.resolve();
  }

  async insert(cdrs: Cdr[]): Promise<string[]> {
    const written: string[] = [];
    for (const cdr of cdrs) {
      this.attempts.set(cdr.id, (this.attempts.get(cdr.id) ?? 0) + 1);
      // one record per id, the winner as the real store keeps it (storage/cdr/winner.ts)
      const held = this.records.get(cdr.id);
      if (held && !supersedes(cdr, held)) continue;
      // a copy, as the store keeps its own serialized form
      this.records.set(cdr.id, structuredClone(cdr));
      if (!written.includes(cdr.id)) written.push(cdr.id);
    }
    return written;
  }
}

export interface TestInstance {
  instance: CallstoreInstance;
  cdrs: CdrCollector;
  feed: ChangeFeed;
  metrics: CallstoreMetrics;
  dataDir: string;
  /** the data directory's change log, which holds the journal */
  log: ChangeLog;
  /** stops the instance and removes its data */
  close(): Promise<void>;
}

/** A running callstore instance with a real journal (SQLite in a temporary directory). */
export async function startTestInstance(ext: Record<string, unknown> = {}, opts: { dataDir?: string; cdrs?: CdrCollector } = {}): Promise<TestInstance> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'sitecall-callstore-'));
  const cdrs = opts.cdrs ?? new CdrCollector();
  const feed = new ChangeFeed();
  const metrics = new CallstoreMetrics(new Registry());
  const log = openTestLog(dataDir, 'site-a');
  // the records reach the collector as they reach the CDR store: through the log, after the commit
  const view = new CdrStoreView(cdrs);
  await log.attachView(view, { fresh: opts.cdrs === undefined });
  const instance = new CallstoreInstance(callstoreDefinition('async', ext), { siteId: 'site-a', cdrs: view, feed, metrics, journals: journalsIn(log, dataDir) }, createLogger('silent'));
  await instance.start();
  return {
    instance,
    cdrs,
    feed,
    metrics,
    dataDir,
    log,
    async close() {
      await instance.stop();
      view.stop();
      await log.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
