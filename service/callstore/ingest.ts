import { CallEvent, EVENT_LIMITS, REQUIRED_BY_TYPE, type EventProblem } from '../../shared/api/events.js';
import { validator } from '../validation.js';
import type { CoreEvent } from './core/call.js';

const eventShape = validator(CallEvent);

/** RFC 3339 with a zone: a time without one would be read in the server's zone, silently. */
const ZONED = /(Z|[+-]\d{2}:\d{2})$/i;

export interface ParsedBatch {
  events: { index: number; event: CoreEvent }[];
  rejected: EventProblem[];
}

/** Validates each event of a batch on its own: one bad event never costs its neighbours. */
export function parseEvents(items: readonly unknown[], alreadyRejected: ReadonlySet<number> = new Set()): ParsedBatch {
  const events: ParsedBatch['events'] = [];
  const rejected: EventProblem[] = [];
  items.forEach((item, index) => {
    if (alreadyRejected.has(index)) return;
    const id = typeof item === 'object' && item !== null && typeof (item as { id?: unknown }).id === 'string' ? (item as { id: string }).id.slice(0, EVENT_LIMITS.idLength) : undefined;
    const reject = (path: string, message: string) => rejected.push({ index, ...(id !== undefined ? { id } : {}), path, message });
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      reject('', 'must be an event object');
      return;
    }
    const problems = eventShape.check(item);
    if (problems.length) {
      for (const p of problems) reject(p.path, p.message);
      return;
    }
    const e = item as CallEvent;
    const missing = REQUIRED_BY_TYPE[e.type].filter((field) => e[field] === undefined);
    for (const field of missing) reject(`/${field}`, `is required on a ${e.type} event`);
    const tsMs = Date.parse(e.ts);
    if (!ZONED.test(e.ts) || Number.isNaN(tsMs)) reject('/ts', 'must be an RFC 3339 time with a zone, e.g. 2026-11-22T10:00:01.250Z');
    if (e.type === 'link' && e.otherCallId === e.callId) reject('/otherCallId', 'links a dialog to itself');
    if (missing.length || Number.isNaN(tsMs) || !ZONED.test(e.ts) || (e.type === 'link' && e.otherCallId === e.callId)) return;
    events.push({ index, event: { ...e, tsMs } });
  });
  return { events, rejected };
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
