import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { KamEvent } from '../../integrations/kamailio/adapter/kamailio.js';
import { encodeNetstring } from '../../integrations/kamailio/adapter/netstring.js';

/**
 * A scripted Kamailio for the adapter's tests: the evapi server the shipped kamailio.cfg offers
 * (a hello per connection, then numbered events) and its HTTP dialog list (POST /sitecall/dialogs:
 * dlg.list with its place in the numbering in headers; or, as a cfg from before it, GET
 * /sitecall/snapshot with the place in the body).
 */
export const KBOOT = '1795416009506';

/** A fake Kamailio: evapi server and the HTTP snapshot endpoint. */
export class FakeKamailio {
  readonly evapi: TcpServer;
  readonly http: HttpServer;
  readonly clients = new Set<Socket>();
  kseq = 0;
  /** what the next snapshot answers with, and what it does after answering */
  onSnapshot: () => { kseq: number; dialogs: unknown[]; after?: () => void } = () => ({ kseq: this.kseq, dialogs: [] });
  /** runs right after the hello of a new connection (what it emits precedes anything the adapter asks) */
  onConnect: () => void = () => undefined;
  /** which form of the dialog list it offers: the shipped cfg's, or that of a cfg before /sitecall/dialogs */
  form: 'dialogs' | 'snapshot' = 'dialogs';
  /** the paths the adapter asked for the dialog list, in order */
  readonly asked: string[] = [];

  constructor() {
    this.evapi = createTcpServer((sock) => {
      this.clients.add(sock);
      sock.on('close', () => this.clients.delete(sock));
      sock.on('error', () => undefined);
      this.send({ k: 'hello', kboot: KBOOT, kseq: this.kseq, tvs: 1795416009, tvu: 0 });
      this.onConnect();
    });
    this.http = createHttpServer((req, res) => {
      this.asked.push(`${req.method} ${req.url}`);
      if (this.form === 'dialogs' && req.method === 'POST' && req.url === '/sitecall/dialogs') {
        const snap = this.onSnapshot();
        res.writeHead(200, { 'content-type': 'application/json', 'x-sitecall-kboot': KBOOT, 'x-sitecall-kseq': String(snap.kseq) }).end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: snap.dialogs }));
        return void snap.after?.();
      }
      if (this.form === 'snapshot' && req.url === '/sitecall/snapshot') {
        const snap = this.onSnapshot();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kboot: KBOOT, kseq: snap.kseq, rpc: { jsonrpc: '2.0', id: 1, result: snap.dialogs } }));
        return void snap.after?.();
      }
      res.writeHead(404).end();
    });
  }

  async listen(): Promise<{ evapiPort: number; httpPort: number }> {
    await Promise.all([new Promise<void>((r) => this.evapi.listen(0, '127.0.0.1', r)), new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r))]);
    return { evapiPort: (this.evapi.address() as { port: number }).port, httpPort: (this.http.address() as { port: number }).port };
  }

  send(msg: object): void {
    for (const c of this.clients) c.write(encodeNetstring(JSON.stringify(msg)));
  }

  /** Emits the next numbered event (an end of call `c<n>`). */
  emit(n = 1): void {
    for (let i = 0; i < n; i++) {
      this.kseq++;
      this.send({ k: 'ev', kboot: KBOOT, kseq: this.kseq, tvs: 1795416010, tvu: this.kseq, type: 'end', callId: `c${this.kseq}`, fromTag: 'f', by: 'caller' });
    }
  }

  /** Emits the next numbered event with these fields, stamped with the real time (µs). */
  event(fields: Pick<KamEvent, 'type' | 'callId'> & Partial<Omit<KamEvent, 'k' | 'kboot' | 'kseq' | 'tvs' | 'tvu'>>): number {
    this.kseq++;
    const nowUs = Date.now() * 1000;
    this.send({ k: 'ev', kboot: KBOOT, kseq: this.kseq, tvs: Math.floor(nowUs / 1e6), tvu: nowUs % 1e6, ...fields });
    return this.kseq;
  }

  dropClients(): void {
    for (const c of this.clients) c.destroy();
  }

  async close(): Promise<void> {
    this.dropClients();
    await Promise.all([new Promise((r) => this.evapi.close(r)), new Promise((r) => this.http.close(r))]);
  }
}
