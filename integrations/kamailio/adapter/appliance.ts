import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { CallEvent, EventProblem } from '../../../shared/api/events.js';
import type { SyncDialog, SyncResult } from '../../../shared/api/sources.js';
import { AddressChoice, DEFAULT_RULES, type AddressRules } from './addresses.js';
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
  open: [OpenInfo];
  close: [reason: string];
  /** a preferred address is healthy again: drain, then switchBack() */
  better: [OpenInfo];
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
 * A signal that aborts with `link` or after `ms` (AbortSignal.any is newer than the Node.js 18 the
 * adapter runs on); `done()` lets go of the link's listener once the request is over.
 */
function withTimeout(link: AbortSignal, ms: number): { signal: AbortSignal; done(): void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
  const onLink = () => ctl.abort(link.reason);
  if (link.aborted) onLink();
  else link.addEventListener('abort', onLink, { once: true });
  return {
    signal: ctl.signal,
    done() {
      clearTimeout(timer);
      link.removeEventListener('abort', onLink);
    },
  };
}

/** One appliance address and the token it takes. */
export interface ApplianceAddress {
  url: string;
  token: string;
}

/** What the link says when it opens: which address, and whether that is another than the last one used. */
export interface OpenInfo {
  url: string;
  /** position in the list, from 0 */
  index: number;
  /** the address of the previous link, or null at the first */
  previous: number | null;
}

export interface LinkOptions {
  /** an open stream that answers nothing (no pong, no reply) this long is dead; also the connect timeout */
  linkTimeoutMs: number;
  rules: AddressRules;
  /** pauses between rounds of dialling when every address is down */
  minBackoffMs: number;
  maxBackoffMs: number;
}

const DEFAULT_LINK: LinkOptions = { linkTimeoutMs: 3000, rules: DEFAULT_RULES, minBackoffMs: 250, maxBackoffMs: 2000 };
/** A refused token does not mend itself quickly: that address is tried again after this. */
const REFUSED_TOKEN_MS = 30_000;
/** How often the background loop looks for probes that are due. */
const PROBE_TICK_MS = 250;

/**
 * The appliance end: the WebSocket event stream (`/api/v1/events/stream`) and the sync endpoint
 * (`POST /api/v1/sources/{id}/sync`) of one of several appliance addresses, chosen by the rules
 * of addresses.ts: the most preferred one that is up; a failure moves to the next at once; down
 * addresses are probed (GET /healthz) and a preferred one that is healthy again is announced
 * (`better`) so the adapter can drain and go back to it (`switchBack`). Stays connected while
 * `wanted`. Knows nothing of queues: the adapter pairs replies with what it sent (one reply per
 * message, in order), and sends again, on the next link, whatever the last one did not acknowledge.
 */
export class ApplianceLink extends EventEmitter<ApplianceEvents> {
  private ws: WebSocket | null = null;
  private wsIndex: number | null = null;
  private open = false;
  private wanted = false;
  private timer: NodeJS.Timeout | null = null;
  private backoff: number;
  /** the link is being closed on purpose (a return to a preferred address): not a failure */
  private leaving = false;
  /** the address of the last link that opened */
  private lastOpened: number | null = null;
  /** aborts what is in flight on the current link (a dialog list post) when it goes */
  private linkAbort: AbortController | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly probing = new Set<number>();
  private closed = false;
  /** why the current link is being dropped, and when to come back to it (set just before terminating it) */
  private failReason: string | null = null;
  private failRetryAfterMs: number | undefined;
  /** how the dialog list is posted, per address (see postSync) */
  private readonly syncFormat: ('ndjson' | 'json')[];
  readonly choice: AddressChoice;
  private readonly opts: LinkOptions;

