/**
 * Keeps the configuration page's unsaved draft in sessionStorage (this tab only), so leaving the
 * page (to the dashboard, a reload) does not lose it. Gone when saved, discarded, or the tab closes.
 */
import type { RoleInstance } from '../../../shared/api/roles.js';
import type { DraftInstance } from './configDraft.js';
import { newKey } from './configDraft.js';

const KEY = 'sitecall.configDraft';

export interface StoredDraft {
  /** the revision the draft was made from */
  baseRevision: number;
  items: { origName: string | null; value: RoleInstance }[];
}

function storage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
}

function isStored(v: unknown): v is StoredDraft {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o['baseRevision'] === 'number' &&
    Array.isArray(o['items']) &&
    o['items'].every((i: unknown) => typeof i === 'object' && i !== null && 'value' in i && typeof (i as { value: unknown }).value === 'object')
  );
}

export function readStoredDraft(): StoredDraft | null {
  const raw = storage()?.getItem(KEY);
  if (!raw) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isStored(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function storeDraft(baseRevision: number, draft: readonly DraftInstance[]): void {
  const value: StoredDraft = { baseRevision, items: draft.map((d) => ({ origName: d.origName, value: d.value })) };
  try {
    storage()?.setItem(KEY, JSON.stringify(value));
  } catch {
    // full or disabled: the draft only lives in memory then
  }
}

export function clearStoredDraft(): void {
  storage()?.removeItem(KEY);
}

export function draftFromStored(stored: StoredDraft): DraftInstance[] {
  return stored.items.map((i) => ({ key: newKey(), origName: i.origName, value: i.value }));
}
