/**
 * Which appliance address the adapter uses, from a list in order of preference (the pure core of
 * the failover: no I/O, the time is passed in). The rules, after Kamailio's dispatcher (priority
 * order, `ds_probing_threshold` 1, `ds_inactive_threshold`, OpenSIPS' probing with a growing
 * interval):
 *
 *  - The adapter uses the most preferred address that is *up*. An address is up until it fails
 *    once (a refused or timed-out connection, a refused upgrade, a stream that dies or stops
 *    answering, a temporary refusal of events): one failure is enough to leave it, since a
 *    needless switch costs one resync and the events are sent at least once anyway.
 *  - A down address is probed (GET /healthz) in the background: first after `probeMinMs`, then
 *    at twice the previous pause up to `probeMaxMs`, never before the end of a Retry-After it
 *    gave. It is up again after `returnAfter` probes in a row that found it healthy; then, if it
 *    is preferred to the one in use, the adapter goes back to it.
 *  - An address that fails again soon after it was taken back keeps its long pause (flapping is
 *    damped); a link that stayed open `stableMs` resets the pause to `probeMinMs`.
 *  - When every address is down, the adapter dials them anyway, in turn (the one that failed
 *    longest ago first, with the caller's backoff between dials), skipping those whose
 *    Retry-After has not passed: the first that answers is used.
 */

export interface AddressRules {
  /** the first pause before probing an address that failed */
  probeMinMs: number;
  /** the longest pause between two probes */
  probeMaxMs: number;
  /** healthy probes in a row that make a down address up again */
  returnAfter: number;
  /** a link open this long resets the address's probe pause */
  stableMs: number;
}

export const DEFAULT_RULES: AddressRules = { probeMinMs: 1000, probeMaxMs: 30_000, returnAfter: 2, stableMs: 60_000 };

export interface AddressState {
  up: boolean;
  /** healthy probes in a row since it went down */
  okProbes: number;
  /** the pause before the next probe, ms */
  probeDelayMs: number;
  /** when it may be probed next (ms epoch); 0 while up */
  nextProbeAt: number;
  /** not dialled before this time (a Retry-After, a refused token), ms epoch */
  notBefore: number;
  /** when its current link opened, or null */
  openedAt: number | null;
  failures: number;
  /** when it last failed (ms epoch), 0: never */
  failedAt: number;
  lastError: string | null;
}

export interface Pick {
  index: number;
  /** wait this long before dialling (0: now) */
  delayMs: number;
}

export class AddressChoice {
  readonly states: AddressState[];
  /** the address of the link in use, or null */
  current: number | null = null;

  constructor(
    readonly count: number,
    readonly rules: AddressRules = DEFAULT_RULES,
  ) {
    if (!Number.isInteger(count) || count < 1) throw new Error('at least one address');
    this.states = Array.from({ length: count }, () => ({ up: true, okProbes: 0, probeDelayMs: rules.probeMinMs, nextProbeAt: 0, notBefore: 0, openedAt: null, failures: 0, failedAt: 0, lastError: null }));
  }

  private state(i: number): AddressState {
    const s = this.states[i];
    if (!s) throw new RangeError(`no address ${i}`);
    return s;
  }

  /**
   * Where to dial next: the most preferred address that is up; else (all down) the one that failed
   * longest ago among those whose Retry-After has passed, after `roundDelayMs`; else the one whose
   * Retry-After ends first.
   */
  pick(now: number, roundDelayMs = 0): Pick {
    const up = this.states.findIndex((s) => s.up && s.notBefore <= now);
    if (up >= 0) return { index: up, delayMs: 0 };
    let open = -1;
    this.states.forEach((s, i) => {
      if (s.notBefore <= now && (open < 0 || s.failedAt < this.state(open).failedAt)) open = i;
    });
    if (open >= 0) return { index: open, delayMs: roundDelayMs };
    let soonest = 0;
    for (let i = 1; i < this.count; i++) if (this.state(i).notBefore < this.state(soonest).notBefore) soonest = i;
    return { index: soonest, delayMs: Math.max(roundDelayMs, this.state(soonest).notBefore - now) };
  }

