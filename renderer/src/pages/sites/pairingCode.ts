/**
 * The pairing code this site shows, as the page tracks it: made, counting down, then expired, or
 * used by the site that joined with it. Pure: the page passes the time (the service's clock,
 * lib/clock.ts) and the peers it lists (test/unit/sites-page.test.ts).
 */
import type { PairingCode, PeerSite } from '../../../../shared/api/sites.js';

export interface ShownCode extends PairingCode {
  /** the service's time when the code arrived (ms): a peer paired before it did not use it */
  receivedAt: number;
  /** the peers listed when it arrived: a new one that joined this site used the code */
  knownPeers: readonly string[];
}

export type CodeStatus =
  | { kind: 'valid'; msLeft: number; fractionLeft: number }
  | { kind: 'expired' }
  /** the code is spent: `peer` paired with this site with it */
  | { kind: 'used'; peer: PeerSite };

/**
 * A pairing that happened while the code was shown: a peer that joined this site (not one this
 * site joined), not listed when the code came, paired no earlier than a little before it came
 * (the two clocks are the service's, but the answer and the list may cross).
 */
export function usedBy(code: ShownCode, peers: readonly PeerSite[]): PeerSite | undefined {
  const known = new Set(code.knownPeers);
  return peers.find((p) => !p.joined && !known.has(p.id) && Date.parse(p.pairedAt) >= code.receivedAt - 60_000);
}

export function codeStatus(code: ShownCode, now: number, peers: readonly PeerSite[]): CodeStatus {
  const peer = usedBy(code, peers);
  if (peer) return { kind: 'used', peer };
  const expiresAt = Date.parse(code.expiresAt);
  const msLeft = expiresAt - now;
  if (!(msLeft > 0)) return { kind: 'expired' };
  const lifetime = Math.max(1, expiresAt - code.receivedAt);
  return { kind: 'valid', msLeft, fractionLeft: Math.min(1, msLeft / lifetime) };
}
