/**
 * The call records page's state as it lives in the URL (shareable, Back works) and as the API
 * wants it. Date presets are days of the admin's time zone; `from`/`until` go to the API as
 * instants, `until` exclusive.
 */
import type { Disposition } from '../../../shared/api/cdr.js';
import type { CdrSort, NumberMatch } from '../../../shared/api/cdr-query.js';
import type { Direction } from '../../../shared/api/events.js';
import { DIRECTIONS, DISPOSITIONS } from './calls.js';
import { addDays, addMonths, civilDateAt, formatInZone, parseIsoDate, startOfDay, toIsoDate, type CivilDate } from './timeZone.js';

export const RANGE_PRESETS = {
  today: 'Today',
  yesterday: 'Yesterday',
  '7d': 'Last 7 days',
  month: 'This month',
  lastmonth: 'Last month',
  all: 'All time',
  custom: 'Custom range',
} as const;
export type RangePreset = keyof typeof RANGE_PRESETS;
export const DEFAULT_RANGE: RangePreset = '7d';

export const PAGE_SIZES = [25, 50, 100, 200] as const;
export const DEFAULT_PAGE_SIZE = 50;
export const DEFAULT_SORT: CdrSort = '-startedAt';
/** GET /api/v1/cdrs refuses deeper offsets (shared/api/cdr-query.ts CDR_QUERY_LIMITS.maxOffset). */
export const MAX_OFFSET = 1_000_000;
export const LIMITS = { domain: 253, number: 64, search: 100 } as const;

const SORTS: readonly CdrSort[] = ['startedAt', '-startedAt', 'duration', '-duration', 'billsec', '-billsec', 'from', '-from', 'to', '-to', 'domain', '-domain'];

export interface CdrView {
  range: RangePreset;
  /** custom range: first and last day, inclusive (YYYY-MM-DD in the zone) */
  fromDate: string;
  toDate: string;
  domain: string;
  number: string;
  numberMatch: NumberMatch;
  dispositions: Disposition[];
  directions: Direction[];
  search: string;
  sort: CdrSort;
  /** 1-based */
  page: number;
  size: number;
}

function listParam<T extends string>(text: string | null, allowed: readonly T[]): T[] {
  if (!text) return [];
  const wanted = new Set(text.split(','));
  return allowed.filter((v) => wanted.has(v));
}

export function readView(params: URLSearchParams): CdrView {
  const range = params.get('range');
  const size = Number(params.get('size'));
  const page = Number(params.get('page'));
  const sort = params.get('sort');
  return {
    range: range && range in RANGE_PRESETS ? (range as RangePreset) : DEFAULT_RANGE,
    fromDate: params.get('from') ?? '',
    toDate: params.get('to') ?? '',
    domain: params.get('domain') ?? '',
    number: params.get('number') ?? '',
    numberMatch: params.get('match') === 'contains' ? 'contains' : 'prefix',
    dispositions: listParam(params.get('disposition'), DISPOSITIONS),
    directions: listParam(params.get('direction'), DIRECTIONS),
    search: params.get('q') ?? '',
    sort: sort && (SORTS as readonly string[]).includes(sort) ? (sort as CdrSort) : DEFAULT_SORT,
    page: Number.isInteger(page) && page >= 1 ? page : 1,
    size: (PAGE_SIZES as readonly number[]).includes(size) ? size : DEFAULT_PAGE_SIZE,
  };
}

export interface RangeBounds {
  fromMs: number | undefined;
  untilMs: number | undefined;
  /** "16 Nov 2026 – 22 Nov 2026"; '' for all time */
  description: string;
  /** a custom range whose dates are missing or reversed */
  invalid: string | null;
}

/** The instants a range covers in the zone, `nowMs` being "today". */
export function rangeBounds(view: Pick<CdrView, 'range' | 'fromDate' | 'toDate'>, tz: string, nowMs: number): RangeBounds {
  const today = civilDateAt(nowMs, tz);
  const days = (first: CivilDate, lastInclusive: CivilDate): RangeBounds => {
    const fromMs = startOfDay(first, tz);
    const untilMs = startOfDay(addDays(lastInclusive, 1), tz);
    const a = formatInZone(fromMs, tz, 'date');
    const b = formatInZone(untilMs - 1, tz, 'date');
    return { fromMs, untilMs, description: a === b ? a : `${a} – ${b}`, invalid: null };
  };
  const firstOfMonth = { ...today, day: 1 };
  switch (view.range) {
    case 'today':
      return days(today, today);
    case 'yesterday':
      return days(addDays(today, -1), addDays(today, -1));
    case '7d':
      return days(addDays(today, -6), today);
    case 'month':
      return days(firstOfMonth, addDays(addMonths(firstOfMonth, 1), -1));
    case 'lastmonth':
      return days(addMonths(firstOfMonth, -1), addDays(firstOfMonth, -1));
    case 'all':
      return { fromMs: undefined, untilMs: undefined, description: '', invalid: null };
    case 'custom': {
      const from = parseIsoDate(view.fromDate);
      const to = parseIsoDate(view.toDate);
      if (!from && !to) return { fromMs: undefined, untilMs: undefined, description: '', invalid: 'Choose the first and the last day.' };
      if (from && to && toIsoDate(from) > toIsoDate(to)) {
        return { fromMs: undefined, untilMs: undefined, description: '', invalid: 'The first day is after the last day.' };
      }
      if (from && to) return days(from, to);
      if (from) {
        const fromMs = startOfDay(from, tz);
        return { fromMs, untilMs: undefined, description: `from ${formatInZone(fromMs, tz, 'date')}`, invalid: null };
      }
      const untilMs = startOfDay(addDays(to as CivilDate, 1), tz);
      return { fromMs: undefined, untilMs, description: `until ${formatInZone(untilMs - 1, tz, 'date')}`, invalid: null };
    }
  }
}

/** The filter part of the API query string (shared by the list and the export). */
export function filterParams(view: CdrView, bounds: RangeBounds): URLSearchParams {
  const q = new URLSearchParams();
  if (bounds.fromMs !== undefined) q.set('from', new Date(bounds.fromMs).toISOString());
  if (bounds.untilMs !== undefined) q.set('until', new Date(bounds.untilMs).toISOString());
  if (view.domain.trim()) q.set('domain', view.domain.trim());
  if (view.number.trim()) {
    q.set('number', view.number.trim());
    q.set('numberMatch', view.numberMatch);
  }
  if (view.dispositions.length) q.set('disposition', view.dispositions.join(','));
  if (view.directions.length) q.set('direction', view.directions.join(','));
  if (view.search.trim()) q.set('search', view.search.trim());
  return q;
}

export function listParams(view: CdrView, bounds: RangeBounds): URLSearchParams {
  const q = filterParams(view, bounds);
  q.set('sort', view.sort);
  q.set('limit', String(view.size));
  q.set('offset', String(Math.min((view.page - 1) * view.size, MAX_OFFSET)));
  return q;
}

/** Some filter other than the date range is set. */
export function hasFilters(view: CdrView): boolean {
  return Boolean(view.domain || view.number || view.search || view.dispositions.length || view.directions.length);
}
