import { createHash, hash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { dirOf, GREETINGS_DIR, isInside, pathOf } from './paths.js';

/**
 * The `fs` attachment handler of the vmail role: audio files under one root directory, laid out by
 * domain/mailbox/message (paths.ts). Every file is written to a temp file in its final directory,
 * fsync'd, renamed into place and the directory fsync'd: after a crash a file is either whole
 * under its name or a temp file the start-up check removes. New directories are fsync'd into
 * their parents too.
 */
export class FileStore {
  readonly root: string;
  /** directories known to exist (durably): the hot path skips mkdir and fsync for them */
  private readonly knownDirs = new Set<string>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    this.knownDirs.add(this.root);
  }

  pathOf(key: string): string {
    return pathOf(this.root, key);
  }

  /** Starts a file that becomes `key` on commit. */
  async create(key: string): Promise<PendingFile> {
    const final = this.pathOf(key);
    const dir = dirname(final);
    await this.ensureDirectory(dir);
    const temp = join(dir, `.${basename(final, '.wav')}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600);
    return new PendingFile(handle, temp, final, dir);
  }

  /** Removes a file; false when it was not there. */
  async remove(key: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(key));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? s.size : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** The SHA-256 (hex) of a file as it is now, with the size and modification time it was read at; undefined when it is not there. */
  async checksum(key: string): Promise<{ sha256: string; size: number; mtimeMs: number } | undefined> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.pathOf(key), 'r');
      const info = await handle.stat();
      const sha = createHash('sha256');
      // plain reads into one buffer: a read stream costs more than the hashing for small files
      const buf = Buffer.allocUnsafe(Math.min(CHECKSUM_CHUNK, Math.max(info.size, 1)));
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        sha.update(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      }
      return { sha256: sha.digest('hex'), size: info.size, mtimeMs: info.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    } finally {
      await handle?.close();
    }
  }

  /**
   * The same for the store check, which hashes every file of the store: a small file is read with
   * blocking calls into one reused buffer (four calls in this thread instead of five round trips
   * to the thread pool, and no garbage), a large one the way `checksum` does. The caller yields
   * to the event loop between files.
   */
  async checksumForCheck(key: string): Promise<{ sha256: string; size: number } | undefined> {
    let fd: number;
    try {
      fd = openSync(this.pathOf(key), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= CHECKSUM_CHUNK) {
        let at = 0;
        for (;;) {
          const n = readSync(fd, scratch, at, scratch.length - at, at);
          if (n === 0 || at + n === scratch.length) {
            at += n;
            break;
          }
          at += n;
        }
        // grown past the buffer since fstat: hashed the way large files are
        if (at === scratch.length) return await this.checksum(key);
        // one-shot: no Hash object (and its native context) per file
        return { sha256: hash('sha256', scratch.subarray(0, at)), size: at };
      }
    } finally {
      closeSync(fd);
    }
    return this.checksum(key);
  }

  /** A stream of the bytes start..end (inclusive) of a file. */
  read(key: string, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.pathOf(key), range ? { start: range.start, end: range.end } : {});
  }

  /** Removes a mailbox's directories when nothing is left in them. */
  async pruneMailboxDir(domain: string, mailbox: string): Promise<void> {
    for (const dir of [dirOf(this.root, domain, mailbox, true), dirOf(this.root, domain, mailbox), dirOf(this.root, domain)]) {
      try {
        await rmdir(dir);
        this.knownDirs.delete(dir);
      } catch {
        return; // not empty, or not there
      }
    }
  }

  /** Removes a directory of the store if it is empty (rmdir never removes anything else). */
  async removeEmptyDirectory(dir: string): Promise<void> {
    if (!isInside(this.root, dir)) throw new Error(`refusing a directory outside the store: ${dir}`);
    try {
      await rmdir(dir);
      this.knownDirs.delete(dir);
    } catch {
      // not empty, or not there
    }
  }

  /**
   * Everything under the root as the layout sees it, for the start-up check: per domain
   * directory, per mailbox directory, its file names and its greetings' file names.
   */
  async *walk(domains: (name: string) => boolean): AsyncGenerator<{ domain: string; mailbox: string; files: string[]; greetings: string[] }> {
    for (const domain of await listDir(this.root)) {
      if (!domains(domain)) continue;
      const domainDir = join(this.root, domain);
      for (const mailbox of await listDir(domainDir)) {
        const boxDir = join(domainDir, mailbox);
        const files = (await listDir(boxDir)).filter((f) => f !== GREETINGS_DIR);
        const greetings = await listDir(join(boxDir, GREETINGS_DIR));
        yield { domain, mailbox, files, greetings };
      }
    }
  }

  /** The absolute path of a name found by walk(), checked to be inside the root. */
  entryPath(domain: string, mailbox: string, name: string, greeting = false): string {
    const path = resolve(this.root, domain, mailbox, ...(greeting ? [GREETINGS_DIR] : []), name);
    if (!isInside(this.root, path) || relative(this.root, path).split(sep).length !== (greeting ? 4 : 3)) throw new Error(`refusing a path outside the layout: ${path}`);
    return path;
  }

  /** Creates the missing directories from the root down, each fsync'd into its parent. */
  async ensureDirectory(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    if (!isInside(this.root, dir)) throw new Error(`refusing a directory outside the store: ${dir}`);
    const parts = relative(this.root, dir).split(sep);
    let current = this.root;
    for (const part of parts) {
      const parent = current;
      current = join(current, part);
      if (this.knownDirs.has(current)) continue;
      try {
        await mkdir(current, { mode: 0o700 });
        await fsyncDir(parent);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      this.knownDirs.add(current);
    }
  }
}

/** How much of a file one read takes while it is hashed; files up to this size are read at once by the store check. */
const CHECKSUM_CHUNK = 256 * 1024;
/** the store check's read buffer (it hashes one file at a time) */
const scratch = Buffer.alloc(CHECKSUM_CHUNK);

/** A file being written: bytes go to its temp file until commit() puts it in place. */
export class PendingFile {
  private bytes = 0;
  private done = false;

  constructor(
    private readonly handle: FileHandle,
    readonly tempPath: string,
    readonly finalPath: string,
    private readonly dir: string,
  ) {}

  get size(): number {
    return this.bytes;
  }

  async write(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
    this.bytes += chunk.length;
  }

  /** fsync, rename into place, fsync the directory; returns the size. */
  async commit(): Promise<number> {
    if (this.done) throw new Error('the file is already committed or aborted');
    this.done = true;
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
    await rename(this.tempPath, this.finalPath);
    await fsyncDir(this.dir);
    return this.bytes;
  }

  /** Drops the temp file; safe to call more than once. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    await unlink(this.tempPath).catch(() => undefined);
  }
}

/** A directory's entries; none when it (or a parent) does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** Makes a directory's entries (a rename, a new file or directory) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Windows cannot open or fsync a directory; its NTFS journals the rename itself.
    const code = (err as NodeJS.ErrnoException).code;
    if (process.platform !== 'win32' || (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EACCES')) throw err;
  } finally {
    await handle?.close();
  }
}
