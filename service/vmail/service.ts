import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { PartitionResult } from '../../shared/api/roles.js';
import type { ByteRange, MediaRef } from '../../shared/sync/media.js';
import type { ResolvedInstance } from '../config/roles.js';
import {
  DepositFields,
  GREETING_KINDS,
  VMAIL_LIMITS,
  type GreetingChoice,
  type GreetingInfo,
  type GreetingKind,
  type Mailbox,
  type MailboxCreate,
  type MailboxList,
  type MailboxPatch,
  type Message,
  type MessageList,
  type MessagePatch,
  type MessageQuery,
  type Mwi,
  type MwiList,
  type QuarantineList,
  type QuarantineRestore,
  type StoragePointer,
} from '../../shared/api/vmail.js';
import { hashSecret, verifySecret } from '../auth/passwords.js';
import { AppError, ConflictError, NotFoundError, RateLimitedError, UnavailableError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { validator } from '../validation.js';
import {
  afterWrongPin,
  audioFormatOf,
  boxKey,
  byNumber,
  checksumOf,
  chooseGreeting,
  CONTENT_TYPE_WAV,
  depositContent,
  depositKeyLive,
  depositRetry,
  lockRemainingSec,
  toGreeting,
  newMailboxDoc,
  newMessageDoc,
  patchMailboxDoc,
  patchMessageDoc,
  purgeDue,
  toMailbox,
  toMessage,
  toMwi,
  undeleteFolder,
  type DepositContent,
  type MailboxDoc,
  type MessageDoc,
} from './core.js';
import type { FileStore } from './fsstore.js';
import type { Notifier } from './mailer.js';
import type { DroppedAudio, VmailMetadata } from './metadata.js';
import type { VmailMetrics } from './metrics.js';
import type { Quarantine } from './quarantine.js';
import type { LiveStore } from './repair.js';
import { greetingKey, isMailboxNumber, messageKey, storeDomain } from './paths.js';
import { remoteFailure, streamCutReason, type RemoteAudio, type ServedAudio } from './remote.js';
import { hashWav, receiveWav, TooLargeError, type Received } from './upload.js';

/** Which vmail group and instance serve a domain (the configuration's partitioning), or why none can. */
export interface VmailPartition {
  lookup(roletype: 'vmail', domain: string | null): PartitionResult | string;
  /** every instance of the configuration, on every site (who may read a domain's audio) */
  resolved(): readonly Pick<ResolvedInstance, 'roletype' | 'group' | 'site' | 'enabled'>[];
}

/** What the service needs of a running vmail instance (instance.ts). */
export interface VmailRuntime {
  readonly name: string;
  readonly store: FileStore;
  readonly quarantine: Quarantine;
  readonly notifier: Notifier;
}

/**
 * How an upload's body is read: the route hands the audio's bytes to `onFile` as they arrive and
 * returns the form's text fields (none for a raw audio/wav body). A file `onFile` has finished
 * when the upload is refused after all goes to `discard`.
 */
export type AudioIntake = <T>(onFile: (audio: AsyncIterable<Buffer>) => Promise<T>, discard: (file: T) => Promise<void>) => Promise<{ fields: Record<string, string>; file: T }>;

/** A deposit's answer: its message, and whether it was stored by an earlier try with the same Idempotency-Key. */
export interface DepositResult {
  message: Message;
  replayed: boolean;
}

/**
 * A stored audio file ready to be streamed. `open` resolves once the bytes can come (for audio of
 * another site: once its origin said it sends them), so a refusal is an error answer, not a cut
 * response.
 */
export interface AudioFile {
  size: number;
  contentType: string;
  filename: string;
  open(range?: ByteRange): Promise<Readable>;
}

/** Runs one task at a time per key (a mailbox): read-modify-write of its documents never interleaves. */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

const depositFields = validator(DepositFields);

export interface VmailServiceDeps {
  meta: VmailMetadata;
  config: VmailPartition;
  siteId: string;
  metrics: VmailMetrics;
  log: Logger;
  /** the audio other sites hold (the links to them); without it, only this site's audio plays */
  remote?: RemoteAudio;
  now?: () => Date;
}

/**
 * The vmail role as the API sees it (design section 5). Each request's domain is routed to the
 * active instance of the vmail group serving it, which must run on this site; the metadata is
 * the site's (through the change log), the audio is in that instance's file store.
 */
export class VmailService {
  private readonly running = new Map<string, VmailRuntime>();
  private readonly locks = new KeyedMutex();
  /** the Idempotency-Keys of deposits under way, as `mailbox id, key` */
  private readonly depositKeys = new Set<string>();
  /** deposits and forwards under way per mailbox: they count against maxMessages */
  private readonly reserved = new Map<string, number>();
  /** store keys being written or removed now, with how many writers (the store check leaves them alone) */
  private readonly busyKeys = new Map<string, number>();
  /** audio files that matched their checksum, as `key, size, mtime` (insertion order: the oldest goes first) */
  private readonly verified = new Set<string>();
  private readonly meta: VmailMetadata;
  private readonly now: () => Date;

  constructor(private readonly deps: VmailServiceDeps) {
    this.meta = deps.meta;
    this.now = deps.now ?? (() => new Date());
    this.meta.onDroppedAudio((dropped) => void this.removeDropped(dropped));
  }

  /**
   * A change written on another site removed audio this site holds (a purge of one of its
   * messages, its greeting replaced, its mailbox deleted): the origin removes the file, as it
   * does for the same change made here. Without an instance of the domain's group here, the file
   * stays, and the next start's store check moves it into the quarantine.
   */
  private async removeDropped(d: DroppedAudio): Promise<void> {
    let runtime: VmailRuntime;
    try {
      runtime = this.route(d.domain).runtime;
    } catch (err) {
      this.deps.log.warn({ err, key: d.key, by: d.by }, 'audio removed by another site’s change stays in the store: no instance here serves its domain (the store check quarantines it at the next start)');
      return;
    }
    try {
      await this.locks.run(boxKey(d.domain, d.mailbox), () =>
        this.holding([d.key], async () => {
          await runtime.store.remove(d.key);
          if (d.mailboxGone) await runtime.store.pruneMailboxDir(d.domain, d.mailbox);
        }),
      );
      this.deps.log.info({ key: d.key, what: d.what, by: d.by }, `the audio of a ${d.what} another site removed is removed from this site's store`);
    } catch (err) {
      this.deps.log.error({ err, key: d.key }, 'removing audio another site’s change removed failed (the store check quarantines it at the next start)');
    }
  }

  /** What the store check of an instance needs of the live service (repair.ts). */
  liveStore(runtime: VmailRuntime): LiveStore {
    return {
      busy: (key) => this.busyKeys.has(key),
      locked: (box, task) => this.locks.run(box, task),
      quarantineDamaged: (doc) => this.quarantineDamaged(runtime, doc),
      quarantineDamagedGreeting: (box, key) => this.quarantineDamagedGreeting(runtime, box, key),
    };
  }

  /** Marks store keys busy while `task` writes or removes them (from before the temp file until the metadata is applied). */
  private async holding<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    for (const k of keys) this.busyKeys.set(k, (this.busyKeys.get(k) ?? 0) + 1);
    try {
      return await task();
    } finally {
      for (const k of keys) {
        const left = (this.busyKeys.get(k) ?? 1) - 1;
        if (left > 0) this.busyKeys.set(k, left);
        else this.busyKeys.delete(k);
      }
    }
  }

  register(runtime: VmailRuntime): void {
    this.running.set(runtime.name, runtime);
  }

  unregister(runtime: VmailRuntime): void {
    if (this.running.get(runtime.name) === runtime) this.running.delete(runtime.name);
  }

  /**
   * The instance on this site that serves a domain, and the domain as stored; or a clear refusal.
   * A voicemail "is hosted on the site from which the request originated" (the vmail role's
   * seed): a site with an instance of the domain's group serves the requests it receives, with
   * its own store, also while the group's active instance runs on another site (the active one
   * first when it runs here).
   */
  route(domainInput: string): { domain: string; runtime: VmailRuntime; group: number } {
    const p = this.deps.config.lookup('vmail', domainInput);
    if (typeof p === 'string') throw new ValidationError(`The domain "${domainInput}" ${p}.`, [{ path: '/domain', message: p }]);
    const domain = storeDomain(p.domain);
    if (domain === undefined || domain !== p.domain) throw new ValidationError(`The domain "${domainInput}" is not a valid domain name.`, [{ path: '/domain', message: 'is not a valid domain name' }]);
    if (p.group === null) {
      throw new NotFoundError(`No vmail group serves the domain ${domain}: add it (or a parent domain) to a vmail group's include_domains, or keep a default vmail group.`);
    }
    const runtime = (p.active !== null ? this.running.get(p.active) : undefined) ?? p.instances.map((n) => this.running.get(n)).find((r) => r !== undefined);
    if (!runtime) {
      if (p.active === null) throw new UnavailableError(`vmail group ${p.group}, which serves ${domain}, has no active instance.`);
      throw new UnavailableError(`The active instance ${p.active} of vmail group ${p.group}, which serves ${domain}, does not run on this site, and no other instance of the group does.`);
    }
    return { domain, runtime, group: p.group };
  }

  // ---- mailboxes -----------------------------------------------------------------------------

  async listMailboxes(domainInput: string): Promise<MailboxList> {
    const { domain } = this.route(domainInput);
    const docs = await this.meta.mailboxes.find({ domain });
    docs.sort(byNumber);
    const guards = new Map((await this.meta.pinGuard.find({ _id: { $in: docs.map((d) => d._id) } })).map((g) => [g._id, g]));
    const now = this.now();
    const items = docs.map((d) => toMailbox(d, this.meta.counts(d.domain, d.number), guards.get(d._id) ?? null, now, this.greetingPlayable));
    return { items, total: items.length };
  }

  async getMailbox(domainInput: string, number: string): Promise<Mailbox> {
    const { domain } = this.route(domainInput);
    return this.view(await this.requireMailbox(domain, number));
  }

  async createMailbox(domainInput: string, input: MailboxCreate): Promise<Mailbox> {
    const { domain } = this.route(domainInput);
    const pinHash = input.pin !== undefined ? await hashSecret(input.pin) : null;
    return this.locks.run(`domain:${domain}`, async () => {
      // Unique ignoring case: the number is a directory name, and some file systems fold case.
      const clash = (await this.meta.mailboxes.find({ domain })).find((m) => m.number.toLowerCase() === input.number.toLowerCase());
      if (clash) throw new ConflictError(`Mailbox ${clash.number} already exists in ${domain}${clash.number !== input.number ? ` (numbers are unique ignoring case)` : ''}.`, [{ path: '/number', message: 'is taken' }]);
      const doc = newMailboxDoc(input, domain, pinHash, this.now());
      await this.meta.mailboxes.put(doc);
      this.deps.log.info({ mailbox: doc._id }, 'mailbox created');
      return this.view(doc);
    });
  }

  async patchMailbox(domainInput: string, number: string, patch: MailboxPatch): Promise<Mailbox> {
    const { domain } = this.route(domainInput);
    const { pin, ...rest } = patch;
    const pinHash = pin === undefined ? undefined : pin === null ? null : await hashSecret(pin);
    const id = boxKey(domain, number);
    return this.locks.run(id, async () => {
      const doc = patchMailboxDoc(await this.requireMailbox(domain, number), rest, pinHash, this.now());
      await this.meta.mailboxes.put(doc);
      // A PIN set by the admin ends a lockout.
      if (pinHash !== undefined) await this.meta.pinGuard.delete(id);
      return this.view(doc);
    });
  }

  /** Removes a mailbox with its messages and greetings: messages first, the mailbox last, so a crash leaves no orphan. */
  async deleteMailbox(domainInput: string, number: string): Promise<void> {
    const { domain, runtime } = this.route(domainInput);
    const id = boxKey(domain, number);
    await this.locks.run(id, async () => {
      const doc = await this.requireMailbox(domain, number);
      const ids = this.meta.messageIds(domain, number);
      const messages = ids.map((messageId) => this.meta.messages.get(messageId)).filter((m): m is MessageDoc => m !== null);
      const keys = [...messages.map((m) => m.storage.key), ...Object.values(doc.greetings).map((g) => g.storage.key)];
      await this.holding(keys, async () => {
        // One log transaction (one fsync) for all the metadata, then the files (the order of purge(), in bulk).
        await this.meta.messages.deleteAll(messages.map((m) => m._id));
        for (const m of messages) {
          if (m.originSite === this.deps.siteId) await runtime.store.remove(m.storage.key);
          this.deps.metrics.purged.inc({ reason: 'mailbox_deleted' });
        }
        await this.meta.mailboxes.delete(id);
        await this.meta.pinGuard.delete(id);
        for (const g of Object.values(doc.greetings)) if (g.originSite === this.deps.siteId) await runtime.store.remove(g.storage.key);
      });
      await runtime.store.pruneMailboxDir(domain, number);
      this.deps.log.info({ mailbox: id, messages: ids.length }, 'mailbox deleted');
    });
  }

  /**
   * The media server's PIN check. Wrong PINs are counted per mailbox (persisted); the fifth in a
   * row locks the mailbox for 15 minutes, during which every check is 429 with Retry-After, the
   * right PIN included. Checks of one mailbox run one at a time so parallel guesses count too.
   */
  async checkPin(domainInput: string, number: string, pin: string): Promise<void> {
    const { domain } = this.route(domainInput);
    const id = boxKey(domain, number);
    await this.locks.run(`pin:${id}`, async () => {
      const mailbox = await this.requireMailbox(domain, number);
      if (mailbox.pinHash === null) {
        this.deps.metrics.pinChecks.inc({ result: 'no_pin' });
        throw new ConflictError(`Mailbox ${number} has no PIN; set one first.`);
      }
      const guard = await this.meta.pinGuard.get(id);
      const now = this.now();
      const locked = lockRemainingSec(guard, now);
      if (locked > 0) {
        this.deps.metrics.pinChecks.inc({ result: 'locked' });
        throw new RateLimitedError(`Mailbox ${number} is locked after repeated wrong PINs; try again in ${Math.ceil(locked / 60)} min.`, locked);
      }
      if (await verifySecret(pin, mailbox.pinHash)) {
        if (guard) await this.meta.pinGuard.delete(id);
        this.deps.metrics.pinChecks.inc({ result: 'ok' });
        return;
      }
      const next = afterWrongPin(id, guard, now);
      await this.meta.pinGuard.put(next);
      this.deps.metrics.pinChecks.inc({ result: 'wrong' });
      this.deps.log.warn({ mailbox: id, failures: next.failures, lockedUntil: next.lockedUntil }, 'wrong voicemail PIN');
      if (next.lockedUntil) {
        throw new RateLimitedError(`Wrong PIN for mailbox ${number}; it is now locked for ${VMAIL_LIMITS.pinLockoutSeconds / 60} min after ${next.failures} wrong PINs in a row.`, VMAIL_LIMITS.pinLockoutSeconds);
      }
      const left = VMAIL_LIMITS.pinFailures - next.failures;
      throw new AppError(401, 'unauthorized', `Wrong PIN for mailbox ${number}; ${left} more wrong ${left === 1 ? 'PIN locks' : 'PINs lock'} it for ${VMAIL_LIMITS.pinLockoutSeconds / 60} min.`);
    });
  }

  // ---- messages ------------------------------------------------------------------------------

  async listMessages(domainInput: string, number: string, q: MessageQuery): Promise<MessageList> {
    const { domain } = this.route(domainInput);
    await this.requireMailbox(domain, number);
    const { items, total } = this.meta.page(domain, number, q.folder ?? 'inbox', q.order ?? 'newest', q.offset ?? 0, q.limit ?? VMAIL_LIMITS.listDefault);
    return { items: items.map((d) => this.message(d)), total, counts: this.meta.counts(domain, number) };
  }

  async getMessage(domainInput: string, number: string, id: string): Promise<Message> {
    const { domain } = this.route(domainInput);
    return this.message(await this.requireMessage(domain, number, id));
  }

  /**
   * A media server's deposit. Refused before the body is read when the mailbox is full (new and
   * saved, plus deposits under way, reach maxMessages); refused as soon as the WAV header has
   * streamed in when the audio is not acceptable or lasts longer than maxMessageSeconds. The audio
   * is durable before its metadata is written, so a crash in between leaves only a file that the
   * start-up check removes.
   *
   * With an Idempotency-Key (scope: the mailbox), a deposit whose first try was stored less than
   * DEPOSIT_KEY_LIMITS.hours ago is answered with that message (`replayed`) once its body has been
   * read and found the same (audio and fields): nothing is stored again, nobody is e-mailed
   * again, and a full mailbox does not refuse it. The key is in the message's own log entry, so a
   * retry after a crash, or on a site the message has reached, finds it too.
   */
  async deposit(domainInput: string, number: string, intake: AudioIntake, opts: { idempotencyKey?: string | undefined } = {}): Promise<DepositResult> {
    const started = process.hrtime.bigint();
    let result = 'error';
    try {
      const { domain, runtime } = this.route(domainInput);
      const mailbox = await this.requireMailbox(domain, number);
      const key = opts.idempotencyKey;
      const outcome = key === undefined ? await this.depositOnce(runtime, mailbox, intake) : await this.withDepositKey(mailbox, key, () => this.depositOnce(runtime, mailbox, intake, key));
      const { message } = outcome;
      if (outcome.replayed) {
        result = 'replayed';
        this.deps.log.info({ mailbox: mailbox._id, messageId: message.id }, 'a deposit retried with its Idempotency-Key: answered with the message it stored');
        return outcome;
      }
      result = 'stored';
      this.deps.log.info({ mailbox: mailbox._id, messageId: message.id, durationMs: message.durationMs, bytes: message.storage.size }, 'voicemail deposited');
      runtime.notifier.notify({ mailbox, message, audioPath: runtime.store.pathOf(message.storage.key) });
      return outcome;
    } catch (err) {
      result = depositResult(err);
      throw err;
    } finally {
      this.deps.metrics.deposits.inc({ result });
      this.deps.metrics.depositSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** One deposit's body: stored as a new message, or (its key's first try stored already) compared with that one. */
  private async depositOnce(runtime: VmailRuntime, mailbox: MailboxDoc, intake: AudioIntake, idempotencyKey?: string): Promise<DepositResult> {
    const { domain, number } = mailbox;
    const limits = {
      maxBytes: VMAIL_LIMITS.uploadBytes,
      maxDuration: { seconds: mailbox.maxMessageSeconds, what: 'message', sentence: `mailbox ${number} takes messages of at most ${mailbox.maxMessageSeconds} s` },
    };
    const now = this.now();
    const earlier = idempotencyKey === undefined ? null : this.meta.messages.byDepositKey(mailbox._id, idempotencyKey);
    if (earlier !== null && depositKeyLive(earlier, now)) {
      // read through the same checks, hashed and dropped: what was stored is compared, not stored again
      const { fields, file } = await intake((audio) => hashWav(audio, limits), async () => undefined);
      const retry = depositRetry(earlier, depositContent(depositFields.parse(fields, 'The form'), file.sha256), now);
      if (retry.kind === 'mismatch') throw new DepositKeyReusedError(number, retry.message, retry.differs);
      if (retry.kind === 'replay') return { message: this.message(retry.message), replayed: true };
    }
    const message = await this.withSlot(mailbox, async () => {
      const id = randomUUID();
      const key = messageKey(domain, number, id);
      return this.holding([key], async () => {
        const { fields, file } = await intake((audio) => receiveWav(audio, { store: runtime.store, key, ...limits }), discardReceived);
        const doc = await this.commit(runtime, file, key, async () => {
          const content = depositContent(depositFields.parse(fields, 'The form'), file.sha256);
          return newMessageDoc(
            {
              id,
              domain,
              mailbox: number,
              urgent: content.urgent,
              callerName: content.callerName,
              callerNumber: content.callerNumber,
              callId: content.callId,
              durationMs: file.header.durationMs,
              format: audioFormatOf(file.header.format),
              originSite: this.deps.siteId,
              key,
              size: file.file.size,
              sha256: file.sha256,
              forwardedFrom: null,
              idempotencyKey,
            },
            this.now(),
          );
        });
        return this.message(doc);
      });
    });
    return { message, replayed: false };
  }

  /**
   * Runs a deposit holding its Idempotency-Key: a second deposit with the same key into the same
   * mailbox while the first is still being received is refused (503 with Retry-After: a temporary
   * condition, where the IETF draft has 409), so two tries never both store a message, and the
   * retry after it finds the first.
   */
  private async withDepositKey<T>(mailbox: MailboxDoc, key: string, task: () => Promise<T>): Promise<T> {
    const held = `${mailbox._id}\u0000${key}`;
    if (this.depositKeys.has(held)) throw new DepositKeyBusyError(mailbox.number);
    this.depositKeys.add(held);
    try {
      return await task();
    } finally {
      this.depositKeys.delete(held);
    }
  }

  async patchMessage(domainInput: string, number: string, id: string, patch: MessagePatch): Promise<Message> {
    const { domain } = this.route(domainInput);
    return this.locks.run(boxKey(domain, number), async () => {
      const doc = await this.requireMessage(domain, number, id);
      const next = patchMessageDoc(doc, patch, this.now());
      if (next) await this.meta.messages.put(next);
      return this.message(next ?? doc);
    });
  }

  async undelete(domainInput: string, number: string, id: string): Promise<Message> {
    const { domain } = this.route(domainInput);
    return this.locks.run(boxKey(domain, number), async () => {
      const doc = await this.requireMessage(domain, number, id);
      if (doc.folder !== 'deleted') return this.message(doc);
      const next = patchMessageDoc(doc, { folder: undeleteFolder(doc) }, this.now()) ?? doc;
      await this.meta.messages.put(next);
      return this.message(next);
    });
  }

  /** Soft delete (folder deleted, deletedAt), or with `purge` the message and its audio removed now. */
  async deleteMessage(domainInput: string, number: string, id: string, purgeNow: boolean): Promise<void> {
    const { domain, runtime } = this.route(domainInput);
    await this.locks.run(boxKey(domain, number), async () => {
      const doc = await this.requireMessage(domain, number, id);
      if (purgeNow) return this.purge(runtime, doc, 'request');
      const next = patchMessageDoc(doc, { folder: 'deleted' }, this.now());
      if (next) await this.meta.messages.put(next);
    });
  }

  /** Copies a message into another mailbox (same or another domain) as a new message there. */
  async forward(domainInput: string, number: string, id: string, target: { domain?: string | undefined; mailbox: string }, by: string): Promise<Message> {
    const from = this.route(domainInput);
    const source = await this.requireMessage(from.domain, number, id);
    const to = this.route(target.domain ?? from.domain);
    if (to.domain === from.domain && target.mailbox === number) throw new ValidationError('A message cannot be forwarded to its own mailbox.', [{ path: '/mailbox', message: 'is the message’s own mailbox' }]);
    const mailbox = await this.requireMailbox(to.domain, target.mailbox);
    const local = source.originSite === this.deps.siteId;
    if (source.audioMissing) throw this.missingError(source);
    // a message of another site is copied from its origin (the copy is this site's): refused here if that site is not connected
    const file = local ? undefined : this.remoteAudioFile(source.originSite, { kind: 'vmail-message', id }, source.storage, '', `The audio of message ${id}`);
    const message = await this.withSlot(mailbox, async () => {
      const newId = randomUUID();
      const key = messageKey(to.domain, target.mailbox, newId);
      return this.holding([key], async () => {
        const audio = file ? await file.open() : from.runtime.store.read(source.storage.key);
        const pending = await to.runtime.store.create(key).catch((err: unknown) => {
          audio.destroy();
          throw err;
        });
        const hash = createHash('sha256');
        try {
          for await (const chunk of audio) {
            hash.update(chunk as Buffer);
            await pending.write(chunk as Buffer);
          }
        } catch (err) {
          await pending.abort();
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`The audio of message ${id} is missing from the store.`);
          const cut = streamCutReason(err);
          if (cut) throw remoteFailure(`The audio of message ${id}`, source.originSite, cut, (err as Error).message);
          throw err;
        }
        const sha256 = hash.digest('hex');
        const expected = checksumOf(source.storage);
        if (expected !== null && expected !== sha256) {
          // a damaged original is not copied: it goes to the quarantine like one found at playback
          // (a remote one was checked by its origin, and by its stream, which fails rather than ending short of a match)
          await pending.abort();
          if (local) await this.quarantineDamaged(from.runtime, source);
          throw damagedError(source);
        }
        const doc = await this.commit(to.runtime, { file: pending }, key, async () =>
          newMessageDoc(
            {
              id: newId,
              domain: to.domain,
              mailbox: target.mailbox,
              urgent: source.urgent,
              callerName: source.callerName,
              callerNumber: source.callerNumber,
              callId: source.callId,
              durationMs: source.durationMs,
              format: source.format,
              originSite: this.deps.siteId,
              key,
              size: pending.size,
              sha256,
              forwardedFrom: { domain: from.domain, mailbox: number, messageId: id, by, at: this.now().toISOString() },
            },
            this.now(),
          ),
        );
        return this.message(doc);
      });
    });
    this.deps.log.info({ from: source.box, messageId: id, to: mailbox._id, copy: message.id, by }, 'voicemail forwarded');
    to.runtime.notifier.notify({ mailbox, message, audioPath: to.runtime.store.pathOf(message.storage.key) });
    return message;
  }

  async messageAudio(domainInput: string, number: string, id: string): Promise<AudioFile> {
    const { domain, runtime } = this.route(domainInput);
    const doc = await this.requireMessage(domain, number, id);
    if (doc.audioMissing) throw this.missingError(doc);
    const stamp = doc.createdAt.slice(0, 19).replace(/[:T]/g, '-');
    const filename = `voicemail-${doc.mailbox}-${stamp}-${doc._id.slice(0, 8)}.wav`;
    // a message recorded on another site streams from there (its origin checks its SHA-256)
    if (doc.originSite !== this.deps.siteId) return this.remoteAudioFile(doc.originSite, { kind: 'vmail-message', id: doc._id }, doc.storage, filename, `The audio of message ${id}`);
    await this.verifyAudio(runtime, doc);
    return this.audioFile(runtime.store, doc.storage.key, filename, `The audio of message ${id}`);
  }

  /**
   * For a peer site: the audio of this site's message or greeting that `ref` names, when the peer
   * serves its domain and this site's metadata describes the same file the peer's does; or why
   * not. The ref names metadata (a message id; a greeting by mailbox, kind and key), and the file
   * is found from this site's own metadata, never from a path the peer sent.
   */
  async audioForPeer(peerId: string, ref: MediaRef, expect: { size: number; sha256: string | null }): Promise<ServedAudio> {
    if (ref.kind === 'vmail-message') {
      const doc = this.meta.messages.get(ref.id);
      if (!doc) return { reason: 'not_found', message: `no message ${ref.id} on this site` };
      return this.serveAudio(peerId, doc, `message ${ref.id}`, expect, async (runtime) => {
        // the same check as a playback here: a file that does not match is quarantined, the message marked
        try {
          await this.verifyAudio(runtime, doc);
          return true;
        } catch (err) {
          if (err instanceof NotFoundError) return false;
          throw err;
        }
      });
    }
    const domain = storeDomain(ref.domain);
    const mailbox = domain !== undefined && isMailboxNumber(ref.mailbox) ? await this.meta.mailboxes.get(boxKey(domain, ref.mailbox)) : null;
    const g = mailbox?.greetings[ref.greeting];
    if (!mailbox || !g) return { reason: 'not_found', message: `no ${ref.greeting} greeting of mailbox ${ref.mailbox} of ${ref.domain} on this site` };
    if (g.storage.key !== ref.key) return { reason: 'changed', message: `the ${ref.greeting} greeting of mailbox ${ref.mailbox} was replaced` };
    return this.serveAudio(peerId, { ...g, domain: mailbox.domain, audioMissing: false }, `the ${ref.greeting} greeting of mailbox ${ref.mailbox}`, expect, async () => true);
  }

  private async serveAudio(
    peerId: string,
    held: { domain: string; originSite: string; storage: StoragePointer; audioMissing: boolean },
    what: string,
    expect: { size: number; sha256: string | null },
    intact: (runtime: VmailRuntime) => Promise<boolean>,
  ): Promise<ServedAudio> {
    if (held.originSite !== this.deps.siteId) return { reason: 'not_found', message: `${what} is held by site ${held.originSite}, not by this one` };
    if (!this.siteServes(peerId, held.domain)) return { reason: 'refused', message: `the asking site has no instance of the vmail group serving ${held.domain}` };
    if (held.audioMissing) return { reason: 'gone', message: `the audio of ${what} is missing from the store here` };
    if (held.storage.size !== expect.size || checksumOf(held.storage) !== expect.sha256) return { reason: 'changed', message: `the audio of ${what} here is of ${held.storage.size} bytes, SHA-256 ${checksumOf(held.storage) ?? 'unknown'}` };
    let runtime: VmailRuntime;
    try {
      runtime = this.route(held.domain).runtime;
    } catch (err) {
      return { reason: 'error', message: (err as Error).message };
    }
    if (!(await intact(runtime))) return { reason: 'damaged', message: `the audio of ${what} does not match its SHA-256: moved into the quarantine` };
    const size = await runtime.store.size(held.storage.key);
    if (size === undefined) return { reason: 'gone', message: `the audio of ${what} is missing from the store here` };
    if (size !== held.storage.size) return { reason: 'damaged', message: `the audio of ${what} is of ${size} bytes here, not the ${held.storage.size} it was received with` };
    return { size, read: (range) => runtime.store.read(held.storage.key, range) };
  }

  /** Whether a site has an (enabled) instance of the vmail group serving a domain: it holds that domain's metadata, and may read its audio. */
  private siteServes(siteId: string, domain: string): boolean {
    const p = this.deps.config.lookup('vmail', domain);
    if (typeof p === 'string' || p.group === null) return false;
    return this.deps.config.resolved().some((i) => i.roletype === 'vmail' && i.enabled && i.group === p.group && i.site === siteId);
  }

  /**
   * Audio another site holds, played from here: refused at once (503) while that site is not
   * connected; `open` asks the origin for the bytes (a range of them, or all).
   */
  private remoteAudioFile(origin: string, ref: MediaRef, storage: StoragePointer, filename: string, what: string): AudioFile {
    const remote = this.deps.remote;
    if (!remote?.connected(origin)) throw remoteFailure(what, origin, 'unreachable', 'no link');
    return {
      size: storage.size,
      contentType: CONTENT_TYPE_WAV,
      filename,
      open: async (range) => {
        const opened = await remote.open(origin, ref, { ...(range ? { range: { start: range.start, end: range.end } } : {}), expect: { size: storage.size, sha256: checksumOf(storage) } });
        if (!opened.ok) {
          this.deps.log.warn({ origin, ref, reason: opened.reason, detail: opened.message }, 'the audio of another site could not be streamed from it');
          throw remoteFailure(what, origin, opened.reason, opened.message);
        }
        return opened.stream;
      },
    };
  }

  /**
   * Before a message's audio is played: its bytes are hashed and compared with the SHA-256 taken
   * when it was received (a file of 20 MiB at most: tens of milliseconds). A file that matched is
   * not hashed again while its size and modification time stay the same (a player seeking sends
   * many range requests). One that does not match is moved into the quarantine and the message
   * marked audioMissing; the caller gets a 404 that says so. Audio stored before checksums were
   * kept is played unchecked.
   */
  private async verifyAudio(runtime: VmailRuntime, doc: MessageDoc): Promise<void> {
    if (await this.audioMatches(runtime, doc.storage)) return;
    await this.quarantineDamaged(runtime, doc);
    throw damagedError(doc);
  }

  /**
   * Whether a stored file still matches the SHA-256 taken when it was received; true when that
   * is unknown (stored before checksums) or the file is missing (audioFile answers 404). A file
   * that matched is remembered by key, size and modification time.
   */
  private async audioMatches(runtime: VmailRuntime, storage: StoragePointer): Promise<boolean> {
    const expected = checksumOf(storage);
    if (expected === null) return true;
    const sum = await runtime.store.checksum(storage.key);
    if (sum === undefined) return true;
    const stamp = `${storage.key}\u0000${sum.size}\u0000${sum.mtimeMs}`;
    if (this.verified.has(stamp)) return true;
    if (sum.sha256 !== expected) return false;
    this.verified.add(stamp);
    if (this.verified.size > VERIFIED_KEPT) this.verified.delete(this.verified.values().next().value as string);
    return true;
  }

  /** Moves the damaged audio of a message into the quarantine and marks the message audioMissing (under its mailbox's lock). */
  async quarantineDamaged(runtime: VmailRuntime, doc: MessageDoc): Promise<void> {
    await this.locks.run(doc.box, async () => {
      const current = this.meta.messages.get(doc._id);
      if (!current || current.audioMissing) return;
      const path = runtime.store.pathOf(current.storage.key);
      const entry = await runtime.quarantine.admit({ path, domain: current.domain, mailbox: current.mailbox, found: 'message', reason: 'checksum_mismatch' }, this.now());
      await this.meta.messages.put({ ...current, audioMissing: true });
      this.deps.metrics.repairs.inc({ kind: 'checksum_mismatch' });
      this.deps.log.error({ messageId: current._id, key: current.storage.key, quarantineId: entry.id, expected: checksumOf(current.storage) }, 'the audio of a message does not match its SHA-256: moved into the quarantine, the message marked audioMissing');
    });
  }

  /**
   * Moves a greeting's damaged file into the quarantine and marks the greeting audioMissing (every
   * kind that plays that file), under its mailbox's lock; nothing when it was replaced, removed or
   * marked meanwhile. The greeting stays in the mailbox, so the console shows what to upload again.
   */
  async quarantineDamagedGreeting(runtime: VmailRuntime, box: string, key: string): Promise<void> {
    await this.locks.run(box, async () => {
      const mailbox = await this.meta.mailboxes.get(box);
      const kinds = mailbox ? GREETING_KINDS.filter((k) => mailbox.greetings[k]?.storage.key === key && mailbox.greetings[k]?.audioMissing !== true) : [];
      if (!mailbox || kinds.length === 0) return;
      const entry = await runtime.quarantine.admit({ path: runtime.store.pathOf(key), domain: mailbox.domain, mailbox: mailbox.number, found: 'greeting', reason: 'checksum_mismatch' }, this.now());
      const greetings = { ...mailbox.greetings };
      for (const k of kinds) greetings[k] = { ...(greetings[k] as GreetingInfo), audioMissing: true };
      await this.meta.mailboxes.put({ ...mailbox, greetings, updatedAt: this.now().toISOString() });
      this.deps.metrics.repairs.inc({ kind: 'damaged_greeting' });
      this.deps.log.error({ mailbox: box, kinds, key, quarantineId: entry.id, expected: checksumOf((mailbox.greetings[kinds[0] as GreetingKind] as GreetingInfo).storage) }, 'a greeting does not match its SHA-256: moved into the quarantine, the greeting marked audioMissing');
    });
  }

  // ---- greetings -----------------------------------------------------------------------------

  /** Stores a greeting: the new file first, then the mailbox's pointer, then the old file goes. */
  async putGreeting(domainInput: string, number: string, kind: GreetingKind, intake: AudioIntake): Promise<GreetingInfo> {
    const { domain, runtime } = this.route(domainInput);
    const before = await this.requireMailbox(domain, number);
    const gid = randomUUID();
    const key = greetingKey(domain, number, gid);
    // the greeting it replaces is removed at the end: busy too, so the store check never takes it for an orphan
    return this.holding([key, ...Object.values(before.greetings).map((g) => g.storage.key)], async () => {
      const { file } = await intake(
        (audio) =>
          receiveWav(audio, {
            store: runtime.store,
            key,
            maxBytes: VMAIL_LIMITS.uploadBytes,
            maxDuration: { seconds: VMAIL_LIMITS.greetingSeconds, what: 'greeting', sentence: `greetings are at most ${VMAIL_LIMITS.greetingSeconds} s` },
          }),
        discardReceived,
      );
      let old: GreetingInfo | undefined;
      const info = await this.commit(
        runtime,
        file,
        key,
        async (): Promise<GreetingInfo> => ({
          kind,
          durationMs: file.header.durationMs,
          format: audioFormatOf(file.header.format),
          originSite: this.deps.siteId,
          storage: { handler: 'fs', key, size: file.file.size, contentType: CONTENT_TYPE_WAV, sha256: file.sha256 },
          updatedAt: this.now().toISOString(),
        }),
        (greeting) =>
          this.locks.run(boxKey(domain, number), async () => {
            const mailbox = await this.requireMailbox(domain, number);
            old = mailbox.greetings[kind];
            await this.meta.mailboxes.put({ ...mailbox, greetings: { ...mailbox.greetings, [kind]: greeting }, updatedAt: this.now().toISOString() });
          }),
      );
      const replaced = old as GreetingInfo | undefined;
      if (replaced && replaced.originSite === this.deps.siteId) await runtime.store.remove(replaced.storage.key);
      return toGreeting(info);
    });
  }

  async deleteGreeting(domainInput: string, number: string, kind: GreetingKind): Promise<void> {
    const { domain, runtime } = this.route(domainInput);
    const held = Object.values((await this.requireMailbox(domain, number)).greetings).map((g) => g.storage.key);
    await this.holding(held, async () => {
      const old = await this.locks.run(boxKey(domain, number), async () => {
        const mailbox = await this.requireMailbox(domain, number);
        const current = mailbox.greetings[kind];
        if (!current) throw new NotFoundError(`Mailbox ${number} has no ${kind} greeting.`);
        const greetings = { ...mailbox.greetings };
        delete greetings[kind];
        await this.meta.mailboxes.put({ ...mailbox, greetings, updatedAt: this.now().toISOString() });
        return current;
      });
      if (old.originSite === this.deps.siteId) await runtime.store.remove(old.storage.key);
    });
  }

  async greetingAudio(domainInput: string, number: string, kind: GreetingKind): Promise<AudioFile> {
    const { domain, runtime } = this.route(domainInput);
    const mailbox = await this.requireMailbox(domain, number);
    const g = mailbox.greetings[kind];
    if (!g) throw new NotFoundError(`Mailbox ${number} has no ${kind} greeting.`);
    const filename = `greeting-${number}-${kind}.wav`;
    if (g.audioMissing) throw damagedGreetingError(number, kind, 'was');
    if (g.originSite !== this.deps.siteId) return this.remoteAudioFile(g.originSite, { kind: 'vmail-greeting', domain, mailbox: number, greeting: kind, key: g.storage.key }, g.storage, filename, `The ${kind} greeting of mailbox ${number}`);
    if (!(await this.audioMatches(runtime, g.storage))) {
      await this.quarantineDamagedGreeting(runtime, mailbox._id, g.storage.key);
      throw damagedGreetingError(number, kind, 'is');
    }
    return this.audioFile(runtime.store, g.storage.key, filename, `The ${kind} greeting of mailbox ${number}`);
  }

  /** For the media server: the greeting to play now (temporary overrides), or 404 when none is set. */
  async greetingChoice(domainInput: string, number: string, situation: 'unavailable' | 'busy'): Promise<GreetingChoice> {
    const { domain } = this.route(domainInput);
    const mailbox = await this.requireMailbox(domain, number);
    const g = chooseGreeting(mailbox.greetings, situation);
    if (!g) throw new NotFoundError(`Mailbox ${number} has no ${situation} or temporary greeting: play the system greeting.`);
    return { ...toGreeting(g), available: g.audioMissing !== true && this.playable(g.originSite), audioUrl: `/api/v1/domains/${encodeURIComponent(domain)}/mailboxes/${encodeURIComponent(number)}/greetings/${g.kind}` };
  }

  // ---- message waiting -----------------------------------------------------------------------

  async mwi(domainInput: string, number: string): Promise<Mwi> {
    const { domain } = this.route(domainInput);
    await this.requireMailbox(domain, number);
    return toMwi(domain, number, this.meta.counts(domain, number));
  }

  async domainMwi(domainInput: string): Promise<MwiList> {
    const { domain } = this.route(domainInput);
    const docs = await this.meta.mailboxes.find({ domain });
    docs.sort(byNumber);
    return { items: docs.map((d) => toMwi(domain, d.number, this.meta.counts(domain, d.number))) };
  }

  // ---- quarantine ----------------------------------------------------------------------------

  /** What the start-up check could not match in a domain: the quarantined files, and the messages whose audio is missing. */
  async listQuarantine(domainInput: string): Promise<QuarantineList> {
    const { domain, runtime } = this.route(domainInput);
    const items = await runtime.quarantine.list(domain);
    const missing = this.meta.messages.store.missingAudio(domain, this.deps.siteId);
    return { items, total: items.length, missingAudio: missing.map((d) => this.message(d)) };
  }

  /**
   * Makes a quarantined file a new message of a mailbox (by default the one it was found in) when
   * it is audio we take. The file is moved, not copied: its metadata is recorded once it is in
   * place, and only then does its quarantine record go, so a crash at any point leaves the file
   * either a message or in the quarantine (found again at the next start).
   */
  async restoreQuarantined(domainInput: string, id: string, target: QuarantineRestore, by: string): Promise<Message> {
    const { domain, runtime } = this.route(domainInput);
    return this.locks.run(`quarantine:${domain}`, async () => {
      const entry = await runtime.quarantine.get(domain, id);
      if (!entry) throw new NotFoundError(`No quarantined file ${id} in ${domain}.`);
      const number = target.mailbox ?? entry.mailbox;
      const mailbox = isMailboxNumber(number) ? await this.meta.mailboxes.get(boxKey(domain, number)) : null;
      if (!mailbox) throw new NotFoundError(`No mailbox ${number} in ${domain}: restore the file into another mailbox.`);
      const message = await this.withSlot(mailbox, async () => {
        const messageId = randomUUID();
        const key = messageKey(domain, mailbox.number, messageId);
        return this.holding([key], async () => {
          const { header, size, sha256 } = await runtime.quarantine.release(entry, key);
          const doc = newMessageDoc(
            {
              id: messageId,
              domain,
              mailbox: mailbox.number,
              urgent: false,
              callerName: null,
              callerNumber: null,
              callId: null,
              durationMs: header.durationMs,
              format: audioFormatOf(header.format),
              originSite: this.deps.siteId,
              key,
              size,
              sha256,
              forwardedFrom: null,
            },
            // when the audio was recorded, so that it sorts among the messages of its time
            new Date(entry.modifiedAt),
          );
          try {
            await this.meta.messages.put(doc);
          } catch (err) {
            // the entry did not commit (a committed one never fails the put): the file goes back
            await runtime.quarantine.putBack(entry, key);
            throw err;
          }
          await runtime.quarantine.forget(entry);
          return this.message(doc);
        });
      });
      this.deps.log.info({ quarantineId: id, mailbox: mailbox._id, messageId: message.id, by }, 'quarantined file restored as a message');
      return message;
    });
  }

  async deleteQuarantined(domainInput: string, id: string, by: string): Promise<void> {
    const { domain, runtime } = this.route(domainInput);
    await this.locks.run(`quarantine:${domain}`, async () => {
      const entry = await runtime.quarantine.get(domain, id);
      if (!entry) throw new NotFoundError(`No quarantined file ${id} in ${domain}.`);
      await runtime.quarantine.remove(entry);
      this.deps.log.info({ quarantineId: id, domain, mailbox: entry.mailbox, fileName: entry.fileName, size: entry.size, by }, 'quarantined file deleted for good');
    });
  }

  // ---- jobs ----------------------------------------------------------------------------------

  /** Purges the deleted messages past their mailbox's retention that this instance holds. */
  async purgeExpired(runtime: VmailRuntime, serves: (domain: string) => boolean): Promise<number> {
    const now = this.now();
    // the light columns of the deleted messages; a whole document only for those due
    const deleted = this.meta.messages.store.deletedOf(this.deps.siteId);
    const retention = new Map<string, number>();
    let purged = 0;
    for (const doc of deleted) {
      if (!serves(doc.box.slice(0, doc.box.indexOf('/')))) continue;
      if (!retention.has(doc.box)) retention.set(doc.box, (await this.meta.mailboxes.get(doc.box))?.retentionDays ?? 0);
      if (!purgeDue({ folder: 'deleted', deletedAt: doc.deletedAt }, retention.get(doc.box) ?? 0, now)) continue;
      await this.locks.run(doc.box, async () => {
        const current = this.meta.messages.get(doc.id);
        if (current && purgeDue(current, retention.get(doc.box) ?? 0, this.now())) {
          await this.purge(runtime, current, 'retention');
          purged++;
        }
      });
    }
    if (purged) this.deps.log.info({ instance: runtime.name, purged }, 'deleted messages past their retention purged');
    return purged;
  }

  // ---- helpers -------------------------------------------------------------------------------

  private async view(doc: MailboxDoc): Promise<Mailbox> {
    return toMailbox(doc, this.meta.counts(doc.domain, doc.number), await this.meta.pinGuard.get(doc._id), this.now(), this.greetingPlayable);
  }

  /** Whether audio held by `site` can be played from here now: this site's, or a connected site's. */
  private playable(site: string): boolean {
    return site === this.deps.siteId || (this.deps.remote?.connected(site) ?? false);
  }

  private readonly greetingPlayable = (g: GreetingInfo): boolean => this.playable(g.originSite);

  /** A message as the API shows it, with whether its audio plays from here now. */
  private message(doc: MessageDoc): Message {
    return toMessage(doc, this.playable(doc.originSite));
  }

  private async requireMailbox(domain: string, number: string): Promise<MailboxDoc> {
    const doc = isMailboxNumber(number) ? await this.meta.mailboxes.get(boxKey(domain, number)) : null;
    if (!doc) throw new NotFoundError(`No mailbox ${number} in ${domain}.`);
    return doc;
  }

  private async requireMessage(domain: string, number: string, id: string): Promise<MessageDoc> {
    const doc = this.meta.messages.get(id);
    if (!doc || doc.domain !== domain || doc.mailbox !== number) throw new NotFoundError(`No message ${id} in mailbox ${number} of ${domain}.`);
    return doc;
  }

  private missingError(doc: MessageDoc): NotFoundError {
    const where = doc.originSite === this.deps.siteId ? 'the store' : `the store of site ${doc.originSite}, which holds it`;
    return new NotFoundError(`The audio of message ${doc._id} is missing from ${where}: the store check did not find it, or it did not match its SHA-256 and was moved into the quarantine.`);
  }

  private async audioFile(store: FileStore, key: string, filename: string, what: string): Promise<AudioFile> {
    const size = await store.size(key);
    if (size === undefined) {
      this.deps.log.error({ key }, 'audio file missing from the store');
      throw new NotFoundError(`${what} is missing from the store.`);
    }
    return { size, contentType: CONTENT_TYPE_WAV, filename, open: async (range) => store.read(key, range) };
  }

  /** Holds one of the mailbox's maxMessages slots while `task` runs; refuses when none is free. */
  private async withSlot<T>(mailbox: MailboxDoc, task: () => Promise<T>): Promise<T> {
    const counts = this.meta.counts(mailbox.domain, mailbox.number);
    const held = this.reserved.get(mailbox._id) ?? 0;
    if (counts.new + counts.saved + held >= mailbox.maxMessages) {
      throw new ConflictError(`Mailbox ${mailbox.number} is full: it holds ${counts.new + counts.saved}${held ? ` (+${held} arriving)` : ''} of ${mailbox.maxMessages} messages in new and saved. Delete some, or raise maxMessages.`);
    }
    this.reserved.set(mailbox._id, held + 1);
    try {
      return await task();
    } finally {
      const left = (this.reserved.get(mailbox._id) ?? 1) - 1;
      if (left > 0) this.reserved.set(mailbox._id, left);
      else this.reserved.delete(mailbox._id);
    }
  }

  /**
   * Puts a received file in place and then records it. `build` makes the metadata (it may refuse,
   * and the file is dropped); `record` stores it (by default as a message). A failure to record
   * removes the file again, so metadata never points at nothing and no file outlives its refusal.
   */
  private async commit<D>(runtime: VmailRuntime, received: Pick<Received, 'file'>, key: string, build: () => Promise<D>, record?: (doc: D) => Promise<void>): Promise<D> {
    let doc: D;
    try {
      doc = await build();
    } catch (err) {
      await received.file.abort();
      throw err;
    }
    try {
      await received.file.commit();
    } catch (err) {
      await received.file.abort();
      throw err;
    }
    try {
      if (record) await record(doc);
      else await this.meta.messages.put(doc as MessageDoc);
    } catch (err) {
      // The metadata did not commit (once it has, the write does not fail: metadata.ts): no file without it.
      await runtime.store.remove(key).catch(() => undefined);
      throw err;
    }
    return doc;
  }

  /** Metadata first, then the file: a crash in between leaves an orphan file, removed at start. */
  private async purge(runtime: VmailRuntime, doc: MessageDoc, reason: 'retention' | 'request'): Promise<void> {
    await this.holding([doc.storage.key], async () => {
      await this.meta.messages.delete(doc._id);
      if (doc.originSite === this.deps.siteId) await runtime.store.remove(doc.storage.key);
    });
    this.deps.metrics.purged.inc({ reason });
  }
}

