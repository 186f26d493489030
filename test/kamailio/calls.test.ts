import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr } from '../../shared/api/cdr.js';
import { findMessage, freePorts, msOutside, sipp, SKIP_REASON, type SipMessage } from './harness.js';
import { cdrOf, startStack, stopStack, type Stack } from './stack.js';

/**
 * Calls through a real Kamailio (the shipped kamailio.cfg) between SIPp caller and callee: the
 * CDRs the appliance writes from Kamailio's own events must match what SIPp saw on the wire.
 */

/**
 * CDR times must be within this of the SIP message SIPp logged (design: 100 ms): of the span
 * between the sending SIPp's and the receiving SIPp's timestamp of that message.
 */
const TOLERANCE_MS = 100;

if (SKIP_REASON) console.warn(`Kamailio end-to-end tests skipped: ${SKIP_REASON}`);

describe.skipIf(SKIP_REASON !== null)('Kamailio end to end: calls and their CDRs', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ frInvTimerMs: 2000 });
  }, 60_000);
  afterAll(async () => {
    await stopStack(stack);
  });

  interface Traced {
    callId: string;
    /** the caller's messages */
    uac: SipMessage[];
    /** the callee's messages */
    uas: SipMessage[];
  }

  /** One call: a callee scenario, a caller scenario through the proxy, both sides' message traces. */
  async function call(uas: string, uac: string, extra: { service?: string; duration?: number } = {}): Promise<Traced> {
    const [uasPort, uacPort] = (await freePorts(2)) as [number, number];
    const callee = sipp({ scenario: uas, localPort: uasPort, calls: 1, timeoutS: 30, traceFile: join(stack.dir, `${uas}-${uasPort}.log`) });
    await new Promise((r) => setTimeout(r, 300));
    const caller = sipp({
      scenario: uac,
      localPort: uacPort,
      proxy: stack.proxy,
      target: `127.0.0.1:${uasPort}`,
      calls: 1,
      traceFile: join(stack.dir, `${uac}-${uacPort}.log`),
      timeoutS: 30,
      ...extra,
    });
    const [done, calleeDone] = await Promise.all([caller.done, callee.done]);
    expect(done.successful, `caller ${uac}:\n${done.output.slice(-2000)}`).toBe(1);
    expect(calleeDone.code, `callee ${uas}:\n${calleeDone.output.slice(-2000)}`).toBe(0);
    const invite = done.messages.find((m) => m.dir === 'sent' && m.method === 'INVITE');
    if (!invite) throw new Error(`no INVITE in the trace:\n${done.output.slice(-1000)}`);
    return { callId: invite.callId, uac: done.messages, uas: calleeDone.messages };
  }

  const isInvite = (m: SipMessage) => m.method === 'INVITE' && m.cseq === '1 INVITE';
  const reply = (code: number, cseq = '1 INVITE') => (m: SipMessage) => m.status === code && m.cseq === cseq;
  const method = (name: string) => (m: SipMessage) => m.method === name;
  /** a request of the caller: sent by it, received by the callee */
  const fromCaller = (t: Traced, test: (m: SipMessage) => boolean) => [findMessage(t.uac, t.callId, 'sent', test), findMessage(t.uas, t.callId, 'received', test)];
  /** a reply or request of the callee: sent by it, received by the caller */
  const fromCallee = (t: Traced, test: (m: SipMessage) => boolean) => [findMessage(t.uas, t.callId, 'sent', test), findMessage(t.uac, t.callId, 'received', test)];

  it('an answered call: ANSWERED, its times as on the wire, billsec, hung up by the caller', async () => {
    const t = await call('uas', 'uac_txn.xml', { duration: 1500 });
    const cdr = await cdrOf(stack.admin, t.callId);

    expect(cdr).toMatchObject({ disposition: 'ANSWERED', endReason: 'normal', synthesized: false, source: stack.source, domain: 'office.example', hangup: { by: 'caller' } });
    expect(cdr.legs).toHaveLength(1);
    expect(cdr.legs[0]).toMatchObject({ callId: t.callId, code: 200, state: 'terminated' });
    expect(cdr.forks).toEqual([expect.objectContaining({ outcome: 'answered', code: 200 })]);
    expect(msOutside(cdr.startedAt, ...fromCaller(t, isInvite))).toBeLessThan(TOLERANCE_MS);
    expect(msOutside(cdr.ringingAt, ...fromCallee(t, reply(180)))).toBeLessThan(TOLERANCE_MS);
    expect(msOutside(cdr.answeredAt, ...fromCallee(t, reply(200)))).toBeLessThan(TOLERANCE_MS);
    expect(msOutside(cdr.endedAt, ...fromCaller(t, method('BYE')))).toBeLessThan(TOLERANCE_MS);
    expect(cdr.billsec).toBeCloseTo((Date.parse(cdr.endedAt) - Date.parse(cdr.answeredAt ?? '')) / 1000, 3);
    expect(cdr.billsec).toBeGreaterThan(1.4);
    expect(cdr.holdSec).toBe(0);
  });

  it('a busy callee (486): BUSY, code 486, no billsec', async () => {
    const t = await call('uas_busy.xml', 'uac_busy.xml', { service: 'busy' });
    const cdr = await cdrOf(stack.admin, t.callId);
    expect(cdr).toMatchObject({ disposition: 'BUSY', billsec: 0, answeredAt: null, hangup: { by: 'callee', code: 486 }, endReason: 'normal' });
    expect(cdr.legs[0]?.code).toBe(486);
    expect(msOutside(cdr.startedAt, ...fromCaller(t, isInvite))).toBeLessThan(TOLERANCE_MS);
    expect(msOutside(cdr.endedAt, ...fromCallee(t, reply(486)))).toBeLessThan(TOLERANCE_MS);
  });

  it('a caller who gives up (CANCEL): CANCELLED, rang, code 487', async () => {
    const t = await call('uas_cancel.xml', 'uac_cancel.xml', { service: 'cancel' });
    const cdr = await cdrOf(stack.admin, t.callId);
    expect(cdr).toMatchObject({ disposition: 'CANCELLED', billsec: 0, hangup: { by: 'caller', code: 487 } });
    expect(cdr.legs[0]?.code).toBe(487);
    expect(msOutside(cdr.ringingAt, ...fromCallee(t, reply(180)))).toBeLessThan(TOLERANCE_MS);
    expect(msOutside(cdr.endedAt, ...fromCaller(t, method('CANCEL')))).toBeLessThan(TOLERANCE_MS);
    expect(cdr.forks).toEqual([expect.objectContaining({ outcome: 'cancelled' })]);
  });

  it('no answer: the proxy gives up on a ringing callee with 408 (tm fr_inv_timer)', async () => {
    // the callee rings and never answers; Kamailio cancels it after 2 s and answers the caller 408
    const t = await call('uas_cancel.xml', 'uac_noanswer.xml', { service: 'noanswer' });
    const cdr = await cdrOf(stack.admin, t.callId);
    expect(cdr).toMatchObject({ disposition: 'NO_ANSWER', billsec: 0, hangup: { code: 408 }, endReason: 'normal' });
    expect(cdr.legs[0]?.code).toBe(408);
    expect(msOutside(cdr.ringingAt, ...fromCallee(t, reply(180)))).toBeLessThan(TOLERANCE_MS);
    // Kamailio sends the 408 to the caller and the CANCEL to the callee at the same moment
    expect(msOutside(cdr.endedAt, findMessage(t.uac, t.callId, 'received', reply(408)), findMessage(t.uas, t.callId, 'received', method('CANCEL')))).toBeLessThan(TOLERANCE_MS);
    expect(cdr.ringSec).toBeGreaterThan(1.9);
  });

  it('no answer: the callee answers 480 Temporarily Unavailable', async () => {
    const t = await call('uas_480.xml', 'uac_480.xml', { service: 'away' });
    const cdr = await cdrOf(stack.admin, t.callId);
    expect(cdr).toMatchObject({ disposition: 'NO_ANSWER', hangup: { by: 'callee', code: 480 } });
    expect(msOutside(cdr.endedAt, ...fromCallee(t, reply(480)))).toBeLessThan(TOLERANCE_MS);
  });

  it('hold and resume by re-INVITE: the hold interval and holdSec as on the wire; hung up by the callee', async () => {
    const t = await call('uas_hold.xml', 'uac_hold.xml');
    const cdr = await cdrOf(stack.admin, t.callId);

    expect(cdr).toMatchObject({ disposition: 'ANSWERED', endReason: 'normal', hangup: { by: 'callee' } });
    expect(cdr.holds).toHaveLength(1);
    const hold = cdr.holds[0] as Cdr['holds'][number];
    expect(hold.by).toBe('caller');
    // a hold counts from the 2xx that accepts the sendonly offer to the 2xx that accepts sendrecv
    expect(msOutside(hold.on, ...fromCallee(t, reply(200, '2 INVITE')))).toBeLessThan(TOLERANCE_MS);
    expect(msOutside(hold.off, ...fromCallee(t, reply(200, '3 INVITE')))).toBeLessThan(TOLERANCE_MS);
    expect(cdr.holdSec).toBeCloseTo((Date.parse(hold.off ?? '') - Date.parse(hold.on)) / 1000, 3);
    expect(cdr.holdSec).toBeGreaterThan(1.9);
    // hold time is never taken off billsec
    expect(cdr.billsec).toBeCloseTo((Date.parse(cdr.endedAt) - Date.parse(cdr.answeredAt ?? '')) / 1000, 3);
    expect(msOutside(cdr.answeredAt, ...fromCallee(t, reply(200)))).toBeLessThan(TOLERANCE_MS);
    expect(msOutside(cdr.endedAt, ...fromCallee(t, method('BYE')))).toBeLessThan(TOLERANCE_MS);
  });

  it('reports the source connected with every event received and no gap', async () => {
    const res = await stack.admin.get('/api/v1/sources');
    const src = res.body.items.find((s: { id: string }) => s.id === stack.source);
    expect(src).toMatchObject({ transport: 'websocket', state: 'connected', gaps: 0, activeCalls: 0 });
    expect(src.eventsReceived).toBeGreaterThanOrEqual(20);
    const lines = stack.adapter.lines();
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
