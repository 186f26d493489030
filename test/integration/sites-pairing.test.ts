/**
 * Sites: pairing two real service processes (each its own data directory and certificate), the
 * link they keep, and every refusal. A TCP proxy under the test's control sits on the link, so it
 * can be black-holed (heartbeat loss), healed, or pointed at a third process with another
 * certificate (pin mismatch). The refusals of the code are also driven by a scripted joining site
 * (the real protocol module and CPace, over a real TLS WebSocket) that can replay a proof.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { makeSelfSignedCertificate, siteIdOf } from '../../service/sync/identity.js';
import { CPaceParty } from '../../service/sync/pairing/cpace.js';
import { normalizePairingCode } from '../../service/sync/pairing/code.js';
import { channelIdentifier, messageReader, PAIRING_PATH } from '../../service/sync/pairing/protocol.js';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort, runCli, tempDir } from '../support/service.js';
import { pairingCode, peerOf, refusals, startSite, waitFor, wrongCode, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

const site = (env: Record<string, string> = {}) => startSite(running, env);
const code = pairingCode;
const wrong = wrongCode;

describe('sites: pairing and the link', () => {
  it('pairs two sites, keeps a heartbeat link with its round trip, detects a black-holed link within 3 s, reconnects, and unpairs from either side', async () => {
    const a = await site();
    const b = await site();
    const selfA = a.self;
    const selfB = b.self;
    expect(selfA.id).toMatch(/^[0-9a-f]{64}$/);

    const shown = await code(a);
    const paired = await b.api.post('/api/v1/sites', { url: selfA.publicUrl, code: shown.toLowerCase() });
    expect(paired.status, paired.text).toBe(201);
    // joining (design section 7): B now has A's users, so B's admin session ended; B's admin logs in with A's password (the same one here)
    expect(paired.body).toMatchObject({ id: selfA.id, name: selfA.name, joined: true, url: selfA.publicUrl, adoption: { state: 'adopted', replacedUsers: ['admin'], sessionEnded: true } });
    expect((await b.api.get('/api/v1/sites')).status).toBe(401);
    await b.relogin();
    // both pinned the other; the link comes up, with a round trip measured on each side
    const onB = await waitFor('B connected with an RTT', async () => {
      const p = await peerOf(b, selfA.id);
      return p?.state === 'connected' && p.rttMs !== null ? p : undefined;
    });
    expect(onB.rttMs).toBeLessThan(1000);
    const onA = await waitFor('A connected with an RTT', async () => {
      const p = await peerOf(a, selfB.id);
      return p?.state === 'connected' && p.rttMs !== null ? p : undefined;
    });
    expect(onA).toMatchObject({ id: selfB.id, name: selfB.name, joined: false, url: selfB.publicUrl });
    expect((await a.api.get('/metrics')).text).toMatch(/^sitecall_site_peers\{[^}]*state="connected"[^}]*\} 1$/m);
    // both sides dial; one link stays (the pairing socket is closed, a duplicate link too)
    await waitFor('a single link', async () => (a.proxy.connections + b.proxy.connections === 1 ? true : undefined));
    // the two sites paired already: a second pairing is refused
    const again = await b.api.post('/api/v1/sites', { url: selfA.publicUrl, code: shown });
    expect(again.status).toBe(409);
    expect(again.body.error.details).toEqual([{ path: '/url', message: 'is a paired site' }]);

    // a black hole both ways: the sockets stay open, nothing passes; both sides see it within 3 s
    a.proxy.blackhole();
    b.proxy.blackhole();
    const cutAt = Date.now();
    await Promise.all([
      waitFor('B to see A lost', async () => ((await peerOf(b, selfA.id))?.state === 'unreachable' ? true : undefined), 5_000),
      waitFor('A to see B lost', async () => ((await peerOf(a, selfB.id))?.state === 'unreachable' ? true : undefined), 5_000),
    ]);
    expect(Date.now() - cutAt).toBeLessThan(3_000);
    expect((await peerOf(b, selfA.id))?.lastError).toMatch(/heartbeat/);
    a.proxy.heal();
    b.proxy.heal();
    await waitFor('the link back', async () => ((await peerOf(b, selfA.id))?.state === 'connected' && (await peerOf(a, selfB.id))?.state === 'connected' ? true : undefined), 20_000);

    // unpair on A while connected: B learns it at once
    expect((await a.api.delete(`/api/v1/sites/${selfB.id}`)).status).toBe(204);
    expect(await peerOf(a, selfB.id)).toBeUndefined();
    const told = await waitFor('B to learn the unpairing', async () => {
      const p = await peerOf(b, selfA.id);
      return p?.state === 'refused' ? p : undefined;
    });
    expect(told.lastError).toMatch(/unpaired this site/);
    // B unpairs too; then the two pair again
    expect((await b.api.delete(`/api/v1/sites/${selfA.id}`)).status).toBe(204);
    expect((await b.api.delete(`/api/v1/sites/${selfA.id}`)).status).toBe(404);
    const repaired = await b.api.post('/api/v1/sites', { url: selfA.publicUrl, code: await code(a) });
    expect(repaired.status, repaired.text).toBe(201);
    // B has A's users already: nothing replaced, the session goes on
    expect(repaired.body.adoption).toMatchObject({ state: 'adopted', replacedUsers: [], sessionEnded: false });
    await waitFor('the new link', async () => ((await peerOf(a, selfB.id))?.state === 'connected' ? true : undefined));

    // B (the site that joined) unpairs A while they are apart: A learns it at its next attempt
    a.proxy.cut();
    b.proxy.cut();
    await waitFor('A to see the cut', async () => ((await peerOf(a, selfB.id))?.state === 'unreachable' ? true : undefined));
    expect((await b.api.delete(`/api/v1/sites/${selfA.id}`)).status).toBe(204);
    a.proxy.heal();
    b.proxy.heal();
    const learned = await waitFor('A refused as unpaired', async () => {
      const p = await peerOf(a, selfB.id);
      return p?.state === 'refused' ? p : undefined;
    }, 20_000);
    expect(learned.lastError).toMatch(/no longer paired|unpaired this site/);
    expect(await refusals(b, 'not_paired')).toBeGreaterThanOrEqual(1);
  });

  it('refuses and counts a wrong code, voids the code after 5 wrong tries, and says so without the code', async () => {
    const a = await site();
    const b = await site();
    const url = a.self.publicUrl;
    const shown = await code(a);
    const first = await b.api.post('/api/v1/sites', { url, code: wrong(shown) });
    expect(first.status).toBe(400);
    expect(first.body.error.details).toEqual([{ path: '/code', message: 'wrong code' }]);
    expect(first.body.error.message).toMatch(/wrong\. 4 tries are left\.$/);
    expect(first.text).not.toContain(normalizePairingCode(shown));
    for (let i = 1; i < 4; i++) expect((await b.api.post('/api/v1/sites', { url, code: wrong(shown, i) })).body.error.details[0].message).toBe('wrong code');
    const fifth = await b.api.post('/api/v1/sites', { url, code: wrong(shown, 4) });
    expect(fifth.status).toBe(400);
    expect(fifth.body.error.details).toEqual([{ path: '/code', message: 'code void' }]);
    // the right code is void now too
    const right = await b.api.post('/api/v1/sites', { url, code: shown });
    expect(right.status).toBe(400);
    expect(right.body.error.details).toEqual([{ path: '/code', message: 'code void' }]);
    expect(await refusals(a, 'wrong_code')).toBe(4);
    expect(await refusals(a, 'code_void')).toBe(2);
    expect((await a.api.get('/api/v1/sites')).body.peers).toEqual([]);
    // a malformed code and address never leave B
    expect((await b.api.post('/api/v1/sites', { url, code: 'short' })).body.error.details).toEqual([{ path: '/code', message: 'is not 8 characters of the code alphabet' }]);
    expect((await b.api.post('/api/v1/sites', { url: 'http://127.0.0.1:1', code: shown })).body.error.details).toEqual([{ path: '/url', message: 'must be wss://HOST[:PORT]' }]);
  });

  it('refuses a replayed proof, a proof made after the code expired, and a code already used (scripted joining site)', async () => {
    const a = await site({ SITECALL_PAIRING_CODE_TTL_SEC: '2' });
    const selfA = a.self;
    const joiner = await makeSelfSignedCertificate();
    const joinerId = siteIdOf(joiner.certPem);

    /** Opens the pairing socket and runs hello → share; returns what a proof needs. */
    const begin = async (as = joiner) => {
      const ws = new WebSocket(`${selfA.publicUrl}${PAIRING_PATH}`, { key: as.keyPem, cert: as.certPem, rejectUnauthorized: false } as ClientOptions);
      let holderCert = '';
      ws.once('upgrade', (res: IncomingMessage) => (holderCert = new X509Certificate((res.socket as TLSSocket).getPeerCertificate().raw).toString()));
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      expect(siteIdOf(holderCert)).toBe(selfA.id);
      const reader = messageReader(ws);
      const sidB = Buffer.alloc(16, 7);
      ws.send(JSON.stringify({ type: 'hello', version: 1, sid: sidB.toString('base64url') }));
      const share = await reader.next(5_000);
      return { ws, reader, sidB, share };
    };
    const proofFor = (s: Awaited<ReturnType<typeof begin>>, c: string) => {
      const sid = Buffer.concat([s.sidB, Buffer.from(s.share['sid'] as string, 'base64url')]);
      const party = new CPaceParty('responder', { prs: new TextEncoder().encode(normalizePairingCode(c)), ci: channelIdentifier(selfA.id, joinerId), sid }, new TextEncoder().encode(JSON.stringify({ name: 'scripted', publicUrl: 'wss://127.0.0.1:9' })));
      const keys = party.finish(Buffer.from(s.share['Y'] as string, 'base64url'), Buffer.from(s.share['ad'] as string, 'base64url'));
      return { type: 'proof', Y: Buffer.from(party.share).toString('base64url'), ad: Buffer.from(party.ad).toString('base64url'), tag: Buffer.from(keys.ownTag).toString('base64url') };
    };
    const answer = async (s: Awaited<ReturnType<typeof begin>>, proof: object) => {
      s.ws.send(JSON.stringify(proof));
      const m = await s.reader.next(5_000);
      s.ws.terminate();
      return m;
    };

    // a proof replayed into a new session (same share and tag): refused as a replay
    const shown = await code(a);
    const s1 = await begin();
    const recorded = proofFor(s1, wrong(shown));
    expect(await answer(s1, recorded)).toMatchObject({ type: 'refused', reason: 'wrong_code' });
    const s2 = await begin();
    expect(await answer(s2, recorded)).toMatchObject({ type: 'refused', reason: 'replayed_proof' });
    expect(await refusals(a, 'replayed_proof')).toBe(1);

    // a right proof pairs; replaying it later finds the code used
    const s3 = await begin();
    const good = proofFor(s3, shown);
    expect(await answer(s3, good)).toMatchObject({ type: 'confirm' });
    expect((await a.api.get('/api/v1/sites')).body.peers.map((p: { id: string }) => p.id)).toEqual([joinerId]);
    const s4 = await begin(await makeSelfSignedCertificate());
    expect(s4.share).toMatchObject({ type: 'refused', reason: 'code_used' });
    // and the paired joiner itself is told it is paired already
    const s4b = await begin();
    expect(s4b.share).toMatchObject({ type: 'refused', reason: 'already_paired' });
    s4b.ws.terminate();
    s4.ws.terminate();
    expect((await a.api.delete(`/api/v1/sites/${joinerId}`)).status).toBe(204);

    // a proof that arrives after the code expired (2 s here; 10 minutes in an installation)
    const fresh = await a.api.post('/api/v1/sites/pairing-code');
    const s5 = await begin();
    const late = proofFor(s5, fresh.body.code);
    await waitFor('the code to expire', async () => (Date.now() > Date.parse(fresh.body.expiresAt) + 50 ? true : undefined), 10_000);
    expect(await answer(s5, late)).toMatchObject({ type: 'refused', reason: 'code_expired' });
    expect(await refusals(a, 'code_expired')).toBe(1);
  });

  it('refuses a certificate that is not the pinned one, and a link from a site that was unpaired while apart', async () => {
    const a = await site();
    const b = await site();
    const c = await site();
    const selfA = a.self;
    const selfB = b.self;
    expect((await b.api.post('/api/v1/sites', { url: selfA.publicUrl, code: await code(a) })).status).toBe(201);
    await b.relogin(); // B joined A: its admin has A's password (the same one here), its session ended
    await waitFor('the link', async () => ((await peerOf(b, selfA.id))?.state === 'connected' ? true : undefined));

    // a third process answers at A's address (and A cannot reach B): B refuses its certificate, counts it, says so
    b.proxy.cut();
    a.proxy.retarget(c.service.peerPort);
    const refused = await waitFor('B to refuse C', async () => {
      const p = await peerOf(b, selfA.id);
      return p?.state === 'refused' ? p : undefined;
    });
    expect(refused.lastError).toMatch(/not the one pinned/);
    expect(await refusals(b, 'certificate_mismatch')).toBeGreaterThanOrEqual(1);
    expect((await c.api.get('/api/v1/sites')).body.peers).toEqual([]);

    // back to A: the link returns
    a.proxy.retarget(a.service.peerPort);
    b.proxy.heal();
    await waitFor('the link back', async () => ((await peerOf(b, selfA.id))?.state === 'connected' ? true : undefined), 20_000);

    // A unpairs B while the link is cut; B learns it on its next attempt, and A counts it
    a.proxy.cut();
    b.proxy.cut();
    await waitFor('B to see the cut', async () => ((await peerOf(b, selfA.id))?.state === 'unreachable' ? true : undefined));
    expect((await a.api.delete(`/api/v1/sites/${selfB.id}`)).status).toBe(204);
    a.proxy.heal();
    b.proxy.heal();
    const told = await waitFor('B refused as unpaired', async () => {
      const p = await peerOf(b, selfA.id);
      return p?.state === 'refused' ? p : undefined;
    }, 20_000);
    expect(told.lastError).toMatch(/unpaired this site|no longer paired/);
    expect(await refusals(a, 'not_paired')).toBeGreaterThanOrEqual(1);
  });

  it('stops the start with one sentence when the peer port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const run = await runCli(['start', '--host', '127.0.0.1', '--port', String(await freePort()), '--peer-port', String(taken), '--data-dir', join(tempDir(), 'data')], { SITECALL_ADMIN_PASSWORD: 'test-admin-password' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`sitecall: The peer port ${taken} on 127.0.0.1 is already in use: choose another with --peer-port or SITECALL_PEER_PORT.`);
    } finally {
      blocker.close();
    }
  });
});
