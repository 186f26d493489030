import { CallStats, CallStatsQuery } from '../../../shared/api/stats.js';
import type { CallstoreService } from '../../callstore/service.js';
import { checkTimeZone, type CdrReader } from '../../storage/cdr/index.js';
import { aggregateStats, hourShiftOf, type CallSpan, type StatsWindow } from '../../storage/cdr/stats.js';
import { route, type RouteDef } from '../route.js';

export function statsRoutes(reader: CdrReader, callstore: Pick<CallstoreService, 'summaries'>): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/stats/calls',
      operationId: 'getCallStats',
      summary: 'The dashboard’s figures: calls up per bucket, calls per hour by disposition, top domains, calls active now',
      tag: 'stats',
      auth: 'read',
      query: CallStatsQuery,
      response: CallStats,
      async handler({ query }) {
        const tz = checkTimeZone(query.tz ?? 'UTC');
        const untilMs = Date.now();
        const bucketMs = (query.bucketMinutes ?? 5) * 60_000;
        const fromMs = Math.floor((untilMs - (query.hours ?? 24) * 3_600_000) / bucketMs) * bucketMs;
        const window: StatsWindow = { fromMs, untilMs, bucketMs, hourShiftMinutes: hourShiftOf(tz, untilMs), topN: 10 };
        const recorded = await reader.stats(window);
        // Calls still up have no record yet: they count in the concurrency from their start to now.
        const active = callstore.summaries();
        const live: CallSpan[] = active.map((c) => ({ startMs: c.startedAtMs ?? c.lastEventAtMs, endMs: untilMs, disposition: null, domain: c.domain ?? '' }));
        const up = aggregateStats(live, window).concurrency;
        return { ...recorded, concurrency: recorded.concurrency.map((b, i) => ({ at: b.at, calls: b.calls + (up[i]?.calls ?? 0) })), active: active.length };
      },
    }),
  ];
}
