import type { Cdr, Disposition, EndReason, Fork, Hold, Leg } from '../../shared/api/cdr.js';
import type { Direction } from '../../shared/api/events.js';

/**
 * Deterministic pseudo-random CDRs for tests and the benchmark: the same options give the same
 * records. Times spread over `months` calendar months from `start` (UTC), with records exactly at
 * month boundaries, equal start times and equal durations mixed in (for tie-breaking), domains in
 * mixed case, parties as SIP URIs, bare numbers, tel: URIs and name-addr forms. Each record is
 * about 1.4 KB of JSON (legs, forks, holds, 15 event ids), like the callstore's.
 */
export interface CdrFactoryOptions {
  seed?: number;
  /** first month, UTC; default 2026-09-01 */
  start?: string;
  /** months covered; default 3 */
  months?: number;
  /** how many records the factory is meant to produce: with `ordered`, spreads them evenly */
  count?: number;
  /** increasing startedAt (ingestion order), else uniformly random times */
  ordered?: boolean;
  /** default DOMAINS */
  domains?: readonly string[];
  site?: string;
}

export const DOMAINS = ['example.com', 'Sales.Example.com', 'acme.test', 'beta.example.org', 'zeta.net'] as const;
const DISPOSITION_WEIGHTS: [Disposition, number][] = [
  ['ANSWERED', 55],
  ['NO_ANSWER', 17],
  ['BUSY', 10],
  ['CANCELLED', 12],
  ['FAILED', 6],
];
const DIRECTIONS: (Direction | null)[] = ['inbound', 'inbound', 'outbound', 'outbound', 'internal', null];
const NAMES = ['alice', 'Bob', 'carol', 'dave', 'Erin', 'frank'];

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class CdrFactory {
  readonly startMs: number;
  readonly endMs: number;
  private readonly rand: () => number;
  private readonly domains: readonly string[];
  private readonly ordered: boolean;
  private readonly count: number;
  private readonly site: string;
  private readonly seed: number;
  private i = 0;
  private last: Cdr | undefined;

  constructor(opts: CdrFactoryOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.rand = prng(this.seed);
    const start = new Date(opts.start ?? '2026-09-01T00:00:00.000Z');
    this.startMs = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1);
    this.endMs = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + (opts.months ?? 3), 1);
    this.domains = opts.domains ?? DOMAINS;
    this.ordered = opts.ordered ?? false;
    this.count = Math.max(1, opts.count ?? 1000);
    this.site = opts.site ?? 'site-a';
  }

  /** The next record; `overrides` replace fields after it is built. */
  next(overrides: Partial<Cdr> = {}): Cdr {
    const cdr = { ...this.build(), ...overrides };
    this.last = cdr;
    this.i++;
    return cdr;
  }

  many(n: number): Cdr[] {
    const out: Cdr[] = [];
    for (let k = 0; k < n; k++) out.push(this.next());
    return out;
  }

  private int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  private startTime(): number {
    const i = this.i;
    const span = this.endMs - this.startMs;
    // Boundaries: the first and last instant of each month, now and then.
    if (i % 97 === 5) {
      const months = Math.round(span / (30.4 * 86_400_000));
      const m = this.int(Math.max(1, months));
      const d = new Date(this.startMs);
      const first = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + m, 1);
      return this.rand() < 0.5 ? first : Math.max(this.startMs, first - 1);
    }
    // Ties: the start time of the record before.
    if (i % 41 === 7 && this.last) return Date.parse(this.last.startedAt);
    if (this.ordered) return this.startMs + Math.floor((span * (i + this.rand())) / this.count);
    return this.startMs + this.int(span);
  }

  private number(): string {
    return `+49${30 + this.int(60)}${String(this.int(10_000_000)).padStart(7, '0')}`;
  }

  private party(domain: string): string {
    const style = this.int(10);
    if (style < 5) return `sip:${this.number()}@${domain}`;
    if (style < 7) return this.number();
    if (style < 8) return `tel:${this.number()}`;
    if (style < 9) return `sip:${200 + this.int(50)}@${domain}`;
    const name = this.pick(NAMES);
    return `"${name}, ${domain}" <sip:${name}@${domain};transport=tls>`;
  }

  private build(): Cdr {
    const i = this.i;
    const domain = this.pick(this.domains);
    const startedAt = this.startTime();
    let dispositionRoll = this.int(100);
    let disposition: Disposition = 'ANSWERED';
    for (const [d, w] of DISPOSITION_WEIGHTS) {
      if (dispositionRoll < w) {
        disposition = d;
        break;
      }
      dispositionRoll -= w;
    }
    const answered = disposition === 'ANSWERED';
    const ringMs = 500 + this.int(25_000);
    // Whole seconds now and then, so equal durations occur.
    const talkMs = answered ? (i % 13 === 0 ? 1000 * this.int(120) : this.int(3_600_000)) : 0;
    const ringingAt = disposition === 'FAILED' ? null : startedAt + 100 + this.int(400);
    const answeredAt = answered ? startedAt + ringMs : null;
    const endedAt = startedAt + ringMs + talkMs;
    const from = this.party(domain);
    const to = this.party(domain);
    const answeredBy = answered ? (this.rand() < 0.8 ? to : this.party(domain)) : null;
    const callId = `${this.hex(16)}@${domain.toLowerCase()}`;
    const id = `call-${this.seed}-${i}-${this.hex(8).toUpperCase()}`;
    const code = answered ? 200 : ({ CANCELLED: 487, BUSY: 486, NO_ANSWER: 480, FAILED: 503 } as Record<string, number>)[disposition] ?? 500;
    const endReason: EndReason = i % 23 === 0 ? 'source_lost' : i % 29 === 0 ? 'timeout' : 'normal';
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const legs: Leg[] = [
      {
        callId,
        fromTag: this.hex(10),
        toTag: disposition === 'FAILED' ? null : this.hex(10),
        from,
        to,
        source: 'kamailio-1',
        startedAt: iso(startedAt),
        ringingAt: iso(ringingAt),
        answeredAt: iso(answeredAt),
        endedAt: iso(endedAt),
        code,
        state: 'terminated',
      },
    ];
    if (this.rand() < 0.5) {
      legs.push({ ...(legs[0] as Leg), callId: `${this.hex(16)}@b2bua`, fromTag: this.hex(10), source: 'b2bua-1' });
    }
    const forks: Fork[] = [
      { callId, toTag: this.hex(10), code, at: iso(answeredAt ?? endedAt) as string, outcome: answered ? 'answered' : 'failed' },
    ];
    if (this.rand() < 0.4) forks.push({ callId, toTag: this.hex(10), code: 487, at: iso(answeredAt ?? endedAt) as string, outcome: 'lose_race' });
    const holds: Hold[] = [];
    let holdSec = 0;
    if (answered && talkMs > 20_000 && this.rand() < 0.3) {
      const on = (answeredAt as number) + 5000;
      holds.push({ callId, on: iso(on) as string, off: iso(on + 10_000), by: 'callee' });
      holdSec = 10;
    }
    const eventIds: string[] = [];
    for (let k = 0; k < 15; k++) eventIds.push(`ev-${i}-${k}-${this.hex(6)}`);
    const sec = (ms: number) => Math.round(ms) / 1000;
    return {
      id,
      domain,
      site: this.site,
      source: 'kamailio-1',
      direction: this.pick(DIRECTIONS),
      from,
      to,
      answeredBy,
      startedAt: new Date(startedAt).toISOString(),
      ringingAt: iso(ringingAt),
      answeredAt: iso(answeredAt),
      endedAt: new Date(endedAt).toISOString(),
      duration: sec(endedAt - startedAt),
      billsec: answeredAt === null ? 0 : sec(endedAt - answeredAt),
      ringSec: sec((answeredAt ?? endedAt) - startedAt),
      holdSec,
      disposition,
      hangup: { by: answered ? this.pick(['caller', 'callee'] as const) : 'caller', code, reason: answered ? 'BYE' : null },
      endReason,
      legs,
      forks,
      holds,
      links: [],
      synthesized: endReason !== 'normal',
      eventIds,
      anomalies: [],
    };
  }

  private hex(n: number): string {
    let s = '';
    while (s.length < n) s += Math.floor(this.rand() * 0x100000000).toString(16).padStart(8, '0');
    return s.slice(0, n);
  }
}

/** `n` records from a fresh factory. */
export function makeCdrs(n: number, opts: CdrFactoryOptions = {}): Cdr[] {
  return new CdrFactory({ count: n, ...opts }).many(n);
}
