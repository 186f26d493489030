/**
 * The admin's time zone: the browser's by default, another IANA zone when chosen (kept in
 * localStorage). Call records, timelines and charts show times in it, and say which it is.
 * Also the calendar arithmetic in a zone that the date-range presets need (midnights, months),
 * done with Intl alone.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

const KEY = 'sitecall.timeZone';

export const BROWSER_TIME_ZONE: string = (() => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
})();

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Every zone the browser knows, UTC first. */
export function allTimeZones(): string[] {
  let zones: string[] = [];
  try {
    zones = Intl.supportedValuesOf('timeZone');
  } catch {
    zones = [];
  }
  const set = new Set(['UTC', BROWSER_TIME_ZONE, ...zones]);
  return [...set];
}

function readStored(): string | null {
  try {
    const v = window.localStorage.getItem(KEY);
    return v && isValidTimeZone(v) ? v : null;
  } catch {
    return null;
  }
}

interface TimeZoneValue {
  timeZone: string;
  /** the zone is the browser's (nothing chosen) */
  isBrowserZone: boolean;
  setTimeZone(tz: string | null): void;
}

const TimeZoneContext = createContext<TimeZoneValue | null>(null);

export function TimeZoneProvider({ children }: { children: ReactNode }) {
  const [chosen, setChosen] = useState<string | null>(readStored);
  const setTimeZone = useCallback((tz: string | null) => {
    const value = tz === BROWSER_TIME_ZONE ? null : tz;
    try {
      if (value) window.localStorage.setItem(KEY, value);
      else window.localStorage.removeItem(KEY);
    } catch {
      // storage disabled: the choice lasts for this page
    }
    setChosen(value);
  }, []);
  const value = useMemo(
    () => ({ timeZone: chosen ?? BROWSER_TIME_ZONE, isBrowserZone: chosen === null, setTimeZone }),
    [chosen, setTimeZone],
  );
  return <TimeZoneContext.Provider value={value}>{children}</TimeZoneContext.Provider>;
}

export function useTimeZone(): TimeZoneValue {
  const value = useContext(TimeZoneContext);
  if (!value) throw new Error('useTimeZone outside <TimeZoneProvider>');
  return value;
}

// ---------- Formatting in a zone ----------

const formatters = new Map<string, Intl.DateTimeFormat>();

type FormatKind = 'dateTime' | 'dateTimeSec' | 'short' | 'shortYear' | 'time' | 'timeMs' | 'hourMinute' | 'dayMonth' | 'date' | 'parts' | 'offset';

function formatter(tz: string, kind: FormatKind): Intl.DateTimeFormat {
  const key = `${kind}|${tz}`;
  let f = formatters.get(key);
  if (!f) {
    const options: Record<typeof kind, Intl.DateTimeFormatOptions> = {
      dateTime: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
      dateTimeSec: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
      short: { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
      shortYear: { year: '2-digit', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
      time: { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
      timeMs: { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hourCycle: 'h23' },
      hourMinute: { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
      dayMonth: { month: 'short', day: 'numeric' },
      date: { dateStyle: 'medium' },
      parts: { hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' },
      offset: { timeZoneName: 'longOffset' },
    };
    f = new Intl.DateTimeFormat(kind === 'parts' || kind === 'offset' ? 'en-US' : undefined, { ...options[kind], timeZone: tz });
    formatters.set(key, f);
  }
  return f;
}

function toMs(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** "Nov 22, 10:00:01" (24 h; with the year when it is not this year's) for table cells. */
export function formatCompact(value: string | number | null | undefined, tz: string): string {
  const ms = toMs(value);
  if (ms === null) return '';
  const sameYear = civilDateAt(ms, tz).year === civilDateAt(Date.now(), tz).year;
  return formatter(tz, sameYear ? 'short' : 'shortYear').format(ms);
}

/** "22 Nov 2026, 10:00:01" in the zone; '' for nothing. */
export function formatInZone(
  value: string | number | null | undefined,
  tz: string,
  kind: 'dateTime' | 'dateTimeSec' | 'time' | 'timeMs' | 'hourMinute' | 'dayMonth' | 'date' = 'dateTimeSec',
): string {
  const ms = toMs(value);
  return ms === null ? '' : formatter(tz, kind).format(ms);
}

/** "UTC+01:00" for the zone at that instant (default now). */
export function zoneOffsetLabel(tz: string, at: number = Date.now()): string {
  const part = formatter(tz, 'offset')
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName')?.value;
  return part === 'GMT' || !part ? 'UTC' : part.replace('GMT', 'UTC');
}

// ---------- Calendar arithmetic in a zone ----------

export interface CivilDate {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
}

function wallClock(ms: number, tz: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const get = (parts: Intl.DateTimeFormatPart[], type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const parts = formatter(tz, 'parts').formatToParts(ms);
  return { y: get(parts, 'year'), mo: get(parts, 'month'), d: get(parts, 'day'), h: get(parts, 'hour') % 24, mi: get(parts, 'minute'), s: get(parts, 'second') };
}

/** The wall clock in the zone at instant `ms`: hour and minute. */
export function hourMinuteAt(ms: number, tz: string): { hour: number; minute: number } {
  const w = wallClock(ms, tz);
  return { hour: w.h, minute: w.mi };
}

/** How far the zone's wall clock is ahead of UTC at instant `ms`. */
function offsetAt(ms: number, tz: string): number {
  const w = wallClock(ms, tz);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(ms / 1000) * 1000;
}

/** The date in the zone at instant `ms`. */
export function civilDateAt(ms: number, tz: string): CivilDate {
  const w = wallClock(ms, tz);
  return { year: w.y, month: w.mo, day: w.d };
}

/** Normalises overflowing days and months (day 0, month 13 ...). */
export function addDays(date: CivilDate, days: number): CivilDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export function addMonths(date: CivilDate, months: number): CivilDate {
  const d = new Date(Date.UTC(date.year, date.month - 1 + months, date.day));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The instant the day starts in the zone (the first instant of the day, even across a DST gap). */
export function startOfDay(date: CivilDate, tz: string): number {
  const guess = Date.UTC(date.year, date.month - 1, date.day);
  const first = guess - offsetAt(guess, tz);
  const second = guess - offsetAt(first, tz);
  // Midnight exists once (or twice, when clocks go back): the earliest candidate on that day.
  // Where clocks jump forward over midnight it does not exist: the day starts after the gap.
  const onDay = [first, second].filter((t) => {
    const d = civilDateAt(t, tz);
    return d.year === date.year && d.month === date.month && d.day === date.day;
  });
  return onDay.length > 0 ? Math.min(...onDay) : Math.max(first, second);
}

export function toIsoDate(date: CivilDate): string {
  return `${String(date.year).padStart(4, '0')}-${String(date.month).padStart(2, '0')}-${String(date.day).padStart(2, '0')}`;
}

export function parseIsoDate(text: string | null | undefined): CivilDate | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text ?? '');
  if (!m) return null;
  const date = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const back = addDays(date, 0);
  return back.year === date.year && back.month === date.month && back.day === date.day ? date : null;
}
