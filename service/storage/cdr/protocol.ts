import type { CdrExportSort, CdrFilter, CdrPageRequest } from '../../../shared/api/cdr-query.js';
import type { ErrorDetail } from '../../../shared/api/errors.js';
import type { CallStats } from '../../../shared/api/stats.js';
import type { StatsWindow } from './stats.js';

/** What the reader worker is started with (its workerData). */
export interface ReaderWorkerData {
  /** the collection directory, `<dataDir>/cdr/COPM3_dialogs` */
  dir: string;
  maxOpenMonths: number;
  cacheKiB: number;
  ftsDriveMax?: number;
}

/** Messages from CdrReader to its worker. */
export type ToWorker =
  | { type: 'page'; id: number; req: CdrPageRequest }
  | { type: 'export'; id: number; filter: CdrFilter; sort: CdrExportSort; batchSize: number }
  /** the consumer has taken the last batch: send the next */
  | { type: 'ack'; id: number }
  | { type: 'cancel'; id: number }
  | { type: 'explain'; id: number; month: string; req: CdrPageRequest }
  | { type: 'stats'; id: number; window: StatsWindow }
  /** close every connection and end the worker */
  | { type: 'close' };

export interface WorkerError {
  name: string;
  message: string;
  /** set for ValidationError */
  details?: ErrorDetail[];
}

/** Messages from the worker. */
export type FromWorker =
  | { type: 'page'; id: number; docs: string[]; total: number }
  | { type: 'batch'; id: number; docs: string[] }
  | { type: 'end'; id: number; rows: number }
  | { type: 'explain'; id: number; plan: string[] }
  | { type: 'stats'; id: number; stats: Omit<CallStats, 'active'> }
  | { type: 'error'; id: number; error: WorkerError };
