import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CdrWriterThread } from '../../service/storage/cdr/writer.js';
import type { MergePolicy, VersionedDoc } from '../../service/storage/changelog/core/merge.js';
import type { ChangeLog, WriteAheadView } from '../../service/storage/changelog/log.js';
import { ChangeLogReader } from '../../service/storage/changelog/reader.js';
import { cdrWriterWorker, checkpointWorker } from '../support/callstore-harness.js';
import { changeLogSandbox } from '../support/changelog-sandbox.js';
import { eventually } from '../support/events-client.js';

/**
 * The change log's group commit (ChangeLog.write): writes of one turn of the event loop share one
 * transaction of the log's connection, committed on the next turn; each commit is fsync'd only
 * when something in it asked for it; views and listeners see a group's entries after its COMMIT,
 * in log order; a group that rolls back leaves no gap in the seqs.
 */

const POLICIES: Record<string, MergePolicy> = { config: 'last-writer-wins', rec: 'add-only', viewed: 'add-only' };
const policyOf = (kind: string): MergePolicy => {
  const p = POLICIES[kind];
  if (!p) throw new Error(`unknown kind ${kind}`);
  return p;
};

const { tempFile, open } = changeLogSandbox('sitecall-group-', () => ({ origin: 'site-a', policyOf, checkpointWorker: checkpointWorker() }));

/** The synchronous setting of the connection at each commit: 2 is FULL (fsync'd), 1 NORMAL. */
function commitsSeen(log: ChangeLog): number[] {
  const seen: number[] = [];
  log.onCommit(() => seen.push(log.database.pragma('synchronous', { simple: true }) as number));
  return seen;
}

