/**
 * Versioned documents and their merge: the pure rule by which every site, given the same changes
 * in any order, any grouping and any number of times, ends with the same documents.
 *
 * A document is the last version of a key: `{kind, key, hlc, origin, body}` or, after a delete,
 * the same with `tombstone: true` and no body, so that a delete is a version like any other and
 * an older put that arrives later cannot bring the document back. The merge of two versions of a
 * key picks one of them by a total order, which makes it a semilattice join: commutative,
 * associative and idempotent (test/unit/changelog-merge.test.ts checks the three by property).
 */

export interface VersionedDoc<B = unknown> {
  /** what the key names: a collection ('config', 'tokens') or a record kind ('cdrs') */
  kind: string;
  key: string;
  /** encoded HLC (core/hlc.ts) of the change that wrote this version */
  hlc: string;
  /** the site that wrote it */
  origin: string;
  tombstone: boolean;
  /** the whole document; null for a tombstone */
  body: B | null;
  /** the version it was made from (VersionBase); absent where that is not known (records, versions written before bases were kept) */
  base?: VersionBase;
}

/**
 * How the versions of one kind merge:
 * - `last-writer-wins`: the greater (hlc, origin) wins; a tombstone is a version, so it beats older
 *   puts and loses to newer ones (a user deleted and made again comes back).
 * - `delete-wins`: for keys that are never reused (API tokens are random ids): a tombstone beats
 *   every put whatever its stamp. A token revoked on one site while the other wrote its
 *   `lastUsedAt` stays revoked; under last-writer-wins that later put would resurrect it.
 * - `add-only`: records (raw call events, CDRs): every version is an entry of its own and the log
 *   merges no document of them; as versions, the first of an id (the least (hlc, origin)) is
 *   kept. Their stores apply the kind's record rule (kinds.ts RECORD_RULES): raw events keep the
 *   first, CDRs the greatest by their own order (storage/cdr/winner.ts).
 */
export type MergePolicy = 'last-writer-wins' | 'delete-wins' | 'add-only';

export type PolicyOf = (kind: string) => MergePolicy;

export function putVersion<B>(kind: string, key: string, hlc: string, origin: string, body: B): VersionedDoc<B> {
  return { kind, key, hlc, origin, tombstone: false, body };
}

export function tombstoneVersion(kind: string, key: string, hlc: string, origin: string): VersionedDoc<never> {
  return { kind, key, hlc, origin, tombstone: true, body: null };
}

/** JSON with object keys sorted: equal documents give equal text whatever order their keys were set in. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The total order of versions of one key: hlc, then origin; the rest only separates versions that
 * a correct site never makes (one origin never stamps two changes alike), so that even then every
 * site picks the same one: a tombstone above a put, then the canonical text of the body.
 */
export function compareVersions(a: VersionedDoc, b: VersionedDoc): number {
  return (
    cmp(a.hlc, b.hlc) ||
    cmp(a.origin, b.origin) ||
    Number(a.tombstone) - Number(b.tombstone) ||
    (a.tombstone ? 0 : cmp(canonicalJson(a.body), canonicalJson(b.body)))
  );
}

/** The join of two versions of the same key: the one that stays. Returns `a` when they are equal. */
export function mergeVersions<B>(a: VersionedDoc<B>, b: VersionedDoc<B>, policy: MergePolicy): VersionedDoc<B> {
  if (a.kind !== b.kind || a.key !== b.key) throw new Error(`cannot merge versions of different documents (${a.kind}/${a.key}, ${b.kind}/${b.key})`);
  switch (policy) {
    case 'add-only':
      return compareVersions(b, a) < 0 ? b : a;
    case 'delete-wins':
      if (a.tombstone !== b.tombstone) return a.tombstone ? a : b;
      return compareVersions(b, a) > 0 ? b : a;
    case 'last-writer-wins':
      return compareVersions(b, a) > 0 ? b : a;
  }
}

/** The documents a site holds, by kind and key (tombstones included: they are versions). */
export type DocState = Map<string, VersionedDoc>;

export function stateKey(kind: string, key: string): string {
  return `${kind}\u0000${key}`;
}

/**
 * Applies one version to the state, in place: the incremental path a store takes for each entry
 * it reads from the log. Returns the version now held when it changed, undefined when the state
 * already held it or something that beats it.
 */
export function applyVersion(state: DocState, incoming: VersionedDoc, policyOf: PolicyOf): VersionedDoc | undefined {
  const id = stateKey(incoming.kind, incoming.key);
  const current = state.get(id);
  if (current === undefined) {
    state.set(id, incoming);
    return incoming;
  }
  const kept = mergeVersions(current, incoming, policyOf(incoming.kind));
  if (kept === current || compareVersions(kept, current) === 0) return undefined;
  state.set(id, kept);
  return kept;
}

