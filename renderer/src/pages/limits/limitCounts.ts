/**
 * A limit against the counts, pure: the count of the profile and value a rule limits (this site's
 * dialogs and reservations plus each paired site's last list, as GET /api/v1/profiles and the
 * live feed's `profiles` give them), and for a rule without a value the count of each value it
 * applies to; whether it is under, at or over its max (at: the next call is refused); how old a
 * remote list is now (test/unit/limits-page.test.ts).
 */
import type { Limit, ProfileCounts, ProfileRow } from '../../../../shared/api/limits.js';
import { TOTAL_PROFILE } from './limitDraft.js';

/** under: admits more; at: the next call is refused; over: more are up than the max (lowered meanwhile, or sites admitting at once). */
export type Standing = 'under' | 'at' | 'over';

export interface CountView {
  /** null: the pair a rule without a value applies to whose value is none (an invite pair without a value) */
  value: string | null;
  count: number;
  local: number;
  remote: number;
  standing: Standing;
}

export type LimitCounts =
  /** a rule with a value, or `total`: one count */
  | { kind: 'one'; count: CountView }
  /** a rule without a value: each value counted now, the fullest first; `standing` the worst of them */
  | { kind: 'each'; values: CountView[]; standing: Standing };

export function standingOf(count: number, max: number): Standing {
  return count > max ? 'over' : count === max ? 'at' : 'under';
}

const RANK: Record<Standing, number> = { under: 0, at: 1, over: 2 };

function remoteSum(row: ProfileRow): number {
  return row.remote.reduce((s, r) => s + r.count, 0);
}

function viewOf(row: ProfileRow | undefined, value: string | null, max: number): CountView {
  const count = row?.count ?? 0;
  return { value, count, local: row?.local ?? 0, remote: row ? remoteSum(row) : 0, standing: standingOf(count, max) };
}

/**
 * The counts a limit is held to. A pair nobody counts is not listed by the service: it counts 0.
 * `total` has one pair (no value): its rule, which has no value either, gets that one count.
 */
export function countsOf(limit: Pick<Limit, 'profile' | 'value' | 'max'>, counts: ProfileCounts): LimitCounts {
  const rows = counts.items.filter((r) => r.name === limit.profile);
  if (limit.value !== null || limit.profile === TOTAL_PROFILE) {
    const row = rows.find((r) => r.value === limit.value);
    return { kind: 'one', count: viewOf(row, limit.value, limit.max) };
  }
  const values = rows
    .filter((r) => r.count > 0)
    .map((r) => viewOf(r, r.value, limit.max))
    .sort((a, b) => b.count - a.count || cmpValue(a.value, b.value));
  const standing = values.reduce<Standing>((worst, v) => (RANK[v.standing] > RANK[worst] ? v.standing : worst), 'under');
  return { kind: 'each', values, standing };
}

function cmpValue(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/** The standing a limit shows: of its one count, or the worst of its values. */
export function standingOfCounts(c: LimitCounts): Standing {
  return c.kind === 'one' ? c.count.standing : c.standing;
}

/** What the standing says beside the count. */
export function standingText(standing: Standing, count: number, max: number): string {
  if (standing === 'over') return `Over the limit by ${count - max}: new calls are refused`;
  if (standing === 'at') return 'At the limit: new calls are refused';
  return `${max - count} more allowed`;
}

/** How full a count is, 0 to 1, for a bar (a max of 0 is full at once: it admits none). */
export function fillOf(count: number, max: number): number {
  if (max <= 0) return 1;
  return Math.min(1, count / max);
}

/**
 * How old a remote site's list is now: its age when the counts were received, plus the time
 * since (the service sends the counts when they change, not when they only grow older).
 */
export function ageNow(ageMs: number, receivedAt: number, now: number): number {
  return Math.max(0, ageMs + Math.max(0, now - receivedAt));
}

export function formatAge(ms: number): string {
  if (ms < 1000) return 'just now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  return `${Math.floor(m / 60)} h ${m % 60} min ago`;
}

/** How a profile's value reads: `total` has none (every call), a pair without one says so. */
export function valueText(name: string, value: string | null): string {
  if (value !== null) return value;
  return name === TOTAL_PROFILE ? 'all calls' : '(no value)';
}

/** The profile names known now, for the form's suggestions: the built-ins, then those counted and those limited. */
export function knownProfiles(counts: ProfileCounts | undefined, limits: readonly Limit[]): string[] {
  const names = new Set<string>(['total', 'domain']);
  for (const r of counts?.items ?? []) names.add(r.name);
  for (const l of limits) names.add(l.profile);
  return [...names];
}
