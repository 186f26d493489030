/**
 * The "Pair with a site" form as one reducer: what is typed, what the console checks before it
 * sends (only that both are there: the service judges the address and the code and says why), the
 * request under way, and its answer: the refusal's sentence with the field it names, or the paired
 * site. Pure: the page does the request and dispatches what it answered
 * (test/unit/sites-page.test.ts).
 */
import type { PairedSite } from '../../../../shared/api/sites.js';
import type { ApiError } from '../../api/client.js';

export type PairField = 'url' | 'code';

export interface PairFormState {
  url: string;
  code: string;
  /** per field, what the console's check found missing */
  problems: Partial<Record<PairField, string>>;
  busy: boolean;
  /** the service refused or the request failed: its sentence, shown above the buttons */
  refusal: ApiError | null;
  /** the field the refusal is about (marked invalid and described by the refusal's sentence) */
  refusalField: PairField | null;
  /** the last pairing this form made (until the next edit) */
  paired: PairedSite | null;
  /** the field to focus after a submit that found a problem */
  focus: PairField | null;
}

export const INITIAL_PAIR_FORM: PairFormState = { url: '', code: '', problems: {}, busy: false, refusal: null, refusalField: null, paired: null, focus: null };

export type PairFormAction =
  | { type: 'edit'; field: PairField; value: string }
  /** the admin asked to pair: checked here, then `started` when it goes out */
  | { type: 'submit' }
  | { type: 'started' }
  | { type: 'paired'; site: PairedSite }
  | { type: 'failed'; error: ApiError }
  | { type: 'focused' }
  | { type: 'dismissPaired' };

/** What the console says before it sends anything: only what is missing. */
export function checkPairInput(url: string, code: string): Partial<Record<PairField, string>> {
  const problems: Partial<Record<PairField, string>> = {};
  if (!url.trim()) problems.url = 'Enter the address the other site shows with its code, like wss://office-b.example:7443.';
  if (!code.trim()) problems.code = 'Enter the pairing code the other site shows, like K7QW-2M9X.';
  return problems;
}

/** Whether the form is ready to send (what `submit` found nothing wrong with). */
export function readyToSend(state: PairFormState): boolean {
  return !state.busy && Object.keys(checkPairInput(state.url, state.code)).length === 0;
}

/**
 * The field a refusal is about, from the JSON path of its first detail (`/url`, `/code`): it is
 * marked invalid, described by the refusal's sentence, and focus goes there.
 */
export function fieldOf(error: ApiError): PairField | null {
  for (const d of error.details) {
    if (d.path === '/url' || d.path.startsWith('/url/')) return 'url';
    if (d.path === '/code' || d.path.startsWith('/code/')) return 'code';
  }
  return null;
}

export function pairFormReducer(state: PairFormState, action: PairFormAction): PairFormState {
  switch (action.type) {
    case 'edit': {
      const { [action.field]: _cleared, ...problems } = state.problems;
      return { ...state, [action.field]: action.value, problems, refusal: null, refusalField: null, paired: null };
    }
    case 'submit': {
      if (state.busy) return state;
      const problems = checkPairInput(state.url, state.code);
      const first = (['url', 'code'] as const).find((f) => problems[f]);
      return { ...state, problems, refusal: null, refusalField: null, paired: null, focus: first ?? null };
    }
    case 'started':
      return { ...state, busy: true, refusal: null, refusalField: null, paired: null };
    case 'paired':
      // the code is spent: the field empties; the address stays (it names the site just paired)
      return { ...state, busy: false, code: '', problems: {}, refusal: null, refusalField: null, paired: action.site, focus: null };
    case 'failed': {
      const field = fieldOf(action.error);
      return { ...state, busy: false, refusal: action.error, refusalField: field, focus: field };
    }
    case 'focused':
      return state.focus === null ? state : { ...state, focus: null };
    case 'dismissPaired':
      return { ...state, paired: null };
  }
}
