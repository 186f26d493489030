// Entry of a worker thread that runs a TypeScript module: registers ts-hooks.mjs, then imports
// workerData.tsEntry (a file URL). See tsWorker() in ts-worker.ts.
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';

register('./ts-hooks.mjs', import.meta.url);
await import(workerData.tsEntry);