/** The join of two whole states (a new map): what two sites hold after they have swapped everything. */
export function mergeStates(a: DocState, b: DocState, policyOf: PolicyOf): DocState {
  const out: DocState = new Map(a);
  for (const doc of b.values()) applyVersion(out, doc, policyOf);
  return out;
}

// --- what was overwritten ---------------------------------------------------------------------

/**
 * A version named by its stamp and origin (a correct site never stamps two changes alike, so the
 * pair names one version everywhere).
 */
export interface VersionRef {
  hlc: string;
  origin: string;
}

export const sameRef = (a: VersionRef, b: VersionRef): boolean => a.hlc === b.hlc && a.origin === b.origin;

/**
 * The version a change was made from: what its writer's log held for the key when it wrote it
 * (`null`: nothing, the key's first version there). A version whose base is the one it replaces
 * was made by someone who had seen it: a sequential edit. Any other version of the key that is
 * not an ancestor of the winner was written without knowledge of it: a concurrent edit, and the
 * one that lost is what was overwritten. This is CouchDB's revision tree reduced to its leaves
 * (its `_conflicts`: the leaf revisions that are not the winner), with one parent per version.
 */
export type VersionBase = VersionRef | null;

/** A version that lost the merge to a version whose writer had not seen it: what the console shows as overwritten. */
export interface LostVersion {
  kind: string;
  key: string;
  hlc: string;
  origin: string;
  tombstone: boolean;
  body: unknown;
  /** the version it lost to when this site found it (informative: with three or more rival versions, sites may have met them in another order) */
  beatenBy: VersionRef;
}

/**
 * What a site knows of a key's history beyond the version it holds, as asked by `conflictStep`:
 * - the versions recorded as lost (the leaves of the history other than the winner);
 * - the bases named by versions held here that were not seen here yet ("awaited"): a version
 *   that arrives after one made from it (a relay from a third site can deliver it so) is an
 *   ancestor, not a rival;
 * - whether a version was seen here: entries of an origin arrive in order and an origin's stamps
 *   grow with its seq, so a site that holds an entry of that origin stamped at or after it has it.
 */
export interface HistoryLookups {
  isLost(kind: string, key: string, ref: VersionRef): boolean;
  isAwaited(kind: string, key: string, ref: VersionRef): boolean;
  seen(ref: VersionRef): boolean;
}

/** What one version's arrival changes in the history of its key; every part optional. */
export interface ConflictStep {
  /** a version now known to be overwritten without its writer's knowledge */
  lost?: LostVersion;
  /** a version recorded as lost that turns out to be the base of a later one: no longer a leaf, so no longer a conflict */
  superseded?: VersionRef;
  /** the incoming version's base, not seen here yet: when it comes it is an ancestor */
  awaits?: VersionRef;
  /** the incoming version was awaited: it has a descendant here already */
  arrived?: VersionRef;
  /** a tombstone now holds the key under delete-wins, for good: nothing recorded as lost is restorable any more */
  dropLost?: true;
}

/**
 * The history step of a version taking part in the merge of its key, given the version held
 * before (`current`) and the one kept after (`kept`, from mergeVersions). Pure.
 *
 * The set of lost versions this builds is the set of leaves of the key's history (versions no
 * version held here was made from) less the winner; it depends only on which versions a site
 * holds, not on the order it received them in (as long as each origin's arrive in order and a
 * version is stamped after its base, which the hybrid clock ensures): both sides of a cut find
 * the same conflicts once they have swapped their changes. Sequential edits make none.
 *
 * Not recorded: a version whose base is not known (records, and entries written before bases
 * were), and anything a tombstone beats under delete-wins (a revoke or a purge is final by the
 * rule of its kind: there is nothing to restore).
 */
export function conflictStep(current: VersionedDoc | undefined, incoming: VersionedDoc, kept: VersionedDoc, policy: MergePolicy, history: HistoryLookups): ConflictStep {
  const step: ConflictStep = {};
  if (policy === 'add-only' || incoming.base === undefined) return step;
  if (current && sameRef(current, incoming)) return step;
  const { kind, key } = incoming;
  const named = history.isAwaited(kind, key, incoming);
  if (named) step.arrived = { hlc: incoming.hlc, origin: incoming.origin };
  const base = incoming.base;
  const madeFromCurrent = base !== null && current !== undefined && sameRef(base, current);
  if (base !== null && !madeFromCurrent) {
    if (history.isLost(kind, key, base)) step.superseded = { hlc: base.hlc, origin: base.origin };
    else if (!history.seen(base)) step.awaits = { hlc: base.hlc, origin: base.origin };
  }
  if (kept !== current) {
    // the version held before is overwritten; it was a leaf unless the newcomer was made from it
    // (it is the greatest version held, so no other version held here was made from it)
    if (current && !madeFromCurrent && !finalDelete(policy, incoming)) step.lost = lostVersion(current, incoming);
    if (policy === 'delete-wins' && incoming.tombstone) step.dropLost = true;
  } else if (current && !named && !finalDelete(policy, current)) {
    step.lost = lostVersion(incoming, current);
  }
  return step;
}

