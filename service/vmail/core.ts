import {
  DEPOSIT_KEY_LIMITS,
  GREETING_KINDS,
  MAILBOX_DEFAULTS,
  VMAIL_LIMITS,
  type AudioFormat,
  type Folder,
  type ForwardedFrom,
  type GreetingInfo,
  type GreetingKind,
  type GreetingView,
  type Mailbox,
  type MailboxCreate,
  type MailboxPatch,
  type Message,
  type MessageCounts,
  type MessagePatch,
  type Mwi,
  type NotifyMode,
  type StoragePointer,
} from '../../shared/api/vmail.js';
import type { Doc } from '../storage/documents.js';
import type { WavFormat } from './wav.js';

/**
 * The vmail role's pure core: the stored documents, how requests change them, which greeting
 * plays, and the PIN lockout. No I/O here; the service (service.ts) is the edge.
 */

export const CONTENT_TYPE_WAV = 'audio/wav';

/** A mailbox (collection `vmail_mailboxes`), `_id` = `domain/number`. */
export interface MailboxDoc extends Doc {
  domain: string;
  number: string;
  name: string;
  /** scrypt hash (auth/passwords.ts); null when no PIN is set */
  pinHash: string | null;
  email: string | null;
  maxMessages: number;
  maxMessageSeconds: number;
  retentionDays: number;
  notify: NotifyMode;
  greetings: Partial<Record<GreetingKind, GreetingInfo>>;
  createdAt: string;
  updatedAt: string;
}

/** A message's metadata (collection `vmail_messages`), `_id` = the message id; `available` is the site's view of it, not stored. */
export interface MessageDoc extends Doc, Omit<Message, 'id' | 'available'> {
  /** `domain/mailbox`: the indexed key of the mailbox */
  box: string;
  /** where an undelete puts the message back */
  folderBeforeDelete: Folder | null;
  /**
   * the Idempotency-Key of the deposit that made it (absent without one): kept in the message's
   * own entry, so it is as durable as the message and travels with it to the peers
   */
  idempotencyKey?: string;
}

/** Consecutive wrong PINs of a mailbox (collection `vmail_pin_guard`), `_id` = the mailbox's. */
export interface PinGuardDoc extends Doc {
  failures: number;
  lockedUntil: string | null;
  lastFailureAt: string | null;
}

export const boxKey = (domain: string, number: string): string => `${domain}/${number}`;

export function audioFormatOf(f: WavFormat): AudioFormat {
  return { encoding: f.encoding, sampleRate: f.sampleRate, channels: f.channels };
}

export function emptyCounts(): MessageCounts {
  return { new: 0, saved: 0, deleted: 0, urgent: 0 };
}

export function newMailboxDoc(input: MailboxCreate, domain: string, pinHash: string | null, now: Date): MailboxDoc {
  const at = now.toISOString();
  return {
    _id: boxKey(domain, input.number),
    domain,
    number: input.number,
    name: input.name,
    pinHash,
    email: input.email ?? null,
    maxMessages: input.maxMessages ?? MAILBOX_DEFAULTS.maxMessages,
    maxMessageSeconds: input.maxMessageSeconds ?? MAILBOX_DEFAULTS.maxMessageSeconds,
    retentionDays: input.retentionDays ?? MAILBOX_DEFAULTS.retentionDays,
    notify: input.notify ?? MAILBOX_DEFAULTS.notify,
    greetings: {},
    createdAt: at,
    updatedAt: at,
  };
}

/** `pinHash`: undefined leaves the PIN alone; a string sets it; null removes it. */
export function patchMailboxDoc(doc: MailboxDoc, patch: Omit<MailboxPatch, 'pin'>, pinHash: string | null | undefined, now: Date): MailboxDoc {
  return {
    ...doc,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.email !== undefined ? { email: patch.email } : {}),
    ...(patch.maxMessages !== undefined ? { maxMessages: patch.maxMessages } : {}),
    ...(patch.maxMessageSeconds !== undefined ? { maxMessageSeconds: patch.maxMessageSeconds } : {}),
    ...(patch.retentionDays !== undefined ? { retentionDays: patch.retentionDays } : {}),
    ...(patch.notify !== undefined ? { notify: patch.notify } : {}),
    ...(pinHash !== undefined ? { pinHash } : {}),
    updatedAt: now.toISOString(),
  };
}

/** Mailboxes in number order, digits compared as numbers (2 before 10). */
export function byNumber(a: Pick<MailboxDoc, 'number'>, b: Pick<MailboxDoc, 'number'>): number {
  return a.number.localeCompare(b.number, 'en', { numeric: true });
}

