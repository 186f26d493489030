import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { MergePolicy, VersionedDoc } from '../../service/storage/changelog/core/merge.js';
import { ChangeLog, type ChangeLogOptions, type WriteAheadView } from '../../service/storage/changelog/log.js';
import { checkpointWorker } from '../support/callstore-harness.js';

/**
 * The log's two write paths of the ingest: records appended a few dozen rows per statement
 * (GroupWriter.appendRecords) are the same entries `append` makes one by one; a write that waits
 * for the next group (ChangeLog.writeSoon) shares that group's commit, is written at the latest
 * after its delay or at a flush, and never half.
 */

const POLICIES: Record<string, MergePolicy> = { config: 'last-writer-wins', rec: 'add-only', other: 'add-only' };
const policyOf = (kind: string): MergePolicy => {
  const p = POLICIES[kind];
  if (!p) throw new Error(`unknown kind ${kind}`);
  return p;
};

const dirs: string[] = [];
const opened: ChangeLog[] = [];
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(opts: Partial<ChangeLogOptions> = {}): ChangeLog {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-records-'));
  dirs.push(dir);
  const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 'site-a', policyOf, checkpointWorker: checkpointWorker(), ...opts });
  opened.push(log);
  return log;
}

/** The rows of `entries` as stored (origin, seq, kind, key, body text), in log order. */
function rows(log: ChangeLog): { seq: number; kind: string; key: string; body: string | null }[] {
  return log.database.prepare('SELECT seq, kind, key, body FROM entries ORDER BY origin, seq').all() as { seq: number; kind: string; key: string; body: string | null }[];
}

class RecordingView implements WriteAheadView {
  readonly applied: string[] = [];
  readonly kinds = ['rec'];
  readonly name = 'recording';
  async applyMany(versions: readonly VersionedDoc[]): Promise<void> {
    for (const v of versions) this.applied.push(`${v.key}=${JSON.stringify(v.body)}`);
  }
  async apply(v: VersionedDoc): Promise<void> {
    await this.applyMany([v]);
  }
  async load(): Promise<void> {}
  async contents() {
    return [];
  }
  async sync(): Promise<void> {}
}

describe('records appended many rows per statement', () => {
  it('are the entries one append each makes: same seqs, keys and bodies, in order, with appends between them, for any batch sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.integer({ min: 0, max: 80 }), fc.constant(-1)), { minLength: 1, maxLength: 8 }), async (steps) => {
        const many = open();
        const one = open();
        let n = 0;
        const { committed } = many.write((w) => {
          for (const size of steps) {
            if (size < 0) w.append({ kind: 'config', key: 'k', body: { n: n } }, JSON.stringify({ n: n++ }));
            else w.appendRecords('rec', Array.from({ length: size }, () => ({ key: `r${n}`, body: { n }, text: JSON.stringify({ n: n++ }) })));
          }
        });
        n = 0;
        const single = one.write((w) => {
          for (const size of steps) {
            if (size < 0) w.append({ kind: 'config', key: 'k', body: { n: n++ } });
            else for (let i = 0; i < size; i++) w.append({ kind: 'rec', key: `r${n}`, body: { n: n++ } });
          }
        });
        await Promise.all([committed, single.committed]);
        expect(rows(many)).toEqual(rows(one));
        expect(many.head()).toEqual(one.head());
        // the stamps grow with the seq, as for entries appended one by one
        const stamps = (many.database.prepare('SELECT hlc FROM entries ORDER BY seq').pluck().all() as string[]);
        expect([...stamps].sort()).toEqual(stamps);
        expect(new Set(stamps).size).toBe(stamps.length);
      }),
      { numRuns: 10 },
    );
  });

  it('reach the views of their kind after the commit, in order, and a write that throws takes no seq', async () => {
    const log = open();
    const view = new RecordingView();
    await log.attachView(view, { fresh: true });
    await log.write((w) => w.appendRecords('rec', [{ key: 'a', body: 1, text: '1' }, { key: 'b', body: 2, text: '2' }])).committed;
    expect(() =>
      log.write((w) => {
        w.appendRecords('rec', Array.from({ length: 40 }, (_, i) => ({ key: `x${i}`, body: i, text: String(i) })));
        throw new Error('the caller changed its mind');
      }),
    ).toThrow('the caller changed its mind');
    const after = log.write((w) => w.appendRecords('rec', [{ key: 'c', body: 3, text: '3' }]));
    expect(after.result[0]?.seq).toBe(3);
    await after.committed;
    await log.drained();
    expect(view.applied).toEqual(['a=1', 'b=2', 'c=3']);
    expect(rows(log).map((r) => r.key)).toEqual(['a', 'b', 'c']);
  });

  it('are refused for a document kind, and for an empty key, with nothing written', async () => {
    const log = open();
    expect(() => log.write((w) => w.appendRecords('config', [{ key: 'roles', body: {}, text: '{}' }]))).toThrow(/not add-only/);
    expect(() => log.write((w) => w.appendRecords('rec', [{ key: 'ok', body: 1, text: '1' }, { key: '', body: 2, text: '2' }]))).toThrow(/a key/);
    await log.flush();
    expect(rows(log)).toEqual([]);
    expect(log.head()).toEqual({ 'site-a': 0 });
  });
});

