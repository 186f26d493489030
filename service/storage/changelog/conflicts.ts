import type Database from 'better-sqlite3';
import { conflictId, sameContent, type ConflictStep, type HistoryLookups, type VersionedDoc, type VersionRef } from './core/merge.js';

/**
 * The history of the keys that `conflictStep` (core/merge.ts) keeps, over the `conflicts` and
 * `awaited_bases` tables of the log's file (schema.ts): what the change log's merge writes in the
 * same transaction as the entry that caused it, and what the conflicts API reads.
 */

/** How a kind's overwritten versions are kept: the fields that are bookkeeping of a write, not what a person set. */
export interface ConflictRule {
  /** top-level fields of the body left out when a lost version is compared with the one held (`sameContent`) */
  ignored: readonly string[];
}

/** The kind of the replicated dismissals: one document per conflict id; its own versions are never conflicts. */
export const DISMISSAL_KIND = 'conflict_dismissals';

export interface DismissalBody {
  dismissedAt: string;
  /** the site the dismissal was made on */
  site: string;
  /** who dismissed it (a user's name, or `system` for the dismissals a join writes) */
  by: string;
}

export interface ConflictRow {
  id: string;
  kind: string;
  key: string;
  lost: { hlc: string; origin: string; tombstone: boolean; body: unknown };
  beatenBy: VersionRef;
  /** the document held says the same as the lost version (a change that made it moot, or the same edit on both sides) */
  moot: boolean;
  detectedAt: number;
  dismissal: DismissalBody | null;
}

export interface ConflictQuery {
  kind?: string;
  key?: string;
  /** open: not dismissed and not moot (default); dismissed; all */
  state?: 'open' | 'dismissed' | 'all';
  limit: number;
  /** the (hlc, id) of the last row of the page before: rows before it (newest first) */
  before?: { hlc: string; id: string };
}

interface Row {
  id: string;
  kind: string;
  key: string;
  hlc: string;
  origin: string;
  body: string | null;
  beaten_hlc: string;
  beaten_origin: string;
  moot: number;
  detected_at: number;
  dismissal: string | null;
}

export class ConflictRecords {
  private readonly stmt;

