/** One figure a benchmark reports. The harness adds the ratio (when there is a baseline) and whether the target is met. */
export interface Row {
  /** e.g. `cdr page p95 (domain+disposition, offset 1000)` */
  name: string;
  figure: number;
  /** e.g. `ms`, `rows/s`, `MB` */
  unit: string;
  /** the same work done the plain way in the same run (project rule), in the same unit */
  baseline?: number;
  /** what the baseline is, e.g. `raw NDJSON append` */
  baselineName?: string;
  /** figure ÷ baseline, unless the module says otherwise */
  ratio?: number;
  target?: Target;
  note?: string;
}

export interface Target {
  op: '<' | '<=' | '>' | '>=';
  value: number;
}

export interface BenchOptions {
  /** a smaller smoke run */
  quick: boolean;
}

/** A benchmark module (`bench/<something>.bench.ts`); each runs in a child process of its own. */
export interface BenchModule {
  name: string;
  description?: string;
  run(opts: BenchOptions): Promise<Row[]>;
}

export function meets(figure: number, t: Target): boolean {
  switch (t.op) {
    case '<':
      return figure < t.value;
    case '<=':
      return figure <= t.value;
    case '>':
      return figure > t.value;
    case '>=':
      return figure >= t.value;
  }
}

/** The p-th percentile (0..100) of samples, nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}
