import type { RoleType } from '../../../shared/api/roles.js';
import type { RoleInstanceState, RoleInstanceStatus } from '../../../shared/api/status.js';
import type { Tone } from '../components/ui.js';

/** Every role type with what it does; a Record so a new role type in shared/ must be described here. */
export const ROLE_INFO: Record<RoleType, { label: string; description: string }> = {
  callstore: { label: 'Callstore', description: 'Call events, active calls, call records and call limits' },
  vmail: { label: 'Vmail', description: 'Mailboxes, voicemail messages, greetings and message-waiting' },
};

export const STATE_INFO: Record<RoleInstanceState, { label: string; tone: Tone }> = {
  running: { label: 'Running', tone: 'success' },
  stopped: { label: 'Stopped', tone: 'danger' },
  disabled: { label: 'Disabled', tone: 'neutral' },
  remote: { label: 'At another site', tone: 'info' },
};

export function roleLabel(roletype: string): string {
  return (ROLE_INFO as Record<string, { label: string } | undefined>)[roletype]?.label ?? roletype;
}

export function domainsText(domains: readonly string[]): string {
  return domains.length === 0 ? 'All domains (default group)' : domains.join(', ');
}

export interface RoleGroup {
  group: number;
  instances: RoleInstanceStatus[];
  /** the domains of the group when all its instances agree (the usual case), else null */
  domains: string[] | null;
}

export interface RoleSection {
  roletype: string;
  groups: RoleGroup[];
}

function sameDomains(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((d, i) => d === [...b].sort()[i]);
}

/** Instances by role type (callstore, vmail, then any other), then group, then order. */
export function groupInstances(instances: readonly RoleInstanceStatus[]): RoleSection[] {
  const known = Object.keys(ROLE_INFO);
  const types = [...new Set(instances.map((i) => i.roletype as string))].sort((a, b) => {
    const ia = known.indexOf(a);
    const ib = known.indexOf(b);
    return (ia < 0 ? known.length : ia) - (ib < 0 ? known.length : ib) || a.localeCompare(b);
  });
  return types.map((roletype) => {
    const ofType = instances.filter((i) => i.roletype === roletype);
    const groupNumbers = [...new Set(ofType.map((i) => i.group))].sort((a, b) => a - b);
    return {
      roletype,
      groups: groupNumbers.map((group) => {
        const members = ofType.filter((i) => i.group === group).sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
        const first = members[0]?.includeDomains ?? [];
        const uniform = members.every((m) => sameDomains(m.includeDomains, first));
        return { group, instances: members, domains: uniform ? [...first] : null };
      }),
    };
  });
}
