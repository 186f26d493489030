import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MessageCounts } from '../../shared/api/vmail.js';
import { StartupError } from '../errors.js';
import type { Change, ChangeFeed } from '../storage/changes.js';
import type { Collection, Doc, DocumentStore } from '../storage/documents.js';
import { boxKey, MessageListing, toMwi, type ListFolder, type MailboxDoc, type MessageDoc, type PinGuardDoc } from './core.js';
import { DatafileSync } from './datafile-sync.js';

export const COLLECTIONS = {
  mailboxes: 'vmail_mailboxes',
  messages: 'vmail_messages',
  pinGuard: 'vmail_pin_guard',
  /** not stored: the message-waiting counts published on the feed for the console */
  mwi: 'mwi',
} as const;

type Query = Record<string, unknown>;

/**
 * A collection whose writes are on the disk when they resolve: the audio of a message is fsync'd
 * before its metadata is written, and an answer (201) or the removal of an audio file must not
 * come before the metadata is durable too, or a power cut leaves audio the start-up check cannot
 * match to anything. Reads go straight to the collection.
 */
export class DurableCollection<T extends Doc> {
  constructor(
    private readonly collection: Collection<T>,
    private readonly file: DatafileSync,
  ) {}

  get name(): string {
    return this.collection.name;
  }

  get(id: string): Promise<T | null> {
    return this.collection.get(id);
  }

  find(query: Query = {}, opts: { sort?: Record<string, 1 | -1>; limit?: number; skip?: number } = {}): Promise<T[]> {
    return this.collection.find(query, opts);
  }

  async put(doc: T): Promise<T> {
    await this.collection.put(doc);
    await this.file.sync();
    return doc;
  }

  /** false when there was nothing to delete */
  async delete(id: string): Promise<boolean> {
    const removed = await this.collection.delete(id);
    if (removed) await this.file.sync();
    return removed;
  }

  /** Deletes several documents with one fsync for all of them; the number deleted. */
  async deleteAll(ids: readonly string[]): Promise<number> {
    let removed = 0;
    for (const id of ids) if (await this.collection.delete(id)) removed++;
    if (removed) await this.file.sync();
    return removed;
  }
}

/**
 * The vmail metadata in nedb: mailboxes, messages and PIN guards, each a Collection so every write
 * is a whole-document put or delete on the change feed (the replication log's input).
 *
 * Listing and counting go through the in-memory MessageListing, which is kept from the change feed
 * itself; from the same changes it publishes the MWI counts of a mailbox (collection `mwi`,
 * id `domain/mailbox`, not replicated: every site derives its own) whenever they change.
 */
export class VmailMetadata {
  private readonly listing = new MessageListing();
  private readonly lastMwi = new Map<string, string>();
  private readonly unsubscribe: () => void;

  private constructor(
    readonly mailboxes: DurableCollection<MailboxDoc>,
    readonly messages: DurableCollection<MessageDoc>,
    readonly pinGuard: DurableCollection<PinGuardDoc>,
    private readonly feed: ChangeFeed,
  ) {
    this.unsubscribe = feed.subscribe((change) => this.onChange(change));
  }

  /** `dbDir`: the directory of the document store's files (DocumentStore.directoryFor), each `<collection>.db`. */
  static async open(documents: DocumentStore, feed: ChangeFeed, dbDir: string): Promise<VmailMetadata> {
    const durable = async <T extends Doc>(collection: Collection<T>): Promise<DurableCollection<T>> => {
      const file = join(dbDir, `${collection.name}.db`);
      // The file nedb has just loaded must be the one fsync'd, or every sync would fail later.
      const found = await stat(file).then((s) => s.isFile(), () => false);
      if (!found) throw new StartupError(`The vmail metadata file ${file} is not where the document store keeps ${collection.name}.`);
      return new DurableCollection(collection, new DatafileSync(file));
    };
    const mailboxes = await durable(await documents.open<MailboxDoc>(COLLECTIONS.mailboxes, { indexes: [{ fieldName: 'domain' }] }));
    const messages = await durable(await documents.open<MessageDoc>(COLLECTIONS.messages, { indexes: [{ fieldName: 'box' }, { fieldName: 'folder' }] }));
    const pinGuard = await durable(await documents.open<PinGuardDoc>(COLLECTIONS.pinGuard));
    const meta = new VmailMetadata(mailboxes, messages, pinGuard, feed);
    for (const doc of await messages.find({})) meta.listing.apply(doc._id, doc);
    for (const box of await mailboxes.find({})) meta.lastMwi.set(box._id, JSON.stringify(toMwi(box.domain, box.number, meta.listing.counts(box._id))));
    return meta;
  }

  close(): void {
    this.unsubscribe();
  }

  counts(domain: string, number: string): MessageCounts {
    return this.listing.counts(boxKey(domain, number));
  }

  /** A page of a mailbox's messages, in the listing's order. */
  async page(domain: string, number: string, folder: ListFolder, order: 'newest' | 'oldest', offset: number, limit: number): Promise<{ items: MessageDoc[]; total: number }> {
    const { ids, total } = this.listing.page(boxKey(domain, number), folder, order, offset, limit);
    if (ids.length === 0) return { items: [], total };
    const docs = await this.messages.find({ _id: { $in: ids } });
    const byId = new Map(docs.map((d) => [d._id, d]));
    return { items: ids.map((id) => byId.get(id)).filter((d): d is MessageDoc => d !== undefined), total };
  }

  /** Every message id of a mailbox. */
  messageIds(domain: string, number: string): string[] {
    return this.listing.ids(boxKey(domain, number));
  }

  private onChange(change: Change): void {
    if (change.collection === COLLECTIONS.messages) {
      for (const box of this.listing.apply(change.id, change.doc as MessageDoc | null)) this.publishMwi(box);
    } else if (change.collection === COLLECTIONS.mailboxes) {
      if (change.op === 'delete') {
        this.lastMwi.delete(change.id);
        this.feed.publish({ collection: COLLECTIONS.mwi, op: 'delete', id: change.id, doc: null, replicate: false });
      } else if (!this.lastMwi.has(change.id)) {
        this.publishMwi(change.id);
      }
    }
  }

  private publishMwi(box: string): void {
    const slash = box.indexOf('/');
    const mwi = toMwi(box.slice(0, slash), box.slice(slash + 1), this.listing.counts(box));
    const text = JSON.stringify(mwi);
    if (this.lastMwi.get(box) === text) return;
    this.lastMwi.set(box, text);
    this.feed.publish({ collection: COLLECTIONS.mwi, op: 'put', id: box, doc: mwi, replicate: false });
  }
}
