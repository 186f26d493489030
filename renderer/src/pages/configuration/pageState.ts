/**
 * The state of the configuration page as one reducer: the saved configuration, the draft made
 * from it, the open instance form, and where a save stands (notice, error, conflict). Pure: the
 * page does the requests and dispatches what they answered; a unit test drives it
 * (test/unit/config-page-state.test.ts).
 */
import type { Conflict } from '../../../../shared/api/conflicts.js';
import type { RoleInstance, RolesConfig } from '../../../../shared/api/roles.js';
import type { ApiError } from '../../api/client.js';
import { applyInstance, draftFrom, groupDomains, newKey, suggestName, type DraftInstance } from '../../lib/configDraft.js';
import type { FormState } from './formState.js';

export interface EditorState {
  key: string;
  origName: string | null;
  isNew: boolean;
  /** the instance as it was when the form opened */
  base: RoleInstance;
  form: FormState;
  /** the domains were typed in this form: a change of group no longer fills them in */
  domainsTouched: boolean;
  /** the name is still the one the console suggested: a change of role type suggests another */
  nameSuggested: boolean;
}

export interface SavedNotice {
  revision: number;
  /** how many warnings the saved configuration has (they stay listed in the problem summary) */
  warnings: number;
  kind: 'saved' | 'reloaded' | 'refreshed' | 'restored';
  /** restored: the revision the restored draft was made from */
  base?: number;
}

export interface PageState {
  saved: RolesConfig | null;
  draft: DraftInstance[];
  /** the revision the draft was made from: sent with a save, so a newer one answers 409 */
  baseRevision: number;
  editor: EditorState | null;
  saving: boolean;
  saveError: ApiError | null;
  /** the service refused the last save (400): its message, until the draft changes */
  refused: string | null;
  notice: SavedNotice | null;
  conflict: { theirs: RolesConfig } | null;
  conflictBusy: 'reload' | 'overwrite' | null;
  conflictError: ApiError | null;
  /** the instance removed last, and where it stood: what Undo puts back */
  removed: { item: DraftInstance; index: number } | null;
  confirmDiscard: boolean;
  /** the row changed last, highlighted for a moment */
  flashKey: string | null;
  /**
   * the newest open conflict of the configuration: an edit made on another site while the sites
   * could not reach each other, overwritten by the merge when they met again (GET /api/v1/conflicts)
   */
  overwritten: Conflict | null;
  /** how many open conflicts the configuration has (the banner shows the newest) */
  overwrittenCount: number;
  overwrittenBusy: 'keep' | 'use' | null;
  overwrittenError: ApiError | null;
}

export const INITIAL_PAGE_STATE: PageState = {
  saved: null,
  draft: [],
  baseRevision: 0,
  editor: null,
  saving: false,
  saveError: null,
  refused: null,
  notice: null,
  conflict: null,
  conflictBusy: null,
  conflictError: null,
  removed: null,
  confirmDiscard: false,
  flashKey: null,
  overwritten: null,
  overwrittenCount: 0,
  overwrittenBusy: null,
  overwrittenError: null,
};

export type PageAction =
  /** a configuration from the service becomes the saved one and the draft */
  | { type: 'adopt'; config: RolesConfig }
  /** the draft was saved as `config` (its instances keep the keys of the draft `sent`) */
  | { type: 'saved'; config: RolesConfig; sent: readonly DraftInstance[]; warnings: number }
  /** after a conflict, their configuration replaces the draft */
  | { type: 'reloaded'; config: RolesConfig }
  /** a revision saved elsewhere, taken while nothing was being edited */
  | { type: 'refreshed'; config: RolesConfig }
  /** this tab's unsaved draft, kept from before, replaces the one just adopted */
  | { type: 'restoreDraft'; draft: DraftInstance[]; baseRevision: number; notice: SavedNotice }
  /** the draft is clean again: it counts as made from the saved revision */
  | { type: 'rebase' }
  | { type: 'openEditor'; editor: EditorState }
  | { type: 'changeForm'; patch: Partial<FormState> }
  | { type: 'closeEditor' }
  /** the open form, read, goes into the draft */
  | { type: 'applyEdit'; value: RoleInstance }
  | { type: 'remove'; key: string }
  | { type: 'undoRemove' }
  | { type: 'dismissRemoved' }
  | { type: 'askDiscard'; open: boolean }
  | { type: 'discard' }
  | { type: 'dismissNotice' }
  | { type: 'flashOver' }
  | { type: 'saveStarted' }
  | { type: 'saveEnded' }
  | { type: 'saveFailed'; error: ApiError }
  /** the service refused the draft (400): the errors are at their fields, this is the sentence */
  | { type: 'saveRefused'; message: string }
  | { type: 'conflict'; theirs: RolesConfig }
  | { type: 'conflictBusy'; busy: 'reload' | 'overwrite' | null }
  | { type: 'conflictFailed'; error: ApiError }
  | { type: 'conflictClosed' }
  /** the open conflicts of the configuration, newest first (none: the banner goes) */
  | { type: 'overwrittenLoaded'; conflicts: readonly Conflict[]; total: number }
  | { type: 'overwrittenBusy'; busy: 'keep' | 'use' | null }
  | { type: 'overwrittenFailed'; error: ApiError }
  /** the conflict was dismissed (kept the current version, or saved the overwritten one): the next one, if any, is loaded after */
  | { type: 'overwrittenResolved'; id: string };

