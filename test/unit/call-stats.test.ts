import { describe, expect, it } from 'vitest';
import { aggregateStats, hourShiftOf } from '../../service/storage/cdr/stats.js';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const min = 60_000;

describe('dashboard figures', () => {
  const window = { fromMs: T0, untilMs: T0 + 60 * min, bucketMs: 15 * min, hourShiftMinutes: 0, topN: 2 };

  it('counts calls up in each bucket, calls per hour by disposition and the top domains', () => {
    const stats = aggregateStats(
      [
        { startMs: T0 - 10 * min, endMs: T0 + 5 * min, disposition: 'ANSWERED', domain: 'a.example' }, // started before the window: concurrency only
        { startMs: T0 + 1 * min, endMs: T0 + 40 * min, disposition: 'ANSWERED', domain: 'a.example' },
        { startMs: T0 + 20 * min, endMs: T0 + 20 * min, disposition: 'BUSY', domain: 'b.example' },
        { startMs: T0 + 50 * min, endMs: T0 + 55 * min, disposition: 'NO_ANSWER', domain: 'c.example' },
        { startMs: T0 + 52 * min, endMs: T0 + 60 * min, disposition: null, domain: 'c.example' }, // up now
      ],
      window,
    );
    expect(stats.concurrency.map((b) => b.calls)).toEqual([2, 2, 1, 2]);
    expect(stats.perHour).toEqual([{ hour: '2026-11-22T10:00:00.000Z', ANSWERED: 1, CANCELLED: 0, BUSY: 1, NO_ANSWER: 1, FAILED: 0 }]);
    expect(stats.topDomains).toEqual([
      { domain: 'a.example', calls: 1, answered: 1 },
      { domain: 'b.example', calls: 1, answered: 0 },
    ]);
  });

  it('starts hours where the zone’s hours start', () => {
    expect(hourShiftOf('Asia/Kolkata', T0)).toBe(30);
    expect(hourShiftOf('Europe/Berlin', T0)).toBe(0);
    expect(hourShiftOf('America/St_Johns', T0)).toBe(30);
    const stats = aggregateStats([{ startMs: T0 + 35 * min, endMs: T0 + 36 * min, disposition: 'FAILED', domain: 'x' }], { ...window, hourShiftMinutes: 30 });
    expect(stats.perHour.map((h) => [h.hour, h.FAILED])).toEqual([
      ['2026-11-22T09:30:00.000Z', 0],
      ['2026-11-22T10:30:00.000Z', 1],
    ]);
  });
});
