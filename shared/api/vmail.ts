import { Type, type Static } from '@sinclair/typebox';

/**
 * The vmail role's API (design sections 5 and 8): mailboxes, messages, greetings and
 * message-waiting counts under /api/v1/domains/{domain}/mailboxes. Wire types only; the
 * service's documents add their private fields.
 */

/** Documented limits of the vmail API. */
export const VMAIL_LIMITS = {
  /** the largest upload (deposit or greeting) in bytes: 20 MiB (a 30-minute 8 kHz G.711 message, or 10 min of 16 kHz PCM); larger is 413 */
  uploadBytes: 20 * 1024 * 1024,
  /** the WAV's `data` chunk must start within this many bytes (the header is checked as it streams in) */
  headerBytes: 64 * 1024,
  /** the longest greeting, in seconds */
  greetingSeconds: 300,
  maxMessages: 10_000,
  maxMessageSeconds: 3_600,
  retentionDays: 3_650,
  listDefault: 50,
  listMax: 500,
  listMaxOffset: 1_000_000,
  /** consecutive wrong PINs before the mailbox is locked */
  pinFailures: 5,
  /** how long a lockout lasts, in seconds */
  pinLockoutSeconds: 15 * 60,
} as const;

/** The Idempotency-Key of a deposit (DepositHeaders). */
export const DEPOSIT_KEY_LIMITS = {
  /** the longest key, in characters */
  chars: 255,
  /** how long after a deposit a retry with its key is answered with its message, in hours */
  hours: 24,
} as const;

export const MAILBOX_DEFAULTS = {
  maxMessages: 100,
  maxMessageSeconds: 300,
  retentionDays: 30,
  notify: 'attach',
} as const;

export const MAILBOX_NUMBER_PATTERN = '^[0-9A-Za-z_-]{1,32}$';
export const MESSAGE_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
/** the characters a domain may have; the full rules (labels, lengths) are the configuration's */
export const DOMAIN_PATTERN = '^[A-Za-z0-9.-]{1,254}$';
/** printable text: no control characters (they would end up in logs and e-mail headers) */
const TEXT = '^[^\\u0000-\\u001f\\u007f]*$';

export const FOLDERS = ['new', 'saved', 'deleted'] as const;
export type Folder = (typeof FOLDERS)[number];
export const Folder = Type.Union(FOLDERS.map((f) => Type.Literal(f)));

export const GREETING_KINDS = ['unavailable', 'busy', 'temporary', 'name'] as const;
export type GreetingKind = (typeof GREETING_KINDS)[number];
export const GreetingKind = Type.Union(GREETING_KINDS.map((k) => Type.Literal(k)));

export const NOTIFY_MODES = ['attach', 'link', 'none'] as const;
export type NotifyMode = (typeof NOTIFY_MODES)[number];
export const NotifyMode = Type.Union(NOTIFY_MODES.map((k) => Type.Literal(k)), {
  description: 'e-mail on a new message: attach = with the WAV, link = a link to the console, none',
});

export const AUDIO_ENCODINGS = ['pcm_s16le', 'alaw', 'mulaw'] as const;
export type AudioEncoding = (typeof AUDIO_ENCODINGS)[number];

// ---- path parameters -------------------------------------------------------------------------

const domain = Type.String({ pattern: DOMAIN_PATTERN, description: 'a domain served by a vmail group (case-insensitive, a trailing dot ignored)' });
const box = Type.String({ pattern: MAILBOX_NUMBER_PATTERN, description: 'mailbox number: letters, digits, _ and -, at most 32' });
const messageId = Type.String({ pattern: MESSAGE_ID_PATTERN, description: 'message id (UUID, lower case)' });

export const DomainParams = Type.Object({ domain });
export const MailboxParams = Type.Object({ domain, box });
export const MessageParams = Type.Object({ domain, box, id: messageId });
export const GreetingParams = Type.Object({ domain, box, kind: GreetingKind });

