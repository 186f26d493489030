import { Counter, Histogram, type Registry } from 'prom-client';

/** The vmail role's Prometheus metrics. */
export class VmailMetrics {
  readonly deposits: Counter<'result'>;
  readonly depositSeconds: Histogram;
  readonly notifications: Counter<'result'>;
  readonly pinChecks: Counter<'result'>;
  readonly purged: Counter<'reason'>;
  readonly repairs: Counter<'kind'>;

  constructor(registry: Registry) {
    this.deposits = new Counter({
      name: 'sitecall_vmail_deposits_total',
      help: 'Message deposits by result (stored, replayed: a retry with its Idempotency-Key answered with its message, full, key_busy, key_reused, too_long, too_large, invalid, not_found, error)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.depositSeconds = new Histogram({
      name: 'sitecall_vmail_deposit_duration_seconds',
      help: 'Time to take in a deposit: receiving, checking and durably storing the audio and its metadata',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.notifications = new Counter({
      name: 'sitecall_vmail_notifications_total',
      help: 'E-mail notifications of new messages by result (sent, failed, not_configured)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.pinChecks = new Counter({
      name: 'sitecall_vmail_pin_checks_total',
      help: 'PIN checks by result (ok, wrong, locked, no_pin)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.purged = new Counter({
      name: 'sitecall_vmail_purged_total',
      help: 'Messages removed for good, by reason (retention, request, mailbox_deleted)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.repairs = new Counter({
      name: 'sitecall_vmail_repairs_total',
      help: 'Repairs of the store check and playback by kind (temp_file, orphan_file, missing_audio, found_audio, checksum_mismatch, damaged_greeting, dangling_greeting)',
      labelNames: ['kind'],
      registers: [registry],
    });
  }
}
