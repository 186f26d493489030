import type { CallStats } from '../../../shared/api/stats.js';
import { DISPOSITIONS, type Disposition } from '../../../shared/api/cdr.js';

/** What the dashboard's figures need of one call. */
export interface CallSpan {
  startMs: number;
  /** end; for a call still up, now */
  endMs: number;
  disposition: Disposition | null;
  domain: string;
}

export interface StatsWindow {
  fromMs: number;
  untilMs: number;
  bucketMs: number;
  /** minutes past the UTC hour at which the zone's hours start (30 for India, 0 for most zones) */
  hourShiftMinutes: number;
  topN: number;
}

/** How far back a call may have started and still be up in the window (calls end within call_timeout). */
export const STATS_LOOKBACK_MS = 24 * 3_600_000;

/** The minutes past the UTC hour at which hours start in a zone, at an instant. */
export function hourShiftOf(tz: string, atMs: number): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' }).formatToParts(new Date(atMs)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!m) return 0;
  const minutes = (Number(m[2]) * 60 + Number(m[3] ?? 0)) * (m[1] === '-' ? -1 : 1);
  return ((minutes % 60) + 60) % 60;
}

/**
 * The dashboard's figures over a window, from call spans (pure): how many calls were up in each
 * bucket, calls started per hour by disposition, and the busiest domains. Calls still up count in
 * the concurrency only (they have no disposition yet).
 */
export function aggregateStats(spans: Iterable<CallSpan>, w: StatsWindow): Omit<CallStats, 'active'> {
  const buckets = Math.max(1, Math.ceil((w.untilMs - w.fromMs) / w.bucketMs));
  const concurrency = new Array<number>(buckets).fill(0);
  const shiftMs = w.hourShiftMinutes * 60_000;
  const firstHour = Math.floor((w.fromMs - shiftMs) / 3_600_000) * 3_600_000 + shiftMs;
  const hours = Math.max(1, Math.ceil((w.untilMs - firstHour) / 3_600_000));
  const perHour = Array.from({ length: hours }, (_, i) => ({
    hour: new Date(firstHour + i * 3_600_000).toISOString(),
    ...(Object.fromEntries(DISPOSITIONS.map((d) => [d, 0])) as Record<Disposition, number>),
  }));
  const domains = new Map<string, { calls: number; answered: number }>();

  for (const s of spans) {
    if (s.endMs > w.fromMs && s.startMs < w.untilMs) {
      const first = Math.max(0, Math.floor((s.startMs - w.fromMs) / w.bucketMs));
      const last = Math.min(buckets - 1, Math.floor((Math.max(s.startMs, s.endMs - 1) - w.fromMs) / w.bucketMs));
      for (let b = first; b <= last; b++) concurrency[b] = (concurrency[b] ?? 0) + 1;
    }
    if (s.disposition === null || s.startMs < w.fromMs || s.startMs >= w.untilMs) continue;
    const hour = perHour[Math.floor((s.startMs - firstHour) / 3_600_000)];
    if (hour) hour[s.disposition]++;
    const d = domains.get(s.domain) ?? { calls: 0, answered: 0 };
    d.calls++;
    if (s.disposition === 'ANSWERED') d.answered++;
    domains.set(s.domain, d);
  }

  return {
    from: new Date(w.fromMs).toISOString(),
    until: new Date(w.untilMs).toISOString(),
    bucketMinutes: Math.round(w.bucketMs / 60_000),
    concurrency: concurrency.map((calls, i) => ({ at: new Date(w.fromMs + i * w.bucketMs).toISOString(), calls })),
    perHour,
    topDomains: [...domains]
      .map(([domain, d]) => ({ domain, ...d }))
      .sort((a, b) => b.calls - a.calls || a.domain.localeCompare(b.domain))
      .slice(0, w.topN),
  };
}
