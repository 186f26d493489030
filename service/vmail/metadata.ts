import { existsSync } from 'node:fs';
import type { MessageCounts } from '../../shared/api/vmail.js';
import { NotFoundError, StartupError } from '../errors.js';
import type { HealthReporter } from '../health.js';
import type { Logger } from '../logger.js';
import type { Change, ChangeFeed } from '../storage/changes.js';
import type { VersionedDoc } from '../storage/changelog/core/merge.js';
import type { ChangeLog } from '../storage/changelog/log.js';
import type { Collection, DocumentStore } from '../storage/documents.js';
import { boxKey, toMwi, type MailboxDoc, type MessageDoc, type PinGuardDoc } from './core.js';
import { legacyMessagesFile, MESSAGE_KIND, messageStoreFile, MessageStore, type ListFolder } from './message-store.js';

export const COLLECTIONS = {
  mailboxes: 'vmail_mailboxes',
  messages: MESSAGE_KIND,
  pinGuard: 'vmail_pin_guard',
  /** not stored: the message-waiting counts published on the feed for the console */
  mwi: 'mwi',
} as const;

/** What LoggedMessages tells the rest of the service while its store lags behind the log. */
export interface ApplyWatch {
  /** the store failed to apply `count` committed changes (kept, retried); `err` the last failure */
  stalled(count: number, err: Error): void;
  /** every committed change is applied again */
  recovered(): void;
  /** a change the store failed to apply before is applied now (the log's listeners were not told of it) */
  reapplied(version: VersionedDoc): void;
}

/**
 * Audio of this site that a change written on another site removed (a purge of one of its
 * messages, a greeting replaced or unset, a mailbox deleted): its file is to go from this site's
 * store, as it would had the change been made here. `mailboxGone`: the mailbox itself was deleted.
 */
export interface DroppedAudio {
  domain: string;
  mailbox: string;
  key: string;
  what: 'message' | 'greeting';
  mailboxGone: boolean;
  /** the site whose change it was */
  by: string;
}

const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 10_000;

/**
 * The messages' metadata as the service writes it: every change is an entry of the change log
 * (kind `vmail_messages`, the whole MessageDoc, a purge a tombstone), committed (fsync'd) before
 * the call resolves and applied to the SQLite store (message-store.ts) before it resolves too, so
 * a read after a write sees it. Reads go to the store.
 *
 * Once its entry has committed a change is durable: the log is the record, the store a view of
 * it. So a store that cannot apply it (its file locked by another program, the disk full) never
 * fails the write: the change is kept here, readable by id, and the log applies again, with
 * backoff, everything the store missed (`ChangeLog.reapplyFailed`: the current version of every
 * message changed since the first failure, a peer's changes too, in the store's own queue) until
 * the store takes it (health says so meanwhile; listings and counts lack it until then). Once it
 * has, the store's position in the log moves on as after any apply, so a restart has nothing to
 * re-apply; a restart before that applies it at start.
 *
 * The merge is delete-wins: message ids are random and never reused, and a purge is final (its
 * audio is gone), so a purge on one site beats a concurrent move or read mark on another, which
 * under last-writer-wins would bring the message back without its audio.
 */
export class LoggedMessages {
  /** committed changes the store failed to apply, until it has: id → the document (null: purged) */
  private readonly unapplied = new Map<string, MessageDoc | null>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;
  /** a failure seen in this turn of the event loop, reported once at the end of it */
  private stall: Error | undefined;
  private closed = false;
  private readonly stopListening: () => void;

  constructor(
    private readonly log: ChangeLog,
    readonly store: MessageStore,
    private readonly watch?: ApplyWatch,
  ) {
    // every failed apply, a peer's change too (no writer here waits for it), has the store caught up again
    this.stopListening = store.onApplyFailed((err) => this.stalled(err));
  }

  get(id: string): MessageDoc | null {
    if (this.unapplied.has(id)) return this.unapplied.get(id) ?? null;
    return this.store.get(id);
  }

  /**
   * The newest message of a mailbox made by a deposit with this Idempotency-Key, or null; a
   * committed one the store has not applied yet included.
   */
  byDepositKey(box: string, key: string): MessageDoc | null {
    let newest = this.store.byDepositKey(box, key);
    for (const doc of this.unapplied.values()) {
      if (doc === null || doc.box !== box || doc.idempotencyKey !== key) continue;
      if (newest === null || doc.createdAt > newest.createdAt || (doc.createdAt === newest.createdAt && doc._id > newest._id)) newest = doc;
    }
    // as it is now (a change, or a purge, may wait for the store)
    return newest === null ? null : this.get(newest._id);
  }

