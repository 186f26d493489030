/**
 * The media protocol between two sites (sync/media.ts) over a real WebSocket on loopback, each end
 * a PeerChannel and a MediaHub, the origin reading real files from a temp directory: streams whole
 * and by range, the asker's credit bounds what the origin reads ahead, timeouts, a link lost
 * mid-stream, a cancel, a damaged file, a busy origin and messages that are not of the protocol.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { MediaRef } from '../../shared/sync/media.js';
import { MEDIA_CHUNK_BYTES } from '../../shared/sync/media.js';
import { createLogger } from '../../service/logger.js';
import { channelOverWebSocket, type PeerChannel } from '../../service/sync/channel.js';
import { MediaHub, MediaStreamError, type MediaLimits, type MediaServeDeps, type MediaSource } from '../../service/sync/media.js';

const log = createLogger('silent');
const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const REF_ID = '11111111-2222-4333-8444-555555555555';
const REF: MediaRef = { kind: 'vmail-message', id: REF_ID };

function file(bytes: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-media-'));
  dirs.push(dir);
  const path = join(dir, 'audio.wav');
  writeFileSync(path, bytes);
  return path;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What the origin serves: the file at `path` for REF, counting the files it opened and closed. */
function servingFile(path: string, size: number) {
  const opened: Readable[] = [];
  const resolve: MediaServeDeps['resolve'] = async (_peer, ref) => {
    if (ref.kind !== 'vmail-message' || ref.id !== REF_ID) return { reason: 'not_found', message: 'no such message' };
    const source: MediaSource = {
      size,
      read: (range) => {
        const s = createReadStream(path, range ? { start: range.start, end: range.end } : {});
        opened.push(s);
        return s;
      },
    };
    return source;
  };
  return { resolve, opened };
}