  constructor(
    private readonly addresses: readonly ApplianceAddress[],
    private readonly source: string,
    private readonly log: Logger,
    opts: Partial<LinkOptions> = {},
  ) {
    super();
    if (addresses.length === 0) throw new Error('at least one appliance address');
    this.opts = { ...DEFAULT_LINK, ...opts };
    this.backoff = this.opts.minBackoffMs;
    this.choice = new AddressChoice(addresses.length, this.opts.rules);
    this.syncFormat = addresses.map(() => 'ndjson');
    if (addresses.length > 1) {
      this.probeTimer = setInterval(() => this.probeDue(), PROBE_TICK_MS);
      this.probeTimer.unref();
    }
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** The address of the open link, or null. */
  get currentUrl(): string | null {
    return this.open && this.wsIndex !== null ? (this.addresses[this.wsIndex]?.url ?? null) : null;
  }

  get currentIndex(): number | null {
    return this.open ? this.wsIndex : null;
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** Is there another address worth trying than the one in use (one that is up)? */
  hasAlternative(): boolean {
    return this.wsIndex !== null && this.choice.hasAlternative(this.wsIndex, Date.now());
  }

  /** Keep a connection up from now on. */
  connect(): void {
    this.wanted = true;
    if (!this.ws && !this.timer) this.dialNext();
  }

  /** Close the stream and stay away until connect(): the appliance then sees the source as lost. */
  disconnect(reason: string): void {
    this.wanted = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      this.log.info('closing the event stream', { reason, appliance: this.currentUrl });
      this.leaving = true;
      this.ws.close(1000, reason.slice(0, 100));
      const ws = this.ws;
      setTimeout(() => ws.terminate(), 2000).unref();
    }
  }

  /** Stops everything (the adapter stops): no more dialling or probing. */
  close(reason: string): void {
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.disconnect(reason);
  }

  /** The link in use failed (a stuck appliance, no ack): drop it and move to the next address. */
  reset(reason: string): void {
    this.log.warn('resetting the event stream', { reason, appliance: this.currentUrl });
    this.failReason = reason;
    this.ws?.terminate();
  }

  /**
   * The appliance in use cannot store events for now (a temporary refusal): it is left until its
   * `retryAfterMs` has passed and another address is used meanwhile. Only when another is up.
   */
  refusedForNow(reason: string, retryAfterMs: number): void {
    this.failReason = reason;
    this.failRetryAfterMs = retryAfterMs;
    this.ws?.terminate();
  }

  /** Closes the link in use to go back to a preferred address that is up again. */
  switchBack(reason: string): void {
    if (!this.ws || !this.open) return;
    this.log.info('returning to a preferred appliance', { reason, from: this.currentUrl, to: this.betterUrl() });
    this.leaving = true;
    const ws = this.ws;
    ws.close(1000, 'returning to a preferred appliance');
    setTimeout(() => ws.terminate(), 2000).unref();
  }

  private betterUrl(): string | null {
    const i = this.choice.preferred(Date.now());
    return i === null ? null : (this.addresses[i]?.url ?? null);
  }

  send(events: readonly CallEvent[]): void {
    if (!this.ws || !this.open) throw new Error('the event stream is not open');
    this.ws.send(JSON.stringify(events));
  }

  private dialNext(): void {
    if (this.closed || !this.wanted || this.ws) return;
    const pick = this.choice.pick(Date.now(), 0);
    if (pick.delayMs > 0) return this.redialIn(pick.delayMs);
    this.dial(pick.index);
  }

  private redialIn(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dialNext();
    }, ms);
  }

  private dial(index: number): void {
    const address = this.addresses[index] as ApplianceAddress;
    const url = new URL('/api/v1/events/stream', address.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('source', this.source);
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${address.token}` }, handshakeTimeout: this.opts.linkTimeoutMs, maxPayload: 16 * 1024 * 1024 });
    this.ws = ws;
    this.wsIndex = index;
    this.leaving = false;
    this.failReason = null;
    this.failRetryAfterMs = undefined;
    let reason = 'closed';
    let retryAfter: number | undefined;
    let heardAt = Date.now();
    let liveness: NodeJS.Timeout | null = null;
    const abort = new AbortController();
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.open = true;
      this.linkAbort = abort;
      const previous = this.lastOpened;
      this.lastOpened = index;
      this.choice.opened(index, Date.now());
      heardAt = Date.now();
      // An appliance that died without closing its socket (power, network) answers nothing:
      // a ping every third of the link timeout, and a link silent for the whole timeout is dead.
      liveness = setInterval(() => {
        if (Date.now() - heardAt > this.opts.linkTimeoutMs) {
          reason = `no answer for ${Math.round((Date.now() - heardAt) / 100) / 10} s`;
          ws.terminate();
          return;
        }
        try {
          ws.ping();
        } catch {
          // closing already
        }
      }, Math.max(100, Math.floor(this.opts.linkTimeoutMs / 3)));
      liveness.unref();
      this.log.info('event stream open', { appliance: address.url, address: index + 1, of: this.addresses.length });
      this.emit('open', { url: address.url, index, previous });
    });
    ws.on('pong', () => (heardAt = Date.now()));
    ws.on('message', (data) => {
      heardAt = Date.now();
      // a link being dropped (refused for now, reset) says nothing more that counts
      if (this.ws !== ws || this.failReason !== null) return;
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
        this.log.error('the appliance refused the token', { status: res.statusCode, appliance: address.url });
        retryAfter = REFUSED_TOKEN_MS;
      } else if (res.statusCode === 503 || res.statusCode === 429) {
        // a temporary refusal (a passive site during a takeover, starting): come back after its Retry-After
        retryAfter = retryAfterMs(res.headers['retry-after'] as string | undefined) ?? this.opts.rules.probeMinMs;
      }
      ws.terminate();
    });
    ws.on('error', (err) => {
      reason = err.message;
    });
    ws.on('close', (code, why) => {
      if (liveness) clearInterval(liveness);
      abort.abort();
      const wasOpen = this.open && this.ws === ws;
      if (this.ws === ws) {
        this.ws = null;
        this.open = false;
        this.linkAbort = null;
      }
      const now = Date.now();
      const onPurpose = this.leaving;
      this.leaving = false;
      const failure = this.failReason ?? (wasOpen && why.length ? `${code} ${why.toString()}` : `${wasOpen ? `${code} ` : ''}${reason}`);
      const failureRetry = this.failRetryAfterMs ?? retryAfter;
      this.failReason = null;
      this.failRetryAfterMs = undefined;
      if (onPurpose) this.choice.closed(index, now);
      else this.choice.failed(index, now, failure, failureRetry);
      if (wasOpen) {
        this.log.warn('event stream closed', { reason: onPurpose ? 'closed by the adapter' : failure, appliance: address.url });
        this.emit('close', failure);
      } else {
        this.log.debug('appliance not reachable', { reason: failure, appliance: address.url });
      }
      if (!this.wanted || this.closed) return;
      if (wasOpen) this.backoff = this.opts.minBackoffMs;
      // the next address that is up is dialled at once; when none is, rounds with a growing pause
      const pick = this.choice.pick(now, this.backoff);
      if (pick.delayMs > 0) {
        if (pick.delayMs >= this.backoff) this.backoff = Math.min(this.backoff * 2, Math.max(this.opts.maxBackoffMs, this.backoff));
        if (!wasOpen) this.log.debug('no appliance reachable; trying again', { retryMs: pick.delayMs, next: this.addresses[pick.index]?.url });
        this.redialIn(pick.delayMs);
      } else {
        this.dial(pick.index);
      }
    });
  }

  // ---- probing down addresses ----

  private probeDue(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const i of this.choice.probesDue(now)) {
      if (this.probing.has(i)) continue;
      this.probing.add(i);
      void this.probe(i).finally(() => this.probing.delete(i));
    }
  }

  /** GET /healthz of a down address: healthy when it answers 200 with status ok. */
  private async probe(i: number): Promise<void> {
    const address = this.addresses[i] as ApplianceAddress;
    let healthy = false;
    let error: string | undefined;
    try {
      const res = await fetch(new URL('/healthz', address.url), { signal: AbortSignal.timeout(this.opts.linkTimeoutMs) });
      const body = (await res.json().catch(() => null)) as { status?: unknown } | null;
      healthy = res.status === 200 && body?.status === 'ok';
      if (!healthy) error = `healthz: HTTP ${res.status}${typeof body?.status === 'string' ? ` ${body.status}` : ''}`;
    } catch (err) {
      error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
    if (this.closed) return;
    const now = Date.now();
    const wasUp = this.choice.states[i]?.up;
    const upAgain = this.choice.probed(i, healthy, now, error);
    this.log.debug('appliance probed', { appliance: address.url, healthy, ...(error ? { error } : {}) });
    if (upAgain && !wasUp) {
      this.log.info('appliance healthy again', { appliance: address.url, address: i + 1 });
      const better = this.choice.preferred(now);
      if (better !== null && this.open) this.emit('better', { url: this.addresses[better]?.url ?? '', index: better, previous: this.wsIndex });
      // nothing open and waiting out a pause between rounds: dial it now
      if (!this.ws && this.wanted && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
        this.dialNext();
      }
    }
  }

  /** The address and the signal of the open link (what is sent over HTTP goes to the same appliance), or null. */
  private linkTarget(): { address: ApplianceAddress; index: number; signal: AbortSignal } | null {
    if (!this.open || this.wsIndex === null || !this.linkAbort) return null;
    return { address: this.addresses[this.wsIndex] as ApplianceAddress, index: this.wsIndex, signal: this.linkAbort.signal };
  }

  /** POST /sources/{id}/heartbeat to the appliance in use: registers the source (a sync needs that) and keeps an HTTP watch on it. */
  async heartbeat(intervalMs: number): Promise<{ state: string; syncRequested: boolean } | null> {
    const target = this.linkTarget();
    if (!target) return null;
    const url = new URL(`/api/v1/sources/${encodeURIComponent(this.source)}/heartbeat`, target.address.url);
    const limit = withTimeout(target.signal, 5000);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${target.address.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ intervalMs }),
        signal: limit.signal,
      });
      const text = await res.text();
      if (!res.ok) {
        this.log.warn('heartbeat refused', { status: res.status, body: text.slice(0, 200), appliance: target.address.url });
        return null;
      }
      return JSON.parse(text) as { state: string; syncRequested: boolean };
    } catch (err) {
      this.log.debug('heartbeat failed', { error: err instanceof Error ? err.message : String(err) });
      return null;
    } finally {
      limit.done();
    }
  }

  /**
   * POST the source's dialog list to the appliance in use: as NDJSON (one dialog a line), which
   * the appliance takes in as it arrives; as JSON {dialogs} to an appliance that does not take
   * NDJSON yet (it answered 400 or 415 to it once). Aborted (and to be posted again) when the
   * link goes meanwhile: a dialog list belongs at its place in the stream of one appliance.
   */
  async postSync(dialogs: SyncDialog[]): Promise<SyncOutcome> {
    const target = this.linkTarget();
    if (!target) return { ok: false, status: 0, retry: true, message: 'no appliance link open' };
    const format = this.syncFormat[target.index] ?? 'ndjson';
    const outcome = await this.postSyncAs(target, dialogs, format);
    if (outcome.ok || format === 'json' || (outcome.status !== 400 && outcome.status !== 415) || !/content-type|request body is invalid/i.test(outcome.message)) return outcome;
    this.log.warn('the appliance does not take the dialog list as NDJSON; sending JSON from now on', { status: outcome.status, error: outcome.message, appliance: target.address.url });
    this.syncFormat[target.index] = 'json';
    return this.postSyncAs(target, dialogs, 'json');
  }

  private async postSyncAs(target: { address: ApplianceAddress; signal: AbortSignal }, dialogs: SyncDialog[], format: 'ndjson' | 'json'): Promise<SyncOutcome> {
    const url = new URL(`/api/v1/sources/${encodeURIComponent(this.source)}/sync`, target.address.url);
    let res: Response;
    const limit = withTimeout(target.signal, 30_000);
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${target.address.token}`, 'content-type': format === 'ndjson' ? 'application/x-ndjson' : 'application/json' },
        body: format === 'ndjson' ? dialogs.map((d) => `${JSON.stringify(d)}\n`).join('') : JSON.stringify({ dialogs }),
        signal: limit.signal,
      });
    } catch (err) {
      limit.done();
      return { ok: false, status: 0, retry: true, message: target.signal.aborted ? 'the link to the appliance closed' : err instanceof Error ? err.message : String(err) };
    }
    const text = await res.text().catch(() => '');
    limit.done();
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
