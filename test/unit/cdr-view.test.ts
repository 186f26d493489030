import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import { CdrStoreView, type CdrInserter } from '../../service/storage/cdr/view.js';
import { CdrWriterThread } from '../../service/storage/cdr/writer.js';
import type { ChangeLog } from '../../service/storage/changelog/log.js';
import { cdrWriterWorker, openTestLog } from '../support/callstore-harness.js';
import { makeCdrs } from '../support/cdr-factory.js';

/**
 * The CDR store as a write-ahead view of the change log's `cdr` entries, on the real writer
 * thread: written after the commit, its position saved only once its inserts are synced, caught
 * up from the log at start, rebuilt from it when its files are new.
 */

const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-cdrview-'));
  dirs.push(dir);
  return dir;
}

/** The real writer thread, whose sync can be held back (as a slow disk would). */
class HeldSync implements CdrInserter {
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  syncs = 0;
  constructor(readonly real: CdrWriterThread) {}
  get unavailable() {
    return this.real.unavailable;
  }
  whenAvailable() {
    return this.real.whenAvailable();
  }
  insert(cdrs: Cdr[], opts: { durable: boolean }) {
    return this.real.insert(cdrs, opts);
  }
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }
  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }
  async sync(): Promise<void> {
    await this.gate;
    this.syncs++;
    await this.real.sync();
  }
}

async function open(dataDir: string, fresh = false): Promise<{ log: ChangeLog; thread: CdrWriterThread; store: HeldSync; view: CdrStoreView }> {
  const log = openTestLog(dataDir, 'site-a');
  const thread = new CdrWriterThread(dataDir, cdrWriterWorker());
  const store = new HeldSync(thread);
  const view = new CdrStoreView(store);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    store.release();
    view.stop();
    await log.close();
    await thread.close();
  };
  cleanups.push(close);
  await log.attachView(view, { fresh });
  return { log, thread, store, view };
}

const cdrs = (n: number, from = 0): Cdr[] => makeCdrs(n, { seed: 7 + from }).map((c, i) => ({ ...c, id: `cdr-${from + i}` }));

function appendRecords(log: ChangeLog, records: Cdr[]): Promise<void> {
  return log.write((w) => {
    for (const cdr of records) w.append({ kind: 'cdr', key: cdr.id, body: cdr });
  }).committed;
}

describe('the CDR store as a view of the log', () => {
  it('writes a group’s records after its commit and tells who was written', async () => {
    const { log, thread, view } = await open(tempDir());
    const written: string[] = [];
    view.onWritten((cdr) => written.push(cdr.id));
    const records = cdrs(3);
    const committed = appendRecords(log, records);
    expect(await thread.get('cdr-0')).toBeUndefined();
    await committed;
    await log.drained();
    expect(written).toEqual(['cdr-0', 'cdr-1', 'cdr-2']);
    expect((await thread.get('cdr-2'))?.id).toBe('cdr-2');
    expect(view.backlog).toBe(0);
  });

  it('saves its position only after its inserts are synced', async () => {
    const { log, store } = await open(tempDir());
    await appendRecords(log, cdrs(2));
    await log.drained();
    await log.savePositions();
    const before = log.savedPosition('cdr-store')['site-a'];
    store.hold();
    await appendRecords(log, cdrs(2, 2));
    await log.drained();
    const saving = log.savePositions();
    await new Promise((r) => setImmediate(r));
    expect(log.savedPosition('cdr-store')['site-a']).toBe(before);
    store.release();
    await saving;
    expect(log.savedPosition('cdr-store')['site-a']).toBe(log.head()['site-a']);
  });

  it('catches up at start from its saved position what it had not written, and rebuilds a new store from the log', async () => {
    const dataDir = tempDir();
    const first = await open(dataDir);
    await appendRecords(first.log, cdrs(2));
    await first.log.drained();
    await first.log.savePositions();
    // The store's thread goes away before the next records reach it: they are in the log only.
    await first.thread.close();
    await appendRecords(first.log, cdrs(2, 2));
    first.view.stop();
    await first.log.close();
    await cleanups.splice(0)[0]?.();

    const again = await open(dataDir);
    await again.log.drained();
    for (const id of ['cdr-0', 'cdr-1', 'cdr-2', 'cdr-3']) expect((await again.thread.get(id))?.id).toBe(id);
    await cleanups.splice(0)[0]?.();

    // A data directory holding only the log: its store is rebuilt from the records.
    const replay = tempDir();
    copyFileSync(join(dataDir, 'changelog.sqlite'), join(replay, 'changelog.sqlite'));
    const rebuilt = await open(replay, true);
    await rebuilt.log.drained();
    for (const id of ['cdr-0', 'cdr-1', 'cdr-2', 'cdr-3']) expect((await rebuilt.thread.get(id))?.id).toBe(id);
  });
});
