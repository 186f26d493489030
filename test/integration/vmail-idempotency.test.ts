/**
 * Deposits with an Idempotency-Key: a media server that lost the answer (a timeout, a cut
 * connection, the service killed after its commit) deposits again with the same key, and the
 * mailbox ends with the message once. The key is part of the message's change-log entry, so the
 * retry finds it across a kill -9 too. Real service processes, real sockets, real data directories.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prng } from '../support/cdr-factory.js';
import { eventually } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { filesUnder, makeWav, multipartBody, rawRequest, vmailClient, type DepositFields } from '../support/vmail.js';

const DOMAIN = 'office.example';
type Client = ReturnType<typeof vmailClient>;

function deposit(c: Client, box: string, wav: Buffer, fields: DepositFields, key?: string) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('audio', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'message.wav');
  return c.call('POST', `/${box}/messages`, { body: form, headers: key === undefined ? {} : { 'idempotency-key': key } });
}

/** A deposit whose body is sent in two parts: the first now, the rest when `finish` is called. */
function slowDeposit(url: string, token: string, box: string, wav: Buffer, key: string) {
  const { body, contentType } = multipartBody([{ name: 'callerNumber', value: 'slow' }, { name: 'audio', value: wav, filename: 'slow.wav' }]);
  const { port } = new URL(url);
  const req = request({
    hostname: '127.0.0.1',
    port,
    method: 'POST',
    path: `/api/v1/domains/${DOMAIN}/mailboxes/${box}/messages`,
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': String(body.length), 'idempotency-key': key },
  });
  const answer = new Promise<{ status: number; text: string; replayed: string | undefined }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, replayed: res.headers['idempotent-replayed'] as string | undefined }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, 20_000));
  return { answer, finish: () => req.end(body.subarray(20_000)) };
}

const messageFiles = (svc: RunningTestService, box: string) => filesUnder(join(svc.dataDir, 'vmail', DOMAIN, box)).filter((f) => !f.startsWith('greetings/'));

