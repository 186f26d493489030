import { CallEvent, EVENT_LIMITS, REQUIRED_BY_TYPE, type EventProblem } from '../../shared/api/events.js';
import { validator } from '../validation.js';
import type { CoreEvent } from './core/call.js';

const eventShape = validator(CallEvent);

/** RFC 3339 with a zone: a time without one would be read in the server's zone, silently. */
const ZONED = /(Z|[+-]\d{2}:\d{2})$/i;

export interface ParsedBatch {
  events: { index: number; event: CoreEvent }[];
  rejected: EventProblem[];
  /** problems not listed: past EVENT_LIMITS.problemsPerEvent of one event */
  omitted: number;
}

const DAY_MS = 24 * 3600_000;

/** Why an event time is too far from the receiver's clock to be taken, or undefined. */
export function tsWindowProblem(tsMs: number, nowMs: number): string | undefined {
  if (tsMs - nowMs > EVENT_LIMITS.tsAheadMs) {
    return `is ${Math.floor((tsMs - nowMs) / DAY_MS)} days ahead of the receiver’s clock; times more than ${EVENT_LIMITS.tsAheadMs / DAY_MS} days ahead are refused (check the source’s clock)`;
  }
  if (nowMs - tsMs > EVENT_LIMITS.tsBehindMs) {
    return `is ${Math.floor((nowMs - tsMs) / DAY_MS)} days behind the receiver’s clock; times more than ${EVENT_LIMITS.tsBehindMs / DAY_MS} days behind are refused`;
  }
  return undefined;
}

/**
 * Validates each event of a batch on its own: one bad event never costs its neighbours. `nowMs`
 * is the receiver's clock, against which event times must lie within the documented window.
 */
export function parseEvents(items: readonly unknown[], alreadyRejected: ReadonlySet<number> = new Set(), nowMs = Date.now()): ParsedBatch {
  const events: ParsedBatch['events'] = [];
  const rejected: EventProblem[] = [];
  let omitted = 0;
  items.forEach((item, index) => {
    if (alreadyRejected.has(index)) return;
    const id = typeof item === 'object' && item !== null && typeof (item as { id?: unknown }).id === 'string' ? (item as { id: string }).id.slice(0, EVENT_LIMITS.idLength) : undefined;
    let listed = 0;
    const reject = (path: string, message: string) => {
      // An event with a thousand unknown fields is refused all the same; its first problems say why.
      if (listed++ < EVENT_LIMITS.problemsPerEvent) rejected.push({ index, ...(id !== undefined ? { id } : {}), path, message });
      else omitted++;
    };
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      reject('', 'must be an event object');
      return;
    }
    const problems = eventShape.problems(item);
    if (problems.listed.length) {
      for (const p of problems.listed) reject(p.path, p.message);
      omitted += problems.unlisted;
      return;
    }
    const e = item as CallEvent;
    const missing = REQUIRED_BY_TYPE[e.type].filter((field) => e[field] === undefined);
    for (const field of missing) reject(`/${field}`, `is required on a ${e.type} event`);
    const tsMs = Date.parse(e.ts);
    if (!ZONED.test(e.ts) || Number.isNaN(tsMs)) reject('/ts', 'must be an RFC 3339 time with a zone, e.g. 2026-11-22T10:00:01.250Z');
    else {
      const far = tsWindowProblem(tsMs, nowMs);
      if (far) reject('/ts', far);
    }
    if (e.type === 'link' && e.otherCallId === e.callId) reject('/otherCallId', 'links a dialog to itself');
    if (listed > 0) return;
    events.push({ index, event: { ...e, tsMs } });
  });
  return { events, rejected, omitted };
}

/**
 * The problems an answer lists: each once, at most EVENT_LIMITS.problemsPerAnswer, in batch
 * order; `truncated` counts those left out (with `alreadyOmitted`), and is absent when none were.
 */
export function capProblems(rejected: readonly EventProblem[], alreadyOmitted = 0): { rejected: EventProblem[]; truncated?: number } {
  const seen = new Set<string>();
  const unique = rejected.filter((r) => {
    const key = `${r.index}\u0000${r.path}\u0000${r.message}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
  const listed = unique.slice(0, EVENT_LIMITS.problemsPerAnswer);
  const truncated = unique.length - listed.length + alreadyOmitted;
  return truncated > 0 ? { rejected: listed, truncated } : { rejected: listed };
}

/** Splits an NDJSON body into values; a line that is not JSON becomes a problem at its index. */
export function parseNdjson(text: string): { items: unknown[]; broken: EventProblem[] } {
  const items: unknown[] = [];
  const broken: EventProblem[] = [];
  let index = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      items.push(JSON.parse(line));
    } catch (err) {
      // Keep the slot so indexes still match the lines the client sent.
      items.push(undefined);
      broken.push({ index, path: '', message: `line ${index + 1} is not valid JSON: ${(err as Error).message}` });
    }
    index++;
  }
  return { items, broken };
}
