import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import {
  AskerMessage,
  MEDIA_CHUNK_BYTES,
  MEDIA_TOPIC,
  OriginMessage,
  type ByteRange,
  type MediaFailure,
  type MediaOpenFailure,
  type MediaRef,
  type OpenMessage,
} from '../../shared/sync/media.js';
import type { Logger } from '../logger.js';
import { validator } from '../validation.js';
import type { PeerChannel, PeerMessage } from './channel.js';

/*
 * Media over the links between sites (wire types and the flow: shared/sync/media.ts): this site
 * serves the audio it holds to the peers that ask (`MediaServeDeps.resolve` says what a ref
 * names: the vmail role, injected by app.ts; sync imports nothing of vmail) and asks a peer for
 * the audio it holds (`open`). Neither side holds a file in memory: the origin reads it in
 * chunks and sends one only while the asker has given credit for it, and the asker gives credit
 * as its reader (the HTTP response) takes the bytes, so a slow player slows the origin's reads.
 */

/** What the origin streams for a ref: its size, and its bytes (a range of them) as a stream. */
export interface MediaSource {
  size: number;
  read(range?: ByteRange): Readable;
}

export interface MediaRefusal {
  reason: MediaFailure;
  message: string;
}

export interface MediaServeDeps {
  /**
   * What `ref` names for the peer `peerId` (which must be allowed to read it), checked against
   * what the asker expects; or why it is not served.
   */
  resolve(peerId: string, ref: MediaRef, expect: OpenMessage['expect']): Promise<MediaSource | MediaRefusal>;
}

export type MediaOpenResult = { ok: true; size: number; stream: Readable } | { ok: false; reason: MediaOpenFailure; message: string };

export interface MediaLimits {
  /** credit an asker gives at once: the bytes in flight and buffered per stream */
  window: number;
  /** how long the origin has to answer an open */
  openTimeoutMs: number;
  /** how long an asker waits for bytes it gave credit for before it gives up on the stream */
  idleTimeoutMs: number;
  /** how long the origin keeps a stream open while the asker gives no credit (a paused player) */
  stalledTimeoutMs: number;
  /** streams this site serves to one peer at once (more are `busy`) */
  servedPerPeer: number;
  /** streams this site asks of one peer at once (more are `busy`) */
  askedPerPeer: number;
}

export const DEFAULT_MEDIA_LIMITS: MediaLimits = {
  window: 4 * MEDIA_CHUNK_BYTES,
  openTimeoutMs: 10_000,
  idleTimeoutMs: 15_000,
  stalledTimeoutMs: 60_000,
  servedPerPeer: 16,
  askedPerPeer: 64,
};

/** how long an open whose link was replaced waits for the successor before it is `link_lost` */
const SUCCESSOR_WAIT_MS = 2_000;

const parseAsker = validator(AskerMessage);
const parseOrigin = validator(OriginMessage);
const ASKER_TYPES: ReadonlySet<string> = new Set(['open', 'credit', 'cancel']);

/** An error a stream of the asking side ends with once it has started (the response is cut short). */
export class MediaStreamError extends Error {
  override name = 'MediaStreamError';
  constructor(
    readonly reason: MediaOpenFailure,
    message: string,
  ) {
    super(message);
  }
}

/** What the streams of every link count: `stats` for tests and the bench, and the counters of /metrics when there is a registry. */
class MediaMeter {
  readonly stats = { served: 0, servedBytes: 0, asked: 0, askedBytes: 0, refused: 0, failed: 0 };
  private readonly streams: Counter<'direction' | 'result'> | undefined;
  private readonly bytes: Counter<'direction'> | undefined;

  constructor(registry: Registry | undefined) {
    if (!registry) return;
    this.streams = new Counter({
      name: 'sitecall_media_streams_total',
      help: 'Audio streams between sites by direction (served: this site’s audio to a peer; asked: a peer’s audio for a player here) and result (ok, or why not: not_found, gone, damaged, changed, refused, busy, error, timeout, link_lost)',
      labelNames: ['direction', 'result'],
      registers: [registry],
    });
    this.bytes = new Counter({ name: 'sitecall_media_bytes_total', help: 'Audio bytes streamed between sites, by direction (served, asked)', labelNames: ['direction'], registers: [registry] });
  }

  served(result: 'ok' | MediaFailure): void {
    if (result === 'ok') this.stats.served++;
    else if (result === 'busy' || result === 'refused') this.stats.refused++;
    else this.stats.failed++;
    this.streams?.inc({ direction: 'served', result });
  }

