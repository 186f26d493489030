/**
 * The configuration page's draft: the role instances being edited, each with a stable key, and the
 * mapping of the service's validation problems (JSON paths into the array that was sent) back to
 * those keys and fields. Pure functions: no DOM, no React.
 */
import type { ConfigProblem, RoleInstance, RoleType } from '../../../shared/api/roles.js';

export type CdrMode = NonNullable<RoleInstance['cdr_mode']>;
export type StateSave = NonNullable<RoleInstance['state_save']>;

/** Every cdr_mode with a short label and what it means; a Record so a mode added in shared/ must be described here. */
export const CDR_MODE_INFO: Record<CdrMode, { label: string; description: string }> = {
  all: { label: 'all: every call', description: 'A call record for every call (the default).' },
  flagged: { label: 'flagged: marked calls only', description: 'A call record only for calls whose events carry cdr: true.' },
  off: { label: 'off: none', description: 'No call records from this instance.' },
};
export const STATE_SAVE_INFO: Record<StateSave, { label: string; description: string }> = {
  none: { label: 'none: not saved', description: 'Active calls are lost if every instance of the group restarts at once.' },
  async: { label: 'async: in the background', description: 'Active-call state is written in the background (the default).' },
  transactional: {
    label: 'transactional: before each acknowledgement',
    description: 'Each event is acknowledged only once it is on disk (fsync): the safest, and the slowest.',
  },
};
export const CDR_MODES = Object.keys(CDR_MODE_INFO) as CdrMode[];
export const STATE_SAVES = Object.keys(STATE_SAVE_INFO) as StateSave[];

/** The fields of an instance a problem can point at; `instance` is the instance as a whole (or an unknown field). */
export type InstanceField =
  | 'name'
  | 'roletype'
  | 'iface'
  | 'ext'
  | 'enabled'
  | 'group'
  | 'order'
  | 'include_domains'
  | 'site'
  | 'cdr_mode'
  | 'cdr_aggregation'
  | 'state_save'
  | 'instance';

export const FIELD_LABELS: Record<InstanceField, string> = {
  name: 'Name',
  roletype: 'Role type',
  iface: 'Interface',
  ext: 'Extra options',
  enabled: 'Enabled',
  group: 'Group',
  order: 'Order',
  include_domains: 'Domains',
  site: 'Site',
  cdr_mode: 'Call records',
  cdr_aggregation: 'CDR aggregation',
  state_save: 'State saving',
  instance: 'Instance',
};

const FIELDS = new Set<string>(Object.keys(FIELD_LABELS));

/** One instance of the draft. `origName` is its name in the saved configuration (null: added in this draft). */
export interface DraftInstance {
  key: string;
  origName: string | null;
  value: RoleInstance;
}

let keySeq = 0;
export function newKey(): string {
  keySeq += 1;
  return `inst-${keySeq}`;
}

export function draftFrom(instances: readonly RoleInstance[]): DraftInstance[] {
  return instances.map((value) => ({ key: newKey(), origName: value.name, value }));
}

/** A value with its object keys sorted, so two equal configurations give the same JSON text. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = canonical((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** The instance with every default filled in (design section 3), for comparing a draft with what is saved. */
export function withDefaults(i: RoleInstance, selfSite: string): RoleInstance {
  const base: RoleInstance = {
    ...i,
    enabled: i.enabled ?? true,
    include_domains: i.include_domains ?? [],
    site: i.site ?? selfSite,
    ext: i.ext ?? {},
  };
  if (i.roletype === 'callstore') {
    base.cdr_mode = i.cdr_mode ?? 'all';
    base.cdr_aggregation = i.cdr_aggregation ?? true;
    base.state_save = i.state_save ?? 'async';
  }
  return base;
}

export function sameInstance(a: RoleInstance, b: RoleInstance, selfSite: string): boolean {
  return JSON.stringify(canonical(withDefaults(a, selfSite))) === JSON.stringify(canonical(withDefaults(b, selfSite)));
}

/** The text the service is sent for a list of instances; also the cache key of validation results. */
export function bodyKey(instances: readonly unknown[]): string {
  return JSON.stringify(instances);
}

export type DraftChange = 'new' | 'changed' | null;

export interface DraftSummary {
  added: number;
  changed: number;
  removed: string[];
  /** the list itself moved (e.g. a removal and an undo) without any instance changing */
  reordered: boolean;
  dirty: boolean;
  changeOf: Map<string, DraftChange>;
}

