import { Type, type Static } from '@sinclair/typebox';
import { DISPOSITIONS, type Disposition } from './cdr.js';
import { DIRECTIONS, type Direction } from './events.js';

/** Documented limits of the CDR query (`GET /api/v1/cdrs`) and export (`GET /api/v1/cdrs/export`). */
export const CDR_QUERY_LIMITS = {
  defaultLimit: 50,
  maxLimit: 1000,
  /** deep offsets cost index scans proportional to the offset; beyond this, narrow the filter */
  maxOffset: 1_000_000,
  domainLength: 253,
  numberLength: 64,
  searchLength: 100,
  /** shorter search terms are a scan (of the rows the other filters leave), not an index lookup */
  searchIndexedMinChars: 3,
} as const;

export const CDR_SORTS = [
  'startedAt',
  '-startedAt',
  'duration',
  '-duration',
  'billsec',
  '-billsec',
  'from',
  '-from',
  'to',
  '-to',
  'domain',
  '-domain',
] as const;
export type CdrSort = (typeof CDR_SORTS)[number];

/** Exports stream in time order only. */
export const CDR_EXPORT_SORTS = ['startedAt', '-startedAt'] as const;
export type CdrExportSort = (typeof CDR_EXPORT_SORTS)[number];

export const CDR_EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type CdrExportFormat = (typeof CDR_EXPORT_FORMATS)[number];

export const NUMBER_MATCHES = ['prefix', 'contains'] as const;
export type NumberMatch = (typeof NUMBER_MATCHES)[number];

const list = (values: readonly string[]) => `^(${values.join('|')})(,(${values.join('|')}))*$`;

/** The filter fields, as they arrive in a URL query string (all optional, all text). */
const filterFields = {
  from: Type.Optional(
    Type.String({ format: 'date-time', maxLength: 40, description: 'startedAt ≥ this instant (RFC 3339 date-time with a zone)' }),
  ),
  until: Type.Optional(
    Type.String({ format: 'date-time', maxLength: 40, description: 'startedAt < this instant (exclusive; RFC 3339 date-time with a zone)' }),
  ),
  domain: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: CDR_QUERY_LIMITS.domainLength,
      description: 'exact domain, case-insensitive, a trailing dot ignored; subdomains do NOT match',
    }),
  ),
  number: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: CDR_QUERY_LIMITS.numberLength,
      description:
        'matches the number (user part of the SIP URI, case-insensitive) of from, to or answeredBy; a URI given here is reduced to its user part too',
    }),
  ),
  numberMatch: Type.Optional(
    Type.Union(
      NUMBER_MATCHES.map((m) => Type.Literal(m)),
      { description: 'prefix (default; an index lookup) or contains (a substring)' },
    ),
  ),
  disposition: Type.Optional(
    Type.String({ pattern: list(DISPOSITIONS), maxLength: 200, description: `one or several, comma-separated: ${DISPOSITIONS.join(', ')}` }),
  ),
  direction: Type.Optional(
    Type.String({
      pattern: list(DIRECTIONS),
      maxLength: 100,
      description: `one or several, comma-separated: ${DIRECTIONS.join(', ')} (records without a direction match none)`,
    }),
  ),
  search: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: CDR_QUERY_LIMITS.searchLength,
      pattern: '^[^\\u0000-\\u001f\\u007f]*$',
      description: `case-insensitive substring of id, from, to, answeredBy or domain; terms of ${CDR_QUERY_LIMITS.searchIndexedMinChars}+ characters use a trigram index`,
    }),
  ),
};

/** `GET /api/v1/cdrs` query string (design section 8). Numbers arrive as text: validate with coercion. */
export const CdrQuery = Type.Object(
  {
    ...filterFields,
    sort: Type.Optional(
      Type.Union(
        CDR_SORTS.map((s) => Type.Literal(s)),
        { description: 'a field, `-` for descending; ties are broken by id in the same direction. Default -startedAt. from/to sort by the number (user part)' },
      ),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: CDR_QUERY_LIMITS.maxLimit, description: `page size, default ${CDR_QUERY_LIMITS.defaultLimit}` }),
    ),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: CDR_QUERY_LIMITS.maxOffset, description: 'rows to skip, default 0' })),
  },
  { additionalProperties: false },
);
export type CdrQuery = Static<typeof CdrQuery>;

/** The filter part alone (what an export takes besides its format). */
export const CdrFilterQuery = Type.Object(filterFields, { additionalProperties: false });
export type CdrFilterQuery = Static<typeof CdrFilterQuery>;

/** `GET /api/v1/cdrs/export` query string. */
export const CdrExportQuery = Type.Object(
  {
    ...filterFields,
    format: Type.Optional(Type.Union(CDR_EXPORT_FORMATS.map((f) => Type.Literal(f)), { description: 'default ndjson' })),
    tz: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone for the CSV times, e.g. Europe/Berlin; default UTC' }),
    ),
    sort: Type.Optional(Type.Union(CDR_EXPORT_SORTS.map((s) => Type.Literal(s)), { description: 'default startedAt (oldest first)' })),
  },
  { additionalProperties: false },
);
export type CdrExportQuery = Static<typeof CdrExportQuery>;

/** The parsed, typed filter: what the store runs. Times are epoch milliseconds. */
export interface CdrFilter {
  /** startedAt ≥ fromMs */
  fromMs?: number;
  /** startedAt < untilMs */
  untilMs?: number;
  /** normalized: lower case, no trailing dot */
  domain?: string;
  /** normalized number (user part, lower case) */
  number?: { value: string; match: NumberMatch };
  /** deduplicated; absent = any */
  dispositions?: Disposition[];
  /** deduplicated; absent = any */
  directions?: Direction[];
  /** lower case */
  search?: string;
}

/** A parsed page request. */
export interface CdrPageRequest {
  filter: CdrFilter;
  sort: CdrSort;
  limit: number;
  offset: number;
}