  asked(result: 'ok' | MediaOpenFailure): void {
    if (result === 'ok') this.stats.asked++;
    this.streams?.inc({ direction: 'asked', result });
  }

  moved(direction: 'served' | 'asked', bytes: number): void {
    if (direction === 'served') this.stats.servedBytes += bytes;
    else this.stats.askedBytes += bytes;
    this.bytes?.inc({ direction }, bytes);
  }
}

/**
 * The media part of every link: one per site, each new PeerChannel attached (`attach`), the
 * current one per peer used to ask. Counted in /metrics (`sitecall_media_*`) with a registry.
 */
export class MediaHub {
  private readonly channels = new Map<string, PeerLink>();
  /** opens waiting for a peer's next link (see `open`) */
  private readonly linkWaiters = new Map<string, Set<() => void>>();
  private readonly limits: MediaLimits;
  private readonly meter: MediaMeter;

  constructor(
    private readonly deps: MediaServeDeps & { logger: Logger; limits?: Partial<MediaLimits>; registry?: Registry },
  ) {
    this.limits = { ...DEFAULT_MEDIA_LIMITS, ...deps.limits };
    this.meter = new MediaMeter(deps.registry);
  }

  get stats(): MediaMeter['stats'] {
    return this.meter.stats;
  }

  /** Takes a new link to a peer; a stream of an older link of that peer ends with that link. */
  attach(channel: PeerChannel): void {
    const link = new PeerLink(channel, this.deps, this.limits, this.meter, this.deps.logger.child({ peer: channel.peerId }));
    this.channels.set(channel.peerId, link);
    channel.onClose(() => {
      if (this.channels.get(channel.peerId) === link) this.channels.delete(channel.peerId);
    });
    for (const wake of this.linkWaiters.get(channel.peerId) ?? []) wake();
  }

  /** Whether a link to the site is open now (its audio can be asked for). */
  connected(siteId: string): boolean {
    return this.current(siteId) !== undefined;
  }

  /**
   * Asks `siteId` for the audio `ref` names (a range of it, or all). Resolves once the origin
   * said it is there (with a stream of its bytes) or why not; never rejects.
   */
  async open(siteId: string, ref: MediaRef, opts: { range?: ByteRange; expect: OpenMessage['expect'] }): Promise<MediaOpenResult> {
    const result = await this.openOnce(siteId, ref, opts);
    this.meter.asked(result.ok ? 'ok' : result.reason);
    return result;
  }

  private async openOnce(siteId: string, ref: MediaRef, opts: { range?: ByteRange; expect: OpenMessage['expect'] }): Promise<MediaOpenResult> {
    const link = this.current(siteId);
    if (!link) return { ok: false, reason: 'unreachable', message: `site ${siteId} is not connected` };
    const first = await link.open(ref, opts);
    if (first.ok || first.reason !== 'link_lost') return first;
    // Two links dialed at once resolve to one, and the other closes: an open on the one that
    // went is asked again on its successor, which is there or comes within moments.
    const next = this.current(siteId) ?? (await this.nextLink(siteId, SUCCESSOR_WAIT_MS));
    return next && next !== link ? next.open(ref, opts) : first;
  }

  private current(siteId: string): PeerLink | undefined {
    const link = this.channels.get(siteId);
    return link?.channel.isOpen && !link.isEnded ? link : undefined;
  }

  private nextLink(siteId: string, ms: number): Promise<PeerLink | undefined> {
    return new Promise((resolve) => {
      let waiters = this.linkWaiters.get(siteId);
      if (!waiters) this.linkWaiters.set(siteId, (waiters = new Set()));
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0) this.linkWaiters.delete(siteId);
        resolve(this.current(siteId));
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      waiters.add(done);
    });
  }

  /** Ends every stream (the links close after). */
  stop(): void {
    for (const link of this.channels.values()) link.end('the service is stopping');
    this.channels.clear();
  }
}

interface Served {
  credit: number;
  wake: (() => void) | undefined;
  cancelled: boolean;
  source: Readable | undefined;
}

/** The streams of one link, both ways. */
class PeerLink {
  private nextStream = 1;
  private readonly asked = new Map<number, Asked>();
  private readonly served = new Map<number, Served>();
  private ended = false;