// ---- mailboxes -------------------------------------------------------------------------------

const pin = Type.String({ pattern: '^[0-9]{4,16}$', description: '4 to 16 digits; stored as an scrypt hash, never returned' });
const name = Type.String({ minLength: 1, maxLength: 128, pattern: TEXT });
const email = Type.String({ format: 'email', maxLength: 254 });
const maxMessages = Type.Integer({ minimum: 1, maximum: VMAIL_LIMITS.maxMessages, description: `messages kept in new + saved; default ${MAILBOX_DEFAULTS.maxMessages}` });
const maxMessageSeconds = Type.Integer({ minimum: 1, maximum: VMAIL_LIMITS.maxMessageSeconds, description: `longest message; default ${MAILBOX_DEFAULTS.maxMessageSeconds}` });
const retentionDays = Type.Integer({ minimum: 0, maximum: VMAIL_LIMITS.retentionDays, description: `days a deleted message is kept before the purge job removes it; 0 = at the next run; default ${MAILBOX_DEFAULTS.retentionDays}` });

export const MailboxCreate = Type.Object(
  {
    number: box,
    name,
    pin: Type.Optional(pin),
    email: Type.Optional(Type.Union([email, Type.Null()])),
    maxMessages: Type.Optional(maxMessages),
    maxMessageSeconds: Type.Optional(maxMessageSeconds),
    retentionDays: Type.Optional(retentionDays),
    notify: Type.Optional(NotifyMode),
  },
  { additionalProperties: false },
);
export type MailboxCreate = Static<typeof MailboxCreate>;

export const MailboxPatch = Type.Object(
  {
    name: Type.Optional(name),
    pin: Type.Optional(Type.Union([pin, Type.Null()], { description: 'null removes the PIN; a new PIN also ends a lockout' })),
    email: Type.Optional(Type.Union([email, Type.Null()])),
    maxMessages: Type.Optional(maxMessages),
    maxMessageSeconds: Type.Optional(maxMessageSeconds),
    retentionDays: Type.Optional(retentionDays),
    notify: Type.Optional(NotifyMode),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type MailboxPatch = Static<typeof MailboxPatch>;

export const AudioFormat = Type.Object({
  encoding: Type.Union(AUDIO_ENCODINGS.map((e) => Type.Literal(e))),
  sampleRate: Type.Integer(),
  channels: Type.Integer(),
});
export type AudioFormat = Static<typeof AudioFormat>;

/** Where the audio lives: a handler and a key, never a credential (design section 6). */
export const StoragePointer = Type.Object({
  handler: Type.Literal('fs'),
  key: Type.String({ description: 'path relative to the store root: domain/mailbox/id.wav' }),
  size: Type.Integer({ description: 'bytes' }),
  contentType: Type.String(),
  sha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()], {
    description:
      'SHA-256 of the audio (hex), taken while it was received; the start-up check and playback compare the file with it. null: stored before checksums were kept (unknown, not checked)',
  }),
});
export type StoragePointer = Static<typeof StoragePointer>;

export const GreetingInfo = Type.Object({
  kind: GreetingKind,
  durationMs: Type.Integer(),
  format: AudioFormat,
  originSite: Type.String(),
  storage: StoragePointer,
  updatedAt: Type.String({ format: 'date-time' }),
  audioMissing: Type.Optional(
    Type.Boolean({ description: 'true: its file did not match its SHA-256 and was moved into the quarantine; it is not played nor chosen for a caller until a new one is uploaded (always present in answers)' }),
  ),
});
export type GreetingInfo = Static<typeof GreetingInfo>;

/** Said of a message or greeting in every answer: whether its audio can be played from this site now. */
const available = Type.Boolean({
  description:
    'whether the audio can be played from this site now: false when it is missing (audioMissing), or when the site that holds it (originSite) is not connected now (playing it answers 503 with Retry-After until it is)',
});

