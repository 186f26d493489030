/**
 * What concurrent edits overwrote (core/merge.ts conflictStep, storage/changelog/conflicts.ts):
 * sites edit documents and swap their changes in generated orders (each origin's entries in
 * order, the origins interleaved anyhow, relayed through a third site); every site then finds the
 * same conflicts, the ones the versions alone say (the leaves of each key's history other than
 * the winner), and sequential edits find none. The pure model (applyTracked) and real change logs
 * take the same scripts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conflictRuleOf, policyOf } from '../../service/storage/changelog/kinds.js';
import { conflictId, conflictStep, putVersion, sameContent, type HistoryLookups, type VersionedDoc } from '../../service/storage/changelog/core/merge.js';
import type { ChangeLog } from '../../service/storage/changelog/log.js';
import type { LogEntry } from '../../service/storage/changelog/reader.js';
import { changeLogSandbox } from '../support/changelog-sandbox.js';
import { allVersions, conflictPolicyOf, expectedConflicts, ModelSite, opArb, runScript, type EditingSite, type Op } from '../support/conflict-sites.js';

const sorted = (m: Map<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

function modelSites(n: number): { sites: ModelSite[]; tick: (ms: number) => void } {
  let now = 1_700_000_000_000;
  // each site's physical clock is a little off the others', so a later edit can carry an earlier wall time
  const sites = Array.from({ length: n }, (_, i) => new ModelSite(`site-${String.fromCharCode(97 + i)}`, () => now + ((i * 7) % 3) - 1));
  return { sites, tick: (ms) => (now += ms) };
}

describe('conflicts: the pure model (properties)', () => {
  for (const n of [2, 3]) {
    it(`${n} sites: after swapping everything, every site found the same conflicts, and they are those the versions say`, () => {
      fc.assert(
        fc.property(fc.array(opArb(n), { maxLength: 40 }), (ops) => {
          const { sites, tick } = modelSites(n);
          runScript(sites, ops, tick);
          const expected = sorted(expectedConflicts(allVersions(sites)));
          for (const s of sites) {
            expect(sorted(s.conflicts())).toEqual(expected);
            expect(s.documents()).toEqual((sites[0] as ModelSite).documents());
            // no base waits for ever: every version named arrived
            expect(s.state.awaited.size).toBe(0);
          }
        }),
        { numRuns: 400 },
      );
    });
  }

  it('the conflicts a site holds at any moment are those of the versions it holds, whatever order they came in', () => {
    fc.assert(
      fc.property(fc.array(opArb(3), { maxLength: 40 }), (ops) => {
        const { sites, tick } = modelSites(3);
        runScript(sites, ops, tick, false);
        for (const s of sites) {
          const held = [...s.counts().keys()].flatMap((o) => s.entriesOf(o, 0));
          expect(sorted(s.conflicts())).toEqual(sorted(expectedConflicts(held)));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('sequential edits (each made after taking every change before it) overwrite nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2), fc.constantFrom('config', 'users', 'tokens'), fc.option(fc.nat(3), { freq: 5 })), { maxLength: 30 }), (edits) => {
        const { sites, tick } = modelSites(3);
        const ops: Op[] = [];
        for (const [site, kind, body] of edits) {
          ops.push({ t: 'edit', site, kind, key: 'k', body });
          for (let to = 0; to < 3; to++) if (to !== site) ops.push({ t: 'sync', from: site, to, mix: [0] });
          ops.push({ t: 'tick', ms: 1 });
        }
        runScript(sites, ops, tick);
        for (const s of sites) expect(s.conflicts().size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('a cut, an edit on each side, a heal: both sides find the same one overwritten version, the one that lost', () => {
    const { sites, tick } = modelSites(2);
    const [a, b] = sites as [ModelSite, ModelSite];
    a.edit('config', 'roles', { instances: ['x'] });
    runScript(sites, [{ t: 'sync', from: 0, to: 1, mix: [0] }], tick, false);
    // the cut: both edit revision 1
    tick(5);
    a.edit('config', 'roles', { instances: ['x', 'from-a'] });
    tick(5);
    b.edit('config', 'roles', { instances: ['x', 'from-b'] });
    runScript(sites, [], tick);
    const lostA = [...a.conflicts()];
    expect(lostA).toEqual([...b.conflicts()]);
    expect(lostA).toHaveLength(1);
    // b's edit was later: it won; a's is what was overwritten
    expect(lostA[0]?.[1]).toEqual({ instances: ['x', 'from-a'] });
    expect(a.state.docs.get('config\u0000roles')?.body).toEqual({ instances: ['x', 'from-b'] });
  });
});

describe('conflicts: the step, case by case', () => {
  const none: HistoryLookups = { isLost: () => false, isAwaited: () => false, seen: () => true };
  const v = (hlc: string, origin: string, body: unknown, base: VersionedDoc | null): VersionedDoc => ({ ...putVersion('config', 'roles', hlc, origin, body), base: base ? { hlc: base.hlc, origin: base.origin } : null });
  const w0 = v('0000000000000001', 'a', 0, null);

  it('an edit made from the version held overwrites nothing', () => {
    const next = v('0000000000000002', 'b', 1, w0);
    expect(conflictStep(w0, next, next, 'last-writer-wins', none)).toEqual({});
  });

  it('an edit made from another version overwrites the one held; one that loses is itself overwritten', () => {
    const a1 = v('0000000000000003', 'a', 'a', w0);
    const b1 = v('0000000000000002', 'b', 'b', w0);
    expect(conflictStep(b1, a1, a1, 'last-writer-wins', none).lost).toMatchObject({ hlc: b1.hlc, origin: 'b', body: 'b', beatenBy: { hlc: a1.hlc, origin: 'a' } });
    expect(conflictStep(a1, b1, a1, 'last-writer-wins', none).lost).toMatchObject({ hlc: b1.hlc, origin: 'b', beatenBy: { hlc: a1.hlc, origin: 'a' } });
  });

  it('a version whose base is not known (a record, an entry from before bases) changes nothing', () => {
    const { base: _base, ...unknown } = v('0000000000000003', 'a', 'a', w0);
    const held = v('0000000000000002', 'b', 'b', w0);
    expect(conflictStep(held, unknown, unknown, 'last-writer-wins', none)).toEqual({});
  });

  it('delete-wins: a put beaten by a tombstone is not a conflict (a revoke is final)', () => {
    const put = v('0000000000000003', 'a', 'a', w0);
    const revoke: VersionedDoc = { kind: 'config', key: 'roles', hlc: '0000000000000002', origin: 'b', tombstone: true, body: null, base: { hlc: w0.hlc, origin: 'a' } };
    expect(conflictStep(revoke, put, revoke, 'delete-wins', none).lost).toBeUndefined();
    expect(conflictStep(put, revoke, revoke, 'delete-wins', none).lost).toBeUndefined();
  });

  it('a version that arrives after one made from it is an ancestor (awaited), and a recorded loser that becomes a base is dropped', () => {
    const named: HistoryLookups = { ...none, isAwaited: () => true };
    const late = v('0000000000000002', 'c', 'c', w0);
    const newer = v('0000000000000005', 'b', 'b', late);
    expect(conflictStep(newer, late, newer, 'last-writer-wins', named)).toEqual({ arrived: { hlc: late.hlc, origin: 'c' } });
    const lostBefore: HistoryLookups = { ...none, isLost: () => true };
    const fromLost = v('0000000000000006', 'c', 'c2', late);
    expect(conflictStep(newer, fromLost, fromLost, 'last-writer-wins', lostBefore)).toMatchObject({ superseded: { hlc: late.hlc, origin: 'c' }, lost: { hlc: newer.hlc } });
  });

  it('sameContent leaves out the bookkeeping fields; a tombstone is the same as a tombstone only', () => {
    expect(sameContent({ tombstone: false, body: { a: 1, updatedAt: 'x' } }, { tombstone: false, body: { updatedAt: 'y', a: 1 } }, ['updatedAt'])).toBe(true);
    expect(sameContent({ tombstone: false, body: { a: 1 } }, { tombstone: false, body: { a: 2 } }, ['updatedAt'])).toBe(false);
    expect(sameContent({ tombstone: true, body: null }, { tombstone: false, body: {} }, [])).toBe(false);
    expect(sameContent({ tombstone: true, body: null }, { tombstone: true, body: null }, [])).toBe(true);
  });

  it('conflictId is the same for the same version, and differs between versions and keys', () => {
    const ref = { hlc: '0000000000000002', origin: 'b' };
    expect(conflictId('config', 'roles', ref)).toBe(conflictId('config', 'roles', { ...ref }));
    expect(conflictId('config', 'roles', ref)).toMatch(/^[0-9a-f]{32}$/);
    expect(conflictId('config', 'roles', ref)).not.toBe(conflictId('config', 'other', ref));
    expect(conflictId('config', 'roles', ref)).not.toBe(conflictId('config', 'roles', { ...ref, origin: 'c' }));
  });
});

/** A site over a real change log: the entries it holds are read back by position, as replication does. */
class LogSite implements EditingSite {
  constructor(
    readonly id: string,
    readonly log: ChangeLog,
  ) {}

