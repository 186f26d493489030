/**
 * How the sites page shows a site and its link: pure functions, no DOM (test/unit/sites-page.test.ts).
 */
import type { PeerSite, PeerState } from '../../../../shared/api/sites.js';
import type { Tone } from '../../components/ui.js';

/**
 * A site id shown to people: the 64 hex digits in groups of eight, upper case, as Syncthing shows
 * device ids. The same text as the service's `displaySiteId` (sync/identity.ts; the unit test
 * compares the two), which the console cannot import.
 */
export function displaySiteId(id: string): string {
  return (id.match(/.{1,8}/g) ?? []).join('-').toUpperCase();
}

/** The first group of the id: enough to tell sites apart in a table, the whole id in its title. */
export function shortSiteId(id: string): string {
  return displaySiteId(id).slice(0, 8);
}

export const PEER_STATE_INFO: Record<PeerState, { label: string; tone: Tone; description: string }> = {
  connected: { label: 'Connected', tone: 'success', description: 'The link is up: the sites replicate and check each other twice a second.' },
  unreachable: { label: 'Unreachable', tone: 'warning', description: 'No link now; both sites keep trying to reach each other.' },
  refused: { label: 'Refused', tone: 'danger', description: 'One site refused the other: it was unpaired there, or it presented another certificate than the pinned one.' },
};

const ms = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const count = new Intl.NumberFormat();

/** "0.8 ms", "12 ms", "1.4 s": a round trip or a lag in milliseconds. */
export function formatMs(value: number): string {
  if (value < 0 || !Number.isFinite(value)) return '—';
  if (value < 10) return `${ms.format(Math.round(value * 10) / 10)} ms`;
  if (value < 1000) return `${count.format(Math.round(value))} ms`;
  if (value < 60_000) return `${ms.format(Math.round(value / 100) / 10)} s`;
  return `${count.format(Math.round(value / 60_000))} min`;
}

/** The round trip of the last heartbeat; a dash while not connected. */
export function rttText(peer: Pick<PeerSite, 'rttMs' | 'state'>): string {
  return peer.state === 'connected' && peer.rttMs !== null ? formatMs(peer.rttMs) : '—';
}

export interface LagView {
  /** "0 entries", "1,204 entries", or "—" while no replication runs */
  entries: string;
  /** "0 ms", "2.3 s", or "" while no replication runs */
  age: string;
  /** caught up (nothing unacknowledged) */
  caughtUp: boolean;
  /** no replication session reports it (no link, or before the first report) */
  unknown: boolean;
}

export function lagView(lag: PeerSite['lag']): LagView {
  if (lag.entries === null && lag.ms === null) return { entries: '—', age: '', caughtUp: false, unknown: true };
  const entries = lag.entries ?? 0;
  return {
    entries: `${count.format(entries)} ${entries === 1 ? 'entry' : 'entries'}`,
    age: lag.ms === null ? '' : formatMs(lag.ms),
    caughtUp: entries === 0,
    unknown: false,
  };
}

export interface JoinView {
  state: 'joining' | 'synced';
  /** "Adopting the installation…", "1,204 of 5,000 entries", "Synced" */
  label: string;
  /** 0..1, null while the total is not known yet (the adoption is under way) */
  fraction: number | null;
  copied: number;
  total: number | null;
}

/** The join of the site this site joined: null on the site that was joined (nothing to show). */
export function joinView(join: PeerSite['join']): JoinView | null {
  if (!join) return null;
  if (join.state === 'synced') return { state: 'synced', label: 'Synced', fraction: 1, copied: join.copied, total: join.total };
  if (join.total === null) return { state: 'joining', label: 'Adopting the installation…', fraction: null, copied: join.copied, total: null };
  const fraction = join.total === 0 ? 1 : Math.min(1, Math.max(0, join.copied / join.total));
  return { state: 'joining', label: `${count.format(join.copied)} of ${count.format(join.total)} entries`, fraction, copied: join.copied, total: join.total };
}

/** "5:00", "0:07": minutes and seconds left, for a countdown. */
export function formatCountdown(msLeft: number): string {
  const total = Math.max(0, Math.ceil(msLeft / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${minutes}:${String(seconds).padStart(2, '0')}`;
}

/** The same countdown spoken: "4 minutes 12 seconds", "7 seconds". */
export function spokenCountdown(msLeft: number): string {
  const total = Math.max(0, Math.ceil(msLeft / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  const parts: string[] = [];
  if (minutes > 0) parts.push(`${minutes} minute${minutes === 1 ? '' : 's'}`);
  if (seconds > 0 || minutes === 0) parts.push(`${seconds} second${seconds === 1 ? '' : 's'}`);
  return parts.join(' ');
}

/**
 * What changed in the peers between two loads, in sentences, for the page's polite live region
 * (a screen reader hears a link go down or come back without reading the table again): a peer
 * paired, unpaired, or whose state changed. Nothing on the first load (`before` undefined).
 */
export function peerChanges(before: readonly PeerSite[] | undefined, after: readonly PeerSite[]): string[] {
  if (!before) return [];
  const was = new Map(before.map((p) => [p.id, p]));
  const out: string[] = [];
  for (const p of after) {
    const old = was.get(p.id);
    was.delete(p.id);
    if (!old) out.push(`${p.name} is paired with this site.`);
    else if (old.state !== p.state) {
      const why = p.state !== 'connected' && p.lastError ? `: ${p.lastError.replace(/\.$/, '')}` : '';
      out.push(`${p.name} is ${PEER_STATE_INFO[p.state].label.toLowerCase()}${why}.`);
    }
    else if (old.join?.state === 'joining' && p.join?.state === 'synced') out.push(`This site is synced with ${p.name}.`);
  }
  for (const gone of was.values()) out.push(`${gone.name} is no longer paired with this site.`);
  return out;
}
