import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { VMAIL_LIMITS, type QuarantineEntry, type QuarantineReason } from '../../shared/api/vmail.js';
import { ConflictError } from '../errors.js';
import { audioFormatOf } from './core.js';
import { fsyncDir, listDir, type FileStore } from './fsstore.js';
import { isMailboxNumber, isUuid, quarantineDirOf } from './paths.js';
import { WavError, WavValidator, type WavHeader } from './wav.js';

/**
 * The quarantine of a store: what the start-up check finds and cannot match (an audio file no
 * metadata points at, the temp file of a write that never finished) is moved here instead of
 * being deleted, with a record of why, per domain and mailbox:
 *
 *   <root>/.quarantine/<domain>/<mailbox>/<entry id>.json   the record (QuarantineEntry)
 *   <root>/.quarantine/<domain>/<mailbox>/<entry id>.data   the file, as it was
 *
 * An admin restores an entry into a mailbox as a message (when it is audio we take) or deletes it
 * for good; nothing else removes it. The record is written before the file is moved in, so a crash
 * in between leaves a record without a file (swept at the next start) and the file where it was
 * (found and quarantined again), never a file without a record.
 */

const RECORD_EXT = '.json';
const DATA_EXT = '.data';

export interface Admission {
  /** the file's absolute path in the store (checked by the caller: FileStore.entryPath) */
  path: string;
  domain: string;
  mailbox: string;
  found: QuarantineEntry['found'];
  reason: QuarantineReason;
}

export function reasonText(reason: QuarantineReason, found: QuarantineEntry['found']): string {
  if (reason === 'checksum_mismatch') {
    return found === 'greeting'
      ? 'The file of a greeting whose bytes no longer match the SHA-256 taken when it was uploaded (damaged on disk, or changed by hand): the greeting is kept, marked audioMissing, and is not played until it is uploaded again.'
      : 'The audio of a message whose bytes no longer match the SHA-256 taken when it was received (damaged on disk, or changed by hand): the message is kept, marked audioMissing.';
  }
  if (reason === 'unfinished_write') {
    return 'The temp file of a write that never finished: the service stopped during the upload or before the file was put in place, so nobody was told it was stored.';
  }
  return found === 'greeting'
    ? 'A greeting file that no mailbox points at: the service stopped between writing the file and recording it, or the record was lost.'
    : 'An audio file that no message points at: the service stopped between writing the file and recording the message, or the record was lost.';
}

/** Reads a file through the WAV checks of a deposit: its header (and its SHA-256, read in the same pass) when it is audio we take, else why not. */
export async function inspectAudio(path: string): Promise<{ header: WavHeader; sha256: string; problem: null } | { header: null; problem: string }> {
  const size = (await stat(path)).size;
  if (size > VMAIL_LIMITS.uploadBytes) return { header: null, problem: `It has ${size} bytes, more than the ${VMAIL_LIMITS.uploadBytes} a message may have.` };
  const validator = new WavValidator({ headerBytes: VMAIL_LIMITS.headerBytes });
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) {
      validator.push(chunk as Buffer);
      hash.update(chunk as Buffer);
    }
    return { header: validator.end(), sha256: hash.digest('hex'), problem: null };
  } catch (err) {
    if (err instanceof WavError) return { header: null, problem: err.message };
    throw err;
  }
}

export class Quarantine {
  constructor(private readonly store: FileStore) {}

  /** Moves a file of the store into the quarantine of its mailbox, with a record of why. */
  async admit(a: Admission, now: Date): Promise<QuarantineEntry> {
    const [info, inspected] = await Promise.all([stat(a.path), inspectAudio(a.path)]);
    const id = randomUUID();
    const entry: QuarantineEntry = {
      id,
      domain: a.domain,
      mailbox: a.mailbox,
      found: a.found,
      reason: a.reason,
      reasonText: reasonText(a.reason, a.found),
      fileName: basename(a.path),
      size: info.size,
      modifiedAt: info.mtime.toISOString(),
      quarantinedAt: now.toISOString(),
      audio: inspected.header ? { durationMs: inspected.header.durationMs, format: audioFormatOf(inspected.header.format) } : null,
      problem: inspected.problem,
    };
    const dir = quarantineDirOf(this.store.root, a.domain, a.mailbox);
    await this.store.ensureDirectory(dir);
    await writeDurably(join(dir, `${id}${RECORD_EXT}`), `${JSON.stringify(entry, null, 2)}\n`);
    await rename(a.path, join(dir, `${id}${DATA_EXT}`));
    await fsyncDir(dir);
    await fsyncDir(dirname(a.path));
    return entry;
  }

