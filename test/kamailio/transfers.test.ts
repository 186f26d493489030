import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import { eventually } from '../support/events-client.js';
import { freePorts, msBetween, sipp, SKIP_REASON, type SippResult, type SippRun } from './harness.js';
import { cdrOf, exportCdrs, sourceOf, startStack, stopStack, type Stack } from './stack.js';

/**
 * Transfers through a real Kamailio (the shipped kamailio.cfg): SIPp plays A (the caller, who is
 * transferred), B (who transfers) and C (the target), each a SIPp of its own; a party with two
 * dialogs is a pair of SIPps in 3PCC extended mode (a master and its twin, sharing the call over
 * the twin socket). The appliance must write one record per transfer, with every dialog as a leg
 * and the `link` the configuration emitted.
 */

if (SKIP_REASON) console.warn(`Kamailio end-to-end tests skipped: ${SKIP_REASON}`);

type Style = 'blind' | 'attended' | 'refused' | 'pickup' | 'late';

interface Run {
  /** A's SIPp (the first dialog of each call) */
  a: SippResult;
  all: SippResult[];
  /** the Call-IDs of A's first dialogs, call 1..n: the records' ids */
  firstDialogs: string[];
}

/** Whether something listens on this port of 127.0.0.1 or any address (UDP bound, TCP in LISTEN), from /proc. */
function listening(proto: 'udp' | 'tcp', port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync(`/proc/net/${proto}`, 'utf8')
    .split('\n')
    .slice(1)
    .some((l) => {
      const f = l.trim().split(/\s+/);
      return (f[1] === `0100007F:${hex}` || f[1] === `00000000:${hex}`) && (proto === 'udp' || f[3] === '0A');
    });
}

async function waitListening(proc: SippRun, proto: 'udp' | 'tcp', port: number, what: string): Promise<void> {
  await eventually(async () => {
    if (proc.proc.exitCode !== null) throw new Error(`${what} exited: ${(await proc.done).output.slice(-2000)}`);
    return listening(proto, port);
  }, 10_000, `${what} to listen on ${proto} ${port}`);
}

/**
 * One SIPp group per party. `calls` transfers at `rate` per second; each call's new dialog talks
 * `talkMs`. Returns every SIPp's result once all have exited.
 */
