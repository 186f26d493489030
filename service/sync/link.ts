import type { IncomingMessage } from 'node:http';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import type { PeerState } from '../../shared/api/sites.js';
import type { Logger } from '../logger.js';
import { channelOverWebSocket, type PeerChannel, type PeerMessage } from './channel.js';
import { siteIdFromFingerprint256, type SiteCertificate } from './identity.js';
import type { PeerRecord } from './peers.js';

export const LINK_PATH = '/v1/link';
/** Heartbeats: a ping this often each way; a peer not heard for LOSS_MS is lost (design section 7: within 3 s). */
export const HEARTBEAT_INTERVAL_MS = 500;
export const HEARTBEAT_LOSS_MS = 2_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 5_000;
/** A frame larger than this closes the link (replication sends its entries in batches well below it). */
export const LINK_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export type LinkRefusal = 'certificate_mismatch' | 'not_paired';

/** The certificate at the peer's address is not the one pinned for it. */
export class CertificateMismatch extends Error {
  override name = 'CertificateMismatch';
}

interface LinkState {
  peer: PeerRecord;
  state: PeerState;
  channel: PeerChannel | undefined;
  /** who opened the current link */
  dialer: 'self' | 'peer' | undefined;
  rttMs: number | null;
  lastError: string | null;
  connectedSince: string | null;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  dialing: WebSocket | undefined;
  stopped: boolean;
}

export interface LinkEvents {
  /** a link attempt was refused (counted by the caller) */
  refused(peerId: string, reason: LinkRefusal): void;
  /** the peer said it unpaired this site */
  unpairedByPeer(peerId: string): void;
}

/**
 * Keeps one mutual-TLS WebSocket per paired peer up and hands each new one, as a PeerChannel, to
 * the listeners (`onPeerChannel`): replication, voicemail and the rest plug in there.
 *
 * Both sides dial (with backoff) while they have no link, so either one finds out at its next
 * attempt that the other unpaired it, and a site whose address the other cannot reach (NAT) is
 * still linked from its own side; the listener hands the inbound sockets in through `accept`. Two
 * links may open at once (both dialed): both sides keep the same one, the one dialed by the lower
 * site id, and close the other; two links dialed by the same side, the newer one (the older is
 * likely dead without its owner knowing yet).
 *
 * Heartbeats on topic `heartbeat` measure the round trip; a link on which nothing at all was
 * received for HEARTBEAT_LOSS_MS is closed as lost, and dialing starts again.
 */
export class LinkManager {
  private readonly links = new Map<string, LinkState>();
  private readonly listeners = new Set<(channel: PeerChannel) => void>();
  private closed = false;

  constructor(
    private readonly identity: SiteCertificate,
    private readonly events: LinkEvents,
    private readonly log: Logger,
  ) {}

  onPeerChannel(listener: (channel: PeerChannel) => void): () => void {
    this.listeners.add(listener);
    for (const l of this.links.values()) if (l.channel?.isOpen) listener(l.channel);
    return () => this.listeners.delete(listener);
  }

  /**
   * Brings the links in line with the paired peers: new ones start, removed ones stop. `notYet`
   * is a peer just pinned whose pairing is not finished: its inbound link is taken, but this site
   * dials it only on `dialNow` (before, the peer may not have pinned this site yet and would
   * refuse the link as from a site it is not paired with).
   */
  sync(peers: readonly PeerRecord[], opts: { notYet?: string } = {}): void {
    const ids = new Set(peers.map((p) => p._id));
    for (const [id, l] of this.links) if (!ids.has(id)) this.stop(l, 'unpaired');
    for (const peer of peers) {
      const known = this.links.get(peer._id);
      if (known) {
        known.peer = peer;
        if (peer.unpairedByPeer && !known.stopped) this.stop(known, 'unpaired by the peer', false);
        continue;
      }
      const l: LinkState = { peer, state: peer.unpairedByPeer ? 'refused' : 'unreachable', channel: undefined, rttMs: null, lastError: peer.unpairedByPeer ? unpairedText(peer) : null, connectedSince: null, dialer: undefined, attempt: 0, timer: undefined, dialing: undefined, stopped: Boolean(peer.unpairedByPeer) };
      this.links.set(peer._id, l);
      if (!l.stopped && opts.notYet !== peer._id) this.dial(l);
    }
  }

  /** Starts dialing a peer held back by `sync`'s `notYet`. */
  dialNow(peerId: string): void {
    const l = this.links.get(peerId);
    if (l && !l.stopped) this.dial(l);
  }

