import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCdr, foldCall, isFinished, toActiveCall, type CoreEvent } from '../../service/callstore/core/call.js';
import { CallTable, MAX_EVENTS_PER_CALL, MAX_EVENTS_PER_CALL_HARD } from '../../service/callstore/core/table.js';
import { SourceSequences } from '../../service/callstore/sequences.js';
import { capProblems, parseEvents, parseNdjson } from '../../service/callstore/ingest.js';
import { CallScript, toCore } from '../support/call-events.js';

describe('the call table', () => {
  it('groups dialogs by callRef and by link, transitively', () => {
    const s = new CallScript()
      .invite(0, 'a', '1', '2', { callRef: 'R' })
      .invite(10, 'b', '1', '3', { callRef: 'R' })
      .invite(20, 'c', '4', '5')
      .invite(30, 'd', '6', '7')
      .link(40, 'c', 'd', 'transfer')
      .link(50, 'd', 'b', 'replaces');
    const table = new CallTable();
    for (const e of s.events.map(toCore)) table.add(e, 0);
    expect(table.size).toBe(1);
    const [call] = [...table.calls()];
    expect([...call!.callIds].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(call!.id).toBe('R');
    expect(table.get('R')).toBe(call);
  });

  it('retires the old id when an earlier leg turns up or calls merge', () => {
    const s = new CallScript().invite(100, 'late', '1', '2').invite(0, 'early', '1', '3').link(200, 'late', 'early', 'b2bua');
    const [lateInvite, earlyInvite, link] = s.events.map(toCore);
    const table = new CallTable();
    table.add(lateInvite!, 0);
    table.add(earlyInvite!, 0);
    expect(table.size).toBe(2);
    const merged = table.add(link!, 0);
    expect(table.size).toBe(1);
    expect(merged.bucket.id).toBe('early');
    expect(merged.retiredIds).toEqual(['late']);
    expect(table.get('late')).toBeUndefined();
  });

  it('routes the future events of a linked dialog into the call', () => {
    const s = new CallScript().invite(0, 'a', '1', '2').link(10, 'a', 'b', 'b2bua').invite(20, 'b', '1', '2');
    const table = new CallTable();
    for (const e of s.events.map(toCore)) table.add(e, 0);
    expect(table.size).toBe(1);
    expect(table.byDialog('b')?.id).toBe('a');
  });

  it('forgets every key of a removed call', () => {
    const table = new CallTable();
    for (const e of new CallScript().invite(0, 'a', '1', '2', { callRef: 'R' }).link(1, 'a', 'z', 'forward').events.map(toCore)) table.add(e, 0);
    table.remove(table.get('R')!);
    expect([table.size, table.get('R'), table.byDialog('a'), table.byDialog('z')]).toEqual([0, undefined, undefined, undefined]);
  });

  it('property: any arrival order groups the same dialogs into the same calls', () => {
    const s = new CallScript()
      .invite(0, 'a', '1', '2')
      .invite(5, 'b', '1', '2')
      .link(6, 'b', 'a', 'b2bua')
      .invite(50, 'x', '8', '9')
      .invite(60, 'y', '8', '9', { callRef: 'Y' })
      .invite(70, 'z', '8', '9', { callRef: 'Y' })
      .end(80, 'a')
      .end(90, 'x');
    const events = s.events.map(toCore);
    const groups = (order: number[]) => {
      const table = new CallTable();
      for (const i of order) table.add(events[i]!, 0);
      return [...table.calls()].map((c) => [c.id, [...c.callIds].sort().join(',')]).sort();
    };
    const reference = groups(events.map((_, i) => i));
    fc.assert(
      fc.property(fc.shuffledSubarray(events.map((_, i) => i), { minLength: events.length }), (order) => {
        expect(groups(order)).toEqual(reference);
      }),
    );
  });
});

describe('the call table: folding as events come', () => {
  const ctx = { site: 'site-a', instance: 'callstore1' };

  /** Two linked dialogs with forks, holds by both sides, a transfer leg and an outcome fast-check picks. */
  const call = fc
    .record({
      holds: fc.array(fc.record({ by: fc.constantFrom('caller', 'callee') as fc.Arbitrary<'caller' | 'callee'>, at: fc.integer({ min: 2000, max: 9000 }), len: fc.integer({ min: 0, max: 3000 }) }), { maxLength: 4 }),
      outcome: fc.constantFrom('answered', 'cancel', 'busy', 'crossing'),
      transfer: fc.boolean(),
    })
    .map(({ holds, outcome, transfer }) => {
      const s = new CallScript().invite(0, 'a', '101', '102', { callRef: 'R' }).invite(10, 'b', '101', '102').link(10, 'b', 'a', 'b2bua').ring(100, 'b', 'x').ring(110, 'b', 'y').ring(120, 'a');
      if (outcome === 'cancel') return s.cancel(5000, 'a').cancel(5010, 'b').events.map(toCore);
      if (outcome === 'busy') return s.fail(5000, 'b', 486).fail(5010, 'a', 486).events.map(toCore);
      if (outcome === 'crossing') s.cancel(999, 'a');
      s.answer(1000, 'b', 'y').answer(1010, 'a');
      for (const h of holds) s.hold(h.at, 'a', h.by).resume(h.at + h.len, 'a', h.by);
      if (transfer) s.invite(9500, 't', '102', '103').link(9500, 't', 'b', 'transfer').answer(9800, 't').end(12_000, 't');
      return s.end(10_000, 'a').end(10_005, 'b').events.map(toCore);
    });

  it('property: whatever the arrival order, the call folded as events come equals the fold of all its events', () => {
    fc.assert(
      fc.property(call, fc.infiniteStream(fc.nat()), (events, randoms) => {
        const it = randoms[Symbol.iterator]();
        const order = [...events].sort(() => ((it.next().value as number) % 3) - 1);
        const table = new CallTable();
        for (const e of order) {
          const { bucket } = table.add(e, 0);
          // after every event, not only at the end: the live view is what the console shows
          expect(toActiveCall(bucket.fold, ctx)).toEqual(toActiveCall(foldCall(bucket.events), ctx));
        }
        const [bucket] = [...table.calls()];
        expect(table.size).toBe(1);
        expect(isFinished(bucket!.fold)).toBe(true);
        expect(buildCdr(bucket!.fold, ctx)).toEqual(buildCdr(foldCall(events), ctx));
      }),
      { numRuns: 200 },
    );
  });

  it('past the per-call limit a call leaves out the flood, keeps every end and finishes with the right record', () => {
    const s = new CallScript().invite(0, 'a', '101', '102', { callRef: 'big' }).ring(10, 'a').answer(20, 'a').hold(30, 'a', 'callee');
    for (let i = 0; s.events.length < MAX_EVENTS_PER_CALL + 500; i++) s.ring(40 + i, 'a', 'tt1', 183);
    // past the limit: a hold and a progress are left out, the open hold's resume is kept
    s.hold(20_000, 'a', 'caller').ring(20_001, 'a', 'late-branch').resume(21_000, 'a', 'callee');
    // a new dialog joins and ends; the first one ends
    s.invite(30_000, 'b', '102', '103', { callRef: 'big' }).answer(31_000, 'b').fail(32_000, 'b', 500).end(40_000, 'a', 'callee');
    const table = new CallTable();
    for (const e of s.events.map(toCore)) table.add(e, 0);
    const [bucket] = [...table.calls()];
    expect(isFinished(bucket!.fold)).toBe(true);
    const cdr = buildCdr(bucket!.fold, ctx);
    expect(cdr).toMatchObject({ id: 'big', endedAt: '2026-11-22T10:00:40.000Z', billsec: 39.98, holdSec: 20.97, hangup: { by: 'callee' } });
    expect(cdr.holds).toEqual([{ callId: 'a', on: '2026-11-22T10:00:00.030Z', off: '2026-11-22T10:00:21.000Z', by: 'callee' }]);
    expect(cdr.legs.map((l) => [l.callId, l.state, l.code])).toEqual([
      ['a', 'terminated', 200],
      ['b', 'terminated', 200],
    ]);
    expect(cdr.forks.map((f) => f.toTag)).not.toContain('late-branch');
    expect(cdr.anomalies).toContainEqual(expect.stringMatching(/^502 events past the limit of events per call were left out/));
    expect(cdr.eventIds).toHaveLength(s.events.length - 502);
  });

  it('past the hard limit only what ends or answers a dialog it has: the call still finishes', () => {
    const s = new CallScript().invite(0, 'a', '101', '102', { callRef: 'huge' }).invite(5, 'b', '101', '103', { callRef: 'huge' }).answer(20, 'a');
    // a runaway: links to ever new dialogs, past both limits
    for (let i = 0; s.events.length < MAX_EVENTS_PER_CALL_HARD + 100; i++) s.link(40 + i, 'a', `x${i}`, 'forward');
    s.invite(50_000, 'late', '1', '2', { callRef: 'huge' }).answer(50_500, 'b').end(60_000, 'b').end(60_000, 'b').end(61_000, 'a');
    const table = new CallTable();
    for (const e of s.events.map(toCore)) table.add(e, 0);
    const bucket = table.get('huge')!;
    expect(bucket.events.length).toBe(MAX_EVENTS_PER_CALL_HARD + 3);
    expect(isFinished(bucket.fold)).toBe(true);
    expect(buildCdr(bucket.fold, ctx)).toMatchObject({ endedAt: '2026-11-22T10:01:01.000Z', disposition: 'ANSWERED' });
    expect(bucket.fold.legs.map((l) => l.callId)).toEqual(['a', 'b']);
  });
});

describe('the call table: transferred calls', () => {
  const ctx = { site: 'site-a', instance: 'callstore1' };

  /**
   * A call handed over as Kamailio reports it, with times fast-check picks: blind (A–B, B REFERs,
   * A calls C with a `transfer` link), attended (A–B, B consults C, A calls C with Replaces of B–C
   * and a `transfer` link to A–B) or pickup (A rings B, C calls A with Replaces of the ringing
   * dialog). Whoever hangs up at the end, and whether B leaves before or after C answers.
   */
  const transferred = fc
    .record({
      style: fc.constantFrom('blind', 'attended', 'pickup'),
      answerB: fc.integer({ min: 100, max: 5000 }),
      referAfter: fc.integer({ min: 0, max: 20_000 }),
      ringC: fc.integer({ min: 50, max: 8000 }),
      bLeaves: fc.integer({ min: -3000, max: 3000 }),
      talk: fc.integer({ min: 0, max: 60_000 }),
      hangsUp: fc.constantFrom('caller', 'callee') as fc.Arbitrary<'caller' | 'callee'>,
    })
    .map(({ style, answerB, referAfter, ringC, bLeaves, talk, hangsUp }) => {
      const s = new CallScript().invite(0, 'ab', '101', '102').ring(50, 'ab');
      if (style === 'pickup') {
        const at = answerB + referAfter;
        s.invite(at, 'ca', '103', '101').link(at, 'ca', 'ab', 'pickup').answer(at + ringC, 'ca').cancel(at + ringC + 5, 'ab');
        const end = at + ringC + 6 + talk;
        s.end(end, 'ca', hangsUp);
        return { events: s.events.map(toCore), firstAnswer: at + ringC, end, lastParty: 'sip:103@office.example', by: hangsUp === 'caller' ? 'callee' : 'caller' };
      }
      s.answer(answerB, 'ab');
      let at = answerB + referAfter;
      if (style === 'attended') {
        s.hold(at, 'ab', 'callee').invite(at + 10, 'bc', '102', '103').answer(at + 10 + ringC, 'bc');
        at += 10 + ringC + 100;
        s.invite(at, 'ac', '101', '103').link(at, 'ac', 'bc', 'replaces').link(at, 'ac', 'ab', 'transfer');
      } else s.invite(at, 'ac', '101', '103').link(at, 'ac', 'ab', 'transfer');
      const answerC = at + ringC;
      s.answer(answerC, 'ac');
      s.end(Math.max(at + 1, answerC + bLeaves), 'ab', 'callee');
      if (style === 'attended') s.end(answerC + 20, 'bc', 'callee');
      const end = answerC + Math.max(bLeaves, 20, 0) + 1 + talk;
      s.end(end, 'ac', hangsUp);
      return { events: s.events.map(toCore), firstAnswer: answerB, end, lastParty: 'sip:103@office.example', by: hangsUp };
    });

  it('property: in any arrival order, one record with every leg; answeredBy the party talked to last, billsec the caller’s whole answered time, the hang-up of the last leg', () => {
    fc.assert(
      fc.property(transferred, fc.infiniteStream(fc.nat()), ({ events, firstAnswer, end, lastParty, by }, randoms) => {
        const it = randoms[Symbol.iterator]();
        const order = [...events].sort(() => ((it.next().value as number) % 3) - 1);
        const table = new CallTable();
        for (const e of order) table.add(e, 0);
        expect(table.size).toBe(1);
        const [bucket] = [...table.calls()];
        expect(isFinished(bucket!.fold)).toBe(true);
        const cdr = buildCdr(bucket!.fold, ctx);
        expect(cdr).toEqual(buildCdr(foldCall(events), ctx));
        expect(cdr.id).toBe('ab');
        expect(new Set(cdr.legs.map((l) => l.callId))).toEqual(new Set(events.map((e) => e.callId)));
        expect(cdr.disposition).toBe('ANSWERED');
        expect(cdr.answeredBy).toBe(lastParty);
        expect(cdr.billsec).toBeCloseTo((end - firstAnswer) / 1000, 3);
        expect(cdr.hangup.by).toBe(by);
      }),
      { numRuns: 300 },
    );
  });
});

describe('source sequences', () => {
  it('counts skipped seqs and late arrivals', () => {
    const seqs = new SourceSequences();
    expect(seqs.observe('p', 1)).toEqual({ skipped: 0, reordered: false });
    expect(seqs.observe('p', 2)).toEqual({ skipped: 0, reordered: false });
    expect(seqs.observe('p', 5)).toEqual({ skipped: 2, reordered: false });
    expect(seqs.observe('p', 4)).toEqual({ skipped: 0, reordered: true });
    expect(seqs.observe('q', 100)).toEqual({ skipped: 0, reordered: false });
    expect(seqs.highestOf('p')).toBe(5);
  });
});

describe('event validation at the edge', () => {
  const good = new CallScript().invite(0, 'c', '1', '2').events[0]!;

  it('accepts a valid event and parses its time', () => {
    const { events, rejected } = parseEvents([good], new Set(), Date.parse(good.ts));
    expect(rejected).toEqual([]);
    expect(events[0]?.event.tsMs).toBe(Date.parse(good.ts));
  });

  it.each([
    ['a missing field', { ...good, callId: undefined }, '/callId', 'is required'],
    ['a wrong type', { ...good, seq: '7' }, '/seq', 'must be integer'],
    ['an unknown type', { ...good, type: 'reinvite' }, '/type', 'must be one of "invite", "progress", "answer", "hold", "resume", "link", "end", "fail", "cancel"'],
    ['an unparseable ts', { ...good, ts: 'yesterday' }, '/ts', 'must match format "date-time"'],
    ['a ts without a zone', { ...good, ts: '2026-11-22T10:00:00' }, '/ts', 'must match format "date-time"'],
    ['an over-long callId', { ...good, callId: 'x'.repeat(257) }, '/callId', 'must NOT have more than 256 characters'],
    ['an unknown field', { ...good, colour: 'red' }, '/colour', 'is not a known field'],
    ['an invite without domain', { ...good, domain: undefined }, '/domain', 'is required on a invite event'],
    ['an answer without toTag', { ...good, type: 'answer' }, '/toTag', 'is required on a answer event'],
    ['a fail without code', { ...good, type: 'fail' }, '/code', 'is required on a fail event'],
    ['a SIP code out of range', { ...good, type: 'fail', code: 99 }, '/code', 'must be >= 100'],
    ['a link to itself', { ...good, type: 'link', otherCallId: 'c', kind: 'transfer' }, '/otherCallId', 'links a dialog to itself'],
    ['a bad source name', { ...good, source: 'pbx 1' }, '/source', 'must match pattern "^[A-Za-z0-9][A-Za-z0-9._:-]*$"'],
  ])('refuses %s', (_what, event, path, message) => {
    const { events, rejected } = parseEvents([good, event, good], new Set(), Date.parse(good.ts));
    expect(events.map((e) => e.index)).toEqual([0, 2]);
    expect(rejected).toContainEqual({ index: 1, id: good.id, path, message });
  });

  it('refuses what is not an object', () => {
    expect(parseEvents([42, null, [good]]).rejected.map((r) => [r.index, r.message])).toEqual([
      [0, 'must be an event object'],
      [1, 'must be an event object'],
      [2, 'must be an event object'],
    ]);
  });

  const at = (ms: number) => ({ ...good, ts: new Date(ms).toISOString() });
  const t0 = Date.parse(good.ts);
  const day = 24 * 3600_000;

  it('refuses a seq that is not a finite, safe, non-negative integer', () => {
    for (const seq of [JSON.parse('1e400'), -JSON.parse('1e400'), Number.NaN, 2 ** 53, 1e300, -1, 1.5]) {
      const { events, rejected } = parseEvents([{ ...good, seq }], new Set(), t0);
      expect(events, String(seq)).toEqual([]);
      expect(rejected.map((r) => r.path), String(seq)).toEqual(['/seq']);
    }
    expect(parseEvents([{ ...good, seq: Number.MAX_SAFE_INTEGER }], new Set(), t0).rejected).toEqual([]);
  });

  it('takes times up to 7 days ahead of its clock and up to 366 days behind it (a backlog after a long outage)', () => {
    const { events, rejected } = parseEvents([at(t0 + 7 * day - 1000), at(t0 - 30 * day), at(t0 - 366 * day + 1000), at(t0)], new Set(), t0);
    expect(rejected).toEqual([]);
    expect(events).toHaveLength(4);
  });

  it('refuses times far from its clock, saying how far and what the window is', () => {
    const items = [at(t0 + 8 * day), at(t0 - 400 * day), { ...good, ts: '0000-01-01T00:00:00Z' }, { ...good, ts: '9999-12-31T23:59:59.999Z' }];
    const { events, rejected } = parseEvents(items, new Set(), t0);
    expect(events).toEqual([]);
    expect(rejected.map((r) => [r.index, r.path, r.message])).toEqual([
      [0, '/ts', 'is 8 days ahead of the receiver’s clock; times more than 7 days ahead are refused (check the source’s clock)'],
      [1, '/ts', 'is 400 days behind the receiver’s clock; times more than 366 days behind are refused'],
      [2, '/ts', `is ${Math.floor((t0 - Date.parse('0000-01-01T00:00:00Z')) / day)} days behind the receiver’s clock; times more than 366 days behind are refused`],
      [3, '/ts', `is ${Math.floor((Date.parse('9999-12-31T23:59:59.999Z') - t0) / day)} days ahead of the receiver’s clock; times more than 7 days ahead are refused (check the source’s clock)`],
    ]);
  });

  it('lists at most 10 problems of one event and counts the others', () => {
    const noisy = Object.fromEntries([...Object.entries(good), ...Array.from({ length: 500 }, (_, i) => [`unknown${i}`, i])]);
    const { rejected, omitted } = parseEvents([noisy, good], new Set(), t0);
    expect(rejected).toHaveLength(10);
    expect(rejected.every((r) => r.index === 0 && r.message === 'is not a known field')).toBe(true);
    expect(omitted).toBe(490);
  });

  it('lists each problem of a batch once, at most 100 of them, and counts the others', () => {
    const bad = Array.from({ length: 5000 }, (_, i) => ({ ...good, id: `e${i}`, colour: 'red', size: 'xl' }));
    const parsed = parseEvents(bad, new Set(), t0);
    expect(parsed.rejected).toHaveLength(10_000);
    const report = capProblems(parsed.rejected, parsed.omitted);
    expect(report.rejected).toHaveLength(100);
    expect(report.truncated).toBe(9900);
    expect(new Set(report.rejected.map((r) => `${r.index}${r.path}`)).size).toBe(100);
    expect(capProblems(parsed.rejected.slice(0, 3), 0)).toEqual({ rejected: parsed.rejected.slice(0, 3) });
  });

  it('reads NDJSON, keeping the index of a broken line', () => {
    const { items, broken } = parseNdjson(`${JSON.stringify(good)}\n{nope\n\n${JSON.stringify(good)}\n`);
    expect(items).toHaveLength(3);
    expect(broken).toEqual([{ index: 1, path: '', message: expect.stringMatching(/^line 2 is not valid JSON/) }]);
    expect(parseEvents(items, new Set([1]), Date.parse(good.ts)).rejected).toEqual([]);
  });
});
