import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCdr, callStateOf, foldCall, isFinished, partyKey, toActiveCall, type CoreEvent } from '../../service/callstore/core/call.js';
import { CallScript, toCore } from '../support/call-events.js';

const ctx = { site: 'site-a', instance: 'callstore1' };
const cdrOf = (s: CallScript) => buildCdr(foldCall(s.events.map(toCore)), ctx);

describe('the call core: scenarios', () => {
  it('a basic answered call', () => {
    const s = new CallScript().invite(0, 'c1', '101', '102', { direction: 'internal' }).ring(250, 'c1').answer(4250, 'c1').end(64250, 'c1', 'callee');
    const cdr = cdrOf(s);
    expect(cdr).toMatchObject({
      id: 'c1',
      domain: 'office.example',
      site: 'site-a',
      source: 'pbx1',
      direction: 'internal',
      from: 'sip:101@office.example',
      to: 'sip:102@office.example',
      answeredBy: 'sip:102@office.example',
      startedAt: '2026-11-22T10:00:00.000Z',
      ringingAt: '2026-11-22T10:00:00.250Z',
      answeredAt: '2026-11-22T10:00:04.250Z',
      endedAt: '2026-11-22T10:01:04.250Z',
      duration: 64.25,
      billsec: 60,
      ringSec: 4.25,
      holdSec: 0,
      disposition: 'ANSWERED',
      hangup: { by: 'callee', code: null, reason: null },
      endReason: 'normal',
      synthesized: false,
      holds: [],
      links: [],
      anomalies: [],
    });
    expect(cdr.legs).toEqual([
      { callId: 'c1', fromTag: 'ft-c1', toTag: 'tt1', from: 'sip:101@office.example', to: 'sip:102@office.example', source: 'pbx1', startedAt: '2026-11-22T10:00:00.000Z', ringingAt: '2026-11-22T10:00:00.250Z', answeredAt: '2026-11-22T10:00:04.250Z', endedAt: '2026-11-22T10:01:04.250Z', code: 200, state: 'terminated' },
    ]);
    expect(cdr.forks).toEqual([{ callId: 'c1', toTag: 'tt1', code: 200, at: '2026-11-22T10:00:00.250Z', outcome: 'answered' }]);
    expect(cdr.eventIds).toEqual(s.events.map((e) => e.id));
  });

  it('busy (486)', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c1', '101', '102').fail(300, 'c1', 486));
    expect(cdr).toMatchObject({ disposition: 'BUSY', billsec: 0, ringSec: 0.3, duration: 0.3, answeredAt: null, answeredBy: null, hangup: { by: 'callee', code: 486 } });
  });

  it('busy everywhere (600)', () => {
    expect(cdrOf(new CallScript().invite(0, 'c1', '101', '102').fail(300, 'c1', 600)).disposition).toBe('BUSY');
  });

  it.each([408, 480])('no answer (%i)', (code) => {
    const cdr = cdrOf(new CallScript().invite(0, 'c1', '101', '102').ring(100, 'c1').fail(30_100, 'c1', code));
    expect(cdr).toMatchObject({ disposition: 'NO_ANSWER', ringSec: 30.1, billsec: 0, hangup: { code } });
    expect(cdr.forks[0]?.outcome).toBe('failed');
  });

  it('another final code is FAILED', () => {
    expect(cdrOf(new CallScript().invite(0, 'c1', '101', '102').fail(50, 'c1', 404)).disposition).toBe('FAILED');
  });

  it('the caller cancels', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c1', '101', '102').ring(100, 'c1').cancel(8000, 'c1').fail(8010, 'c1', 487));
    expect(cdr).toMatchObject({ disposition: 'CANCELLED', duration: 8, ringSec: 8, billsec: 0, hangup: { by: 'caller', code: 487 } });
    expect(cdr.forks).toEqual([{ callId: 'c1', toTag: 'tt1', code: 180, at: '2026-11-22T10:00:00.100Z', outcome: 'cancelled' }]);
  });

  it('a three-way fork answered by the second branch', () => {
    const s = new CallScript()
      .invite(0, 'c1', '101', 'sales')
      .ring(100, 'c1', 'b1')
      .ring(120, 'c1', 'b2')
      .ring(140, 'c1', 'b3', 183)
      .answer(5000, 'c1', 'b2', { to: 'sip:205@office.example' })
      .end(65000, 'c1', 'caller');
    const cdr = cdrOf(s);
    expect(cdr.forks.map((f) => [f.toTag, f.outcome])).toEqual([
      ['b1', 'lose_race'],
      ['b2', 'answered'],
      ['b3', 'lose_race'],
    ]);
    expect(cdr).toMatchObject({ answeredBy: 'sip:205@office.example', to: 'sip:sales@office.example', billsec: 60, ringSec: 5, ringingAt: '2026-11-22T10:00:00.100Z' });
    expect(cdr.legs[0]?.toTag).toBe('b2');
  });

  it('two holds', () => {
    const s = new CallScript().invite(0, 'c1', '101', '102').answer(1000, 'c1').hold(11_000, 'c1').resume(16_000, 'c1').hold(21_000, 'c1', 'callee').resume(23_500, 'c1', 'callee').end(31_000, 'c1');
    const cdr = cdrOf(s);
    expect(cdr.holdSec).toBe(7.5);
    expect(cdr.billsec).toBe(30);
    expect(cdr.holds).toEqual([
      { callId: 'c1', on: '2026-11-22T10:00:11.000Z', off: '2026-11-22T10:00:16.000Z', by: 'caller' },
      { callId: 'c1', on: '2026-11-22T10:00:21.000Z', off: '2026-11-22T10:00:23.500Z', by: 'callee' },
    ]);
  });

  it('caller and callee hold each other at once: one open hold per side, the time counted once', () => {
    const s = new CallScript().invite(0, 'c1', '101', '102').answer(1000, 'c1').hold(10_000, 'c1', 'caller').hold(12_000, 'c1', 'callee').resume(15_000, 'c1', 'caller').resume(20_000, 'c1', 'callee').end(30_000, 'c1');
    const cdr = cdrOf(s);
    expect(cdr.holds).toEqual([
      { callId: 'c1', on: '2026-11-22T10:00:10.000Z', off: '2026-11-22T10:00:15.000Z', by: 'caller' },
      { callId: 'c1', on: '2026-11-22T10:00:12.000Z', off: '2026-11-22T10:00:20.000Z', by: 'callee' },
    ]);
    expect(cdr.holdSec).toBe(10);
    // the callee's hold goes on after the caller resumed
    const live = new CallScript().invite(0, 'c2', '101', '102').answer(1000, 'c2').hold(10_000, 'c2', 'caller').hold(12_000, 'c2', 'callee').resume(15_000, 'c2', 'caller');
    expect(callStateOf(foldCall(live.events.map(toCore)))).toBe('on_hold');
    // a second hold by the same side while its first is open is one hold
    expect(cdrOf(new CallScript().invite(0, 'c3', '1', '2').answer(1000, 'c3').hold(2000, 'c3').hold(3000, 'c3').resume(4000, 'c3').end(5000, 'c3')).holds).toHaveLength(1);
  });

  it('a hold still open at the end lasts until the end', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c1', '101', '102').answer(1000, 'c1').hold(5000, 'c1').end(9000, 'c1'));
    expect(cdr.holdSec).toBe(4);
    expect(cdr.holds[0]?.off).toBe('2026-11-22T10:00:09.000Z');
  });

  it('a blind transfer: A calls B, B transfers A to C', () => {
    const s = new CallScript()
      .invite(0, 'ab', '101', '102')
      .answer(2000, 'ab')
      .invite(10_000, 'ac', '101', '103')
      .link(10_000, 'ac', 'ab', 'transfer')
      .end(10_050, 'ab', 'callee')
      .answer(14_000, 'ac')
      .end(74_000, 'ac', 'caller');
    const cdr = cdrOf(s);
    // the caller talked to C last, and hung up on C: B's BYE on the first dialog was the transfer
    expect(cdr).toMatchObject({ id: 'ab', from: 'sip:101@office.example', to: 'sip:102@office.example', answeredBy: 'sip:103@office.example', answeredAt: '2026-11-22T10:00:02.000Z', endedAt: '2026-11-22T10:01:14.000Z', billsec: 72, disposition: 'ANSWERED', hangup: { by: 'caller' } });
    expect(cdr.legs.map((l) => l.callId)).toEqual(['ab', 'ac']);
    expect(cdr.links).toEqual([{ kind: 'transfer', callId: 'ab', fromCallId: 'ac', at: '2026-11-22T10:00:10.000Z' }]);
  });

  it('an attended transfer with Replaces: A–B, B consults C, A is connected to C', () => {
    const s = new CallScript()
      .invite(0, 'ab', '101', '102')
      .answer(1000, 'ab')
      .hold(5000, 'ab', 'callee')
      .invite(6000, 'bc', '102', '103')
      .answer(9000, 'bc')
      .invite(20_000, 'ac', '101', '103')
      .link(20_000, 'ac', 'bc', 'replaces')
      .link(20_000, 'ac', 'ab', 'transfer')
      .answer(20_100, 'ac')
      .end(20_200, 'ab', 'callee')
      .end(20_200, 'bc', 'caller')
      .end(80_000, 'ac', 'callee');
    const cdr = cdrOf(s);
    expect(cdr.legs.map((l) => [l.callId, l.state])).toEqual([
      ['ab', 'terminated'],
      ['bc', 'terminated'],
      ['ac', 'terminated'],
    ]);
    // C is who the caller talked to last (the consultation B–C is not the caller's); C hung up
    expect(cdr).toMatchObject({ id: 'ab', answeredBy: 'sip:103@office.example', duration: 80, billsec: 79, holdSec: 15.2, disposition: 'ANSWERED', hangup: { by: 'callee' } });
    expect(cdr.links).toEqual([
      { kind: 'replaces', callId: 'bc', fromCallId: 'ac', at: '2026-11-22T10:00:20.000Z' },
      { kind: 'transfer', callId: 'ab', fromCallId: 'ac', at: '2026-11-22T10:00:20.000Z' },
    ]);
  });

  it('a pickup: A calls B, C picks the ringing call up (C calls A with Replaces of the early dialog)', () => {
    const s = new CallScript()
      .invite(0, 'ab', '101', '102')
      .ring(100, 'ab')
      .invite(5000, 'ca', '103', '101')
      .link(5000, 'ca', 'ab', 'pickup')
      .answer(5100, 'ca')
      .cancel(5150, 'ab')
      .end(35_100, 'ca', 'caller');
    const cdr = cdrOf(s);
    expect(cdr.legs.map((l) => l.callId)).toEqual(['ab', 'ca']);
    // C talked to A; C (the caller of its own dialog) hung up, which is the callee's side of the call
    expect(cdr).toMatchObject({ id: 'ab', from: 'sip:101@office.example', to: 'sip:102@office.example', answeredBy: 'sip:103@office.example', disposition: 'ANSWERED', billsec: 30, ringSec: 5.1, hangup: { by: 'callee' } });
    expect(cdr.links).toEqual([{ kind: 'pickup', callId: 'ab', fromCallId: 'ca', at: '2026-11-22T10:00:05.000Z' }]);
  });

  it('a transferred call transferred again: the party answered last is who the caller talked to', () => {
    const s = new CallScript()
      .invite(0, 'ab', '101', '102')
      .answer(1000, 'ab')
      .invite(10_000, 'ac', '101', '103')
      .link(10_000, 'ac', 'ab', 'transfer')
      .answer(11_000, 'ac')
      .end(11_100, 'ab', 'callee')
      .invite(20_000, 'ad', '101', '104')
      .link(20_000, 'ad', 'ac', 'transfer')
      .answer(21_000, 'ad')
      .end(21_100, 'ac', 'callee')
      .end(50_000, 'ad', 'callee');
    expect(cdrOf(s)).toMatchObject({ answeredBy: 'sip:104@office.example', billsec: 49, hangup: { by: 'callee' } });
  });

  it('the party of a URI: user@host, whatever the port, display name, scheme or parameters', () => {
    expect(partyKey('sip:a1@127.0.0.1:5080')).toBe('a1@127.0.0.1');
    expect(partyKey('"Anna" <sip:A1@Office.Example;transport=udp>;tag=x')).toBe('a1@office.example');
    expect(partyKey('sips:101@pbx:5061?Replaces=x')).toBe('101@pbx');
    expect(partyKey('tel:+4930111')).toBe('+4930111');
    expect(partyKey(null)).toBeNull();
  });

  it('a two-leg B2BUA call linked by `link`', () => {
    const s = new CallScript()
      .invite(0, 'a-leg', '+4930111', '200', { direction: 'inbound', callRef: 'x-1' })
      .invite(40, 'b-leg', '+4930111', '201', { direction: 'inbound' })
      .link(40, 'b-leg', 'a-leg', 'b2bua')
      .ring(100, 'b-leg')
      .ring(110, 'a-leg')
      .answer(3000, 'b-leg', 'tt1', { to: 'sip:201@office.example' })
      .answer(3010, 'a-leg')
      .end(33_010, 'a-leg', 'caller')
      .end(33_020, 'b-leg', 'caller');
    const cdr = cdrOf(s);
    expect(cdr).toMatchObject({ id: 'x-1', direction: 'inbound', answeredBy: 'sip:201@office.example', answeredAt: '2026-11-22T10:00:03.000Z', ringingAt: '2026-11-22T10:00:00.100Z', duration: 33.02, billsec: 30.02 });
    expect(cdr.legs).toHaveLength(2);
    expect(cdr.links).toEqual([{ kind: 'b2bua', callId: 'a-leg', fromCallId: 'b-leg', at: '2026-11-22T10:00:00.040Z' }]);
  });

  it('the root leg decides the disposition: a B2BUA leg cancelled on ring timeout while the caller hears 480 is NO_ANSWER', () => {
    const b2bua = (rootEnd: (s: CallScript) => CallScript, otherEnd: (s: CallScript) => CallScript) =>
      cdrOf(otherEnd(rootEnd(new CallScript().invite(0, 'a-leg', '+4930111', '200', { callRef: 'x' }).invite(20, 'b-leg', '+4930111', '201').link(20, 'b-leg', 'a-leg', 'b2bua').ring(50, 'b-leg'))));
    expect(b2bua((s) => s.fail(30_010, 'a-leg', 480), (s) => s.cancel(30_000, 'b-leg')).disposition).toBe('NO_ANSWER');
    expect(b2bua((s) => s.fail(30_010, 'a-leg', 486), (s) => s.cancel(30_000, 'b-leg')).disposition).toBe('BUSY');
    expect(b2bua((s) => s.cancel(9000, 'a-leg'), (s) => s.fail(9010, 'b-leg', 486)).disposition).toBe('CANCELLED');
    // a root leg without an outcome of its own (here a bare end): the other leg speaks for it
    expect(b2bua((s) => s.end(9000, 'a-leg'), (s) => s.cancel(8990, 'b-leg')).disposition).toBe('CANCELLED');
    expect(b2bua((s) => s.end(9000, 'a-leg'), (s) => s.fail(8990, 'b-leg', 486)).disposition).toBe('BUSY');
  });

  it('a call is finished only when every dialog has ended', () => {
    const s = new CallScript().invite(0, 'a', '1', '2').answer(10, 'a').invite(20, 'b', '1', '3').link(20, 'b', 'a', 'b2bua').answer(30, 'b').end(40, 'a');
    const fold = foldCall(s.events.map(toCore));
    expect(isFinished(fold)).toBe(false);
    expect(() => buildCdr(fold, ctx)).toThrow();
    s.end(50, 'b');
    expect(isFinished(foldCall(s.events.map(toCore)))).toBe(true);
  });

  it('shows the live state: trying, ringing, talking, on hold, ending', () => {
    const s = new CallScript().invite(0, 'c', '1', '2');
    const state = () => callStateOf(foldCall(s.events.map(toCore)));
    expect(state()).toBe('trying');
    s.ring(10, 'c');
    expect(state()).toBe('ringing');
    s.answer(20, 'c');
    expect(state()).toBe('talking');
    s.hold(30, 'c');
    expect(state()).toBe('on_hold');
    s.resume(40, 'c');
    expect(state()).toBe('talking');
    s.end(50, 'c');
    expect(state()).toBe('ending');
    expect(toActiveCall(foldCall(s.events.map(toCore)), ctx)).toMatchObject({ id: 'c', instance: 'callstore1', eventCount: 6 });
  });
});

