import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { displaySiteId, loadOrCreateSiteCertificate, makeSelfSignedCertificate, siteIdFromFingerprint256, siteIdOf, SITE_KEY_FILE } from '../../service/sync/identity.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('site identity', () => {
  it('makes a certificate once, keeps the key owner-only, and the id is the fingerprint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sitecall-identity-'));
    dirs.push(dir);
    const first = await loadOrCreateSiteCertificate(dir);
    expect(first.created).toBe(true);
    expect(first.id).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(dir, SITE_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateSiteCertificate(dir);
    expect(again.created).toBe(false);
    expect(again.id).toBe(first.id);
    expect(displaySiteId(first.id)).toMatch(/^([0-9A-F]{8}-){7}[0-9A-F]{8}$/);
  });

  it('pins: mutual TLS with each side trusting exactly the other certificate, and refuses a third', async () => {
    const a = await makeSelfSignedCertificate();
    const b = await makeSelfSignedCertificate();
    const c = await makeSelfSignedCertificate();
    const server = createServer({ key: a.keyPem, cert: a.certPem, requestCert: true, rejectUnauthorized: true, ca: [b.certPem] }, (s) => s.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const dial = (client: { keyPem: string; certPem: string }, pin: string) =>
      new Promise<{ peer: string; data: string }>((resolve, reject) => {
        const socket: TLSSocket = connect({ host: '127.0.0.1', port, key: client.keyPem, cert: client.certPem, ca: [pin], rejectUnauthorized: true, checkServerIdentity: () => undefined }, () => {
          let data = '';
          socket.on('data', (d: Buffer) => (data += d.toString()));
          socket.on('end', () => resolve({ peer: siteIdFromFingerprint256(socket.getPeerCertificate().fingerprint256), data }));
        });
        socket.on('error', reject);
      });
    try {
      const ok = await dial(b, a.certPem);
      expect(ok).toEqual({ peer: siteIdOf(a.certPem), data: 'ok' });
      // the client pins a certificate the server does not have
      await expect(dial(b, c.certPem)).rejects.toThrow();
      // the server does not trust the client's certificate: with TLS 1.3 the client may finish its
      // side of the handshake before the server's alert arrives, but it never gets the data
      expect(await dial(c, a.certPem).then((r) => r.data, () => 'refused')).not.toBe('ok');
    } finally {
      server.close();
    }
  });
});
