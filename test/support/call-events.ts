import type { CallEvent } from '../../shared/api/events.js';
import type { CoreEvent } from '../../service/callstore/core/call.js';

/**
 * Builds the events of test calls: times are offsets in ms from a fixed start, ids and seqs are
 * numbered per source so every scenario is deterministic.
 */
export class CallScript {
  private seq = 0;
  readonly events: CallEvent[] = [];

  constructor(
    readonly source = 'pbx1',
    readonly t0 = Date.parse('2026-11-22T10:00:00.000Z'),
    readonly domain = 'office.example',
  ) {}

  add(atMs: number, type: CallEvent['type'], callId: string, extra: Partial<CallEvent> = {}): this {
    this.seq++;
    this.events.push({
      id: `${this.source}-${String(this.seq).padStart(6, '0')}`,
      source: this.source,
      seq: this.seq,
      ts: new Date(this.t0 + atMs).toISOString(),
      type,
      callId,
      fromTag: `ft-${callId}`,
      ...extra,
    });
    return this;
  }

  invite(at: number, callId: string, from: string, to: string, extra: Partial<CallEvent> = {}): this {
    return this.add(at, 'invite', callId, { from: `sip:${from}@${this.domain}`, to: `sip:${to}@${this.domain}`, domain: this.domain, ...extra });
  }
  ring(at: number, callId: string, toTag = 'tt1', code = 180): this {
    return this.add(at, 'progress', callId, { toTag, code });
  }
  answer(at: number, callId: string, toTag = 'tt1', extra: Partial<CallEvent> = {}): this {
    return this.add(at, 'answer', callId, { toTag, ...extra });
  }
  hold(at: number, callId: string, by: 'caller' | 'callee' = 'caller'): this {
    return this.add(at, 'hold', callId, { toTag: 'tt1', by });
  }
  resume(at: number, callId: string, by: 'caller' | 'callee' = 'caller'): this {
    return this.add(at, 'resume', callId, { toTag: 'tt1', by });
  }
  end(at: number, callId: string, by: 'caller' | 'callee' = 'caller'): this {
    return this.add(at, 'end', callId, { by });
  }
  fail(at: number, callId: string, code: number): this {
    return this.add(at, 'fail', callId, { code });
  }
  cancel(at: number, callId: string): this {
    return this.add(at, 'cancel', callId);
  }
  link(at: number, callId: string, otherCallId: string, kind: NonNullable<CallEvent['kind']>): this {
    return this.add(at, 'link', callId, { otherCallId, kind });
  }
}

export function toCore(e: CallEvent): CoreEvent {
  return { ...e, tsMs: Date.parse(e.ts) };
}