describe('the call core: awkward input', () => {
  it('keeps the first answer when a second branch answers too, noting the anomaly', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c', '1', '2').ring(5, 'c', 'x').ring(6, 'c', 'y').answer(10, 'c', 'x').answer(12, 'c', 'y').end(100, 'c'));
    expect(cdr.forks.map((f) => [f.toTag, f.outcome])).toEqual([
      ['x', 'answered'],
      ['y', 'lose_race'],
    ]);
    expect(cdr.answeredAt).toBe('2026-11-22T10:00:00.010Z');
    expect(cdr.anomalies).toEqual([expect.stringMatching(/^second answer on c by branch y after x/)]);
  });

  it('tolerates an end delivered before its answer', () => {
    const s = new CallScript().invite(0, 'c', '1', '2').answer(1000, 'c').end(5000, 'c');
    const [invite, answer, end] = s.events;
    const cdr = buildCdr(foldCall([invite!, end!, answer!].map(toCore)), ctx);
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', billsec: 4, anomalies: [] });
  });

  it('an end stamped before its answer: the answer is clamped to the end', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c', '1', '2').end(1000, 'c').answer(2000, 'c'));
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', billsec: 0, answeredAt: '2026-11-22T10:00:01.000Z' });
    expect(cdr.anomalies).toHaveLength(2);
  });

  it('legs from sources whose clocks disagree never make a negative duration or ring time', () => {
    // the b-leg's source runs 10 s behind the a-leg's: its answer is stamped before the call started
    const a = new CallScript('pbx-a').invite(0, 'a-leg', '1', '2', { callRef: 'skew' }).answer(12_000, 'a-leg').end(40_000, 'a-leg');
    const b = new CallScript('pbx-b', a.t0 - 10_000).invite(1000, 'b-leg', '1', '2').link(1000, 'b-leg', 'a-leg', 'b2bua').answer(3000, 'b-leg').end(30_000, 'b-leg');
    const cdr = buildCdr(foldCall([...a.events, ...b.events].map(toCore)), ctx);
    expect(cdr).toMatchObject({ startedAt: '2026-11-22T09:59:51.000Z', ringSec: 2, duration: 49 });
    const clamped = buildCdr(foldCall(new CallScript().invite(5000, 'c', '1', '2').answer(1000, 'c').end(2000, 'c').events.map(toCore)), ctx);
    expect(clamped).toMatchObject({ startedAt: '2026-11-22T10:00:05.000Z', answeredAt: '2026-11-22T10:00:05.000Z', endedAt: '2026-11-22T10:00:05.000Z', duration: 0, ringSec: 0, billsec: 0 });
    expect(clamped.anomalies).toEqual(expect.arrayContaining([expect.stringMatching(/end is stamped 3 s before its start/), expect.stringMatching(/first answer is stamped 4 s before/)]));
  });

  it('time on hold counts only while the call is up', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c', '1', '2').hold(500, 'c').answer(1000, 'c').resume(3000, 'c').end(9000, 'c'));
    expect(cdr).toMatchObject({ holdSec: 2, billsec: 8 });
  });

  it('a CANCEL that crosses the 200: the call was answered, and its BYE ends it', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c', '1', '2').ring(100, 'c').cancel(5000, 'c').answer(5001, 'c').end(9001, 'c', 'caller'));
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', answeredAt: '2026-11-22T10:00:05.001Z', endedAt: '2026-11-22T10:00:09.001Z', billsec: 4, hangup: { by: 'caller', code: null } });
    expect(cdr.legs[0]).toMatchObject({ code: 200, state: 'terminated' });
    expect(cdr.forks[0]?.outcome).toBe('answered');
    expect(cdr.anomalies).toEqual([expect.stringMatching(/^cancel of c crossed its answer/)]);
    // stamped the other way round (the 200 first), the cancel is the one ignored
    expect(cdrOf(new CallScript().invite(0, 'c', '1', '2').answer(5000, 'c').cancel(5001, 'c').end(9000, 'c'))).toMatchObject({ disposition: 'ANSWERED', billsec: 4 });
  });

  it('a source’s own end, come after the callstore ended its dialog, is the end', () => {
    const s = new CallScript().invite(0, 'c', '1', '2').answer(1000, 'c');
    const synthetic: CoreEvent = { ...toCore({ ...s.events[1]!, id: 'sys-1', type: 'end', by: 'system', ts: new Date(s.t0 + 20_000).toISOString() }), synthesized: 'source_lost' };
    s.end(30_000, 'c', 'callee');
    const cdr = buildCdr(foldCall([...s.events.map(toCore), synthetic]), ctx);
    expect(cdr).toMatchObject({ endedAt: '2026-11-22T10:00:30.000Z', billsec: 29, endReason: 'normal', synthesized: false, hangup: { by: 'callee' } });
    expect(cdr.anomalies).toEqual([expect.stringMatching(/^c was ended by the callstore \(source_lost\) before its source's own end/)]);
    // an end of the source stamped before the callstore's: the callstore's is the one ignored
    const early = new CallScript().invite(0, 'c', '1', '2').answer(1000, 'c').end(15_000, 'c', 'callee');
    expect(buildCdr(foldCall([...early.events.map(toCore), synthetic]), ctx)).toMatchObject({ billsec: 14, endReason: 'normal', synthesized: false });
  });

  it('an end that never saw an answer is not billed', () => {
    const cdr = cdrOf(new CallScript().invite(0, 'c', '1', '2').end(3000, 'c'));
    expect(cdr).toMatchObject({ disposition: 'FAILED', billsec: 0, answeredAt: null });
    expect(cdr.anomalies[0]).toMatch(/end of c before any answer/);
  });

  it('counts a duplicate event id once', () => {
    const s = new CallScript().invite(0, 'c', '1', '2').answer(10, 'c').end(20, 'c');
    const events = [...s.events, ...s.events].map(toCore);
    expect(buildCdr(foldCall(events), ctx).eventIds).toHaveLength(3);
  });

  it('marks ends produced by the callstore', () => {
    const s = new CallScript().invite(0, 'c', '1', '2').answer(10, 'c');
    const synthetic: CoreEvent = { ...toCore({ ...s.events[1]!, id: 'sys-1', type: 'end', by: 'system', ts: new Date(s.t0 + 20_010).toISOString() }), synthesized: 'source_lost' };
    const cdr = buildCdr(foldCall([...s.events.map(toCore), synthetic]), ctx);
    expect(cdr).toMatchObject({ synthesized: true, endReason: 'source_lost', hangup: { by: 'system' }, billsec: 20 });
  });
});

describe('the call core: properties', () => {
  /** A realistic call from parts that fast-check chooses: forks, holds, an outcome. */
  const callScript = fc
    .record({
      branches: fc.integer({ min: 1, max: 3 }),
      winner: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
      holds: fc.integer({ min: 0, max: 3 }),
      outcome: fc.constantFrom('fail486', 'fail480', 'cancel', 'end'),
      b2bua: fc.boolean(),
      step: fc.integer({ min: 0, max: 500 }),
    })
    .map(({ branches, winner, holds, outcome, b2bua, step }) => {
      const s = new CallScript();
      let t = 0;
      const next = () => (t += step);
      s.invite(next(), 'c', '101', '102');
      if (b2bua) s.invite(next(), 'c-b', '101', '102').link(t, 'c-b', 'c', 'b2bua');
      for (let b = 0; b < branches; b++) s.ring(next(), 'c', `br${b}`);
      const answered = winner !== undefined && winner < branches;
      if (answered) {
        s.answer(next(), 'c', `br${winner}`);
        if (b2bua) s.answer(next(), 'c-b');
        for (let h = 0; h < holds; h++) s.hold(next(), 'c').resume(next(), 'c');
        s.end(next(), 'c');
      } else if (outcome === 'cancel') s.cancel(next(), 'c');
      else if (outcome === 'fail486') s.fail(next(), 'c', 486);
      else s.fail(next(), 'c', 480);
      if (b2bua) s.end(next(), 'c-b');
      return s.events.map(toCore);
    });

  it('any order of delivery of a call’s events gives the same CDR', () => {
    fc.assert(
      fc.property(callScript, fc.infiniteStream(fc.integer()), (events, randoms) => {
        const reference = buildCdr(foldCall(events), ctx);
        const it = randoms[Symbol.iterator]();
        const shuffled = [...events].sort(() => (it.next().value as number) % 3 - 1);
        expect(buildCdr(foldCall(shuffled), ctx)).toEqual(reference);
        expect(buildCdr(foldCall([...events].reverse()), ctx)).toEqual(reference);
      }),
      { numRuns: 300 },
    );
  });

  it('durations hold together: duration = ring + talk, billsec ≥ 0, hold within billsec', () => {
    fc.assert(
      fc.property(callScript, (events) => {
        const cdr = buildCdr(foldCall(events), ctx);
        expect(cdr.billsec).toBeGreaterThanOrEqual(0);
        expect(Math.abs(cdr.ringSec + cdr.billsec - cdr.duration)).toBeLessThan(0.0011);
        expect(cdr.holdSec).toBeLessThanOrEqual(cdr.billsec + 0.0011);
        expect(cdr.disposition === 'ANSWERED').toBe(cdr.answeredAt !== null);
      }),
      { numRuns: 300 },
    );
  });
});
