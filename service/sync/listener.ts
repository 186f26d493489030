import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { StartupError } from '../errors.js';
import { siteIdOf, type SiteCertificate } from './identity.js';
import { LINK_MAX_PAYLOAD_BYTES, LINK_PATH } from './link.js';
import { PAIRING_PATH } from './pairing/protocol.js';

export interface ListenerHandlers {
  /** the pinned certificates (PEM) of the paired peers */
  pinned(): string[];
  isPinned(id: string): boolean;
  pair(ws: WebSocket, joinerId: string, joinerCertPem: string): void;
  link(ws: WebSocket, peerId: string): void;
  refusedLink(): void;
}

/**
 * The peer listener: a TLS port of its own (SITECALL_PEER_PORT), separate from the API, which
 * stays plain HTTP on loopback by default. Every connection must present a client certificate.
 * `/v1/link` takes only a paired peer: its certificate must verify against the pinned ones (the
 * TLS `ca`, renewed on every pairing and unpairing) and its fingerprint must be a pin. `/v1/pair`
 * takes any certificate, because the joining site cannot be pinned before the PAKE: there the
 * certificate only feeds the PAKE's channel identifier. That is why the TLS layer itself does not
 * reject an unknown certificate (`rejectUnauthorized: false`); the check is per path, right here.
 */
export class PeerListener {
  private readonly server: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: LINK_MAX_PAYLOAD_BYTES });

  constructor(
    private readonly identity: SiteCertificate,
    private readonly handlers: ListenerHandlers,
  ) {
    this.server = createServer({ ...this.context(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (_req, res) => {
      res.writeHead(426, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ reason: 'upgrade_required', message: 'This is a Sitecall peer port: it speaks WebSocket links between paired sites only.' }));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket as TLSSocket, head));
    this.server.on('tlsClientError', () => undefined);
    this.wss.on('error', () => undefined);
  }

  /** Renews the TLS context after the pins changed (existing links keep theirs). */
  repin(): void {
    this.server.setSecureContext(this.context());
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') reject(new StartupError(`The peer port ${port} on ${host} is already in use: choose another with --peer-port or SITECALL_PEER_PORT.`));
        else reject(new StartupError(`Cannot listen for peers on ${host}:${port}: ${err.code ?? err.message}; choose another address with --peer-host or --peer-port.`));
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }

  private context() {
    const pinned = this.handlers.pinned();
    return { key: this.identity.keyPem, cert: this.identity.certPem, ...(pinned.length ? { ca: pinned } : {}) };
  }

  private upgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    // Once node hands a socket over for an upgrade its own error listener is gone; a client that
    // resets it after a refusal was written must not take the process down (as on the API's port).
    socket.on('error', () => undefined);
    const path = (req.url ?? '/').split('?')[0];
    const cert = socket.getPeerCertificate(true);
    if (!cert?.raw) return refuse(socket, 401, 'no_certificate', 'A peer must present its site certificate.');
    const id = siteIdOf(cert.raw);
    if (path === PAIRING_PATH) {
      const pem = new X509Certificate(cert.raw).toString();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.handlers.pair(ws, id, pem));
      return;
    }
    if (path === LINK_PATH) {
      if (!socket.authorized || !this.handlers.isPinned(id)) {
        this.handlers.refusedLink();
        return refuse(socket, 403, 'not_paired', 'This site is not paired with the site of that certificate.');
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.handlers.link(ws, id));
      return;
    }
    refuse(socket, 404, 'not_found', 'No such peer path.');
  }
}

function refuse(socket: TLSSocket, status: number, reason: string, message: string): void {
  const body = JSON.stringify({ reason, message });
  const text = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found';
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
