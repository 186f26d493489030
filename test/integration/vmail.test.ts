import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveMessage } from '../../shared/api/live.js';
import { apiClient } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { filesUnder, makeWav, multipartBody, rawRequest, vmailClient } from '../support/vmail.js';

const DOMAIN = 'office.example';

describe('the vmail API', () => {
  let svc: RunningTestService;
  let adminToken: string;
  let vmailToken: string;
  let admin: ReturnType<typeof vmailClient>;
  let media: ReturnType<typeof vmailClient>;
  let siteId: string;
  let store: string;

  /** files of a mailbox directory in the store */
  const boxFiles = (box: string, domain = DOMAIN) => filesUnder(join(store, domain, box));

  beforeAll(async () => {
    svc = await startService();
    adminToken = await login(svc);
    const api = apiClient(svc.url, adminToken);
    const config = (await api.get('/api/v1/config/roles')).body;
    const saved = await api.put('/api/v1/config/roles', {
      revision: config.revision,
      instances: [cs(), vm({ include_domains: [DOMAIN, 'branch.example'], ext: { purge_interval_seconds: 1 } })],
    });
    expect(saved.status).toBe(200);
    vmailToken = (await api.post('/api/v1/tokens', { name: 'media', scopes: ['vmail'] })).body.token;
    siteId = (await api.get('/api/v1/status')).body.site.id;
    admin = vmailClient(svc.url, adminToken);
    media = vmailClient(svc.url, vmailToken);
    store = join(svc.dataDir, 'vmail');
    for (const [number, over] of [
      ['1001', { pin: '2468' }],
      ['1002', {}],
      ['full', { maxMessages: 2 }],
      ['short', { maxMessageSeconds: 5 }],
    ] as const) {
      expect((await admin.createMailbox({ number, name: `Box ${number}`, ...over })).status).toBe(201);
    }
  });
  afterAll(async () => {
    expect(await svc.stop()).toBe(0);
  });

  describe('mailboxes', () => {
    it('creates, reads, lists, changes and deletes a mailbox; the PIN is never returned', async () => {
      const created = await admin.createMailbox({ number: '2001', name: 'Sales', pin: '123456', email: 'sales@office.example', maxMessages: 50, maxMessageSeconds: 120, retentionDays: 7, notify: 'link' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        domain: DOMAIN,
        number: '2001',
        name: 'Sales',
        email: 'sales@office.example',
        hasPin: true,
        pinLockedUntil: null,
        maxMessages: 50,
        maxMessageSeconds: 120,
        retentionDays: 7,
        notify: 'link',
        greetings: { unavailable: null, busy: null, temporary: null, name: null },
        counts: { new: 0, saved: 0, deleted: 0, urgent: 0 },
      });
      expect(created.bytes.toString()).not.toMatch(/scrypt|123456|pinHash/);

      const got = await media.json('GET', '/2001');
      expect(got.body).toEqual(created.body);
      const list = await media.json('GET', '');
      expect(list.body.items.map((m: { number: string }) => m.number)).toEqual(['full', 'short', '1001', '1002', '2001'].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })));
      expect(list.bytes.toString()).not.toMatch(/scrypt/);

      const patched = await admin.json('PATCH', '/2001', { name: 'Sales team', pin: null, notify: 'none', email: null });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name: 'Sales team', hasPin: false, notify: 'none', email: null, maxMessages: 50 });

      expect((await admin.json('DELETE', '/2001')).status).toBe(204);
      expect((await admin.json('GET', '/2001')).status).toBe(404);
      expect((await admin.json('DELETE', '/2001')).status).toBe(404);
    });

    it('refuses a duplicate number, also in another case, and invalid settings with details', async () => {
      expect((await admin.createMailbox({ number: '1001', name: 'Again' })).status).toBe(409);
      await admin.createMailbox({ number: 'Front', name: 'Front desk' });
      const clash = await admin.createMailbox({ number: 'FRONT', name: 'Shouting' });
      expect(clash.status).toBe(409);
      expect(clash.body.error.message).toMatch(/unique ignoring case/);
      const bad = await admin.createMailbox({ number: '1/2', name: '', pin: '12', email: 'not-an-email', maxMessages: 0, notify: 'sms', extra: 1 });
      expect(bad.status).toBe(400);
      expect([...new Set(bad.body.error.details.map((d: { path: string }) => d.path))].sort()).toEqual(['/email', '/extra', '/maxMessages', '/name', '/notify', '/number', '/pin'].sort());
      expect((await admin.json('PATCH', '/1002', {})).status).toBe(400);
    });

    it('needs admin to manage mailboxes, vmail to use them, and a credential for anything', async () => {
      expect((await media.createMailbox({ number: '3001', name: 'x' })).status).toBe(403);
      expect((await media.json('PATCH', '/1002', { name: 'x' })).status).toBe(403);
      expect((await media.json('DELETE', '/1002')).status).toBe(403);
      const events = (await apiClient(svc.url, adminToken).post('/api/v1/tokens', { name: 'pbx', scopes: ['events', 'read'] })).body.token;
      const pbx = vmailClient(svc.url, events);
      expect((await pbx.deposit('1002', makeWav(1))).status).toBe(403);
      expect((await pbx.list('1002')).status).toBe(403);
      expect((await fetch(`${admin.base()}/1002/messages`)).status).toBe(401);
    });

    it('routes by domain: a domain no vmail group serves is refused with a clear error', async () => {
      const r = await admin.json('GET', `${admin.base('other.example')}`);
      expect(r.status).toBe(404);
      expect(r.body.error.message).toMatch(/No vmail group serves the domain other\.example/);
      expect((await admin.deposit('1001', makeWav(1), {}, 'other.example')).status).toBe(404);
      // the group serves subdomains, case-insensitively
      expect((await admin.json('GET', admin.base('Sub.Office.Example.'))).status).toBe(200);
    });
  });

  describe('deposits', () => {
    it.each([
      ['16-bit PCM at 8 kHz', 'pcm_s16le', 8000, 2.5],
      ['16-bit PCM at 16 kHz', 'pcm_s16le', 16000, 1.5],
      ['G.711 mu-law', 'mulaw', 8000, 3],
      ['G.711 A-law', 'alaw', 8000, 2],
    ] as const)('stores %s with the duration from its header and the design’s metadata', async (_what, encoding, rate, seconds) => {
      const wav = makeWav(seconds, encoding, rate);
      const r = await media.deposit('1002', wav, { callerNumber: '+15551234', callerName: 'Ann Caller', callId: 'call-abc@pbx', urgent: 'true' });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        domain: DOMAIN,
        mailbox: '1002',
        folder: 'new',
        urgent: true,
        callerName: 'Ann Caller',
        callerNumber: '+15551234',
        callId: 'call-abc@pbx',
        createdAt: expect.any(String),
        readAt: null,
        deletedAt: null,
        durationMs: seconds * 1000,
        format: { encoding, sampleRate: rate, channels: 1 },
        originSite: siteId,
        storage: { handler: 'fs', key: `${DOMAIN}/1002/${r.body.id}.wav`, size: wav.length, contentType: 'audio/wav', sha256: createHash('sha256').update(wav).digest('hex') },
        forwardedFrom: null,
        audioMissing: false,
        available: true,
      });
      expect(readFileSync(join(store, DOMAIN, '1002', `${r.body.id}.wav`)).equals(wav)).toBe(true);
      expect(boxFiles('1002').filter((f) => f.startsWith('.'))).toEqual([]);
    });

    it('ignores a client filename that tries to leave the store', async () => {
      const { body, contentType } = multipartBody([{ name: 'audio', value: makeWav(1), filename: '../../../../evil.wav' }]);
      const r = await media.call('POST', '/1002/messages', { body: new Uint8Array(body), headers: { 'content-type': contentType } });
      expect(r.status).toBe(201);
      expect(r.body.storage.key).toBe(`${DOMAIN}/1002/${r.body.id}.wav`);
      expect(existsSync(join(svc.dataDir, 'evil.wav'))).toBe(false);
      expect(filesUnder(svc.dataDir).some((f) => f.includes('evil'))).toBe(false);
    });

    const refused = async (box: string, upload: () => Promise<{ status: number; body: any }>, status: number, message: RegExp) => {
      const before = boxFiles(box);
      const r = await upload();
      expect(r.status).toBe(status);
      expect(r.body.error.message).toMatch(message);
      expect(boxFiles(box)).toEqual(before);
    };

    it('refuses what is not a WAV, a truncated WAV and a WAV that lies about its length, storing nothing', async () => {
      await refused('1002', () => media.deposit('1002', Buffer.from('ID3 this is an MP3, honest')), 400, /not an acceptable WAV: The audio is not a WAV file/);
      const wav = makeWav(2);
      await refused('1002', () => media.deposit('1002', wav.subarray(0, wav.length - 500)), 400, /truncated: its header announces 32044 bytes/);
      const lying = Buffer.from(makeWav(30));
      lying.writeUInt32LE(36 + 16000, 4); // RIFF: 1 s
      lying.writeUInt32LE(16000, 40); // data: 1 s, with 30 s following
      await refused('1002', () => media.deposit('1002', lying), 400, /goes on after the 16044 bytes its RIFF header announces/);
      const rate = Buffer.from(makeWav(2));
      rate.writeUInt32LE(1000, 28); // byte rate that would make 2 s look like 32 s
      await refused('1002', () => media.deposit('1002', rate), 400, /byte rate is 1000/);
    });

    it('refuses a message longer than the mailbox allows as soon as the header arrives', async () => {
      await refused('short', () => media.deposit('short', makeWav(6)), 413, /lasts 6\.0 s; mailbox short takes messages of at most 5 s/);
      expect((await media.deposit('short', makeWav(5))).status).toBe(201);
    });

    it('refuses an oversized upload (limit 20 MiB) by its length and while it streams', async () => {
      await refused('1002', () => media.deposit('1002', Buffer.alloc(21 * 1024 * 1024)), 413, /larger than the limit of 20971520 bytes/);
      // chunked, with a header that admits its true size: cut off at the header
      const huge = makeWav(0.1);
      huge.writeUInt32LE(36 + 30 * 1024 * 1024, 4);
      huge.writeUInt32LE(30 * 1024 * 1024, 40);
      const { body, contentType } = multipartBody([{ name: 'audio', value: huge, filename: 'a.wav' }]);
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(new Uint8Array(body));
          c.close();
        },
      });
      await refused('1002', () => media.call('POST', '/1002/messages', { body: stream, headers: { 'content-type': contentType } }), 413, /larger than the limit/);
    });

    it('refuses a deposit to a full mailbox before reading it, and counts deposits under way', async () => {
      const results = await Promise.all([1, 2, 3, 4].map(() => media.deposit('full', makeWav(1))));
      expect(results.map((r) => r.status).sort()).toEqual([201, 201, 409, 409]);
      await refused('full', () => media.deposit('full', makeWav(1)), 409, /Mailbox full is full: it holds 2 of 2 messages/);
      // deleted messages do not count
      const id = results.find((r) => r.status === 201)?.body.id;
      expect((await media.json('DELETE', `/full/messages/${id}`)).status).toBe(204);
      expect((await media.deposit('full', makeWav(1))).status).toBe(201);
    });

    it('refuses a deposit to an unknown mailbox, a missing file, a wrong content type and bad fields', async () => {
      const unknown = await media.deposit('9999', makeWav(1));
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.message).toBe(`No mailbox 9999 in ${DOMAIN}.`);
      expect(existsSync(join(store, DOMAIN, '9999'))).toBe(false);
      const noFile = multipartBody([{ name: 'callerNumber', value: '1' }]);
      expect((await media.call('POST', '/1002/messages', { body: new Uint8Array(noFile.body), headers: { 'content-type': noFile.contentType } })).body.error.message).toMatch(/no file in the field "audio"/);
      const wrongField = multipartBody([{ name: 'file', value: makeWav(1), filename: 'a.wav' }]);
      expect((await media.call('POST', '/1002/messages', { body: new Uint8Array(wrongField.body), headers: { 'content-type': wrongField.contentType } })).body.error.message).toMatch(/must be in the form field "audio", not "file"/);
      const json = await media.json('POST', '/1002/messages', { audio: 'x' });
      expect(json.status).toBe(400);
      expect(json.body.error.message).toMatch(/multipart\/form-data/);
      await refused('1002', () => media.deposit('1002', makeWav(1), { callerName: 'Evil\r\nBcc: x@y', urgent: 'maybe' }), 400, /The form is invalid: \/callerName must match pattern/);
      const extra = multipartBody([{ name: 'color', value: 'red' }, { name: 'audio', value: makeWav(1), filename: 'a.wav' }]);
      const r = await media.call('POST', '/1002/messages', { body: new Uint8Array(extra.body), headers: { 'content-type': extra.contentType } });
      expect(r.status).toBe(400);
      expect(r.body.error.details).toEqual([{ path: '/color', message: 'is not a known field' }]);
    });

    it.each([
      ['a ../ in the mailbox', 'POST', `/api/v1/domains/${DOMAIN}/mailboxes/..%2F..%2F..%2Fetc/messages`],
      ['a NUL in the mailbox', 'POST', `/api/v1/domains/${DOMAIN}/mailboxes/10%0002/messages`],
      ['an encoded slash in the mailbox', 'GET', `/api/v1/domains/${DOMAIN}/mailboxes/1002%2F..%2F1001/messages`],
      ['encoded dots as the domain', 'GET', '/api/v1/domains/%2e%2e/mailboxes'],
      ['an encoded traversal as the domain', 'POST', '/api/v1/domains/%2e%2e%2f%2e%2e/mailboxes/1002/messages'],
      ['a traversal as the message id', 'GET', `/api/v1/domains/${DOMAIN}/mailboxes/1002/messages/..%2F..%2F..%2Fdb%2Fusers.db/audio`],
      ['a traversal as the greeting kind', 'GET', `/api/v1/domains/${DOMAIN}/mailboxes/1002/greetings/..%2F..%2Fx`],
      ['a literal ../ in the path', 'GET', `/api/v1/domains/${DOMAIN}/mailboxes/1002/messages/../../../../db/users.db`],
      ['a literal %2e%2e in the path', 'GET', `/api/v1/domains/${DOMAIN}/mailboxes/%2e%2e/messages`],
    ])('refuses %s', async (_what, method, path) => {
      const body = method === 'POST' ? multipartBody([{ name: 'audio', value: makeWav(1), filename: 'a.wav' }]) : undefined;
      const before = filesUnder(svc.dataDir).filter((f) => !f.startsWith('db/'));
      const r = await rawRequest(svc.url, method, path, { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': body.contentType } : {}) }, body?.body);
      expect([400, 404]).toContain(r.status);
      expect(r.text).not.toMatch(/passwordHash|scrypt/);
      expect(filesUnder(svc.dataDir).filter((f) => !f.startsWith('db/'))).toEqual(before);
    });

    it('refuses a forward to a mailbox or domain that tries to leave the store', async () => {
      const id = (await media.deposit('1002', makeWav(1))).body.id;
      expect((await media.json('POST', `/1002/messages/${id}/forward`, { mailbox: '../1001' })).status).toBe(400);
      expect((await media.json('POST', `/1002/messages/${id}/forward`, { mailbox: '1001', domain: '../../etc' })).status).toBe(400);
      expect((await media.json('POST', `/1002/messages/${id}/forward`, { mailbox: '1001', domain: '..' })).status).toBe(400);
    });
  });

  describe('messages', () => {
    it('lists by folder with paging and counts, moves, marks read, deletes and undeletes', async () => {
      await admin.createMailbox({ number: '4001', name: 'Lister' });
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await media.deposit('4001', makeWav(0.2), { callerNumber: `10${i}`, urgent: i === 6 ? '1' : 'false' })).body.id);
      const first = await media.list('4001');
      expect(first.body.total).toBe(7);
      expect(first.body.counts).toEqual({ new: 7, saved: 0, deleted: 0, urgent: 1 });
      expect(first.body.items.map((m: { id: string }) => m.id)).toEqual([...ids].reverse());

      const read = await media.json('PATCH', `/4001/messages/${ids[0]}`, { read: true, folder: 'saved' });
      expect(read.body).toMatchObject({ folder: 'saved', readAt: expect.any(String) });
      expect((await media.json('PATCH', `/4001/messages/${ids[1]}`, { folder: 'saved' })).body.readAt).toBeNull();
      expect((await media.json('PATCH', `/4001/messages/${ids[0]}`, { read: false })).body.readAt).toBeNull();
      const del = await media.json('DELETE', `/4001/messages/${ids[2]}`);
      expect(del.status).toBe(204);
      expect((await media.message('4001', ids[2] as string)).body).toMatchObject({ folder: 'deleted', deletedAt: expect.any(String) });

      const counts = { new: 4, saved: 2, deleted: 1, urgent: 1 };
      const saved = await media.list('4001', '?folder=saved');
      expect(saved.body).toMatchObject({ total: 2, counts });
      expect(saved.body.items.map((m: { id: string }) => m.id)).toEqual([ids[1], ids[0]]);
      const page = await media.list('4001', '?folder=new&limit=2&offset=1&order=oldest');
      expect(page.body.items.map((m: { id: string }) => m.id)).toEqual([ids[4], ids[5]]);
      expect(page.body.total).toBe(4);
      const inbox = await media.list('4001', '?limit=3');
      expect(inbox.body.total).toBe(6);
      expect(inbox.body.items.map((m: { id: string }) => m.id)).toEqual([ids[6], ids[5], ids[4]]);
      expect((await media.list('4001', '?folder=deleted')).body.items.map((m: { id: string }) => m.id)).toEqual([ids[2]]);

      const back = await media.json('POST', `/4001/messages/${ids[2]}/undelete`);
      expect(back.body).toMatchObject({ folder: 'new', deletedAt: null });
      expect((await media.json('GET', '/4001/mwi')).body).toEqual({ domain: DOMAIN, mailbox: '4001', new: 5, saved: 2, urgent: 1 });

      expect((await media.list('4001', '?folder=old')).status).toBe(400);
      expect((await media.list('4001', '?limit=501')).status).toBe(400);
      expect((await media.message('4001', '0b4c5a8e-3f1d-4c2b-9a77-1234567890ab')).status).toBe(404);
      // a message of another mailbox is not found through this one
      expect((await media.message('1002', ids[0] as string)).status).toBe(404);
    });

    it('purges a message at once with purge=true, removing its audio', async () => {
      const r = await media.deposit('1002', makeWav(1));
      const file = join(store, DOMAIN, '1002', `${r.body.id}.wav`);
      expect(existsSync(file)).toBe(true);
      expect((await media.json('DELETE', `/1002/messages/${r.body.id}?purge=true`)).status).toBe(204);
      expect((await media.message('1002', r.body.id)).status).toBe(404);
      expect(existsSync(file)).toBe(false);
    });

    it('purges deleted messages after the mailbox’s retention days with the scheduled job', async () => {
      await admin.createMailbox({ number: '5001', name: 'Short memory', retentionDays: 0 });
      const keep = (await media.deposit('5001', makeWav(1))).body.id;
      const gone = (await media.deposit('5001', makeWav(1))).body.id;
      await media.json('DELETE', `/5001/messages/${gone}`);
      await eventually(async () => (await media.message('5001', gone)).status === 404, 10_000, 'the purge job');
      // the metadata goes first (durably), then the audio: the file follows a moment later
      await eventually(async () => !existsSync(join(store, DOMAIN, '5001', `${gone}.wav`)), 10_000, 'the purged audio removed');
      expect((await media.message('5001', keep)).status).toBe(200);
      // a mailbox keeping them 30 days keeps its deleted message
      const kept = (await media.deposit('1002', makeWav(1))).body.id;
      await media.json('DELETE', `/1002/messages/${kept}`);
      await new Promise((r) => setTimeout(r, 2500));
      expect((await media.message('1002', kept)).body.folder).toBe('deleted');
    });

    it('plays with HTTP Range and downloads as an attachment', async () => {
      const wav = makeWav(2);
      const id = (await media.deposit('1002', wav)).body.id;
      const full = await media.audio('1002', id);
      expect(full.status).toBe(200);
      expect(full.bytes.equals(wav)).toBe(true);
      expect(full.headers.get('content-type')).toBe('audio/wav');
      expect(full.headers.get('accept-ranges')).toBe('bytes');
      expect(full.headers.get('content-length')).toBe(String(wav.length));
      expect(full.headers.get('content-disposition')).toMatch(/^inline; filename="voicemail-1002-.*\.wav"$/);

      const part = await media.audio('1002', id, { range: 'bytes=100-1099' });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${wav.length}`);
      expect(part.headers.get('content-length')).toBe('1000');
      expect(part.bytes.equals(wav.subarray(100, 1100))).toBe(true);
      const tail = await media.audio('1002', id, { range: 'bytes=-44' });
      expect(tail.bytes.equals(wav.subarray(wav.length - 44))).toBe(true);
      const open = await media.audio('1002', id, { range: `bytes=${wav.length - 10}-` });
      expect(open.headers.get('content-range')).toBe(`bytes ${wav.length - 10}-${wav.length - 1}/${wav.length}`);

      for (const range of [`bytes=${wav.length}-`, 'bytes=500-100', 'bytes=abc']) {
        const bad = await media.audio('1002', id, { range });
        expect(bad.status).toBe(416);
        expect(bad.headers.get('content-range')).toBe(`bytes */${wav.length}`);
      }
      const download = await media.audio('1002', id, {}, '?download=true');
      expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename="voicemail-1002-[0-9-]+-[0-9a-f]{8}\.wav"$/);
      expect(download.bytes.equals(wav)).toBe(true);
    });

    it('forwards a copy to another mailbox, recording where from and who forwarded it', async () => {
      const wav = makeWav(1.5);
      const src = (await media.deposit('1002', wav, { callerNumber: '777', callerName: 'Bob', urgent: 'true' })).body;
      const fwd = await admin.json('POST', `/1002/messages/${src.id}/forward`, { mailbox: '1001' });
      expect(fwd.status).toBe(201);
      expect(fwd.body).toMatchObject({
        domain: DOMAIN,
        mailbox: '1001',
        folder: 'new',
        callerNumber: '777',
        callerName: 'Bob',
        urgent: true,
        durationMs: 1500,
        forwardedFrom: { domain: DOMAIN, mailbox: '1002', messageId: src.id, by: 'admin', at: expect.any(String) },
      });
      expect(fwd.body.id).not.toBe(src.id);
      expect((await media.audio('1001', fwd.body.id)).bytes.equals(wav)).toBe(true);
      // the original stays
      expect((await media.message('1002', src.id)).body.folder).toBe('new');
      // across domains served here, with the token's name as who
      await vmailClient(svc.url, adminToken, 'branch.example').createMailbox({ number: '1', name: 'Branch' });
      const cross = await media.json('POST', `/1002/messages/${src.id}/forward`, { mailbox: '1', domain: 'Branch.Example' });
      expect(cross.body).toMatchObject({ domain: 'branch.example', mailbox: '1', forwardedFrom: { by: 'media' } });
      expect(readFileSync(join(store, 'branch.example', '1', `${cross.body.id}.wav`)).equals(wav)).toBe(true);

      expect((await media.json('POST', `/1002/messages/${src.id}/forward`, { mailbox: '1002' })).status).toBe(400);
      expect((await media.json('POST', `/1002/messages/${src.id}/forward`, { mailbox: '8888' })).status).toBe(404);
      expect((await media.json('POST', `/1002/messages/${src.id}/forward`, { mailbox: '1', domain: 'other.example' })).status).toBe(404);
      const full = await media.json('POST', `/1002/messages/${src.id}/forward`, { mailbox: 'full' });
      expect(full.status).toBe(409);
    });
  });

  describe('greetings', () => {
    const greetings = (box: string) => boxFiles(box).filter((f) => f.startsWith('greetings/'));

    it('uploads, plays (with Range), replaces and resets greetings; temporary overrides', async () => {
      expect((await media.json('GET', '/1001/greeting')).status).toBe(404);
      const unavailable = makeWav(3, 'alaw');
      const put = await media.call('PUT', '/1001/greetings/unavailable', { body: new Uint8Array(unavailable), headers: { 'content-type': 'audio/wav' } });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ kind: 'unavailable', durationMs: 3000, format: { encoding: 'alaw', sampleRate: 8000, channels: 1 }, originSite: siteId, storage: { handler: 'fs', size: unavailable.length, contentType: 'audio/wav' } });
      const played = await media.call('GET', '/1001/greetings/unavailable');
      expect(played.bytes.equals(unavailable)).toBe(true);
      const part = await media.call('GET', '/1001/greetings/unavailable', { headers: { range: 'bytes=0-43' } });
      expect(part.status).toBe(206);
      expect(part.bytes.equals(unavailable.subarray(0, 44))).toBe(true);
      expect((await media.json('GET', '/1001/greeting?for=busy')).status).toBe(404);
      expect((await media.json('GET', '/1001/greeting')).body).toMatchObject({ kind: 'unavailable', audioUrl: `/api/v1/domains/${DOMAIN}/mailboxes/1001/greetings/unavailable` });

      // multipart works too
      const form = new FormData();
      form.append('audio', new Blob([new Uint8Array(makeWav(2, 'mulaw'))]), 'temp.wav');
      expect((await media.call('PUT', '/1001/greetings/temporary', { body: form })).status).toBe(200);
      expect((await media.json('GET', '/1001/greeting?for=busy')).body.kind).toBe('temporary');
      expect((await media.json('GET', '/1001')).body.greetings).toMatchObject({ unavailable: { kind: 'unavailable' }, temporary: { kind: 'temporary' }, busy: null, name: null });
      expect(greetings('1001')).toHaveLength(2);

      // replacing leaves one file per greeting
      const again = makeWav(1);
      await media.call('PUT', '/1001/greetings/unavailable', { body: new Uint8Array(again), headers: { 'content-type': 'audio/x-wav' } });
      expect((await media.call('GET', '/1001/greetings/unavailable')).bytes.equals(again)).toBe(true);
      expect(greetings('1001')).toHaveLength(2);

      expect((await media.json('DELETE', '/1001/greetings/temporary')).status).toBe(204);
      expect((await media.json('DELETE', '/1001/greetings/temporary')).status).toBe(404);
      expect((await media.json('GET', '/1001/greeting?for=busy')).status).toBe(404);
      expect((await media.json('GET', '/1001/greeting')).body.kind).toBe('unavailable');
      expect(greetings('1001')).toHaveLength(1);
    });

    it('checks greetings like messages', async () => {
      const before = greetings('1002');
      const notWav = await media.call('PUT', '/1002/greetings/name', { body: 'hello', headers: { 'content-type': 'audio/wav' } });
      expect(notWav.status).toBe(400);
      const long = await media.call('PUT', '/1002/greetings/busy', { body: new Uint8Array(makeWav(301, 'mulaw')), headers: { 'content-type': 'audio/wav' } });
      expect(long.status).toBe(413);
      expect(long.body.error.message).toMatch(/greetings are at most 300 s/);
      const text = await media.call('PUT', '/1002/greetings/busy', { body: 'x', headers: { 'content-type': 'text/plain' } });
      expect(text.status).toBe(400);
      expect((await media.call('PUT', '/1002/greetings/welcome', { body: new Uint8Array(makeWav(1)), headers: { 'content-type': 'audio/wav' } })).status).toBe(400);
      expect(greetings('1002')).toEqual(before);
    });
  });

  describe('PIN and message waiting', () => {
    it('checks a PIN and locks the mailbox after five wrong ones', async () => {
      await admin.createMailbox({ number: '6001', name: 'Guarded', pin: '1357' });
      expect((await media.json('POST', '/6001/pin-check', { pin: '1357' })).body).toEqual({ ok: true });
      for (let i = 1; i <= 4; i++) {
        const wrong = await media.json('POST', '/6001/pin-check', { pin: '0000' });
        expect(wrong.status).toBe(401);
        expect(wrong.body.error.message).toMatch(new RegExp(`${5 - i} more wrong`));
      }
      // a right PIN in between would reset the count; the fifth wrong one locks
      const fifth = await media.json('POST', '/6001/pin-check', { pin: '0000' });
      expect(fifth.status).toBe(429);
      expect(fifth.headers.get('retry-after')).toBe('900');
      const right = await media.json('POST', '/6001/pin-check', { pin: '1357' });
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(890);
      expect((await media.json('GET', '/6001')).body.pinLockedUntil).toEqual(expect.any(String));
      // parallel guesses are counted one by one too
      await admin.createMailbox({ number: '6002', name: 'Parallel', pin: '2468' });
      const burst = await Promise.all(Array.from({ length: 8 }, () => media.json('POST', '/6002/pin-check', { pin: '1111' })));
      expect(burst.map((r) => r.status).sort()).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
      // the admin setting a new PIN ends the lockout
      await admin.json('PATCH', '/6001', { pin: '97531' });
      expect((await media.json('POST', '/6001/pin-check', { pin: '97531' })).status).toBe(200);
      expect((await media.json('POST', '/1002/pin-check', { pin: '1234' })).status).toBe(409);
      expect((await media.json('POST', '/9999/pin-check', { pin: '1234' })).status).toBe(404);
    });

    it('answers MWI per mailbox and per domain, and pushes it on /api/v1/live', async () => {
      await admin.createMailbox({ number: '7001', name: 'Waiting' });
      const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/api/v1/live?token=${adminToken}`);
      const messages: LiveMessage[] = [];
      ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
      await new Promise((r) => ws.once('open', r));
      try {
        const seen = () => messages.flatMap((m) => (m.type === 'changes' ? m.changes : [])).filter((c) => c.collection === 'mwi' && c.id === `${DOMAIN}/7001`);
        const id = (await media.deposit('7001', makeWav(1), { urgent: 'true' })).body.id;
        await eventually(async () => seen().some((c) => JSON.stringify(c.doc) === JSON.stringify({ domain: DOMAIN, mailbox: '7001', new: 1, saved: 0, urgent: 1 })), 5_000, 'the MWI change');
        await media.json('PATCH', `/7001/messages/${id}`, { folder: 'saved' });
        await eventually(async () => seen().some((c) => (c.doc as { saved: number }).saved === 1), 5_000, 'the MWI after the move');
        expect((await media.json('GET', '/7001/mwi')).body).toEqual({ domain: DOMAIN, mailbox: '7001', new: 0, saved: 1, urgent: 0 });
        const all = await media.json('GET', `${svc.url}/api/v1/domains/${DOMAIN}/mwi`);
        expect(all.body.items).toContainEqual({ domain: DOMAIN, mailbox: '7001', new: 0, saved: 1, urgent: 0 });
        await admin.json('DELETE', '/7001');
        await eventually(async () => seen().some((c) => c.op === 'delete'), 5_000, 'the MWI delete');
        // the message metadata itself is not on the live feed
        expect(messages.flatMap((m) => (m.type === 'changes' ? m.changes : [])).some((c) => c.collection.startsWith('vmail_'))).toBe(false);
      } finally {
        ws.close();
      }
    });

    it('deletes a mailbox with its messages, greetings and directory', async () => {
      await admin.createMailbox({ number: '8001', name: 'Doomed' });
      await media.deposit('8001', makeWav(1));
      await media.call('PUT', '/8001/greetings/name', { body: new Uint8Array(makeWav(1)), headers: { 'content-type': 'audio/wav' } });
      expect(boxFiles('8001')).toHaveLength(2);
      expect((await admin.json('DELETE', '/8001')).status).toBe(204);
      expect(existsSync(join(store, DOMAIN, '8001'))).toBe(false);
      expect((await media.list('8001')).status).toBe(404);
    });

    it('counts deposits in the metrics', async () => {
      const text = await (await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
      expect(text).toMatch(/sitecall_vmail_deposits_total\{result="stored",app="sitecall"\} \d+/);
      expect(text).toMatch(/sitecall_vmail_deposits_total\{result="full",app="sitecall"\} \d+/);
      expect(text).toMatch(/sitecall_vmail_pin_checks_total\{result="locked",app="sitecall"\} \d+/);
      expect(text).toMatch(/sitecall_vmail_purged_total\{reason="retention",app="sitecall"\} \d+/);
    });
  });
});