/** How many files playback remembers as verified (by key, size and modification time). */
const VERIFIED_KEPT = 10_000;

function damagedError(doc: MessageDoc): NotFoundError {
  return new NotFoundError(`The audio of message ${doc._id} does not match the SHA-256 taken when it was received: it was moved into the quarantine of ${doc.domain}, and the message is marked audioMissing.`);
}

function damagedGreetingError(number: string, kind: GreetingKind, tense: 'is' | 'was'): NotFoundError {
  return tense === 'is'
    ? new NotFoundError(`The ${kind} greeting of mailbox ${number} does not match the SHA-256 taken when it was uploaded: it was moved into the quarantine and marked audioMissing; upload it again.`)
    : new NotFoundError(`The ${kind} greeting of mailbox ${number} was found damaged (its audio did not match its SHA-256) and moved into the quarantine; upload it again.`);
}

/** A received file whose upload was refused after it was whole: its temp file and descriptor go. */
const discardReceived = (received: Received): Promise<void> => received.file.abort();

/**
 * 503 with Retry-After: a deposit with the same Idempotency-Key into the same mailbox is still
 * being received. A temporary condition (the project's rule: 503, never a permanent-looking
 * 4xx): the same request succeeds once the first is stored, answered with its message.
 */
export class DepositKeyBusyError extends UnavailableError {
  constructor(number: string) {
    super(`A deposit into mailbox ${number} with this Idempotency-Key is still being received: try again in a moment; once it is stored, a retry is answered with its message.`, 1, [{ path: '/Idempotency-Key', message: 'belongs to a deposit under way' }]);
  }
}

