/**
 * The mailbox settings form: name, e-mail and notification, PIN (set, change, remove), limits and
 * retention. Used for a new mailbox (in a modal, with the number) and for the settings of one.
 */
import { useId, type ReactNode } from 'react';
import type { Mailbox, MailboxCreate, MailboxPatch, NotifyMode } from '../../../../shared/api/vmail.js';
import { MAILBOX_DEFAULTS, MAILBOX_NUMBER_PATTERN, VMAIL_LIMITS } from './limits.js';
import { formatInZone } from '../../lib/timeZone.js';

export interface MailboxDraft {
  number: string;
  name: string;
  email: string;
  notify: NotifyMode;
  /** a new PIN; '' keeps the current one */
  pin: string;
  removePin: boolean;
  maxMessages: string;
  maxMessageSeconds: string;
  retentionDays: string;
}

export function draftOf(box: Mailbox | null): MailboxDraft {
  return {
    number: box?.number ?? '',
    name: box?.name ?? '',
    email: box?.email ?? '',
    notify: box?.notify ?? MAILBOX_DEFAULTS.notify,
    pin: '',
    removePin: false,
    maxMessages: String(box?.maxMessages ?? MAILBOX_DEFAULTS.maxMessages),
    maxMessageSeconds: String(box?.maxMessageSeconds ?? MAILBOX_DEFAULTS.maxMessageSeconds),
    retentionDays: String(box?.retentionDays ?? MAILBOX_DEFAULTS.retentionDays),
  };
}

type Field = keyof MailboxDraft;
export type DraftErrors = Partial<Record<Field, string>>;

const NUMBER_RE = new RegExp(MAILBOX_NUMBER_PATTERN);

function intIn(text: string, min: number, max: number, what: string): string | undefined {
  if (!/^\d+$/.test(text.trim())) return `Enter a whole number of ${what}.`;
  const n = Number(text);
  if (n < min || n > max) return `From ${min} to ${max.toLocaleString()}.`;
  return undefined;
}

/** The problems of a draft, by field; empty when it can be sent. */
export function validateDraft(d: MailboxDraft, creating: boolean): DraftErrors {
  const e: DraftErrors = {};
  if (creating && !NUMBER_RE.test(d.number.trim())) e.number = 'Letters, digits, _ and -, at most 32 (usually the extension, e.g. 1001).';
  if (!d.name.trim()) e.name = 'Enter a name (the person or team the mailbox is for).';
  else if (d.name.trim().length > 128) e.name = 'At most 128 characters.';
  if (d.email.trim() && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(d.email.trim())) e.email = 'Enter an e-mail address like name@example.com, or leave it empty.';
  if (d.pin && !/^\d{4,16}$/.test(d.pin)) e.pin = '4 to 16 digits.';
  const mm = intIn(d.maxMessages, 1, VMAIL_LIMITS.maxMessages, 'messages');
  if (mm) e.maxMessages = mm;
  const ms = intIn(d.maxMessageSeconds, 1, VMAIL_LIMITS.maxMessageSeconds, 'seconds');
  if (ms) e.maxMessageSeconds = ms;
  const rd = intIn(d.retentionDays, 0, VMAIL_LIMITS.retentionDays, 'days');
  if (rd) e.retentionDays = rd;
  return e;
}

export function createBody(d: MailboxDraft): MailboxCreate {
  return {
    number: d.number.trim(),
    name: d.name.trim(),
    ...(d.pin ? { pin: d.pin } : {}),
    email: d.email.trim() || null,
    notify: d.notify,
    maxMessages: Number(d.maxMessages),
    maxMessageSeconds: Number(d.maxMessageSeconds),
    retentionDays: Number(d.retentionDays),
  };
}

/** Only what changed; null when nothing did. */
export function patchBody(box: Mailbox, d: MailboxDraft): MailboxPatch | null {
  const p: MailboxPatch = {};
  if (d.name.trim() !== box.name) p.name = d.name.trim();
  if ((d.email.trim() || null) !== box.email) p.email = d.email.trim() || null;
  if (d.notify !== box.notify) p.notify = d.notify;
  if (d.pin) p.pin = d.pin;
  else if (d.removePin && box.hasPin) p.pin = null;
  if (Number(d.maxMessages) !== box.maxMessages) p.maxMessages = Number(d.maxMessages);
  if (Number(d.maxMessageSeconds) !== box.maxMessageSeconds) p.maxMessageSeconds = Number(d.maxMessageSeconds);
  if (Number(d.retentionDays) !== box.retentionDays) p.retentionDays = Number(d.retentionDays);
  return Object.keys(p).length > 0 ? p : null;
}

const NOTIFY_LABEL: Record<NotifyMode, string> = {
  attach: 'E-mail with the recording attached',
  link: 'E-mail with a link to the console',
  none: 'No e-mail',
};

/** Maps the service's field details (`/name`, `/pin`) onto the form's fields. */
export function serverFieldErrors(details: readonly { path: string; message: string }[]): DraftErrors {
  const e: DraftErrors = {};
  const fields: Field[] = ['number', 'name', 'email', 'notify', 'pin', 'maxMessages', 'maxMessageSeconds', 'retentionDays'];
  for (const d of details) {
    const f = fields.find((k) => d.path === `/${k}` || d.path === k || d.path.startsWith(`/${k}/`));
    if (f && !e[f]) e[f] = d.message;
  }
  return e;
}

