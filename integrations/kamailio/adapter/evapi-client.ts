import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { parseKamMessage, KamMessageError, type KamMessage } from './kamailio.js';
import type { Logger } from './log.js';
import { NetstringDecoder, NetstringError } from './netstring.js';

export interface EvapiEvents {
  connected: [];
  message: [KamMessage];
  disconnected: [reason: string];
}

/**
 * The client end of Kamailio's evapi (Kamailio is the TCP server). Reads the stream as fast as it
 * comes, always: evapi writes to its clients with blocking writes, so a reader that stalls would
 * stall Kamailio. Reconnects with a growing delay (up to `maxBackoffMs`) after any loss.
 */
export class EvapiClient extends EventEmitter<EvapiEvents> {
  private socket: Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private backoff: number;
  private connectedOnce = false;
  /** frames that were not valid messages (logged, skipped) */
  badFrames = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly log: Logger,
    private readonly minBackoffMs = 250,
    private readonly maxBackoffMs = 2000,
  ) {
    super();
    this.backoff = minBackoffMs;
  }

  get isConnected(): boolean {
    return this.socket !== null && this.connectedOnce;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.socket = null;
  }

  private open(): void {
    const decoder = new NetstringDecoder();
    const socket = connect({ host: this.host, port: this.port });
    this.socket = socket;
    this.connectedOnce = false;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    let closedReason = 'closed';
    socket.on('connect', () => {
      this.connectedOnce = true;
      this.backoff = this.minBackoffMs;
      this.log.info('evapi connected', { evapi: `${this.host}:${this.port}` });
      this.emit('connected');
    });
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        // the stream is out of step: reconnect rather than guess where the next frame starts
        closedReason = err instanceof NetstringError ? `bad frame: ${err.message}` : String(err);
        this.log.error('evapi stream broken; reconnecting', { error: closedReason });
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        let msg: KamMessage;
        try {
          msg = parseKamMessage(frame.toString('utf8'));
        } catch (err) {
          this.badFrames++;
          this.log.warn('evapi message skipped', { error: err instanceof KamMessageError ? err.message : String(err), frame: frame.subarray(0, 200).toString('utf8') });
          continue;
        }
        this.emit('message', msg);
      }
    });
    socket.on('error', (err) => {
      closedReason = err.message;
    });
    socket.on('close', () => {
      const wasConnected = this.connectedOnce;
      if (this.socket === socket) this.socket = null;
      this.connectedOnce = false;
      if (wasConnected) {
        this.log.warn('evapi connection lost', { reason: closedReason });
        this.emit('disconnected', closedReason);
      } else if (!this.stopped) {
        this.log.debug('evapi not reachable', { evapi: `${this.host}:${this.port}`, reason: closedReason, retryMs: this.backoff });
      }
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.stopped) this.open();
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, this.maxBackoffMs);
    });
  }
}