  /** The entries of a domain, newest first. */
  async list(domain: string): Promise<QuarantineEntry[]> {
    const entries: QuarantineEntry[] = [];
    for (const mailbox of await listDir(quarantineDirOf(this.store.root, domain))) {
      if (!isMailboxNumber(mailbox)) continue;
      const dir = quarantineDirOf(this.store.root, domain, mailbox);
      const names = new Set(await listDir(dir));
      for (const name of names) {
        const id = name.endsWith(RECORD_EXT) ? name.slice(0, -RECORD_EXT.length) : '';
        if (!isUuid(id) || !names.has(`${id}${DATA_EXT}`)) continue;
        const entry = await readRecord(join(dir, name));
        if (entry && entry.id === id && entry.domain === domain && entry.mailbox === mailbox) entries.push(entry);
      }
    }
    return entries.sort((a, b) => b.quarantinedAt.localeCompare(a.quarantinedAt) || a.id.localeCompare(b.id));
  }

  async get(domain: string, id: string): Promise<QuarantineEntry | undefined> {
    if (!isUuid(id)) return undefined;
    for (const mailbox of await listDir(quarantineDirOf(this.store.root, domain))) {
      if (!isMailboxNumber(mailbox)) continue;
      const dir = quarantineDirOf(this.store.root, domain, mailbox);
      const present = await stat(join(dir, `${id}${DATA_EXT}`)).then((s) => s.isFile(), () => false);
      const entry = present ? await readRecord(join(dir, `${id}${RECORD_EXT}`)) : undefined;
      if (entry && entry.id === id && entry.domain === domain && entry.mailbox === mailbox) return entry;
    }
    return undefined;
  }

  /** Deletes an entry for good: its file, then its record. */
  async remove(entry: QuarantineEntry): Promise<void> {
    const dir = quarantineDirOf(this.store.root, entry.domain, entry.mailbox);
    await unlinkIfThere(join(dir, `${entry.id}${DATA_EXT}`));
    await unlinkIfThere(join(dir, `${entry.id}${RECORD_EXT}`));
    await fsyncDir(dir);
  }

  /**
   * Moves an entry's file to `key` in the store after checking it again as a deposit is checked;
   * a ConflictError when it is not audio we take. The record stays until forget().
   */
  async release(entry: QuarantineEntry, key: string): Promise<{ header: WavHeader; size: number; sha256: string }> {
    const dir = quarantineDirOf(this.store.root, entry.domain, entry.mailbox);
    const data = join(dir, `${entry.id}${DATA_EXT}`);
    const inspected = await inspectAudio(data);
    if (!inspected.header) throw new ConflictError(`The quarantined file ${entry.fileName} cannot be restored as a message: ${inspected.problem} Delete it instead.`);
    const size = (await stat(data)).size;
    const target = this.store.pathOf(key);
    await this.store.ensureDirectory(dirname(target));
    await rename(data, target);
    await fsyncDir(dirname(target));
    await fsyncDir(dir);
    return { header: inspected.header, size, sha256: inspected.sha256 };
  }

  /** Undoes release() when the message could not be recorded. */
  async putBack(entry: QuarantineEntry, key: string): Promise<void> {
    const dir = quarantineDirOf(this.store.root, entry.domain, entry.mailbox);
    const target = this.store.pathOf(key);
    await rename(target, join(dir, `${entry.id}${DATA_EXT}`));
    await fsyncDir(dir);
    await fsyncDir(dirname(target));
  }

  /** Drops the record of a released entry. */
  async forget(entry: QuarantineEntry): Promise<void> {
    const dir = quarantineDirOf(this.store.root, entry.domain, entry.mailbox);
    await unlinkIfThere(join(dir, `${entry.id}${RECORD_EXT}`));
    await fsyncDir(dir);
  }

  /**
   * At start: removes the records left without their file by a crash (in admit() before the move,
   * or in a restore after it) and half-written records. Only records go, never a file of audio.
   */
  async sweep(domain: string): Promise<number> {
    let removed = 0;
    const domainDir = quarantineDirOf(this.store.root, domain);
    for (const mailbox of await listDir(domainDir)) {
      if (!isMailboxNumber(mailbox)) continue;
      const dir = quarantineDirOf(this.store.root, domain, mailbox);
      const names = new Set(await listDir(dir));
      let here = 0;
      for (const name of names) {
        const stale = name.endsWith(`${RECORD_EXT}.tmp`) || (name.endsWith(RECORD_EXT) && !names.has(`${name.slice(0, -RECORD_EXT.length)}${DATA_EXT}`));
        if (!stale) continue;
        await unlinkIfThere(join(dir, name));
        here++;
      }
      if (here) await fsyncDir(dir);
      removed += here;
      // rmdir removes only an empty directory: a mailbox's quarantine emptied by restores and deletes
      await this.store.removeEmptyDirectory(dir);
    }
    await this.store.removeEmptyDirectory(domainDir);
    return removed;
  }
}

async function readRecord(path: string): Promise<QuarantineEntry | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as QuarantineEntry;
  } catch {
    // missing, or not JSON (a record is written whole by rename, so only damage does that)
    return undefined;
  }
}

/** temp file, fsync, rename into place, fsync the directory */
async function writeDurably(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await fsyncDir(dirname(path));
}

async function unlinkIfThere(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