  constructor(
    readonly channel: PeerChannel,
    private readonly deps: MediaServeDeps,
    private readonly limits: MediaLimits,
    private readonly meter: MediaMeter,
    private readonly log: Logger,
  ) {
    channel.onMessage(MEDIA_TOPIC, (m) => this.onMessage(m));
    channel.onClose((reason) => this.end(`the link closed (${reason})`));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const a of this.asked.values()) a.fail('link_lost', why);
    this.asked.clear();
    for (const s of this.served.values()) this.cancelServed(s);
    this.served.clear();
  }

  // --- asking -----------------------------------------------------------------------------

  open(ref: MediaRef, opts: { range?: ByteRange; expect: OpenMessage['expect'] }): Promise<MediaOpenResult> {
    if (this.ended) return Promise.resolve({ ok: false, reason: 'link_lost', message: 'the link closed' });
    if (this.asked.size >= this.limits.askedPerPeer) {
      return Promise.resolve({ ok: false, reason: 'busy', message: `this site already streams ${this.asked.size} files from site ${this.channel.peerId}` });
    }
    const id = this.nextStream++;
    if (this.nextStream > 2 ** 31 - 1) this.nextStream = 1;
    const verify = opts.range === undefined && opts.expect.sha256 !== null ? opts.expect.sha256 : undefined;
    const asked = new Asked(id, this, this.limits, opts.range, verify, () => {
      if (this.asked.get(id) === asked) this.asked.delete(id);
    });
    this.asked.set(id, asked);
    this.send({ topic: MEDIA_TOPIC, type: 'open', stream: id, ref, range: opts.range ?? null, expect: opts.expect, window: this.limits.window }).catch((err: unknown) =>
      asked.fail('link_lost', `the request could not be sent: ${(err as Error).message}`),
    );
    return asked.opened;
  }

  /** Sends on the link; resolves once the link's backpressure lets the sender go on. */
  send(message: PeerMessage): Promise<void> {
    return this.channel.send(message);
  }

  countReceived(bytes: number): void {
    this.meter.moved('asked', bytes);
  }

  // --- receiving ----------------------------------------------------------------------------

  private onMessage(raw: PeerMessage): void {
    if (this.ended) return;
    if (ASKER_TYPES.has(raw.type)) {
      let m: AskerMessage;
      try {
        m = parseAsker.parse(raw, 'media message');
      } catch (err) {
        // a request of a stream that can be named is refused alone: replication shares the link
        const stream = raw['stream'];
        if (raw.type === 'open' && typeof stream === 'number' && Number.isInteger(stream) && stream > 0 && !this.served.has(stream)) {
          this.meter.served('error');
          this.log.warn({ err }, 'a malformed media request of the peer is refused');
          void this.send({ topic: MEDIA_TOPIC, type: 'fail', stream, reason: 'error', message: `the request is not one this site takes: ${(err as Error).message}`.slice(0, 500) }).catch(() => undefined);
          return;
        }
        return this.malformed(err);
      }
      if (m.type === 'open') void this.serve(m);
      else if (m.type === 'credit') {
        const s = this.served.get(m.stream);
        if (s) {
          s.credit += m.bytes;
          s.wake?.();
        }
      } else {
        const s = this.served.get(m.stream);
        if (s) this.cancelServed(s);
        this.served.delete(m.stream);
      }
      return;
    }
    // a chunk is parsed by hand: a schema check of 87 KB of base64 per chunk costs more than the decode
    if (raw.type === 'chunk' && typeof raw['stream'] === 'number' && typeof raw['data'] === 'string' && Object.keys(raw).length === 4) {
      const a = this.asked.get(raw['stream']);
      if (!a) return; // a stream this side cancelled: its last chunks may still come
      const bytes = Buffer.from(raw['data'], 'base64');
      if (bytes.length === 0 || bytes.length > MEDIA_CHUNK_BYTES) return this.malformed(new Error(`a chunk of ${bytes.length} bytes`));
      a.chunk(bytes);
      return;
    }
    let m: OriginMessage;
    try {
      m = parseOrigin.parse(raw, 'media message');
    } catch (err) {
      return this.malformed(err);
    }
    const a = this.asked.get(m.stream);
    if (!a) return;
    if (m.type === 'ready') a.ready(m.size);
    else if (m.type === 'end') a.end();
    else if (m.type === 'fail') a.fail(m.reason, m.message);
  }

  /** A message that is not of the protocol ends the link, as replication does: the peer is at fault (or newer). */
  private malformed(err: unknown): void {
    this.log.warn({ err }, 'a malformed media message from the peer: the link is closed');
    this.channel.close('malformed media message');
  }

  // --- serving ----------------------------------------------------------------------------

  private async serve(m: OpenMessage): Promise<void> {
    // a stream that fails after `ready` was counted as served already
    const refuse = (reason: MediaFailure, message: string, afterReady = false) => {
      if (!afterReady) this.meter.served(reason);
      this.log.info({ stream: m.stream, ref: m.ref, reason, message }, 'a media request of the peer is not served');
      void this.send({ topic: MEDIA_TOPIC, type: 'fail', stream: m.stream, reason, message: message.slice(0, 500) }).catch(() => undefined);
    };
    if (this.served.has(m.stream)) return refuse('error', `stream ${m.stream} is already open`);
    if (this.served.size >= this.limits.servedPerPeer) return refuse('busy', `this site already streams ${this.served.size} files to the asking site`);
    const s: Served = { credit: m.window, wake: undefined, cancelled: false, source: undefined };
    this.served.set(m.stream, s);
    try {
      let found: MediaSource | MediaRefusal;
      try {
        found = await this.deps.resolve(this.channel.peerId, m.ref, m.expect);
      } catch (err) {
        this.log.error({ err, ref: m.ref }, 'finding the audio a peer asked for failed');
        return refuse('error', `the origin could not read its store: ${(err as Error).message}`);
      }
      if (s.cancelled) return;
      if ('reason' in found) return refuse(found.reason, found.message);
      const range = m.range ?? (found.size === 0 ? undefined : { start: 0, end: found.size - 1 });
      if (range && (range.start > range.end || range.end >= found.size)) return refuse('changed', `the range ${range.start}-${range.end} is outside the ${found.size} bytes held here`);
      await this.send({ topic: MEDIA_TOPIC, type: 'ready', stream: m.stream, size: found.size });
      this.meter.served('ok');
      if (!range) {
        await this.send({ topic: MEDIA_TOPIC, type: 'end', stream: m.stream });
        return;
      }
      const source = found.read(range);
      s.source = source;
      for await (const piece of source) {
        // the file stream's pieces are at most its highWaterMark; a chunk message carries at most MEDIA_CHUNK_BYTES
        const buf = piece as Buffer;
        for (let at = 0; at < buf.length; at += MEDIA_CHUNK_BYTES) {
          const chunk = buf.subarray(at, at + MEDIA_CHUNK_BYTES);
          while (s.credit <= 0 && !s.cancelled) {
            if (!(await this.awaitCredit(s))) {
              this.cancelServed(s);
              return refuse('error', `the asking site gave no credit for ${Math.round(this.limits.stalledTimeoutMs / 1000)} s: the stream is ended (ask again to go on)`, true);
            }
          }
          if (s.cancelled) return;
          s.credit -= chunk.length;
          this.meter.moved('served', chunk.length);
          await this.send({ topic: MEDIA_TOPIC, type: 'chunk', stream: m.stream, data: chunk.toString('base64') });
        }
      }
      if (!s.cancelled) await this.send({ topic: MEDIA_TOPIC, type: 'end', stream: m.stream });
    } catch (err) {
      // the link closed under the send, or the file could not be read: the asker hears of it (if it still can)
      if (!s.cancelled && this.channel.isOpen) {
        this.log.error({ err, ref: m.ref }, 'streaming audio to the peer failed');
        refuse('error', `reading the audio failed on the origin: ${(err as Error).message}`, s.source !== undefined);
      }
    } finally {
      s.source?.destroy();
      if (this.served.get(m.stream) === s) this.served.delete(m.stream);
    }
  }

  /** Waits for credit (or a cancel); false when none came within the stalled timeout. */
  private awaitCredit(s: Served): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        s.wake = undefined;
        resolve(false);
      }, this.limits.stalledTimeoutMs);
      s.wake = () => {
        clearTimeout(timer);
        s.wake = undefined;
        resolve(true);
      };
    });
  }

  private cancelServed(s: Served): void {
    s.cancelled = true;
    s.source?.destroy();
    s.wake?.();
  }
}