  edit(kind: string, key: string, body: unknown): void {
    this.log.append({ kind, key, body });
  }

  entriesOf(origin: string, from: number): VersionedDoc[] {
    return this.log.after(origin, from, 10_000).map((e) => ({ kind: e.kind, key: e.key, hlc: e.hlc, origin: e.origin, tombstone: e.body === null, body: e.body, ...(e.base !== undefined ? { base: e.base } : {}), seq: e.seq }) as VersionedDoc);
  }

  counts(): Map<string, number> {
    return new Map(Object.entries(this.log.head()));
  }

  receive(entries: readonly VersionedDoc[]): void {
    if (entries.length === 0) return;
    const asEntries: LogEntry[] = entries.map((v) => {
      const e: LogEntry = { origin: v.origin, seq: (v as VersionedDoc & { seq: number }).seq, hlc: v.hlc, kind: v.kind, key: v.key, body: v.tombstone ? null : v.body };
      if (v.base !== undefined) e.base = v.base;
      return e;
    });
    this.log.receive(asEntries);
  }

  conflicts(): Map<string, unknown> {
    return new Map(this.log.conflicts({ state: 'all', limit: 10_000 }).items.map((c) => [c.id, c.lost.tombstone ? null : c.lost.body]));
  }

  documents(): Map<string, string> {
    const out = new Map<string, string>();
    for (const kind of ['config', 'users', 'tokens']) for (const d of this.log.documents(kind)) out.set(`${kind}\u0000${d.key}`, `${d.hlc}/${d.origin}/${JSON.stringify(d.body)}`);
    return out;
  }
}