/** `playable`: whether a greeting's audio can be played from this site now (its origin is this site or connected). */
export function toMailbox(doc: MailboxDoc, counts: MessageCounts, guard: PinGuardDoc | null, now: Date, playable: (g: GreetingInfo) => boolean): Mailbox {
  const greetings = Object.fromEntries(GREETING_KINDS.map((k) => [k, greetingView(doc.greetings[k], playable)])) as Mailbox['greetings'];
  return {
    domain: doc.domain,
    number: doc.number,
    name: doc.name,
    email: doc.email,
    hasPin: doc.pinHash !== null,
    pinLockedUntil: lockRemainingSec(guard, now) > 0 ? (guard?.lockedUntil ?? null) : null,
    maxMessages: doc.maxMessages,
    maxMessageSeconds: doc.maxMessageSeconds,
    retentionDays: doc.retentionDays,
    notify: doc.notify,
    greetings,
    counts,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

/** `originPlayable`: whether the site holding the audio (originSite) is this one or connected now. */
export function toMessage(doc: MessageDoc, originPlayable: boolean): Message {
  const { _id, box, folderBeforeDelete, idempotencyKey, ...rest } = doc;
  void box;
  void folderBeforeDelete;
  void idempotencyKey;
  return { id: _id, ...rest, storage: withChecksum(doc.storage), available: originPlayable && !doc.audioMissing };
}

/**
 * A storage pointer as the API shows it: one stored before checksums were kept has none (null,
 * unknown). It is not computed afterwards: a sum of the bytes as they are now would vouch for
 * bytes nobody checked against what was received, and would be a log entry (replicated) per old
 * message.
 */
export function withChecksum(storage: StoragePointer): StoragePointer {
  return typeof storage.sha256 === 'string' ? storage : { ...storage, sha256: null };
}

/** The audio's SHA-256 when it is known. */
export function checksumOf(storage: StoragePointer): string | null {
  return typeof storage.sha256 === 'string' ? storage.sha256 : null;
}

function greetingView(g: GreetingInfo | undefined, playable: (g: GreetingInfo) => boolean): GreetingView | null {
  return g ? { ...toGreeting(g), available: g.audioMissing !== true && playable(g) } : null;
}

/** A greeting as the API shows it (its checksum null when unknown, audioMissing always said). */
export function toGreeting(g: GreetingInfo): GreetingInfo {
  return { ...g, storage: withChecksum(g.storage), audioMissing: g.audioMissing === true };
}

export function toMwi(domain: string, mailbox: string, c: MessageCounts): Mwi {
  return { domain, mailbox, new: c.new, saved: c.saved, urgent: c.urgent };
}

export interface NewMessage {
  id: string;
  domain: string;
  mailbox: string;
  urgent: boolean;
  callerName: string | null;
  callerNumber: string | null;
  callId: string | null;
  durationMs: number;
  format: AudioFormat;
  originSite: string;
  key: string;
  size: number;
  /** of the audio as it was received; null (unknown) only for messages from before checksums */
  sha256?: string | null;
  forwardedFrom: ForwardedFrom | null;
  /** the deposit's Idempotency-Key, when it came with one */
  idempotencyKey?: string | undefined;
}

export function newMessageDoc(m: NewMessage, now: Date): MessageDoc {
  return {
    _id: m.id,
    box: boxKey(m.domain, m.mailbox),
    domain: m.domain,
    mailbox: m.mailbox,
    folder: 'new',
    urgent: m.urgent,
    callerName: m.callerName,
    callerNumber: m.callerNumber,
    callId: m.callId,
    createdAt: now.toISOString(),
    readAt: null,
    deletedAt: null,
    durationMs: m.durationMs,
    format: m.format,
    originSite: m.originSite,
    storage: { handler: 'fs', key: m.key, size: m.size, contentType: CONTENT_TYPE_WAV, sha256: m.sha256 ?? null },
    forwardedFrom: m.forwardedFrom,
    audioMissing: false,
    folderBeforeDelete: null,
    ...(m.idempotencyKey !== undefined ? { idempotencyKey: m.idempotencyKey } : {}),
  };
}

// ---- deposits with an Idempotency-Key ----------------------------------------------------------

/** What a deposit says beside its audio, as stored (the form's fields read as the message keeps them). */
export interface DepositContent {
  sha256: string;
  urgent: boolean;
  callerName: string | null;
  callerNumber: string | null;
  callId: string | null;
}

/** How long a deposit's Idempotency-Key answers for its message. */
export const DEPOSIT_KEY_LIFETIME_MS = DEPOSIT_KEY_LIMITS.hours * 3_600_000;

export type DepositRetry =
  /** no live deposit has the key: store a new message (with the key) */
  | { kind: 'new' }
  /** the same deposit again: answer with its message, store nothing */
  | { kind: 'replay'; message: MessageDoc }
  /** the key was used for another deposit: refuse, naming what differs */
  | { kind: 'mismatch'; message: MessageDoc; differs: (keyof DepositContent)[] };

/**
 * What a deposit with an Idempotency-Key does, given the newest message of the mailbox that came
 * with the same key. Past the key's lifetime (from the first deposit) the key is free again. The
 * same deposit is the same audio (its SHA-256) and the same fields; the multipart envelope around
 * them differs from one try to the next, so the bytes of the body are not compared.
 */
export function depositRetry(earlier: MessageDoc | null, content: DepositContent, now: Date, lifetimeMs = DEPOSIT_KEY_LIFETIME_MS): DepositRetry {
  if (earlier === null || !depositKeyLive(earlier, now, lifetimeMs)) return { kind: 'new' };
  const stored: DepositContent = {
    sha256: checksumOf(earlier.storage) ?? '',
    urgent: earlier.urgent,
    callerName: earlier.callerName,
    callerNumber: earlier.callerNumber,
    callId: earlier.callId,
  };
  const differs = (Object.keys(stored) as (keyof DepositContent)[]).filter((k) => stored[k] !== content[k]);
  return differs.length === 0 ? { kind: 'replay', message: earlier } : { kind: 'mismatch', message: earlier, differs };
}

/** Whether the key of the deposit that made this message still answers for it (its lifetime runs from the deposit). */
export function depositKeyLive(earlier: Pick<MessageDoc, 'createdAt'>, now: Date, lifetimeMs = DEPOSIT_KEY_LIFETIME_MS): boolean {
  return Date.parse(earlier.createdAt) + lifetimeMs > now.getTime();
}

/** A deposit's form fields as the message keeps them, with its audio's SHA-256. */
export function depositContent(fields: { urgent?: string | undefined; callerName?: string | undefined; callerNumber?: string | undefined; callId?: string | undefined }, sha256: string): DepositContent {
  return {
    sha256,
    urgent: fields.urgent === 'true' || fields.urgent === '1',
    callerName: fields.callerName || null,
    callerNumber: fields.callerNumber || null,
    callId: fields.callId || null,
  };
}


/** Moves and marks a message; null when the patch changes nothing. */
export function patchMessageDoc(doc: MessageDoc, patch: MessagePatch, now: Date): MessageDoc | null {
  const next: MessageDoc = { ...doc };
  const at = now.toISOString();
  if (patch.folder !== undefined && patch.folder !== doc.folder) {
    if (patch.folder === 'deleted') {
      next.folderBeforeDelete = doc.folder;
      next.deletedAt = at;
    } else {
      next.folderBeforeDelete = null;
      next.deletedAt = null;
    }
    next.folder = patch.folder;
  }
  if (patch.read === true && doc.readAt === null) next.readAt = at;
  if (patch.read === false && doc.readAt !== null) next.readAt = null;
  const changed = next.folder !== doc.folder || next.readAt !== doc.readAt;
  return changed ? next : null;
}

/** The folder an undelete restores: where it was before, saved if unknown. */
export function undeleteFolder(doc: MessageDoc): Exclude<Folder, 'deleted'> {
  return doc.folderBeforeDelete === 'new' ? 'new' : 'saved';
}

/** Has a deleted message outlived its mailbox's retention? */
export function purgeDue(doc: Pick<MessageDoc, 'folder' | 'deletedAt'>, retentionDays: number, now: Date): boolean {
  if (doc.folder !== 'deleted' || doc.deletedAt === null) return false;
  return Date.parse(doc.deletedAt) + retentionDays * 86_400_000 <= now.getTime();
}

/**
 * The greeting a caller hears: the temporary one overrides, else the one for the situation. A
 * greeting whose audio was found damaged (audioMissing) is passed over: the caller hears the next
 * one, or the system greeting, never silence or a broken file.
 */
export function chooseGreeting(greetings: MailboxDoc['greetings'], situation: 'unavailable' | 'busy'): GreetingInfo | undefined {
  const playable = (g: GreetingInfo | undefined) => (g && g.audioMissing !== true ? g : undefined);
  return playable(greetings.temporary) ?? playable(greetings[situation]);
}

// ---- PIN lockout -----------------------------------------------------------------------------

export interface PinPolicy {
  failures: number;
  lockoutMs: number;
}

export const PIN_POLICY: PinPolicy = { failures: VMAIL_LIMITS.pinFailures, lockoutMs: VMAIL_LIMITS.pinLockoutSeconds * 1000 };

/** Seconds left of a lockout, 0 when not locked. */
export function lockRemainingSec(guard: PinGuardDoc | null, now: Date): number {
  if (!guard?.lockedUntil) return 0;
  const left = Date.parse(guard.lockedUntil) - now.getTime();
  return left > 0 ? Math.ceil(left / 1000) : 0;
}

/**
 * The guard after a wrong PIN: the failure is counted, and the count reaching the policy's limit
 * locks the mailbox. A lockout that has run out starts a fresh count.
 */
export function afterWrongPin(id: string, guard: PinGuardDoc | null, now: Date, policy: PinPolicy = PIN_POLICY): PinGuardDoc {
  const expired = guard?.lockedUntil !== null && guard?.lockedUntil !== undefined && lockRemainingSec(guard, now) === 0;
  const failures = (expired || !guard ? 0 : guard.failures) + 1;
  const locked = failures >= policy.failures;
  return {
    _id: id,
    failures,
    lockedUntil: locked ? new Date(now.getTime() + policy.lockoutMs).toISOString() : null,
    lastFailureAt: now.toISOString(),
  };
}
