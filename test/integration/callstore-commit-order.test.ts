import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CallScript } from '../support/call-events.js';
import { callstoreDefinition, journalOnDisk, startHarness, type Harness } from '../support/callstore-harness.js';
import { eventually } from '../support/events-client.js';
import { tempDir } from '../support/service.js';

/**
 * The order of commits inside one callstore instance, on its real journal and the real CDR writer
 * thread: what a kill -9 (or a power loss) at the worst moment would leave on disk. A second
 * connection reads the journal as the next start would.
 */
describe('callstore commit order', () => {
  const open: { harness: Harness; dir: string }[] = [];
  afterEach(async () => {
    for (const { harness, dir } of open.splice(0)) {
      await harness.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  async function start(...args: Parameters<typeof callstoreDefinition>): Promise<Harness> {
    const dir = tempDir('sitecall-order-');
    const harness = await startHarness(dir, callstoreDefinition(...args));
    open.push({ harness, dir });
    return harness;
  }

  for (const mode of ['none', 'async', 'transactional'] as const) {
    it(`with state_save ${mode}, an event counts as stored only once its transaction is committed`, async () => {
      const h = await start(mode);
      const s = new CallScript('pbx1', Date.now() - 60_000);
      s.invite(0, 'c1', '101', '102').ring(100, 'c1').answer(2000, 'c1');
      await h.ingest(s.events);
      // Nothing else runs in between: what is on disk at this moment is what a crash now keeps.
      const onDisk = journalOnDisk(h.journalFile);
      expect(s.events.filter((e) => !onDisk.events.has(e.id)).map((e) => e.id)).toEqual([]);
      expect([...onDisk.active]).toEqual(['c1']);
    });
  }

  it("commits a finished call's record in the log with the finish of its dialogs, before the store has it; a straggler does not hold the dialog", async () => {
    const h = await start('async', { finish_settle_ms: 20 });
    const s = new CallScript('pbx1', Date.now() - 60_000);
    s.invite(0, 'c1', '101', '102').answer(2000, 'c1').end(9000, 'c1');
    h.writer.shut();
    await h.ingest(s.events);
    // The call settles and its record goes to the store, which is slow today.
    await eventually(async () => h.writer.held === 1, 20_000, 'the record on its way to the store');
    // A crash now keeps the record: it is an entry of the log, committed with the finish.
    let onDisk = journalOnDisk(h.journalFile);
    expect([...onDisk.cdrEntries]).toEqual(['c1']);
    expect([...onDisk.active]).toEqual([]);

    // A straggler of the call arrives meanwhile (a provisional reply stamped before the answer).
    const late = new CallScript('pbx1', Date.now() - 60_000);
    late.add(500, 'progress', 'c1', { toTag: 'tt1', code: 183, id: 'pbx1-late-183' });
    await h.ingest(late.events);
    onDisk = journalOnDisk(h.journalFile);
    expect(onDisk.events.has('pbx1-late-183')).toBe(true);
    expect([...onDisk.active]).toEqual([]);
    expect(h.instance.recordBacklog).toBe(1);

    h.writer.open();
    await eventually(async () => (await h.cdrThread.get('c1')) !== undefined, 20_000, 'the record of c1');
    await eventually(async () => h.instance.recordBacklog === 0, 20_000, 'the backlog to empty');
  });

  /** The connection's synchronous setting (2: FULL, fsync'd) at the commit that brought the record's entry. */
  function syncOfCommitHolding(h: Harness, cdrId: string): () => number | undefined {
    let seen: number | undefined;
    const has = h.log.database.prepare("SELECT 1 FROM entries WHERE kind = 'cdr' AND key = ?");
    h.log.onCommit(() => {
      if (seen === undefined && has.get(cdrId)) seen = h.log.database.pragma('synchronous', { simple: true }) as number;
    });
    return () => seen;
  }

  it('in transactional, fsyncs the commit of the record and the finish; the store is a view, synced before its position is saved', async () => {
    const h = await start('transactional', { finish_settle_ms: 20 });
    const syncOf = syncOfCommitHolding(h, 'c1');
    const s = new CallScript('pbx1', Date.now() - 60_000);
    s.invite(0, 'c1', '101', '102').answer(2000, 'c1').end(9000, 'c1');
    await h.ingest(s.events);
    await eventually(async () => journalOnDisk(h.journalFile).cdrEntries.has('c1'), 20_000, 'the record in the log');
    expect(syncOf()).toBe(2);
    expect(journalOnDisk(h.journalFile).active.size).toBe(0);
    await eventually(async () => (await h.cdrThread.get('c1')) !== undefined, 20_000, 'the record in the store');
    expect(h.writer.inserts.map((i) => i.ids)).toEqual([['c1']]);
  });

  it('with state_save none, writes at start the record of a call that had finished before a crash', async () => {
    const dir = tempDir('sitecall-order-');
    const definition = callstoreDefinition('none', { finish_settle_ms: 20 });
    const first = await startHarness(dir, definition);
    const s = new CallScript('pbx1', Date.now() - 60_000);
    s.invite(0, 'c1', '101', '102').answer(2000, 'c1').end(9000, 'c1');
    s.invite(100, 'c2', '103', '104').answer(2100, 'c2');
    first.writer.shut();
    await first.ingest(s.events);
    await eventually(async () => first.writer.held === 1, 20_000, 'the record on its way to the store');
    // The instance ends with the record still on its way: it never reaches the store.
    await first.instance.stop();

    const again = await startHarness(dir, definition);
    try {
      await eventually(async () => (await again.cdrThread.get('c1')) !== undefined, 20_000, 'the record of c1');
      // The unfinished call is forgotten, as state_save none says (its source resyncs it).
      expect(again.instance.list()).toEqual([]);
      await eventually(async () => journalOnDisk(again.journalFile).active.size === 0, 20_000, 'the active set to empty');
    } finally {
      await again.close();
      first.writer.open();
      await first.cdrThread.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reopens the journal with the new durability when state_save changes on a running instance', async () => {
    const h = await start('async', { finish_settle_ms: 20 });
    expect(h.instance.journalDurability).toBe('os');
    h.instance.reconfigure(callstoreDefinition('transactional', { finish_settle_ms: 20 }));
    expect(h.instance.journalDurability).toBe('fsync');

    const syncOf1 = syncOfCommitHolding(h, 'c1');
    const s = new CallScript('pbx1', Date.now() - 60_000);
    s.invite(0, 'c1', '101', '102').answer(2000, 'c1').end(9000, 'c1');
    await h.ingest(s.events);
    await eventually(async () => journalOnDisk(h.journalFile).cdrEntries.has('c1'), 20_000, 'the record in the log');
    expect(syncOf1()).toBe(2);

    h.instance.reconfigure(callstoreDefinition('async', { finish_settle_ms: 20 }));
    expect(h.instance.journalDurability).toBe('os');
    const syncOf2 = syncOfCommitHolding(h, 'c2');
    s.invite(10_000, 'c2', '101', '102').answer(12_000, 'c2').end(19_000, 'c2');
    await h.ingest(s.events.slice(3));
    await eventually(async () => journalOnDisk(h.journalFile).cdrEntries.has('c2'), 20_000, 'the second record in the log');
    expect(syncOf2()).toBe(1);
  });
});
