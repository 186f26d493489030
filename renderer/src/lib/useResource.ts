import { useCallback, useEffect, useRef, useState } from 'react';
import { isAbort, toApiError, type ApiError } from '../api/client.js';

export interface Resource<T> {
  /** the last good answer, kept while a refresh is under way or after a refresh failed */
  data: T | undefined;
  /** the last attempt's error, cleared by the next success */
  error: ApiError | undefined;
  /** a request is in flight */
  loading: boolean;
  /** when `data` arrived (ms since the epoch) */
  updatedAt: number | undefined;
  reload(): void;
}

interface State<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  updatedAt: number | undefined;
}

/**
 * Loads one thing from the API, optionally again every `intervalMs` (counted from the end of the
 * previous load, so a slow service is never asked twice at once) and when the tab becomes visible.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs?: number): Resource<T> {
  const [state, setState] = useState<State<T>>({ data: undefined, error: undefined, loading: true, updatedAt: undefined });
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    const controller = new AbortController();
    let timer: number | undefined;
    setState((s) => (s.loading ? s : { ...s, loading: true }));
    loadRef.current(controller.signal).then(
      (data) => {
        if (controller.signal.aborted) return;
        setState({ data, error: undefined, loading: false, updatedAt: Date.now() });
      },
      (err: unknown) => {
        if (controller.signal.aborted || isAbort(err)) return;
        setState((s) => ({ ...s, error: toApiError(err), loading: false }));
      },
    ).finally(() => {
      if (!controller.signal.aborted && intervalMs) timer = window.setTimeout(reload, intervalMs);
    });
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [generation, intervalMs, reload]);

  useEffect(() => {
    if (!intervalMs) return undefined;
    const onVisible = () => {
      if (document.visibilityState === 'visible') reload();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [intervalMs, reload]);

  return { ...state, reload };
}

/** Re-renders every `ms` and returns the current time; for values that tick (uptime). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}
