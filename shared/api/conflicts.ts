import { Type, type Static } from '@sinclair/typebox';

/*
 * Conflicts (design section 7, "Partitions"): a version of a document that lost the merge to a
 * version whose writer had not seen it (both sides of a cut edited it). The change log keeps it
 * (GET /api/v1/conflicts) until someone dismisses it; restoring it is saving it again through the
 * normal write path (the console's "use the overwritten one"), then dismissing the conflict.
 */

export const CONFLICT_LIST_LIMITS = {
  defaultLimit: 50,
  maxLimit: 500,
  cursorLength: 200,
} as const;

export const CONFLICT_STATES = ['open', 'dismissed', 'moot'] as const;
export type ConflictState = (typeof CONFLICT_STATES)[number];

const SiteRef = {
  origin: Type.String({ description: 'id of the site that wrote it' }),
  siteName: Type.Union([Type.String(), Type.Null()], { description: 'that site’s name, when this site knows it (itself or a paired site)' }),
};

/** One version of a document, as the conflict shows it. */
export const ConflictVersion = Type.Object({
  hlc: Type.String({ description: 'the version’s stamp (hybrid logical clock, 16 hex digits): with origin, its name on every site' }),
  writtenAt: Type.String({ format: 'date-time', description: 'when it was written, by the clock of the site that wrote it' }),
  ...SiteRef,
  deleted: Type.Boolean({ description: 'the version is a delete' }),
  body: Type.Unknown({ description: 'the whole document, secrets redacted; null for a delete' }),
});
export type ConflictVersion = Static<typeof ConflictVersion>;

export const Conflict = Type.Object({
  id: Type.String({ description: 'the same on every site: it names the overwritten version' }),
  kind: Type.String({ description: 'what the key names: config, users, tokens, vmail_mailboxes, vmail_messages' }),
  key: Type.String({ description: 'the document, e.g. roles (the role configuration) for kind config' }),
  state: Type.Union(CONFLICT_STATES.map((s) => Type.Literal(s)), { description: 'open; dismissed; moot: the document holds what the overwritten version said again' }),
  overwritten: ConflictVersion,
  overwrittenBy: Type.Object(
    { hlc: Type.String(), writtenAt: Type.String({ format: 'date-time' }), ...SiteRef },
    { description: 'the version it lost to when this site found it (with three or more rival edits, sites may name another one)' },
  ),
  current: Type.Union([ConflictVersion, Type.Null()], { description: 'what the document holds now (the same on every site once they have swapped their changes)' }),
  detectedAt: Type.String({ format: 'date-time', description: 'when this site found it' }),
  dismissal: Type.Union([Type.Object({ at: Type.String({ format: 'date-time' }), by: Type.String(), ...SiteRef }), Type.Null()]),
});
export type Conflict = Static<typeof Conflict>;

export const ConflictListQuery = Type.Object(
  {
    kind: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    key: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    state: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('dismissed'), Type.Literal('all')], { description: 'default open' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: CONFLICT_LIST_LIMITS.maxLimit, description: `conflicts per page, default ${CONFLICT_LIST_LIMITS.defaultLimit}` })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: CONFLICT_LIST_LIMITS.cursorLength, pattern: '^[0-9a-f]{16}\\.[0-9a-f]{32}$', description: 'nextCursor of the page before' })),
  },
  { additionalProperties: false },
);
export type ConflictListQuery = Static<typeof ConflictListQuery>;

export const ConflictList = Type.Object({
  items: Type.Array(Conflict, { description: 'newest overwritten version first (by its stamp: the same order on every site)' }),
  total: Type.Integer({ description: 'every conflict the filter matches' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as cursor for the next page; null on the last page' }),
});
export type ConflictList = Static<typeof ConflictList>;

export const ConflictIdParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{32}$', description: 'a conflict’s id' }) }, { additionalProperties: false });
export type ConflictIdParams = Static<typeof ConflictIdParams>;