/** A greeting as the API shows it: its metadata, and whether it can be played from here now. */
export const GreetingView = Type.Composite([GreetingInfo, Type.Object({ available })]);
export type GreetingView = Static<typeof GreetingView>;

export const MessageCounts = Type.Object({
  new: Type.Integer(),
  saved: Type.Integer(),
  deleted: Type.Integer(),
  urgent: Type.Integer({ description: 'urgent messages in new' }),
});
export type MessageCounts = Static<typeof MessageCounts>;

export const Mailbox = Type.Object({
  domain: Type.String(),
  number: Type.String(),
  name: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  hasPin: Type.Boolean(),
  /** set while the PIN is locked after repeated wrong guesses */
  pinLockedUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  maxMessages: Type.Integer(),
  maxMessageSeconds: Type.Integer(),
  retentionDays: Type.Integer(),
  notify: NotifyMode,
  greetings: Type.Object({
    unavailable: Type.Union([GreetingView, Type.Null()]),
    busy: Type.Union([GreetingView, Type.Null()]),
    temporary: Type.Union([GreetingView, Type.Null()]),
    name: Type.Union([GreetingView, Type.Null()]),
  }),
  counts: MessageCounts,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Mailbox = Static<typeof Mailbox>;

export const MailboxList = Type.Object({ items: Type.Array(Mailbox), total: Type.Integer() });
export type MailboxList = Static<typeof MailboxList>;

// ---- messages --------------------------------------------------------------------------------

export const ForwardedFrom = Type.Object({
  domain: Type.String(),
  mailbox: Type.String(),
  messageId: Type.String(),
  by: Type.String({ description: 'the user or API token that forwarded it' }),
  at: Type.String({ format: 'date-time' }),
});
export type ForwardedFrom = Static<typeof ForwardedFrom>;

/** A voicemail message's metadata (design section 5). */
export const Message = Type.Object({
  id: Type.String(),
  domain: Type.String(),
  mailbox: Type.String(),
  folder: Folder,
  urgent: Type.Boolean(),
  callerName: Type.Union([Type.String(), Type.Null()]),
  callerNumber: Type.Union([Type.String(), Type.Null()]),
  callId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  readAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  deletedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  durationMs: Type.Integer({ description: 'from the WAV header and data size, never from the caller' }),
  format: AudioFormat,
  originSite: Type.String({ description: 'the site that received the deposit and holds the audio' }),
  storage: StoragePointer,
  forwardedFrom: Type.Union([ForwardedFrom, Type.Null()]),
  audioMissing: Type.Boolean({ description: 'the message has no audio: the start-up check found no file for it (the store was moved or damaged), or its file did not match its SHA-256 and was moved into the quarantine' }),
  available,
});
export type Message = Static<typeof Message>;

export const MessageQuery = Type.Object(
  {
    folder: Type.Optional(Type.Union([Folder, Type.Literal('inbox')], { description: 'default inbox = new and saved together' })),
    order: Type.Optional(Type.Union([Type.Literal('newest'), Type.Literal('oldest')], { description: 'by createdAt; default newest first' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: VMAIL_LIMITS.listMax, default: VMAIL_LIMITS.listDefault })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: VMAIL_LIMITS.listMaxOffset, default: 0 })),
  },
  { additionalProperties: false },
);
export type MessageQuery = Static<typeof MessageQuery>;

export const MessageList = Type.Object({
  items: Type.Array(Message),
  total: Type.Integer({ description: 'every message of the folder(s) asked, not only this page' }),
  counts: MessageCounts,
});
export type MessageList = Static<typeof MessageList>;