  /** How many committed changes of this site wait for the store (0 but while it fails). */
  get lagging(): number {
    return this.unapplied.size;
  }

  /**
   * Writes the message's metadata through the log. It fails only when the entry did not commit
   * (nothing is written), or when a purge of the message has won (NotFoundError).
   */
  async put(doc: MessageDoc): Promise<MessageDoc> {
    let appended: ReturnType<ChangeLog['append']>;
    try {
      appended = this.log.append({ kind: MESSAGE_KIND, key: doc._id, body: doc });
    } catch (err) {
      // thrown after its commit (a listener of commits): the change is durable all the same
      if (!this.committed(doc)) throw err;
      this.keep([doc._id], err as Error);
      return doc;
    }
    if (!appended.version) throw new NotFoundError(`Message ${doc._id} has been deleted for good.`);
    await this.applied([doc._id], appended.applied);
    return doc;
  }

  /** Purges a message (a tombstone); false when there was nothing to purge. */
  async delete(id: string): Promise<boolean> {
    return (await this.deleteAll([id])) === 1;
  }

  /** Purges several messages in one transaction (one fsync); the number purged. */
  async deleteAll(ids: readonly string[]): Promise<number> {
    const live = ids.filter((id) => {
      const v = this.log.document(MESSAGE_KIND, id);
      return v !== undefined && !v.tombstone;
    });
    if (live.length === 0) return 0;
    const appended = this.log.appendMany(live.map((id) => ({ kind: MESSAGE_KIND, key: id, body: null })));
    await this.applied(live, Promise.all(appended.map((a) => a.applied)));
    return live.length;
  }

  /** Stops retrying (at close): what is left is applied at the next start, from the log. */
  close(): void {
    this.closed = true;
    this.stopListening();
    clearTimeout(this.retryTimer);
  }

  private committed(doc: MessageDoc): boolean {
    const v = this.log.document(MESSAGE_KIND, doc._id);
    return v !== undefined && !v.tombstone && JSON.stringify(v.body) === JSON.stringify(doc);
  }

  private async applied(ids: readonly string[], p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (err) {
      this.keep(ids, err as Error);
    }
  }

  /** Keeps committed changes the store did not take, readable by id until it has them. */
  private keep(ids: readonly string[], err: Error): void {
    for (const id of ids) {
      const v = this.log.document<MessageDoc>(MESSAGE_KIND, id);
      this.unapplied.set(id, v && !v.tombstone ? v.body : null);
    }
    this.stalled(err);
  }

