import { createServer, type Server } from 'node:http';
import { Gauge } from 'prom-client';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Health, ServiceStatus } from '../shared/api/status.js';
import { AuthService } from './auth/auth.js';
import { generatePassword } from './auth/passwords.js';
import { createHttpApp } from './api/http.js';
import { Metrics } from './api/metrics.js';
import { buildOpenApi } from './api/openapi.js';
import { authRoutes, type LoginLimit } from './api/routes/auth.js';
import { configRoutes } from './api/routes/config.js';
import { conflictRoutes } from './api/routes/conflicts.js';
import { systemRoutes } from './api/routes/system.js';
import type { RouteDef } from './api/route.js';
import { CallstoreInstance } from './callstore/instance.js';
import { journalsIn } from './callstore/journal.js';
import { CallstoreMetrics } from './callstore/metrics.js';
import { CallstoreService } from './callstore/service.js';
import { GroupHolders } from './callstore/holders.js';
import { LimitStore } from './callstore/limits.js';
import { ProfileBook } from './callstore/profiles.js';
import { limitRoutes } from './api/routes/limits.js';
import { SourceRegistry } from './callstore/sources.js';
import { sourceRoutes } from './api/routes/sources.js';
import { statsRoutes } from './api/routes/stats.js';
import { siteRoutes } from './api/routes/sites.js';
import { callstoreRoutes } from './api/routes/events.js';
import { cdrRoutes } from './api/routes/cdrs.js';
import { attachWebSockets } from './api/ws.js';
import { CdrReader } from './storage/cdr/index.js';
import { collectionDir, INDEX_FILE } from './storage/cdr/schema.js';
import { CdrStoreView } from './storage/cdr/view.js';
import { CdrWriterThread } from './storage/cdr/writer.js';
import { ConfigService, localInterfaces } from './config/service.js';
import { RolesConfigStore } from './config/roles-store.js';
import type { Settings } from './config/settings.js';
import { loadSiteIdentity, type SiteIdentity } from './config/site.js';
import { StartupError } from './errors.js';
import { HealthBoard } from './health.js';
import type { Logger } from './logger.js';
import { RoleHost } from './roles/host.js';
import { ActivePassive } from './roles/active-passive.js';
import { servedDomainsOf } from './config/election.js';
import type { ResolvedInstance } from './config/roles.js';
import type { ServedDomains } from '../shared/sync/replication.js';
import { ChangeFeed } from './storage/changes.js';
import { changeLogFile } from './storage/changelog/files.js';
import { conflictRuleOf, policyOf } from './storage/changelog/kinds.js';
import { ChangeLog, type WalCheckpointer } from './storage/changelog/log.js';
import { lockDataDir, prepareDataDir } from './storage/data-dir.js';
import { DocumentStore } from './storage/documents.js';
import { loadOrCreateSiteCertificate, type SiteCertificate } from './sync/identity.js';
import { ReplicationHub } from './sync/replication/hub.js';
import { SiteStanding } from './sync/standing.js';
import { TermLedger } from './sync/terms.js';
import { MediaHub } from './sync/media.js';
import { ProfileExchange, profileSettingsOf, type ProfileSettings } from './sync/profiles.js';
import { adoptFromDonor } from './sync/adopt.js';
import { ConflictService } from './sync/conflicts.js';
import { SiteService } from './sync/sites.js';
import { moveFormerSiteIds } from './sync/upgrade.js';
import { VERSION } from './version.js';
import { createVmail } from './vmail/index.js';

export const ADMIN_USER = 'admin';
export const INITIAL_PASSWORD_FILE = 'initial-admin-password';
const SESSION_TTL_MS = 12 * 60 * 60_000;
const SESSION_PURGE_INTERVAL_MS = 10 * 60_000;
const SHUTDOWN_GRACE_MS = 5_000;
const CHANGELOG_COMPACT_INTERVAL_MS = 6 * 60 * 60_000;

export interface RunningService {
  url: string;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  loginLimit?: LoginLimit;
  /** where the built console lives; default dist/renderer beside the compiled service */
  consoleDir?: string;
  /** called once with the generated admin password on first start */
  onGeneratedPassword?: (password: string, file: string) => void;
}

/**
 * The composition root: the only module that knows every part. It opens storage, builds the
 * roles and the API on top of it, listens, and takes it all down in reverse order on stop.
 */
