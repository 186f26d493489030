/**
 * Export of the filtered call records: a dialog to choose the format, then a progress bar above
 * the table (the page stays usable) with the rows received against the total, Cancel, and the
 * file handed to the browser at the end.
 */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { isAbort, toApiError, type ApiError } from '../../api/client.js';
import { saveBlob, streamExport, type ExportFormat, type ExportProgress } from '../../api/export.js';
import { Icon } from '../../components/icons.js';
import { Alert, ErrorText, Modal } from '../../components/ui.js';

const nf = new Intl.NumberFormat();

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export type ExportState =
  | { phase: 'idle' }
  | { phase: 'running'; format: ExportFormat; total: number; progress: ExportProgress; startedAt: number }
  | { phase: 'done'; format: ExportFormat; rows: number; bytes: number; filename: string; url: string; seconds: number }
  | { phase: 'cancelled'; rows: number }
  | { phase: 'failed'; error: ApiError };

/** The state of the export, outside React so that progress renders the bar alone, not the page. */
class ExportStore {
  private state: ExportState = { phase: 'idle' };
  private readonly listeners = new Set<() => void>();
  get = (): ExportState => this.state;
  phase = (): ExportState['phase'] => this.state.phase;
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
  set(state: ExportState): void {
    this.state = state;
    for (const l of this.listeners) l();
  }
}

/**
 * Runs one export at a time; cancelled when the page goes away. The page re-renders when the
 * phase changes only; the progress (at most 10 times a second) reaches the ExportBar alone.
 */
export function useExport() {
  const [store] = useState(() => new ExportStore());
  const phase = useSyncExternalStore(store.subscribe, store.phase);
  const controller = useRef<AbortController | null>(null);
  const url = useRef<string | null>(null);

  const forget = useCallback(() => {
    if (url.current) URL.revokeObjectURL(url.current);
    url.current = null;
  }, []);

  useEffect(
    () => () => {
      controller.current?.abort();
      forget();
    },
    [forget],
  );

  const start = useCallback(
    async (query: URLSearchParams, format: ExportFormat, total: number) => {
      controller.current?.abort();
      forget();
      const c = new AbortController();
      controller.current = c;
      const startedAt = performance.now();
      let last: ExportProgress = { rows: 0, bytes: 0 };
      store.set({ phase: 'running', format, total, progress: last, startedAt });
      try {
        const result = await streamExport(query, format, {
          signal: c.signal,
          onProgress: (p) => {
            last = p;
            store.set({ phase: 'running', format, total, progress: p, startedAt });
          },
        });
        url.current = saveBlob(result.blob, result.filename);
        store.set({
          phase: 'done',
          format,
          rows: result.rows,
          bytes: result.bytes,
          filename: result.filename,
          url: url.current,
          seconds: (performance.now() - startedAt) / 1000,
        });
      } catch (err) {
        if (isAbort(err) || c.signal.aborted) store.set({ phase: 'cancelled', rows: last.rows });
        else store.set({ phase: 'failed', error: toApiError(err) });
      } finally {
        if (controller.current === c) controller.current = null;
      }
    },
    [forget, store],
  );

  const cancel = useCallback(() => controller.current?.abort(), []);
  const dismiss = useCallback(() => {
    forget();
    store.set({ phase: 'idle' });
  }, [forget, store]);

  return { store, phase, start, cancel, dismiss };
}

export function ExportDialog({
  open,
  total,
  filterSummary,
  timeZone,
  onStart,
  onClose,
}: {
  open: boolean;
  total: number;
  filterSummary: string;
  timeZone: string;
  onStart: (format: ExportFormat) => void;
  onClose: () => void;
}) {
  const [format, setFormat] = useState<ExportFormat>('csv');
  return (
    <Modal
      open={open}
      title="Export call records"
      description={`${nf.format(total)} record${total === 1 ? '' : 's'}: ${filterSummary}`}
      onClose={onClose}
      testId="export-dialog"
      onSubmit={() => onStart(format)}
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button--primary">
            <Icon name="download" />
            Export {format === 'csv' ? 'CSV' : 'NDJSON'}
          </button>
        </>
      }
    >
      <fieldset className="fieldset">
        <legend>Format</legend>
        <div className="choice-list">
          <label className="scope-option">
            <input type="radio" name="export-format" value="csv" checked={format === 'csv'} onChange={() => setFormat('csv')} />
            <span>
              <span className="choice__name">CSV</span>
              <span className="scope-option__description">
                For spreadsheets and billing: one row per call, times in <strong>{timeZone}</strong>; legs, branches and holds as counts.
              </span>
            </span>
          </label>
          <label className="scope-option">
            <input type="radio" name="export-format" value="ndjson" checked={format === 'ndjson'} onChange={() => setFormat('ndjson')} />
            <span>
              <span className="choice__name">NDJSON</span>
              <span className="scope-option__description">
                For scripts and other systems: every record complete, with its legs, branches, holds and links (times in UTC).
              </span>
            </span>
          </label>
        </div>
      </fieldset>
      <p className="muted">
        The file is built in this browser as the records arrive; you can keep working and cancel at any time. Records are written
        oldest first.
      </p>
    </Modal>
  );
}

export function ExportBar({ store, onCancel, onDismiss }: { store: ExportStore; onCancel: () => void; onDismiss: () => void }) {
  const state = useSyncExternalStore(store.subscribe, store.get);
  if (state.phase === 'idle') return null;
  if (state.phase === 'failed') {
    return (
      <Alert
        tone="danger"
        title="The export failed"
        actions={
          <button type="button" className="button button--small" onClick={onDismiss}>
            Dismiss
          </button>
        }
      >
        <ErrorText error={state.error} />
      </Alert>
    );
  }
  if (state.phase === 'cancelled') {
    return (
      <Alert
        tone="info"
        title="Export cancelled"
        actions={
          <button type="button" className="button button--small" onClick={onDismiss}>
            Dismiss
          </button>
        }
      >
        Nothing was saved ({nf.format(state.rows)} records had arrived).
      </Alert>
    );
  }
  if (state.phase === 'done') {
    return (
      <div className="export-bar export-bar--done" role="status" data-testid="export-done">
        <Icon name="check" className="export-bar__icon" />
        <div className="export-bar__text">
          <strong>Exported {nf.format(state.rows)} records</strong> as {state.format.toUpperCase()} ({formatBytes(state.bytes)}, {state.seconds.toFixed(1)} s)
          <span className="muted"> · {state.filename}</span>
        </div>
        <a className="button button--small" href={state.url} download={state.filename}>
          <Icon name="download" />
          Save again
        </a>
        <button type="button" className="button button--ghost button--small button--icon" onClick={onDismiss} aria-label="Dismiss">
          <Icon name="close" />
        </button>
      </div>
    );
  }
  const { progress, total } = state;
  const fraction = total > 0 ? Math.min(progress.rows / total, 1) : 0;
  return (
    <div className="export-bar" data-testid="export-progress">
      <Icon name="download" className="export-bar__icon" />
      <div className="export-bar__main">
        <div className="export-bar__text" role="status">
          Exporting {state.format.toUpperCase()}: <strong data-testid="export-rows">{nf.format(progress.rows)}</strong> of {nf.format(total)} records
          <span className="muted"> · {formatBytes(progress.bytes)}</span>
        </div>
        <progress className="progress" max={total || 1} value={Math.min(progress.rows, total)} aria-label="Export progress">
          {Math.round(fraction * 100)} %
        </progress>
      </div>
      <span className="export-bar__pct">{Math.round(fraction * 100)} %</span>
      <button type="button" className="button button--small" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}
