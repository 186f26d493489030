import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * WebSocket bytes by hand, for what the `ws` client refuses to send: unmasked frames, RSV bits,
 * bad close codes, text that is not UTF-8, upgrades with a URL that does not parse, resets.
 */

export const WS_OPCODES = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** the three RSV bits as a number 0-7 */
  rsv?: number;
  /** clients must mask; false sends the frame unmasked (a protocol violation) */
  mask?: boolean;
  /** a length field that lies: announce this many bytes instead of the payload's */
  announcedLength?: number;
}

export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const length = spec.announcedLength ?? payload.length;
  const mask = spec.mask ?? true;
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0xf)];
  const maskBit = mask ? 0x80 : 0;
  let extended = Buffer.alloc(0);
  if (length < 126) head.push(maskBit | length);
  else if (length < 0x10000) {
    head.push(maskBit | 126);
    extended = Buffer.alloc(2);
    extended.writeUInt16BE(length);
  } else {
    head.push(maskBit | 127);
    extended = Buffer.alloc(8);
    extended.writeBigUInt64BE(BigInt(length));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), extended, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] as number) ^ (key[i % 4] as number);
  return Buffer.concat([Buffer.from(head), extended, key, masked]);
}

export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code);
  b.write(reason, 2);
  return b;
}

/** The request line and headers of an upgrade; `target` is sent as it is, parseable or not. */
export function upgradeRequest(target: string, headers: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Host: 'localhost',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  return `GET ${target} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

export interface RawAnswer {
  /** the HTTP status line's code, or null when the socket closed before one came */
  status: number | null;
  /** everything the server sent */
  bytes: Buffer;
  /** the close code of the first close frame the server sent after a 101, if any */
  closeCode: number | null;
  /** how the exchange ended */
  ended: 'closed' | 'timeout' | 'error';
}

/**
 * Sends `bytes` on a new connection (then, after a 101, `afterOpen`), and collects the answer
 * until the server closes or `timeoutMs` passes.
 */
export function rawExchange(port: number, bytes: string | Buffer, opts: { afterOpen?: Buffer[]; timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let opened = false;
    let settled = false;
    const finish = (ended: RawAnswer['ended']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: statusOf(received), bytes: received, closeCode: opened ? closeCodeOf(received) : null, ended });
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs ?? 3000);
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (!opened && statusOf(received) === 101 && received.includes('\r\n\r\n')) {
        opened = true;
        for (const b of opts.afterOpen ?? []) socket.write(b);
      }
      if (opened && closeCodeOf(received) !== null) finish('closed');
    });
    socket.on('error', () => finish('error'));
    socket.on('close', () => finish('closed'));
    socket.write(bytes);
  });
}

/** Sends the bytes of an upgrade and resets the connection (TCP RST) at once, before any answer. */
export function sendAndReset(port: number, bytes: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes, () => {
        socket.resetAndDestroy();
        resolve();
      });
    });
    socket.on('error', () => resolve());
  });
}

function statusOf(bytes: Buffer): number | null {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(bytes.subarray(0, 32).toString('latin1'));
  return m ? Number(m[1]) : null;
}

/** The code of the first close frame after the HTTP head (server frames are not masked). */
function closeCodeOf(bytes: Buffer): number | null {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  let at = headEnd + 4;
  while (at + 2 <= bytes.length) {
    const opcode = (bytes[at] as number) & 0xf;
    let len = (bytes[at + 1] as number) & 0x7f;
    let start = at + 2;
    if (len === 126) {
      if (start + 2 > bytes.length) return null;
      len = bytes.readUInt16BE(start);
      start += 2;
    } else if (len === 127) {
      if (start + 8 > bytes.length) return null;
      len = Number(bytes.readBigUInt64BE(start));
      start += 8;
    }
    if (start + len > bytes.length) return null;
    if (opcode === WS_OPCODES.close) return len >= 2 ? bytes.readUInt16BE(start) : 1005;
    at = start + len;
  }
  return null;
}
