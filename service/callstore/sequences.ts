/**
 * Per-source sequence tracking: a source numbers its events 1, 2, 3 ...; a jump means events were
 * lost on the way (or are still coming out of order). Pure bookkeeping, no I/O.
 */
export class SourceSequences {
  private readonly highest = new Map<string, number>();

  /** Returns how many seqs this event skipped, and whether it came after a higher one. */
  observe(source: string, seq: number): { skipped: number; reordered: boolean } {
    const high = this.highest.get(source);
    if (high === undefined) {
      this.highest.set(source, seq);
      return { skipped: 0, reordered: false };
    }
    if (seq > high) {
      this.highest.set(source, seq);
      return { skipped: seq - high - 1, reordered: false };
    }
    return { skipped: 0, reordered: seq < high };
  }

  highestOf(source: string): number | undefined {
    return this.highest.get(source);
  }
}
