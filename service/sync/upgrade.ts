import type { RolesConfig } from '../../shared/api/roles.js';
import type { SiteIdentity } from '../config/site.js';
import type { ConfigService } from '../config/service.js';
import type { Logger } from '../logger.js';
import type { ChangeLog, NewChange } from '../storage/changelog/log.js';

/** The logged kinds whose documents name the site that holds a voicemail's audio. */
const VMAIL_MESSAGES = 'vmail_messages';
const VMAIL_MAILBOXES = 'vmail_mailboxes';

/**
 * The second half of the upgrade to certificate ids (config/site.ts did the first: the new id,
 * the log's origin renamed): what names a former id of this site is moved to the new one.
 * - the role configuration's `site` references and its `ifaceAliases` keys, through the normal
 *   write path (validated, a new revision);
 * - vmail's `originSite` of messages and greetings (the site that holds the audio: with an old id
 *   the messages would look held elsewhere and could not be played), as new log entries of their
 *   documents, before their stores open (they catch up from the log when they attach).
 * Each step finds nothing left to do when it ran already, so a crash in the middle repeats it.
 */
export async function moveFormerSiteIds(args: { site: SiteIdentity; config: ConfigService; changeLog: ChangeLog; log: Logger }): Promise<void> {
  const { site, config, changeLog, log } = args;
  if (!site.upgradePending) return;
  const former = new Set(site.formerIds);
  const current = config.get();
  const moved = moveConfig(current, former, site.id);
  if (moved) {
    const saved = await config.save({ revision: current.revision, instances: moved.instances, ifaceAliases: moved.ifaceAliases });
    log.info({ revision: saved.revision, from: site.formerIds, to: site.id }, 'site id upgrade: the role configuration names the new site id');
  }
  // The new versions go in transactions of MOVES_PER_TRANSACTION: one commit (and its fsync) a
  // document cost 0.7 ms each, 70 s for 100,000 messages (bench/vmail, first start after the upgrade).
  const moves = new BatchedAppends(changeLog);
  for (const doc of changeLog.documents<{ originSite?: string }>(VMAIL_MESSAGES)) {
    if (doc.tombstone || !doc.body?.originSite || !former.has(doc.body.originSite)) continue;
    moves.add({ kind: VMAIL_MESSAGES, key: doc.key, body: { ...doc.body, originSite: site.id } });
  }
  for (const doc of changeLog.documents<{ greetings?: Record<string, { originSite?: string } | undefined> }>(VMAIL_MAILBOXES)) {
    const greetings = doc.body?.greetings;
    if (doc.tombstone || !greetings || !Object.values(greetings).some((g) => g?.originSite && former.has(g.originSite))) continue;
    const next = Object.fromEntries(Object.entries(greetings).map(([k, g]) => [k, g?.originSite && former.has(g.originSite) ? { ...g, originSite: site.id } : g]));
    moves.add({ kind: VMAIL_MAILBOXES, key: doc.key, body: { ...doc.body, greetings: next } });
  }
  const vmail = moves.finish();
  await changeLog.flush();
  if (vmail) log.info({ documents: vmail }, 'site id upgrade: voicemail metadata names the new site id');
  await site.finishUpgrade();
}

const MOVES_PER_TRANSACTION = 500;

/** Appends changes MOVES_PER_TRANSACTION at a time (ChangeLog.appendMany: one transaction each). */
class BatchedAppends {
  private pending: NewChange[] = [];
  private appended = 0;

  constructor(private readonly changeLog: ChangeLog) {}

  add(change: NewChange): void {
    this.pending.push(change);
    if (this.pending.length >= MOVES_PER_TRANSACTION) this.write();
  }

  /** Writes what is pending; the number of changes appended in all. */
  finish(): number {
    this.write();
    return this.appended;
  }

  private write(): void {
    if (!this.pending.length) return;
    this.changeLog.appendMany(this.pending);
    this.appended += this.pending.length;
    this.pending = [];
  }
}

/** The configuration with former ids replaced, or undefined when none is named. */
export function moveConfig(config: RolesConfig, former: ReadonlySet<string>, to: string): Pick<RolesConfig, 'instances' | 'ifaceAliases'> | undefined {
  let changed = false;
  const instances = config.instances.map((i) => {
    if (i.site === undefined || !former.has(i.site)) return i;
    changed = true;
    return { ...i, site: to };
  });
  let ifaceAliases = config.ifaceAliases;
  if (ifaceAliases && Object.keys(ifaceAliases).some((k) => former.has(k))) {
    changed = true;
    const next: NonNullable<RolesConfig['ifaceAliases']> = {};
    for (const [k, v] of Object.entries(ifaceAliases)) next[former.has(k) ? to : k] = { ...next[former.has(k) ? to : k], ...v };
    ifaceAliases = next;
  }
  return changed ? { instances, ifaceAliases } : undefined;
}
