import { IfaceAliases, ROLE_TYPES, RoleInstance, type ConfigProblem, type RoleType } from '../../shared/api/roles.js';
import type { TSchema } from '@sinclair/typebox';
import { validator } from '../validation.js';
import { domainProblem, normalizeDomain } from './domains.js';

/** What the validator knows of a site: its network interfaces and the aliases it defines. */
export interface SiteInterfaces {
  name: string;
  interfaces: readonly string[];
}

export interface ValidationContext {
  selfSiteId: string;
  /** every paired site (this one included) by id */
  sites: ReadonlyMap<string, SiteInterfaces>;
}

export interface ValidationResult {
  problems: ConfigProblem[];
  /** the instances, typed, when there is no error (warnings allowed) */
  valid?: { instances: RoleInstance[]; ifaceAliases: IfaceAliases };
}

const instanceShape = validator(RoleInstance);
const aliasesShape = validator(IfaceAliases);

/** Tunables of a callstore instance that live in `ext` (design section 3) and the values they take. */
const CALLSTORE_EXT: Record<string, (v: unknown) => string | undefined> = {
  resync_timeout: positiveSeconds,
  call_timeout: positiveSeconds,
  sync_timeout: positiveSeconds,
  remote_profile_ttl: positiveSeconds,
  reservation_ttl: positiveSeconds,
  raw_event_retention_days: (v) =>
    !Number.isInteger(v) || (v as number) < 1 ? 'must be a whole number of days, at least 1' : (v as number) > MAX_RETENTION_DAYS ? `must be at most ${MAX_RETENTION_DAYS} days` : undefined,
  resync_unknown: (v) => (v === 'reconstruct' || v === 'refuse' ? undefined : 'must be "reconstruct" or "refuse"'),
  reject_until_synced: (v) => (typeof v === 'boolean' ? undefined : 'must be true or false'),
};

/** The longest delay a Node timer holds (2^31−1 ms); a longer one fires at once instead. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/** Ten years: past this the purge's cut-off is no longer a date. */
const MAX_RETENTION_DAYS = 3660;

function positiveSeconds(v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return 'must be a number of seconds greater than 0';
  return v > MAX_TIMER_SECONDS ? `must be at most ${MAX_TIMER_SECONDS} seconds (24 days)` : undefined;
}

const CALLSTORE_ONLY = ['cdr_mode', 'cdr_aggregation', 'state_save'] as const;

interface GroupInfo {
  roletype: RoleType;
  domains: string[]; // normalized, sorted
  first: number; // index of the instance that defined the group
  orders: Map<number, number>; // order → index
}

/**
 * Checks a role configuration against every rule of design section 3 and returns all problems at
 * once, each with its JSON path. Pure: the caller supplies the sites and their interfaces.
 * Disabled instances are checked for shape only (they must still be storable) and are otherwise
 * neither validated nor counted.
 */
