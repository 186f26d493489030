import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeHlc } from '../../service/storage/changelog/core/hlc.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog, LogGapError } from '../../service/storage/changelog/log.js';
import { ChangeLogReader, type LogEntry } from '../../service/storage/changelog/reader.js';

const dirs: string[] = [];
const opened: ChangeLog[] = [];
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openLog(origin = 'site-a'): { log: ChangeLog; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-held-'));
  dirs.push(dir);
  const file = join(dir, 'changelog.sqlite');
  const log = ChangeLog.open(file, { origin, policyOf, durability: 'os' });
  opened.push(log);
  return { log, file };
}

const entry = (seq: number): LogEntry => ({ origin: 'site-b', seq, hlc: encodeHlc({ wall: Date.now() - 1_000, counter: seq }), kind: 'config', key: `k${seq}`, body: { seq } });

describe('ranges held elsewhere (a peer filtered them out)', () => {
  it('move the head past them without rows, so the entry after them follows; a range that skips is a gap', () => {
    const { log, file } = openLog();
    expect(log.receive([entry(1), entry(2), { origin: 'site-b', first: 3, last: 7 }, entry(8)]).accepted).toBe(3);
    expect(log.head()['site-b']).toBe(8);
    expect(log.after('site-b', 0, 10).map((e) => e.seq)).toEqual([1, 2, 8]);
    expect(log.heldElsewhere('site-b', 0, 10)).toEqual([{ origin: 'site-b', first: 3, last: 7 }]);
    expect(log.heldElsewhere('site-b', 7, 10)).toEqual([]);
    // held already: nothing changes; a range past the head is a gap, and nothing of that receive is kept
    log.receive([{ origin: 'site-b', first: 4, last: 6 }]);
    expect(() => log.receive([{ origin: 'site-b', first: 9, last: 9 }, { origin: 'site-b', first: 11, last: 12 }])).toThrow(LogGapError);
    expect(log.head()['site-b']).toBe(8);
    // a range that ends the log of an origin is its head too, on a read-only reader as well
    log.receive([{ origin: 'site-b', first: 9, last: 20 }]);
    const reader = ChangeLogReader.open(file);
    expect(reader.head()['site-b']).toBe(20);
    reader.close();
  });

  it('a log whose held range ends the compacted part compacts and snapshots', () => {
    const { log } = openLog();
    log.receive([entry(1), { origin: 'site-b', first: 2, last: 5 }]);
    log.compact({ minAgeMs: 0, now: Date.now() + 10_000 });
    expect(log.snapshot().vector['site-b']?.seq).toBe(5);
    expect(log.receive([entry(6)]).accepted).toBe(1);
  });
});
