/**
 * Page state kept in the URL query string: shareable, and the Back button undoes a filter.
 * Discrete choices push a history entry; typed text goes in once typing pauses.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router';

export type ParamPatch = Record<string, string | null | undefined>;

export interface UpdateOptions {
  replace?: boolean;
  state?: unknown;
}

export function useUrlParams(): [URLSearchParams, (patch: ParamPatch, opts?: UpdateOptions) => void] {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const update = useCallback(
    (patch: ParamPatch, opts: UpdateOptions = {}) => {
      // From the address as it is now, not as it was when this page rendered: a debounced
      // update must not bring back a filter that was cleared in between.
      const next = new URLSearchParams(window.location.search);
      for (const [k, v] of Object.entries(patch)) {
        if (v === null || v === undefined || v === '') next.delete(k);
        else next.set(k, v);
      }
      const search = next.toString();
      navigate({ pathname: window.location.pathname, search: search ? `?${search}` : '' }, { replace: opts.replace ?? false, state: opts.state });
    },
    [navigate],
  );
  return [params, update];
}

/**
 * A text field bound to one query parameter: the field answers every key at once, the URL gets
 * the text `delayMs` after typing stops (plus `alsoSet`, e.g. back to page 1), and a change of
 * the URL from outside (Back, a link) puts its value back in the field.
 */
export function useDebouncedParam(
  params: URLSearchParams,
  update: (patch: ParamPatch, opts?: UpdateOptions) => void,
  key: string,
  opts: { delayMs?: number; alsoSet?: ParamPatch; replace?: boolean } = {},
): [string, (value: string) => void, () => void] {
  const { delayMs = 400, alsoSet, replace = false } = opts;
  const fromUrl = params.get(key) ?? '';
  const [value, setValue] = useState(fromUrl);
  const committed = useRef(fromUrl);
  const alsoRef = useRef(alsoSet);
  alsoRef.current = alsoSet;

  useEffect(() => {
    if (fromUrl !== committed.current) {
      committed.current = fromUrl;
      setValue(fromUrl);
    }
  }, [fromUrl]);

  const commitNow = useCallback(() => {
    const v = value.trim();
    if (v === committed.current) return;
    committed.current = v;
    update({ [key]: v || null, ...alsoRef.current }, { replace });
  }, [value, key, update, replace]);

  useEffect(() => {
    if (value.trim() === committed.current) return undefined;
    const timer = window.setTimeout(commitNow, delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs, commitNow]);

  return [value, setValue, commitNow];
}

/**
 * A detail dialog bound to one query parameter (`?call=<id>`): opening pushes a history entry,
 * so Back closes it; closing goes back to that entry when this page pushed it, else drops the
 * parameter in place (a shared link opened straight on a detail).
 */
export function useDetailParam(
  params: URLSearchParams,
  update: (patch: ParamPatch, opts?: UpdateOptions) => void,
  key: string,
): [string | null, (id: string) => void, () => void] {
  const navigate = useNavigate();
  const location = useLocation();
  const openedHere = typeof location.state === 'object' && location.state !== null && (location.state as Record<string, unknown>)['detail'] === key;
  const value = params.get(key);
  const open = useCallback((id: string) => update({ [key]: id }, { state: { detail: key } }), [update, key]);
  const close = useCallback(() => {
    if (openedHere) navigate(-1);
    else update({ [key]: null }, { replace: true });
  }, [openedHere, navigate, update, key]);
  return [value, open, close];
}
