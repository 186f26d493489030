import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { CallEvent } from '../../shared/api/events.js';
import { CallstoreInstance, type InstanceRole } from '../../service/callstore/instance.js';
import { journalsIn, type PeerIntake } from '../../service/callstore/journal.js';
import { CallstoreMetrics } from '../../service/callstore/metrics.js';
import { ProfileBook } from '../../service/callstore/profiles.js';
import { createLogger } from '../../service/logger.js';
import { CdrStoreView } from '../../service/storage/cdr/view.js';
import { ChangeFeed } from '../../service/storage/changes.js';
import type { ChangeLog } from '../../service/storage/changelog/log.js';
import { toCore } from './call-events.js';
import { callstoreDefinition, openTestLog } from './callstore-harness.js';
import { CdrCollector } from './callstore-instance.js';
import type { TestLink } from './replication-link.js';

/*
 * Two (or more) sites of one callstore group on real parts, without service processes: each site
 * a data directory with its change log, its CDR store view, a ProfileBook as the service wires it,
 * and a callstore instance of the group, linked by real replication sessions (replication-link.ts
 * `link`). The roles are set by hand (the election has its own tests, and the service wires it).
 */

export interface CallSite {
  id: string;
  dir: string;
  log: ChangeLog;
  serves: 'all';
  cdrs: CdrCollector;
  book: ProfileBook;
  instance: CallstoreInstance;
  ingest(events: CallEvent[]): Promise<void>;
  /** keys of the `cdr` entries this site's own origin wrote */
  ownRecords(): string[];
  activeDialogs(): string[];
  /** this site's own count of the profile `total` (its dialogs and reservations) */
  total(): number;
  close(): Promise<void>;
}

export const active = (term: number): InstanceRole => ({ active: true, term, writableAtMs: 0 });
export const passive = (term: number): InstanceRole => ({ active: false, term, writableAtMs: 0 });

/** The sites, links and directories of one test file; `cleanUp` in its afterEach. */
export class CallSites {
  private readonly dirs: string[] = [];
  private readonly open: CallSite[] = [];
  /** links to cut at clean-up (push what `link` gave) */
  readonly links: TestLink[] = [];

  /** `group`: the instance names of the callstore group, one per site. */
  constructor(private readonly group: readonly string[]) {}

  /** Opens site `id` holding instance `name` in `role`, in `dir` (a reopen) or a new directory. */
  async openCallSite(id: string, name: string, role: InstanceRole, dir?: string): Promise<CallSite> {
    const at = dir ?? mkdtempSync(join(tmpdir(), `sitecall-cs-${id}-`));
    if (!dir) this.dirs.push(at);
    const log = openTestLog(at, id);
    const cdrs = new CdrCollector();
    const view = new CdrStoreView(cdrs);
    await log.attachView(view, { fresh: true });
    let instance: CallstoreInstance | undefined;
    const peers: PeerIntake = {
      holderOf: (n) => (this.group.includes(n) ? name : undefined),
      localInstances: () => [name],
      events: (holder, events) => {
        if (holder === name) instance?.foldReplicated(events);
      },
      record: (cdr) => instance?.recordArrived(cdr),
    };
    const book = new ProfileBook();
    const definition = { ...callstoreDefinition('async', { finish_settle_ms: 50 }), name, site: id };
    const started = new CallstoreInstance(
      definition,
      { siteId: id, cdrs: view, feed: new ChangeFeed(), metrics: new CallstoreMetrics(new Registry()), journals: journalsIn(log, at, peers), role, profiles: book.forInstance() },
      createLogger('silent'),
    );
    await started.start();
    instance = started;
    const site: CallSite = {
      id,
      dir: at,
      log,
      serves: 'all',
      cdrs,
      book,
      instance: started,
      ingest: (events) => started.ingest(events.map(toCore)).stored,
      ownRecords: () => log.database.prepare("SELECT e.key FROM entries e JOIN origins o ON o.id = e.origin WHERE e.kind = 'cdr' AND o.name = ? ORDER BY e.key").pluck().all(id) as string[],
      activeDialogs: () => log.database.prepare('SELECT call_id FROM journal_active WHERE instance = ? ORDER BY call_id').pluck().all(name) as string[],
      total: () => book.localCounts().find((c) => c.name === 'total')?.count ?? 0,
      async close() {
        await started.stop();
        book.stop();
        view.stop();
        await log.close();
      },
    };
    this.open.push(site);
    return site;
  }

  /** Closes the site as a clean stop would and opens its directory again, holding `name` in `role`. */
  async reopen(site: CallSite, name: string, role: InstanceRole): Promise<CallSite> {
    this.open.splice(this.open.indexOf(site), 1);
    await site.close();
    return this.openCallSite(site.id, name, role, site.dir);
  }

  async cleanUp(): Promise<void> {
    for (const l of this.links.splice(0)) await l.cut().catch(() => undefined);
    for (const s of this.open.splice(0)) await s.close().catch(() => undefined);
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