  /** Is some address other than `i` up (worth trying instead of waiting on `i`)? */
  hasAlternative(i: number, now: number): boolean {
    return this.states.some((s, j) => j !== i && s.up && s.notBefore <= now);
  }

  opened(i: number, now: number): void {
    const s = this.state(i);
    s.up = true;
    s.okProbes = 0;
    s.nextProbeAt = 0;
    s.notBefore = 0;
    s.openedAt = now;
    s.lastError = null;
    this.current = i;
  }

  /** A link closed on purpose (a return to a preferred address, Kamailio away): no failure. */
  closed(i: number, now: number): void {
    const s = this.state(i);
    if (s.openedAt !== null && now - s.openedAt >= this.rules.stableMs) s.probeDelayMs = this.rules.probeMinMs;
    s.openedAt = null;
    if (this.current === i) this.current = null;
  }

  /** Address `i` failed (`retryAfterMs`: it said when to come back). */
  failed(i: number, now: number, error: string, retryAfterMs?: number): void {
    const s = this.state(i);
    const wasDown = !s.up;
    const stable = s.openedAt !== null && now - s.openedAt >= this.rules.stableMs;
    // the pause grows with every failure that was not preceded by a stable link
    if (stable) s.probeDelayMs = this.rules.probeMinMs;
    else if (wasDown || s.failures > 0) s.probeDelayMs = Math.min(this.rules.probeMaxMs, s.probeDelayMs * 2);
    s.up = false;
    s.okProbes = 0;
    s.failures++;
    s.failedAt = now;
    s.lastError = error;
    s.openedAt = null;
    const ban = retryAfterMs !== undefined && retryAfterMs > 0 ? now + retryAfterMs : 0;
    s.notBefore = Math.max(ban, wasDown ? s.notBefore : 0);
    s.nextProbeAt = Math.max(now + s.probeDelayMs, s.notBefore);
    if (this.current === i) this.current = null;
  }

  /** The down addresses whose next probe is due. */
  probesDue(now: number): number[] {
    const due: number[] = [];
    this.states.forEach((s, i) => {
      if (!s.up && i !== this.current && s.nextProbeAt <= now) due.push(i);
    });
    return due;
  }

  /** The earliest time a probe is due, or null when every address is up. */
  nextProbeTime(): number | null {
    let t: number | null = null;
    this.states.forEach((s, i) => {
      if (!s.up && i !== this.current) t = t === null ? s.nextProbeAt : Math.min(t, s.nextProbeAt);
    });
    return t;
  }

  /** The result of a probe of `i`. True when this made it up again. */
  probed(i: number, healthy: boolean, now: number, error?: string): boolean {
    const s = this.state(i);
    if (s.up) return false;
    if (!healthy) {
      s.okProbes = 0;
      s.probeDelayMs = Math.min(this.rules.probeMaxMs, s.probeDelayMs * 2);
      s.nextProbeAt = Math.max(now + s.probeDelayMs, s.notBefore);
      if (error) s.lastError = error;
      return false;
    }
    s.okProbes++;
    if (s.okProbes >= this.rules.returnAfter && s.notBefore <= now) {
      s.up = true;
      s.okProbes = 0;
      s.nextProbeAt = 0;
      return true;
    }
    s.nextProbeAt = Math.max(now + this.rules.probeMinMs, s.notBefore);
    return false;
  }

  /** An address preferred to the one in use that is up again: go back to it. */
  preferred(now: number): number | null {
    if (this.current === null) return null;
    const best = this.states.findIndex((s) => s.up && s.notBefore <= now);
    return best >= 0 && best < this.current ? best : null;
  }
}
