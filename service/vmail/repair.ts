import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { QuarantineReason } from '../../shared/api/vmail.js';
import type { Logger } from '../logger.js';
import { boxKey, type MailboxDoc } from './core.js';
import type { FileStore } from './fsstore.js';
import type { AudioRef } from './message-store.js';
import type { VmailMetadata } from './metadata.js';
import type { VmailMetrics } from './metrics.js';
import { AUDIO_EXT, isMailboxNumber, isTempName, isUuid, QUARANTINE_DIR, storeDomain } from './paths.js';
import type { Quarantine } from './quarantine.js';

export interface RepairReport {
  /** temp files of unfinished writes, moved into the quarantine */
  tempFiles: number;
  /** files no metadata points at, moved into the quarantine */
  orphanFiles: number;
  missingAudio: number;
  foundAudio: number;
  danglingGreetings: number;
  messages: number;
  /** quarantine records left without their file by a crash, removed */
  sweptRecords: number;
}

/**
 * The start-up consistency check of one instance's store, for the domains its group serves and the
 * messages this site holds. The write order (audio durable before metadata, metadata durable
 * before the answer and before any audio is removed) means a crash leaves temp files and files
 * without metadata; the check cannot tell a file whose deposit was answered from one that was
 * not, so it deletes neither: both are moved into the quarantine (quarantine.ts), where an admin
 * restores or deletes them. Metadata whose file is missing (a store moved or damaged by hand) is
 * marked `audioMissing` rather than dropped, so putting the files back and restarting heals it; a
 * greeting whose file is missing is unset. Every repair is logged.
 */
export async function checkStore(args: {
  store: FileStore;
  quarantine: Quarantine;
  meta: VmailMetadata;
  siteId: string;
  serves: (domain: string) => boolean;
  log: Logger;
  metrics: VmailMetrics;
  now?: () => Date;
}): Promise<RepairReport> {
  const { store: files, quarantine, meta, siteId, serves, log, metrics } = args;
  const now = args.now ?? (() => new Date());
  const report: RepairReport = { tempFiles: 0, orphanFiles: 0, missingAudio: 0, foundAudio: 0, danglingGreetings: 0, messages: 0, sweptRecords: 0 };

  // The messages are compared one mailbox at a time (the store's index by mailbox), so the check
  // never holds a domain's messages in memory; a mailbox with messages but no directory is done last.
  const store = meta.messages.store;
  const checkedBoxes = new Set<string>();
  const checkMessages = async (box: string, refs: readonly AudioRef[], found: ReadonlySet<string>) => {
    checkedBoxes.add(box);
    for (const [id, key, missing] of refs) {
      report.messages++;
      const present = found.has(key);
      if (present === !missing) continue;
      const doc = meta.messages.get(id);
      if (!doc) continue;
      await meta.messages.put({ ...doc, audioMissing: !present });
      if (present) {
        report.foundAudio++;
        metrics.repairs.inc({ kind: 'found_audio' });
        log.warn({ messageId: doc._id, key }, 'the audio of a message marked missing is back');
      } else {
        report.missingAudio++;
        metrics.repairs.inc({ kind: 'missing_audio' });
        log.error({ messageId: doc._id, key }, 'the audio file of a message is missing from the store: marked audioMissing');
      }
    }
  };
  const mailboxes = (await meta.mailboxes.find({})).filter((m) => serves(m.domain));
  const boxes = new Set(mailboxes.map((m) => m._id));
  const greetings = new Map<string, MailboxDoc>();
  for (const m of mailboxes) for (const g of Object.values(m.greetings)) if (g.originSite === siteId) greetings.set(g.storage.key, m);

  const seen = new Set<string>();
  const toQuarantine = async (name: string, reason: QuarantineReason, key: string, at: { domain: string; mailbox: string; greeting: boolean }) => {
    const path = files.entryPath(at.domain, at.mailbox, name, at.greeting);
    const entry = await quarantine.admit({ path, domain: at.domain, mailbox: at.mailbox, found: at.greeting ? 'greeting' : 'message', reason }, now());
    const kind = reason === 'unfinished_write' ? 'temp_file' : 'orphan_file';
    metrics.repairs.inc({ kind });
    if (kind === 'temp_file') report.tempFiles++;
    else report.orphanFiles++;
    log.warn(
      { key, kind, quarantineId: entry.id, size: entry.size, audio: entry.audio !== null },
      kind === 'temp_file' ? 'moved the temp file of an unfinished write into the quarantine' : 'moved an audio file that no metadata points at into the quarantine',
    );
  };

  for await (const dir of files.walk((name) => storeDomain(name) === name && serves(name))) {
    if (!isMailboxNumber(dir.mailbox)) continue;
    const box = boxKey(dir.domain, dir.mailbox);
    const refs = store.audioOf(box, siteId);
    const messageKeys = new Set(refs.map((r) => r[1]));
    const present = new Set<string>();
    for (const [names, greeting] of [[dir.files, false], [dir.greetings, true]] as const) {
      for (const name of names) {
        const key = `${dir.domain}/${dir.mailbox}/${greeting ? 'greetings/' : ''}${name}`;
        const at = { domain: dir.domain, mailbox: dir.mailbox, greeting };
        if (isTempName(name)) {
          await toQuarantine(name, 'unfinished_write', key, at);
          continue;
        }
        if (!name.endsWith(AUDIO_EXT) || !isUuid(name.slice(0, -AUDIO_EXT.length))) {
          log.debug({ key }, 'a file that is not part of the store layout: left alone');
          continue;
        }
        if (greeting ? greetings.has(key) : messageKeys.has(key)) {
          if (greeting) seen.add(key);
          else present.add(key);
        } else await toQuarantine(name, 'no_metadata', key, at);
      }
    }
    await checkMessages(box, refs, present);
    if (!boxes.has(box)) await files.pruneMailboxDir(dir.domain, dir.mailbox);
  }
  for (const box of store.boxes()) if (!checkedBoxes.has(box) && serves(box.slice(0, box.indexOf('/')))) await checkMessages(box, store.audioOf(box, siteId), new Set());

  for (const domain of await readdir(join(files.root, QUARANTINE_DIR)).catch(() => [] as string[])) {
    if (storeDomain(domain) !== domain || !serves(domain)) continue;
    const swept = await quarantine.sweep(domain);
    if (swept) log.info({ domain, records: swept }, 'removed quarantine records left without their file by a crash');
    report.sweptRecords += swept;
  }

  for (const [key, mailbox] of greetings) {
    if (seen.has(key)) continue;
    const current = (await meta.mailboxes.get(mailbox._id)) ?? mailbox;
    const kinds = Object.entries(current.greetings).filter(([, g]) => g.storage.key === key).map(([k]) => k);
    const next = { ...current.greetings };
    for (const k of kinds) delete next[k as keyof typeof next];
    await meta.mailboxes.put({ ...current, greetings: next });
    report.danglingGreetings++;
    metrics.repairs.inc({ kind: 'dangling_greeting' });
    log.error({ mailbox: mailbox._id, kinds, key }, 'a greeting file is missing from the store: the greeting is unset');
  }
  return report;
}
