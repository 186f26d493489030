import type { Conflict, ConflictList, ConflictListQuery, ConflictVersion } from '../../shared/api/conflicts.js';
import { CONFLICT_LIST_LIMITS } from '../../shared/api/conflicts.js';
import { NotFoundError } from '../errors.js';
import { redactSecrets } from '../secrets.js';
import { DISMISSAL_KIND, type ConflictRow, type DismissalBody } from '../storage/changelog/conflicts.js';
import { decodeHlc } from '../storage/changelog/core/hlc.js';
import type { VersionRef } from '../storage/changelog/core/merge.js';
import type { ChangeLog } from '../storage/changelog/log.js';

export interface ConflictServiceDeps {
  log: ChangeLog;
  /** this site's id */
  selfId: string;
  /** a site's name when this site knows it (itself, a paired site) */
  siteName(id: string): string | null;
  now?: () => number;
}

/**
 * What concurrent edits overwrote (design section 7, "Partitions"), as the console shows it: the
 * change log finds and keeps the overwritten versions (storage/changelog/conflicts.ts); this
 * shows them beside what the document holds now, with secrets redacted, and dismisses them.
 *
 * A dismissal is replicated (a document of the log, kind `conflict_dismissals`, keyed by the
 * conflict's id, which is the same on every site): the conflict is the installation's, found alike
 * on every site that holds both edits, so acknowledging it once acknowledges it everywhere, as
 * the edits themselves reached everywhere. A site-local one would leave the other consoles
 * showing what someone already decided.
 */
export class ConflictService {
  private readonly now: () => number;

  constructor(private readonly deps: ConflictServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  list(query: ConflictListQuery): ConflictList {
    const limit = query.limit ?? CONFLICT_LIST_LIMITS.defaultLimit;
    const before = query.cursor ? { hlc: query.cursor.slice(0, 16), id: query.cursor.slice(17) } : undefined;
    const { items, total } = this.deps.log.conflicts({ ...(query.kind ? { kind: query.kind } : {}), ...(query.key ? { key: query.key } : {}), state: query.state ?? 'open', limit: limit + 1, ...(before ? { before } : {}) });
    const page = items.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map((r) => this.view(r)), total, nextCursor: items.length > limit && last ? `${last.lost.hlc}.${last.id}` : null };
  }

  get(id: string): Conflict {
    const row = this.deps.log.conflict(id);
    if (!row) throw new NotFoundError(`No conflict ${id} is known on this site.`);
    return this.view(row);
  }

  /** Dismisses a conflict on every site (a replicated document); dismissing it again keeps the first dismissal. */
  dismiss(id: string, by: string): Conflict {
    const row = this.deps.log.conflict(id);
    if (!row) throw new NotFoundError(`No conflict ${id} is known on this site.`);
    if (row.dismissal === null) this.writeDismissals([id], by);
    return this.get(id);
  }

  /**
   * Writes dismissals for conflicts by id, known here yet or not (the join's adoption dismisses
   * what it overwrites on purpose, before the other site's versions have arrived).
   */
  writeDismissals(ids: readonly string[], by: string): void {
    if (ids.length === 0) return;
    const body: DismissalBody = { dismissedAt: new Date(this.now()).toISOString(), site: this.deps.selfId, by };
    this.deps.log.appendMany(ids.map((id) => ({ kind: DISMISSAL_KIND, key: id, body })));
  }

  private view(row: ConflictRow): Conflict {
    const held = this.deps.log.document(row.kind, row.key);
    const current: ConflictVersion | null = held ? this.version(held, held.tombstone, held.body) : null;
    return {
      id: row.id,
      kind: row.kind,
      key: row.key,
      state: row.dismissal ? 'dismissed' : row.moot ? 'moot' : 'open',
      overwritten: this.version(row.lost, row.lost.tombstone, row.lost.body),
      overwrittenBy: { hlc: row.beatenBy.hlc, writtenAt: wallOf(row.beatenBy.hlc), ...this.site(row.beatenBy.origin) },
      current,
      detectedAt: new Date(row.detectedAt).toISOString(),
      dismissal: row.dismissal ? { at: row.dismissal.dismissedAt, by: row.dismissal.by, ...this.site(row.dismissal.site) } : null,
    };
  }

  private version(ref: VersionRef, deleted: boolean, body: unknown): ConflictVersion {
    return { hlc: ref.hlc, writtenAt: wallOf(ref.hlc), ...this.site(ref.origin), deleted, body: deleted ? null : redactSecrets(body) };
  }

  private site(origin: string): { origin: string; siteName: string | null } {
    return { origin, siteName: this.deps.siteName(origin) };
  }
}

function wallOf(hlc: string): string {
  return new Date(decodeHlc(hlc).wall).toISOString();
}
