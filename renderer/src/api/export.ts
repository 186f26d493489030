/**
 * The call records export, streamed: GET /api/v1/cdrs/export is read chunk by chunk
 * (fetch + ReadableStream reader), rows are counted as they arrive (line ends; CSV minus its
 * header), and the bytes are kept as Blob parts of a few MB each, never as one string, so a
 * million rows neither freeze the page nor hold the whole file on the JavaScript heap.
 * Progress is reported at most every `progressEveryMs`; an AbortSignal cancels it all.
 */
import { currentSession } from '../auth/session.js';
import { ApiError, isAbort } from './client.js';

export type ExportFormat = 'csv' | 'ndjson';

export interface ExportProgress {
  rows: number;
  bytes: number;
}

export interface ExportResult extends ExportProgress {
  blob: Blob;
  filename: string;
}

const PART_BYTES = 4 * 1024 * 1024;
const NEWLINE = 10;

function filenameOf(res: Response, format: ExportFormat): string {
  const header = res.headers.get('Content-Disposition') ?? '';
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star?.[1]) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      // fall through
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain?.[1] ?? `sitecall-cdrs.${format}`;
}

function countNewlines(chunk: Uint8Array): number {
  let n = 0;
  let i = chunk.indexOf(NEWLINE);
  while (i !== -1) {
    n++;
    i = chunk.indexOf(NEWLINE, i + 1);
  }
  return n;
}

export async function streamExport(
  query: URLSearchParams,
  format: ExportFormat,
  opts: { signal: AbortSignal; onProgress: (p: ExportProgress) => void; progressEveryMs?: number },
): Promise<ExportResult> {
  const session = currentSession();
  if (!session) throw new ApiError(401, 'unauthorized', 'You are not logged in.');
  const q = new URLSearchParams(query);
  q.set('format', format);
  let res: Response;
  try {
    res = await fetch(`/api/v1/cdrs/export?${q.toString()}`, {
      headers: { Authorization: `Bearer ${session.token}`, Accept: format === 'csv' ? 'text/csv' : 'application/x-ndjson' },
      signal: opts.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'network', 'Cannot reach the Sitecall service. Check that it is running, then try again.');
  }
  if (!res.ok || !res.body) {
    let message = `The service answered with HTTP ${res.status}.`;
    try {
      const body: unknown = await res.json();
      if (typeof body === 'object' && body !== null && 'error' in body) {
        const e = body.error;
        if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') message = e.message;
      }
    } catch {
      // not JSON
    }
    throw new ApiError(res.status, 'bad_response', message);
  }

  const filename = filenameOf(res, format);
  const type = res.headers.get('Content-Type') ?? (format === 'csv' ? 'text/csv' : 'application/x-ndjson');
  const reader = res.body.getReader();
  const parts: Blob[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let lines = 0;
  let bytes = 0;
  let lastByte = NEWLINE;
  let reported = 0;
  const every = opts.progressEveryMs ?? 100;
  const rowsOf = (n: number) => Math.max(0, format === 'csv' ? n - 1 : n);
  const abort = () => void reader.cancel().catch(() => undefined);
  opts.signal.addEventListener('abort', abort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (opts.signal.aborted) throw new DOMException('The export was cancelled.', 'AbortError');
      lines += countNewlines(value);
      bytes += value.byteLength;
      if (value.byteLength > 0) lastByte = value[value.byteLength - 1] ?? lastByte;
      pending.push(value);
      pendingBytes += value.byteLength;
      if (pendingBytes >= PART_BYTES) {
        // A Blob part moves the bytes out of the JavaScript heap (the browser may keep it on disk).
        parts.push(new Blob(pending as BlobPart[]));
        pending = [];
        pendingBytes = 0;
      }
      const now = performance.now();
      if (now - reported >= every) {
        reported = now;
        opts.onProgress({ rows: rowsOf(lines), bytes });
      }
    }
  } finally {
    opts.signal.removeEventListener('abort', abort);
  }
  if (opts.signal.aborted) throw new DOMException('The export was cancelled.', 'AbortError');
  // A last line without its line end still is a row.
  if (bytes > 0 && lastByte !== NEWLINE) lines++;
  const rows = rowsOf(lines);
  opts.onProgress({ rows, bytes });
  parts.push(new Blob(pending as BlobPart[]));
  return { blob: new Blob(parts, { type }), filename, rows, bytes };
}

/** Hands a Blob to the browser as a download. Returns the object URL (revoke it when done). */
export function saveBlob(blob: Blob, filename: string, url?: string): string {
  const href = url ?? URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  return href;
}
