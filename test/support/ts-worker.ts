/**
 * Options for starting a worker thread from TypeScript sources under vitest (which transforms the
 * test's own imports but not a worker's): the worker runs ts-worker.mjs, which loads `entry`
 * through a TypeScript-stripping loader.
 */
export function tsWorker(entry: URL): { workerUrl: URL; workerData: { tsEntry: string } } {
  return { workerUrl: new URL('./ts-worker.mjs', import.meta.url), workerData: { tsEntry: entry.href } };
}

/** The CDR reader worker's source, for `new CdrReader(dir, { ...cdrReaderWorker() })`. */
export function cdrReaderWorker(): { workerUrl: URL; workerData: { tsEntry: string } } {
  return tsWorker(new URL('../../service/storage/cdr/reader-worker.ts', import.meta.url));
}
