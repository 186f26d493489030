/** The instance form's state, pure: what the form holds and how an instance fills it. */
import type { RoleInstance, RoleType } from '../../../../shared/api/roles.js';
import type { CdrMode, StateSave } from '../../lib/configDraft.js';

/** The form's text as typed: numbers and JSON stay text until they parse. */
export interface FormState {
  name: string;
  roletype: RoleType;
  iface: string;
  site: string;
  group: string;
  order: string;
  domains: string;
  enabled: boolean;
  cdrMode: CdrMode;
  cdrAggregation: boolean;
  stateSave: StateSave;
  ext: string;
}

export function formFrom(i: RoleInstance, selfSite: string): FormState {
  return {
    name: i.name,
    roletype: i.roletype,
    iface: i.iface,
    site: i.site ?? selfSite,
    group: String(i.group),
    order: String(i.order),
    domains: (i.include_domains ?? []).join('\n'),
    enabled: i.enabled ?? true,
    cdrMode: i.cdr_mode ?? 'all',
    cdrAggregation: i.cdr_aggregation ?? true,
    stateSave: i.state_save ?? 'async',
    ext: i.ext === undefined ? '' : JSON.stringify(i.ext, null, 2),
  };
}
