import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocket, type ClientOptions } from 'ws';
import type { PairingCode, PeerSite, SitesList } from '../../shared/api/sites.js';
import type { SiteIdentity } from '../config/site.js';
import { AppError, ConflictError, NotFoundError, StartupError, UnavailableError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DocumentStore } from '../storage/documents.js';
import type { ChangeLog } from '../storage/changelog/log.js';
import type { ReplicationMetrics } from '../../shared/sync/replication.js';
import type { PeerChannel } from './channel.js';
import { siteIdOf, type SiteCertificate } from './identity.js';
import { LinkManager, unpairedText, type LinkRefusal } from './link.js';
import { PeerListener } from './listener.js';
import { PeerStore, type PeerRecord } from './peers.js';
import type { ReplicationHub } from './replication/hub.js';
import { displayPairingCode, normalizePairingCode } from './pairing/code.js';
import { MAX_WRONG_TRIES, PairingCodes } from './pairing/codes.js';
import { answerPairing, joinPairing, PAIRING_PATH, PairingRefused, type PairingRefusalReason } from './pairing/protocol.js';
import { checkPublicUrl } from '../config/settings.js';

export type SiteRefusalReason = PairingRefusalReason | LinkRefusal;

export interface SiteServiceOptions {
  documents: DocumentStore;
  changeLog: ChangeLog;
  site: SiteIdentity;
  certificate: SiteCertificate;
  registry: Registry;
  log: Logger;
  publicUrl: string | undefined;
  peerHost: string;
  peerPort: number;
  pairingCodeTtlSec: number;
  /** replicates the change log over each link (design section 7) */
  replication: ReplicationHub;
}

const PAIR_TIMEOUT_MS = 15_000;

/**
 * Sites (design section 7): this site's identity as peers see it, the pairing code it shows,
 * pairing with another site, the paired peers (pinned certificates), unpairing, and the links to
 * them (LinkManager). Refusals are counted in `sitecall_site_refusals_total{reason}`.
 */
export class SiteService {
  readonly links: LinkManager;
  private readonly codes: PairingCodes;
  private readonly listener: PeerListener;
  private readonly refusals: Counter<'reason'>;
  private publicUrl = '';

  private constructor(
    private readonly opts: SiteServiceOptions,
    private readonly peers: PeerStore,
  ) {
    this.refusals = new Counter({ name: 'sitecall_site_refusals_total', help: 'Pairing attempts and peer links this site refused, by reason (wrong_code, code_void, code_expired, replayed_proof, expired_proof, certificate_mismatch, not_paired, ...)', labelNames: ['reason'], registers: [opts.registry] });
    this.codes = new PairingCodes(opts.pairingCodeTtlSec * 1000);
    const links = () => this.links;
    new Gauge({
      name: 'sitecall_site_peers',
      help: 'Paired sites by the state of the link to them (connected, unreachable, refused)',
      labelNames: ['state'],
      registers: [opts.registry],
      collect() {
        for (const [state, n] of Object.entries(links().counts())) this.set({ state }, n);
      },
    });
    this.links = new LinkManager(
      opts.certificate,
      {
        refused: (peerId, reason) => this.refuse(reason, { peer: peerId }),
        unpairedByPeer: (peerId) => void this.unpairedByPeer(peerId),
      },
      opts.log.child({ part: 'links' }),
    );
    this.links.onPeerChannel((channel) => opts.replication.attach(channel));
    this.listener = new PeerListener(opts.certificate, {
      pinned: () => this.peers.all().filter((p) => !p.unpairedByPeer).map((p) => p.certPem),
      isPinned: (id) => {
        const p = this.peers.get(id);
        return p !== undefined && !p.unpairedByPeer;
      },
      pair: (ws, joinerId, certPem) => void this.answer(ws, joinerId, certPem),
      link: (ws, peerId) => this.links.accept(ws, peerId),
      refusedLink: () => this.refuse('not_paired'),
    });
  }

  static async open(opts: SiteServiceOptions): Promise<SiteService> {
    return new SiteService(opts, await PeerStore.open(opts.documents));
  }