export function MailboxFields({
  draft,
  onChange,
  errors,
  box,
  timeZone,
  disabled,
}: {
  draft: MailboxDraft;
  onChange: (patch: Partial<MailboxDraft>) => void;
  errors: DraftErrors;
  /** the mailbox being changed; null for a new one */
  box: Mailbox | null;
  timeZone: string;
  disabled?: boolean;
}) {
  const id = useId();
  const creating = box === null;
  const field = (name: Field, label: string, input: ReactNode, help?: ReactNode, wide = false) => (
    <div className={`field${errors[name] ? ' field--invalid' : ''}${wide ? ' form-grid__wide' : ''}`}>
      <label htmlFor={`${id}-${name}`}>{label}</label>
      {input}
      {errors[name] ? (
        <span className="field__error" id={`${id}-${name}-error`}>
          {errors[name]}
        </span>
      ) : help ? (
        <span className="field__help" id={`${id}-${name}-help`}>
          {help}
        </span>
      ) : null}
    </div>
  );
  const aria = (name: Field) => ({
    id: `${id}-${name}`,
    'aria-invalid': errors[name] ? true : undefined,
    'aria-describedby': errors[name] ? `${id}-${name}-error` : `${id}-${name}-help`,
    disabled,
  });
  const lockedUntil = box?.pinLockedUntil && Date.parse(box.pinLockedUntil) > Date.now() ? box.pinLockedUntil : null;

  return (
    <div className="vm-form">
      <fieldset className="fieldset vm-form__section">
        <legend>Mailbox</legend>
        <div className="form-grid">
          {creating
            ? field(
                'number',
                'Number',
                <input className="input input--mono" autoComplete="off" spellCheck={false} maxLength={32} value={draft.number} onChange={(e) => onChange({ number: e.target.value })} {...aria('number')} />,
                'Usually the extension, e.g. 1001. It cannot be changed later.',
              )
            : null}
          {field('name', 'Name', <input className="input" autoComplete="off" maxLength={128} value={draft.name} onChange={(e) => onChange({ name: e.target.value })} {...aria('name')} />, 'The person or team, as staff see it.')}
        </div>
      </fieldset>

      <fieldset className="fieldset vm-form__section">
        <legend>Notification</legend>
        <div className="form-grid">
          {field(
            'email',
            'E-mail address',
            <input className="input" type="email" autoComplete="off" maxLength={254} value={draft.email} placeholder="name@example.com" onChange={(e) => onChange({ email: e.target.value })} {...aria('email')} />,
            'Where new-message e-mails go. Empty: none are sent.',
          )}
          {field(
            'notify',
            'On a new message',
            <select className="input select" value={draft.notify} onChange={(e) => onChange({ notify: e.target.value as NotifyMode })} {...aria('notify')}>
              {(Object.keys(NOTIFY_LABEL) as NotifyMode[]).map((m) => (
                <option key={m} value={m}>
                  {NOTIFY_LABEL[m]}
                </option>
              ))}
            </select>,
            draft.notify !== 'none' && !draft.email.trim() ? 'Nothing is sent until there is an e-mail address.' : draft.notify === 'link' ? 'The link needs console_url in the vmail instance settings.' : undefined,
          )}
        </div>
      </fieldset>

      <fieldset className="fieldset vm-form__section">
        <legend>PIN</legend>
        {!creating ? (
          <p className="vm-form__state">
            {box.hasPin ? 'A PIN is set: callers need it to listen by phone.' : 'No PIN is set: anyone reaching the mailbox by phone can listen.'}
            {lockedUntil ? <span className="vm-form__warning"> Locked after repeated wrong PINs until {formatInZone(lockedUntil, timeZone, 'dateTime')}; a new PIN ends the lockout.</span> : null}
          </p>
        ) : null}
        <div className="form-grid">
          {field(
            'pin',
            creating ? 'PIN (optional)' : box.hasPin ? 'New PIN' : 'Set a PIN',
            <input
              className="input input--mono vm-form__pin"
              type="password"
              inputMode="numeric"
              autoComplete="new-password"
              maxLength={16}
              value={draft.pin}
              placeholder={creating ? 'None' : box.hasPin ? 'Leave empty to keep it' : 'None'}
              onChange={(e) => onChange({ pin: e.target.value.replace(/\s/g, ''), removePin: false })}
              {...aria('pin')}
            />,
            '4 to 16 digits. Stored as a hash; nobody can read it back.',
          )}
          {!creating && box.hasPin ? (
            <div className="field vm-form__remove-pin">
              <label className="check">
                <input type="checkbox" checked={draft.removePin} disabled={disabled || draft.pin !== ''} onChange={(e) => onChange({ removePin: e.target.checked })} />
                <span>
                  <span className="check__label">Remove the PIN</span>
                  <span className="check__help">Anyone reaching the mailbox by phone can then listen.</span>
                </span>
              </label>
            </div>
          ) : null}
        </div>
      </fieldset>

      <fieldset className="fieldset vm-form__section">
        <legend>Limits</legend>
        <div className="vm-form__limits">
          {field(
            'maxMessages',
            'Messages kept',
            <input className="input input--number" inputMode="numeric" value={draft.maxMessages} onChange={(e) => onChange({ maxMessages: e.target.value })} {...aria('maxMessages')} />,
            'New and saved; when full, callers cannot leave more.',
          )}
          {field(
            'maxMessageSeconds',
            'Longest message (s)',
            <input className="input input--number" inputMode="numeric" value={draft.maxMessageSeconds} onChange={(e) => onChange({ maxMessageSeconds: e.target.value })} {...aria('maxMessageSeconds')} />,
            `Up to ${VMAIL_LIMITS.maxMessageSeconds.toLocaleString()} s.`,
          )}
          {field(
            'retentionDays',
            'Keep deleted (days)',
            <input className="input input--number" inputMode="numeric" value={draft.retentionDays} onChange={(e) => onChange({ retentionDays: e.target.value })} {...aria('retentionDays')} />,
            '0: removed at the next clean-up.',
          )}
        </div>
      </fieldset>
    </div>
  );
}