async function transfers(stack: Stack, style: Style, calls: number, rate: number, talkMs: number): Promise<Run> {
  const [cPort, bPort, b2Port, aPort, a2Port, twinA1, twinA2, twinB1, twinB2] = (await freePorts(9)) as number[] as [number, number, number, number, number, number, number, number, number];
  const dir = stack.dir;
  const tag = `${style}-${aPort}`;
  const cfgA = join(dir, `twins-a-${tag}.cfg`);
  const cfgB = join(dir, `twins-b-${tag}.cfg`);
  writeFileSync(cfgA, `a1;127.0.0.1:${twinA1}\na2;127.0.0.1:${twinA2}\n`);
  writeFileSync(cfgB, `b1;127.0.0.1:${twinB1}\nb2;127.0.0.1:${twinB2}\n`);
  // a 200 retransmitted while the machine is busy brings a second ACK: SIPp must not abort the
  // call for it (its default), it has already moved on to the BYE
  const tolerant = ['-default_behaviors', 'all,-abortunexp'];
  const common = { timeoutS: 120, extra: tolerant };
  const runs: SippRun[] = [];
  const start = (r: SippRun) => (runs.push(r), r);
  try {
    if (style === 'pickup') {
      // B rings and waits for the CANCEL; A's second SIPp answers C's INVITE with Replaces (built-in
      // uas); C is the twin of A's first, which gives it the ringing dialog's Call-ID and tags
      writeFileSync(cfgA, `a1;127.0.0.1:${twinA1}\nc;127.0.0.1:${twinA2}\n`);
      await waitListening(start(sipp({ scenario: 'uas_cancel.xml', localPort: bPort, calls, ...common })), 'udp', bPort, 'B');
      await waitListening(start(sipp({ scenario: 'uas', localPort: a2Port, calls, ...common })), 'udp', a2Port, 'A (answering C)');
      const c = start(sipp({ scenario: 'uac_pickup_c.xml', localPort: cPort, proxy: stack.proxy, target: `127.0.0.1:${a2Port}`, calls, duration: talkMs, timeoutS: 120, extra: [...tolerant, '-slave', 'c', '-slave_cfg', cfgA] }));
      await waitListening(c, 'tcp', twinA2, 'C (twin of A)');
      const a = start(sipp({ scenario: 'uac_pickup_a.xml', localPort: aPort, proxy: stack.proxy, target: `127.0.0.1:${bPort}`, calls, rate, timeoutS: 120, extra: [...tolerant, '-cid_str', `%u-%p-${tag}`, '-master', 'a1', '-slave_cfg', cfgA] }));
      const all = await Promise.all(runs.map((r) => r.done));
      return { a: await a.done, all, firstDialogs: Array.from({ length: calls }, (_, i) => `${i + 1}-${a.proc.pid}-${tag}`) };
    }
    // C: answers every INVITE (the consultation and the transferred call) and waits for its BYE
    const cDialogs = style === 'attended' ? 2 * calls : calls;
    if (style !== 'refused') await waitListening(start(sipp({ scenario: 'uas', localPort: cPort, calls: cDialogs, ...common, traceFile: undefined })), 'udp', cPort, 'C');
    // B
    const key = ['-key', 'cport', String(cPort)];
    if (style === 'attended') {
      const b2 = start(sipp({ scenario: 'uac_attxfer_b2.xml', localPort: b2Port, proxy: stack.proxy, target: `127.0.0.1:${cPort}`, calls, timeoutS: 120, extra: [...tolerant, '-slave', 'b2', '-slave_cfg', cfgB] }));
      await waitListening(b2, 'tcp', twinB2, 'B twin b2');
      await waitListening(start(sipp({ scenario: 'uas_attxfer_b.xml', localPort: bPort, calls, timeoutS: 120, extra: [...tolerant, ...key, '-master', 'b1', '-slave_cfg', cfgB] })), 'udp', bPort, 'B');
    } else {
      await waitListening(start(sipp({ scenario: style === 'refused' ? 'uas_refer_refused_b.xml' : 'uas_xfer_b.xml', localPort: bPort, calls, timeoutS: 120, extra: [...tolerant, ...key] })), 'udp', bPort, 'B');
    }
    // A
    let a: SippRun;
    if (style === 'refused') {
      a = start(sipp({ scenario: 'uac_refer_refused.xml', localPort: aPort, proxy: stack.proxy, target: `127.0.0.1:${bPort}`, calls, rate, timeoutS: 120, extra: [...tolerant, '-cid_str', `%u-%p-${tag}`] }));
    } else {
      const a2 = start(sipp({ scenario: style === 'attended' ? 'uac_attxfer_a2.xml' : style === 'late' ? 'uac_xfer_a2_late.xml' : 'uac_xfer_a2.xml', localPort: a2Port, proxy: stack.proxy, target: `127.0.0.1:${cPort}`, calls, duration: talkMs, timeoutS: 120, extra: [...tolerant, '-slave', 'a2', '-slave_cfg', cfgA] }));
      await waitListening(a2, 'tcp', twinA2, 'A twin a2');
      a = start(sipp({ scenario: 'uac_xfer_a.xml', localPort: aPort, proxy: stack.proxy, target: `127.0.0.1:${bPort}`, calls, rate, timeoutS: 120, extra: [...tolerant, '-cid_str', `%u-%p-${tag}`, '-master', 'a1', '-slave_cfg', cfgA] }));
    }
    const all = await Promise.all(runs.map((r) => r.done));
    // A's -cid_str: call number, SIPp's pid, the tag
    const firstDialogs = Array.from({ length: calls }, (_, i) => `${i + 1}-${a.proc.pid}-${tag}`);
    return { a: await a.done, all, firstDialogs };
  } finally {
    await Promise.all(runs.map((r) => r.kill()));
  }
}

