import { useEffect, useRef, useState } from 'react';
import type { LimitList, ProfileCounts } from '../../../../shared/api/limits.js';
import type { LiveChange } from '../../../../shared/api/live.js';
import { isAbort, toApiError, type ApiError } from '../../api/client.js';
import { listLimits, listProfiles } from '../../api/limits.js';
import { liveFeed } from '../../lib/live.js';
import { useResource, type Resource } from '../../lib/useResource.js';

/** Changes of `limits` on the live feed load the list again, at most this often. */
const LIVE_RELOAD_MIN_MS = 300;

/**
 * The limits, kept fresh: loaded again when the live feed says one changed (here or on a paired
 * site: the feed carries the log's `limits` entries) or asks for a sync. The list is loaded over
 * REST rather than patched from the feed's documents, so its order and shape are the API's own.
 */
export function useLimitList(): Resource<LimitList> {
  const limits = useResource(listLimits, []);
  const reloadRef = useRef(limits.reload);
  reloadRef.current = limits.reload;

  useEffect(() => {
    let timer: number | undefined;
    let last = 0;
    const soon = () => {
      if (timer !== undefined) return;
      const wait = Math.max(0, last + LIVE_RELOAD_MIN_MS - Date.now());
      timer = window.setTimeout(() => {
        timer = undefined;
        last = Date.now();
        reloadRef.current();
      }, wait);
    };
    let joined = false;
    const unsubscribe = liveFeed.subscribe({
      collections: ['limits'],
      onChanges: soon,
      // the first sync is the feed coming up: the list is loading already
      onSync: () => {
        if (joined) soon();
        joined = true;
      },
    });
    return () => {
      unsubscribe();
      window.clearTimeout(timer);
    };
  }, []);

  return limits;
}

export interface LiveProfiles {
  data: ProfileCounts | undefined;
  /** when `data` arrived (ms since the epoch): remote lists' ages count on from then */
  receivedAt: number | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

/** The feed's `profiles` document: the whole listing of GET /api/v1/profiles. */
function countsOf(change: LiveChange): ProfileCounts | undefined {
  if (change.collection !== 'profiles' || change.op !== 'put') return undefined;
  const doc = change.doc;
  if (typeof doc !== 'object' || doc === null || !('items' in doc) || !Array.isArray(doc.items) || !('sites' in doc) || !Array.isArray(doc.sites)) return undefined;
  return doc as ProfileCounts;
}

/**
 * The profile counts, live: loaded over REST when the feed comes up (and after every reconnect
 * or resync: `profiles` has no position), then replaced by each listing the feed sends. A listing
 * that arrives while a load is under way is newer than that load's answer, which is then dropped.
 */
export function useLiveProfiles(): LiveProfiles {
  const [state, setState] = useState<Omit<LiveProfiles, 'reload'>>({ data: undefined, receivedAt: undefined, error: undefined, loading: true });
  const loadRef = useRef<() => void>(() => {});

  useEffect(() => {
    let controller: AbortController | undefined;
    /** bumped by every listing from the feed: a load begun before one is stale */
    let generation = 0;
    const load = () => {
      controller?.abort();
      const mine = new AbortController();
      controller = mine;
      const started = generation;
      setState((s) => (s.loading ? s : { ...s, loading: true }));
      listProfiles(mine.signal).then(
        (data) => {
          if (mine.signal.aborted) return;
          if (started !== generation) {
            setState((s) => ({ ...s, loading: false }));
            return;
          }
          setState({ data, receivedAt: Date.now(), error: undefined, loading: false });
        },
        (err: unknown) => {
          if (mine.signal.aborted || isAbort(err)) return;
          setState((s) => ({ ...s, error: toApiError(err), loading: false }));
        },
      );
    };
    loadRef.current = load;
    load();
    let joined = false;
    const unsubscribe = liveFeed.subscribe({
      collections: ['profiles'],
      onChanges: (changes) => {
        let latest: ProfileCounts | undefined;
        for (const c of changes) latest = countsOf(c) ?? latest;
        if (!latest) return;
        generation++;
        const data = latest;
        setState((s) => ({ ...s, data, receivedAt: Date.now(), error: undefined }));
      },
      onSync: () => {
        if (joined) load();
        joined = true;
      },
    });
    return () => {
      unsubscribe();
      controller?.abort();
    };
  }, []);

  return { ...state, reload: () => loadRef.current() };
}