export function summarizeDraft(draft: readonly DraftInstance[], saved: readonly RoleInstance[], selfSite: string): DraftSummary {
  const savedByName = new Map(saved.map((s) => [s.name, s]));
  const kept = new Set<string>();
  const changeOf = new Map<string, DraftChange>();
  let added = 0;
  let changed = 0;
  for (const d of draft) {
    const orig = d.origName === null ? undefined : savedByName.get(d.origName);
    if (!orig) {
      added += 1;
      changeOf.set(d.key, 'new');
      continue;
    }
    kept.add(orig.name);
    if (sameInstance(orig, d.value, selfSite)) changeOf.set(d.key, null);
    else {
      changed += 1;
      changeOf.set(d.key, 'changed');
    }
  }
  const removed = saved.filter((s) => !kept.has(s.name)).map((s) => s.name);
  const reordered = added === 0 && removed.length === 0 && draft.some((d, i) => d.origName !== saved[i]?.name);
  return { added, changed, removed, reordered, dirty: added + changed + removed.length > 0 || reordered, changeOf };
}

/** What another save changed, by instance name: for the conflict dialog. */
export function diffConfigs(base: readonly RoleInstance[], theirs: readonly RoleInstance[], selfSite: string) {
  const baseByName = new Map(base.map((i) => [i.name, i]));
  const theirNames = new Set(theirs.map((i) => i.name));
  const added: string[] = [];
  const changed: string[] = [];
  for (const t of theirs) {
    const b = baseByName.get(t.name);
    if (!b) added.push(t.name);
    else if (!sameInstance(b, t, selfSite)) changed.push(t.name);
  }
  const removed = base.filter((b) => !theirNames.has(b.name)).map((b) => b.name);
  return { added, changed, removed };
}

// ---------- Problems ----------

export interface FieldProblem {
  severity: ConfigProblem['severity'];
  field: InstanceField;
  /** the part below the field: the include_domains index, or the ext key path */
  sub: string | null;
  message: string;
  path: string;
}

export interface MappedProblems {
  /** problems of an instance, by draft key */
  byKey: Map<string, FieldProblem[]>;
  /** problems not about one instance (e.g. "/instances": no default group), for the summary */
  general: ConfigProblem[];
  errors: number;
  warnings: number;
}

/** A validation result together with the draft keys and names it was computed for (index i ↔ keys[i]). */
export interface ProblemSnapshot {
  problems: ConfigProblem[];
  keys: readonly string[];
  names: readonly string[];
}

const INSTANCE_PATH = /^\/instances\/(\d+)(?:\/([^/]+)(?:\/(.*))?)?$/;

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * The service's messages are written for the API (Ajv wording, other instances as JSON paths);
 * say the same in the console's words: instance names instead of `/instances/3`.
 */
export function humanizeMessage(field: InstanceField, message: string, names: readonly string[]): string {
  let m = message;
  if (field === 'name' && /^must match pattern/.test(m)) m = 'must start with a letter and have only Latin letters and digits';
  if (field === 'include_domains') {
    m = m.replace(/^is empty, so /, 'no valid domain listed, so ').replace(/^differs from the include_domains of /, 'differ from the domains of ');
  }
  m = m
    .replace(/^must NOT have fewer than 1 characters$/, 'must not be empty')
    .replace(/^must NOT have more than (\d+) characters$/, 'must be at most $1 characters long')
    .replace(/^must be >= (-?\d+)$/, 'must be at least $1')
    .replace(/^must be <= (-?\d+)$/, 'must be at most $1')
    .replace(/^must be integer$/, 'must be a whole number')
    .replace(/^must be boolean$/, 'must be true or false');
  return m.replace(/\/instances\/(\d+)/g, (whole, i: string) => {
    const name = names[Number(i)];
    return name ? `“${name}”` : whole;
  });
}

export function mapProblems(snapshot: ProblemSnapshot | null): MappedProblems {
  const byKey = new Map<string, FieldProblem[]>();
  const general: ConfigProblem[] = [];
  let errors = 0;
  let warnings = 0;
  for (const p of snapshot?.problems ?? []) {
    if (p.severity === 'error') errors += 1;
    else warnings += 1;
    const m = INSTANCE_PATH.exec(p.path);
    const key = m ? snapshot?.keys[Number(m[1])] : undefined;
    if (!m || key === undefined) {
      general.push(p);
      continue;
    }
    const rawField = m[2] === undefined ? undefined : unescapePointer(m[2]);
    const known = rawField !== undefined && FIELDS.has(rawField) && rawField !== 'instance';
    const field: InstanceField = known ? (rawField as InstanceField) : 'instance';
    // An unknown field ("is not a known field") names itself; keep its name in the message.
    const message =
      rawField !== undefined && !known ? `“${rawField}” ${p.message}` : humanizeMessage(field, p.message, snapshot?.names ?? []);
    const list = byKey.get(key) ?? [];
    list.push({ severity: p.severity, field, sub: m[3] === undefined ? null : m[3].split('/').map(unescapePointer).join('.'), message, path: p.path });
    byKey.set(key, list);
  }
  return { byKey, general, errors, warnings };
}

