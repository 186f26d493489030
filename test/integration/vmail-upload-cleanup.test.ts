/**
 * Every way an upload can be refused leaves nothing behind: no temp file in the store when the
 * answer arrives, and the service process's open file descriptors (counted in /proc/<pid>/fd)
 * back to what they were (the SQLite files of other parts aside). Each request goes on a connection of its own that the service closes
 * after answering (Connection: close), so the socket does not count against the baseline.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { filesUnder, makeWav, multipartBody, vmailClient } from '../support/vmail.js';

const DOMAIN = 'office.example';

interface Upload {
  path: string;
  contentType: string;
  body: Buffer;
  /** send only this many bytes, wait for the temp file to appear, then cut the connection */
  abortAfter?: number;
  /** Content-Length to announce instead of the body's */
  contentLength?: number;
}

describe('vmail uploads clean up after every refusal', () => {
  let svc: RunningTestService;
  let token: string;
  let store: string;

  /**
   * The service process's open descriptors: number → what it points at. SQLite files are left out:
   * the callstore's journal checkpointer (a thread) opens its WAL when it first needs it, at a time
   * of its own, and no upload touches SQLite.
   */
  const openFds = (): Map<string, string> => {
    const open = new Map<string, string>();
    for (const fd of readdirSync(`/proc/${svc.proc.pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${svc.proc.pid}/fd/${fd}`);
        if (!/\.sqlite(-wal|-shm|-journal)?$/.test(target)) open.set(fd, target);
      } catch {
        // closed between the listing and the look
      }
    }
    return open;
  };
  /** descriptors open now that were not open (as the same thing) in `before` */
  const openedSince = (before: Map<string, string>, now: Map<string, string> = openFds()) => [...now].filter(([fd, target]) => before.get(fd) !== target).map(([fd, target]) => `${fd} → ${target}`);
  const tempFiles = () => filesUnder(store).filter((f) => f.endsWith('.tmp'));

  /** Sends one upload on its own connection; resolves with the status (0 when cut before an answer). */
  function send(u: Upload): Promise<{ status: number; body: string }> {
    const { port } = new URL(svc.url);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          hostname: '127.0.0.1',
          port,
          method: u.path.includes('/greetings/') ? 'PUT' : 'POST',
          path: u.path,
          agent: false,
          headers: { authorization: `Bearer ${token}`, connection: 'close', 'content-type': u.contentType, 'content-length': String(u.contentLength ?? u.body.length) },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      if (u.abortAfter === undefined) {
        req.on('error', reject);
        req.end(u.body);
        return;
      }
      req.on('error', () => resolve({ status: 0, body: '' }));
      req.write(u.body.subarray(0, u.abortAfter));
      eventually(async () => tempFiles().length > 0, 10_000, 'the temp file of the upload').then(
        () => req.destroy(),
        (err: unknown) => {
          req.destroy();
          reject(err);
        },
      );
    });
  }

  const deposit = (box: string) => `/api/v1/domains/${DOMAIN}/mailboxes/${box}/messages`;
  const greeting = (box: string, kind: string) => `/api/v1/domains/${DOMAIN}/mailboxes/${box}/greetings/${kind}`;
  const form = (parts: Parameters<typeof multipartBody>[0]) => multipartBody(parts);
  const audio = (wav: Buffer = makeWav(1)) => ({ name: 'audio', value: wav, filename: 'a.wav' });
  const long = 'x'.repeat(5000);

  beforeAll(async () => {
    svc = await startService();
    token = await login(svc);
    store = join(svc.dataDir, 'vmail');
    const client = vmailClient(svc.url, token);
    expect((await client.createMailbox({ number: '1001', name: 'Reception' })).status).toBe(201);
    expect((await client.createMailbox({ number: 'short', name: 'Short', maxMessageSeconds: 1 })).status).toBe(201);
    expect((await client.createMailbox({ number: 'full', name: 'Full', maxMessages: 1 })).status).toBe(201);
    // a deposit and a refusal first, so that what the process opens once (thread pool, files) is open for the baseline
    const ok = form([audio()]);
    expect((await send({ path: deposit('full'), contentType: ok.contentType, body: ok.body })).status).toBe(201);
    const refused = form([audio(Buffer.from('not a wav'))]);
    expect((await send({ path: deposit('1001'), contentType: refused.contentType, body: refused.body })).status).toBe(400);
  });

  afterAll(async () => {
    await svc?.stop();
  });

  const wav = makeWav(2);
  const cases: [string, () => Upload, number][] = [
    ['a text field over 4 KiB after the file', () => ({ path: deposit('1001'), ...form([audio(wav), { name: 'callerName', value: long }]) }), 400],
    ['a text field over 4 KiB before the file', () => ({ path: deposit('1001'), ...form([{ name: 'callerName', value: long }, audio(wav)]) }), 400],
    ['a repeated field after the file', () => ({ path: deposit('1001'), ...form([{ name: 'callId', value: 'a' }, audio(wav), { name: 'callId', value: 'b' }]) }), 400],
    ['an unknown field', () => ({ path: deposit('1001'), ...form([audio(wav), { name: 'color', value: 'red' }]) }), 400],
    ['a field with control characters', () => ({ path: deposit('1001'), ...form([audio(wav), { name: 'callerName', value: 'Evil\r\nBcc: x' }]) }), 400],
    ['too many fields after the file', () => ({ path: deposit('1001'), ...form([audio(wav), ...Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, value: 'v' }))]) }), 400],
    ['a second file after the first', () => ({ path: deposit('1001'), ...form([audio(wav), { name: 'audio2', value: wav, filename: 'b.wav' }]) }), 400],
    ['the file in the wrong field', () => ({ path: deposit('1001'), ...form([{ name: 'file', value: wav, filename: 'a.wav' }]) }), 400],
    ['not a WAV', () => ({ path: deposit('1001'), ...form([audio(Buffer.from('ID3 an mp3, honest'))]) }), 400],
    ['a truncated WAV', () => ({ path: deposit('1001'), ...form([audio(wav.subarray(0, wav.length - 300))]) }), 400],
    ['a WAV longer than the mailbox takes', () => ({ path: deposit('short'), ...form([audio(makeWav(3))]) }), 413],
    [
      'a WAV whose header admits more than 20 MiB',
      () => {
        const huge = makeWav(0.2);
        huge.writeUInt32LE(36 + 30 * 1024 * 1024, 4);
        huge.writeUInt32LE(30 * 1024 * 1024, 40);
        return { path: deposit('1001'), ...form([audio(huge)]) };
      },
      413,
    ],
    ['a Content-Length over the limit', () => ({ path: deposit('1001'), ...form([audio(wav)]), contentLength: 25 * 1024 * 1024 }), 413],
    ['a full mailbox', () => ({ path: deposit('full'), ...form([audio(wav)]) }), 409],
    ['an unknown mailbox', () => ({ path: deposit('9999'), ...form([audio(wav)]) }), 404],
    ['a multipart body without a boundary', () => ({ path: deposit('1001'), contentType: 'multipart/form-data', body: Buffer.from('junk') }), 400],
    ['a client that goes away in the middle of the file', () => ({ path: deposit('1001'), ...form([audio(makeWav(10))]), abortAfter: 60_000 }), 0],
    [
      'a client that goes away after the whole file, before the end of the form',
      () => {
        const f = form([audio(makeWav(1)), { name: 'callerName', value: 'Ann' }]);
        return { path: deposit('1001'), ...f, abortAfter: f.body.length - 20 };
      },
      0,
    ],
    ['a greeting with a text field over 4 KiB after the file', () => ({ path: greeting('1001', 'busy'), ...form([audio(wav), { name: 'note', value: long }]) }), 400],
    ['a raw greeting that is not a WAV', () => ({ path: greeting('1001', 'busy'), contentType: 'audio/wav', body: Buffer.from('RIFFjunkjunkjunk') }), 400],
    ['a raw greeting the client abandons', () => ({ path: greeting('1001', 'busy'), contentType: 'audio/wav', body: makeWav(10), abortAfter: 60_000 }), 0],
  ];

  it.each(cases)('%s', async (_what, upload, status) => {
    // the baseline: what is open just before, once the last request's connection has closed
    const before = await eventually(async () => {
      const a = openFds();
      await new Promise((r) => setTimeout(r, 100));
      const b = openFds();
      return a.size === b.size && [...a].every(([fd, t]) => b.get(fd) === t) ? b : undefined;
    }, 10_000, 'a steady set of open descriptors');
    const answer = await send(upload());
    expect(answer.status, answer.body).toBe(status);
    if (status !== 0) {
      // cleaned up before the answer was sent
      expect(tempFiles()).toEqual([]);
    } else {
      await eventually(async () => tempFiles().length === 0, 10_000, 'the temp file removed after the client left');
    }
    expect([...openFds().values()].filter((t) => t.includes('.tmp'))).toEqual([]);
    // The connection's socket closes a moment after the answer. Both checks read one listing: the
    // service opens files of its own now and then (a store's fsync at its position save), and a
    // second listing taken a moment later can catch one of those open.
    const settled = await eventually(
      async () => {
        const now = openFds();
        return openedSince(before, now).length === 0 && now.size <= before.size ? now : undefined;
      },
      10_000,
      'the open descriptors back to the baseline',
    ).catch(() => openFds());
    expect(openedSince(before, settled)).toEqual([]);
    expect(settled.size).toBeLessThanOrEqual(before.size);
  });

  it('still takes a deposit', async () => {
    const ok = form([audio(wav), { name: 'callerName', value: 'Ann' }]);
    expect((await send({ path: deposit('1001'), contentType: ok.contentType, body: ok.body })).status).toBe(201);
    expect(tempFiles()).toEqual([]);
  });
});