  /**
   * Reports a failure and has the store caught up again. The report waits for the end of this
   * turn: the store's failure comes before its writer keeps what it missed, and one failure is
   * one report with the count that includes it.
   */
  private stalled(err: Error): void {
    if (this.closed) return;
    const first = this.stall === undefined;
    this.stall = err;
    if (!first) return;
    setImmediate(() => {
      const last = this.stall as Error;
      this.stall = undefined;
      if (this.closed) return;
      this.watch?.stalled(this.unapplied.size, last);
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retry();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private async retry(): Promise<void> {
    if (this.closed) return;
    const waiting = new Map(this.unapplied);
    let versions: VersionedDoc[];
    try {
      versions = await this.log.reapplyFailed(
        this.store.name,
        [...waiting.keys()].map((key) => ({ kind: MESSAGE_KIND, key })),
      );
    } catch (err) {
      // the store's own failure was reported by its listener; anything else is reported here
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      this.stalled(err as Error);
      return;
    }
    // kept again meanwhile (a later change of the same message failed too): it waits for the next round
    for (const [id, doc] of waiting) if (this.unapplied.get(id) === doc) this.unapplied.delete(id);
    for (const version of versions) this.watch?.reapplied(version);
    this.retryMs = RETRY_FIRST_MS;
    if (this.unapplied.size === 0 && !this.log.failing(this.store.name)) this.watch?.recovered();
    else this.scheduleRetry();
  }
}

/**
 * The vmail metadata, all of it written through the change log: the messages in their SQLite
 * store (LoggedMessages); mailboxes (with their greetings' metadata) and PIN guards as logged
 * document kinds, nedb collections that are write-ahead views of the log like users and tokens
 * (last-writer-wins: a mailbox number is made again after a delete). A write resolves once its
 * entry is committed (fsync'd) and its store applied it.
 *
 * Listing and counting read the message store's indexes and its counts table, which the log keeps
 * (every change, local or later a peer's, reaches it through the log). The message changes go on
 * the change feed from the log, in log order once the store applied them, with their position;
 * from them and the mailbox changes the MWI counts of a mailbox are published (collection `mwi`,
 * id `domain/mailbox`, not replicated: every site derives its own) whenever they change.
 */
export class VmailMetadata {
  private readonly lastMwi = new Map<string, string>();
  /** the store keys of this site's greetings per mailbox: what a peer's change of the mailbox drops */
  private readonly ownGreetings = new Map<string, Set<string>>();
  private readonly droppedListeners = new Set<(dropped: DroppedAudio) => void>();
  private readonly unsubscribe: (() => void)[];
  readonly messages: LoggedMessages;

  private constructor(
    readonly mailboxes: Collection<MailboxDoc>,
    readonly pinGuard: Collection<PinGuardDoc>,
    private readonly store: MessageStore,
    private readonly feed: ChangeFeed,
    log: ChangeLog,
    health: HealthReporter | undefined,
    logger: Logger,
    private readonly siteId: string,
  ) {
    const component = store.name;
    this.messages = new LoggedMessages(log, store, {
      stalled: (count, err) => {
        logger.error({ err, waiting: count }, 'the voicemail message store did not apply committed changes: they are kept and applied again');
        health?.degrade(component, `The voicemail message store cannot apply ${count > 0 ? `${count} committed change${count === 1 ? '' : 's'}` : 'committed changes'} (${err.message}); they are durable in the change log and readable by id, and are applied as soon as it can (listings and counts lack them until then).`);
      },
      recovered: () => {
        logger.info('the voicemail message store applied every committed change again');
        health?.recover(component);
      },
      // the log's listeners never heard of it: the counts it changed are published now
      reapplied: (version) => {
        const box = version.tombstone ? store.takeRemovedFrom(version.key) : (version.body as MessageDoc).box;
        if (box !== undefined) this.publishMwi(box);
      },
    });
    this.unsubscribe = [
      log.onApplied(({ entry, version }) => {
        if (version.kind !== MESSAGE_KIND) return;
        feed.publish({ collection: MESSAGE_KIND, op: version.tombstone ? 'delete' : 'put', id: version.key, doc: version.tombstone ? null : version.body, replicate: true, origin: entry.origin, seq: entry.seq });
      }),
      feed.subscribe((change) => this.onChange(change), { collections: [COLLECTIONS.messages, COLLECTIONS.mailboxes] }),
    ];
  }

  /**
   * Opens the collections (the document store, with the log attached, catches them up, rebuilds
   * or adopts them) and attaches the message store to the log: caught up, rebuilt when its file
   * is missing, or, in a data directory from before it, filled from the nedb file of the messages
   * and adopted into the log (that file is then renamed `<file>.migrated`).
   */
  static async open(args: { documents: DocumentStore; feed: ChangeFeed; log: ChangeLog; dataDir: string; logger: Logger; health?: HealthReporter; siteId: string }): Promise<VmailMetadata> {
    const { documents, feed, log, dataDir, logger } = args;
    const mailboxes = await documents.open<MailboxDoc>(COLLECTIONS.mailboxes, { indexes: [{ fieldName: 'domain' }] });
    const pinGuard = await documents.open<PinGuardDoc>(COLLECTIONS.pinGuard);
    const store = await openMessageStore(log, dataDir, logger);
    const meta = new VmailMetadata(mailboxes, pinGuard, store, feed, log, args.health, logger, args.siteId);
    for (const box of await mailboxes.find({})) {
      meta.lastMwi.set(box._id, JSON.stringify(toMwi(box.domain, box.number, store.counts(box._id))));
      meta.trackGreetings(box._id, box);
    }
    return meta;
  }

  /** Hears of this site's audio that a change of another site removed (see DroppedAudio). */
  onDroppedAudio(listener: (dropped: DroppedAudio) => void): () => void {
    this.droppedListeners.add(listener);
    return () => this.droppedListeners.delete(listener);
  }

  /** Stops listening and closes the message store (the log's later syncs find it durable). */
  async close(log: ChangeLog): Promise<void> {
    for (const u of this.unsubscribe) u();
    this.messages.close();
    await log.drained();
    this.store.close();
  }

  counts(domain: string, number: string): MessageCounts {
    return this.store.counts(boxKey(domain, number));
  }

  /** A page of a mailbox's messages, newest or oldest first. */
  page(domain: string, number: string, folder: ListFolder, order: 'newest' | 'oldest', offset: number, limit: number): { items: MessageDoc[]; total: number } {
    return this.store.page(boxKey(domain, number), folder, order, offset, limit);
  }

  /** Every message id of a mailbox. */
  messageIds(domain: string, number: string): string[] {
    return this.store.ids(boxKey(domain, number));
  }

  private onChange(change: Change): void {
    const byPeer = change.origin !== undefined && change.origin !== this.siteId;
    if (change.collection === COLLECTIONS.messages) {
      const removed = change.op === 'delete' ? this.store.takeRemoved(change.id) : undefined;
      const box = change.op === 'delete' ? removed?.box : (change.doc as MessageDoc).box;
      if (box !== undefined) this.publishMwi(box);
      // a purge written on another site of a message whose audio is here: the audio goes here
      if (removed && byPeer && removed.originSite === this.siteId) this.dropped({ box: removed.box, key: removed.audioKey, what: 'message', mailboxGone: false, by: change.origin as string });
    } else if (change.collection === COLLECTIONS.mailboxes) {
      const before = this.ownGreetings.get(change.id);
      const after = this.trackGreetings(change.id, change.op === 'delete' ? null : (change.doc as MailboxDoc));
      if (byPeer && before) for (const key of before) if (!after.has(key)) this.dropped({ box: change.id, key, what: 'greeting', mailboxGone: change.op === 'delete', by: change.origin as string });
      if (change.op === 'delete') {
        this.lastMwi.delete(change.id);
        this.feed.publish({ collection: COLLECTIONS.mwi, op: 'delete', id: change.id, doc: null, replicate: false });
      } else if (!this.lastMwi.has(change.id)) {
        this.publishMwi(change.id);
      }
    }
  }

  /** Keeps the store keys of this site's greetings of a mailbox; returns them. */
  private trackGreetings(box: string, doc: MailboxDoc | null): Set<string> {
    const keys = new Set<string>();
    for (const g of Object.values(doc?.greetings ?? {})) if (g.originSite === this.siteId) keys.add(g.storage.key);
    if (keys.size) this.ownGreetings.set(box, keys);
    else this.ownGreetings.delete(box);
    return keys;
  }

  private dropped(d: { box: string; key: string; what: DroppedAudio['what']; mailboxGone: boolean; by: string }): void {
    const slash = d.box.indexOf('/');
    const dropped: DroppedAudio = { domain: d.box.slice(0, slash), mailbox: d.box.slice(slash + 1), key: d.key, what: d.what, mailboxGone: d.mailboxGone, by: d.by };
    for (const l of this.droppedListeners) l(dropped);
  }

  private publishMwi(box: string): void {
    const slash = box.indexOf('/');
    const mwi = toMwi(box.slice(0, slash), box.slice(slash + 1), this.store.counts(box));
    const text = JSON.stringify(mwi);
    if (this.lastMwi.get(box) === text) return;
    this.lastMwi.set(box, text);
    this.feed.publish({ collection: COLLECTIONS.mwi, op: 'put', id: box, doc: mwi, replicate: false });
  }
}

/**
 * Opens the message store and attaches it to the log. In a data directory whose messages are
 * still in nedb (the store was never attached to this log), they are imported first, so that the
 * log adopts them; the nedb file is renamed once the log holds them.
 */
async function openMessageStore(log: ChangeLog, dataDir: string, logger: Logger): Promise<MessageStore> {
  const file = messageStoreFile(dataDir);
  let store: MessageStore;
  try {
    store = MessageStore.open(file);
  } catch (err) {
    throw new StartupError(`Cannot open the voicemail metadata ${file}: ${(err as Error).message}. Move it away to have it rebuilt from the change log.`);
  }
  const legacy = legacyMessagesFile(dataDir);
  try {
    const neverAttached = Object.keys(log.savedPosition(store.name)).length === 0;
    const imported = neverAttached ? await store.importLegacy(legacy) : 0;
    if (imported) logger.info({ from: legacy, messages: imported }, 'voicemail messages imported from nedb');
    const started = Date.now();
    const result = await log.attachView(store, { fresh: store.created && imported === 0 });
    store.forgetRemoved();
    logger.info({ file, how: result.how, documents: result.documents, ms: Date.now() - started }, 'voicemail metadata store attached to the change log');
  } catch (err) {
    store.close();
    throw new StartupError(`Cannot bring ${file} up to date from the change log: ${(err as Error).message}. Move it away to have it rebuilt from the log.`);
  }
  if (existsSync(legacy)) {
    if (store.importedFromNedb()) logger.info({ file: legacy, to: MessageStore.retireLegacy(legacy) }, 'the nedb file of the voicemail messages is in the change log now: renamed');
    else logger.warn({ file: legacy }, 'a nedb file of voicemail messages beside the SQLite store is ignored (it was not there when the store was made)');
  }
  return store;
}