/** "Domains", "Extra options › resync_timeout": the label a problem is shown with. */
export function problemLabel(p: FieldProblem): string {
  if (p.field === 'ext' && p.sub) return `${FIELD_LABELS.ext} › ${p.sub}`;
  return FIELD_LABELS[p.field];
}

// ---------- Groups ----------

export interface DraftGroup {
  roletype: string;
  group: number;
  /** sorted by order, then name */
  members: DraftInstance[];
  /** the group's domains when its members agree, else null */
  domains: string[] | null;
  /** enabled members' names in Active-Passive order */
  order: string[];
}

export interface DraftSection {
  roletype: string;
  groups: DraftGroup[];
}

const ROLE_ORDER: readonly RoleType[] = ['callstore', 'vmail'];

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].map((d) => d.toLowerCase()).sort();
  const y = [...b].map((d) => d.toLowerCase()).sort();
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

export function groupDraft(draft: readonly DraftInstance[]): DraftSection[] {
  const types = [...new Set(draft.map((d) => d.value.roletype as string))].sort((a, b) => {
    const ia = ROLE_ORDER.indexOf(a as RoleType);
    const ib = ROLE_ORDER.indexOf(b as RoleType);
    return (ia < 0 ? ROLE_ORDER.length : ia) - (ib < 0 ? ROLE_ORDER.length : ib) || a.localeCompare(b);
  });
  return types.map((roletype) => {
    const ofType = draft.filter((d) => d.value.roletype === roletype);
    const numbers = [...new Set(ofType.map((d) => d.value.group))].sort((a, b) => a - b);
    return {
      roletype,
      groups: numbers.map((group) => {
        const members = ofType
          .filter((d) => d.value.group === group)
          .sort((a, b) => a.value.order - b.value.order || a.value.name.localeCompare(b.value.name));
        const first = members.find((m) => m.value.enabled !== false) ?? members[0];
        const domains = first?.value.include_domains ?? [];
        const uniform = members.every((m) => m.value.enabled === false || sameList(m.value.include_domains ?? [], domains));
        return {
          roletype,
          group,
          members,
          domains: uniform ? [...domains] : null,
          order: members.filter((m) => m.value.enabled !== false).map((m) => m.value.name),
        };
      }),
    };
  });
}

/** The domains a group number serves in the draft (of its first enabled member), or undefined when no such group. */
export function groupDomains(draft: readonly DraftInstance[], group: number, exceptKey?: string): { roletype: RoleType; domains: string[] } | undefined {
  const members = draft.filter((d) => d.value.group === group && d.key !== exceptKey);
  const first = members.find((m) => m.value.enabled !== false) ?? members[0];
  return first ? { roletype: first.value.roletype, domains: [...(first.value.include_domains ?? [])] } : undefined;
}

/** The next free "<roletype>N" name. */
export function suggestName(draft: readonly DraftInstance[], roletype: string): string {
  const taken = new Set(draft.map((d) => d.value.name.toLowerCase()));
  for (let n = 1; ; n += 1) {
    if (!taken.has(`${roletype}${n}`.toLowerCase())) return `${roletype}${n}`;
  }
}

export function nextOrder(draft: readonly DraftInstance[], group: number, exceptKey?: string): number {
  const orders = draft.filter((d) => d.value.group === group && d.key !== exceptKey).map((d) => d.value.order);
  return orders.length === 0 ? 1 : Math.max(...orders) + 1;
}

export function nextGroup(draft: readonly DraftInstance[]): number {
  return draft.length === 0 ? 1 : Math.max(...draft.map((d) => d.value.group)) + 1;
}

/**
 * The draft with one instance put in (replaced by key, or added at the end) and the domains it
 * carries copied to the other members of its group: a group's members always serve the same domains.
 */
export function applyInstance(draft: readonly DraftInstance[], edited: DraftInstance): DraftInstance[] {
  const domains = edited.value.include_domains ?? [];
  const exists = draft.some((d) => d.key === edited.key);
  const next = exists ? draft.map((d) => (d.key === edited.key ? edited : d)) : [...draft, edited];
  return next.map((d) =>
    d.key !== edited.key && d.value.group === edited.value.group && d.value.roletype === edited.value.roletype && !sameList(d.value.include_domains ?? [], domains)
      ? { ...d, value: { ...d.value, include_domains: [...domains] } }
      : d,
  );
}
