/**
 * The configuration page's view of a version overwritten by a concurrent edit on another site
 * (GET /api/v1/conflicts): pure, tested with the page's state (test/unit/config-page-state.test.ts).
 */
import type { RoleInstance } from '../../../../shared/api/roles.js';
import { sameInstance } from '../../lib/configDraft.js';

/** The instances of a configuration version as the conflict carries it (the stored document, secrets redacted). */
export function instancesOf(body: unknown): RoleInstance[] {
  const b = body as { instances?: unknown } | null;
  return b && Array.isArray(b.instances) ? (b.instances as RoleInstance[]) : [];
}

export interface InstanceRow {
  name: string;
  current: RoleInstance | undefined;
  overwritten: RoleInstance | undefined;
  same: boolean;
}

/** The instances of both versions side by side, by name: those that differ first. */
export function compareInstances(current: readonly RoleInstance[], overwritten: readonly RoleInstance[], selfSite: string): InstanceRow[] {
  const now = new Map(current.map((i) => [i.name, i]));
  const then = new Map(overwritten.map((i) => [i.name, i]));
  const names = [...new Set([...now.keys(), ...then.keys()])].sort((a, b) => a.localeCompare(b));
  const rows = names.map((name): InstanceRow => {
    const c = now.get(name);
    const o = then.get(name);
    return { name, current: c, overwritten: o, same: c !== undefined && o !== undefined && sameInstance(c, o, selfSite) };
  });
  return [...rows.filter((r) => !r.same), ...rows.filter((r) => r.same)];
}

