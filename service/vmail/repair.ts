import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { QuarantineReason } from '../../shared/api/vmail.js';
import type { Logger } from '../logger.js';
import { boxKey, checksumOf, type MailboxDoc, type MessageDoc } from './core.js';
import type { FileStore } from './fsstore.js';
import type { AudioRef } from './message-store.js';
import type { VmailMetadata } from './metadata.js';
import type { VmailMetrics } from './metrics.js';
import { AUDIO_EXT, greetingKey, isMailboxNumber, isTempName, isUuid, messageKey, QUARANTINE_DIR, storeDomain } from './paths.js';
import type { Quarantine } from './quarantine.js';

export interface RepairReport {
  /** temp files of unfinished writes, moved into the quarantine */
  tempFiles: number;
  /** files no metadata points at, moved into the quarantine */
  orphanFiles: number;
  missingAudio: number;
  foundAudio: number;
  /** audio whose bytes did not match its SHA-256: moved into the quarantine, the message marked audioMissing */
  damagedAudio: number;
  /** audio files hashed and compared with their message's SHA-256 */
  verifiedAudio: number;
  danglingGreetings: number;
  messages: number;
  /** quarantine records left without their file by a crash, removed */
  sweptRecords: number;
  /** greeting files whose bytes did not match their SHA-256: moved into the quarantine, the greeting marked audioMissing */
  damagedGreetings: number;
  /** greeting files hashed and compared with their SHA-256 */
  verifiedGreetings: number;
}

/** The longest the check hashes files without letting requests in. */
const SLICE_MS = 5;
/** messages read from the store at a time */
const PAGE = 500;

/** What the check needs of the running service: it runs while deposits and listings are served. */
export interface LiveStore {
  /** a write or removal of this key is under way (from before its temp file exists until its metadata is applied) */
  busy(key: string): boolean;
  /** runs a change of a mailbox's documents under the lock the requests take */
  locked<T>(box: string, task: () => Promise<T>): Promise<T>;
  /** moves a message's damaged audio into the quarantine and marks the message */
  quarantineDamaged(doc: MessageDoc): Promise<void>;
  /** moves a greeting's damaged file into the quarantine and marks the greeting (`box`: the mailbox's id) */
  quarantineDamagedGreeting(box: string, key: string): Promise<void>;
}

/**
 * The consistency check of one instance's store, for the domains its group serves and the
 * messages this site holds; it runs after the service listens, beside the requests. The write
 * order (audio durable before metadata, metadata durable before the answer and before any audio
 * is removed) means a crash leaves temp files and files without metadata; the check cannot tell a
 * file whose deposit was answered from one that was not, so it deletes neither: both are moved
 * into the quarantine (quarantine.ts), where an admin restores or deletes them. Metadata whose
 * file is missing (a store moved or damaged by hand) is marked `audioMissing` rather than dropped,
 * so putting the files back and restarting heals it; a greeting whose file is missing is unset.
 * The audio of every message and greeting with a SHA-256 is read and compared with it; a file that
 * differs is quarantined (`checksum_mismatch`) and its message or greeting marked `audioMissing`
 * (a greeting so marked is known to have no file: it is neither checked nor unset as dangling).
 * Every repair is logged.
 *
 * Beside live requests, every decision is taken again at the moment it is acted on, never from
 * the listing alone: a file is quarantined only when no write of its key is under way and no
 * metadata points at it then (a deposit's key is busy from before its temp file exists until its
 * metadata is applied, so a file listed while it was being deposited is never taken), and a
 * message is marked missing only when its file is still not there. Changes of metadata take the
 * mailbox's lock, as requests do.
 */
