/**
 * Call records of the last hours, for the dashboard's charts: CdrFactory's records moved in time so
 * that they start within the window, busier in office hours (in `tz`) as a real office is. Every
 * time of a record (legs, branches, holds) moves with it, so durations stay as generated.
 */
import type { Cdr } from '../../shared/api/cdr.js';
import { CdrFactory, prng } from './cdr-factory.js';

function shiftIso(iso: string | null, delta: number): string | null {
  return iso === null ? null : new Date(Date.parse(iso) + delta).toISOString();
}

export function shiftCdr(cdr: Cdr, deltaMs: number): Cdr {
  const s = (v: string) => shiftIso(v, deltaMs) as string;
  return {
    ...cdr,
    startedAt: s(cdr.startedAt),
    ringingAt: shiftIso(cdr.ringingAt, deltaMs),
    answeredAt: shiftIso(cdr.answeredAt, deltaMs),
    endedAt: s(cdr.endedAt),
    legs: cdr.legs.map((l) => ({
      ...l,
      startedAt: shiftIso(l.startedAt, deltaMs),
      ringingAt: shiftIso(l.ringingAt, deltaMs),
      answeredAt: shiftIso(l.answeredAt, deltaMs),
      endedAt: shiftIso(l.endedAt, deltaMs),
    })),
    forks: cdr.forks.map((f) => ({ ...f, at: s(f.at) })),
    holds: cdr.holds.map((h) => ({ ...h, on: s(h.on), off: shiftIso(h.off, deltaMs) })),
  };
}

function hourIn(ms: number, tz: string): number {
  return Number(new Intl.DateTimeFormat('en-US', { timeZone: tz, hour: 'numeric', hourCycle: 'h23' }).format(ms)) % 24;
}

/** `n` records that started in the last `hours` and ended before now. */
export function recentCdrs(n: number, opts: { hours?: number; seed?: number; tz?: string; domains?: readonly string[] } = {}): Cdr[] {
  const hours = opts.hours ?? 24;
  const tz = opts.tz ?? 'UTC';
  const rand = prng(opts.seed ?? 11);
  const factory = new CdrFactory({ seed: opts.seed ?? 11, count: n, ...(opts.domains ? { domains: opts.domains } : {}) });
  const now = Date.now();
  const out: Cdr[] = [];
  while (out.length < n) {
    const cdr = factory.next();
    // Calls longer than 20 minutes would run past now too often: keep the window readable.
    if (cdr.duration > 1200) continue;
    const start = now - rand() * hours * 3600_000;
    const h = hourIn(start, tz);
    const weight = h >= 8 && h < 18 ? 1 : h >= 7 && h < 20 ? 0.35 : 0.06;
    if (rand() > weight) continue;
    const moved = shiftCdr(cdr, start - Date.parse(cdr.startedAt));
    if (Date.parse(moved.endedAt) >= now - 5000) continue;
    out.push(moved);
  }
  return out;
}
