import type { Metrics } from '../api/metrics.js';
import type { RouteDef } from '../api/route.js';
import { vmailRoutes } from '../api/routes/vmail.js';
import type { HealthReporter, TaskReporter } from '../health.js';
import type { Logger } from '../logger.js';
import type { RoleFactory } from '../roles/host.js';
import type { ChangeFeed } from '../storage/changes.js';
import type { ChangeLog } from '../storage/changelog/log.js';
import type { DocumentStore } from '../storage/documents.js';
import { VmailInstance } from './instance.js';
import { VmailMetadata } from './metadata.js';
import { VmailMetrics } from './metrics.js';
import type { RemoteAudio } from './remote.js';
import { VmailService, type VmailPartition } from './service.js';

export { VmailInstance } from './instance.js';
export { VmailService } from './service.js';
export type { RemoteAudio, ServedAudio } from './remote.js';

export interface VmailDeps {
  documents: DocumentStore;
  feed: ChangeFeed;
  /** the change log: every change of the messages' metadata is an entry of it first */
  changeLog: ChangeLog;
  /** the configuration's partitioning (ConfigService) */
  config: VmailPartition;
  siteId: string;
  dataDir: string;
  /** the audio other sites hold, streamed over the links (sync/media.ts); without it only this site's audio plays */
  remote?: RemoteAudio;
  metrics: Metrics;
  log: Logger;
  /** where /healthz hears that the message store lags behind the log, and how the store checks go */
  health?: HealthReporter & TaskReporter;
  /** resolves once the service listens: the store checks wait for it, so that they do not slow the start down */
  listening?: Promise<void>;
  mailSettings?: {
    /**
     * The console's base URL for e-mails with notify = link, when the instance's ext.console_url
     * does not set one (e.g. the service's own address once it listens).
     */
    consoleUrl?: () => string | undefined;
  };
}

export interface Vmail {
  routes: RouteDef[];
  /** the role factory of `vmail` for the RoleHost */
  factory: RoleFactory;
  service: VmailService;
  /** after the RoleHost has stopped the instances: waits for the log's pending changes and closes the message store */
  stop(): Promise<void>;
}

/**
 * The vmail role (design section 5): opens its metadata collections, and returns the API routes
 * and the factory of its role instances. Requests reach the active instance serving the domain.
 */
export async function createVmail(deps: VmailDeps): Promise<Vmail> {
  const log = deps.log.child({ role: 'vmail' });
  const meta = await VmailMetadata.open({ documents: deps.documents, feed: deps.feed, log: deps.changeLog, dataDir: deps.dataDir, logger: log, siteId: deps.siteId, ...(deps.health ? { health: deps.health } : {}) });
  const metrics = new VmailMetrics(deps.metrics.registry);
  const service = new VmailService({ meta, config: deps.config, siteId: deps.siteId, metrics, log, ...(deps.remote ? { remote: deps.remote } : {}) });
  const consoleUrl = deps.mailSettings?.consoleUrl ?? (() => undefined);
  const factory: RoleFactory = (instance, roleLog) =>
    new VmailInstance(instance, { service, meta, config: deps.config, siteId: deps.siteId, dataDir: deps.dataDir, metrics, consoleUrl, ...(deps.health ? { tasks: deps.health } : {}), ...(deps.listening ? { listening: deps.listening } : {}) }, roleLog);
  return {
    routes: vmailRoutes(service),
    factory,
    service,
    async stop() {
      await meta.close(deps.changeLog);
    },
  };
}
