import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '../service/logger.js';
import { channelOverWebSocket } from '../service/sync/channel.js';
import { MediaHub } from '../service/sync/media.js';
import type { BenchOptions, Row } from './types.js';

export const name = 'media';
export const description =
  'Remote voicemail playback: a 20 MiB WAV streamed from its origin site through the media protocol (base64 chunks in JSON over a loopback WebSocket, credit flow control, the SHA-256 checked on the whole file), MB/s and CPU ms per MB of both processes’ work in one; baseline: the same file read from the local store into the same sink';

function log(msg: string): void {
  console.error(`[media] ${msg}`);
}

/** A sink that takes everything at once (what a fast client on loopback is). */
const sink = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

async function timed(work: () => Promise<void>): Promise<{ seconds: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuMs: (used.user + used.system) / 1000 };
}

export async function run(opts: BenchOptions): Promise<Row[]> {
  const mb = opts.quick ? 4 : 20;
  const rounds = opts.quick ? 2 : 5;
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-bench-media-'));
  const bytes = randomBytes(mb * 1024 * 1024);
  const file = join(dir, 'message.wav');
  writeFileSync(file, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const id = '11111111-2222-4333-8444-555555555555';

  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => server.once('listening', () => r()));
  const accepted = new Promise<WebSocket>((r) => server.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await new Promise<void>((r, j) => {
    client.once('open', () => r());
    client.once('error', j);
  });
  const serverSide = await accepted;
  const logger = createLogger('silent');
  const asker = new MediaHub({ resolve: async () => ({ reason: 'not_found', message: 'none' }), logger });
  const origin = new MediaHub({ resolve: async () => ({ size: bytes.length, read: (range) => createReadStream(file, range ?? {}) }), logger });
  asker.attach(channelOverWebSocket(client, 'origin'));
  origin.attach(channelOverWebSocket(serverSide, 'asker'));

  const remote: { seconds: number; cpuMs: number }[] = [];
  const local: { seconds: number; cpuMs: number }[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      local.push(await timed(() => pipeline(createReadStream(file), sink())));
      remote.push(
        await timed(async () => {
          const opened = await asker.open('origin', { kind: 'vmail-message', id }, { expect: { size: bytes.length, sha256 } });
          if (!opened.ok) throw new Error(opened.message);
          await pipeline(opened.stream as Readable, sink());
        }),
      );
      log(`round ${i + 1}: local ${(mb / (local.at(-1)?.seconds ?? 1)).toFixed(0)} MB/s, remote ${(mb / (remote.at(-1)?.seconds ?? 1)).toFixed(0)} MB/s`);
    }
  } finally {
    client.terminate();
    serverSide.terminate();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
  // the median round of each
  const median = (xs: { seconds: number; cpuMs: number }[], key: 'seconds' | 'cpuMs') => [...xs.map((x) => x[key])].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const remoteMbps = mb / median(remote, 'seconds');
  const localMbps = mb / median(local, 'seconds');
  return [
    { name: `remote playback of ${mb} MiB, whole (MB/s)`, figure: remoteMbps, unit: 'MB/s', baseline: localMbps, baselineName: 'the local store read' },
    { name: `remote playback CPU per MiB (both sites)`, figure: median(remote, 'cpuMs') / mb, unit: 'ms/MiB', baseline: median(local, 'cpuMs') / mb, baselineName: 'the local store read', note: 'base64 in JSON, SHA-256, two WebSocket ends in one process' },
    { name: `a 5-minute 8 kHz message (4.8 MB) from the origin`, figure: (4.8 / remoteMbps) * 1000, unit: 'ms', note: 'at the measured rate' },
  ];
}
