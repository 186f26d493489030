import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { guarded } from '../../service/api/ws.js';

/** A real server and client on loopback; the server side's listener is the one under test. */
async function pair(): Promise<{ server: WebSocket; client: WebSocket; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const { port } = wss.address() as { port: number };
  const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => client.once('open', r));
  return { server: await serverSide, client, wss };
}

function capturingLog() {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
  return { log, lines };
}

describe('a WebSocket listener that fails', () => {
  let open: { wss: WebSocketServer; client: WebSocket } | undefined;
  afterEach(async () => {
    open?.client.terminate();
    await new Promise((r) => open?.wss.close(r));
    open = undefined;
  });

  const cases = [
    ['throws', () => {
      throw new Error('a bug in the handler');
    }],
    ['rejects', async () => {
      await Promise.resolve();
      throw new Error('a bug after an await');
    }],
  ] as const;

  for (const [how, listener] of cases) {
    it(`closes only its own socket with 1011 when it ${how}, and logs the fault once`, async () => {
      const { server, client, wss } = await pair();
      open = { wss, client };
      const { log, lines } = capturingLog();
      const uncaught: unknown[] = [];
      const onUncaught = (err: unknown) => uncaught.push(err);
      process.on('uncaughtException', onUncaught);
      process.on('unhandledRejection', onUncaught);
      try {
        server.on('message', guarded(server, log, 'taking in a message', listener));
        const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
        client.send('hello');
        expect(await closed).toBe(1011);
        expect(uncaught).toEqual([]);
        expect(lines.filter((l) => l.includes('WebSocket failed while taking in a message'))).toHaveLength(1);
      } finally {
        process.off('uncaughtException', onUncaught);
        process.off('unhandledRejection', onUncaught);
      }
    });
  }
});
