/**
 * How calls and call records read in the console: parties as numbers and names, states,
 * dispositions, directions and end reasons as words with a tone. The wire types come from
 * shared/api; the lists here are Records over those types, so a value added there must be
 * described here (TypeBox itself stays out of the bundle).
 */
import type { CallState, Disposition, EndReason, Fork } from '../../../shared/api/cdr.js';
import type { Direction } from '../../../shared/api/events.js';
import type { Tone } from '../components/ui.js';

export interface Party {
  /** the user part of a SIP/tel URI, or the text itself: "101", "+493012345" */
  number: string;
  /** the display name of a name-addr ("Bob" from `"Bob" <sip:bob@x>`), if any */
  name: string | null;
  /** the host of a SIP URI */
  host: string | null;
  raw: string;
}

/** Reads `sip:101@office.example`, `"Bob, Sales" <sip:bob@x;transport=tls>`, `tel:+49301234`, `+49301234`. */
export function parseParty(raw: string | null | undefined): Party | null {
  if (!raw) return null;
  let text = raw.trim();
  let name: string | null = null;
  const nameAddr = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<([^>]*)>/.exec(text);
  if (nameAddr) {
    name = (nameAddr[1] ?? nameAddr[2] ?? '').replace(/\\(.)/g, '$1').trim() || null;
    text = nameAddr[3] ?? '';
  }
  const uri = /^(?:sips?|tel):([^;?]*)/i.exec(text);
  let number = text;
  let host: string | null = null;
  if (uri) {
    const rest = uri[1] ?? '';
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
      number = rest.slice(0, at);
      host = rest.slice(at + 1);
    } else {
      number = rest;
    }
  }
  number = number.split(';')[0] ?? number;
  try {
    number = decodeURIComponent(number);
  } catch {
    // keep it as written
  }
  return { number: number || raw, name, host, raw };
}

export const CALL_STATE_INFO: Record<CallState, { label: string; tone: Tone }> = {
  trying: { label: 'Calling', tone: 'neutral' },
  ringing: { label: 'Ringing', tone: 'warning' },
  talking: { label: 'Talking', tone: 'success' },
  on_hold: { label: 'On hold', tone: 'info' },
  ending: { label: 'Ending', tone: 'neutral' },
};
export const CALL_STATES = Object.keys(CALL_STATE_INFO) as CallState[];

export const DISPOSITION_INFO: Record<Disposition, { label: string; tone: Tone; description: string }> = {
  ANSWERED: { label: 'Answered', tone: 'success', description: 'someone answered' },
  NO_ANSWER: { label: 'No answer', tone: 'warning', description: 'rang out unanswered (408, 480 or timeout)' },
  BUSY: { label: 'Busy', tone: 'warning', description: 'the callee was busy (486, 600)' },
  CANCELLED: { label: 'Cancelled', tone: 'neutral', description: 'the caller hung up before an answer' },
  FAILED: { label: 'Failed', tone: 'danger', description: 'refused or failed (other codes)' },
};
export const DISPOSITIONS = Object.keys(DISPOSITION_INFO) as Disposition[];

export const DIRECTION_INFO: Record<Direction, { label: string }> = {
  inbound: { label: 'Inbound' },
  outbound: { label: 'Outbound' },
  internal: { label: 'Internal' },
};
export const DIRECTIONS = Object.keys(DIRECTION_INFO) as Direction[];

export const END_REASON_INFO: Record<EndReason, string> = {
  normal: 'Normal',
  source_lost: 'Source lost: the phone system stopped reporting',
  resync_missing: 'Missing after a resync of the phone system',
  admin: 'Terminated by an administrator',
  timeout: 'Timed out: no events for the call timeout',
};

export const FORK_OUTCOME_INFO: Record<Fork['outcome'], { label: string; tone: Tone; description: string }> = {
  answered: { label: 'Won', tone: 'success', description: 'this branch answered: it won the race' },
  lose_race: { label: 'Lost the race', tone: 'neutral', description: 'another branch answered first' },
  cancelled: { label: 'Cancelled', tone: 'neutral', description: 'the caller gave up before an answer' },
  failed: { label: 'Failed', tone: 'danger', description: 'the branch ended without an answer' },
  pending: { label: 'Ringing', tone: 'warning', description: 'no outcome yet' },
};

export function directionLabel(d: Direction | null | undefined): string {
  return d ? DIRECTION_INFO[d].label : '—';
}

/** "0:05", "12:34", "1:02:03" (tabular, for tables and ticking values). */
export function clockDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

/** "+1.25 s", "+2 min 3 s": an offset from the start of a call. */
export function offsetLabel(ms: number): string {
  if (ms < 0) return `−${offsetLabel(-ms).slice(1)}`;
  if (ms < 10_000) return `+${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : ms % 100 === 0 ? 1 : 2)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `+${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `+${m} min` : `+${m} min ${s % 60} s`;
  return m % 60 === 0 ? `+${Math.floor(m / 60)} h` : `+${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "SIP 486 Busy Here" for the common codes, else "SIP 499". */
export function sipCodeLabel(code: number | null | undefined): string {
  if (code === null || code === undefined) return '';
  const names: Record<number, string> = {
    100: 'Trying',
    180: 'Ringing',
    181: 'Forwarded',
    182: 'Queued',
    183: 'Session Progress',
    200: 'OK',
    404: 'Not Found',
    408: 'Request Timeout',
    480: 'Temporarily Unavailable',
    486: 'Busy Here',
    487: 'Request Terminated',
    503: 'Service Unavailable',
    600: 'Busy Everywhere',
    603: 'Decline',
  };
  const name = names[code];
  return name ? `${code} ${name}` : String(code);
}
