import { isAbsolute, join, resolve } from 'node:path';
import type { ResolvedInstance } from '../config/roles.js';
import type { TaskReporter } from '../health.js';
import type { Logger } from '../logger.js';
import type { RoleRuntime } from '../roles/host.js';
import { FileStore } from './fsstore.js';
import { Notifier, smtpSettingsOf, type SmtpSettings } from './mailer.js';
import type { VmailMetadata } from './metadata.js';
import type { VmailMetrics } from './metrics.js';
import { Quarantine } from './quarantine.js';
import { checkStore, type RepairReport } from './repair.js';
import type { VmailPartition, VmailRuntime, VmailService } from './service.js';

/** Tunables of a vmail instance from its `ext` (README), with their defaults. */
export interface VmailTunables {
  /** the file store's root: ext.store_dir (absolute, or relative to the data directory); default <dataDir>/vmail */
  storeDir: string;
  /** how often the retention purge runs: ext.purge_interval_seconds, default 3600 */
  purgeIntervalMs: number;
  /** base URL of the console for notify = link: ext.console_url */
  consoleUrl: string | undefined;
  smtp: SmtpSettings | undefined;
  /** what is wrong with the ext settings (logged; the setting falls back to its default) */
  problems: string[];
}

export function tunablesOf(instance: ResolvedInstance, dataDir: string): VmailTunables {
  const ext = Array.isArray(instance.ext) ? {} : instance.ext;
  const problems: string[] = [];
  let storeDir = join(dataDir, 'vmail');
  const dir = ext['store_dir'];
  if (dir !== undefined) {
    if (typeof dir === 'string' && dir.length > 0 && !dir.includes('\0')) storeDir = isAbsolute(dir) ? resolve(dir) : resolve(dataDir, dir);
    else problems.push('ext.store_dir must be a directory path');
  }
  let purgeIntervalMs = 3_600_000;
  const every = ext['purge_interval_seconds'];
  if (every !== undefined) {
    if (typeof every === 'number' && Number.isFinite(every) && every >= 1 && every <= 86_400) purgeIntervalMs = every * 1000;
    else problems.push('ext.purge_interval_seconds must be a number of seconds from 1 to 86400');
  }
  let consoleUrl: string | undefined;
  const url = ext['console_url'];
  if (url !== undefined) {
    if (typeof url === 'string' && /^https?:\/\/[^\s]+$/.test(url)) consoleUrl = url;
    else problems.push('ext.console_url must be an http(s) URL');
  }
  const smtp = smtpSettingsOf(instance.ext);
  if (smtp.problem) problems.push(`${smtp.problem}: e-mail notifications are off`);
  return { storeDir, purgeIntervalMs, consoleUrl, smtp: smtp.settings, problems };
}

export interface VmailInstanceDeps {
  service: VmailService;
  meta: VmailMetadata;
  config: VmailPartition;
  siteId: string;
  dataDir: string;
  metrics: VmailMetrics;
  /** the console's address when ext.console_url does not say */
  consoleUrl: () => string | undefined;
  /** where /healthz hears how the store check goes */
  tasks?: TaskReporter;
  /** resolves once the service listens: the store check begins then (an instance started later checks at once) */
  listening?: Promise<void>;
}

/**
 * A vmail role instance on this site (design section 5): the file store of the domains its group
 * serves, checked and repaired at start, its retention purge job and its e-mail notifier. The
 * requests themselves are served by VmailService, which routes each domain to its instance.
 */
export class VmailInstance implements RoleRuntime, VmailRuntime {
  readonly store: FileStore;
  readonly quarantine: Quarantine;
  readonly notifier: Notifier;
  private tunables: VmailTunables;
  private purgeTimer: NodeJS.Timeout | undefined;
  private purging: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly stopping = new AbortController();
  /** the store check, running beside the requests from start on */
  private checking: Promise<RepairReport | undefined> = Promise.resolve(undefined);

  constructor(
    private instance: ResolvedInstance,
    private readonly deps: VmailInstanceDeps,
    private readonly log: Logger,
  ) {
    this.tunables = tunablesOf(instance, deps.dataDir);
    this.store = new FileStore(this.tunables.storeDir);
    this.quarantine = new Quarantine(this.store);
    this.notifier = new Notifier(() => this.tunables.consoleUrl ?? deps.consoleUrl(), deps.metrics, log);
  }

  get name(): string {
    return this.instance.name;
  }

  /** Does this instance's group serve the domain (a stored, normalized name)? */
  serves(domain: string): boolean {
    const p = this.deps.config.lookup('vmail', domain);
    return typeof p !== 'string' && p.group === this.instance.group;
  }

