/**
 * The one path every change of persistent state takes. Each committed change is numbered and
 * handed to the subscribers in commit order: the console's live feed today, the replication
 * log of site sync (design section 7) later. A module that writes state without going through
 * here would be invisible to the other sites, so storage classes are the only writers.
 */
export interface Change {
  /** increasing per process; the replication log will add its own per-origin sequence */
  seq: number;
  collection: string;
  op: 'put' | 'delete';
  id: string;
  /** the whole document after a put; null after a delete */
  doc: unknown;
  at: string;
  /** false for state that is this site's alone (login sessions): never sent to a peer */
  replicate: boolean;
}

export type ChangeListener = (change: Change) => void;

export class ChangeFeed {
  private seq = 0;
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(change: Omit<Change, 'seq' | 'at'>): Change {
    const full: Change = { ...change, seq: ++this.seq, at: new Date().toISOString() };
    for (const listener of this.listeners) listener(full);
    return full;
  }

  /**
   * Publishes a change whose document is built only if a listener reads it: a busy call changes
   * with every event, and most changes are superseded before anyone looks.
   */
  publishLazy(change: Omit<Change, 'seq' | 'at' | 'doc'>, makeDoc: () => unknown): void {
    if (this.listeners.size === 0) {
      ++this.seq;
      return;
    }
    let doc: unknown;
    let made = false;
    const full = { ...change, seq: ++this.seq, at: new Date().toISOString() } as Change;
    Object.defineProperty(full, 'doc', {
      enumerable: true,
      get() {
        if (!made) {
          doc = makeDoc();
          made = true;
        }
        return doc;
      },
    });
    for (const listener of this.listeners) listener(full);
  }
}
