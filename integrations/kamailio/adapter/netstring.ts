/**
 * Netstrings as Kamailio's evapi frames them (`modparam("evapi", "netstring_format", 1)`):
 * `<decimal length>:<payload>,` with the length in bytes, one frame after the other on the stream.
 */

export class NetstringError extends Error {
  override name = 'NetstringError';
}

/** Frames larger than this are refused (a dialog snapshot never travels over evapi). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export class NetstringDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrame = MAX_FRAME_BYTES) {}

  /** Takes a chunk of the stream; returns the payloads completed by it, in order. Throws on a broken frame. */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Buffer[] = [];
    let at = 0;
    for (;;) {
      const colon = this.buf.indexOf(0x3a, at);
      if (colon < 0) {
        if (this.buf.length - at > 20) throw new NetstringError(`no length prefix in "${this.buf.subarray(at, at + 20).toString('latin1')}..."`);
        break;
      }
      const head = this.buf.subarray(at, colon).toString('latin1');
      if (!/^\d{1,20}$/.test(head)) throw new NetstringError(`bad netstring length "${head.slice(0, 20)}"`);
      const len = Number(head);
      if (len > this.maxFrame) throw new NetstringError(`netstring of ${len} bytes is over the ${this.maxFrame} byte limit`);
      const end = colon + 1 + len;
      if (this.buf.length < end + 1) break;
      if (this.buf[end] !== 0x2c) throw new NetstringError(`netstring of ${len} bytes is not closed by ","`);
      frames.push(this.buf.subarray(colon + 1, end));
      at = end + 1;
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
    return frames;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}

export function encodeNetstring(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from(`${body.length}:`, 'latin1'), body, Buffer.from(',', 'latin1')]);
}
