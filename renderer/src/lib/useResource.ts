import { useCallback, useEffect, useRef, useState, type DependencyList } from 'react';
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
  /** changes `data` where it is (the answer of an action taken here), until the next load */
  update(change: (data: T | undefined) => T | undefined): void;
}

export interface ResourceOptions {
  /** load again every this many ms after a load ends, and when the tab becomes visible */
  intervalMs?: number;
  /** false: nothing is loaded (and `loading` is false) until it is true */
  enabled?: boolean;
  /**
   * a change of these clears `data` and `error` before the next load: what belongs to another
   * domain or mailbox does not stay on screen while that one loads (a change of only the other
   * `deps`, a page say, keeps the last answer shown meanwhile)
   */
  clearOn?: DependencyList;
}

interface State<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  updatedAt: number | undefined;
}

/**
 * Loads one thing from the API: at first, whenever one of `deps` (what `load` reads: a domain, a
 * page) changes, on `reload`, and optionally again every `intervalMs` (counted from the end of the
 * previous load, so a slow service is never asked twice at once) and when the tab becomes visible.
 * A load that a newer one replaces is aborted, and its answer never shown. `deps` and `clearOn`
 * are dependency lists as React's: the same length on every render.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, deps: DependencyList = [], options: ResourceOptions = {}): Resource<T> {
  const { intervalMs, enabled = true, clearOn = [] } = options;
  const [state, setState] = useState<State<T>>({ data: undefined, error: undefined, loading: enabled, updatedAt: undefined });
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const update = useCallback((change: (data: T | undefined) => T | undefined) => setState((s) => ({ ...s, data: change(s.data) })), []);

  const cleared = useRef(true);
  useEffect(() => {
    // (on the first render there is nothing to clear)
    if (cleared.current) {
      cleared.current = false;
      return;
    }
    setState((s) => ({ ...s, data: undefined, error: undefined, updatedAt: undefined }));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller's list
  }, clearOn);

  useEffect(() => {
    if (!enabled) {
      setState((s) => (s.loading ? { ...s, loading: false } : s));
      return undefined;
    }
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
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller's list
  }, [generation, intervalMs, reload, enabled, ...deps]);

  useEffect(() => {
    if (!intervalMs) return undefined;
    const onVisible = () => {
      if (document.visibilityState === 'visible') reload();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [intervalMs, reload]);

  return { ...state, reload, update };
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