  async start(): Promise<void> {
    const port = await this.listener.listen(this.opts.peerHost, this.opts.peerPort);
    const host = this.opts.peerHost === '0.0.0.0' || this.opts.peerHost === '::' ? hostname() : this.opts.peerHost;
    this.publicUrl = this.opts.publicUrl ?? `wss://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.links.sync(this.peers.all());
    this.opts.log.info({ publicUrl: this.publicUrl, peers: this.peers.all().length }, 'peer listener up');
  }

  async stop(): Promise<void> {
    this.links.close();
    await this.opts.replication.stop();
    await this.listener.close();
  }

  onPeerChannel(listener: (channel: PeerChannel) => void): () => void {
    return this.links.onPeerChannel(listener);
  }

  list(): SitesList {
    return { self: { id: this.opts.site.id, name: this.opts.site.name, publicUrl: this.publicUrl }, peers: this.peers.all().map((p) => this.view(p)) };
  }

  makeCode(): PairingCode {
    const issued = this.codes.issue();
    this.opts.log.info({ expiresAt: new Date(issued.expiresAt).toISOString() }, 'pairing code made');
    return { code: displayPairingCode(issued.code), expiresAt: new Date(issued.expiresAt).toISOString(), tries: MAX_WRONG_TRIES, url: this.publicUrl };
  }

  /** This site joins the site at `url` with the code it shows; resolves with the new peer. */
  async pair(urlInput: string, codeInput: string): Promise<PeerSite> {
    const code = normalizePairingCode(codeInput);
    if (!code) throw new ValidationError('The code is not a pairing code: it has 8 letters and digits, like K7QW-2M9X.', [{ path: '/code', message: 'is not 8 characters of the code alphabet' }]);
    let url: string;
    try {
      url = checkPublicUrl(urlInput, 'url');
    } catch (err) {
      if (!(err instanceof StartupError)) throw err;
      throw new ValidationError('The address is not a peer address: give wss://HOST[:PORT] of the other site.', [{ path: '/url', message: 'must be wss://HOST[:PORT]' }]);
    }
    const ws = new WebSocket(`${url}${PAIRING_PATH}`, { key: this.opts.certificate.keyPem, cert: this.opts.certificate.certPem, rejectUnauthorized: false, handshakeTimeout: PAIR_TIMEOUT_MS, maxPayload: 64 * 1024 } as ClientOptions);
    let completed = false;
    try {
      const holder = await new Promise<{ id: string; certPem: string }>((resolve, reject) => {
        let cert: { id: string; certPem: string } | undefined;
        ws.once('upgrade', (res: IncomingMessage) => {
          const raw = (res.socket as TLSSocket).getPeerCertificate().raw;
          if (raw) cert = { id: siteIdOf(raw), certPem: new X509Certificate(raw).toString() };
        });
        ws.once('open', () => (cert ? resolve(cert) : reject(new UnavailableError('The site at that address presented no certificate.', undefined, [{ path: '/url', message: 'presented no certificate' }]))));
        ws.once('unexpected-response', (_req, res: IncomingMessage) => reject(new UnavailableError(`The address answered ${res.statusCode ?? 'nothing'}: it is not a Sitecall peer port.`, undefined, [{ path: '/url', message: 'is not a Sitecall peer port' }])));
        ws.once('error', (err: NodeJS.ErrnoException) => reject(new UnavailableError(`Cannot reach the site at ${url}: ${err.code ?? err.message}.`, 5, [{ path: '/url', message: 'cannot be reached' }])));
      });
      if (holder.id === this.opts.site.id) throw new ValidationError('That address is this site itself.', [{ path: '/url', message: 'is this site' }]);
      if (this.peers.get(holder.id)) throw new ConflictError('This site is paired with that site already: unpair it first to pair again.', [{ path: '/url', message: 'is a paired site' }]);
      const joined = await joinPairing(ws, { selfId: this.opts.site.id, self: { name: this.opts.site.name, publicUrl: this.publicUrl }, holderId: holder.id, code, timeoutMs: PAIR_TIMEOUT_MS });
      const peer: PeerRecord = { _id: holder.id, name: joined.info.name, url, certPem: holder.certPem, pairedAt: new Date().toISOString(), joined: true };
      // pinned and listening for A's links before A hears that B is done (A then dials B too)
      await this.peers.put(peer);
      this.listener.repin();
      this.links.sync(this.peers.all());
      // `done` closes the socket cleanly, after its frame: A waits for it before it dials B
      joined.done();
      completed = true;
      this.opts.log.info({ peer: peer._id, name: peer.name, url }, 'paired with a site (this site joined it)');
      return this.view(peer);
    } catch (err) {
      if (err instanceof PairingRefused) throw refusalError(err);
      if (err instanceof AppError) throw err;
      throw new UnavailableError(`Pairing with the site at ${url} failed: ${(err as Error).message}.`, 5, [{ path: '/url', message: 'pairing did not complete' }]);
    } finally {
      if (!completed) ws.terminate();
    }
  }

  async unpair(id: string): Promise<void> {
    const peer = this.peers.get(id);
    if (!peer) throw new NotFoundError(`No paired site has the id ${id}.`);
    await this.links.unpair(id);
    // the session's last checkpoint is written before the peer is forgotten, not after
    await this.opts.replication.detach(id);
    await this.peers.remove(id);
    this.opts.changeLog.removePeer(id);
    this.listener.repin();
    this.links.sync(this.peers.all());
    this.opts.log.info({ peer: id, name: peer.name }, 'site unpaired');
  }

  private async answer(ws: WebSocket, joinerId: string, cert: string): Promise<void> {
    await answerPairing(ws, {
      selfId: this.opts.site.id,
      self: { name: this.opts.site.name, publicUrl: this.publicUrl },
      joinerId,
      codes: this.codes,
      isPaired: (id) => this.peers.get(id) !== undefined,
      refused: (reason) => this.refuse(reason, { joiner: joinerId }),
      pin: async (p) => {
        await this.peers.put({ _id: p.id, name: p.name.slice(0, 100), url: peerUrl(p.url), certPem: cert, pairedAt: new Date().toISOString(), joined: false });
        this.listener.repin();
        this.links.sync(this.peers.all(), { notYet: p.id });
        this.opts.log.info({ peer: p.id, name: p.name }, 'paired with a site (it joined this site)');
      },
      finished: (peerId) => this.links.dialNow(peerId),
    });
  }

  private async unpairedByPeer(peerId: string): Promise<void> {
    const peer = this.peers.get(peerId);
    if (!peer || peer.unpairedByPeer) return;
    const marked = { ...peer, unpairedByPeer: new Date().toISOString() };
    await this.peers.put(marked);
    await this.opts.replication.detach(peerId);
    this.opts.changeLog.removePeer(peerId);
    this.listener.repin();
    this.links.sync(this.peers.all());
    this.opts.log.warn({ peer: peerId, name: peer.name }, 'the peer unpaired this site');
  }

  private refuse(reason: SiteRefusalReason, fields: Record<string, string> = {}): void {
    this.refusals.inc({ reason });
    this.opts.log.warn({ reason, ...fields }, 'site refusal');
  }

  private view(p: PeerRecord): PeerSite {
    const s = this.links.status(p._id);
    const refusedByPeer = p.unpairedByPeer !== undefined;
    return {
      id: p._id,
      name: p.name,
      url: p.url,
      joined: p.joined,
      state: refusedByPeer ? 'refused' : s.state,
      rttMs: s.rttMs,
      lastError: refusedByPeer ? unpairedText(p) : s.lastError,
      pairedAt: p.pairedAt,
      connectedSince: s.connectedSince,
      lag: lagOf(this.opts.replication.metrics(p._id)),
    };
  }
}

/** The replication lag towards a peer; null while no session runs (no link). */
function lagOf(m: ReplicationMetrics | undefined): PeerSite['lag'] {
  return m ? { entries: m.lagEntries, ms: m.lagMs } : { entries: null, ms: null };
}

/** The address a joining site advertised, if it is a peer address ('' otherwise: this site then only accepts its links). */
function peerUrl(advertised: string): string {
  try {
    return checkPublicUrl(advertised, 'publicUrl');
  } catch {
    return '';
  }
}

/** What the admin of the joining site is told when the other site refused. */
function refusalError(err: PairingRefused): AppError {
  switch (err.reason) {
    case 'wrong_code':
    case 'code_void':
    case 'code_expired':
    case 'code_used':
    case 'no_code':
    case 'replayed_proof':
    case 'expired_proof':
      return new ValidationError(err.message, [{ path: '/code', message: err.reason.replaceAll('_', ' ') }]);
    case 'already_paired':
      return new ConflictError(err.message, [{ path: '/url', message: 'is a paired site' }]);
    case 'self':
      return new ValidationError(err.message, [{ path: '/url', message: 'is this site' }]);
    default:
      return new UnavailableError(err.message, undefined, [{ path: '/url', message: err.reason.replaceAll('_', ' ') }]);
  }
}
