import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { CallEvent, EventProblem } from '../../../shared/api/events.js';
import type { SyncDialog, SyncResult } from '../../../shared/api/sources.js';
import type { Logger } from './log.js';

/** The appliance's answer to one message on the event stream (design section 4.1). */
export interface StreamReply {
  ack: number | null;
  stored?: number;
  duplicates?: number;
  rejected?: EventProblem[];
  /** `unavailable`: nothing of the message was stored, for now; send it again after `retryAfter` seconds */
  error?: { code: string; message: string; retryAfter?: number };
}

export interface ApplianceEvents {
  open: [];
  close: [reason: string];
  reply: [StreamReply];
  syncRequest: [];
}

export type SyncOutcome = { ok: true; result: SyncResult } | { ok: false; status: number; retry: boolean; message: string; retryAfterMs?: number };

/** Retry-After in seconds (the appliance sends no HTTP dates), as ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || !/^\d{1,6}$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

/**
 * The appliance end: the WebSocket event stream (`/api/v1/events/stream`) and the sync endpoint
 * (`POST /api/v1/sources/{id}/sync`). Stays connected while `wanted`; reconnects with a growing
 * delay. Knows nothing of queues: the adapter pairs replies with what it sent (one reply per
 * message, in order).
 */
export class ApplianceLink extends EventEmitter<ApplianceEvents> {
  private ws: WebSocket | null = null;
  private open = false;
  private wanted = false;
  private timer: NodeJS.Timeout | null = null;
  private backoff: number;
  /** how the dialog list is posted (see postSync) */
  private syncFormat: 'ndjson' | 'json' = 'ndjson';

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly source: string,
    private readonly log: Logger,
    private readonly minBackoffMs = 250,
    private readonly maxBackoffMs = 2000,
  ) {
    super();
    this.backoff = minBackoffMs;
  }

  get isOpen(): boolean {
    return this.open;
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** Keep a connection up from now on. */
  connect(): void {
    this.wanted = true;
    if (!this.ws && !this.timer) this.dial();
  }

  /** Close the stream and stay away until connect(): the appliance then sees the source as lost. */
  disconnect(reason: string): void {
    this.wanted = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      this.log.info('closing the event stream', { reason });
      this.ws.close(1000, reason.slice(0, 100));
      const ws = this.ws;
      setTimeout(() => ws.terminate(), 2000).unref();
    }
  }

  /** Drops the connection now (a stuck appliance); reconnects if still wanted. */
  reset(reason: string): void {
    this.log.warn('resetting the event stream', { reason });
    this.ws?.terminate();
  }

  send(events: readonly CallEvent[]): void {
    if (!this.ws || !this.open) throw new Error('the event stream is not open');
    this.ws.send(JSON.stringify(events));
  }

  private dial(): void {
    const url = new URL('/api/v1/events/stream', this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('source', this.source);
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.token}` }, handshakeTimeout: 5000, maxPayload: 16 * 1024 * 1024 });
    this.ws = ws;
    let reason = 'closed';
    ws.on('open', () => {
      this.open = true;
      this.backoff = this.minBackoffMs;
      this.log.info('event stream open', { appliance: this.baseUrl });
      this.emit('open');
    });
    ws.on('message', (data) => {
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        this.log.warn('unreadable message from the appliance', { data: data.toString().slice(0, 200) });
        return;
      }
      const m = msg as Record<string, unknown>;
      if (m && typeof m === 'object' && m['type'] === 'sync_request') {
        if (m['source'] === undefined || m['source'] === this.source) this.emit('syncRequest');
        return;
      }
      if (m && typeof m === 'object' && 'ack' in m) {
        this.emit('reply', m as unknown as StreamReply);
        return;
      }
      this.log.debug('message from the appliance ignored', { msg: m });
    });
    ws.on('unexpected-response', (_req, res) => {
      reason = `upgrade refused: HTTP ${res.statusCode}`;
      if (res.statusCode === 401 || res.statusCode === 403) {
        // a wrong token does not mend itself quickly: try again every 30 s, not every 2
        this.log.error('the appliance refused the token', { status: res.statusCode });
        this.backoff = Math.max(this.backoff, 30_000);
      }
      ws.terminate();
    });
    ws.on('error', (err) => {
      reason = err.message;
    });
    ws.on('close', (code, why) => {
      const wasOpen = this.open;
      this.open = false;
      if (this.ws === ws) this.ws = null;
      if (wasOpen) {
        const r = why.length ? `${code} ${why.toString()}` : `${code} ${reason}`;
        this.log.warn('event stream closed', { reason: r });
        this.emit('close', r);
      } else {
        this.log.debug('appliance not reachable', { reason, retryMs: this.backoff });
      }
      if (!this.wanted) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.wanted && !this.ws) this.dial();
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, Math.max(this.maxBackoffMs, this.backoff));
    });
  }

  /** POST /sources/{id}/heartbeat: registers the source (a sync needs that) and keeps an HTTP watch on it. */
  async heartbeat(intervalMs: number): Promise<{ state: string; syncRequested: boolean } | null> {
    const url = new URL(`/api/v1/sources/${encodeURIComponent(this.source)}/heartbeat`, this.baseUrl);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ intervalMs }),
        signal: AbortSignal.timeout(5000),
      });
      const text = await res.text();
      if (!res.ok) {
        this.log.warn('heartbeat refused', { status: res.status, body: text.slice(0, 200) });
        return null;
      }
      return JSON.parse(text) as { state: string; syncRequested: boolean };
    } catch (err) {
      this.log.debug('heartbeat failed', { error: err instanceof Error ? err.message : String(err) });
      return null;
    }
  }

  /**
   * POST the source's dialog list: as NDJSON (one dialog a line), which the appliance takes in as
   * it arrives; as JSON {dialogs} to an appliance that does not take NDJSON yet (it answered 400 or
   * 415 to it once).
   */
  async postSync(dialogs: SyncDialog[]): Promise<SyncOutcome> {
    const outcome = await this.postSyncAs(dialogs, this.syncFormat);
    if (outcome.ok || this.syncFormat === 'json' || (outcome.status !== 400 && outcome.status !== 415) || !/content-type|request body is invalid/i.test(outcome.message)) return outcome;
    this.log.warn('the appliance does not take the dialog list as NDJSON; sending JSON from now on', { status: outcome.status, error: outcome.message });
    this.syncFormat = 'json';
    return this.postSyncAs(dialogs, 'json');
  }

  private async postSyncAs(dialogs: SyncDialog[], format: 'ndjson' | 'json'): Promise<SyncOutcome> {
    const url = new URL(`/api/v1/sources/${encodeURIComponent(this.source)}/sync`, this.baseUrl);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': format === 'ndjson' ? 'application/x-ndjson' : 'application/json' },
        body: format === 'ndjson' ? dialogs.map((d) => `${JSON.stringify(d)}\n`).join('') : JSON.stringify({ dialogs }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      return { ok: false, status: 0, retry: true, message: err instanceof Error ? err.message : String(err) };
    }
    const text = await res.text().catch(() => '');
    if (res.ok) {
      try {
        return { ok: true, result: JSON.parse(text) as SyncResult };
      } catch {
        return { ok: false, status: res.status, retry: false, message: `unreadable answer: ${text.slice(0, 200)}` };
      }
    }
    let message = text.slice(0, 500);
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // keep the text
    }
    // 5xx, 429 and 409 (e.g. a takeover in progress) may pass; other 4xx will not
    const after = retryAfterMs(res.headers.get('retry-after'));
    return { ok: false, status: res.status, retry: res.status >= 500 || res.status === 429 || res.status === 409, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
}
