import { unlink } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import { boxKey, type MailboxDoc, type MessageDoc } from './core.js';
import type { FileStore } from './fsstore.js';
import type { VmailMetadata } from './metadata.js';
import type { VmailMetrics } from './metrics.js';
import { AUDIO_EXT, isMailboxNumber, isTempName, isUuid, storeDomain } from './paths.js';

export interface RepairReport {
  tempFiles: number;
  orphanFiles: number;
  missingAudio: number;
  foundAudio: number;
  danglingGreetings: number;
  messages: number;
}

/**
 * The start-up consistency check of one instance's store, for the domains its group serves and the
 * messages this site holds. The write order (audio durable before metadata; metadata removed before
 * audio) means a crash can only leave temp files and files without metadata: both are removed.
 * Metadata whose file is missing (a store moved or damaged by hand) is marked `audioMissing`
 * rather than dropped, so putting the files back and restarting heals it; a greeting whose file
 * is missing is unset. Every repair is logged.
 */
export async function checkStore(args: {
  store: FileStore;
  meta: VmailMetadata;
  siteId: string;
  serves: (domain: string) => boolean;
  log: Logger;
  metrics: VmailMetrics;
}): Promise<RepairReport> {
  const { store, meta, siteId, serves, log, metrics } = args;
  const report: RepairReport = { tempFiles: 0, orphanFiles: 0, missingAudio: 0, foundAudio: 0, danglingGreetings: 0, messages: 0 };

  const messages = new Map<string, MessageDoc>();
  for (const doc of await meta.messages.find({ originSite: siteId })) if (serves(doc.domain)) messages.set(doc.storage.key, doc);
  const mailboxes = (await meta.mailboxes.find({})).filter((m) => serves(m.domain));
  const boxes = new Set(mailboxes.map((m) => m._id));
  const greetings = new Map<string, MailboxDoc>();
  for (const m of mailboxes) for (const g of Object.values(m.greetings)) if (g.originSite === siteId) greetings.set(g.storage.key, m);
  report.messages = messages.size;

  const seen = new Set<string>();
  const drop = async (path: string, kind: 'temp_file' | 'orphan_file', key: string) => {
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    metrics.repairs.inc({ kind });
    if (kind === 'temp_file') report.tempFiles++;
    else report.orphanFiles++;
    log.warn({ key, kind }, kind === 'temp_file' ? 'removed the temp file of an unfinished write' : 'removed an audio file that no metadata points at');
  };

  for await (const dir of store.walk((name) => storeDomain(name) === name && serves(name))) {
    if (!isMailboxNumber(dir.mailbox)) continue;
    for (const [names, greeting] of [[dir.files, false], [dir.greetings, true]] as const) {
      for (const name of names) {
        const key = `${dir.domain}/${dir.mailbox}/${greeting ? 'greetings/' : ''}${name}`;
        const path = store.entryPath(dir.domain, dir.mailbox, name, greeting);
        if (isTempName(name)) {
          await drop(path, 'temp_file', key);
          continue;
        }
        if (!name.endsWith(AUDIO_EXT) || !isUuid(name.slice(0, -AUDIO_EXT.length))) {
          log.debug({ key }, 'a file that is not part of the store layout: left alone');
          continue;
        }
        if (greeting ? greetings.has(key) : messages.has(key)) seen.add(key);
        else await drop(path, 'orphan_file', key);
      }
    }
    if (!boxes.has(boxKey(dir.domain, dir.mailbox))) await store.pruneMailboxDir(dir.domain, dir.mailbox);
  }

  for (const [key, doc] of messages) {
    const present = seen.has(key);
    if (present === !doc.audioMissing) continue;
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