const CONTENT_NAMES: Record<keyof DepositContent, string> = { sha256: 'the audio', urgent: 'urgent', callerName: 'callerName', callerNumber: 'callerNumber', callId: 'callId' };

/** 422 (the IETF draft's): the Idempotency-Key was used for another deposit into the mailbox. */
export class DepositKeyReusedError extends AppError {
  constructor(number: string, earlier: MessageDoc, differs: readonly (keyof DepositContent)[]) {
    super(
      422,
      'conflict',
      `This Idempotency-Key was used for another deposit into mailbox ${number} (message ${earlier._id}, at ${earlier.createdAt}): this one differs in ${differs.map((d) => CONTENT_NAMES[d]).join(', ')}. A retry sends the same audio and fields; a new message needs a new key.`,
      [{ path: '/Idempotency-Key', message: `was used for message ${earlier._id}, which differs in ${differs.map((d) => CONTENT_NAMES[d]).join(', ')}` }],
    );
  }
}

function depositResult(err: unknown): string {
  if (!(err instanceof AppError)) return 'error';
  if (err instanceof DepositKeyBusyError) return 'key_busy';
  if (err instanceof DepositKeyReusedError) return 'key_reused';
  if (err instanceof TooLargeError) return err.reason === 'duration' ? 'too_long' : 'too_large';
  if (err.status === 409) return 'full';
  if (err.status === 404) return 'not_found';
  if (err.status === 400) return 'invalid';
  return 'error';
}
