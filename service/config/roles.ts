import { networkInterfaces } from 'node:os';
import type { RoleInstance, RolesConfig, RoleType } from '../../shared/api/roles.js';

/** A role instance with every default applied: what the rest of the service works with. */
export interface ResolvedInstance {
  name: string;
  roletype: RoleType;
  iface: string;
  ext: Record<string, unknown> | unknown[];
  enabled: boolean;
  group: number;
  order: number;
  includeDomains: string[];
  site: string;
  /** callstore only; undefined on vmail instances */
  callstore?: {
    cdrMode: 'all' | 'flagged' | 'off';
    cdrAggregation: boolean;
    stateSave: 'none' | 'async' | 'transactional';
  };
}

export function resolveInstance(instance: RoleInstance, selfSiteId: string): ResolvedInstance {
  const resolved: ResolvedInstance = {
    name: instance.name,
    roletype: instance.roletype,
    iface: instance.iface,
    ext: instance.ext ?? {},
    enabled: instance.enabled ?? true,
    group: instance.group,
    order: instance.order,
    includeDomains: instance.include_domains ?? [],
    site: instance.site ?? selfSiteId,
  };
  if (instance.roletype === 'callstore') {
    resolved.callstore = {
      cdrMode: instance.cdr_mode ?? 'all',
      cdrAggregation: instance.cdr_aggregation ?? true,
      stateSave: instance.state_save ?? 'async',
    };
  }
  return resolved;
}

/** The loopback interface's name on this platform (`lo`, `lo0`, ...): always present, so a safe default. */
export function loopbackInterface(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.internal)) return name;
  }
  return 'lo';
}

/**
 * The embedded default configuration of a fresh appliance: one callstore and one vmail instance,
 * each alone in a default group (empty include_domains) serving the whole domain tree.
 */
export function defaultRolesConfig(siteId: string, iface: string = loopbackInterface()): RolesConfig {
  return {
    revision: 1,
    instances: [
      {
        name: 'callstore1',
        roletype: 'callstore',
        iface,
        enabled: true,
        group: 1,
        order: 1,
        include_domains: [],
        site: siteId,
        ext: {},
        cdr_mode: 'all',
        cdr_aggregation: true,
        state_save: 'async',
      },
      { name: 'vmail1', roletype: 'vmail', iface, enabled: true, group: 2, order: 1, include_domains: [], site: siteId, ext: {} },
    ],
  };
}