/** A real WebSocket on loopback: both ends, closed after the test. */
async function socketPair(): Promise<{ client: WebSocket; serverSide: WebSocket }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => server.once('listening', () => r()));
  const accepted = new Promise<WebSocket>((r) => server.once('connection', (ws) => r(ws)));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await new Promise<void>((r, j) => {
    client.once('open', () => r());
    client.once('error', j);
  });
  const serverSide = await accepted;
  cleanups.push(async () => {
    client.terminate();
    serverSide.terminate();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { client, serverSide };
}

async function linked(serve: MediaServeDeps['resolve'], limits: Partial<MediaLimits> = {}) {
  const { client, serverSide } = await socketPair();
  const askerChannel: PeerChannel = channelOverWebSocket(client, 'origin');
  const originChannel: PeerChannel = channelOverWebSocket(serverSide, 'asker');
  const asker = new MediaHub({ resolve: async () => ({ reason: 'not_found', message: 'the asker serves nothing' }), logger: log, limits });
  const origin = new MediaHub({ resolve: serve, logger: log, limits });
  asker.attach(askerChannel);
  origin.attach(originChannel);
  return { asker, origin, askerChannel, originChannel, client, serverSide };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function until(what: string, probe: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('media between sites', () => {
  it('streams a file whole (checked against its SHA-256) and by range, byte for byte', async () => {
    const bytes = randomBytes(5 * MEDIA_CHUNK_BYTES + 1234);
    const { resolve } = servingFile(file(bytes), bytes.length);
    const { asker } = await linked(resolve);
    const whole = await asker.open('origin', REF, { expect: { size: bytes.length, sha256: sha(bytes) } });
    expect(whole.ok).toBe(true);
    if (!whole.ok) return;
    expect(whole.size).toBe(bytes.length);
    expect((await readAll(whole.stream)).equals(bytes)).toBe(true);

    for (const [start, end] of [
      [0, 0],
      [100, 99_999],
      [MEDIA_CHUNK_BYTES - 1, MEDIA_CHUNK_BYTES],
      [bytes.length - 10, bytes.length - 1],
    ] as const) {
      const part = await asker.open('origin', REF, { range: { start, end }, expect: { size: bytes.length, sha256: sha(bytes) } });
      if (!part.ok) throw new Error(part.message);
      expect((await readAll(part.stream)).equals(bytes.subarray(start, end + 1))).toBe(true);
    }
    expect(asker.stats.askedBytes).toBeGreaterThan(bytes.length);
  });

  it('the origin reads ahead no more than the credit the asker gave: a reader that stops stops the origin', async () => {
    const bytes = randomBytes(40 * MEDIA_CHUNK_BYTES);
    const { resolve } = servingFile(file(bytes), bytes.length);
    const window = 2 * MEDIA_CHUNK_BYTES;
    const { asker, origin } = await linked(resolve, { window });
    const opened = await asker.open('origin', REF, { expect: { size: bytes.length, sha256: null } });
    if (!opened.ok) throw new Error(opened.message);
    // nobody reads: the origin sends the first window (plus what the reader's buffer asked for) and waits
    await until('the first window', () => origin.stats.servedBytes >= window);
    await new Promise((r) => setTimeout(r, 300));
    const sentWhilePaused = origin.stats.servedBytes;
    expect(sentWhilePaused).toBeLessThanOrEqual(2 * window);
    await new Promise((r) => setTimeout(r, 300));
    expect(origin.stats.servedBytes).toBe(sentWhilePaused);
    // reading takes the rest, and the bytes are whole
    expect((await readAll(opened.stream)).equals(bytes)).toBe(true);
    expect(origin.stats.servedBytes).toBe(bytes.length);
  });

  it('says why it does not stream: unknown ref, not connected, no answer in time, busy', async () => {
    const bytes = randomBytes(1000);
    const { resolve } = servingFile(file(bytes), bytes.length);
    const { asker } = await linked(resolve);
    expect(await asker.open('origin', { kind: 'vmail-message', id: '99999999-2222-4333-8444-555555555555' }, { expect: { size: 1000, sha256: null } })).toEqual({ ok: false, reason: 'not_found', message: 'no such message' });
    expect(await asker.open('elsewhere', REF, { expect: { size: 1000, sha256: null } })).toMatchObject({ ok: false, reason: 'unreachable' });

    // an origin that never answers
    const silent = await linked(() => new Promise(() => undefined), { openTimeoutMs: 200 });
    const started = Date.now();
    expect(await silent.asker.open('origin', REF, { expect: { size: 1000, sha256: null } })).toMatchObject({ ok: false, reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(5_000);

    // an origin that streams one file at a time to a peer
    const big = randomBytes(10 * MEDIA_CHUNK_BYTES);
    const bigServe = servingFile(file(big), big.length);
    const one = await linked(bigServe.resolve, { servedPerPeer: 1, window: MEDIA_CHUNK_BYTES });
    const first = await one.asker.open('origin', REF, { expect: { size: big.length, sha256: null } });
    expect(first.ok).toBe(true);
    expect(await one.asker.open('origin', REF, { expect: { size: big.length, sha256: null } })).toMatchObject({ ok: false, reason: 'busy' });
    if (first.ok) first.stream.destroy();
  });

  it('a whole file that does not match its SHA-256 fails before its last chunk reaches the reader', async () => {
    const bytes = randomBytes(3 * MEDIA_CHUNK_BYTES + 10);
    const { resolve } = servingFile(file(bytes), bytes.length);
    const { asker } = await linked(resolve);
    const other = Buffer.from(bytes);
    other[other.length - 1] = (other.at(-1) ?? 0) ^ 0xff;
    const opened = await asker.open('origin', REF, { expect: { size: bytes.length, sha256: sha(other) } });
    if (!opened.ok) throw new Error(opened.message);
    const got: Buffer[] = [];
    const failure = await (async () => {
      try {
        for await (const p of opened.stream) got.push(p as Buffer);
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(failure).toBeInstanceOf(MediaStreamError);
    expect((failure as MediaStreamError).reason).toBe('damaged');
    expect(Buffer.concat(got).length).toBeLessThan(bytes.length);
  });

  it('a link lost mid-stream fails the reader and closes the origin’s file; a reader that goes away cancels the origin’s read', async () => {
    const bytes = randomBytes(30 * MEDIA_CHUNK_BYTES);
    const served = servingFile(file(bytes), bytes.length);
    const { asker, origin, client } = await linked(served.resolve, { window: MEDIA_CHUNK_BYTES });
    const opened = await asker.open('origin', REF, { expect: { size: bytes.length, sha256: null } });
    if (!opened.ok) throw new Error(opened.message);
    await until('some bytes', () => origin.stats.servedBytes > 0);
    const failed = new Promise<unknown>((r) => opened.stream.once('error', r));
    opened.stream.resume();
    client.terminate();
    const err = await failed;
    expect((err as MediaStreamError).reason).toBe('link_lost');
    await until('the origin’s file closed', () => served.opened.every((s) => s.destroyed));

    const again = await linked(served.resolve, { window: MEDIA_CHUNK_BYTES });
    const second = await again.asker.open('origin', REF, { expect: { size: bytes.length, sha256: null } });
    if (!second.ok) throw new Error(second.message);
    await until('the second file opened', () => served.opened.length === 2);
    second.stream.destroy();
    await until('the origin’s read cancelled', () => (served.opened[1] as Readable).destroyed);
  });

  it('an open whose link is replaced before the origin answered (two links dialed at once, one kept) is asked again on the successor', async () => {
    const bytes = randomBytes(3 * MEDIA_CHUNK_BYTES);
    const { resolve } = servingFile(file(bytes), bytes.length);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    // the origin answers the first request only once its link has gone
    const slowFirst: MediaServeDeps['resolve'] = async (peer, ref, expect) => {
      if (calls++ === 0) await held;
      return resolve(peer, ref, expect);
    };
    const one = await linked(slowFirst);
    const opening = one.asker.open('origin', REF, { expect: { size: bytes.length, sha256: sha(bytes) } });
    await until('the first request at the origin', () => calls === 1);
    const successor = await socketPair();
    one.client.close(1000, 'duplicate link');
    await new Promise<void>((r) => one.askerChannel.onClose(() => r()));
    one.asker.attach(channelOverWebSocket(successor.client, 'origin'));
    one.origin.attach(channelOverWebSocket(successor.serverSide, 'asker'));
    release();
    const opened = await opening;
    if (!opened.ok) throw new Error(`${opened.reason}: ${opened.message}`);
    expect((await readAll(opened.stream)).equals(bytes)).toBe(true);
    expect(calls).toBe(2);
  });

  it('an origin that stops sending mid-stream: the reader fails with a timeout', async () => {
    const stall: MediaServeDeps['resolve'] = async () => ({
      size: 10 * MEDIA_CHUNK_BYTES,
      read: () =>
        new Readable({
          read() {
            // one chunk, then nothing more, ever
            if (!(this as Readable & { sent?: boolean }).sent) {
              (this as Readable & { sent?: boolean }).sent = true;
              this.push(randomBytes(1000));
            }
          },
        }),
    });
    const { asker } = await linked(stall, { idleTimeoutMs: 300 });
    const opened = await asker.open('origin', REF, { expect: { size: 10 * MEDIA_CHUNK_BYTES, sha256: null } });
    if (!opened.ok) throw new Error(opened.message);
    const err = await readAll(opened.stream).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as MediaStreamError).reason).toBe('timeout');
  });

  it('a request that is not of the protocol (a path instead of a ref) is refused alone; a message without a stream ends the link; the resolver never sees either', async () => {
    let asked = 0;
    const { askerChannel, originChannel, origin } = await linked(async () => {
      asked++;
      return { reason: 'not_found', message: 'x' };
    });
    const answers: unknown[] = [];
    askerChannel.onMessage('media', (m) => answers.push(m));
    await askerChannel.send({ topic: 'media', type: 'open', stream: 7, ref: { kind: 'file', path: '../../../etc/passwd' }, range: null, expect: { size: 1, sha256: null }, window: MEDIA_CHUNK_BYTES });
    await until('the refusal', () => answers.length === 1);
    expect(answers[0]).toMatchObject({ type: 'fail', stream: 7, reason: 'error' });
    expect(origin.stats.failed).toBe(1);
    expect(originChannel.isOpen).toBe(true);

    const closed = new Promise<string>((r) => originChannel.onClose(r));
    await askerChannel.send({ topic: 'media', type: 'credit', bytes: 'all of them' });
    expect(await closed).toMatch(/malformed media message|1007|closed/);
    expect(asked).toBe(0);
  });
});
