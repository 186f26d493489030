/**
 * A hybrid logical clock (Kulkarni et al., 2014): physical milliseconds plus a counter. It never
 * runs backwards (a stepped-back system clock or a restart continues from the last stamp), every
 * stamp it gives is greater than every stamp it has seen, and it stays close to physical time.
 * That makes (hlc, origin) a version that orders the changes of all sites the way people expect
 * ("the later save wins") without trusting any one site's clock blindly.
 *
 * Pure: the physical time is read through the function given to the constructor.
 */

export interface Hlc {
  /** milliseconds since the epoch (the larger of physical time and the last stamp seen) */
  wall: number;
  /** orders stamps within one millisecond */
  counter: number;
}

const WALL_DIGITS = 12; // 48 bits of milliseconds: until the year 10889
const COUNTER_DIGITS = 4; // 16 bits: 65,536 stamps per millisecond before the wall is pushed on
const MAX_WALL = 2 ** 48 - 1;
const MAX_COUNTER = 2 ** 16 - 1;
/** the encoded length: fixed, so that string order is time order */
export const HLC_LENGTH = WALL_DIGITS + COUNTER_DIGITS;
const HLC_PATTERN = /^[0-9a-f]{16}$/;

/**
 * How far ahead of this machine's clock a received stamp may be (60 s). Beyond it the stamp is
 * refused (ClockDriftError) and the clock is left as it was: adopting it would make every later
 * local write carry the far-away time, so one peer with a wrong clock would win every conflict
 * for as long as its error lasts and drag all sites' clocks with it.
 */
export const DEFAULT_MAX_DRIFT_MS = 60_000;

export class ClockDriftError extends Error {
  override name = 'ClockDriftError';
  constructor(
    readonly remote: Hlc,
    readonly physicalMs: number,
    readonly maxDriftMs: number,
  ) {
    super(
      `A change stamped ${new Date(remote.wall).toISOString()} is ${Math.round((remote.wall - physicalMs) / 1000)} s ahead of this machine's clock (at most ${maxDriftMs / 1000} s are accepted): check the clocks of both sites (NTP).`,
    );
  }
}

/** The compact sortable form: 16 lower-case hex digits, wall then counter; string order is clock order. */
export function encodeHlc(h: Hlc): string {
  if (!Number.isInteger(h.wall) || h.wall < 0 || h.wall > MAX_WALL) throw new RangeError(`HLC wall out of range: ${h.wall}`);
  if (!Number.isInteger(h.counter) || h.counter < 0 || h.counter > MAX_COUNTER) throw new RangeError(`HLC counter out of range: ${h.counter}`);
  // The stamps of one batch mostly share their millisecond: its digits are made once.
  if (h.wall !== lastWall) {
    lastWall = h.wall;
    lastWallDigits = h.wall.toString(16).padStart(WALL_DIGITS, '0');
  }
  return lastWallDigits + (h.counter < 16 ? COUNTER_PADS[h.counter] as string : h.counter.toString(16).padStart(COUNTER_DIGITS, '0'));
}

let lastWall = -1;
let lastWallDigits = '';
const COUNTER_PADS = Array.from({ length: 16 }, (_, i) => i.toString(16).padStart(COUNTER_DIGITS, '0'));

export function decodeHlc(text: string): Hlc {
  if (!HLC_PATTERN.test(text)) throw new RangeError(`Not an encoded HLC: ${JSON.stringify(text)}`);
  return { wall: Number.parseInt(text.slice(0, WALL_DIGITS), 16), counter: Number.parseInt(text.slice(WALL_DIGITS), 16) };
}

export function isEncodedHlc(text: unknown): text is string {
  return typeof text === 'string' && HLC_PATTERN.test(text);
}

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall !== b.wall ? a.wall - b.wall : a.counter - b.counter;
}

export interface ClockOptions {
  /** physical time in ms; Date.now in the service, a fake in tests */
  physicalNow: () => number;
  maxDriftMs?: number;
}

export class HybridClock {
  private last: Hlc = { wall: 0, counter: 0 };
  private readonly physicalNow: () => number;
  readonly maxDriftMs: number;

  constructor(opts: ClockOptions) {
    this.physicalNow = opts.physicalNow;
    this.maxDriftMs = opts.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
  }

  /** The last stamp given or seen. */
  get current(): Hlc {
    return { ...this.last };
  }

  /**
   * Continues after a stamp this site wrote before (its log at start): not bounded, since a
   * clock that was stepped back while the service was stopped must still never go backwards.
   */
  seed(h: Hlc): void {
    if (compareHlc(h, this.last) > 0) this.last = { ...h };
  }

  /** A stamp for a local change: greater than every stamp given or seen so far. */
  now(): Hlc {
    const physical = this.physicalNow();
    if (physical > this.last.wall) this.last = { wall: physical, counter: 0 };
    else this.last = this.bump(this.last.wall, this.last.counter);
    return { ...this.last };
  }

  /**
   * Takes in the stamp of a received change, so that later local stamps are greater than it.
   * Throws ClockDriftError, changing nothing, when it is more than maxDriftMs ahead of physical time.
   */
  receive(remote: Hlc): Hlc {
    const physical = this.physicalNow();
    if (remote.wall - physical > this.maxDriftMs) throw new ClockDriftError(remote, physical, this.maxDriftMs);
    const wall = Math.max(physical, this.last.wall, remote.wall);
    if (wall === this.last.wall && wall === remote.wall) this.last = this.bump(wall, Math.max(this.last.counter, remote.counter));
    else if (wall === this.last.wall) this.last = this.bump(wall, this.last.counter);
    else if (wall === remote.wall) this.last = this.bump(wall, remote.counter);
    else this.last = { wall, counter: 0 };
    return { ...this.last };
  }

  /** The next stamp after (wall, counter); a full counter pushes the wall one millisecond on. */
  private bump(wall: number, counter: number): Hlc {
    return counter < MAX_COUNTER ? { wall, counter: counter + 1 } : { wall: wall + 1, counter: 0 };
  }
}