/**
 * One stream this site asked for. Its reader is a Readable whose buffer holds at most the window:
 * credit is given back as the reader takes bytes (`_read`), so the origin never sends more than
 * the reader can hold. A whole file with a known SHA-256 is hashed as it comes, and its last chunk
 * is held back until the hash matched: a reader never gets the whole of a damaged file.
 */
class Asked extends Readable {
  readonly opened: Promise<MediaOpenResult>;
  private resolveOpen!: (r: MediaOpenResult) => void;
  private state: 'opening' | 'streaming' | 'done' = 'opening';
  private size = 0;
  /** the bytes of the range asked for (all of the file without one) */
  private expected = 0;
  private received = 0;
  /** bytes received and not yet given back as credit */
  private uncredited = 0;
  /** credit given that the origin has not used: bytes it owes */
  private owed: number;
  private idle: NodeJS.Timeout | undefined;
  private readonly hash: Hash | undefined;
  private heldBack: Buffer | undefined;

  constructor(
    private readonly id: number,
    private readonly link: PeerLink,
    private readonly limits: MediaLimits,
    private readonly range: ByteRange | undefined,
    private readonly sha256: string | undefined,
    private readonly forget: () => void,
  ) {
    super({ highWaterMark: limits.window });
    this.owed = limits.window;
    this.hash = sha256 === undefined ? undefined : createHash('sha256');
    this.opened = new Promise((resolve) => (this.resolveOpen = resolve));
    this.arm(limits.openTimeoutMs, 'the origin did not answer');
  }