export function validateRolesConfig(input: { instances: readonly unknown[]; ifaceAliases?: unknown }, ctx: ValidationContext): ValidationResult {
  const problems: ConfigProblem[] = [];
  const error = (path: string, message: string) => problems.push({ severity: 'error', path, message });
  const warning = (path: string, message: string) => problems.push({ severity: 'warning', path, message });

  // Interface aliases: per site, alias → a real interface of that site.
  let aliases: IfaceAliases = {};
  if (input.ifaceAliases !== undefined) {
    const shape = aliasesShape.check(input.ifaceAliases, '/ifaceAliases');
    for (const d of shape) error(d.path, d.message);
    if (shape.length === 0) aliases = input.ifaceAliases as IfaceAliases;
  }
  for (const [siteId, map] of Object.entries(aliases)) {
    const site = ctx.sites.get(siteId);
    if (!site) {
      error(`/ifaceAliases/${siteId}`, `is not a paired site`);
      continue;
    }
    for (const [alias, iface] of Object.entries(map)) {
      if (!site.interfaces.includes(iface)) error(`/ifaceAliases/${siteId}/${alias}`, `names ${iface}, which is not an interface of site ${site.name} (${site.interfaces.join(', ')})`);
    }
  }

  const instances: (RoleInstance | undefined)[] = input.instances.map((raw, i) => {
    const shape = instanceShape.check(raw, `/instances/${i}`);
    for (const d of shape) error(d.path, d.message);
    return shape.length === 0 ? (raw as RoleInstance) : undefined;
  });

  const names = new Map<string, number>();
  instances.forEach((inst, i) => {
    if (!inst) return;
    const key = inst.name.toLowerCase();
    const other = names.get(key);
    if (other !== undefined) error(`/instances/${i}/name`, `"${inst.name}" is already the name of /instances/${other}; names are unique (ignoring case)`);
    else names.set(key, i);
    if (inst.roletype !== 'callstore') {
      for (const param of CALLSTORE_ONLY) {
        if (inst[param] !== undefined) error(`/instances/${i}/${param}`, `applies only to callstore instances, not to ${inst.roletype}`);
      }
    }
  });

  /**
   * The checks an instance passes or fails on its own (its site and interface, its ext tunables,
   * its domain names); returns its domains, normalized. Run on every enabled instance, and on
   * the valid fields of one whose shape is wrong, so that every problem shows at once.
   */
  const ownChecks = (inst: Partial<RoleInstance>, at: string): string[] => {
    const siteId = inst.site ?? ctx.selfSiteId;
    const site = ctx.sites.get(siteId);
    if (!site) error(`${at}/site`, `"${siteId}" is not a paired site`);
    else if (inst.iface !== undefined && !site.interfaces.includes(inst.iface) && aliases[siteId]?.[inst.iface] === undefined) {
      const known = [...site.interfaces, ...Object.keys(aliases[siteId] ?? {})].join(', ');
      error(`${at}/iface`, `"${inst.iface}" is neither an interface of site ${site.name} nor an alias it defines (known: ${known})`);
    }

    if (inst.roletype === 'callstore' && inst.ext && !Array.isArray(inst.ext)) {
      for (const [key, check] of Object.entries(CALLSTORE_EXT)) {
        if (key in inst.ext) {
          const why = check(inst.ext[key]);
          if (why) error(`${at}/ext/${key}`, why);
        }
      }
    }

    const domains: string[] = [];
    (inst.include_domains ?? []).forEach((raw, j) => {
      const d = normalizeDomain(raw);
      const why = domainProblem(d);
      if (why) error(`${at}/include_domains/${j}`, `"${raw}" ${why}`);
      else if (domains.includes(d)) warning(`${at}/include_domains/${j}`, `"${raw}" is listed twice`);
      else domains.push(d);
    });
    return domains.sort();
  };

  input.instances.forEach((raw, i) => {
    if (instances[i] || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return;
    const partial = validFieldsOf(raw as Record<string, unknown>);
    if (partial.enabled !== false) ownChecks(partial, `/instances/${i}`);
  });

  const groups = new Map<number, GroupInfo>();
  const claims = new Map<string, { group: number; path: string }>(); // roletype + domain → first claim
  const defaults = new Map<RoleType, number>(); // roletype → default group
  const enabledRoles = new Map<RoleType, Set<number>>();

  instances.forEach((inst, i) => {
    if (!inst || inst.enabled === false) return;
    const at = `/instances/${i}`;

    const domains = ownChecks(inst, at);

    const group = groups.get(inst.group);
    if (!group) {
      groups.set(inst.group, { roletype: inst.roletype, domains, first: i, orders: new Map([[inst.order, i]]) });
      const seen = enabledRoles.get(inst.roletype) ?? new Set<number>();
      seen.add(inst.group);
      enabledRoles.set(inst.roletype, seen);
      if (domains.length === 0) {
        const other = defaults.get(inst.roletype);
        if (other !== undefined) error(`${at}/include_domains`, `is empty, so group ${inst.group} would be a second default ${inst.roletype} group beside group ${other}; give one of them the domains it serves`);
        else defaults.set(inst.roletype, inst.group);
      }
      for (const d of domains) {
        const key = `${inst.roletype} ${d}`;
        const prior = claims.get(key);
        const j = (inst.include_domains ?? []).findIndex((raw) => normalizeDomain(raw) === d);
        if (prior) error(`${at}/include_domains/${j}`, `"${d}" is already served by ${inst.roletype} group ${prior.group} (${prior.path}); a domain belongs to one group`);
        else claims.set(key, { group: inst.group, path: `${at}/include_domains/${j}` });
      }
      return;
    }
    if (group.roletype !== inst.roletype) {
      error(`${at}/roletype`, `group ${inst.group} is a ${group.roletype} group (/instances/${group.first}); all instances of a group have one roletype`);
      return;
    }
    if (group.domains.join(',') !== domains.join(',')) {
      error(`${at}/include_domains`, `differs from the include_domains of /instances/${group.first} in group ${inst.group}; all instances of a group serve the same domains`);
    }
    const sameOrder = group.orders.get(inst.order);
    if (sameOrder !== undefined) error(`${at}/order`, `${inst.order} is already the order of /instances/${sameOrder} in group ${inst.group}; orders are unique in a group`);
    else group.orders.set(inst.order, i);
  });

  for (const role of ROLE_TYPES) {
    const roleGroups = enabledRoles.get(role);
    if (!roleGroups) {
      warning('/instances', `no enabled ${role} instance: ${role === 'callstore' ? 'no call is recorded' : 'no voicemail is served'}`);
    } else if (!defaults.has(role)) {
      const served = [...claims.keys()].filter((k) => k.startsWith(`${role} `)).map((k) => k.slice(role.length + 1));
      warning('/instances', `no default ${role} group (one with empty include_domains): domains outside ${served.join(', ')} are served by no ${role} instance`);
    }
  }

  const hasError = problems.some((p) => p.severity === 'error');
  return hasError ? { problems } : { problems, valid: { instances: instances as RoleInstance[], ifaceAliases: aliases } };
}

const fieldShapes = new Map(Object.entries(RoleInstance.properties).map(([key, schema]) => [key, validator(schema as TSchema)]));

/** The fields of an instance that are valid on their own (its other fields failed their shape). */
function validFieldsOf(raw: Record<string, unknown>): Partial<RoleInstance> {
  const partial: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const shape = fieldShapes.get(key);
    if (shape && value !== undefined && shape.check(value).length === 0) partial[key] = value;
  }
  return partial as Partial<RoleInstance>;
}