  async start(): Promise<void> {
    for (const problem of this.tunables.problems) this.log.warn({ problem }, 'vmail instance setting ignored');
    this.notifier.configure(this.tunables.smtp);
    await this.store.init();
    this.deps.service.register(this);
    this.checking = this.checkInBackground();
    this.schedulePurge(Math.min(5_000, this.tunables.purgeIntervalMs));
  }

  /** Resolves with the report of the store check once it is done (undefined if it failed or was stopped). */
  storeChecked(): Promise<RepairReport | undefined> {
    return this.checking;
  }

  /**
   * The start-up check runs while the instance serves: a start does not wait for a walk of every
   * file (and, for audio with a checksum, a read of it). It is safe beside requests (repair.ts);
   * /healthz lists it as a task, running and then with its result.
   */
  private async checkInBackground(): Promise<RepairReport | undefined> {
    const component = `vmail ${this.name}`;
    const task = 'store check';
    let started = Date.now();
    this.deps.tasks?.task(component, task, 'running', `Matching the audio files of ${this.store.root} with their metadata and checksums.`);
    try {
      // its reads and hashing would share the start's event loop and cores: it waits for the service to listen
      // (a stop before that ends the wait: a start that failed never listens)
      const stopped = new Promise<void>((resolve) => this.stopping.signal.addEventListener('abort', () => resolve(), { once: true }));
      await Promise.race([this.deps.listening, stopped]);
      if (this.stopping.signal.aborted) return undefined;
      started = Date.now();
      const report = await checkStore({
        store: this.store,
        quarantine: this.quarantine,
        meta: this.deps.meta,
        live: this.deps.service.liveStore(this),
        siteId: this.deps.siteId,
        serves: (d) => this.serves(d),
        log: this.log,
        metrics: this.deps.metrics,
        signal: this.stopping.signal,
      });
      const ms = Date.now() - started;
      if (this.stopping.signal.aborted) return undefined;
      this.log.info({ store: this.store.root, ms, ...report }, 'vmail store checked');
      const repairs = report.tempFiles + report.orphanFiles + report.missingAudio + report.foundAudio + report.damagedAudio + report.damagedGreetings + report.danglingGreetings;
      this.deps.tasks?.task(
        component,
        task,
        'done',
        `${report.messages} messages checked (${report.verifiedAudio} against their SHA-256, and ${report.verifiedGreetings} greetings) in ${ms} ms; ${repairs === 0 ? 'nothing to repair' : `${repairs} repaired: ${report.tempFiles} temp and ${report.orphanFiles} orphan files and ${report.damagedAudio} damaged audio files quarantined, ${report.damagedGreetings} damaged greetings quarantined and marked, ${report.missingAudio} messages without audio, ${report.foundAudio} found again, ${report.danglingGreetings} greetings unset`}.`,
      );
      return report;
    } catch (err) {
      this.log.error({ err, store: this.store.root }, 'the vmail store check failed');
      this.deps.tasks?.task(component, task, 'failed', `The store check failed: ${(err as Error).message}; it runs again at the next start.`);
      return undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.deps.service.unregister(this);
    clearTimeout(this.purgeTimer);
    await this.checking;
    await this.purging;
    await this.notifier.drain(5_000);
    this.notifier.close();
  }

  reconfigure(instance: ResolvedInstance): void {
    const next = tunablesOf(instance, this.deps.dataDir);
    if (next.storeDir !== this.store.root) this.log.warn({ now: this.store.root, configured: next.storeDir }, 'ext.store_dir changed: it takes effect when the instance next starts (move the files with it)');
    for (const problem of next.problems) this.log.warn({ problem }, 'vmail instance setting ignored');
    const intervalChanged = next.purgeIntervalMs !== this.tunables.purgeIntervalMs;
    this.instance = instance;
    this.tunables = { ...next, storeDir: this.store.root };
    this.notifier.configure(next.smtp);
    if (intervalChanged) this.schedulePurge(this.tunables.purgeIntervalMs);
  }

  /** Runs the retention purge now (also what the timer does). */
  purgeNow(): Promise<number> {
    const run = this.purging.then(() => this.deps.service.purgeExpired(this, (d) => this.serves(d)));
    this.purging = run.catch(() => undefined);
    return run;
  }

  private schedulePurge(delayMs: number): void {
    clearTimeout(this.purgeTimer);
    if (this.stopped) return;
    this.purgeTimer = setTimeout(() => {
      this.purgeNow()
        .catch((err: unknown) => this.log.error({ err }, 'vmail retention purge failed'))
        .finally(() => this.schedulePurge(this.tunables.purgeIntervalMs));
    }, delayMs);
    this.purgeTimer.unref();
  }
}
