/**
 * Which instance is active in each group, on which site, and the term (design section 7), as the
 * dashboard shows it. Pure: from the status (`groups` when the service reports the election,
 * else the instances' `active` flags) and the names of the paired sites
 * (test/unit/dashboard-groups.test.ts).
 */
import type { GroupStatus, RoleInstanceStatus, SiteRef } from '../../../../shared/api/status.js';
import type { Tone } from '../../components/ui.js';
import type { RoleGroup } from '../../lib/roles.js';

export interface SiteLabel {
  /** the site's name, or the first group of its id when no name is known */
  name: string;
  self: boolean;
  /** a name was found (this site, or a paired one) */
  known: boolean;
}

/**
 * The site an instance runs on, by name: this site, a paired site (from GET /api/v1/sites), or,
 * when neither (not paired, or the list could not be read), the first group of its id.
 */
export function siteLabel(siteId: string, self: SiteRef, peers: readonly { id: string; name: string }[] | undefined): SiteLabel {
  if (siteId === self.id || siteId === self.name) return { name: self.name, self: true, known: true };
  const peer = peers?.find((p) => p.id === siteId);
  if (peer) return { name: peer.name, self: false, known: true };
  return { name: /^[0-9a-f]{64}$/.test(siteId) ? siteId.slice(0, 8).toUpperCase() : siteId, self: false, known: false };
}

export interface GroupElectionView {
  state: GroupStatus['state'];
  tone: Tone;
  /** "Active", "Takeover under way", "No active instance" */
  label: string;
  /** the active (or elected) instance, null when none */
  instance: string | null;
  site: SiteLabel | null;
  /** null when the service does not report the election (no terms then) */
  term: number | null;
  since: string | null;
  /** one sentence for a screen reader and the title */
  sentence: string;
}

const LABELS: Record<GroupStatus['state'], { label: string; tone: Tone }> = {
  active: { label: 'Active', tone: 'success' },
  takeover: { label: 'Takeover under way', tone: 'warning' },
  none: { label: 'No active instance', tone: 'danger' },
};

function sentenceOf(v: Omit<GroupElectionView, 'sentence'>): string {
  const where = v.site ? ` on ${v.site.name}${v.site.self ? ' (this site)' : ''}` : '';
  const term = v.term === null ? '' : `, term ${v.term}`;
  // (without a reported election the reason is not known: an instance stopped, disabled, or on a site that is down)
  if (v.state === 'none') return v.term === null ? 'No instance of this group is active.' : `No instance of this group can be active: none is enabled on a reachable site${term}.`;
  if (v.state === 'takeover') return v.instance ? `${v.instance}${where} is taking over${term}.` : `A takeover is under way${term}.`;
  return `${v.instance ?? 'An instance'}${where} is active${term}.`;
}

/**
 * The election of a group: the service's `groups` entry for it when the status has one; else
 * (a service that does not report the election) the instance flagged active, without a term.
 */
export function groupElection(
  group: RoleGroup,
  roletype: string,
  groups: readonly GroupStatus[] | undefined,
  self: SiteRef,
  peers: readonly { id: string; name: string }[] | undefined,
): GroupElectionView {
  const reported = groups?.find((g) => g.roletype === roletype && g.group === group.group);
  if (reported) {
    const siteId = reported.activeSite ?? group.instances.find((i) => i.name === reported.active)?.site ?? null;
    const view = {
      state: reported.state,
      ...LABELS[reported.state],
      instance: reported.state === 'none' ? null : reported.active,
      site: reported.state === 'none' || siteId === null ? null : siteLabel(siteId, self, peers),
      term: reported.term,
      since: reported.since,
    };
    return { ...view, sentence: sentenceOf(view) };
  }
  const active: RoleInstanceStatus | undefined = group.instances.find((i) => i.active);
  const state: GroupStatus['state'] = active ? 'active' : 'none';
  const view = { state, ...LABELS[state], instance: active?.name ?? null, site: active ? siteLabel(active.site, self, peers) : null, term: null, since: null };
  return { ...view, sentence: sentenceOf(view) };
}

/** Whether an instance is the one its group's election names (active, or taking over). */
export function isElected(instance: RoleInstanceStatus, election: GroupElectionView): boolean {
  return election.instance === instance.name;
}
