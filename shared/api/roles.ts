import { Type, type Static } from '@sinclair/typebox';

export const ROLE_TYPES = ['callstore', 'vmail'] as const;
export const RoleType = Type.Union(ROLE_TYPES.map((r) => Type.Literal(r)));
export type RoleType = (typeof ROLE_TYPES)[number];

export const CDR_MODES = ['all', 'flagged', 'off'] as const;
export const STATE_SAVE_MODES = ['none', 'async', 'transactional'] as const;
export const GROUP_MAX = 9999999;
/** A configuration revision counts saves: a safe integer. */
export const REVISION_MAX = Number.MAX_SAFE_INTEGER;

/**
 * Bounds of an instance's free-form `ext`, checked at the edge before anything walks it: the
 * value itself is level 1, and its JSON takes at most `bytes`. Real settings nest 3 levels.
 */
export const EXT_LIMITS = { depth: 8, bytes: 64 * 1024 } as const;
/** The schema keywords (service/validation.ts) that enforce EXT_LIMITS without recursing. */
const EXT_BOUNDS = { 'x-maxDepth': EXT_LIMITS.depth, 'x-maxBytes': EXT_LIMITS.bytes };

/**
 * One role instance of the configuration (design section 3, a contract). This is the structural
 * shape only; the rules across instances (unique names, groups, domains, interfaces) are checked by
 * the service's configuration validator, which reports every problem with its JSON path.
 */
export const RoleInstance = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9]*$', maxLength: 64, description: 'Latin letters and digits, starting with a letter; unique' }),
    roletype: RoleType,
    iface: Type.String({ minLength: 1, maxLength: 64, description: 'a network interface of the site, or an alias the site defines' }),
    ext: Type.Optional(
      Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Array(Type.Unknown())], {
        description: `extra options: a JSON object or list, nested at most ${EXT_LIMITS.depth} levels and ${EXT_LIMITS.bytes / 1024} KiB as JSON`,
        ...EXT_BOUNDS,
      }),
    ),
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: neither validated nor started' })),
    group: Type.Integer({ minimum: 1, maximum: GROUP_MAX }),
    order: Type.Integer({ minimum: 0, maximum: GROUP_MAX, description: 'position in the group’s Active-Passive order; unique in the group' }),
    include_domains: Type.Optional(Type.Array(Type.String({ maxLength: 253 }), { description: 'domains whose subtree the group serves; empty: the default group' })),
    site: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'id of the site that runs the instance; default this site' })),
    cdr_mode: Type.Optional(Type.Union(CDR_MODES.map((m) => Type.Literal(m)), { description: 'callstore only; default all' })),
    cdr_aggregation: Type.Optional(Type.Boolean({ description: 'callstore only; default true' })),
    state_save: Type.Optional(Type.Union(STATE_SAVE_MODES.map((m) => Type.Literal(m)), { description: 'callstore only; default async' })),
  },
  { additionalProperties: false },
);
export type RoleInstance = Static<typeof RoleInstance>;

/** Interface aliases per site: site id → alias → interface name. */
export const IfaceAliases = Type.Record(Type.String(), Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_-]*$' }), Type.String()));
export type IfaceAliases = Static<typeof IfaceAliases>;

export const RolesConfig = Type.Object({
  revision: Type.Integer({ minimum: 0, maximum: REVISION_MAX }),
  instances: Type.Array(RoleInstance),
  ifaceAliases: Type.Optional(IfaceAliases),
});
export type RolesConfig = Static<typeof RolesConfig>;

/**
 * An instance as submitted: only the bounds of its `ext` are checked with the body (before the
 * secrets are merged back and the validator walks it); the rest by the validator, instance by instance.
 */
const InstanceInput = Type.Unknown({ properties: { ext: EXT_BOUNDS } });

/**
 * What PUT /config/roles and POST /config/validate accept. Instances are checked one by one by the
 * validator (not by this schema) so that every problem of every instance is reported at once.
 */
export const RolesConfigInput = Type.Object(
  {
    revision: Type.Integer({ minimum: 0, maximum: REVISION_MAX, description: 'the revision this edit started from; a stale one is refused with 409' }),
    instances: Type.Array(InstanceInput, { maxItems: 10_000 }),
    ifaceAliases: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type RolesConfigInput = Static<typeof RolesConfigInput>;

export const ValidateRequest = Type.Object(
  { instances: Type.Array(InstanceInput, { maxItems: 10_000 }), ifaceAliases: Type.Optional(Type.Unknown()) },
  { additionalProperties: false },
);
export type ValidateRequest = Static<typeof ValidateRequest>;

/*
 * The shapes the OpenAPI document shows for PUT /config/roles and POST /config/validate: what
 * RolesConfigInput and ValidateRequest amount to once the configuration validator has checked each
 * instance (the edge takes any items, so that the validator reports every problem at once).
 */
export const RolesConfigInputShape = Type.Object(
  {
    revision: RolesConfigInput.properties.revision,
    instances: Type.Array(RoleInstance, { maxItems: RolesConfigInput.properties.instances.maxItems }),
    ifaceAliases: Type.Optional(IfaceAliases),
  },
  { additionalProperties: false },
);
export const ValidateRequestShape = Type.Object(
  {
    instances: Type.Array(RoleInstance, { maxItems: ValidateRequest.properties.instances.maxItems, description: 'the instances to check; problems are reported, not refused' }),
    ifaceAliases: Type.Optional(IfaceAliases),
  },
  { additionalProperties: false },
);

export const ConfigProblem = Type.Object({
  severity: Type.Union([Type.Literal('error'), Type.Literal('warning')]),
  path: Type.String({ description: 'JSON pointer into the submitted document, e.g. /instances/2/include_domains/0' }),
  message: Type.String(),
});
export type ConfigProblem = Static<typeof ConfigProblem>;

export const ValidateResponse = Type.Object({ problems: Type.Array(ConfigProblem) });
export type ValidateResponse = Static<typeof ValidateResponse>;

export const SavedRolesConfig = Type.Composite([RolesConfig, Type.Object({ warnings: Type.Array(ConfigProblem) })]);
export type SavedRolesConfig = Static<typeof SavedRolesConfig>;

export const PartitionQuery = Type.Object(
  { roletype: RoleType, domain: Type.String({ minLength: 1, maxLength: 253 }) },
  { additionalProperties: false },
);
export type PartitionQuery = Static<typeof PartitionQuery>;

export const PartitionResult = Type.Object({
  domain: Type.String({ description: 'the domain as matched: lower case, no trailing dot' }),
  group: Type.Union([Type.Integer(), Type.Null()], { description: 'null: no group of this roletype serves the domain' }),
  matched: Type.Union([Type.String(), Type.Null()], { description: 'the include_domains entry that matched; null for the default group' }),
  instances: Type.Array(Type.String(), { description: 'the group’s enabled instances in Active-Passive order' }),
  active: Type.Union([Type.String(), Type.Null()]),
});
export type PartitionResult = Static<typeof PartitionResult>;

export const InterfacesInfo = Type.Object({
  site: Type.String(),
  interfaces: Type.Array(Type.Object({ name: Type.String(), addresses: Type.Array(Type.String()) })),
  aliases: Type.Record(Type.String(), Type.String()),
});
export type InterfacesInfo = Static<typeof InterfacesInfo>;
