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
}

/**
 * How the versions of one kind merge:
 * - `last-writer-wins`: the greater (hlc, origin) wins; a tombstone is a version, so it beats older
 *   puts and loses to newer ones (a user deleted and made again comes back).
 * - `delete-wins`: for keys that are never reused (API tokens are random ids): a tombstone beats
 *   every put whatever its stamp. A token revoked on one site while the other wrote its
 *   `lastUsedAt` stays revoked; under last-writer-wins that later put would resurrect it.
 * - `add-only`: records that are written once (CDRs, voicemail messages): the first version of an
 *   id (the least (hlc, origin)) is kept; later ones are duplicates.
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