  /** How many peers are in each state (for the gauge). */
  counts(): Record<PeerState, number> {
    const counts: Record<PeerState, number> = { connected: 0, unreachable: 0, refused: 0 };
    for (const l of this.links.values()) counts[l.state]++;
    return counts;
  }

  status(peerId: string): { state: PeerState; rttMs: number | null; lastError: string | null; connectedSince: string | null } {
    const l = this.links.get(peerId);
    if (!l) return { state: 'unreachable', rttMs: null, lastError: null, connectedSince: null };
    return { state: l.state, rttMs: l.rttMs, lastError: l.lastError, connectedSince: l.connectedSince };
  }

  /** An inbound link the listener checked (pinned certificate, mutual TLS). */
  accept(ws: WebSocket, peerId: string): void {
    const l = this.links.get(peerId);
    if (!l || l.stopped || this.closed) {
      ws.close(4403, 'not paired');
      return;
    }
    this.open(l, ws, 'peer');
  }

  /** Tells a connected peer that this site unpaired it, then drops the link. */
  async unpair(peerId: string): Promise<void> {
    const l = this.links.get(peerId);
    if (!l) return;
    if (l.channel?.isOpen) await l.channel.send({ topic: 'link', type: 'unpaired' }).catch(() => undefined);
    this.stop(l, 'unpaired');
    this.links.delete(peerId);
  }

  close(): void {
    this.closed = true;
    for (const l of this.links.values()) this.stop(l, 'site stopping');
  }

  private stop(l: LinkState, reason: string, forget = true): void {
    l.stopped = true;
    clearTimeout(l.timer);
    l.dialing?.terminate();
    l.channel?.close(reason);
    if (forget && reason === 'unpaired') this.links.delete(l.peer._id);
  }