describe.skipIf(SKIP_REASON !== null)('Kamailio end to end: transfers land as one linked record', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ kamailio: { children: 8, shmMb: 256 } });
  }, 60_000);
  afterAll(async () => {
    await stopStack(stack);
  });

  const expectAllPassed = (run: Run, calls: number) => {
    for (const r of run.all) expect(r.failed, r.output.slice(-3000)).toBe(0);
    expect(run.a.successful, run.a.output.slice(-3000)).toBe(calls);
  };

  it('a blind transfer (REFER, then an INVITE with Referred-By): one record, two legs, a transfer link', async () => {
    const run = await transfers(stack, 'blind', 1, 1, 500);
    expectAllPassed(run, 1);
    const [ab] = run.firstDialogs as [string];
    const cdr = await cdrOf(stack.admin, ab);
    expect(cdr.legs).toHaveLength(2);
    const [first, second] = cdr.legs as [Cdr['legs'][number], Cdr['legs'][number]];
    expect(first.callId).toBe(ab);
    expect(second.callId).toBe(`x${ab}`);
    // who transferred whom to whom, and when: the new dialog made the link as it started
    expect(cdr.links).toEqual([{ kind: 'transfer', callId: ab, fromCallId: `x${ab}`, at: expect.any(String) }]);
    expect(msBetween(cdr.links[0]?.at, second.startedAt)).toBeLessThan(50);
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', from: expect.stringMatching(/^sip:a1@/), to: expect.stringMatching(/^sip:b1@/), answeredBy: expect.stringMatching(/^sip:c1@/), hangup: { by: 'caller' } });
    // the caller's whole answered time: from B's answer to the end of the call with C
    expect(cdr.answeredAt).toBe(first.answeredAt);
    expect(cdr.endedAt).toBe(second.endedAt);
    expect(cdr.billsec).toBeCloseTo((Date.parse(second.endedAt ?? '') - Date.parse(first.answeredAt ?? '')) / 1000, 3);
    // the second dialog has no record of its own
    expect((await stack.admin.get(`/api/v1/cdrs/${encodeURIComponent(`x${ab}`)}`)).status).toBe(404);
  });

  it('an attended transfer (INVITE with Replaces of the consultation): one record, three legs, a replaces link', async () => {
    const run = await transfers(stack, 'attended', 1, 1, 500);
    expectAllPassed(run, 1);
    const [ab] = run.firstDialogs as [string];
    const cdr = await cdrOf(stack.admin, ab);
    expect(cdr.legs.map((l) => l.callId)).toEqual([ab, `y${ab}`, `x${ab}`]);
    expect(cdr.links).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'replaces', callId: `y${ab}`, fromCallId: `x${ab}` }), expect.objectContaining({ kind: 'transfer', callId: ab, fromCallId: `x${ab}` })]));
    expect(cdr.links).toHaveLength(2);
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', answeredBy: expect.stringMatching(/^sip:c1@/), hangup: { by: 'caller' } });
    const last = cdr.legs[2] as Cdr['legs'][number];
    expect(cdr.billsec).toBeCloseTo((Date.parse(last.endedAt ?? '') - Date.parse(cdr.legs[0]?.answeredAt ?? '')) / 1000, 3);
  });

  it('a refused REFER (603): the original record only, nothing linked', async () => {
    const run = await transfers(stack, 'refused', 1, 1, 500);
    expectAllPassed(run, 1);
    const [ab] = run.firstDialogs as [string];
    const cdr = await cdrOf(stack.admin, ab);
    expect(cdr.legs.map((l) => l.callId)).toEqual([ab]);
    expect(cdr.links).toEqual([]);
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', answeredBy: expect.stringMatching(/^sip:b1@/), hangup: { by: 'callee' } });
  });

  it('a pickup (C calls A with Replaces of A’s ringing call to B): one record, a pickup link, C answered', async () => {
    const run = await transfers(stack, 'pickup', 1, 1, 500);
    expectAllPassed(run, 1);
    const [ab] = run.firstDialogs as [string];
    const cdr = await cdrOf(stack.admin, ab);
    expect(cdr.legs.map((l) => l.callId)).toEqual([ab, `z${ab}`]);
    expect(cdr.links).toEqual([expect.objectContaining({ kind: 'pickup', callId: ab, fromCallId: `z${ab}` })]);
    // C talked to A and hung up: the callee's side of A's call
    expect(cdr).toMatchObject({ disposition: 'ANSWERED', from: expect.stringMatching(/^sip:a1@/), to: expect.stringMatching(/^sip:b1@/), answeredBy: expect.stringMatching(/^sip:c@/), hangup: { by: 'callee' } });
    expect(cdr.answeredAt).toBe(cdr.legs[1]?.answeredAt);
  });

  it.each([['blind' as const], ['attended' as const]])('%s transfers under load (100/s): one record each, none lost, none twice', async (style) => {
    const calls = 300;
    const before = new Set((await exportCdrs(stack.admin)).map((c) => c.id));
    const run = await transfers(stack, style, calls, 100, 300);
    expectAllPassed(run, calls);
    const ids = run.firstDialogs;
    const expected = new Set(ids);
    const mine = await eventually(async () => {
      const cdrs = (await exportCdrs(stack.admin)).filter((c) => !before.has(c.id));
      return cdrs.length >= calls && (await sourceOf(stack.admin, stack.source))?.activeCalls === 0 ? cdrs : undefined;
    }, 60_000, `${calls} records`);
    const idsWritten = mine.map((c) => c.id);
    expect(new Set(idsWritten).size, 'a record written twice').toBe(idsWritten.length);
    expect(idsWritten.filter((id) => !expected.has(id)), 'records that are not a first dialog').toEqual([]);
    expect(idsWritten.length).toBe(calls);
    const legs = style === 'attended' ? 3 : 2;
    const badly = mine.filter((c) => c.legs.length !== legs || !c.links.some((l) => l.kind === (style === 'attended' ? 'replaces' : 'transfer')));
    expect(badly.map((c) => ({ id: c.id, legs: c.legs.length, links: c.links })), 'records without every leg and link').toEqual([]);
    expect((await sourceOf(stack.admin, stack.source))?.gaps).toBe(0);
  }, 240_000);
});

describe.skipIf(SKIP_REASON !== null)('Kamailio end to end: a REFER not followed in time links nothing', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ kamailio: { referWindowS: 1 } });
  }, 60_000);
  afterAll(async () => {
    await stopStack(stack);
  });

  it('the transferee calls the target 4 s after the REFER, past a 1 s window: two records, neither linked', async () => {
    const run = await transfers(stack, 'late', 1, 1, 300);
    for (const r of run.all) expect(r.failed, r.output.slice(-3000)).toBe(0);
    const [ab] = run.firstDialogs as [string];
    const first = await cdrOf(stack.admin, ab);
    const second = await cdrOf(stack.admin, `x${ab}`);
    expect(first.legs.map((l) => l.callId)).toEqual([ab]);
    expect(second.legs.map((l) => l.callId)).toEqual([`x${ab}`]);
    expect([...first.links, ...second.links]).toEqual([]);
    expect(first).toMatchObject({ answeredBy: expect.stringMatching(/^sip:b1@/), hangup: { by: 'callee' } });
  });
});
