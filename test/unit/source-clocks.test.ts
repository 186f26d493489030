import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SourceClocks } from '../../service/callstore/core/clock.js';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');

describe('source clock offsets', () => {
  it('is unknown until the source is heard, then the sample that waited least', () => {
    const clocks = new SourceClocks();
    expect(clocks.offsetOf('pbx')).toBeUndefined();
    expect(clocks.toSourceTime('pbx', T0)).toBe(T0);
    // 60 s ahead, delivered after 30, 5 and 250 ms
    for (const [ts, arrival] of [
      [T0 + 60_000, T0 + 30],
      [T0 + 61_000, T0 + 1005],
      [T0 + 62_000, T0 + 2250],
    ] as const)
      clocks.observe('pbx', ts, arrival);
    expect(clocks.offsetOf('pbx')).toBe(59_995);
    expect(clocks.offsetOf('other')).toBeUndefined();
  });

  it('a backlog replayed after an outage does not pull the estimate down', () => {
    const clocks = new SourceClocks();
    clocks.observe('pbx', T0 - 20_000 + 10, T0 + 10);
    // three minutes of events, spooled by the adapter and delivered in three seconds a minute later
    for (let i = 0; i < 1000; i++) clocks.observe('pbx', T0 + i * 180 - 20_000, T0 + 240_000 + i * 3);
    expect(clocks.offsetOf('pbx')).toBe(-20_000);
  });

  it('a quiet source keeps its estimate; a corrected clock ages out with the source’s own traffic', () => {
    const clocks = new SourceClocks();
    clocks.observe('pbx', T0 + 60_000, T0);
    // nothing for an hour: still 60 s
    expect(clocks.toSourceTime('pbx', T0 + 3_600_000)).toBe(T0 + 3_660_000);
    // the source's clock was set right; after five minutes of its traffic the old offset is gone
    for (let m = 0; m <= 6; m++) clocks.observe('pbx', T0 + 3_600_000 + m * 60_000 + 1, T0 + 3_600_000 + m * 60_000);
    expect(clocks.offsetOf('pbx')).toBe(1);
  });

  it('property: never above the true offset, within the smallest recent delay of it', () => {
    fc.assert(
      fc.property(fc.integer({ min: -3_600_000, max: 3_600_000 }), fc.array(fc.record({ gap: fc.integer({ min: 0, max: 20_000 }), delay: fc.integer({ min: 0, max: 120_000 }) }), { minLength: 1, maxLength: 60 }), (offset, samples) => {
        const clocks = new SourceClocks();
        let at = T0;
        for (const s of samples) {
          at += s.gap;
          clocks.observe('pbx', at + offset, at + s.delay);
        }
        const estimate = clocks.offsetOf('pbx') as number;
        expect(estimate).toBeLessThanOrEqual(offset);
        // the last sample is always in the window
        expect(estimate).toBeGreaterThanOrEqual(offset - (samples.at(-1) as { delay: number }).delay);
      }),
    );
  });
});
