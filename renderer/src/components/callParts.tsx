/** Small pieces both call pages use: a party (number and name), a direction, a ticking duration. */
import type { Direction } from '../../../shared/api/events.js';
import { clockDuration, directionLabel, parseParty } from '../lib/calls.js';
import { useServerNow } from '../lib/clock.js';
import { Icon, type IconName } from './icons.js';

/** The number in bold and the display name after it; the full URI as a tooltip. */
export function PartyText({ value, empty = '—' }: { value: string | null | undefined; empty?: string }) {
  const p = parseParty(value);
  if (!p) return <span className="muted">{empty}</span>;
  return (
    <span className="party" title={p.raw}>
      <span className="party__number">{p.number}</span>
      {p.name ? <span className="party__name">{p.name}</span> : null}
    </span>
  );
}

const DIRECTION_ICON: Record<Direction, IconName> = { inbound: 'arrow-in', outbound: 'arrow-out', internal: 'arrow-internal' };

export function DirectionText({ value }: { value: Direction | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  return (
    <span className={`direction direction--${value}`}>
      <Icon name={DIRECTION_ICON[value]} />
      {directionLabel(value)}
    </span>
  );
}

/**
 * Seconds since `since` (ms), ticking once a second. Only this small component renders on a tick,
 * never the row or the table around it.
 */
export function Elapsed({ since, className }: { since: number | null; className?: string }) {
  const now = useServerNow();
  if (since === null) return <span className="muted">—</span>;
  return <span className={className ? `elapsed ${className}` : 'elapsed'}>{clockDuration((now - since) / 1000)}</span>;
}
