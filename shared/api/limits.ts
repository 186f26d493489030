import { Type, type Static } from '@sinclair/typebox';

/*
 * Dialog profiles, call limits and admission (design section 4.4, section 8).
 *
 * A profile groups the dialogs that are up: the built-in `total` (no value: every dialog),
 * `domain` (the value is the dialog's domain, lower case without a trailing dot; design's
 * `domain:<d>`) and the `{name, value?}` pairs of the dialog's `invite` event. A limit is a rule
 * `{profile, value?, max}`: at most `max` dialogs under that profile and value, counted across
 * every paired site; without a value it applies to each value of the profile on its own.
 */

export const PROFILE_LIMITS = {
  nameLength: 64,
  valueLength: 256,
  descriptionLength: 500,
  /** the profile pairs one admission request may name, as an invite event may */
  profiles: 32,
  callIdLength: 256,
  domainLength: 253,
  uriLength: 512,
} as const;

const ProfileName = Type.String({ minLength: 1, maxLength: PROFILE_LIMITS.nameLength, pattern: '^[^\\u0000-\\u001f]+$', description: 'the profile: `total`, `domain`, or a name the invite events carry' });
const ProfileValue = Type.String({ maxLength: PROFILE_LIMITS.valueLength });

/** The body of POST /api/v1/limits and PUT /api/v1/limits/{id}. */
export const LimitInput = Type.Object(
  {
    profile: ProfileName,
    value: Type.Optional(
      Type.Union([ProfileValue, Type.Null()], {
        description: 'the value of the profile this rule limits; absent or null: the rule applies to each value of the profile on its own (for `domain`, compared lower case without a trailing dot)',
      }),
    ),
    max: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'the most dialogs up at once under the profile (and value), across every paired site; 0 admits none' }),
    description: Type.Optional(Type.Union([Type.String({ maxLength: PROFILE_LIMITS.descriptionLength }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type LimitInput = Static<typeof LimitInput>;

export const Limit = Type.Object({
  id: Type.String(),
  profile: Type.String(),
  value: Type.Union([Type.String(), Type.Null()], { description: 'null: the rule applies to each value of the profile on its own' }),
  max: Type.Integer({ minimum: 0 }),
  description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Limit = Static<typeof Limit>;

export const LimitList = Type.Object({ items: Type.Array(Limit, { description: 'every rule, by profile then value' }) });
export type LimitList = Static<typeof LimitList>;

export const LimitParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const ProfileRef = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: PROFILE_LIMITS.nameLength }), value: Type.Optional(ProfileValue) },
  { additionalProperties: false },
);

/** The body of POST /api/v1/admission: the call's attributes, as its invite event will carry them. */
export const AdmissionRequest = Type.Object(
  {
    callId: Type.String({ minLength: 1, maxLength: PROFILE_LIMITS.callIdLength, description: 'SIP Call-ID of the dialog: its invite event ends the reservation (the dialog counts instead)' }),
    domain: Type.String({ minLength: 1, maxLength: PROFILE_LIMITS.domainLength, description: 'the call’s domain: counted under `domain`, and it selects the callstore group (and its settings)' }),
    from: Type.Optional(Type.String({ maxLength: PROFILE_LIMITS.uriLength })),
    to: Type.Optional(Type.String({ maxLength: PROFILE_LIMITS.uriLength })),
    profiles: Type.Optional(Type.Array(ProfileRef, { maxItems: PROFILE_LIMITS.profiles, description: 'the `{name, value?}` pairs the invite event will carry' })),
  },
  { additionalProperties: false },
);
export type AdmissionRequest = Static<typeof AdmissionRequest>;

export const CheckedCount = Type.Object({
  name: Type.String(),
  value: Type.Union([Type.String(), Type.Null()]),
  count: Type.Integer({ minimum: 0, description: 'local + remote, before this call (a call admitted before counts in it)' }),
  local: Type.Integer({ minimum: 0, description: 'this site’s dialogs and reservations' }),
  remote: Type.Integer({ minimum: 0, description: 'the sum of the paired sites’ last lists' }),
});
export type CheckedCount = Static<typeof CheckedCount>;

export const DeniedBy = Type.Object({
  id: Type.String(),
  profile: Type.String(),
  value: Type.Union([Type.String(), Type.Null()], { description: 'the value counted: the rule’s own, or, for a rule without one, the call’s value it was applied to' }),
  max: Type.Integer({ minimum: 0 }),
  perValue: Type.Boolean({ description: 'the rule has no value of its own: it applies to each value of the profile on its own' }),
});

export const ADMISSION_REASONS = ['ok', 'limit', 'syncing'] as const;

export const AdmissionResponse = Type.Object({
  allow: Type.Boolean(),
  reason: Type.Union(ADMISSION_REASONS.map((r) => Type.Literal(r)), {
    description: '`ok`: admitted (a reservation holds its place until its invite comes or the TTL passes); `limit`: a limit is full (`limit` names it); `syncing`: the paired sites’ counts are not known yet (reject_until_synced)',
  }),
  limit: Type.Optional(DeniedBy),
  counts: Type.Array(CheckedCount, { description: 'the counts checked: one per pair the call counts under (total, domain, its profiles)' }),
});
export type AdmissionResponse = Static<typeof AdmissionResponse>;

export const RemoteSite = Type.Object({
  site: Type.String({ description: 'the site id' }),
  name: Type.Union([Type.String(), Type.Null()], { description: 'the site’s name, when known' }),
  ageMs: Type.Integer({ minimum: 0, description: 'how long ago its last list arrived' }),
});

export const ProfileRow = Type.Object({
  name: Type.String(),
  value: Type.Union([Type.String(), Type.Null()]),
  count: Type.Integer({ minimum: 0, description: 'local + every remote site' }),
  local: Type.Integer({ minimum: 0, description: 'this site’s dialogs up and its reservations' }),
  reserved: Type.Integer({ minimum: 0, description: 'of `local`, the reservations of admitted calls whose invite has not come' }),
  remote: Type.Array(Type.Composite([RemoteSite, Type.Object({ count: Type.Integer({ minimum: 1 }) })]), { description: 'the sites whose last list counts this pair' }),
});
export type ProfileRow = Static<typeof ProfileRow>;

export const ProfileCounts = Type.Object({
  synced: Type.Boolean({ description: 'whether every reachable paired site has sent its list (or sync_timeout passed)' }),
  sites: Type.Array(RemoteSite, { description: 'the paired sites whose lists are held, even those that count nothing' }),
  items: Type.Array(ProfileRow, { description: 'every pair counted here or at a paired site, by name then value' }),
});
export type ProfileCounts = Static<typeof ProfileCounts>;
