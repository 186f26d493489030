/**
 * The limits page's state as one reducer: the open form (new or edit), what it checked, the
 * request under way and the service's answer mapped onto the fields; the delete confirmation;
 * the notice of what was done last. Pure: the page does the requests and dispatches what they
 * answered (test/unit/limits-page.test.ts drives it as the page does).
 *
 * Unlike the configuration page's one state for everything, the form's messages are of two
 * kinds kept apart: the console's own check (`problems`, cleared field by field as it is typed
 * into) and the service's refusal (`refused`, the sentences of a 400's or 409's details by
 * field), so that a field shows the one that applies and an edit clears only its own.
 */
import type { Limit } from '../../../../shared/api/limits.js';
import type { ApiError } from '../../api/client.js';
import {
  checkDraft,
  draftFrom,
  duplicateOf,
  EMPTY_DRAFT,
  LIMIT_FIELDS,
  messagesOf,
  type FieldMessages,
  type LimitDraft,
  type LimitField,
} from './limitDraft.js';

export interface LimitEditor {
  /** null: a new limit */
  id: string | null;
  /** the limit as it was when the form opened (edit) */
  base: Limit | null;
  draft: LimitDraft;
  /** the console's check, by field (after a submit) */
  problems: FieldMessages;
  /** the service's refusal, by field */
  refused: FieldMessages;
  /** the service refused or the request failed: its sentence, above the buttons */
  refusal: ApiError | null;
  /** a 409: the limit with the same profile and value, when the list has it */
  duplicate: Limit | null;
  busy: boolean;
  /** the field to focus next (after a submit that found a problem, or a refusal naming one) */
  focus: LimitField | null;
}

export interface LimitsPageState {
  editor: LimitEditor | null;
  /** the limit whose deletion waits for confirmation */
  deleting: Limit | null;
  deleteBusy: boolean;
  deleteError: ApiError | null;
  /** what was done last, said above the list until dismissed or the next action */
  notice: string | null;
}

export const INITIAL_LIMITS_STATE: LimitsPageState = { editor: null, deleting: null, deleteBusy: false, deleteError: null, notice: null };

export type LimitsAction =
  /** open the form: for a new limit (`limit` null, optionally with a profile and value to start from) or to edit one */
  | { type: 'open'; limit: Limit | null; preset?: Partial<LimitDraft> }
  | { type: 'close' }
  | { type: 'edit'; change: Partial<LimitDraft> }
  /** the admin asked to save: checked here; `started` follows when it goes out */
  | { type: 'submit' }
  | { type: 'started' }
  | { type: 'saved'; limit: Limit; created: boolean }
  /** the request failed; `limits` is the list shown, where a 409's duplicate is looked up */
  | { type: 'failed'; error: ApiError; limits: readonly Limit[] }
  | { type: 'focused' }
  | { type: 'askDelete'; limit: Limit }
  | { type: 'cancelDelete' }
  | { type: 'deleteStarted' }
  | { type: 'deleted'; alreadyGone: boolean }
  | { type: 'deleteFailed'; error: ApiError }
  | { type: 'dismissNotice' };

function newEditor(limit: Limit | null, preset: Partial<LimitDraft> = {}): LimitEditor {
  return {
    id: limit?.id ?? null,
    base: limit,
    draft: limit ? draftFrom(limit) : { ...EMPTY_DRAFT, ...preset },
    problems: {},
    refused: {},
    refusal: null,
    duplicate: null,
    busy: false,
    focus: null,
  };
}

function firstField(...sets: FieldMessages[]): LimitField | null {
  return LIMIT_FIELDS.find((f) => sets.some((s) => s[f])) ?? null;
}

function without(messages: FieldMessages, fields: readonly LimitField[]): FieldMessages {
  const out = { ...messages };
  for (const f of fields) delete out[f];
  return out;
}

/** How a limit reads in a sentence: `trunk = sip1`, `domain (each value)`, `total`. */
export function ruleName(limit: Pick<Limit, 'profile' | 'value'>): string {
  if (limit.value !== null) return `${limit.profile} = ${limit.value}`;
  return limit.profile === 'total' ? 'total' : `${limit.profile} (each value)`;
}

/** Whether the form's Save may go out: nothing under way and nothing the console's check finds. */
export function readyToSave(editor: LimitEditor): boolean {
  return !editor.busy && Object.keys(checkDraft(editor.draft)).length === 0;
}

function editorReducer(e: LimitEditor, action: LimitsAction): LimitEditor {
  switch (action.type) {
    case 'edit': {
      const fields = Object.keys(action.change) as (keyof LimitDraft)[];
      // the scope decides whether there is a value: its messages go with it
      const touched: LimitField[] = fields.map((f) => (f === 'scope' ? 'value' : f));
      // a duplicate is of the profile and value: changing either may end it
      const duplicate = touched.some((f) => f === 'profile' || f === 'value') ? null : e.duplicate;
      return { ...e, draft: { ...e.draft, ...action.change }, problems: without(e.problems, touched), refused: without(e.refused, touched), refusal: null, duplicate };
    }
    case 'submit': {
      if (e.busy) return e;
      const problems = checkDraft(e.draft);
      return { ...e, problems, refused: {}, refusal: null, duplicate: null, focus: firstField(problems) };
    }
    case 'started':
      return { ...e, busy: true, refusal: null };
    case 'failed': {
      const { fields } = messagesOf(action.error.details);
      const duplicate = action.error.code === 'conflict' ? duplicateOf(e.draft, action.limits, e.id) : null;
      return { ...e, busy: false, refusal: action.error, refused: fields, duplicate, focus: firstField(fields) };
    }
    case 'focused':
      return e.focus === null ? e : { ...e, focus: null };
    default:
      return e;
  }
}

export function limitsReducer(state: LimitsPageState, action: LimitsAction): LimitsPageState {
  switch (action.type) {
    case 'open':
      return { ...state, editor: newEditor(action.limit, action.preset), notice: null };
    case 'close':
      return state.editor?.busy ? state : { ...state, editor: null };
    case 'saved': {
      const verb = action.created ? 'Added' : 'Saved';
      return { ...state, editor: null, notice: `${verb} the limit ${ruleName(action.limit)}: at most ${action.limit.max} call${action.limit.max === 1 ? '' : 's'} at once.` };
    }
    case 'askDelete':
      return { ...state, deleting: action.limit, deleteBusy: false, deleteError: null };
    case 'cancelDelete':
      return state.deleteBusy ? state : { ...state, deleting: null, deleteError: null };
    case 'deleteStarted':
      return state.deleting ? { ...state, deleteBusy: true, deleteError: null } : state;
    case 'deleted': {
      if (!state.deleting) return state;
      const name = ruleName(state.deleting);
      // the limit open in the form is gone too
      const editor = state.editor?.id === state.deleting.id ? null : state.editor;
      return {
        ...state,
        editor,
        deleting: null,
        deleteBusy: false,
        deleteError: null,
        notice: action.alreadyGone ? `The limit ${name} was deleted already (on this or another site).` : `Deleted the limit ${name}: its calls are no longer limited by it.`,
      };
    }
    case 'deleteFailed':
      return { ...state, deleteBusy: false, deleteError: action.error };
    case 'dismissNotice':
      return { ...state, notice: null };
    default:
      return state.editor ? { ...state, editor: editorReducer(state.editor, action) } : state;
  }
}
