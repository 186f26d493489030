import { networkInterfaces } from 'node:os';
import type { ConfigProblem, InterfacesInfo, PartitionResult, RoleInstance, RolesConfig, RolesConfigInput, RoleType, SavedRolesConfig } from '../../shared/api/roles.js';
import { ConflictError, ValidationError } from '../errors.js';
import { domainProblem, normalizeDomain } from './domains.js';
import { activeInstanceOf, PartitionTable } from './partition.js';
import { resolveInstance, type ResolvedInstance } from './roles.js';
import type { RolesConfigStore } from './roles-store.js';
import { validateRolesConfig, type SiteInterfaces, type ValidationContext } from './validate.js';

export interface SiteDirectory {
  selfId: string;
  selfName: string;
  /** other paired sites and their interfaces (none until site sync exists) */
  peers(): ReadonlyMap<string, SiteInterfaces>;
  isUp(siteId: string): boolean;
}

export type AppliedListener = (instances: readonly ResolvedInstance[], config: RolesConfig) => Promise<void> | void;

/** This machine's network interfaces, read when asked: an interface can come and go while running. */
export function localInterfaces(): InterfacesInfo['interfaces'] {
  return Object.entries(networkInterfaces()).map(([name, addrs]) => ({ name, addresses: (addrs ?? []).map((a) => a.address) }));
}

/**
 * The role configuration as the rest of the service sees it: validated on every change, stored
 * with its revision, resolved with defaults, indexed for partitioning, and announced to the
 * listeners (the RoleHost) after each save so instances start and stop without a restart.
 */
export class ConfigService {
  private resolvedInstances: ResolvedInstance[] = [];
  private table = new PartitionTable([]);
  private readonly listeners: AppliedListener[] = [];
  private saving: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: RolesConfigStore,
    private readonly sites: SiteDirectory,
  ) {
    this.index(store.get());
  }

  get(): RolesConfig {
    return this.store.get();
  }

  /** The configuration as the API shows it: secrets in `ext` are write-only (design section 6). */
  getRedacted(): RolesConfig {
    const config = this.store.get();
    return { ...config, instances: config.instances.map((i) => ({ ...i, ...(i.ext !== undefined ? { ext: redactSecrets(i.ext) } : {}) })) };
  }

  resolved(): readonly ResolvedInstance[] {
    return this.resolvedInstances;
  }

  onApplied(listener: AppliedListener): void {
    this.listeners.push(listener);
  }

  /** Announces the current configuration to the listeners (at start-up). */
  async applyCurrent(): Promise<void> {
    for (const l of this.listeners) await l(this.resolvedInstances, this.store.get());
  }

  validate(input: { instances: readonly unknown[]; ifaceAliases?: unknown }): ConfigProblem[] {
    return validateRolesConfig(input, this.context()).problems;
  }

  /** Saves a new configuration if it starts from the current revision and has no error. */
  save(input: RolesConfigInput): Promise<SavedRolesConfig> {
    // One save at a time: the revision check and the write must not interleave with another save.
    const run = this.saving.then(async () => {
      const current = this.store.get();
      if (input.revision !== current.revision) {
        throw new ConflictError(`The configuration was changed by someone else: you edited revision ${input.revision}, the current one is ${current.revision}. Reload it, or send your change again with revision ${current.revision} to overwrite.`, [
          { path: '/revision', message: `is ${input.revision}; the current revision is ${current.revision}` },
        ]);
      }
      // A secret sent back as the redaction mark keeps its stored value.
      const instances = input.instances.map((raw) => keepSecrets(raw, current.instances));
      const result = validateRolesConfig({ ...input, instances }, this.context());
      if (!result.valid) {
        const errors = result.problems.filter((p) => p.severity === 'error');
        throw new ValidationError(`The configuration has ${errors.length} ${errors.length === 1 ? 'error' : 'errors'}; nothing was changed.`, errors.map(({ path, message }) => ({ path, message })));
      }
      const saved = await this.store.replace({ instances: result.valid.instances, ifaceAliases: result.valid.ifaceAliases });
      this.index(saved);
      for (const l of this.listeners) await l(this.resolvedInstances, saved);
      return { ...saved, warnings: result.problems };
    });
    this.saving = run.catch(() => undefined);
    return run;
  }

  partition(roletype: RoleType, domain: string): PartitionResult {
    const result = this.lookup(roletype, domain);
    if (typeof result === 'string') throw new ValidationError(`The domain "${domain}" ${result}.`, [{ path: '/domain', message: result }]);
    return result;
  }

  /**
   * Who serves a domain, or why the domain cannot be served (an invalid name). A null domain asks
   * for the default group (for events of a call whose domain is not known yet).
   */
  lookup(roletype: RoleType, domain: string | null): PartitionResult | string {
    const normalized = domain === null ? null : normalizeDomain(domain);
    const why = normalized === null ? undefined : domainProblem(normalized);
    if (why) return why;
    const match = normalized === null ? this.table.defaultGroup(roletype) : this.table.lookup(roletype, normalized);
    if (!match) return { domain: normalized ?? '', group: null, matched: null, instances: [], active: null };
    return {
      domain: normalized ?? '',
      group: match.group,
      matched: match.matched,
      instances: match.members.map((m) => m.name),
      active: activeInstanceOf(match.members, (s) => this.sites.isUp(s))?.name ?? null,
    };
  }

  interfaces(): InterfacesInfo {
    return { site: this.sites.selfId, interfaces: localInterfaces(), aliases: this.store.get().ifaceAliases?.[this.sites.selfId] ?? {} };
  }

  private context(): ValidationContext {
    const sites = new Map<string, SiteInterfaces>(this.sites.peers());
    sites.set(this.sites.selfId, { name: this.sites.selfName, interfaces: localInterfaces().map((i) => i.name) });
    return { selfSiteId: this.sites.selfId, sites };
  }

  private index(config: RolesConfig): void {
    this.resolvedInstances = config.instances.map((i) => resolveInstance(i, this.sites.selfId));
    this.table = new PartitionTable(this.resolvedInstances);
  }
}

/** Keys under `ext` whose values are secrets: never shown, kept when sent back redacted. */
const SECRET_KEYS = new Set(['pass', 'password', 'secret', 'token', 'apiKey', 'api_key', 'secretAccessKey']);
export const REDACTED = '********';

function redactSecrets(value: unknown): RoleInstance['ext'] {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEYS.has(k) && typeof x === 'string' ? REDACTED : walk(x)]));
  };
  return walk(value) as RoleInstance['ext'];
}

/** Puts the stored secret back where an instance's ext was sent with the redaction mark. */
function keepSecrets(raw: unknown, stored: readonly RoleInstance[]): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const name = (raw as { name?: unknown }).name;
  const before = stored.find((i) => i.name === name)?.ext;
  const merge = (sent: unknown, old: unknown): unknown => {
    if (typeof sent !== 'object' || sent === null || Array.isArray(sent)) return sent;
    const oldObj = typeof old === 'object' && old !== null && !Array.isArray(old) ? (old as Record<string, unknown>) : {};
    return Object.fromEntries(
      Object.entries(sent).map(([k, v]) => [k, SECRET_KEYS.has(k) && v === REDACTED ? oldObj[k] : merge(v, oldObj[k])]),
    );
  };
  const ext = (raw as { ext?: unknown }).ext;
  return ext === undefined ? raw : { ...raw, ext: merge(ext, before) };
}