class RecordingView implements WriteAheadView {
  readonly applied: string[] = [];
  constructor(
    readonly name: string,
    readonly kinds: readonly string[],
  ) {}
  async apply(v: VersionedDoc): Promise<void> {
    this.applied.push(v.key);
  }
  async load(): Promise<void> {}
  async contents() {
    return [];
  }
  async sync(): Promise<void> {}
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('change log: group commit', () => {
  it('commits the writes of one turn together on the next turn, and resolves each after the COMMIT', async () => {
    const file = tempFile();
    const log = open(file);
    const reader = ChangeLogReader.open(file);
    try {
      const commits = commitsSeen(log);
      const a = log.write((w) => w.append({ kind: 'rec', key: 'r1', body: { n: 1 } }).seq);
      const b = log.write((w) => [w.append({ kind: 'rec', key: 'r2', body: { n: 2 } }).seq, w.append({ kind: 'rec', key: 'r3', body: { n: 3 } }, '{"n":3}').seq]);
      expect([a.result, b.result]).toEqual([1, [2, 3]]);
      expect(a.committed).toBe(b.committed);
      // not committed yet: another connection sees nothing
      expect(reader.head()['site-a'] ?? 0).toBe(0);
      await a.committed;
      expect(commits).toEqual([1]);
      expect(reader.after('site-a', 0, 10).map((e) => [e.seq, e.key, e.body])).toEqual([
        [1, 'r1', { n: 1 }],
        [2, 'r2', { n: 2 }],
        [3, 'r3', { n: 3 }],
      ]);
    } finally {
      reader.close();
    }
  });

  it('fsyncs a commit when a write in it asks for it or appends a document kind, and not otherwise', async () => {
    const log = open(tempFile());
    const commits = commitsSeen(log);
    // only writes that need no fsync
    await log.write((w) => w.append({ kind: 'rec', key: 'a1', body: {} })).committed;
    // one that asks for it joins a group of its own, after the open one
    const plain = log.write((w) => w.append({ kind: 'rec', key: 'a2', body: {} }));
    const durable = log.write((w) => w.append({ kind: 'rec', key: 't1', body: {} }), { fsync: true });
    expect(plain.committed).not.toBe(durable.committed);
    // a write that needs none joins the fsync'd group
    const joined = log.write((w) => w.append({ kind: 'rec', key: 'a3', body: {} }));
    expect(joined.committed).toBe(durable.committed);
    await Promise.all([plain.committed, durable.committed]);
    // a document kind, with the log's durability fsync (the default), makes its group fsync'd
    const doc = log.write((w) => w.append({ kind: 'config', key: 'roles', body: { revision: 1 } }));
    expect(log.openGroupFsync).toBe(true);
    await doc.committed;
    // append() outside a group keeps the log's own durability
    log.append({ kind: 'config', key: 'roles', body: { revision: 2 } });
    expect(commits).toEqual([1, 1, 2, 2, 2]);
    expect(log.after('site-a', 0, 10).map((e) => e.key)).toEqual(['a1', 'a2', 't1', 'a3', 'roles', 'roles']);
  });

  it('moves a document kind appended to a group without fsync into an fsync’d one, running the write again', async () => {
    const log = open(tempFile());
    const commits = commitsSeen(log);
    log.database.exec('CREATE TABLE side (id TEXT PRIMARY KEY)');
    const insert = log.database.prepare('INSERT INTO side (id) VALUES (?)');
    const first = log.write((w) => w.append({ kind: 'rec', key: 'a1', body: {} }));
    let runs = 0;
    const mixed = log.write((w) => {
      runs++;
      insert.run('s1');
      w.append({ kind: 'rec', key: 'r', body: {} });
      w.append({ kind: 'config', key: 'k', body: { v: 1 } });
    });
    expect(runs).toBe(2);
    expect(mixed.committed).not.toBe(first.committed);
    await mixed.committed;
    expect(commits).toEqual([1, 2]);
    expect(log.database.prepare('SELECT id FROM side').pluck().all()).toEqual(['s1']);
    expect(log.after('site-a', 0, 10).map((e) => [e.seq, e.key])).toEqual([
      [1, 'a1'],
      [2, 'r'],
      [3, 'k'],
    ]);
  });

  it('undoes a write that throws, and only it: the group goes on and no seq is skipped', async () => {
    const log = open(tempFile());
    const ok1 = log.write((w) => w.append({ kind: 'rec', key: 'k1', body: {} }));
    expect(() =>
      log.write((w) => {
        w.append({ kind: 'rec', key: 'lost', body: {} });
        throw new Error('the caller changed its mind');
      }),
    ).toThrow('changed its mind');
    const ok2 = log.write((w) => w.append({ kind: 'rec', key: 'k2', body: {} }));
    expect(ok2.result.seq).toBe(2);
    await Promise.all([ok1.committed, ok2.committed]);
    expect(log.after('site-a', 0, 10).map((e) => [e.seq, e.key])).toEqual([
      [1, 'k1'],
      [2, 'k2'],
    ]);
  });

  it('leaves no gap when a whole group rolls back at its COMMIT, and its views never see it', async () => {
    const log = open(tempFile());
    const view = new RecordingView('viewed', ['viewed']);
    await log.attachView(view, { fresh: true });
    const db = log.database;
    // a deferred foreign key makes the COMMIT itself fail
    db.pragma('foreign_keys = ON');
    db.exec('CREATE TABLE parent (id TEXT PRIMARY KEY); CREATE TABLE child (id TEXT PRIMARY KEY, parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)');
    const orphan = db.prepare('INSERT INTO child (id, parent) VALUES (?, ?)');
    await log.write((w) => w.append({ kind: 'viewed', key: 'v1', body: {} })).committed;
    const doomed = log.write((w) => {
      w.append({ kind: 'viewed', key: 'v2', body: {} });
      orphan.run('c1', 'nobody');
    });
    const sameGroup = log.write((w) => w.append({ kind: 'viewed', key: 'v3', body: {} }));
    expect(sameGroup.committed).toBe(doomed.committed);
    await expect(doomed.committed).rejects.toThrow(/FOREIGN KEY/);
    const after = log.write((w) => w.append({ kind: 'viewed', key: 'v4', body: {} }));
    expect(after.result.seq).toBe(2);
    await after.committed;
    await log.drained();
    expect(log.after('site-a', 0, 10).map((e) => [e.seq, e.key])).toEqual([
      [1, 'v1'],
      [2, 'v4'],
    ]);
    expect(view.applied).toEqual(['v1', 'v4']);
  });

  it('hands entries to views and listeners only after the commit, in log order, around plain appends', async () => {
    const log = open(tempFile());
    const view = new RecordingView('viewed', ['viewed']);
    await log.attachView(view, { fresh: true });
    const reported: [number, string][] = [];
    log.onApplied(({ entry }) => reported.push([entry.seq, entry.key]));
    const withRecords: [number, string][] = [];
    log.onApplied(({ entry }) => withRecords.push([entry.seq, entry.key]), { records: true });
    const g = log.write((w) => {
      w.append({ kind: 'viewed', key: 'g1', body: {} });
      w.append({ kind: 'config', key: 'g2', body: {} });
    }, { fsync: true });
    await nextTurn();
    // the group committed on that turn; nothing reached the view before
    expect(view.applied.length === 0 || view.applied[0] === 'g1').toBe(true);
    await g.committed;
    const g2 = log.write((w) => {
      w.append({ kind: 'viewed', key: 'g3', body: {} });
      w.append({ kind: 'config', key: 'g3', body: {} });
    }, { fsync: true });
    expect(view.applied).not.toContain('g3');
    // a plain append while a group is open commits the group first: it comes after it in the log
    const plain = log.append({ kind: 'viewed', key: 'p1', body: {} });
    expect(plain.entry.seq).toBe(5);
    const plainDoc = log.append({ kind: 'config', key: 'p2', body: {} });
    await g2.committed;
    await plain.applied;
    await plainDoc.applied;
    await log.drained();
    expect(view.applied).toEqual(['g1', 'g3', 'p1']);
    // documents are reported in log order; add-only records only to a listener that asked for them
    expect(reported).toEqual([
      [2, 'g2'],
      [4, 'g3'],
      [6, 'p2'],
    ]);
    expect(withRecords).toEqual([
      [1, 'g1'],
      [2, 'g2'],
      [3, 'g3'],
      [4, 'g3'],
      [5, 'p1'],
      [6, 'p2'],
    ]);
  });

  it('keeps reads on committed state: a read while a group is open commits it first', async () => {
    const log = open(tempFile());
    const g = log.write((w) => w.append({ kind: 'rec', key: 'k', body: {} }));
    expect(log.openGroupFsync).toBe(false);
    expect(log.head()['site-a']).toBe(1);
    expect(log.openGroupFsync).toBeUndefined();
    await g.committed;
  });

  it('checkpoints on a thread of its own, never on the writer connection', async () => {
    const log = open(tempFile());
    expect(log.database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
  });

  it("has the CDR writer thread checkpoint its WAL when given it as the checkpointer (the service's way: no thread of its own)", async () => {
    const file = tempFile();
    const thread = new CdrWriterThread(dirname(file), cdrWriterWorker());
    const asked: string[] = [];
    try {
      const log = open(file, { checkpointer: { checkpoint: (f) => (asked.push(f), thread.checkpoint(f)) } });
      // only a backstop of 64 MiB on the writer (a main thread too busy for the rounds' timer)
      expect(log.database.pragma('wal_autocheckpoint', { simple: true })).toBe(16_384);
      const body = { text: 'x'.repeat(4000) };
      for (let i = 0; i < 50; i++) await log.write((w) => w.append({ kind: 'rec', key: `k${i}`, body })).committed;
      // a new file's pages are in its WAL until a checkpoint copies them into the file itself
      await eventually(async () => statSync(file).size >= 50 * 4000, 20_000, 'the entries checkpointed into the database file');
      expect(new Set(asked)).toEqual(new Set([file]));
      expect(log.after('site-a', 0, 100)).toHaveLength(50);
      await log.close();
    } finally {
      await thread.close();
    }
  });
});
