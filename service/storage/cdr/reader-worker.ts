import { parentPort, workerData } from 'node:worker_threads';
import { AppError } from '../../errors.js';
import { aggregateStats, STATS_LOOKBACK_MS } from './stats.js';
import { CdrQueryEngine } from './engine.js';
import type { FromWorker, ReaderWorkerData, ToWorker, WorkerError } from './protocol.js';

/**
 * The CDR reader worker: serves page queries and export cursors from read-only connections, so
 * that long reads never block the thread that ingests events and writes CDRs.
 */
interface ExportState {
  gen: Generator<string[], number, void>;
  /** the next batch, read ahead while the consumer works on the last one */
  ready: IteratorResult<string[], number> | undefined;
  /** the consumer has asked for the next batch */
  wanted: boolean;
  prefetch: NodeJS.Immediate | undefined;
  rows: number;
}

const port = parentPort;
if (!port) throw new Error('reader-worker.js runs as a worker thread (CdrReader starts it).');
const data = workerData as ReaderWorkerData;
const engine = new CdrQueryEngine(data.dir, {
  maxOpenMonths: data.maxOpenMonths,
  cacheKiB: data.cacheKiB,
  ...(data.ftsDriveMax !== undefined ? { ftsDriveMax: data.ftsDriveMax } : {}),
});
const exports = new Map<number, ExportState>();

function post(msg: FromWorker): void {
  port?.postMessage(msg);
}

function errorOf(err: unknown): WorkerError {
  if (err instanceof AppError) return { name: err.name, message: err.message, ...(err.details ? { details: err.details } : {}) };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

function stop(id: number, s: ExportState): void {
  if (s.prefetch) clearImmediate(s.prefetch);
  exports.delete(id);
  try {
    s.gen.return(s.rows);
  } catch {
    // closing a cursor of a finished export
  }
}

/** Sends the next batch (reading it now unless it was read ahead), then reads the one after ahead. */
function advance(id: number, s: ExportState): void {
  let r: IteratorResult<string[], number>;
  try {
    r = s.ready ?? s.gen.next();
  } catch (err) {
    stop(id, s);
    post({ type: 'error', id, error: errorOf(err) });
    return;
  }
  s.ready = undefined;
  if (r.done) {
    exports.delete(id);
    post({ type: 'end', id, rows: s.rows });
    return;
  }
  s.rows += r.value.length;
  s.wanted = false;
  post({ type: 'batch', id, docs: r.value });
  // Read ahead in a later turn, so page queries and acks in the queue are served in between.
  s.prefetch = setImmediate(() => {
    s.prefetch = undefined;
    try {
      s.ready = s.gen.next();
    } catch (err) {
      stop(id, s);
      post({ type: 'error', id, error: errorOf(err) });
      return;
    }
    if (s.wanted) advance(id, s);
  });
}

function shutdown(): void {
  for (const [id, s] of exports) stop(id, s);
  engine.close();
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'close':
      shutdown();
      port.close();
      return;
    case 'page':
      try {
        const { docs, total } = engine.page(msg.req);
        post({ type: 'page', id: msg.id, docs, total });
      } catch (err) {
        post({ type: 'error', id: msg.id, error: errorOf(err) });
      }
      return;
    case 'stats':
      try {
        const w = msg.window;
        post({ type: 'stats', id: msg.id, stats: aggregateStats(engine.spans(w.fromMs - STATS_LOOKBACK_MS, w.untilMs), w) });
      } catch (err) {
        post({ type: 'error', id: msg.id, error: errorOf(err) });
      }
      return;
    case 'explain':
      try {
        post({ type: 'explain', id: msg.id, plan: engine.explain(msg.month, msg.req) });
      } catch (err) {
        post({ type: 'error', id: msg.id, error: errorOf(err) });
      }
      return;
    case 'export': {
      const s: ExportState = { gen: engine.exportDocs(msg.filter, msg.sort, msg.batchSize), ready: undefined, wanted: true, prefetch: undefined, rows: 0 };
      exports.set(msg.id, s);
      advance(msg.id, s);
      return;
    }
    case 'ack': {
      const s = exports.get(msg.id);
      if (!s) return;
      s.wanted = true;
      if (!s.prefetch) advance(msg.id, s);
      return;
    }
    case 'cancel': {
      const s = exports.get(msg.id);
      if (s) stop(msg.id, s);
      return;
    }
  }
});

