import type { LiveState } from '../lib/live.js';

/** The state of the console's live connection (lib/live.ts), for the header of a page that shows live data. */
export function LiveIndicator({ state }: { state: LiveState }) {
  const info: Record<LiveState, { label: string; tone: string; title: string }> = {
    open: { label: 'Live', tone: 'success', title: 'Changes appear as they happen' },
    connecting: { label: 'Connecting…', tone: 'warning', title: 'Opening the live connection' },
    reconnecting: { label: 'Reconnecting…', tone: 'warning', title: 'The live connection dropped; trying again. What is shown may be out of date.' },
    closed: { label: 'Not live', tone: 'danger', title: 'No live connection' },
  };
  const i = info[state];
  return (
    <span className={`live-indicator live-indicator--${i.tone}`} title={i.title} data-testid="live-indicator" role="status">
      <span className={`status-dot status-dot--${i.tone}`} aria-hidden="true" />
      {i.label}
    </span>
  );
}