export const MessagePatch = Type.Object(
  {
    folder: Type.Optional(Folder),
    read: Type.Optional(Type.Boolean({ description: 'true sets readAt (once), false clears it' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type MessagePatch = Static<typeof MessagePatch>;

export const MessageDeleteQuery = Type.Object(
  { purge: Type.Optional(Type.Boolean({ description: 'remove the message and its audio now instead of moving it to deleted' })) },
  { additionalProperties: false },
);

export const ForwardRequest = Type.Object(
  {
    mailbox: box,
    domain: Type.Optional(Type.String({ pattern: DOMAIN_PATTERN, description: 'default: the same domain' })),
  },
  { additionalProperties: false },
);
export type ForwardRequest = Static<typeof ForwardRequest>;

/** The text fields of a deposit (multipart/form-data beside the `audio` file). */
export const DepositFields = Type.Object(
  {
    callerNumber: Type.Optional(Type.String({ maxLength: 64, pattern: TEXT })),
    callerName: Type.Optional(Type.String({ maxLength: 128, pattern: TEXT })),
    callId: Type.Optional(Type.String({ maxLength: 256, pattern: TEXT })),
    urgent: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('1'), Type.Literal('0'), Type.Literal('')])),
  },
  { additionalProperties: false },
);
export type DepositFields = Static<typeof DepositFields>;

/**
 * The key characters of an Idempotency-Key: visible ASCII but `"` and `\`. The IETF draft
 * (draft-ietf-httpapi-idempotency-key-header) makes the header a Structured Field string, in
 * double quotes; the bare key that Stripe's clients send is taken too, as the same key.
 */
const KEY_CHARS = `[!#-\\[\\]-~]{1,${DEPOSIT_KEY_LIMITS.chars}}`;
export const IDEMPOTENCY_KEY_PATTERN = `^(?:"${KEY_CHARS}"|${KEY_CHARS})$`;

/** The request headers a deposit reads. */
export const DepositHeaders = Type.Object({
  'Idempotency-Key': Type.Optional(
    Type.String({
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description:
        `a key of the client's choosing (a UUID is best) that makes a retried deposit store one message: 1 to ${DEPOSIT_KEY_LIMITS.chars} visible ASCII characters but " and \\, ` +
        'as a quoted string ("…", the IETF draft) or bare (the same key). Its scope is the mailbox; it is kept with the message, in its change-log entry, for ' +
        `${DEPOSIT_KEY_LIMITS.hours} h after the deposit (and while the message exists). A retry with the same key, audio and fields is answered 201 with the same message ` +
        '(Idempotent-Replayed: true; nothing stored again, no e-mail), also after a restart of the service; with other audio or fields it is refused (422); ' +
        'while the first is still being received, 503 with Retry-After (a temporary condition: the same retry later gets the message). Without the header every deposit stores a new message.',
    }),
  ),
});
export type DepositHeaders = Static<typeof DepositHeaders>;

/** The file part of an upload (form field `audio`), as the OpenAPI document shows it. */
const AudioPart = Type.String({
  contentMediaType: 'audio/wav',
  description: `a WAV: PCM 16-bit at 8 or 16 kHz, or G.711 A-law/µ-law at 8 kHz, 1 or 2 channels, at most ${VMAIL_LIMITS.uploadBytes} bytes; checked as it streams in`,
});

/** The multipart/form-data body of a deposit (POST .../messages), for the OpenAPI document. */
export const DepositForm = Type.Object({ audio: AudioPart, ...DepositFields.properties }, { additionalProperties: false });

/** The multipart/form-data body of a greeting upload (PUT .../greetings/{kind}), for the OpenAPI document. */
export const GreetingForm = Type.Object({ audio: AudioPart });

export const AudioQuery = Type.Object(
  { download: Type.Optional(Type.Boolean({ description: 'true: Content-Disposition attachment' })) },
  { additionalProperties: false },
);

// ---- greetings, PIN, MWI ---------------------------------------------------------------------

export const GreetingChoiceQuery = Type.Object(
  { for: Type.Optional(Type.Union([Type.Literal('unavailable'), Type.Literal('busy')], { description: 'the situation; default unavailable' })) },
  { additionalProperties: false },
);

export const GreetingChoice = Type.Composite([
  GreetingView,
  Type.Object({ audioUrl: Type.String({ description: 'path of the greeting audio on this API' }) }),
]);
export type GreetingChoice = Static<typeof GreetingChoice>;

export const PinCheckRequest = Type.Object({ pin: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
export type PinCheckRequest = Static<typeof PinCheckRequest>;
export const PinCheckResult = Type.Object({ ok: Type.Literal(true) });
export type PinCheckResult = Static<typeof PinCheckResult>;

/** Message-waiting counts of one mailbox; the live feed sends them as collection `mwi`, id `domain/mailbox`. */
export const Mwi = Type.Object({
  domain: Type.String(),
  mailbox: Type.String(),
  new: Type.Integer(),
  saved: Type.Integer(),
  urgent: Type.Integer({ description: 'urgent messages in new' }),
});
export type Mwi = Static<typeof Mwi>;

export const MwiList = Type.Object({ items: Type.Array(Mwi) });
export type MwiList = Static<typeof MwiList>;

// ---- quarantine ------------------------------------------------------------------------------

export const QUARANTINE_REASONS = ['no_metadata', 'unfinished_write', 'checksum_mismatch'] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

/**
 * A file of the store that the start-up check could not match to a message or greeting, moved
 * into the store's quarantine (never deleted by the check): an admin restores it into a mailbox
 * as a message when it is audio we take, or deletes it for good.
 */
export const QuarantineEntry = Type.Object({
  id: Type.String({ description: 'the quarantine entry’s id (UUID)' }),
  domain: Type.String(),
  mailbox: Type.String({ description: 'the mailbox directory the file was found in (the mailbox may no longer exist)' }),
  found: Type.Union([Type.Literal('message'), Type.Literal('greeting')], { description: 'where it was found: among the messages or the greetings' }),
  reason: Type.Union(QUARANTINE_REASONS.map((r) => Type.Literal(r)), {
    description:
      'no_metadata: a whole file no message or greeting points at; unfinished_write: the temp file of a write that never finished; checksum_mismatch: the audio of a message or greeting whose bytes no longer match the SHA-256 taken when it was received (the message or greeting is kept, marked audioMissing)',
  }),
  reasonText: Type.String({ description: 'the reason as a sentence' }),
  fileName: Type.String({ description: 'the name it had in the store' }),
  size: Type.Integer({ description: 'bytes' }),
  modifiedAt: Type.String({ format: 'date-time', description: 'when the file was last written' }),
  quarantinedAt: Type.String({ format: 'date-time' }),
  audio: Type.Union([Type.Object({ durationMs: Type.Integer(), format: AudioFormat }), Type.Null()], { description: 'set when the file is a complete WAV we take: it can be restored' }),
  problem: Type.Union([Type.String(), Type.Null()], { description: 'why it is not audio we take (then it can only be deleted)' }),
});
export type QuarantineEntry = Static<typeof QuarantineEntry>;

export const QuarantineList = Type.Object({
  items: Type.Array(QuarantineEntry, { description: 'newest first' }),
  total: Type.Integer(),
  missingAudio: Type.Array(Message, { description: 'messages of this site whose audio the start-up check did not find (metadata kept, marked audioMissing)' }),
});
export type QuarantineList = Static<typeof QuarantineList>;

export const QuarantineParams = Type.Object({ domain, id: Type.String({ pattern: MESSAGE_ID_PATTERN, description: 'quarantine entry id (UUID, lower case)' }) });

export const QuarantineRestore = Type.Object(
  { mailbox: Type.Optional(Type.String({ pattern: MAILBOX_NUMBER_PATTERN, description: 'the mailbox to restore into; default the one it was found in' })) },
  { additionalProperties: false },
);
export type QuarantineRestore = Static<typeof QuarantineRestore>;
