import WebSocket from 'ws';
import type { CallEvent } from '../../shared/api/events.js';
import { apiClient } from './api.js';
import { prng } from './cdr-factory.js';

/** A small seeded generator (mulberry32): the same seed, the same kill points. */
export const seededRandom = prng;

export interface CallLoad {
  /** the messages in sending order, each a batch of events */
  messages: CallEvent[][];
  callIds: string[];
  /** per call, its events */
  eventsByCall: Map<string, CallEvent[]>;
  /** calls with an event that arrives long after the call ended (a straggler) */
  straggled: Set<string>;
}

/**
 * The traffic of a PBX with about `concurrent` calls up at any time: each call rings, is answered
 * and ends, interleaved with the others in the order a source would report them; one call in
 * `straggleEvery` also has a provisional reply that arrives long after its end. Times are relative
 * to `t0`, so nothing depends on the date.
 */
export function callLoad(opts: { source: string; calls: number; concurrent: number; batch: number; t0: number; straggleEvery: number }): CallLoad {
  const { source, calls, concurrent, batch, t0, straggleEvery } = opts;
  const planned: { step: number; order: number; event: Omit<CallEvent, 'seq' | 'id'> }[] = [];
  const callIds: string[] = [];
  const straggled = new Set<string>();
  let order = 0;
  const at = (step: number, callId: string, type: CallEvent['type'], tsMs: number, extra: Partial<CallEvent>) =>
    planned.push({ step, order: order++, event: { source, ts: new Date(t0 + tsMs).toISOString(), type, callId, fromTag: `ft-${callId}`, ...extra } });
  for (let i = 0; i < calls; i++) {
    const callId = `${source}-call-${String(i).padStart(5, '0')}`;
    callIds.push(callId);
    const start = i * 100;
    at(i, callId, 'invite', start, { from: `sip:${1000 + (i % 900)}@office.example`, to: `sip:${2000 + (i % 700)}@office.example`, domain: 'office.example', direction: 'internal' });
    at(i + 1, callId, 'progress', start + 150, { toTag: 'tt1', code: 180 });
    at(i + 3, callId, 'answer', start + 2000, { toTag: 'tt1' });
    at(i + concurrent, callId, 'end', start + 2000 + concurrent * 100, { by: i % 2 ? 'caller' : 'callee' });
    if (i % straggleEvery === 0) {
      straggled.add(callId);
      at(i + concurrent * 4, callId, 'progress', start + 300, { toTag: 'tt1', code: 183 });
    }
  }
  planned.sort((a, b) => a.step - b.step || a.order - b.order);
  const events: CallEvent[] = planned.map((p, n) => ({ ...p.event, id: `${source}-${String(n + 1).padStart(7, '0')}`, seq: n + 1 }) as CallEvent);
  const eventsByCall = new Map<string, CallEvent[]>();
  for (const e of events) eventsByCall.set(e.callId, [...(eventsByCall.get(e.callId) ?? []), e]);
  const messages: CallEvent[][] = [];
  for (let i = 0; i < events.length; i += batch) messages.push(events.slice(i, i + batch));
  return { messages, callIds, eventsByCall, straggled };
}

interface Reply {
  ack?: number | null;
  error?: { code: string; message: string };
  rejected?: unknown[];
  type?: string;
}

/**
 * A source on the event stream as a real one behaves: up to `window` messages unacknowledged,
 * and after a lost connection it sends again everything not acknowledged (acks come in order,
 * so that is every message after the last acknowledged one).
 */
export class ResendingSource {
  /** messages acknowledged: always a prefix of the messages */
  acked = 0;
  readonly problems: string[] = [];

  constructor(
    readonly messages: readonly CallEvent[][],
    readonly window: number,
  ) {}

  get done(): boolean {
    return this.acked === this.messages.length;
  }

  /** The events acknowledged so far. */
  ackedEvents(): CallEvent[] {
    return this.messages.slice(0, this.acked).flat();
  }

  /**
   * Connects and sends from the first message not acknowledged; resolves when everything is
   * acknowledged or the connection is gone. `onAck` sees the count after every ack.
   */
  run(url: string, token: string, onAck: (acked: number) => void = () => {}): Promise<'done' | 'lost'> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } });
      let next = this.acked;
      let answered = this.acked;
      let opened = false;
      const pump = () => {
        while (ws.readyState === ws.OPEN && next < this.messages.length && next - this.acked < this.window) ws.send(JSON.stringify(this.messages[next++]));
      };
      ws.on('open', () => {
        opened = true;
        pump();
      });
      ws.on('message', (data) => {
        const reply = JSON.parse(data.toString()) as Reply;
        if (reply.type) return; // a sync request: this source keeps no dialog list
        const index = answered++;
        if (reply.error || typeof reply.ack !== 'number' || reply.rejected) {
          this.problems.push(`message ${index}: ${JSON.stringify(reply)}`);
          ws.close();
          return;
        }
        if (index === this.acked) this.acked++;
        onAck(this.acked);
        if (this.done) {
          ws.close();
          return;
        }
        pump();
      });
      ws.on('error', (err) => {
        if (!opened) reject(err);
      });
      ws.on('close', () => resolve(this.done ? 'done' : 'lost'));
    });
  }
}

/** What the service holds now: the events of every record, and of every active call. */
export async function storedState(url: string, token: string): Promise<{ cdrIds: string[]; cdrEvents: Map<string, string[]>; activeEvents: Map<string, string[]> }> {
  const api = apiClient(url, token);
  const res = await fetch(`${url}/api/v1/cdrs/export?format=ndjson`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`export: ${res.status}`);
  const cdrIds: string[] = [];
  const cdrEvents = new Map<string, string[]>();
  for (const line of (await res.text()).split('\n')) {
    if (!line) continue;
    const cdr = JSON.parse(line) as { id: string; eventIds: string[] };
    cdrIds.push(cdr.id);
    cdrEvents.set(cdr.id, cdr.eventIds);
  }
  const activeEvents = new Map<string, string[]>();
  // every page of the active calls (newest first, by cursor)
  const calls: { id: string }[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await api.get(`/api/v1/calls?limit=5000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    calls.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  await inParallel(calls, 8, async ({ id }) => {
    const detail = await api.get<{ events: { id: string }[] }>(`/api/v1/calls/${encodeURIComponent(id)}`);
    if (detail.status === 200) activeEvents.set(id, detail.body.events.map((e) => e.id));
  });
  return { cdrIds, cdrEvents, activeEvents };
}

export async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}