  ready(size: number): void {
    if (this.state !== 'opening') return;
    this.state = 'streaming';
    this.size = size;
    this.expected = this.range ? this.range.end - this.range.start + 1 : size;
    this.arm(this.limits.idleTimeoutMs, 'the origin sent nothing');
    this.resolveOpen({ ok: true, size, stream: this });
  }

  chunk(bytes: Buffer): void {
    if (this.state !== 'streaming') return;
    if (this.received + bytes.length > this.expected) {
      this.link.send({ topic: MEDIA_TOPIC, type: 'cancel', stream: this.id }).catch(() => undefined);
      this.fail('error', `the origin sent more than the ${this.expected} bytes asked for`);
      return;
    }
    this.received += bytes.length;
    this.uncredited += bytes.length;
    this.owed -= bytes.length;
    this.link.countReceived(bytes.length);
    this.hash?.update(bytes);
    if (this.hash) {
      const previous = this.heldBack;
      this.heldBack = bytes;
      if (previous) this.push(previous);
    } else this.push(bytes);
    this.rearm();
  }

  end(): void {
    if (this.state !== 'streaming') return;
    this.state = 'done';
    this.disarm();
    this.forget();
    if (this.received !== this.expected) {
      this.destroy(new MediaStreamError('error', `the origin sent ${this.received} bytes of the ${this.expected} asked for`));
      return;
    }
    if (this.hash) {
      if (this.hash.digest('hex') !== this.sha256) {
        this.destroy(new MediaStreamError('damaged', `the ${this.received} bytes the origin sent do not match the SHA-256 of the metadata`));
        return;
      }
      if (this.heldBack) this.push(this.heldBack);
    }
    this.push(null);
  }

  fail(reason: MediaOpenFailure, message: string): void {
    const was = this.state;
    if (was === 'done') return;
    this.state = 'done';
    this.disarm();
    this.forget();
    if (was === 'opening') this.resolveOpen({ ok: false, reason, message });
    else this.destroy(new MediaStreamError(reason, message));
  }

  override _read(): void {
    if (this.state !== 'streaming' || this.uncredited === 0) return;
    const bytes = this.uncredited;
    this.uncredited = 0;
    this.owed += bytes;
    this.rearm();
    this.link.send({ topic: MEDIA_TOPIC, type: 'credit', stream: this.id, bytes }).catch(() => undefined);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.state !== 'done') {
      // the reader went away (a client that closed its connection): the origin stops reading
      this.state = 'done';
      this.forget();
      this.link.send({ topic: MEDIA_TOPIC, type: 'cancel', stream: this.id }).catch(() => undefined);
    }
    this.disarm();
    callback(err);
  }

  /** The idle timer runs only while the origin owes bytes: a reader that does not read is not the origin's fault. */
  private rearm(): void {
    if (this.state !== 'streaming') return;
    if (this.owed > 0) this.arm(this.limits.idleTimeoutMs, 'the origin sent nothing');
    else this.disarm();
  }

  private arm(ms: number, what: string): void {
    this.disarm();
    this.idle = setTimeout(() => {
      this.idle = undefined;
      if (this.state === 'done') return;
      this.link.send({ topic: MEDIA_TOPIC, type: 'cancel', stream: this.id }).catch(() => undefined);
      this.fail('timeout', `${what} for ${Math.round(ms / 1000)} s`);
    }, ms);
    this.idle.unref();
  }

  private disarm(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
  }
}
