import { RoleTermBody } from '../../shared/sync/standing.js';
import type { RoleTerm } from '../config/election.js';
import type { ChangeLog } from '../storage/changelog/log.js';
import { validator } from '../validation.js';

/** The change log's kind of a group's Active-Passive term (kinds.ts, LOG_ONLY_KINDS). */
export const TERM_KIND = 'role_term';

const checkTerm = validator(RoleTermBody);

/** A term body as the log holds it, or undefined when it is not one (a newer peer's, a damaged one). */
function termOf(body: unknown): RoleTerm | undefined {
  try {
    return checkTerm.parse(body, 'role term');
  } catch {
    return undefined;
  }
}

/**
 * The terms of the groups (design section 7), in the change log: a document per group
 * (`roletype:group` → {term, instance, site, since}), merged last-writer-wins like any document,
 * so every site ends with the same one. Besides the merged version, it keeps the highest term
 * each group has shown since the start (a raise that lost the merge to a concurrent lower one
 * during a cut): the next raise goes past it. Changes received from peers are told to the
 * listeners after their commit.
 */
export class TermLedger {
  private readonly highest = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private receivedSinceCommit = false;
  private readonly unsubscribe: (() => void)[];

  constructor(private readonly log: ChangeLog) {
    this.unsubscribe = [
      log.onReceive((entry) => {
        if (entry.kind !== TERM_KIND) return;
        const t = termOf(entry.body);
        if (t) this.saw(entry.key, t.term);
        this.receivedSinceCommit = true;
      }),
      log.onCommit(() => {
        if (!this.receivedSinceCommit) return;
        this.receivedSinceCommit = false;
        for (const l of this.listeners) l();
      }),
    ];
  }

  /** The group's term as the log holds it now (the merged version). */
  current(key: string): RoleTerm | undefined {
    const doc = this.log.document(TERM_KIND, key);
    if (!doc || doc.tombstone) return undefined;
    const t = termOf(doc.body);
    if (t) this.saw(key, t.term);
    return t;
  }

  /** The highest term this site has seen of the group (the merged version's included). */
  highestSeen(key: string): number {
    return Math.max(this.highest.get(key) ?? 0, this.current(key)?.term ?? 0);
  }

  /** Writes a new term of the group (committed and fsync'd when this returns). */
  raise(key: string, term: RoleTerm): void {
    this.log.append({ kind: TERM_KIND, key, body: term });
    this.saw(key, term.term);
  }

  /** Called after a commit that took in a term written elsewhere. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.listeners.clear();
  }

  private saw(key: string, term: number): void {
    if ((this.highest.get(key) ?? 0) < term) this.highest.set(key, term);
  }
}
