import { mkdirSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import type { Cdr } from '../../shared/api/cdr.js';
import type { CallEvent } from '../../shared/api/events.js';
import type { ResolvedInstance } from '../../service/config/roles.js';
import { CallstoreInstance } from '../../service/callstore/instance.js';
import { CallstoreMetrics } from '../../service/callstore/metrics.js';
import { createLogger } from '../../service/logger.js';
import { HealthBoard } from '../../service/health.js';
import { CdrStoreView, type CdrInserter } from '../../service/storage/cdr/view.js';
import { CdrWriterThread, type CdrWriterThreadOptions } from '../../service/storage/cdr/writer.js';
import { ChangeFeed } from '../../service/storage/changes.js';
import { changeLogFile } from '../../service/storage/changelog/files.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { journalsIn } from '../../service/callstore/journal.js';
import { toCore } from './call-events.js';
import { tsWorker } from './ts-worker.js';

/** The change log's checkpoint thread and the CDR writer thread, run from the TypeScript sources. */
export const checkpointWorker = () => tsWorker(new URL('../../service/storage/checkpoint-thread.ts', import.meta.url));
export const cdrWriterWorker = () => tsWorker(new URL('../../service/storage/cdr/writer-thread.ts', import.meta.url));

/** The data directory's change log, as the service opens it (its checkpoint thread from the sources). */
export function openTestLog(dataDir: string, origin = 'site-test'): ChangeLog {
  return ChangeLog.open(changeLogFile(dataDir), { origin, policyOf, checkpointWorker: checkpointWorker() });
}

export function callstoreDefinition(stateSave: 'none' | 'async' | 'transactional', ext: Record<string, unknown> = {}): ResolvedInstance {
  return {
    name: 'callstore1',
    roletype: 'callstore',
    iface: 'lo',
    ext,
    enabled: true,
    group: 1,
    order: 1,
    includeDomains: [],
    site: 'site-test',
    callstore: { cdrMode: 'all', cdrAggregation: true, stateSave },
  };
}

/**
 * The real CDR writer thread behind a gate: while the gate is shut an insert waits before it
 * reaches the store, as behind a store that is slow or busy. Every insert is recorded.
 */
export class GatedCdrWriter implements CdrInserter {
  readonly inserts: { ids: string[]; opts: { durable: boolean } }[] = [];
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private waiting = 0;

  constructor(readonly real: CdrWriterThread) {}

  shut(): void {
    let open = () => {};
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  open(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  /** inserts that reached the gate and wait there */
  get held(): number {
    return this.waiting;
  }

  get unavailable(): string | undefined {
    return this.real.unavailable;
  }

  whenAvailable(): Promise<void> {
    return this.real.whenAvailable();
  }

  sync(): Promise<void> {
    return this.real.sync();
  }

  async insert(cdrs: Cdr[], opts: { durable: boolean }): Promise<string[]> {
    this.inserts.push({ ids: cdrs.map((c) => c.id), opts });
    if (this.gate) {
      this.waiting++;
      await this.gate.promise;
      this.waiting--;
    }
    return this.real.insert(cdrs, opts);
  }
}

export interface Harness {
  instance: CallstoreInstance;
  writer: GatedCdrWriter;
  cdrThread: CdrWriterThread;
  /** the CDR store as a view of the log */
  view: CdrStoreView;
  health: HealthBoard;
  log: ChangeLog;
  /** the file the journal is in: the change log's */
  journalFile: string;
  ingest(events: CallEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** A CallstoreInstance on real files: its journal in the change log, its records through the log into the real writer thread. */
export async function startHarness(dataDir: string, definition: ResolvedInstance, writerOptions: CdrWriterThreadOptions = {}): Promise<Harness> {
  const log = createLogger('silent');
  const cdrThread = new CdrWriterThread(dataDir, cdrWriterWorker(), { log, ...writerOptions });
  const health = new HealthBoard();
  const writer = new GatedCdrWriter(cdrThread);
  const changeLog = openTestLog(dataDir);
  const view = new CdrStoreView(writer, log);
  await changeLog.attachView(view, { fresh: false, background: true });
  const instance = new CallstoreInstance(
    definition,
    { siteId: 'site-test', cdrs: view, feed: new ChangeFeed(), metrics: new CallstoreMetrics(new Registry()), journals: journalsIn(changeLog, dataDir), health },
    log,
  );
  await instance.start();
  let logClosed = false;
  return {
    instance,
    writer,
    cdrThread,
    view,
    health,
    log: changeLog,
    journalFile: changeLogFile(dataDir),
    ingest: (events) => instance.ingest(events.map(toCore)).stored,
    async close() {
      writer.open();
      await instance.stop();
      view.stop();
      await cdrThread.close();
      if (!logClosed) await changeLog.close();
      logClosed = true;
    },
  };
}

/**
 * What another process finds in the journal now: the committed state, which is what a kill -9
 * of this one would leave behind (a committed WAL transaction survives the end of its process).
 */
export function journalOnDisk(file: string): { events: Set<string>; active: Set<string>; cdrEntries: Set<string> } {
  const db = new Database(file, { readonly: true });
  try {
    const events = new Set((db.prepare('SELECT id FROM journal_events').pluck().all() as string[]));
    const active = new Set((db.prepare('SELECT call_id FROM journal_active').pluck().all() as string[]));
    const cdrEntries = new Set((db.prepare("SELECT key FROM entries WHERE kind = 'cdr'").pluck().all() as string[]));
    return { events, active, cdrEntries };
  } finally {
    db.close();
  }
}

/**
 * A CDR store that cannot be opened, as after a disk fault: its id index is a directory. The
 * writer thread dies at its start while this lasts; `repair()` puts the index back.
 */
export function breakCdrIndex(dataDir: string): { repair(): void } {
  const index = join(dataDir, 'cdr', 'COPM3_dialogs', 'index.sqlite');
  renameSync(index, `${index}.aside`);
  mkdirSync(index);
  return {
    repair() {
      rmdirSync(index);
      renameSync(`${index}.aside`, index);
    },
  };
}
