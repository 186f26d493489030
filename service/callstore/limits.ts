import { randomUUID } from 'node:crypto';
import type { Limit, LimitInput } from '../../shared/api/limits.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { ChangeFeed } from '../storage/changes.js';
import type { Collection, Doc, DocumentStore } from '../storage/documents.js';
import { DOMAIN_PROFILE, normalizeDomain, pairKey, type LimitRule } from './core/profiles.js';

/** The change log's kind (and nedb collection) of the limits: replicated to every site, last writer wins. */
export const LIMITS_COLLECTION = 'limits';

interface LimitDoc extends Doc {
  profile: string;
  value: string | null;
  max: number;
  description: string | null;
  createdAt: string;
  updatedAt: string;
}

/** How a rule's value is compared: a `domain` value as partitioning compares domains. */
function normalizedValue(profile: string, value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  return profile === DOMAIN_PROFILE ? normalizeDomain(value) : value;
}

function publicLimit(doc: LimitDoc): Limit {
  return { id: doc._id, profile: doc.profile, value: doc.value, max: doc.max, description: doc.description, createdAt: doc.createdAt, updatedAt: doc.updatedAt };
}

function describeRule(profile: string, value: string | null): string {
  return value === null ? `profile "${profile}" (each value on its own)` : `profile "${profile}" with value "${value}"`;
}

/**
 * The call limits (design section 4.4): documents of the `limits` collection, a write-ahead view
 * of the change log (so a rule written on one site reaches every paired site, and a restart
 * rebuilds it from the log). The rules are also held in memory, kept in step with the
 * collection's changes (this site's and the peers'), since every admission reads them.
 */
export class LimitStore {
  private readonly rules = new Map<string, LimitDoc>();
  private readonly listeners = new Set<() => void>();
  /** writes run one at a time: a duplicate rule is checked against the rules before the log is written */
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly collection: Collection<LimitDoc>,
    feed: ChangeFeed,
    private readonly now: () => number,
  ) {
    feed.subscribe(
      (change) => {
        if (change.op === 'delete' || change.doc === null) this.forget(change.id);
        else this.hold(change.doc as LimitDoc);
      },
      { collections: [LIMITS_COLLECTION] },
    );
  }

  static async open(documents: DocumentStore, opts: { now?: () => number } = {}): Promise<LimitStore> {
    const collection = await documents.open<LimitDoc>(LIMITS_COLLECTION);
    const store = new LimitStore(collection, documents.feed, opts.now ?? Date.now);
    for (const doc of await collection.find({})) store.hold(doc);
    return store;
  }

  /** Told after every change of the rules (here or from a peer). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every rule, by profile, then value (the per-value rule first), then id. */
  list(): Limit[] {
    return [...this.rules.values()]
      .sort((a, b) => cmp(a.profile, b.profile) || (a.value === null ? (b.value === null ? 0 : -1) : b.value === null ? 1 : cmp(a.value, b.value)) || cmp(a._id, b._id))
      .map(publicLimit);
  }

  /** The rules as the counter takes them. */
  rulesNow(): LimitRule[] {
    return [...this.rules.values()].map((d) => ({ id: d._id, profile: d.profile, value: d.value, max: d.max }));
  }

  get(id: string): Limit {
    const doc = this.rules.get(id);
    if (!doc) throw new NotFoundError(`No limit with id ${id}.`);
    return publicLimit(doc);
  }

  create(input: LimitInput): Promise<Limit> {
    return this.serially(async () => {
      const value = normalizedValue(input.profile, input.value);
      this.refuseDuplicate(input.profile, value, undefined);
      const at = new Date(this.now()).toISOString();
      const doc: LimitDoc = { _id: randomUUID(), profile: input.profile, value, max: input.max, description: input.description ?? null, createdAt: at, updatedAt: at };
      await this.collection.put(doc);
      this.hold(doc);
      return publicLimit(doc);
    });
  }

  update(id: string, input: LimitInput): Promise<Limit> {
    return this.serially(async () => {
      const current = this.rules.get(id);
      if (!current) throw new NotFoundError(`No limit with id ${id}.`);
      const value = normalizedValue(input.profile, input.value);
      this.refuseDuplicate(input.profile, value, id);
      const doc: LimitDoc = { ...current, profile: input.profile, value, max: input.max, description: input.description ?? null, updatedAt: new Date(this.now()).toISOString() };
      const stored = await this.collection.patch(id, { profile: doc.profile, value: doc.value, max: doc.max, description: doc.description, updatedAt: doc.updatedAt });
      if (!stored) {
        this.forget(id);
        throw new NotFoundError(`No limit with id ${id}.`);
      }
      this.hold(stored);
      return publicLimit(stored);
    });
  }

  delete(id: string): Promise<void> {
    return this.serially(async () => {
      const removed = await this.collection.delete(id);
      this.forget(id);
      if (!removed) throw new NotFoundError(`No limit with id ${id}.`);
    });
  }

  /**
   * One rule per profile and value: a second would only hide which one denies. Two sites that
   * create the same rule at once (each before the other's reached it) both keep theirs, with
   * different ids; both apply, so the lower max holds, and either can be deleted.
   */
  private refuseDuplicate(profile: string, value: string | null, except: string | undefined): void {
    const key = pairKey(profile, value);
    for (const doc of this.rules.values()) {
      if (doc._id === except || pairKey(doc.profile, doc.value) !== key) continue;
      throw new ConflictError(`A limit for ${describeRule(profile, value)} exists already (id ${doc._id}): change that one instead.`, [
        { path: value === null ? '/profile' : '/value', message: `a limit for ${describeRule(profile, value)} exists already (id ${doc._id})` },
      ]);
    }
  }

  private hold(doc: LimitDoc): void {
    const before = this.rules.get(doc._id);
    if (before && before.updatedAt === doc.updatedAt && before.max === doc.max && before.profile === doc.profile && before.value === doc.value && before.description === doc.description) return;
    this.rules.set(doc._id, { _id: doc._id, profile: doc.profile, value: doc.value ?? null, max: doc.max, description: doc.description ?? null, createdAt: doc.createdAt, updatedAt: doc.updatedAt });
    this.changed();
  }

  private forget(id: string): void {
    if (this.rules.delete(id)) this.changed();
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  private serially<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.writes.then(fn, fn);
    this.writes = run.catch(() => undefined);
    return run;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