describe('a write that waits for the next group', () => {
  it('joins the group the next write opens: one commit for both, itself first', async () => {
    const log = open({ durability: 'os' });
    let commits = 0;
    log.onCommit(() => commits++);
    const soon = log.writeSoon((w) => void w.append({ kind: 'rec', key: 'record', body: 1 }), { withinMs: 60_000 });
    expect(rows(log)).toEqual([]);
    const { committed } = log.write((w) => w.append({ kind: 'rec', key: 'event', body: 2 }));
    await Promise.all([soon, committed]);
    expect(commits).toBe(1);
    expect(rows(log).map((r) => r.key)).toEqual(['record', 'event']);
  });

  it('joins the group open now at once', async () => {
    const log = open({ durability: 'os' });
    log.write((w) => w.append({ kind: 'rec', key: 'first', body: 1 }));
    const soon = log.writeSoon((w) => void w.append({ kind: 'rec', key: 'second', body: 2 }), { withinMs: 60_000 });
    expect(log.openGroupFsync).toBe(false);
    await soon;
    expect(rows(log).map((r) => r.key)).toEqual(['first', 'second']);
  });

  it('is written after its delay when no other write comes, and at a flush before that', async () => {
    const log = open({ durability: 'os' });
    const t0 = performance.now();
    await log.writeSoon((w) => void w.append({ kind: 'rec', key: 'late', body: 1 }), { withinMs: 30 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(rows(log).map((r) => r.key)).toEqual(['late']);
    const flushed = log.writeSoon((w) => void w.append({ kind: 'rec', key: 'flushed', body: 2 }), { withinMs: 60_000 });
    await log.flush();
    await flushed;
    expect(rows(log).map((r) => r.key)).toEqual(['late', 'flushed']);
  });

  it('that wants an fsync does not ride a commit without one: it waits for an fsync’d group', async () => {
    const log = open();
    const seen: number[] = [];
    log.onCommit(() => seen.push(log.database.pragma('synchronous', { simple: true }) as number));
    const soon = log.writeSoon((w) => void w.append({ kind: 'rec', key: 'durable', body: 1 }), { fsync: true, withinMs: 60_000 });
    await log.write((w) => w.append({ kind: 'rec', key: 'plain', body: 2 })).committed;
    expect(rows(log).map((r) => r.key)).toEqual(['plain']);
    await log.write((w) => w.append({ kind: 'rec', key: 'synced', body: 3 }), { fsync: true }).committed;
    await soon;
    expect(rows(log).map((r) => r.key)).toEqual(['plain', 'durable', 'synced']);
    expect(seen).toEqual([1, 2]);
  });

  it('that throws is undone alone: it rejects, the write that opened the group goes on', async () => {
    const log = open({ durability: 'os' });
    const soon = log.writeSoon((w) => {
      w.append({ kind: 'rec', key: 'half', body: 1 });
      throw new Error('broken record');
    }, { withinMs: 60_000 });
    const { committed } = log.write((w) => w.append({ kind: 'rec', key: 'event', body: 2 }));
    await expect(soon).rejects.toThrow('broken record');
    await committed;
    expect(rows(log)).toEqual([{ seq: 1, kind: 'rec', key: 'event', body: '2' }]);
  });

  it('still waiting when the log closes is written by the close', async () => {
    const log = open({ durability: 'os' });
    const soon = log.writeSoon((w) => void w.append({ kind: 'rec', key: 'at-close', body: 1 }), { withinMs: 60_000 });
    const file = log.database.name;
    opened.splice(opened.indexOf(log), 1);
    await log.close();
    await soon;
    const again = ChangeLog.open(file, { origin: 'site-a', policyOf, checkpointWorker: checkpointWorker() });
    opened.push(again);
    expect(rows(again).map((r) => r.key)).toEqual(['at-close']);
  });
});

describe('the page size of the log file', () => {
  /** Pages of `entries` that only hold the spilled rest of a row. */
  const overflowPages = (log: ChangeLog) => (log.database.prepare("SELECT count(*) AS n FROM dbstat WHERE name = 'entries' AND pagetype = 'overflow'").get() as { n: number }).n;
  const recordOf = (i: number) => ({ id: `cdr-${i}`, legs: Array.from({ length: 9 }, (_, leg) => ({ callId: `${'c'.repeat(40)}-${i}-${leg}`, from: 'sip:100@office.example', to: 'sip:200@office.example', at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() })) });

  it('keeps a CDR-sized entry (1.5 KB of JSON) inline in a new file, where 4 KiB pages spill each into an overflow page', async () => {
    expect(JSON.stringify(recordOf(0)).length).toBeGreaterThan(1200);
    const log = open();
    expect(log.database.pragma('page_size', { simple: true })).toBe(8192);
    await log.write((w) => {
      for (let i = 0; i < 200; i++) w.append({ kind: 'rec', key: `cdr-${i}`, body: recordOf(i) });
    }).committed;
    expect(overflowPages(log)).toBe(0);

    // the same rows on 4 KiB pages, the size a log made before kept: one overflow page a row
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-records-'));
    dirs.push(dir);
    const file = join(dir, 'changelog.sqlite');
    const old = new Database(file);
    old.pragma('page_size = 4096');
    old.pragma('journal_mode = WAL');
    old.close();
    const reopened = ChangeLog.open(file, { origin: 'site-a', policyOf, checkpointWorker: checkpointWorker() });
    opened.push(reopened);
    expect(reopened.database.pragma('page_size', { simple: true })).toBe(4096);
    await reopened.write((w) => {
      for (let i = 0; i < 200; i++) w.append({ kind: 'rec', key: `cdr-${i}`, body: recordOf(i) });
    }).committed;
    expect(overflowPages(reopened)).toBeGreaterThanOrEqual(200);
    expect(reopened.after('site-a', 0, 1000)).toHaveLength(200);
  });
});
