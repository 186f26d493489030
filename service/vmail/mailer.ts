import nodemailer from 'nodemailer';
import type { Message } from '../../shared/api/vmail.js';
import type { Logger } from '../logger.js';
import type { MailboxDoc } from './core.js';
import type { VmailMetrics } from './metrics.js';

/**
 * E-mail notification of a new message, through SMTP with nodemailer. The settings are the vmail
 * instance's `ext.smtp` (README): `{host, port?, secure?, user?, pass?, from, ignore_tls?,
 * reject_unauthorized?}`. Sending never holds up or fails a deposit: it runs after the deposit is
 * answered, and a failure is logged and counted.
 */

export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  user: string | undefined;
  pass: string | undefined;
  from: string;
  ignoreTls: boolean;
  rejectUnauthorized: boolean;
}

/** Reads `ext.smtp`; `problem` says what is wrong with it (it then stays off). */
export function smtpSettingsOf(ext: Record<string, unknown> | unknown[]): { settings?: SmtpSettings; problem?: string } {
  if (Array.isArray(ext) || ext['smtp'] === undefined) return {};
  const smtp = ext['smtp'];
  if (typeof smtp !== 'object' || smtp === null || Array.isArray(smtp)) return { problem: 'ext.smtp must be an object' };
  const o = smtp as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : undefined);
  const bool = (k: string, d: boolean) => (typeof o[k] === 'boolean' ? (o[k] as boolean) : d);
  const host = str('host');
  const from = str('from');
  if (!host) return { problem: 'ext.smtp.host is required' };
  if (!from) return { problem: 'ext.smtp.from is required' };
  const secure = bool('secure', false);
  const port = o['port'] === undefined ? (secure ? 465 : 587) : o['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return { problem: 'ext.smtp.port must be a port number' };
  const user = str('user');
  const pass = str('pass');
  if ((user === undefined) !== (pass === undefined)) return { problem: 'ext.smtp.user and ext.smtp.pass go together' };
  return { settings: { host, port, secure, user, pass, from, ignoreTls: bool('ignore_tls', false), rejectUnauthorized: bool('reject_unauthorized', true) } };
}

export interface Notification {
  mailbox: MailboxDoc;
  message: Message;
  /** the audio file, for notify = attach */
  audioPath: string;
}

type Transporter = ReturnType<typeof nodemailer.createTransport>;

export class Notifier {
  private transporter: Transporter | undefined;
  private settings: SmtpSettings | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly consoleUrl: () => string | undefined,
    private readonly metrics: VmailMetrics,
    private readonly log: Logger,
  ) {}

  configure(settings: SmtpSettings | undefined): void {
    if (JSON.stringify(settings) === JSON.stringify(this.settings)) return;
    this.transporter?.close();
    this.settings = settings;
    this.transporter = settings
      ? nodemailer.createTransport({
          host: settings.host,
          port: settings.port,
          secure: settings.secure,
          ignoreTLS: settings.ignoreTls,
          tls: { rejectUnauthorized: settings.rejectUnauthorized },
          ...(settings.user !== undefined && settings.pass !== undefined ? { auth: { user: settings.user, pass: settings.pass } } : {}),
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 30_000,
        })
      : undefined;
  }

  /** Sends in the background; never throws. */
  notify(n: Notification): void {
    const { mailbox, message } = n;
    if (mailbox.notify === 'none' || !mailbox.email) return;
    if (!this.transporter || !this.settings) {
      this.metrics.notifications.inc({ result: 'not_configured' });
      this.log.warn({ mailbox: mailbox._id, messageId: message.id }, 'no e-mail notification: the vmail instance has no ext.smtp settings');
      return;
    }
    const sending = this.send(this.transporter, this.settings, n).then(
      () => {
        this.metrics.notifications.inc({ result: 'sent' });
        this.log.info({ mailbox: mailbox._id, messageId: message.id }, 'voicemail e-mail sent');
      },
      (err: unknown) => {
        this.metrics.notifications.inc({ result: 'failed' });
        this.log.error({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, mailbox: mailbox._id, messageId: message.id }, 'voicemail e-mail failed');
      },
    );
    this.inFlight.add(sending);
    void sending.finally(() => this.inFlight.delete(sending));
  }

  /** Waits for the e-mails under way, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  close(): void {
    this.transporter?.close();
    this.transporter = undefined;
    this.settings = undefined;
  }

  private async send(transporter: Transporter, settings: SmtpSettings, { mailbox, message, audioPath }: Notification): Promise<void> {
    const caller = [message.callerName, message.callerNumber ? `<${message.callerNumber}>` : null].filter(Boolean).join(' ') || 'an unknown caller';
    const seconds = Math.round(message.durationMs / 1000);
    const lines = [
      `${mailbox.name}, you have a new ${message.urgent ? 'URGENT ' : ''}voicemail in mailbox ${mailbox.number}@${mailbox.domain}.`,
      '',
      `From: ${caller}`,
      `Length: ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`,
      `Received: ${message.createdAt}`,
    ];
    if (message.forwardedFrom) lines.push(`Forwarded by ${message.forwardedFrom.by} from mailbox ${message.forwardedFrom.mailbox}@${message.forwardedFrom.domain}`);
    if (mailbox.notify === 'link') {
      const base = this.consoleUrl();
      lines.push('', base ? `Listen: ${base.replace(/\/+$/, '')}/voicemail/${encodeURIComponent(mailbox.domain)}/${encodeURIComponent(mailbox.number)}/${message.id}` : 'Listen to it in the Sitecall console.');
    } else {
      lines.push('', 'The message is attached.');
    }
    await transporter.sendMail({
      from: settings.from,
      to: mailbox.email ?? undefined,
      subject: `${message.urgent ? 'Urgent voicemail' : 'New voicemail'} from ${caller} (${seconds} s)`,
      text: lines.join('\n'),
      headers: { 'X-Sitecall-Message-Id': message.id },
      ...(mailbox.notify === 'attach' ? { attachments: [{ filename: `voicemail-${message.createdAt.slice(0, 19).replace(/[:T]/g, '-')}-${message.id.slice(0, 8)}.wav`, path: audioPath, contentType: 'audio/wav' }] } : {}),
    });
  }
}
