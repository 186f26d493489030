/**
 * Voicemail across sites (design sections 5 and 7, issue 17): two real service processes paired
 * (B joined A's installation: both run a vmail instance of the same group), a TCP proxy on each
 * link that the test cuts and heals. A message is hosted on the site that received its deposit;
 * a listing on either site merges both sites' messages and MWI counts them all; a message (or a
 * greeting) of the other site streams from it over the link, whole or by Range, byte for byte;
 * while that site is away the message is listed with `available: false` and playing it is 503
 * with Retry-After, and it plays again once the link is back.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { pairingCode, peerOf, startSite, waitFor, type Site, type Stoppable } from '../support/sites.js';
import { makeWav, vmailClient } from '../support/vmail.js';

const DOMAIN = 'office.example';
const BOX = '1001';

const running: Stoppable[] = [];

interface Listed {
  id: string;
  originSite: string;
  available: boolean;
  folder: string;
  storage: { key: string; size: number };
}

describe('voicemail across two sites', () => {
  let a: Site;
  let b: Site;
  let onA: ReturnType<typeof vmailClient>;
  let onB: ReturnType<typeof vmailClient>;
  const wavA = makeWav(3);
  const wavB = makeWav(2, 'alaw');
  let idA = '';
  let idB = '';

  const client = async (s: { url: string; adminPassword: string }) => vmailClient(s.url, await login(s));
  const listed = async (v: ReturnType<typeof vmailClient>, query = '') => ((await v.list(BOX, query)).body?.items ?? []) as Listed[];
  const connected = async (from: Site, to: Site) => (await peerOf(from, to.self.id))?.state === 'connected';

  beforeAll(async () => {
    a = await startSite(running);
    b = await startSite(running);
    const paired = await b.api.post('/api/v1/sites', { url: a.self.publicUrl, code: await pairingCode(a) });
    expect(paired.status, paired.text).toBe(201);
    await b.relogin();
    await waitFor('B synced with A', async () => ((await peerOf(b, a.self.id))?.join?.state === 'synced' ? true : undefined), 30_000);
    // both sites run their vmail instance of the one group (B's a standby of A's)
    await waitFor('both vmail instances running', async () => {
      const names = async (s: Site) => ((await s.api.get('/api/v1/status')).body.instances as { name: string; roletype: string; state: string }[]).filter((i) => i.roletype === 'vmail' && i.state === 'running').length;
      return (await names(a)) === 1 && (await names(b)) === 1 ? true : undefined;
    }, 20_000);
    onA = await client(a.service);
    onB = await client(b.service);
    expect((await onA.createMailbox({ number: BOX, name: 'Front desk' })).status).toBe(201);
    await waitFor('the mailbox on B', async () => ((await onB.json('GET', `/${BOX}`)).status === 200 ? true : undefined));
  }, 120_000);

  afterAll(async () => {
    for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
  });

  it('a deposit on each site is hosted there; both listings show both messages, MWI counts both', async () => {
    const depA = await onA.deposit(BOX, wavA, { callerNumber: '+4930111' });
    expect(depA.status, JSON.stringify(depA.body)).toBe(201);
    const depB = await onB.deposit(BOX, wavB, { callerNumber: '+4930222' });
    expect(depB.status, JSON.stringify(depB.body)).toBe(201);
    idA = depA.body.id;
    idB = depB.body.id;
    expect(depA.body).toMatchObject({ originSite: a.self.id, available: true });
    expect(depB.body).toMatchObject({ originSite: b.self.id, available: true });
    // each audio file is in its own site's store only
    expect(existsSync(join(a.service.dataDir, 'vmail', depA.body.storage.key))).toBe(true);
    expect(existsSync(join(b.service.dataDir, 'vmail', depB.body.storage.key))).toBe(true);
    expect(existsSync(join(b.service.dataDir, 'vmail', depA.body.storage.key))).toBe(false);
    expect(existsSync(join(a.service.dataDir, 'vmail', depB.body.storage.key))).toBe(false);

    for (const v of [onA, onB]) {
      const items = await waitFor('both messages listed', async () => {
        const got = await listed(v);
        return got.length === 2 ? got : undefined;
      });
      expect(items.map((m) => m.id).sort()).toEqual([idA, idB].sort());
      expect(items.every((m) => m.available)).toBe(true);
      expect(new Set(items.map((m) => m.originSite))).toEqual(new Set([a.self.id, b.self.id]));
      const mwi = await v.json('GET', `/${BOX}/mwi`);
      expect(mwi.body).toMatchObject({ domain: DOMAIN, mailbox: BOX, new: 2, saved: 0 });
      const domainMwi = await v.call('GET', `${v.base().replace(/\/mailboxes$/, '')}/mwi`);
      expect(domainMwi.body.items).toEqual([{ domain: DOMAIN, mailbox: BOX, new: 2, saved: 0, urgent: 0 }]);
    }
  });

  it('plays the other site’s message whole and by Range, byte for byte, as its own site does', async () => {
    for (const [v, id, wav] of [
      [onB, idA, wavA],
      [onA, idB, wavB],
    ] as const) {
      const whole = await v.audio(BOX, id);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('content-type')).toBe('audio/wav');
      expect(whole.headers.get('accept-ranges')).toBe('bytes');
      expect(whole.headers.get('content-length')).toBe(String(wav.length));
      expect(whole.bytes.equals(wav)).toBe(true);

      for (const [header, start, end] of [
        ['bytes=100-1099', 100, 1099],
        ['bytes=1000-', 1000, wav.length - 1],
        ['bytes=-500', wav.length - 500, wav.length - 1],
        ['bytes=0-0', 0, 0],
        [`bytes=${wav.length - 3000}-${wav.length + 999}`, wav.length - 3000, wav.length - 1],
      ] as const) {
        const part = await v.audio(BOX, id, { range: header });
        expect(part.status, header).toBe(206);
        expect(part.headers.get('content-range'), header).toBe(`bytes ${start}-${end}/${wav.length}`);
        expect(part.headers.get('content-length'), header).toBe(String(end - start + 1));
        expect(part.bytes.equals(wav.subarray(start, end + 1)), header).toBe(true);
      }
    }
    // HEAD says what GET would
    const head = await onB.call('HEAD', `/${BOX}/messages/${idA}/audio`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(wavA.length));
  });

  it('bad input gets the same answers for a message of the other site as for one of this site', async () => {
    const answer = async (v: ReturnType<typeof vmailClient>, id: string, headers: Record<string, string> = {}) => {
      const r = await v.audio(BOX, id, headers);
      return { status: r.status, contentRange: r.headers.get('content-range'), code: r.body?.error?.code as string | undefined };
    };
    // a range outside the file: 416 with bytes */size, on the origin and elsewhere alike
    for (const range of [`bytes=${wavA.length}-`, `bytes=${wavA.length + 10}-${wavA.length + 20}`, 'bytes=500-100', 'bytes=x-y']) {
      const here = await answer(onA, idA, { range });
      const there = await answer(onB, idA, { range });
      expect(there, range).toEqual(here);
      expect(there.status, range).toBe(416);
      expect(there.contentRange).toBe(`bytes */${wavA.length}`);
    }
    // an unknown message id, and a message of another mailbox
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await answer(onB, unknown)).toEqual(await answer(onA, unknown));
    expect((await answer(onB, unknown)).status).toBe(404);
    expect((await onB.call('GET', `/9999/messages/${idA}/audio`)).status).toBe(404);
  });

  it('a greeting recorded on one site plays on the other, whole and by Range', async () => {
    const greeting = makeWav(1.5);
    const put = await onB.call('PUT', `/${BOX}/greetings/unavailable`, { body: new Uint8Array(greeting), headers: { 'content-type': 'audio/wav' } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.originSite).toBe(b.self.id);
    const info = await waitFor('the greeting on A', async () => {
      const box = (await onA.json('GET', `/${BOX}`)).body;
      return box.greetings.unavailable?.originSite === b.self.id ? box.greetings.unavailable : undefined;
    });
    expect(info.available).toBe(true);
    const whole = await onA.call('GET', `/${BOX}/greetings/unavailable`);
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(greeting)).toBe(true);
    const part = await onA.call('GET', `/${BOX}/greetings/unavailable`, { headers: { range: 'bytes=44-143' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 44-143/${greeting.length}`);
    expect(part.bytes.equals(greeting.subarray(44, 144))).toBe(true);
    const choice = await onA.json('GET', `/${BOX}/greeting`);
    expect(choice.body).toMatchObject({ kind: 'unavailable', originSite: b.self.id, available: true });
  });

  it('the link cut: the other site’s message is still listed, unavailable, and playing it is 503 with Retry-After; healed, it plays again', async () => {
    a.proxy.blackhole();
    b.proxy.blackhole();
    // each side sees the loss by its own heartbeats (within 3 s of each other)
    await waitFor('each site to see the other gone', async () => ((await connected(b, a)) || (await connected(a, b)) ? undefined : true), 15_000);
    const items = await listed(onB);
    expect(items.map((m) => m.id).sort()).toEqual([idA, idB].sort());
    expect(items.find((m) => m.id === idA)).toMatchObject({ available: false, originSite: a.self.id });
    expect(items.find((m) => m.id === idB)).toMatchObject({ available: true });
    expect((await onB.message(BOX, idA)).body.available).toBe(false);
    expect((await onB.json('GET', `/${BOX}/mwi`)).body).toMatchObject({ new: 2 });

    const refused = await onB.audio(BOX, idA);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body.error.code).toBe('unavailable');
    expect(refused.body.error.message).toMatch(/held by site .* not connected/);
    expect((await onB.audio(BOX, idA, { range: 'bytes=0-99' })).status).toBe(503);
    // B's own message plays as ever; A's greeting view from B's side likewise says unavailable on A
    expect((await onB.audio(BOX, idB)).bytes.equals(wavB)).toBe(true);
    expect((await onA.json('GET', `/${BOX}`)).body.greetings.unavailable.available).toBe(false);
    expect((await onA.call('GET', `/${BOX}/greetings/unavailable`)).status).toBe(503);

    a.proxy.heal();
    b.proxy.heal();
    await waitFor('A’s message available on B again', async () => ((await listed(onB)).find((m) => m.id === idA)?.available ? true : undefined), 20_000);
    const again = await onB.audio(BOX, idA);
    expect(again.status).toBe(200);
    expect(again.bytes.equals(wavA)).toBe(true);
  });

  it('a link lost while a message streams cuts the response short (never a whole-looking wrong body); once back, it plays whole', async () => {
    const long = makeWav(200); // 3.2 MB: many windows of credit
    const dep = await onA.deposit(BOX, long);
    expect(dep.status).toBe(201);
    const id = dep.body.id as string;
    await waitFor('the long message on B', async () => ((await listed(onB)).some((m) => m.id === id) ? true : undefined));
    const token = await login(b.service);
    const cutShort = await new Promise<{ status: number; got: number; complete: boolean }>((resolve, reject) => {
      const req = request(`${b.service.url}/api/v1/domains/${DOMAIN}/mailboxes/${BOX}/messages/${id}/audio`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        let got = 0;
        let cut = false;
        res.on('data', (d: Buffer) => {
          got += d.length;
          if (cut) return;
          cut = true;
          // the player stops reading (the origin stops at the credit), the link goes, then the player reads on
          res.pause();
          a.proxy.cut();
          b.proxy.cut();
          void waitFor('B to see A gone', async () => ((await connected(b, a)) ? undefined : true), 15_000).then(() => res.resume(), reject);
        });
        res.on('error', () => undefined);
        res.on('close', () => resolve({ status: res.statusCode ?? 0, got, complete: res.complete }));
      });
      req.on('error', () => undefined);
      req.end();
    });
    expect(cutShort.status).toBe(200);
    expect(cutShort.complete).toBe(false);
    expect(cutShort.got).toBeLessThan(long.length);
    await waitFor('B to log the cut stream', async () => (/the audio stream failed mid-way/.test(b.service.logs()) ? true : undefined));
    a.proxy.heal();
    b.proxy.heal();
    await waitFor('A’s message available on B again', async () => ((await listed(onB)).find((m) => m.id === id)?.available ? true : undefined), 20_000);
    const whole = await onB.audio(BOX, id);
    expect({ status: whole.status, bytes: whole.bytes.length, body: whole.bytes.length < 1000 ? whole.bytes.toString() : '' }).toEqual({ status: 200, bytes: long.length, body: '' });
    expect(whole.bytes.equals(long)).toBe(true);
    expect((await onB.json('DELETE', `/${BOX}/messages/${id}?purge=true`)).status).toBe(204);
  });

  it('the origin killed: its message is listed unavailable, 503 meanwhile; restarted, it plays again', async () => {
    const service = a.service as RunningTestService;
    await service.kill();
    await waitFor('B to see A gone', async () => ((await connected(b, a)) ? undefined : true), 15_000);
    expect((await listed(onB)).find((m) => m.id === idA)).toMatchObject({ available: false });
    const refused = await onB.audio(BOX, idA, { range: 'bytes=10-19' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();

    // A again, from its data directory, behind the same proxy (so at the address B knows)
    const restarted = await startService({ dataDir: service.dataDir, env: { SITECALL_SITE_NAME: a.self.name, SITECALL_PUBLIC_URL: a.self.publicUrl } });
    running.push(restarted);
    a.proxy.retarget(restarted.peerPort);
    await waitFor('A’s message available on B again', async () => ((await listed(onB)).find((m) => m.id === idA)?.available ? true : undefined), 30_000);
    const part = await onB.audio(BOX, idA, { range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.bytes.equals(wavA.subarray(10, 20))).toBe(true);
    a = { ...a, service: restarted, api: apiClient(restarted.url, await login(restarted)) };
    onA = await client(restarted);
  });

  it('moving and deleting the other site’s message: the change reaches its origin; a purge removes the audio there', async () => {
    const keyA = (await onA.message(BOX, idA)).body.storage.key as string;
    const onDisk = join(a.service.dataDir, 'vmail', keyA);
    expect(existsSync(onDisk)).toBe(true);
    // moved to saved and read on B: A shows it
    expect((await onB.json('PATCH', `/${BOX}/messages/${idA}`, { folder: 'saved', read: true })).status).toBe(200);
    await waitFor('the move on A', async () => ((await onA.message(BOX, idA)).body.folder === 'saved' ? true : undefined));
    expect((await onA.json('GET', `/${BOX}/mwi`)).body).toMatchObject({ new: 1, saved: 1 });
    // soft-deleted on B: in deleted on both, its audio still on A (an undelete can bring it back)
    expect((await onB.json('DELETE', `/${BOX}/messages/${idA}`)).status).toBe(204);
    await waitFor('the delete on A', async () => ((await onA.message(BOX, idA)).body.folder === 'deleted' ? true : undefined));
    expect(existsSync(onDisk)).toBe(true);
    expect((await onB.audio(BOX, idA)).bytes.equals(wavA)).toBe(true);
    // purged on B: gone from both listings, and A, which holds the audio, removes it
    expect((await onB.json('DELETE', `/${BOX}/messages/${idA}?purge=true`)).status).toBe(204);
    await waitFor('the purge on A', async () => ((await onA.message(BOX, idA)).status === 404 ? true : undefined));
    await waitFor('the audio gone from A’s store', async () => (existsSync(onDisk) ? undefined : true));
    expect((await listed(onA, '?folder=deleted')).map((m) => m.id)).toEqual([]);
    expect((await onB.audio(BOX, idA)).status).toBe(404);
    expect((await onA.json('GET', `/${BOX}/mwi`)).body).toMatchObject({ new: 1, saved: 0 });
  });

  it('a greeting replaced on the other site: the site that held the old one removes its file', async () => {
    const old = (await onA.json('GET', `/${BOX}`)).body.greetings.unavailable;
    const oldFile = join(b.service.dataDir, 'vmail', old.storage.key);
    expect(old.originSite).toBe(b.self.id);
    expect(existsSync(oldFile)).toBe(true);
    const next = makeWav(1);
    const put = await onA.call('PUT', `/${BOX}/greetings/unavailable`, { body: new Uint8Array(next), headers: { 'content-type': 'audio/wav' } });
    expect(put.status).toBe(200);
    await waitFor('the new greeting on B', async () => ((await onB.json('GET', `/${BOX}`)).body.greetings.unavailable?.originSite === a.self.id ? true : undefined));
    await waitFor('the old greeting’s file gone from B', async () => (existsSync(oldFile) ? undefined : true));
    expect((await onB.call('GET', `/${BOX}/greetings/unavailable`)).bytes.equals(next)).toBe(true);
  });
});