describe('conflicts: real change logs (properties)', () => {
  let now = 1_700_000_000_000;
  const sandbox = changeLogSandbox('sitecall-conflicts-', () => ({ origin: 'unset', policyOf: conflictPolicyOf, durability: 'os', conflictRuleOf: () => ({ ignored: [] }), physicalNow: () => now }));

  it('3 logs: the same script as the model gives the same documents and conflicts on every log, and those of the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(3), { maxLength: 30 }), async (ops) => {
        now = 1_700_000_000_000;
        const names = ['site-a', 'site-b', 'site-c'];
        const logs = names.map((id) => new LogSite(id, sandbox.open(sandbox.tempFile(), { origin: id })));
        const model = names.map((id) => new ModelSite(id, () => now));
        runScript(logs, ops, (ms) => (now += ms));
        now = 1_700_000_000_000;
        runScript(model, ops, (ms) => (now += ms));
        const expected = sorted(expectedConflicts(allVersions(logs)));
        for (const s of logs) {
          expect(sorted(s.conflicts())).toEqual(expected);
          expect(s.documents()).toEqual((logs[0] as LogSite).documents());
        }
        expect(sorted((model[0] as ModelSite).conflicts())).toEqual(expected);
        for (const l of sandbox.opened.splice(0)) await l.close();
      }),
      { numRuns: 30 },
    );
  });

  it('a conflict is moot while the document says what the overwritten version said, and dismissing it (a replicated document) reaches the other log', () => {
    now = 1_700_000_000_000;
    const a = new LogSite('site-a', sandbox.open(sandbox.tempFile(), { origin: 'site-a', conflictRuleOf: () => ({ ignored: ['at'] }) }));
    const b = new LogSite('site-b', sandbox.open(sandbox.tempFile(), { origin: 'site-b', conflictRuleOf: () => ({ ignored: ['at'] }) }));
    a.edit('config', 'roles', { n: 0, at: 1 });
    runScript([a, b], [], () => undefined);
    now += 5;
    a.edit('config', 'roles', { n: 1, at: 2 });
    now += 5;
    b.edit('config', 'roles', { n: 2, at: 3 });
    runScript([a, b], [], () => undefined);
    const [open] = a.log.conflicts({ state: 'open', limit: 10 }).items;
    expect(open).toMatchObject({ kind: 'config', key: 'roles', lost: { origin: 'site-a', body: { n: 1, at: 2 } }, moot: false, dismissal: null });
    // b saves what a had (a new edit, made from the current version): the conflict is moot on both
    now += 5;
    b.edit('config', 'roles', { n: 1, at: 9 });
    runScript([a, b], [], () => undefined);
    for (const s of [a, b]) expect(s.log.conflicts({ state: 'all', limit: 10 }).items.map((c) => [c.id, c.moot])).toEqual([[open?.id, true]]);
    expect(a.log.conflicts({ state: 'open', limit: 10 }).total).toBe(0);
    // and not moot again once the document moves on
    now += 5;
    a.edit('config', 'roles', { n: 3, at: 10 });
    runScript([a, b], [], () => undefined);
    expect(b.log.conflicts({ state: 'open', limit: 10 }).items.map((c) => c.id)).toEqual([open?.id]);
    // a dismissal written on a is a document of the log: b has it once it took a's entries
    a.log.append({ kind: 'conflict_dismissals', key: open?.id as string, body: { dismissedAt: '2026-01-01T00:00:00.000Z', site: 'site-a', by: 'admin' } });
    runScript([a, b], [], () => undefined);
    for (const s of [a, b]) {
      expect(s.log.conflicts({ state: 'open', limit: 10 }).total).toBe(0);
      expect(s.log.conflicts({ state: 'dismissed', limit: 10 }).items[0]?.dismissal).toEqual({ dismissedAt: '2026-01-01T00:00:00.000Z', site: 'site-a', by: 'admin' });
    }
  });

  it('a schema 1 log file gets the columns of schema 2 and keeps its entries (their base not known)', async () => {
    const file = sandbox.tempFile();
    const first = sandbox.open(file, { origin: 'site-a' });
    first.append({ kind: 'config', key: 'roles', body: { n: 0 } });
    await first.close();
    sandbox.opened.splice(0);
    // make it what schema 1 wrote: no base columns, version 1
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(file);
    db.exec("ALTER TABLE entries DROP COLUMN base; ALTER TABLE documents DROP COLUMN base; DROP TABLE conflicts; DROP TABLE awaited_bases; UPDATE meta SET value = '1' WHERE name = 'schema'");
    db.close();
    const again = sandbox.open(file, { origin: 'site-a' });
    expect(again.after('site-a', 0, 10)[0]?.base).toBeUndefined();
    again.append({ kind: 'config', key: 'roles', body: { n: 1 } });
    expect(again.after('site-a', 1, 10)[0]?.base).toMatchObject({ origin: 'site-a' });
    expect(again.conflicts({ limit: 10 }).total).toBe(0);
  });
});