export async function startService(settings: Settings, log: Logger, opts: ServiceOptions = {}): Promise<RunningService> {
  prepareDataDir(settings.dataDir);
  const unlock = lockDataDir(settings.dataDir);
  try {
    return await startLocked(settings, log, opts, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

async function startLocked(settings: Settings, log: Logger, opts: ServiceOptions, unlock: () => void): Promise<RunningService> {
  const startedAt = new Date();
  let lifecycle: Exclude<Health['status'], 'degraded'> = 'starting';

  const feed = new ChangeFeed();
  // Test hooks (SITECALL_TEST_HOOKS=1, never set by an installation): SIGUSR2 ends the CDR writer
  // thread as a crash would. A signal needs the rights that kill -9 needs anyway; no request can do it.
  const testHooks = process.env['SITECALL_TEST_HOOKS'] === '1';
  // A CDR store that does not exist yet is rebuilt from the log's records (a data directory that holds only the log).
  const cdrStoreIsNew = !existsSync(join(collectionDir(settings.dataDir), INDEX_FILE));
  // Before the log: its thread checkpoints the log's WAL too (no thread of the log's own, ~10 MB less).
  const cdrStore = new CdrWriterThread(settings.dataDir, {}, { log: log.child({ part: 'cdr-writer' }), testHooks });
  let opened: Awaited<ReturnType<typeof openDocuments>>;
  try {
    opened = await openDocuments(settings.dataDir, feed, settings.siteName, { checkpointer: cdrStore });
  } catch (err) {
    await cdrStore.close();
    throw err;
  }
  const { documents, site, certificate, changeLog } = opened;
  // Retention (settings.logRetentionDays): with no peer paired, entries older than this are compacted.
  const logMinAgeMs = settings.logRetentionDays * 24 * 60 * 60_000;
  const compactLog = () => {
    try {
      const { removed } = changeLog.compact({ minAgeMs: logMinAgeMs });
      if (removed) log.info({ removed }, 'change log compacted');
    } catch (err) {
      log.warn({ err }, 'change log compaction failed');
    }
  };
  compactLog();
  const auth = await AuthService.open(documents, { sessionTtlMs: SESSION_TTL_MS });
  await ensureAdmin(auth, settings, log, opts);
  // The paired sites (design section 7): their interfaces come from each of them over the link.
  // An instance can be active while its site is reachable and synced (the standing each site
  // tells over the link); before the standing exists, no site is (the election runs once it does).
  let pairedSites: SiteService | undefined;
  let standing: SiteStanding | undefined;
  const isSiteElectable = (siteId: string) => (standing ? standing.isReachable(siteId) && standing.isSynced(siteId) : false);
  // what concurrent edits on two sites overwrote (design section 7, "Partitions"), and their dismissal
  const conflicts = new ConflictService({ log: changeLog, selfId: site.id, siteName: (id) => (id === site.id ? site.name : (pairedSites?.siteInterfaces().get(id)?.name ?? null)) });
  const config = new ConfigService(await RolesConfigStore.open(documents, site.id), {
    selfId: site.id,
    selfName: site.name,
    peers: () => pairedSites?.siteInterfaces() ?? new Map(),
    isUp: isSiteElectable,
  });
  // Which instance here holds the calls of each callstore group (active or passive), for the
  // events and records peers send; a configuration a peer sends is learnt as it is received.
  const holders = new GroupHolders(site.id);
  holders.apply(config.resolved());
  config.onApplied((instances) => holders.apply(instances));
  changeLog.onReceive((entry) => {
    if (entry.kind === 'config' && entry.key === 'roles') holders.learn(entry.body);
  });
  const terms = new TermLedger(changeLog);

  const metrics = new Metrics();
  const health = new HealthBoard();
  // Sites (design section 7): the peer listener (mutual TLS, a port of its own), pairing, the links.
  // Replication's domain filter: a site takes the data of the domains its instances serve (both
  // roletypes; `all` with an instance of a default group), plus everything without a domain. The
  // hello says it, and each session tells its peer again as soon as a configuration change alters
  // it (asked at every turn of the sender's loop: cached per resolved configuration).
  let served: { of: readonly ResolvedInstance[]; domains: ServedDomains } | undefined;
  const serves = (): ServedDomains => {
    const resolved = config.resolved();
    if (served?.of !== resolved) served = { of: resolved, domains: servedDomainsOf(resolved, site.id) };
    return served.domains;
  };
  const domainOf = (kind: string, body: unknown): string | undefined => {
    if (typeof body !== 'object' || body === null) return undefined;
    const b = body as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    // a raw event: the domain of its instance's group (an answer or an end carries none of its own)
    if (kind === 'event') return (typeof b['instance'] === 'string' ? holders.domainOfInstance(b['instance']) : undefined) ?? text((b['event'] as Record<string, unknown> | undefined)?.['domain']);
    if (kind === 'cdr' || kind === 'vmail_messages' || kind === 'vmail_mailboxes') return text(b['domain']);
    return undefined;
  };
  const replication = new ReplicationHub({ log: changeLog, serves, domainOf, logger: log.child({ part: 'replication' }) });
  const sites = await SiteService.open({
    documents,
    replication,
    interfaces: () => localInterfaces().map((i) => i.name),
    // joining (design section 7): the installation's users, tokens and configuration, before replication
    adopt: (donor) => adoptFromDonor({ log: changeLog, config, auth, conflicts, self: { id: site.id, name: site.name } }, donor),
    changeLog,
    site,
    certificate,
    registry: metrics.registry,
    log: log.child({ part: 'sites' }),
    publicUrl: settings.publicUrl,
    peerHost: settings.peerHost ?? settings.host,
    peerPort: settings.peerPort,
    pairingCodeTtlSec: settings.pairingCodeTtlSec,
  });
  pairedSites = sites;
  // The CDR store is a view of the log's `cdr` entries: caught up in the background (the thread may be down).
  const cdrView = new CdrStoreView(cdrStore, log.child({ part: 'cdr-store' }));
  await changeLog.attachView(cdrView, { fresh: cdrStoreIsNew, background: true });
  cdrStore.onStateChange((state) => {
    if (state.up) health.recover('cdr-writer');
    else health.degrade('cdr-writer', `${state.reason}; it is being restarted, and call records and acknowledgements wait for it`);
  });
  new Gauge({
    name: 'sitecall_cdr_writer_up',
    help: 'Whether the CDR writer thread runs (0 while it is being restarted)',
    registers: [metrics.registry],
    collect() {
      this.set(cdrStore.unavailable === undefined ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sitecall_cdr_writer_restarts',
    help: 'Times the CDR writer thread was started again after it died, since the service started',
    registers: [metrics.registry],
    collect() {
      this.set(cdrStore.restarts);
    },
  });
  const onTestSignal = () => cdrStore.exitThreadForTest();
  if (testHooks) {
    log.warn('test hooks are on (SITECALL_TEST_HOOKS=1): SIGUSR2 ends the CDR writer thread');
    process.on('SIGUSR2', onTestSignal);
  }
  const cdrReader = new CdrReader(settings.dataDir);
  const callstoreMetrics = new CallstoreMetrics(metrics.registry);
  const callstore = new CallstoreService((domain) => config.lookup('callstore', domain), callstoreMetrics);
  // Profiles and limits (design section 4.4): the limits are documents of the change log; the
  // counts are this site's own dialogs (rebuilt from the active calls at each start, never saved)
  // beside the paired sites' lists (the exchange, sync/profiles.ts, attached below once it exists).
  const limits = await LimitStore.open(documents);
  const profiles = new ProfileBook({
    limits,
    siteName: (id) => pairedSites?.siteInterfaces().get(id)?.name ?? null,
    // the console's live feed: the whole listing, built only when someone watches it
    onCountsChanged: () => feed.publishLazy({ collection: 'profiles', op: 'put', id: 'counts', replicate: false }, () => profiles.counts()),
  });
  callstore.attachProfiles(profiles);
  // Active-Passive (design section 7): a peer's events reach the instance holding their group's
  // calls here, a peer's records drop the calls they finish. Before any link opens.
  const journals = journalsIn(changeLog, settings.dataDir, {
    holderOf: (instance) => holders.holderOf(instance),
    localInstances: () => holders.localInstances(),
    events: (holder, events) => callstore.received(holder, events),
    record: (cdr) => callstore.recordArrived(cdr),
  });
  const sources = await SourceRegistry.open(documents, callstore.sourceEvents());
  callstore.attachSources(sources);

  let listening!: () => void;
  const listened = new Promise<void>((resolve) => (listening = resolve));
  // Voicemail across sites (design section 5): the audio a peer holds streams from it over the link
  // (sync/media.ts), and a peer asks this site's vmail for what it holds; neither imports the other.
  const media = new MediaHub({ resolve: (peer, ref, expect) => vmail.service.audioForPeer(peer, ref, expect), logger: log.child({ part: 'media' }), registry: metrics.registry });
  sites.onPeerChannel((channel) => media.attach(channel));
  const vmail = await createVmail({ documents, feed, changeLog, config, siteId: site.id, dataDir: settings.dataDir, remote: media, metrics, log, health, listening: listened });
  // After vmail opened: a data directory whose messages were still in nedb has them imported into
  // the log there, naming the former site id, and they are moved with the rest. Before the roles start.
  await moveFormerSiteIds({ site, config, changeLog, log });
  const host = new RoleHost(
    site.id,
    {
      callstore: (instance, roleLog) => {
        // passive until the election says otherwise (CallstoreService.register asks it)
        const runtime = new CallstoreInstance(
          instance,
          { siteId: site.id, cdrs: cdrView, feed, metrics: callstoreMetrics, health, journals, role: { active: false, term: 0, writableAtMs: 0 }, profiles: profiles.forInstance() },
          roleLog,
        );
        return {
          async start() {
            await runtime.start();
            callstore.register(runtime);
          },
          async stop() {
            callstore.unregister(runtime);
            await runtime.stop();
          },
          reconfigure: (next) => runtime.reconfigure(next),
        };
      },
      vmail: vmail.factory,
    },
    log,
  );
  config.onApplied((instances) => host.apply(instances));
  // The election of each group (design section 7): on the standing of the sites and the terms in the log.
  standing = new SiteStanding({
    selfId: site.id,
    peers: () => [...sites.siteInterfaces().keys()],
    onPeerChannel: (listener) => sites.onPeerChannel(listener),
    replication,
    localSources: () => sources.connectedIds(),
    log: log.child({ part: 'standing' }),
  });
  const activePassive = new ActivePassive({
    selfSite: site.id,
    instances: () => config.resolved(),
    sites: standing,
    terms,
    roleChanged: (instance, role) => callstore.setRole(instance, role),
    log: log.child({ part: 'active-passive' }),
  });
  callstore.attachSites({ roleOf: (instance) => activePassive.roleOf(instance), sourcesElsewhere: () => (standing as SiteStanding).sourcesElsewhere() });
  standing.onChange(() => callstore.presenceChanged());
  config.onApplied(() => activePassive.schedule());
  // Profile counts across sites (design section 4.4): this site's absolute counts to each peer,
  // each peer's last list kept for admission. The settings are the ext of this site's callstore
  // instances (profileSettingsOf: the strictest wins), read again when the configuration changes.
  let profileSettings: { of: readonly ResolvedInstance[]; settings: ProfileSettings } | undefined;
  const currentProfileSettings = (): ProfileSettings => {
    const resolved = config.resolved();
    if (profileSettings?.of !== resolved) profileSettings = { of: resolved, settings: profileSettingsOf(resolved, site.id) };
    return profileSettings.settings;
  };
  // the profile book (this site's dialogs, by where their invite was taken in) is what it sends;
  // the lists it keeps are the book's remote counts
  const profileExchange = new ProfileExchange({
    local: profiles,
    peers: () => [...sites.siteInterfaces().keys()],
    onPeerChannel: (listener) => sites.onPeerChannel(listener),
    settings: currentProfileSettings,
    registry: metrics.registry,
    log: log.child({ part: 'profiles' }),
  });
  await config.applyCurrent();
  standing.start();
  activePassive.start();
  profiles.attachRemote(profileExchange);
  profileExchange.start();
  sources.announceStartupLosses();

  const routes: RouteDef[] = [];
  let openApi: unknown;
  routes.push(
    ...systemRoutes({
      health: () => {
        const reasons = health.reasons();
        const tasks = health.tasks();
        const withTasks = tasks.length ? { tasks } : {};
        if (lifecycle === 'ok' && reasons.length) return { status: 'degraded', site: site.name, version: VERSION, reasons, ...withTasks };
        return { status: lifecycle, site: site.name, version: VERSION, ...withTasks };
      },
      status: (): ServiceStatus => ({
        site: { id: site.id, name: site.name },
        version: VERSION,
        startedAt: startedAt.toISOString(),
        uptimeSec: Math.round((Date.now() - startedAt.getTime()) / 1000),
        configRevision: config.get().revision,
        instances: host.status(activePassive.elected()),
        groups: activePassive.groups(),
      }),
      metrics,
      openApi: () => (openApi ??= buildOpenApi(routes, VERSION)),
    }),
    ...authRoutes(auth, opts.loginLimit),
    ...configRoutes(config),
    ...callstoreRoutes(callstore),
    ...cdrRoutes(cdrStore, cdrReader, callstore),
    ...vmail.routes,
    ...sourceRoutes(callstore),
    ...statsRoutes(cdrReader, callstore),
    ...siteRoutes(sites),
    ...conflictRoutes(conflicts),
    ...limitRoutes(limits, callstore),
  );

  const consoleDir = opts.consoleDir ?? fileURLToPath(new URL('../renderer', import.meta.url));
  const app = createHttpApp({ routes, auth, metrics, log, consoleDir });
  const server = createServer(app);
  server.keepAliveTimeout = 65_000;
  const sockets = attachWebSockets(server, { auth, callstore, feed, changeLog, log, registry: metrics.registry });
  await listen(server, settings.host, settings.port);
  try {
    await sites.start();
  } catch (err) {
    server.close();
    sockets.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  const url = `http://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`;
  lifecycle = 'ok';
  log.info({ url, site: site.name, siteId: site.id, dataDir: settings.dataDir, version: VERSION }, 'Sitecall service listening');
  listening();

  const purge = setInterval(() => {
    auth.purgeExpiredSessions().catch((err: unknown) => log.warn({ err }, 'session purge failed'));
  }, SESSION_PURGE_INTERVAL_MS);
  purge.unref();
  const compaction = setInterval(compactLog, CHANGELOG_COMPACT_INTERVAL_MS);
  compaction.unref();

  let stopping: Promise<void> | undefined;
  return {
    url,
    stop() {
      stopping ??= (async () => {
        lifecycle = 'stopping';
        log.info('stopping: no new connections');
        clearInterval(purge);
        clearInterval(compaction);
        activePassive.stop();
        standing?.stop();
        profileExchange.stop();
        media.stop();
        await sites.stop();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        sockets.close();
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        await closed;
        clearTimeout(force);
        await host.stopAll();
        profiles.stop();
        await vmail.stop();
        await sources.close();
        await cdrReader.close();
        // what the store has not written yet stays after its saved position: written at the next start
        cdrView.stop();
        await changeLog.drained();
        await changeLog.savePositions();
        await cdrStore.close();
        process.off('SIGUSR2', onTestSignal);
        await documents.flush();
        documents.detachLog();
        terms.close();
        await changeLog.close();
        unlock();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

/**
 * Opens the documents with the change log under them: the site identity first (site-local, not
 * in the log: it names the log's origin), then the log, which the replicated collections write
 * through. The service and the offline CLI open them the same way, so nothing writes around the log.
 */
export async function openDocuments(dataDir: string, feed: ChangeFeed, siteName?: string, opts: { checkpointer?: WalCheckpointer } = {}): Promise<{ documents: DocumentStore; site: SiteIdentity; certificate: SiteCertificate; changeLog: ChangeLog }> {
  const documents = new DocumentStore(DocumentStore.directoryFor(dataDir), feed);
  const file = changeLogFile(dataDir);
  // The site id is the certificate's fingerprint; a data directory from before certificates
  // renames its log origin from the old random id (one row) before it stores the new id.
  const certificate = await loadOrCreateSiteCertificate(dataDir);
  const site = await loadSiteIdentity(documents, siteName, certificate.id, (from, to) => {
    try {
      ChangeLog.renameOrigin(file, from, to);
    } catch (err) {
      throw new StartupError(`Cannot move the change log ${file} to the site id ${to}: ${(err as Error).message}. Restore it from a backup.`);
    }
  });
  let changeLog: ChangeLog;
  try {
    changeLog = ChangeLog.open(file, { origin: site.id, policyOf, conflictRuleOf, ...(opts.checkpointer ? { checkpointer: opts.checkpointer } : {}) });
  } catch (err) {
    throw new StartupError(`Cannot open the change log ${file}: ${(err as Error).message}. Restore it from a backup.`);
  }
  documents.attachLog(changeLog);
  return { documents, site, certificate, changeLog };
}

async function ensureAdmin(auth: AuthService, settings: Settings, log: Logger, opts: ServiceOptions): Promise<void> {
  if (await auth.hasUser(ADMIN_USER)) return;
  const file = join(settings.dataDir, INITIAL_PASSWORD_FILE);
  if (settings.adminPassword) {
    await auth.setPassword(ADMIN_USER, settings.adminPassword);
    rmSync(file, { force: true });
    log.info({ user: ADMIN_USER }, 'admin user created with the password from the settings');
    return;
  }
  const password = generatePassword();
  await auth.setPassword(ADMIN_USER, password);
  // Kept (owner-only) for a desktop or systemd start where nobody watches the console output;
  // removed when the admin sets a password of their own.
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  log.info({ user: ADMIN_USER, file }, 'admin user created with a generated password');
  opts.onGeneratedPassword?.(password, file);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE') reject(new StartupError(`Port ${port} on ${host} is already in use by another program: stop it or choose another port with --port or SITECALL_PORT.`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new StartupError(`Cannot listen on ${where}: ${host} is not an address of this machine; choose another with --host or SITECALL_HOST.`));
      else if (err.code === 'EACCES') reject(new StartupError(`Cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose another with --port.`));
      else reject(new StartupError(`Cannot listen on ${where}: ${err.message}.`));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
