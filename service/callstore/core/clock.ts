/** How long one bucket of samples spans, in the appliance's time of arrival. */
const BUCKET_MS = 60_000;
/** How many buckets the estimate looks back over: about five minutes of a source's traffic. */
const BUCKETS = 5;

interface Bucket {
  start: number;
  highest: number;
}

/**
 * How far each source's clock runs from the appliance's, learnt from its events, so that an end
 * the callstore makes for a source's dialog (source lost, admin, timeout, resync) is stamped in
 * that source's time and sorts where it belongs among the source's own events.
 *
 * A sample is an event's `ts` minus its arrival here. Arrival always lags the event by a delay
 * that is never negative (network, batching, the adapter's queue; minutes when an adapter resends
 * its spool after an outage), so every sample is the true offset minus that delay: a lower bound.
 * The estimate is the highest sample of the recent past, the one that waited least. A late sample,
 * or a whole backlog replayed at once, cannot pull it down, as it would pull down a mean or the
 * latest sample; a quiet source (lost, say) keeps the estimate of its last traffic, since the
 * window moves only with the source's own arrivals; and a clock the source corrects ages out after
 * five buckets. An outlying `ts` in the future would lift it; the edge refuses times far from the
 * receiver's clock, and a synthesized end is never stamped before the call's last event anyway.
 * Pure: arrival times are passed in.
 */
export class SourceClocks {
  private readonly bySource = new Map<string, Bucket[]>();

  observe(source: string, tsMs: number, arrivalMs: number): void {
    const sample = tsMs - arrivalMs;
    if (!Number.isFinite(sample)) return;
    const start = Math.floor(arrivalMs / BUCKET_MS) * BUCKET_MS;
    const buckets = this.bySource.get(source);
    if (!buckets) {
      this.bySource.set(source, [{ start, highest: sample }]);
      return;
    }
    const last = buckets[buckets.length - 1] as Bucket;
    // an appliance clock stepped back lands in the newest bucket rather than reorder the window
    if (start <= last.start) last.highest = Math.max(last.highest, sample);
    else {
      buckets.push({ start, highest: sample });
      while ((buckets[0] as Bucket).start <= start - BUCKETS * BUCKET_MS) buckets.shift();
    }
  }

  /** The source's clock minus the appliance's, in ms; undefined while nothing was heard from it. */
  offsetOf(source: string): number | undefined {
    const buckets = this.bySource.get(source);
    if (!buckets) return undefined;
    return Math.max(...buckets.map((b) => b.highest));
  }

  /** An appliance time as the source's clock shows it (the appliance's when the offset is unknown). */
  toSourceTime(source: string, applianceMs: number): number {
    return applianceMs + (this.offsetOf(source) ?? 0);
  }
}