describe('conflicts: which kinds (kinds.ts)', () => {
  let now = 1_700_000_000_000;
  const sandbox = changeLogSandbox('sitecall-conflict-kinds-', () => ({ origin: 'unset', policyOf, conflictRuleOf, durability: 'os', physicalNow: () => now }));

  it('the configuration, users, tokens and mailboxes keep what a concurrent edit overwrote; the PIN guard and the dismissals do not; a token\'s lastUsedAt alone is moot', () => {
    const a = new LogSite('site-a', sandbox.open(sandbox.tempFile(), { origin: 'site-a' }));
    const b = new LogSite('site-b', sandbox.open(sandbox.tempFile(), { origin: 'site-b' }));
    const kinds = ['config', 'users', 'tokens', 'vmail_mailboxes', 'vmail_pin_guard', 'conflict_dismissals'];
    for (const kind of kinds) a.edit(kind, 'k', { v: 0, lastUsedAt: null });
    runScript([a, b], [], () => undefined);
    now += 5;
    for (const kind of kinds) a.edit(kind, 'k', { v: kind === 'tokens' ? 0 : 1, lastUsedAt: 'a' });
    now += 5;
    for (const kind of kinds) b.edit(kind, 'k', { v: kind === 'tokens' ? 0 : 2, lastUsedAt: 'b' });
    runScript([a, b], [], () => undefined);
    for (const s of [a, b]) {
      const all = s.log.conflicts({ state: 'all', limit: 100 }).items;
      expect(all.map((c) => c.kind).sort()).toEqual(['config', 'tokens', 'users', 'vmail_mailboxes']);
      expect(all.find((c) => c.kind === 'tokens')?.moot).toBe(true);
      expect(s.log.conflicts({ state: 'open', limit: 100 }).items.map((c) => c.kind).sort()).toEqual(['config', 'users', 'vmail_mailboxes']);
    }
  });
});
