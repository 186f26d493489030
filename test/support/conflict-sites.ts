/**
 * Sites that edit documents and swap their changes, for the property tests of what concurrent
 * edits overwrote (core/merge.ts conflictStep): the same generated script drives the pure model
 * (applyTracked) and real change logs (log.ts over SQLite), and an oracle says what the conflicts
 * must be from the versions alone.
 */
import fc from 'fast-check';
import { decodeHlc, encodeHlc, HybridClock } from '../../service/storage/changelog/core/hlc.js';
import {
  applyTracked,
  compareVersions,
  conflictId,
  mergeVersions,
  putVersion,
  stateKey,
  tombstoneVersion,
  trackedState,
  type MergePolicy,
  type TrackedState,
  type VersionedDoc,
} from '../../service/storage/changelog/core/merge.js';

export const CONFLICT_POLICIES: Record<string, MergePolicy> = { config: 'last-writer-wins', users: 'last-writer-wins', tokens: 'delete-wins' };
export const conflictPolicyOf = (kind: string): MergePolicy => CONFLICT_POLICIES[kind] ?? 'last-writer-wins';

export type Op =
  | { t: 'edit'; site: number; kind: string; key: string; body: number | null }
  /** `to` takes every entry `from` holds that it lacks, each origin's in order, the origins interleaved by `mix` */
  | { t: 'sync'; from: number; to: number; mix: number[] }
  /** the physical clocks move on */
  | { t: 'tick'; ms: number };

export const opArb = (sites: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ t: fc.constant('edit' as const), site: fc.nat(sites - 1), kind: fc.constantFrom(...Object.keys(CONFLICT_POLICIES)), key: fc.constantFrom('k1', 'k2'), body: fc.option(fc.nat(3), { freq: 6 }) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('sync' as const), from: fc.nat(sites - 1), to: fc.nat(sites - 1), mix: fc.array(fc.nat(5), { minLength: 1, maxLength: 8 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3 }) }) },
  );

/** What a test needs of a site: write, hold entries per origin in order, take entries in. */
export interface EditingSite {
  readonly id: string;
  /** a local change, made from what the site holds for the key */
  edit(kind: string, key: string, body: unknown): void;
  /** the entries it holds of an origin, in order, from the (count)th on */
  entriesOf(origin: string, from: number): VersionedDoc[];
  /** how many entries of each origin it holds */
  counts(): Map<string, number>;
  /** takes in entries of other sites, each origin's in order */
  receive(entries: readonly VersionedDoc[]): void;
  /** the ids of the conflicts it found, with the overwritten bodies */
  conflicts(): Map<string, unknown>;
  /** what it holds, for convergence */
  documents(): Map<string, string>;
}

/** Runs a script between sites; at the end every site takes everything from every other (twice round, so relays are through). */
export function runScript(sites: readonly EditingSite[], ops: readonly Op[], tick: (ms: number) => void, finish = true): void {
  for (const op of ops) {
    if (op.t === 'tick') tick(op.ms);
    else if (op.t === 'edit') sites[op.site]?.edit(op.kind, op.key, op.body === null ? null : { v: op.body, by: op.site });
    else if (op.from !== op.to) swap(sites[op.from] as EditingSite, sites[op.to] as EditingSite, op.mix);
  }
  if (!finish) return;
  for (let round = 0; round < 2; round++) for (const a of sites) for (const b of sites) if (a !== b) swap(a, b, [round, 1, 3]);
}

function swap(from: EditingSite, to: EditingSite, mix: readonly number[]): void {
  const have = to.counts();
  const queues: VersionedDoc[][] = [];
  for (const [origin] of from.counts()) {
    if (origin === to.id) continue;
    const missing = from.entriesOf(origin, have.get(origin) ?? 0);
    if (missing.length) queues.push(missing);
  }
  // the origins interleaved as `mix` says, each origin's entries in order (what the protocol keeps)
  const out: VersionedDoc[] = [];
  for (let i = 0; queues.some((q) => q.length); i++) {
    const live = queues.filter((q) => q.length);
    const q = live[(mix[i % mix.length] as number) % live.length] as VersionedDoc[];
    out.push(q.shift() as VersionedDoc);
  }
  to.receive(out);
}

/** A site of the pure model: documents and history in memory, by applyTracked. */
export class ModelSite implements EditingSite {
  readonly state: TrackedState = trackedState();
  private readonly log = new Map<string, VersionedDoc[]>();
  private readonly clock: HybridClock;

  constructor(
    readonly id: string,
    physicalNow: () => number,
  ) {
    this.clock = new HybridClock({ physicalNow });
  }

  edit(kind: string, key: string, body: unknown): void {
    const held = this.state.docs.get(stateKey(kind, key));
    const hlc = encodeHlc(this.clock.now());
    const v = body === null ? tombstoneVersion(kind, key, hlc, this.id) : putVersion(kind, key, hlc, this.id, body);
    const version: VersionedDoc = { ...v, base: held ? { hlc: held.hlc, origin: held.origin } : null };
    this.hold(version);
    applyTracked(this.state, version, conflictPolicyOf);
  }

  entriesOf(origin: string, from: number): VersionedDoc[] {
    return (this.log.get(origin) ?? []).slice(from);
  }

  counts(): Map<string, number> {
    return new Map([...this.log].map(([o, l]) => [o, l.length]));
  }

  receive(entries: readonly VersionedDoc[]): void {
    for (const e of entries) {
      this.clock.receive(decodeHlc(e.hlc));
      this.hold(e);
      applyTracked(this.state, e, conflictPolicyOf);
    }
  }

  conflicts(): Map<string, unknown> {
    return new Map([...this.state.lost].map(([id, l]) => [id, l.tombstone ? null : l.body]));
  }

  documents(): Map<string, string> {
    return new Map([...this.state.docs].map(([k, v]) => [k, `${v.hlc}/${v.origin}/${JSON.stringify(v.body)}`]));
  }

  private hold(v: VersionedDoc): void {
    const list = this.log.get(v.origin) ?? [];
    list.push(v);
    this.log.set(v.origin, list);
  }
}

/**
 * The conflicts the versions of a history must give, from the versions alone (no order): per
 * key, the versions no other version was made from (the leaves), less the winner of the merge,
 * and nothing at all once a tombstone holds a key under delete-wins.
 */
export function expectedConflicts(versions: readonly VersionedDoc[]): Map<string, unknown> {
  const byKey = new Map<string, VersionedDoc[]>();
  for (const v of versions) byKey.set(stateKey(v.kind, v.key), [...(byKey.get(stateKey(v.kind, v.key)) ?? []), v]);
  const out = new Map<string, unknown>();
  for (const list of byKey.values()) {
    const policy = conflictPolicyOf((list[0] as VersionedDoc).kind);
    const winner = list.reduce((a, b) => mergeVersions(a, b, policy));
    const named = new Set(list.flatMap((v) => (v.base ? [`${v.base.hlc}/${v.base.origin}`] : [])));
    for (const v of list) {
      if (named.has(`${v.hlc}/${v.origin}`) || compareVersions(v, winner) === 0) continue;
      if (policy === 'delete-wins' && winner.tombstone) continue;
      out.set(conflictId(v.kind, v.key, v), v.tombstone ? null : v.body);
    }
  }
  return out;
}

/** Every version any site wrote (each site holds its own). */
export function allVersions(sites: readonly EditingSite[]): VersionedDoc[] {
  return sites.flatMap((s) => s.entriesOf(s.id, 0));
}
