/**
 * The live side of every change of persistent state: each change is handed to the subscribers
 * (the console's live feed, vmail's listing and MWI) once it is stored.
 *
 * The durable, ordered record of replicated changes is the change log (storage/changelog/): what
 * must not be missed (replication, backups) reads the log by position, not this feed. A change
 * of the log comes here with its `origin` and `seq`, in log order, after its stores applied it; a
 * subscriber that has seen one resumes after a restart with `log.after(origin, seq)`.
 */
export interface Change {
  /**
   * For a change of the change log, its seq in the log of `origin` (a position to resume from).
   * 0 for changes that are not in the log (site-local state, active calls, collections not moved
   * to the log yet): there is nothing to resume them from.
   */
  seq: number;
  /** the site whose log holds the change; only on changes of the log */
  origin?: string;
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

type NewChange = Omit<Change, 'seq' | 'at' | 'origin'> & { seq?: number; origin?: string };

export interface SubscribeOptions {
  /** only changes of these collections reach the listener (default: every change) */
  collections?: readonly string[];
}

export class ChangeFeed {
  /** each listener with the collections it listens to (undefined: all of them) */
  private readonly listeners = new Map<ChangeListener, ReadonlySet<string> | undefined>();
  /** listeners of every collection, and per collection those of some */
  private watchingAll = 0;
  private readonly watching = new Map<string, number>();
  /** changes waiting for delivery: one published by a listener waits for the one it reacted to */
  private readonly queue: Change[] = [];
  private delivering = false;

  subscribe(listener: ChangeListener, opts: SubscribeOptions = {}): () => void {
    if (this.listeners.has(listener)) return () => this.unsubscribe(listener);
    const collections = opts.collections ? new Set(opts.collections) : undefined;
    this.listeners.set(listener, collections);
    if (collections) for (const c of collections) this.watching.set(c, (this.watching.get(c) ?? 0) + 1);
    else this.watchingAll++;
    return () => this.unsubscribe(listener);
  }

  /**
   * Whether a listener takes changes of this collection now: a publisher whose changes are
   * frequent and cost something to make (a call's, at every event) asks before making them.
   */
  watches(collection: string): boolean {
    return this.watchingAll > 0 || this.watching.has(collection);
  }

  private unsubscribe(listener: ChangeListener): void {
    if (!this.listeners.has(listener)) return;
    const collections = this.listeners.get(listener);
    this.listeners.delete(listener);
    if (!collections) {
      this.watchingAll--;
      return;
    }
    for (const c of collections) {
      const n = (this.watching.get(c) ?? 1) - 1;
      if (n > 0) this.watching.set(c, n);
      else this.watching.delete(c);
    }
  }

  publish(change: NewChange): Change {
    const full: Change = { ...change, seq: change.seq ?? 0, at: new Date().toISOString() };
    if (full.origin === undefined) delete full.origin;
    this.deliver(full);
    return full;
  }

  /**
   * Publishes a change whose document is built only if a listener reads it: a busy call changes
   * with every event, and most changes are superseded before anyone looks.
   */
  publishLazy(change: Omit<NewChange, 'doc'>, makeDoc: () => unknown): void {
    if (!this.watches(change.collection)) return;
    let doc: unknown;
    let made = false;
    const full = { ...change, seq: change.seq ?? 0, at: new Date().toISOString() } as Change;
    if (full.origin === undefined) delete full.origin;
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
    this.deliver(full);
  }

  /**
   * Hands changes to every listener in publication order. A change published from inside a
   * listener is queued, so every listener sees it after the change that caused it (before, the
   * listeners after the publishing one saw the two reversed). A listener's error reaches the
   * publisher once the queue is delivered.
   */
  private deliver(change: Change): void {
    this.queue.push(change);
    if (this.delivering) return;
    this.delivering = true;
    let failure: { err: unknown } | undefined;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        for (const [listener, collections] of this.listeners) {
          if (collections && !collections.has(next.collection)) continue;
          try {
            listener(next);
          } catch (err) {
            failure ??= { err };
          }
        }
      }
    } finally {
      this.delivering = false;
    }
    if (failure) throw failure.err;
  }
}
