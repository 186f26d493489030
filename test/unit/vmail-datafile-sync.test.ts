/**
 * DatafileSync against real files and a real nedb datastore. The fsyncs are observed by wrapping
 * FileHandle's sync (recorded, then called through), so what the tests count is what the kernel
 * was asked to do.
 */
import { appendFileSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatafileSync, MetadataSyncError } from '../../service/vmail/datafile-sync.js';

interface Fsync {
  path: string;
  size: number;
  ino: number;
  /** the event counter when the fsync started and when it returned */
  started: number;
  returned: number;
}

const fsyncs: Fsync[] = [];
let clock = 0;
let restore: () => void = () => undefined;
let dir = '';

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'sitecall-datafile-sync-')));
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void>; fd: number };
  await probe.close();
  const original = proto.sync;
  proto.sync = async function observed(this: { fd: number }) {
    const path = readlinkSync(`/proc/self/fd/${this.fd}`);
    const s = statSync(`/proc/self/fd/${this.fd}`);
    const entry: Fsync = { path, size: s.size, ino: s.ino, started: ++clock, returned: -1 };
    fsyncs.push(entry);
    await original.call(this);
    entry.returned = ++clock;
  };
  restore = () => {
    proto.sync = original;
  };
});

afterAll(() => {
  restore();
  rmSync(dir, { recursive: true, force: true });
});

const of = (path: string) => fsyncs.filter((f) => f.path === path);

describe('DatafileSync', () => {
  it('shares one fsync among the callers that arrive while another runs, and never serves a caller with an fsync that started before it', async () => {
    const file = join(dir, 'shared.db');
    writeFileSync(file, 'line 0\n');
    const sync = new DatafileSync(file);
    await sync.sync();
    const before = of(file).length;

    const first = sync.sync(); // starts now
    const calls: { at: number; done: Promise<number> }[] = [];
    for (let i = 1; i <= 50; i++) {
      appendFileSync(file, `line ${i}\n`);
      const at = ++clock;
      calls.push({ at, done: sync.sync().then(() => ++clock) });
    }
    await first;
    const done = await Promise.all(calls.map((c) => c.done));
    const ran = of(file).slice(before);
    // the one running, and one more for all fifty that came while it ran
    expect(ran).toHaveLength(2);
    for (const [i, c] of calls.entries()) {
      const serving = ran.filter((f) => f.started > c.at && f.returned < (done[i] ?? 0));
      expect(serving.length).toBeGreaterThan(0);
    }
    expect(ran[1]?.size).toBe(statSync(file).size);
  });

  it('follows a compaction of the nedb file: the new file is fsync’d and its directory too', async () => {
    const file = join(dir, 'messages.db');
    const ds = Datastore.create({ filename: file, autoload: false });
    await ds.load();
    const sync = new DatafileSync(file);
    await ds.insert({ _id: 'a', n: 1 });
    await sync.sync();
    const firstInode = statSync(file).ino;

    // writes and a compaction in flight together, each write followed by its sync
    const writes = Array.from({ length: 20 }, (_, i) => ds.insert({ _id: `w${i}`, n: i }).then(() => sync.sync()));
    const compaction = (ds as unknown as { compactDatafileAsync(): Promise<void> }).compactDatafileAsync();
    await Promise.all([...writes, compaction]);
    await ds.insert({ _id: 'after', n: 2 });
    const mark = clock;
    await sync.sync();

    const inode = statSync(file).ino;
    expect(inode).not.toBe(firstInode);
    const last = of(file).filter((f) => f.started > mark);
    expect(last.map((f) => f.ino)).toEqual([inode]);
    expect(last[0]?.size).toBe(statSync(file).size);
    // the directory entry of the renamed file: fsync'd after the first fsync of the new inode
    const newInodeSync = of(file).find((f) => f.ino === inode);
    expect(of(dir).some((f) => newInodeSync !== undefined && f.started > newInodeSync.returned)).toBe(true);
    const text = readFileSync(file, 'utf8');
    for (const id of ['a', ...Array.from({ length: 20 }, (_, i) => `w${i}`), 'after']) expect(text).toContain(`"_id":"${id}"`);
  });

  it('fails with MetadataSyncError when the file cannot be flushed', async () => {
    const sync = new DatafileSync(join(dir, 'missing', 'gone.db'));
    await expect(sync.sync()).rejects.toBeInstanceOf(MetadataSyncError);
    // and the next call tries again rather than reusing the failure
    await expect(sync.sync()).rejects.toThrow(/Cannot make .*gone\.db durable/);
  });
});