  constructor(
    private readonly db: Database.Database,
    private readonly ruleOf: (kind: string) => ConflictRule | undefined,
  ) {
    const dismissal = `(SELECT d.body FROM documents d WHERE d.kind = '${DISMISSAL_KIND}' AND d.key = c.id) AS dismissal`;
    this.stmt = {
      has: db.prepare('SELECT 1 FROM conflicts WHERE id = ?').pluck(),
      anyOfKey: db.prepare('SELECT 1 FROM conflicts WHERE kind = ? AND key = ? LIMIT 1').pluck(),
      ofKey: db.prepare('SELECT id, body FROM conflicts WHERE kind = ? AND key = ?'),
      insert: db.prepare(
        'INSERT INTO conflicts (id, kind, key, hlc, origin, body, beaten_hlc, beaten_origin, moot, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      remove: db.prepare('DELETE FROM conflicts WHERE id = ?'),
      removeOfKey: db.prepare('DELETE FROM conflicts WHERE kind = ? AND key = ?'),
      setMoot: db.prepare('UPDATE conflicts SET moot = ? WHERE id = ? AND moot <> ?'),
      isAwaited: db.prepare('SELECT 1 FROM awaited_bases WHERE kind = ? AND key = ? AND hlc = ? AND origin = ?').pluck(),
      addAwaited: db.prepare('INSERT INTO awaited_bases (kind, key, hlc, origin) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      removeAwaited: db.prepare('DELETE FROM awaited_bases WHERE kind = ? AND key = ? AND hlc = ? AND origin = ?'),
      page: db.prepare(
        `SELECT c.*, ${dismissal} FROM conflicts c
          WHERE (@kind IS NULL OR c.kind = @kind) AND (@key IS NULL OR c.key = @key)
          ORDER BY c.hlc DESC, c.id DESC`,
      ),
      one: db.prepare(`SELECT c.*, ${dismissal} FROM conflicts c WHERE c.id = ?`),
    };
  }

  /** Whether versions of this kind have their history kept. */
  tracks(kind: string): boolean {
    return this.ruleOf(kind) !== undefined;
  }

  /** The lookups of `conflictStep`, over the tables; `seen` comes from the log (it knows the stamps per origin). */
  lookups(seen: (ref: VersionRef) => boolean): HistoryLookups {
    return {
      isLost: (kind, key, ref) => this.stmt.has.get(conflictId(kind, key, ref)) !== undefined,
      isAwaited: (kind, key, ref) => this.stmt.isAwaited.get(kind, key, ref.hlc, ref.origin) !== undefined,
      seen,
    };
  }

  /** Writes what a step found (inside the merge's transaction); `held` is the version the key holds after it. */
  apply(kind: string, key: string, step: ConflictStep, held: VersionedDoc, now: number): void {
    if (step.arrived) this.stmt.removeAwaited.run(kind, key, step.arrived.hlc, step.arrived.origin);
    if (step.superseded) this.stmt.remove.run(conflictId(kind, key, step.superseded));
    if (step.awaits) this.stmt.addAwaited.run(kind, key, step.awaits.hlc, step.awaits.origin);
    if (step.dropLost) this.stmt.removeOfKey.run(kind, key);
    const lost = step.lost;
    if (lost) {
      const moot = sameContent(lost, held, this.ruleOf(kind)?.ignored ?? []);
      this.stmt.insert.run(conflictId(kind, key, lost), kind, key, lost.hlc, lost.origin, lost.tombstone ? null : JSON.stringify(lost.body), lost.beatenBy.hlc, lost.beatenBy.origin, moot ? 1 : 0, now);
    }
  }

  /**
   * The key now holds `held` (a local write, or a merge that changed it): the conflicts of the key
   * are moot exactly while it says what they said. One indexed probe when the key has none.
   */
  heldChanged(held: VersionedDoc): void {
    if (this.stmt.anyOfKey.get(held.kind, held.key) === undefined) return;
    const ignored = this.ruleOf(held.kind)?.ignored ?? [];
    for (const r of this.stmt.ofKey.all(held.kind, held.key) as { id: string; body: string | null }[]) {
      const lost = { tombstone: r.body === null, body: r.body === null ? null : (JSON.parse(r.body) as unknown) };
      const moot = sameContent(lost, held, ignored) ? 1 : 0;
      this.stmt.setMoot.run(moot, r.id, moot);
    }
  }

  /** A page of conflicts, newest lost version first (by its stamp: the same order on every site), and how many match. */
  list(query: ConflictQuery): { items: ConflictRow[]; total: number } {
    const state = query.state ?? 'open';
    const items: ConflictRow[] = [];
    let total = 0;
    const before = query.before;
    // the state depends on the dismissals (documents) and `moot`, so rows are filtered as they are
    // walked; there are few (one per losing branch of a key, until dismissed)
    for (const r of this.stmt.page.iterate({ kind: query.kind ?? null, key: query.key ?? null }) as Iterable<Row>) {
      const row = toConflict(r);
      const open = row.dismissal === null && !row.moot;
      if (state === 'open' ? !open : state === 'dismissed' ? row.dismissal === null : false) continue;
      total++;
      const afterCursor = !before || r.hlc < before.hlc || (r.hlc === before.hlc && r.id < before.id);
      if (afterCursor && items.length < query.limit) items.push(row);
    }
    return { items, total };
  }

  get(id: string): ConflictRow | undefined {
    const r = this.stmt.one.get(id) as Row | undefined;
    return r ? toConflict(r) : undefined;
  }
}

function toConflict(r: Row): ConflictRow {
  return {
    id: r.id,
    kind: r.kind,
    key: r.key,
    lost: { hlc: r.hlc, origin: r.origin, tombstone: r.body === null, body: r.body === null ? null : (JSON.parse(r.body) as unknown) },
    beatenBy: { hlc: r.beaten_hlc, origin: r.beaten_origin },
    moot: r.moot === 1,
    detectedAt: r.detected_at,
    dismissal: r.dismissal === null ? null : (JSON.parse(r.dismissal) as DismissalBody),
  };
}
