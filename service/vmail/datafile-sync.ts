import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir } from './fsstore.js';

/** The metadata of a write is in the datastore file but could not be made durable (fsync failed). */
export class MetadataSyncError extends Error {
  override name = 'MetadataSyncError';
}

/**
 * Makes what nedb has written to one datastore file durable. nedb (@seald-io/nedb 4) appends each
 * write with `fs.appendFile` and never fsyncs it, so a write it has resolved can still be lost to a
 * power cut; `sync()` after the write resolves closes that gap.
 *
 * The file is opened by name at each sync because nedb's compaction (at load, at shutdown) replaces
 * it: it writes `<file>~`, fsyncs it, renames it over `<file>` and fsyncs the directory, all inside
 * nedb's own queue, so an append that has resolved is either in the old file (which compaction
 * fsyncs before it starts) or in the new one. When the name points at a new file the directory is
 * fsync'd here too, so this does not rest on nedb doing it.
 *
 * Syncs are coalesced: one fsync runs at a time, and every caller that arrives while it runs waits
 * for the next one (the running one may have started before that caller's write), which then
 * serves all of them at once.
 */
export class DatafileSync {
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** the inode last synced under the name, to notice a compaction's rename */
  private syncedInode: number | null = null;

  constructor(readonly path: string) {}

  /** Resolves once every byte written to the file before the call is on the disk. */
  sync(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    const queued = this.running.catch(() => undefined).then(() => {
      this.queued = null;
      return this.start();
    });
    this.queued = queued;
    return queued;
  }

  private start(): Promise<void> {
    const run = this.fsync().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async fsync(): Promise<void> {
    try {
      // r+ rather than r: Windows flushes only a handle open for writing.
      const handle = await open(this.path, 'r+');
      let inode: number;
      try {
        await handle.sync();
        inode = (await handle.stat()).ino;
      } finally {
        await handle.close();
      }
      if (inode !== this.syncedInode) {
        await fsyncDir(dirname(this.path));
        this.syncedInode = inode;
      }
    } catch (err) {
      throw new MetadataSyncError(`Cannot make ${this.path} durable: ${(err as Error).message}`, { cause: err });
    }
  }
}