  private dial(l: LinkState): void {
    if (l.stopped || this.closed || l.dialing || l.channel?.isOpen || !l.peer.url) return;
    const peer = l.peer;
    let mismatch: string | undefined;
    const tlsOptions: ConnectionOptions = {
      key: this.identity.keyPem,
      cert: this.identity.certPem,
      ca: [peer.certPem],
      rejectUnauthorized: true,
      // the pin: the certificate must be the one stored at pairing (no host name in it to check)
      checkServerIdentity: (_host: string, cert: { fingerprint256: string }) => {
        if (siteIdFromFingerprint256(cert.fingerprint256) === peer._id) return undefined;
        mismatch = siteIdFromFingerprint256(cert.fingerprint256);
        return new CertificateMismatch(`the certificate at ${peer.url} is not the one pinned for site ${peer.name}`);
      },
    };
    // ws hands the TLS options to tls.connect; its typing of checkServerIdentity is not Node's.
    const ws = new WebSocket(`${peer.url}${LINK_PATH}`, { ...tlsOptions, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, maxPayload: LINK_MAX_PAYLOAD_BYTES } as ClientOptions);
    l.dialing = ws;
    let settled = false;
    const failed = (message: string, refusal?: LinkRefusal) => {
      if (settled) return;
      settled = true;
      l.dialing = undefined;
      ws.terminate();
      if (l.stopped) return;
      l.lastError = message;
      l.state = refusal ? 'refused' : 'unreachable';
      if (refusal) this.events.refused(peer._id, refusal);
      if (refusal === 'not_paired') {
        // the peer no longer knows this site: stop dialing; the admin unpairs here too
        this.events.unpairedByPeer(peer._id);
        return;
      }
      this.retry(l);
    };
    ws.on('upgrade', (res: IncomingMessage) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      if (!cert?.fingerprint256 || siteIdFromFingerprint256(cert.fingerprint256) !== peer._id) failed(`The certificate at ${peer.url} is not the one pinned for site ${peer.name}.`, 'certificate_mismatch');
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString().slice(0, 2000)));
      res.on('end', () => {
        let reason = '';
        try {
          reason = String((JSON.parse(body) as { reason?: unknown }).reason ?? '');
        } catch {
          // not our listener
        }
        if (res.statusCode === 403 && reason === 'not_paired') failed(`Site ${peer.name} refused the link: it is no longer paired with this site. Unpair it here too.`, 'not_paired');
        else failed(`The peer address ${peer.url} answered ${res.statusCode ?? 'nothing'} instead of a link.`);
      });
      res.on('error', () => failed(`The peer address ${peer.url} answered ${res.statusCode ?? 'nothing'} instead of a link.`));
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (mismatch !== undefined || err instanceof CertificateMismatch || /CERT|SELF_SIGNED|SIGNATURE|ISSUER/.test(err.code ?? '')) failed(`The certificate at ${peer.url} is not the one pinned for site ${peer.name}.`, 'certificate_mismatch');
      else failed(`Cannot reach site ${peer.name} at ${peer.url}: ${err.code ?? err.message}.`);
    });
    ws.on('close', () => failed(`The link to site ${peer.name} closed while it was being opened.`));
    ws.on('open', () => {
      if (settled) return;
      settled = true;
      l.dialing = undefined;
      ws.removeAllListeners('close');
      ws.removeAllListeners('error');
      this.open(l, ws, 'self');
    });
  }

  private retry(l: LinkState): void {
    if (l.stopped || this.closed || l.channel?.isOpen) return;
    clearTimeout(l.timer);
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(l.attempt, 10));
    l.attempt++;
    l.timer = setTimeout(() => this.dial(l), delay * (0.75 + Math.random() / 2));
    l.timer.unref();
  }

  private open(l: LinkState, ws: WebSocket, dialer: 'self' | 'peer'): void {
    const old = l.channel?.isOpen ? l.channel : undefined;
    const oldDialer = l.dialer;
    if (old && oldDialer !== dialer && oldDialer === (this.identity.id < l.peer._id ? 'self' : 'peer')) {
      ws.close(1000, 'duplicate link');
      return;
    }
    clearTimeout(l.timer);
    const channel = channelOverWebSocket(ws, l.peer._id);
    l.channel = channel;
    l.dialer = dialer;
    // closed after the new one is in place, so its end is not taken for a lost link
    old?.close(oldDialer === dialer ? 'replaced by a newer link' : 'duplicate link');
    l.state = 'connected';
    l.attempt = 0;
    l.lastError = null;
    l.connectedSince = new Date().toISOString();
    this.log.info({ peer: l.peer._id, name: l.peer.name }, 'site link up');
    let lastHeard = Date.now();
    let pingId = 0;
    const beat = setInterval(() => channel.send({ topic: 'heartbeat', type: 'ping', id: ++pingId, at: Date.now() }).catch(() => undefined), HEARTBEAT_INTERVAL_MS);
    beat.unref();
    // checked more often than pings are sent, so a loss is seen at most LOSS + 100 ms after the last frame
    const watch = setInterval(() => {
      if (Date.now() - lastHeard <= HEARTBEAT_LOSS_MS) return;
      channel.close(`no heartbeat from site ${l.peer.name} for ${HEARTBEAT_LOSS_MS / 1000} s`);
      // no closing handshake can pass a dead path: drop the socket now rather than after ws's 30 s
      ws.terminate();
    }, 100);
    watch.unref();
    // Any frame shows the peer alive: a heartbeat may wait behind a large batch of another topic.
    ws.on('message', () => (lastHeard = Date.now()));
    channel.onMessage('heartbeat', (m: PeerMessage) => {
      if (m.type === 'ping') channel.send({ topic: 'heartbeat', type: 'pong', id: m['id'], at: m['at'] }).catch(() => undefined);
      else if (m.type === 'pong' && typeof m['at'] === 'number') l.rttMs = Math.max(0, Date.now() - m['at']);
    });
    channel.onMessage('link', (m: PeerMessage) => {
      if (m.type === 'unpaired') this.events.unpairedByPeer(l.peer._id);
    });
    channel.onClose((reason) => {
      clearInterval(beat);
      clearInterval(watch);
      if (l.channel !== channel) return;
      l.channel = undefined;
      l.dialer = undefined;
      l.rttMs = null;
      l.connectedSince = null;
      if (l.stopped) {
        if (l.state === 'connected') l.state = l.peer.unpairedByPeer ? 'refused' : 'unreachable';
        return;
      }
      l.state = 'unreachable';
      l.lastError = `The link to site ${l.peer.name} was lost: ${reason}.`;
      this.log.warn({ peer: l.peer._id, name: l.peer.name, reason }, 'site link lost');
      this.retry(l);
    });
    // A frame that fails to parse closes the socket; a heartbeat needs the socket's 'close' too.
    ws.on('close', () => channel.close('closed'));
    for (const listener of this.listeners) listener(channel);
  }
}

export function unpairedText(peer: PeerRecord): string {
  return `Site ${peer.name} unpaired this site${peer.unpairedByPeer ? ` (${peer.unpairedByPeer})` : ''}: unpair it here too.`;
}