describe('vmail deposits with an Idempotency-Key', () => {
  it('stores a retried deposit once; refuses the key for another deposit (422), a second try while the first is received (503 with Retry-After), and malformed keys (400)', async () => {
    const svc = await startService();
    try {
      const token = await login(svc);
      const c = vmailClient(svc.url, token);
      expect((await c.createMailbox({ number: '1001', name: 'Reception', maxMessages: 2 })).status).toBe(201);
      expect((await c.createMailbox({ number: '1002', name: 'Sales' })).status).toBe(201);
      const wav = makeWav(0.5);
      const fields = { callerNumber: '100', callerName: 'Ann', urgent: 'true' };

      const first = await deposit(c, '1001', wav, fields, '"8e03978e-40d5-43e8-bc93-6894a57f9324"');
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const id = first.body.id as string;
      // the same deposit again (another multipart envelope, the key bare instead of quoted, urgent as 1)
      const again = await deposit(c, '1001', wav, { ...fields, urgent: '1' }, '8e03978e-40d5-43e8-bc93-6894a57f9324');
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
      expect((await c.list('1001')).body.total).toBe(1);
      expect((await c.json('GET', '/1001/mwi')).body).toMatchObject({ new: 1, urgent: 1 });
      expect(messageFiles(svc, '1001')).toEqual([`${id}.wav`]);

      // a full mailbox still answers the retry of what it holds; a new deposit is refused
      expect((await deposit(c, '1001', makeWav(0.3), {}, 'second')).status).toBe(201);
      expect((await deposit(c, '1001', wav, fields, '8e03978e-40d5-43e8-bc93-6894a57f9324')).body.id).toBe(id);
      expect((await deposit(c, '1001', makeWav(0.3), {}, 'third')).status).toBe(409);

      // the key of another deposit: other audio, or other fields
      const otherAudio = await deposit(c, '1001', makeWav(0.5), fields, '8e03978e-40d5-43e8-bc93-6894a57f9324');
      expect(otherAudio.status).toBe(422);
      expect(otherAudio.body.error).toMatchObject({ code: 'conflict', details: [{ path: '/Idempotency-Key', message: expect.stringContaining(id) }] });
      expect(otherAudio.body.error.message).toMatch(/used for another deposit into mailbox 1001 .* differs in the audio\. /);
      const otherCaller = await deposit(c, '1001', wav, { ...fields, callerNumber: '101' }, '8e03978e-40d5-43e8-bc93-6894a57f9324');
      expect(otherCaller.status).toBe(422);
      expect(otherCaller.body.error.message).toMatch(/differs in callerNumber\./);
      // a retry whose audio is not a WAV is refused for that, as any deposit
      const broken = await deposit(c, '1001', Buffer.from('RIFF nonsense'), fields, '8e03978e-40d5-43e8-bc93-6894a57f9324');
      expect(broken.status).toBe(400);
      expect(broken.body.error.message).toMatch(/not an acceptable WAV/);
      // the key's scope is the mailbox: the same key elsewhere is another deposit
      const elsewhere = await deposit(c, '1002', wav, fields, '8e03978e-40d5-43e8-bc93-6894a57f9324');
      expect(elsewhere.status).toBe(201);
      expect(elsewhere.body.id).not.toBe(id);
      // nothing of the refused ones was kept
      expect(messageFiles(svc, '1001')).toHaveLength(2);
      expect((await c.list('1001')).body.total).toBe(2);

      // without a key, every deposit is a message of its own
      const plain = [await deposit(c, '1002', wav, fields), await deposit(c, '1002', wav, fields)];
      expect(plain.map((p) => p.status)).toEqual([201, 201]);
      expect(plain[0]?.body.id).not.toBe(plain[1]?.body.id);

      // a soft-deleted message is still the deposit's answer (as it is now); a purged one is gone with its key
      expect((await c.json('DELETE', `/1002/messages/${elsewhere.body.id as string}`)).status).toBe(204);
      const deleted = await deposit(c, '1002', wav, fields, '8e03978e-40d5-43e8-bc93-6894a57f9324');
      expect(deleted.body).toMatchObject({ id: elsewhere.body.id, folder: 'deleted' });
      expect(deleted.headers.get('idempotent-replayed')).toBe('true');
      expect((await c.json('DELETE', `/1002/messages/${elsewhere.body.id as string}?purge=true`)).status).toBe(204);
      const afterPurge = await deposit(c, '1002', wav, fields, '8e03978e-40d5-43e8-bc93-6894a57f9324');
      expect(afterPurge.status).toBe(201);
      expect(afterPurge.headers.get('idempotent-replayed')).toBeNull();
      expect(afterPurge.body.id).not.toBe(elsewhere.body.id);

      // a second try while the first is still being received: 503 with Retry-After (a temporary
      // condition, not a conflict of the request), then the retry finds the first
      const slowWav = makeWav(2);
      const slow = slowDeposit(svc.url, token, '1002', slowWav, 'slow-one');
      await eventually(async () => messageFiles(svc, '1002').some((f) => f.endsWith('.tmp')), 20_000, 'the temp file of the slow deposit');
      const busy = await deposit(c, '1002', slowWav, { callerNumber: 'slow' }, 'slow-one');
      expect(busy.status).toBe(503);
      expect(busy.body.error.code).toBe('unavailable');
      expect(busy.body.error.details).toEqual([{ path: '/Idempotency-Key', message: 'belongs to a deposit under way' }]);
      expect(busy.headers.get('retry-after')).toBe('1');
      expect(busy.body.error.message).toMatch(/still being received/);
      slow.finish();
      const slowAnswer = await slow.answer;
      expect(slowAnswer.status, slowAnswer.text).toBe(201);
      const retried = await deposit(c, '1002', slowWav, { callerNumber: 'slow' }, 'slow-one');
      expect(retried.status).toBe(201);
      expect(retried.body.id).toBe((JSON.parse(slowAnswer.text) as { id: string }).id);

      // malformed keys: 400 with the header's path, nothing stored
      const before = (await c.list('1002', '?folder=inbox')).body.total as number;
      for (const [what, key] of [
        ['empty', ''],
        ['too long', 'k'.repeat(256)],
        ['with a space', 'two words'],
        ['an unclosed quote', '"open'],
        ['a backslash', 'a\\b'],
        ['not ASCII', 'clé'],
      ] as const) {
        const form = multipartBody([{ name: 'audio', value: wav, filename: 'a.wav' }]);
        const res = await rawRequest(svc.url, 'POST', `/api/v1/domains/${DOMAIN}/mailboxes/1002/messages`, { authorization: `Bearer ${token}`, 'content-type': form.contentType, 'idempotency-key': key }, form.body);
        expect(res.status, what).toBe(400);
        const error = (JSON.parse(res.text) as { error: { message: string; details: { path: string }[] } }).error;
        expect(error.details[0]?.path, what).toBe('/Idempotency-Key');
        expect(error.message, what).toMatch(/^A request header is invalid: \/Idempotency-Key must match pattern /);
      }
      // sent twice: the two are one header of two values, which is no key
      const twice = await deposit(c, '1002', wav, fields, 'a, b');
      expect(twice.status).toBe(400);
      expect((await c.list('1002', '?folder=inbox')).body.total).toBe(before);
      // the longest key is taken
      expect((await deposit(c, '1002', wav, fields, 'k'.repeat(255))).status).toBe(201);

      const metrics = await (await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      expect(metrics).toMatch(/sitecall_vmail_deposits_total\{result="replayed",app="sitecall"\} 4\n/);
      expect(metrics).toMatch(/sitecall_vmail_deposits_total\{result="key_reused",app="sitecall"\} 2\n/);
      expect(metrics).toMatch(/sitecall_vmail_deposits_total\{result="key_busy",app="sitecall"\} 1\n/);
    } finally {
      await svc.stop();
    }
  }, 120_000);

  it('answers a retry after a kill -9 with the message its first try stored: every key one message, across seeded kills under load', async () => {
    let running = await startService();
    const dataDir = running.dataDir;
    try {
      let c = vmailClient(running.url, await login(running));
      expect((await c.createMailbox({ number: '1001', name: 'Reception', maxMessages: 1000 })).status).toBe(201);
      /** the message id each key was answered with */
      const answered = new Map<string, string>();
      const wavs = new Map<string, Buffer>();
      const next = prng(16);
      const rand = (n: number) => Math.floor(next() * n);
      for (let round = 1; round <= 3; round++) {
        const keys = Array.from({ length: 12 }, (_, i) => `round${round}-deposit${i}`);
        for (const k of keys) wavs.set(k, makeWav(0.2 + rand(3) * 0.1));
        const fieldsOf = (k: string) => ({ callerNumber: k });
        // deposits four at a time; the service is killed after a seeded number of answers, with others in flight
        const killAfter = 1 + rand(8);
        let acks = 0;
        let killing: Promise<void> | undefined;
        const queue = [...keys];
        const worker = async () => {
          for (let k = queue.shift(); k !== undefined && killing === undefined; k = queue.shift()) {
            const res = await deposit(c, '1001', wavs.get(k) as Buffer, fieldsOf(k), k).catch(() => undefined);
            if (res?.status !== 201) continue;
            answered.set(k, res.body.id as string);
            if (++acks === killAfter) killing = running.kill();
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        await killing;
        running = await startService({ dataDir });
        c = vmailClient(running.url, await login(running));
        // what the media server does: every deposit of the round again, with its key, until it is answered 201
        let replayed = 0;
        for (const k of keys) {
          const res = await eventually(async () => {
            const r = await deposit(c, '1001', wavs.get(k) as Buffer, fieldsOf(k), k);
            if (r.status === 503) return undefined;
            if (r.status !== 201) throw new Error(`${k}: ${r.status} ${JSON.stringify(r.body)}`);
            return r;
          }, 20_000, `the deposit ${k}`);
          if (res.headers.get('idempotent-replayed') === 'true') replayed++;
          const earlier = answered.get(k);
          if (earlier !== undefined) {
            expect(res.body.id, `${k}, answered before kill ${round}`).toBe(earlier);
            expect(res.headers.get('idempotent-replayed')).toBe('true');
          }
          answered.set(k, res.body.id as string);
        }
        console.log(`[idempotency kill ${round}] killed after ${killAfter} answers; ${replayed} of ${keys.length} retries answered with the message stored before the kill`);
        expect(replayed).toBeGreaterThanOrEqual(killAfter);
        const list = (await c.list('1001', '?limit=500')).body as { total: number; items: { id: string; callerNumber: string }[] };
        expect(list.total, `messages after kill ${round}`).toBe(answered.size);
        expect(new Set(list.items.map((m) => m.callerNumber)).size).toBe(answered.size);
        expect(new Set(list.items.map((m) => m.id))).toEqual(new Set(answered.values()));
        // and the audio is the deposit's
        const one = keys[rand(keys.length)] as string;
        expect((await c.audio('1001', answered.get(one) as string)).bytes.equals(wavs.get(one) as Buffer)).toBe(true);
      }
    } finally {
      await running.stop();
    }
  }, 300_000);
});