export async function checkStore(args: {
  store: FileStore;
  quarantine: Quarantine;
  meta: VmailMetadata;
  live: LiveStore;
  siteId: string;
  serves: (domain: string) => boolean;
  log: Logger;
  metrics: VmailMetrics;
  /** stops the check between two mailboxes (the instance stops) */
  signal?: AbortSignal;
  now?: () => Date;
}): Promise<RepairReport> {
  const { store: files, quarantine, meta, live, siteId, serves, log, metrics, signal } = args;
  const now = args.now ?? (() => new Date());
  const report: RepairReport = {
    tempFiles: 0,
    orphanFiles: 0,
    missingAudio: 0,
    foundAudio: 0,
    danglingGreetings: 0,
    messages: 0,
    sweptRecords: 0,
    damagedAudio: 0,
    verifiedAudio: 0,
    damagedGreetings: 0,
    verifiedGreetings: 0,
  };

  // The messages are compared one mailbox at a time (the store's index by mailbox), so the check
  // never holds a domain's messages in memory; a mailbox with messages but no directory is done last.
  const store = meta.messages.store;
  const checkedBoxes = new Set<string>();
  let slice = performance.now();
  /** Small files are hashed with blocking reads, and most messages need no await at all: the requests get the event loop every few ms. */
  const letRequestsIn = async () => {
    if (performance.now() - slice < SLICE_MS) return;
    await new Promise((r) => setImmediate(r));
    slice = performance.now();
  };
  /** One message against the listing of its directory (`listed`: its file was there). */
  const checkMessage = async (box: string, [id, key, missing, sha256]: AudioRef, listed: boolean) => {
    report.messages++;
    if (live.busy(key)) return;
    if (listed && !missing && sha256 !== null) {
      const sum = await files.checksumForCheck(key);
      if (sum === undefined || live.busy(key)) return;
      report.verifiedAudio++;
      if (sum.sha256 === sha256) return;
      const doc = meta.messages.get(id);
      if (!doc || doc.storage.key !== key) return;
      await live.quarantineDamaged(doc);
      report.damagedAudio++;
      return;
    }
    if (listed === !missing) return;
    await live.locked(box, async () => {
      const doc = meta.messages.get(id);
      if (!doc || doc.storage.key !== key || live.busy(key)) return;
      // the listing is older than the metadata: look again
      const present = (await files.size(key)) !== undefined;
      if (present === !doc.audioMissing) return;
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
    });
  };
  /**
   * A mailbox's messages against the sorted names of the message files in its directory: a merge
   * of the two in id order, the messages read a page at a time, so the check holds one listing and
   * one page, never a mailbox's messages. `orphan` is told each name no message of the box has.
   */
  const checkMessages = async (box: string, names: readonly string[], orphan: (name: string) => Promise<void>) => {
    checkedBoxes.add(box);
    let at = 0;
    let after = '';
    for (;;) {
      const page = store.audioPage(box, siteId, after, PAGE);
      for (const ref of page) {
        await letRequestsIn();
        const name = `${ref[0]}${AUDIO_EXT}`;
        if (ref[1] !== `${box}/${name}`) {
          // audio kept under a key of another layout: look at the file itself
          await checkMessage(box, ref, (await files.size(ref[1])) !== undefined);
          continue;
        }
        while (at < names.length && (names[at] as string) < name) await orphan(names[at++] as string);
        const listed = names[at] === name;
        if (listed) at++;
        await checkMessage(box, ref, listed);
      }
      if (page.length < PAGE) break;
      after = (page.at(-1) as AudioRef)[0];
    }
    while (at < names.length) await orphan(names[at++] as string);
  };
  const mailboxes = (await meta.mailboxes.find({})).filter((m) => serves(m.domain));
  const boxes = new Set(mailboxes.map((m) => m._id));
  /** the greetings this site holds a file of, by store key (a marked one has none: its file is in the quarantine) */
  const greetings = new Map<string, { mailbox: MailboxDoc; sha256: string | null }>();
  for (const m of mailboxes) {
    for (const g of Object.values(m.greetings)) if (g.originSite === siteId && g.audioMissing !== true) greetings.set(g.storage.key, { mailbox: m, sha256: checksumOf(g.storage) });
  }
  /** A listed greeting file against its SHA-256; damaged: quarantined and marked (the service decides again under the mailbox's lock). */
  const checkGreeting = async (key: string, greeting: { mailbox: MailboxDoc; sha256: string | null }) => {
    if (greeting.sha256 === null || live.busy(key)) return;
    await letRequestsIn();
    const sum = await files.checksumForCheck(key);
    if (sum === undefined || live.busy(key)) return;
    report.verifiedGreetings++;
    if (sum.sha256 === greeting.sha256) return;
    await live.quarantineDamagedGreeting(greeting.mailbox._id, key);
    report.damagedGreetings++;
  };

  /** Is something pointing at this file, or writing it, now (not when the directory was listed)? */
  const claimed = async (key: string, at: { domain: string; mailbox: string; greeting: boolean }, name: string): Promise<boolean> => {
    if (live.busy(key)) return true;
    if (at.greeting) {
      const current = await meta.mailboxes.get(boxKey(at.domain, at.mailbox));
      return current !== null && Object.values(current.greetings).some((g) => g.storage.key === key);
    }
    const doc = meta.messages.get(name.slice(0, -AUDIO_EXT.length));
    return doc !== null && doc.storage.key === key;
  };

  const seen = new Set<string>();
  const toQuarantine = async (name: string, reason: QuarantineReason, key: string, at: { domain: string; mailbox: string; greeting: boolean }) => {
    const path = files.entryPath(at.domain, at.mailbox, name, at.greeting);
    let entry: Awaited<ReturnType<Quarantine['admit']>>;
    try {
      entry = await quarantine.admit({ path, domain: at.domain, mailbox: at.mailbox, found: at.greeting ? 'greeting' : 'message', reason }, now());
    } catch (err) {
      // gone since the listing (an upload given up, a purge): nothing to keep
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
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
    if (signal?.aborted) return report;
    if (!isMailboxNumber(dir.mailbox)) continue;
    const box = boxKey(dir.domain, dir.mailbox);
    const messageFiles: string[] = [];
    for (const [names, greeting] of [[dir.files, false], [dir.greetings, true]] as const) {
      for (const name of names) {
        const key = `${dir.domain}/${dir.mailbox}/${greeting ? 'greetings/' : ''}${name}`;
        const at = { domain: dir.domain, mailbox: dir.mailbox, greeting };
        if (isTempName(name)) {
          // `.<id>.<random>.tmp`: the key it becomes; an upload still writing it is not unfinished
          const id = name.slice(1, name.indexOf('.', 1));
          const target = !isUuid(id) ? undefined : greeting ? greetingKey(dir.domain, dir.mailbox, id) : messageKey(dir.domain, dir.mailbox, id);
          if (target === undefined || !live.busy(target)) await toQuarantine(name, 'unfinished_write', key, at);
          continue;
        }
        if (!name.endsWith(AUDIO_EXT) || !isUuid(name.slice(0, -AUDIO_EXT.length))) {
          log.debug({ key }, 'a file that is not part of the store layout: left alone');
          continue;
        }
        const known = greeting ? greetings.get(key) : undefined;
        if (!greeting) messageFiles.push(name);
        else if (known) {
          seen.add(key);
          await checkGreeting(key, known);
        } else if (!(await claimed(key, at, name))) await toQuarantine(name, 'no_metadata', key, at);
      }
    }
    messageFiles.sort();
    const at = { domain: dir.domain, mailbox: dir.mailbox, greeting: false };
    await checkMessages(box, messageFiles, async (name) => {
      const key = `${box}/${name}`;
      if (!(await claimed(key, at, name))) await toQuarantine(name, 'no_metadata', key, at);
    });
    if (!boxes.has(box)) await files.pruneMailboxDir(dir.domain, dir.mailbox);
  }
  for (const box of store.boxes()) {
    if (signal?.aborted) return report;
    if (!checkedBoxes.has(box) && serves(box.slice(0, box.indexOf('/')))) await checkMessages(box, [], async () => undefined);
  }

  for (const domain of await readdir(join(files.root, QUARANTINE_DIR)).catch(() => [] as string[])) {
    if (storeDomain(domain) !== domain || !serves(domain)) continue;
    const swept = await quarantine.sweep(domain);
    if (swept) log.info({ domain, records: swept }, 'removed quarantine records left without their file by a crash');
    report.sweptRecords += swept;
  }

  for (const [key, { mailbox }] of greetings) {
    if (seen.has(key) || signal?.aborted) continue;
    await live.locked(mailbox._id, async () => {
      const current = await meta.mailboxes.get(mailbox._id);
      if (!current || live.busy(key) || (await files.size(key)) !== undefined) return;
      const kinds = Object.entries(current.greetings).filter(([, g]) => g.storage.key === key).map(([k]) => k);
      // replaced or removed since the check began: nothing dangles
      if (kinds.length === 0) return;
      const next = { ...current.greetings };
      for (const k of kinds) delete next[k as keyof typeof next];
      await meta.mailboxes.put({ ...current, greetings: next });
      report.danglingGreetings++;
      metrics.repairs.inc({ kind: 'dangling_greeting' });
      log.error({ mailbox: mailbox._id, kinds, key }, 'a greeting file is missing from the store: the greeting is unset');
    });
  }
  return report;
}
