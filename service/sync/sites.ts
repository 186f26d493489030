import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocket, type ClientOptions } from 'ws';
import type { PairedSite, PairingCode, PeerSite, SitesList } from '../../shared/api/sites.js';
import type { SiteInterfaces } from '../config/validate.js';
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
import type { AdoptResult } from './adopt.js';
import { answerJoins, onAbout, requestJoin, sendAbout, sendReady, type DonorState } from './join.js';
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
  /** this machine's network interface names, told to each peer on the link */
  interfaces: () => string[];
  /** the joining site's adoption of the donor's users, tokens and configuration (sync/adopt.ts) */
  adopt: (donor: DonorState) => Promise<AdoptResult>;
}

const PAIR_TIMEOUT_MS = 15_000;
/** how long the pairing request waits for the adoption over the new link before it answers `pending` */
const ADOPTION_WAIT_MS = 15_000;

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
  /** per peer, the join running on its current link (one at a time: a replaced link's join ends with it) */
  private readonly joins = new Map<string, Promise<void>>();
  private readonly adoptedWaiters = new Map<string, Set<() => void>>();
  private readonly syncedLogged = new Set<string>();

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
    this.links.onPeerChannel((channel) => this.linked(channel));
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
    this.opts.log.info({ publicUrl: this.publicUrl, peerPort: port, peers: this.peers.all().length }, 'peer listener up');
  }

  async stop(): Promise<void> {
    this.links.close();
    await this.opts.replication.stop();
    await this.listener.close();
  }

  onPeerChannel(listener: (channel: PeerChannel) => void): () => void {
    return this.links.onPeerChannel(listener);
  }

  /** The paired sites as the configuration's validation and partitioning see them (ConfigService's SiteDirectory). */
  siteInterfaces(): Map<string, SiteInterfaces> {
    const out = new Map<string, SiteInterfaces>();
    for (const p of this.peers.all()) if (!p.unpairedByPeer) out.set(p._id, { name: p.about?.name ?? p.name, interfaces: p.about?.interfaces ?? [] });
    return out;
  }

  /** A paired site is up while the link to it is. */
  isUp(siteId: string): boolean {
    return siteId === this.opts.site.id || (this.peers.get(siteId) !== undefined && this.links.status(siteId).state === 'connected');
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
  async pair(urlInput: string, codeInput: string, sessionUser?: string): Promise<PairedSite> {
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
      const adopted = this.whenAdopted(peer._id, ADOPTION_WAIT_MS);
      // pinned and listening for A's links before A hears that B is done (A then dials B too)
      await this.peers.put(peer);
      this.listener.repin();
      this.links.sync(this.peers.all());
      // `done` closes the socket cleanly, after its frame: A waits for it before it dials B
      joined.done();
      completed = true;
      this.opts.log.info({ peer: peer._id, name: peer.name, url }, 'paired with a site (this site joined it)');
      const done = await adopted;
      const now = this.peers.get(peer._id) ?? peer;
      const replacedUsers = now.join?.replacedUsers ?? [];
      const sessionEnded = sessionUser !== undefined && replacedUsers.includes(sessionUser);
      return {
        ...this.view(now),
        adoption: {
          state: done ? 'adopted' : 'pending',
          replacedUsers,
          sessionEnded,
          message: done
            ? `This site now uses the installation's users, API tokens and configuration${replacedUsers.length ? `; ${replacedUsers.join(', ')} now ${replacedUsers.length === 1 ? 'has' : 'have'} the password of the other site${sessionEnded ? ': log in again with it' : ''}` : ''}.`
            : "This site adopts the installation's users, API tokens and configuration when the link to the other site is up; a user that has another password there then logs in with that one.",
        },
      };
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

  /**
   * A new link. Each side says who it is (`sites`). On the joining site the first link adopts the
   * donor's installation before replication starts, and every link then says `ready`; the donor
   * starts replicating when it hears `ready`, so nothing of the joining site's reaches it before
   * the adoption's writes do (design section 7, "Joining").
   */
  private linked(channel: PeerChannel): void {
    const peerId = channel.peerId;
    sendAbout(channel, { name: this.opts.site.name, interfaces: this.opts.interfaces() });
    const offAbout = onAbout(channel, (about) => void this.heardAbout(peerId, about));
    channel.onClose(() => offAbout());
    const peer = this.peers.get(peerId);
    if (!peer?.joined) {
      let started = false;
      const offJoins = answerJoins(channel, this.opts.changeLog, () => {
        if (started || !channel.isOpen) return;
        started = true;
        this.opts.replication.attach(channel);
      });
      channel.onClose(() => offJoins());
      return;
    }
    const run = (this.joins.get(peerId) ?? Promise.resolve()).then(() => this.joinOver(channel));
    const tracked = run.catch((err: unknown) => this.opts.log.warn({ err, peer: peerId }, 'joining the installation failed on this link; it is tried again on the next'));
    this.joins.set(peerId, tracked);
  }

  private async joinOver(channel: PeerChannel): Promise<void> {
    const peerId = channel.peerId;
    if (!channel.isOpen) return;
    let peer = this.peers.get(peerId);
    if (!peer || peer.unpairedByPeer) return;
    if (!peer.join) {
      const self = this.opts.site.id;
      const before = this.opts.changeLog.head();
      let donor: DonorState;
      let result: AdoptResult;
      try {
        donor = await requestJoin(channel);
        result = await this.opts.adopt(donor);
      } catch (err) {
        // the next link tries again: an adoption is idempotent (join-config.ts, adopt.ts)
        channel.close(`joining failed: ${(err as Error).message}`.slice(0, 120));
        throw err;
      }
      const target: Record<string, number> = {};
      const from: Record<string, number> = {};
      for (const [origin, seq] of Object.entries(donor.have)) {
        if (origin === self) continue;
        target[origin] = seq;
        from[origin] = Math.min(before[origin] ?? 0, seq);
      }
      const current = this.peers.get(peerId);
      if (!current) return;
      peer = { ...current, join: { adoptedAt: new Date().toISOString(), target, from, replacedUsers: result.replacedUsers, supersedes: result.supersedes } };
      await this.peers.put(peer);
      this.opts.log.info({ peer: peerId, replacedUsers: result.replacedUsers, entries: progressOf(peer, this.opts.changeLog.head()).total }, 'adopted the installation of the site this site joined; copying what it holds');
      for (const w of this.adoptedWaiters.get(peerId) ?? []) w();
      this.adoptedWaiters.delete(peerId);
    }
    if (!channel.isOpen) return;
    // `ready` is queued before the session's hello: the donor starts its session when it reads it
    sendReady(channel, peer.join?.supersedes ?? []).catch(() => undefined);
    this.opts.replication.attach(channel);
  }

  /** Resolves true once the join of this peer adopted the installation, false after `timeoutMs`. */
  private whenAdopted(peerId: string, timeoutMs: number): Promise<boolean> {
    if (this.peers.get(peerId)?.join) return Promise.resolve(true);
    return new Promise((resolve) => {
      let set = this.adoptedWaiters.get(peerId);
      if (!set) this.adoptedWaiters.set(peerId, (set = new Set()));
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        set.delete(waiter);
        resolve(false);
      }, timeoutMs);
      set.add(waiter);
    });
  }

  private async heardAbout(peerId: string, about: { name: string; interfaces: string[] }): Promise<void> {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    if (peer.about && peer.about.name === about.name && peer.about.interfaces.join('\n') === about.interfaces.join('\n')) return;
    await this.peers.put({ ...peer, about: { ...about, at: new Date().toISOString() } });
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
      join: p.joined ? this.joinView(p) : null,
    };
  }

  /** The join's progress, from this log's head against the target (true across reconnects and restarts). */
  private joinView(p: PeerRecord): PeerSite['join'] {
    if (!p.join) return { state: 'joining', copied: 0, total: null };
    const { copied, total } = progressOf(p, this.opts.changeLog.head());
    const synced = copied >= total;
    if (synced && !this.syncedLogged.has(p._id)) {
      this.syncedLogged.add(p._id);
      this.opts.log.info({ peer: p._id, entries: total }, 'joined the installation: synced with the site this site joined');
    }
    return { state: synced ? 'synced' : 'joining', copied, total };
  }
}

/** Entries of the join's target this log holds, and the target's size. */
function progressOf(p: PeerRecord, head: Record<string, number>): { copied: number; total: number } {
  let copied = 0;
  let total = 0;
  for (const [origin, seq] of Object.entries(p.join?.target ?? {})) {
    const base = p.join?.from[origin] ?? 0;
    total += Math.max(0, seq - base);
    copied += Math.max(0, Math.min(head[origin] ?? 0, seq) - base);
  }
  return { copied, total };
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