/**
 * Under delete-wins a tombstone beats every put whatever their stamps, and holds the key for
 * good: a put it beats is not restorable, and a delete it beats said the same. Not a conflict.
 */
function finalDelete(policy: MergePolicy, winner: VersionedDoc): boolean {
  return policy === 'delete-wins' && winner.tombstone;
}

function lostVersion(loser: VersionedDoc, winner: VersionedDoc): LostVersion {
  return { kind: loser.kind, key: loser.key, hlc: loser.hlc, origin: loser.origin, tombstone: loser.tombstone, body: loser.tombstone ? null : loser.body, beatenBy: { hlc: winner.hlc, origin: winner.origin } };
}

/**
 * Whether an overwritten version still says something the winner does not: bodies compared
 * without the fields that are bookkeeping of the write (`ignored`: a save's timestamp, a token's
 * last use). Two sites that made the same edit lost nothing. Pure.
 */
export function sameContent(a: { tombstone: boolean; body: unknown }, b: { tombstone: boolean; body: unknown }, ignored: readonly string[]): boolean {
  if (a.tombstone || b.tombstone) return a.tombstone === b.tombstone;
  return canonicalJson(withoutFields(a.body, ignored)) === canonicalJson(withoutFields(b.body, ignored));
}

function withoutFields(body: unknown, ignored: readonly string[]): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || ignored.length === 0) return body;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) if (!ignored.includes(k)) out[k] = v;
  return out;
}

/**
 * The id of a conflict: the same on every site (it names the lost version), so a dismissal
 * written on one site dismisses it on all. Hex of a 64-bit FNV-1a pair over the four parts:
 * an id, not a secret.
 */
export function conflictId(kind: string, key: string, lost: VersionRef): string {
  const text = `${kind}\u0000${key}\u0000${lost.hlc}\u0000${lost.origin}`;
  return fnv1a64(text, 0xcbf29ce484222325n) + fnv1a64(text, 0x84222325cbf29ce4n);
}

function fnv1a64(text: string, seed: bigint): string {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/**
 * A site's documents with the history `conflictStep` needs, in memory: the model the property
 * tests drive, by the same step the change log's edge (log.ts, over its SQLite tables) takes.
 */
export interface TrackedState {
  docs: DocState;
  /** by conflict id */
  lost: Map<string, LostVersion>;
  /** `stateKey` + ref, of awaited bases */
  awaited: Set<string>;
  /** per origin, the greatest stamp held */
  seenUpTo: Map<string, string>;
}

export function trackedState(): TrackedState {
  return { docs: new Map(), lost: new Map(), awaited: new Set(), seenUpTo: new Map() };
}

const awaitedKey = (kind: string, key: string, ref: VersionRef): string => `${stateKey(kind, key)}\u0000${ref.hlc}\u0000${ref.origin}`;

/** applyVersion with the history kept: the incremental path, one version at a time, in the order they arrive. */
export function applyTracked(state: TrackedState, incoming: VersionedDoc, policyOf: PolicyOf): VersionedDoc | undefined {
  const id = stateKey(incoming.kind, incoming.key);
  const current = state.docs.get(id);
  const policy = policyOf(incoming.kind);
  const kept = current === undefined ? incoming : mergeVersions(current, incoming, policy);
  const step = conflictStep(current, incoming, kept, policy, {
    isLost: (kind, key, ref) => state.lost.has(conflictId(kind, key, ref)),
    isAwaited: (kind, key, ref) => state.awaited.has(awaitedKey(kind, key, ref)),
    seen: (ref) => (state.seenUpTo.get(ref.origin) ?? '') >= ref.hlc,
  });
  applyStep(state, incoming.kind, incoming.key, step);
  const seen = state.seenUpTo.get(incoming.origin);
  if (seen === undefined || seen < incoming.hlc) state.seenUpTo.set(incoming.origin, incoming.hlc);
  return applyVersion(state.docs, incoming, policyOf);
}

function applyStep(state: TrackedState, kind: string, key: string, step: ConflictStep): void {
  if (step.arrived) state.awaited.delete(awaitedKey(kind, key, step.arrived));
  if (step.superseded) state.lost.delete(conflictId(kind, key, step.superseded));
  if (step.awaits) state.awaited.add(awaitedKey(kind, key, step.awaits));
  if (step.dropLost) for (const [id, l] of state.lost) if (l.kind === kind && l.key === key) state.lost.delete(id);
  if (step.lost) state.lost.set(conflictId(kind, key, step.lost), step.lost);
}
