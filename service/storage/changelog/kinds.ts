import { DISMISSAL_KIND, type ConflictRule } from './conflicts.js';
import type { MergePolicy } from './core/merge.js';

/**
 * Every kind of replicated state the change log carries, with how its versions merge. A kind
 * not listed here is refused by the log (a peer running a newer version must not have its
 * changes merged by a rule this one does not know).
 *
 * The document kinds are nedb collections that are write-ahead views of the log
 * (storage/documents.ts): their writes go to the log first and the collection is rebuilt from
 * it. The record kinds are entries of records, appended in the same transaction as the state that
 * holds them, each store keeping per id what its rule says (RECORD_KINDS, RECORD_RULES).
 */
export const DOCUMENT_KINDS = {
  config: 'last-writer-wins',
  users: 'last-writer-wins',
  // token ids are random and never reused: a revoke must beat a concurrent lastUsedAt write
  tokens: 'delete-wins',
  // a mailbox (its greetings' metadata inside) is `domain/number`: deleted and made again, it comes back
  vmail_mailboxes: 'last-writer-wins',
  // consecutive wrong PINs of a mailbox; the last count written stands
  vmail_pin_guard: 'last-writer-wins',
  // call limits (design section 4.4): `{profile, value, max}` rules with random ids, the same on every site
  limits: 'last-writer-wins',
} as const satisfies Record<string, MergePolicy>;

export type DocumentKind = keyof typeof DOCUMENT_KINDS;

/**
 * Record kinds: each change is an entry of its own, appended once and never deleted through the
 * log, with no merged document in the log (`add-only` in the log's terms: core/merge.ts); which
 * version of an id a store keeps is the kind's record rule (RECORD_RULES).
 * - `event`: a raw call event, keyed by its id, the body `{ instance, receivedAt, tsMs, event }`;
 *   appended by the callstore's journal (storage/journal.ts) in the same group transaction of the
 *   log's connection as the journal's own rows, so an acknowledged event is always an entry.
 * - `cdr`: a finished call's record, keyed by its id, the body the record; appended by the
 *   callstore's record writer in the same transaction as the journal's finish of the call's
 *   dialogs. The CDR store (storage/cdr/) is a write-ahead view of these entries.
 */
export const RECORD_KINDS = {
  event: 'add-only',
  cdr: 'add-only',
} as const satisfies Record<string, MergePolicy>;

/**
 * How the store of a record kind keeps the versions of one id:
 * - `first`: the first is kept, later ones are duplicates (raw events: a source that sends an
 *   event to two sites sends the same event);
 * - `ranked`: replaced by id, the greatest version by the kind's total order kept (CDRs:
 *   storage/cdr/winner.ts, the record built from more of the call's events, then the later term,
 *   then the site and the record's text). A call with events on both sides of a cut is recorded
 *   on each; the active instance rebuilds it from the union of its events, which beats both, and
 *   every store holding the same versions holds the same record (design section 7, "Failure and
 *   heal").
 */
export const RECORD_RULES = {
  event: 'first',
  cdr: 'ranked',
} as const satisfies Record<keyof typeof RECORD_KINDS, 'first' | 'ranked'>;

export const LOGGED_COLLECTIONS: readonly string[] = Object.keys(DOCUMENT_KINDS);

/**
 * Kinds whose write-ahead view is a store of their own rather than an nedb collection.
 * `vmail_messages` (vmail/message-store.ts): one document per message, the whole metadata; ids
 * are random and never reused and a purge is final (its audio goes), so a purge beats a
 * concurrent move or read mark, which under last-writer-wins would bring it back without audio.
 */
export const STORE_KINDS = {
  vmail_messages: 'delete-wins',
} as const satisfies Record<string, MergePolicy>;

/**
 * Document kinds held by the log alone (its `documents` table, no store outside it).
 * `role_term`: a group's Active-Passive term (`roletype:group` → {term, instance, site, since},
 * sync/terms.ts), written by the site that takes the group over; no domain, so every site has it.
 * `conflict_dismissals` (conflicts.ts): the acknowledgement of a conflict, keyed by the
 * conflict's id (the same on every site): replicated, so that a conflict dismissed on one site
 * is dismissed on all, as the edit that caused it reached all.
 */
export const LOG_ONLY_KINDS = {
  role_term: 'last-writer-wins',
  [DISMISSAL_KIND]: 'last-writer-wins',
} as const satisfies Record<string, MergePolicy>;

const POLICIES: ReadonlyMap<string, MergePolicy> = new Map<string, MergePolicy>([
  ...Object.entries(DOCUMENT_KINDS),
  ...Object.entries(LOG_ONLY_KINDS),
  ...Object.entries(STORE_KINDS),
  ...Object.entries(RECORD_KINDS),
]);

/**
 * The kinds whose versions overwritten by a concurrent edit are kept and shown (core/merge.ts
 * conflictStep, GET /api/v1/conflicts), each with the fields that are bookkeeping of a write and
 * say nothing a person would restore: two sites that saved the same instances lost nothing,
 * whatever their save times and revision counts.
 * Not kept: the PIN guard (a count of wrong PINs, whichever stands is right enough), the
 * dismissals themselves, and the add-only records (never overwritten).
 */
const CONFLICT_RULES: ReadonlyMap<string, ConflictRule> = new Map<string, ConflictRule>([
  ['config', { ignored: ['updatedAt', 'revision'] }],
  ['users', { ignored: [] }],
  // lastUsedAt is written by the use of a token on either site: not an edit
  ['tokens', { ignored: ['lastUsedAt'] }],
  ['vmail_mailboxes', { ignored: ['updatedAt'] }],
  ['vmail_messages', { ignored: [] }],
  ['limits', { ignored: ['updatedAt'] }],
]);

export function conflictRuleOf(kind: string): ConflictRule | undefined {
  return CONFLICT_RULES.get(kind);
}

export function policyOf(kind: string): MergePolicy {
  const policy = POLICIES.get(kind);
  if (!policy) throw new Error(`change log: unknown kind ${JSON.stringify(kind)}`);
  return policy;
}