/** Keeps the draft keys of `sent` for the instances the service saved (same order, same names). */
export function adoptKeys(sent: readonly DraftInstance[], saved: readonly RoleInstance[]): DraftInstance[] {
  return saved.map((value, i) => {
    const before = sent[i];
    return { key: before && before.value.name === value.name ? before.key : newKey(), origName: value.name, value };
  });
}

/** Every change of the draft: a refused save's message no longer applies. */
function withDraft(state: PageState, draft: DraftInstance[]): PageState {
  return { ...state, draft, refused: null };
}

/** The saved configuration and a draft of it (with the keys of `keys` where they match). */
function adopt(state: PageState, config: RolesConfig, keys?: readonly DraftInstance[]): PageState {
  const saved: RolesConfig = { revision: config.revision, instances: config.instances, ...(config.ifaceAliases ? { ifaceAliases: config.ifaceAliases } : {}) };
  const draft = keys ? adoptKeys(keys, config.instances) : draftFrom(config.instances);
  return { ...withDraft(state, draft), saved, baseRevision: config.revision, removed: null };
}

export function pageReducer(state: PageState, action: PageAction): PageState {
  switch (action.type) {
    case 'adopt':
      return adopt(state, action.config);
    case 'saved':
      return { ...adopt(state, action.config, action.sent), notice: { revision: action.config.revision, warnings: action.warnings, kind: 'saved' }, saveError: null };
    case 'reloaded':
      return { ...adopt(state, action.config), conflict: null, notice: { revision: action.config.revision, warnings: 0, kind: 'reloaded' } };
    case 'refreshed':
      return { ...adopt(state, action.config), notice: { revision: action.config.revision, warnings: 0, kind: 'refreshed' } };
    case 'restoreDraft':
      return { ...withDraft(state, action.draft), baseRevision: action.baseRevision, notice: action.notice };
    case 'rebase':
      return state.saved && state.baseRevision !== state.saved.revision ? { ...state, baseRevision: state.saved.revision } : state;
    case 'openEditor':
      return { ...state, editor: action.editor };
    case 'changeForm': {
      const e = state.editor;
      if (!e) return state;
      const { patch } = action;
      const form = { ...e.form, ...patch };
      let { domainsTouched, nameSuggested } = e;
      if (patch.domains !== undefined) domainsTouched = true;
      if (patch.name !== undefined) nameSuggested = false;
      // A new group number: take that group's domains (they are shared) unless some were typed.
      if (patch.group !== undefined && !domainsTouched && /^\d+$/.test(patch.group.trim())) {
        const target = groupDomains(state.draft, Number(patch.group), e.key);
        form.domains = (target ? target.domains : (e.base.include_domains ?? [])).join('\n');
      }
      if (patch.roletype !== undefined && nameSuggested) form.name = suggestName(state.draft, patch.roletype);
      return { ...state, editor: { ...e, form, domainsTouched, nameSuggested } };
    }
    case 'closeEditor':
      return { ...state, editor: null };
    case 'applyEdit': {
      const e = state.editor;
      if (!e) return state;
      return { ...withDraft(state, applyInstance(state.draft, { key: e.key, origName: e.origName, value: action.value })), editor: null, notice: null, flashKey: e.key };
    }
    case 'remove': {
      const index = state.draft.findIndex((d) => d.key === action.key);
      const item = state.draft[index];
      if (!item) return state;
      return { ...withDraft(state, state.draft.filter((d) => d.key !== action.key)), removed: { item, index }, notice: null };
    }
    case 'undoRemove': {
      if (!state.removed) return state;
      const { item, index } = state.removed;
      return { ...withDraft(state, [...state.draft.slice(0, index), item, ...state.draft.slice(index)]), removed: null };
    }
    case 'dismissRemoved':
      return { ...state, removed: null };
    case 'askDiscard':
      return { ...state, confirmDiscard: action.open };
    case 'discard':
      if (!state.saved) return state;
      return { ...withDraft(state, draftFrom(state.saved.instances)), removed: null, confirmDiscard: false, saveError: null };
    case 'dismissNotice':
      return { ...state, notice: null };
    case 'flashOver':
      return { ...state, flashKey: null };
    case 'saveStarted':
      return { ...state, saving: true, notice: null, saveError: null };
    case 'saveEnded':
      return { ...state, saving: false };
    case 'saveFailed':
      return { ...state, saveError: action.error };
    case 'saveRefused':
      return { ...state, refused: action.message, saveError: null };
    case 'conflict':
      return { ...state, conflict: { theirs: action.theirs }, conflictError: null };
    case 'conflictBusy':
      return { ...state, conflictBusy: action.busy, ...(action.busy === 'overwrite' ? { conflictError: null } : {}) };
    case 'conflictFailed':
      return { ...state, conflictError: action.error };
    case 'conflictClosed':
      return { ...state, conflict: null };
    case 'overwrittenLoaded': {
      const newest = action.conflicts[0] ?? null;
      // the error of an action on another conflict does not carry over
      const same = newest !== null && state.overwritten?.id === newest.id;
      return { ...state, overwritten: newest, overwrittenCount: newest ? action.total : 0, overwrittenError: same ? state.overwrittenError : null };
    }
    case 'overwrittenBusy':
      return { ...state, overwrittenBusy: action.busy, ...(action.busy !== null ? { overwrittenError: null } : {}) };
    case 'overwrittenFailed':
      return { ...state, overwrittenError: action.error };
    case 'overwrittenResolved':
      if (state.overwritten?.id !== action.id) return state;
      return { ...state, overwritten: null, overwrittenCount: Math.max(0, state.overwrittenCount - 1), overwrittenError: null };
  }
}
