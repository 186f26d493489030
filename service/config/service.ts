import { networkInterfaces } from 'node:os';
import type { ConfigProblem, InterfacesInfo, PartitionResult, RoleInstance, RolesConfig, RolesConfigInput, RoleType, SavedRolesConfig } from '../../shared/api/roles.js';
import { ConflictError, ValidationError } from '../errors.js';
import { REDACTED, redactSecrets, restoreSecrets } from '../secrets.js';
import { domainProblem, normalizeDomain } from './domains.js';
import { activeInstanceOf, PartitionTable } from './partition.js';
import { resolveInstance, type ResolvedInstance } from './roles.js';
import type { RolesConfigStore } from './roles-store.js';
import { validateRolesConfig, type SiteInterfaces, type ValidationContext } from './validate.js';

export interface SiteDirectory {
  selfId: string;
  selfName: string;
  /** the other paired sites and their interfaces (each site tells its own on the link) */
  peers(): ReadonlyMap<string, SiteInterfaces>;
  /** this site always; a paired site while the link to it is up */
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
    // Another site's edit (replicated) is applied like a save here: indexed, then announced.
    store.onReplicated(() => {
      const run = this.saving.then(async () => {
        const current = this.store.get();
        this.index(current);
        for (const l of this.listeners) await l(this.resolvedInstances, current);
      });
      this.saving = run.catch(() => undefined);
    });
  }

  get(): RolesConfig {
    return this.store.get();
  }

  /** The configuration as the API shows it: secrets are write-only (design section 6, service/secrets.ts). */
  getRedacted(): RolesConfig {
    return redactSecrets(this.store.get());
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
      const kept = input.instances.map((raw, i) => keepSecrets(raw, i, current.instances));
      const instances = kept.map((k) => k.instance);
      const result = validateRolesConfig({ ...input, instances }, this.context());
      result.problems.push(...kept.flatMap((k) => k.unresolved));
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

  /**
   * Stores the configuration a joining site adopts (the installation's, with this site's instances
   * added: sync/join-config.ts) as a revision after both the installation's and this site's. It
   * is not refused for problems: it is what the installation runs; its problems show at the next edit.
   */
  adopt(config: Omit<RolesConfig, 'revision'>, minRevision: number): Promise<RolesConfig> {
    const run = this.saving.then(async () => {
      const saved = await this.store.replace(config, { minRevision });
      this.index(saved);
      for (const l of this.listeners) await l(this.resolvedInstances, saved);
      return saved;
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

/**
 * Puts the stored secrets back into an instance's ext where it was sent as it was shown (the
 * redaction mark), matching the stored instance by name. A mark that matches no stored secret
 * (an export imported elsewhere, a value edited around the mark) is saved as sent and reported.
 */
function keepSecrets(raw: unknown, index: number, stored: readonly RoleInstance[]): { instance: unknown; unresolved: ConfigProblem[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { instance: raw, unresolved: [] };
  const ext = (raw as { ext?: unknown }).ext;
  if (ext === undefined) return { instance: raw, unresolved: [] };
  const name = (raw as { name?: unknown }).name;
  const before = stored.find((i) => i.name === name)?.ext;
  // ext was shown as part of the whole configuration: root → instances → [i] → ext
  const { value, unresolved } = restoreSecrets(ext, before, 3);
  return {
    instance: { ...raw, ext: value },
    unresolved: unresolved.map((path) => ({
      severity: 'warning',
      path: `/instances/${index}/ext${path}`,
      message: `holds the redaction mark ${REDACTED} but no stored secret of instance ${String(name)} was shown there; it was saved as sent: enter the secret itself`,
    })),
  };
}
