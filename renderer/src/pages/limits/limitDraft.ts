/**
 * A limit as the form holds it, pure: the text typed, what the console checks before it sends
 * (only what is missing or is no number at all: the service's schema judges the rest and says why,
 * one judge for every client), the body it sends, and how a refusal's JSON paths map back onto
 * the fields (test/unit/limits-page.test.ts).
 */
import type { Limit, LimitInput, PROFILE_LIMITS as SharedLimits } from '../../../../shared/api/limits.js';
import type { ErrorDetail } from '../../../../shared/api/errors.js';

/**
 * The API's bounds, as values for the browser: importing a value from shared/api/limits.ts would
 * bundle TypeBox; the type makes the compiler check that this copy equals the original.
 */
export const PROFILE_LIMITS: typeof SharedLimits = {
  nameLength: 64,
  valueLength: 256,
  descriptionLength: 500,
  profiles: 32,
  callIdLength: 256,
  domainLength: 253,
  uriLength: 512,
};

/** The built-in profiles (design section 4.4): every dialog counts under `total`, and under `domain` with its domain. */
export const TOTAL_PROFILE = 'total';
export const DOMAIN_PROFILE = 'domain';

export type LimitField = 'profile' | 'value' | 'max' | 'description';
export const LIMIT_FIELDS: readonly LimitField[] = ['profile', 'value', 'max', 'description'];

/** `one`: the rule limits one value of the profile; `each`: it applies to each value on its own (no value). */
export type LimitScope = 'one' | 'each';

export interface LimitDraft {
  profile: string;
  scope: LimitScope;
  value: string;
  /** as typed: it stays text until it is sent */
  max: string;
  description: string;
}

export type FieldMessages = Partial<Record<LimitField, string>>;

export const EMPTY_DRAFT: LimitDraft = { profile: '', scope: 'one', value: '', max: '', description: '' };

export function draftFrom(limit: Limit): LimitDraft {
  return {
    profile: limit.profile,
    scope: limit.value === null ? 'each' : 'one',
    value: limit.value ?? '',
    max: String(limit.max),
    description: limit.description ?? '',
  };
}

/** `total` has no values (every call counts under it, once): a rule for it has none either. */
export function hasValues(profile: string): boolean {
  return profile.trim() !== TOTAL_PROFILE;
}

/** The scope the rule will have: `each` for `total` whatever was chosen. */
export function effectiveScope(draft: LimitDraft): LimitScope {
  return hasValues(draft.profile) ? draft.scope : 'each';
}

/** A number as a person types one (the service then says whether it is whole and in range). */
const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * What the console says before it sends: the fields left empty, and a max that is no number at
 * all (it cannot go out as one). A negative, fractional or too large max, or a name too long, is
 * the service's to refuse: its sentence then shows beside the field.
 */
export function checkDraft(draft: LimitDraft): FieldMessages {
  const problems: FieldMessages = {};
  if (!draft.profile.trim()) problems.profile = 'Enter the profile: total, domain, or a name your phone system puts on its calls (like trunk).';
  if (effectiveScope(draft) === 'one' && !draft.value.trim()) {
    problems.value = draft.profile.trim() === DOMAIN_PROFILE ? 'Enter the domain, like office.example, or choose each value.' : 'Enter the value, or choose each value.';
  }
  const max = draft.max.trim();
  if (!max) problems.max = 'Enter the most calls this limit lets up at once, like 30.';
  else if (!NUMBER_TEXT.test(max)) problems.max = 'Enter a whole number of calls, like 30.';
  return problems;
}

/** The body of POST /api/v1/limits or PUT /api/v1/limits/{id}; only for a draft checkDraft found nothing wrong with. */
export function inputFrom(draft: LimitDraft): LimitInput {
  const description = draft.description.trim();
  return {
    profile: draft.profile.trim(),
    value: effectiveScope(draft) === 'each' ? null : draft.value.trim(),
    max: Number(draft.max.trim()),
    description: description ? description : null,
  };
}

/** Whether the draft says what the limit says already (Save then has nothing to send). */
export function unchanged(draft: LimitDraft, limit: Limit): boolean {
  const a = inputFrom(draft);
  return a.profile === limit.profile && a.value === limit.value && a.max === limit.max && (a.description ?? null) === limit.description;
}

/** The field a JSON path of the request body names (`/max`, `/value`, …); null for any other path. */
export function fieldOfPath(path: string): LimitField | null {
  const top = path.split('/')[1] ?? '';
  return (LIMIT_FIELDS as readonly string[]).includes(top) ? (top as LimitField) : null;
}

/** A detail's message as a sentence of its own ("must be >= 0" → "Must be >= 0."). */
export function sentence(message: string): string {
  const m = message.trim();
  if (!m) return 'Is not accepted.';
  const first = m.charAt(0).toUpperCase() + m.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/**
 * A refusal's details by field, each field's sentences joined; the details of no field (a path
 * the form has no field for) are left in `other`.
 */
export function messagesOf(details: readonly ErrorDetail[]): { fields: FieldMessages; other: string[] } {
  const fields: FieldMessages = {};
  const other: string[] = [];
  for (const d of details) {
    const field = fieldOfPath(d.path);
    if (field === null) {
      other.push(`${d.path} ${d.message}`);
      continue;
    }
    const text = sentence(d.message);
    fields[field] = fields[field] ? `${fields[field]} ${text}` : text;
  }
  return { fields, other };
}

/** How the service compares a rule's value: a domain lower case without its trailing dots. */
export function normalizedValue(profile: string, value: string | null): string | null {
  if (value === null) return null;
  return profile === DOMAIN_PROFILE ? value.toLowerCase().replace(/\.+$/, '') : value;
}

/** The limit of `limits` (other than `except`) that has the draft's profile and value: what a 409 is about. */
export function duplicateOf(draft: LimitDraft, limits: readonly Limit[], except: string | null): Limit | null {
  const input = inputFrom(draft);
  const value = normalizedValue(input.profile, input.value ?? null);
  return limits.find((l) => l.id !== except && l.profile === input.profile && l.value === value) ?? null;
}

/** The longest text each field takes (the service's bounds): the inputs stop there. */
export const FIELD_MAX_LENGTH: Readonly<Record<LimitField, number>> = {
  profile: PROFILE_LIMITS.nameLength,
  value: PROFILE_LIMITS.valueLength,
  max: 12,
  description: PROFILE_LIMITS.descriptionLength,
};
