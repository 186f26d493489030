/**
 * The peer port takes connections from anyone who can reach it, before any pin is checked: no
 * client there may take the service down. Clients that reset their socket at every step of an
 * upgrade (right after the request, after a refusal was written, mid-handshake), unknown paths,
 * plain HTTP, and a certificate that is not pinned asking for a link; afterwards the service
 * answers, and it never exited.
 */
import { connect as netConnect } from 'node:net';
import { connect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { makeSelfSignedCertificate } from '../../service/sync/identity.js';
import { startService, type RunningTestService } from '../support/service.js';

let service: RunningTestService | undefined;
afterEach(async () => {
  await service?.stop();
  service = undefined;
});

function upgradeRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
}

/** Opens TLS with a client certificate, sends `request`, then resets the TCP socket at once or when the first answer comes. */
function resetAfter(port: number, cert: { keyPem: string; certPem: string }, request: string, when: 'at-once' | 'on-data'): Promise<void> {
  return new Promise((resolve) => {
    const raw = netConnect({ host: '127.0.0.1', port });
    // a reset (RST), not a close: the peer's next read or write fails with ECONNRESET
    const reset = () => {
      if (!raw.destroyed) raw.resetAndDestroy();
    };
    raw.on('error', () => resolve());
    raw.on('close', () => resolve());
    const socket = connect({ socket: raw, key: cert.keyPem, cert: cert.certPem, rejectUnauthorized: false });
    socket.on('error', () => resolve());
    socket.on('secureConnect', () => {
      socket.write(request);
      if (when === 'at-once') setImmediate(reset);
    });
    socket.on('data', reset);
  });
}

describe('the peer port under hostile clients', () => {
  it('keeps the service up through resets at every step of an upgrade', async () => {
    service = await startService();
    const stranger = await makeSelfSignedCertificate('stranger');
    const port = service.peerPort;
    for (let round = 0; round < 15; round++) {
      await Promise.all([
        resetAfter(port, stranger, upgradeRequest('/v1/link'), 'at-once'),
        resetAfter(port, stranger, upgradeRequest('/v1/link'), 'on-data'),
        resetAfter(port, stranger, upgradeRequest('/v1/pair'), 'at-once'),
        resetAfter(port, stranger, upgradeRequest('/nowhere'), 'on-data'),
        resetAfter(port, stranger, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'on-data'),
      ]);
    }
    expect(service.proc.exitCode, service.logs().slice(-2000)).toBeNull();
    const health = await fetch(`${service.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
