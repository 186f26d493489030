import { useEffect, useRef } from 'react';
import type { SitesList } from '../../../../shared/api/sites.js';
import { listSites } from '../../api/sites.js';
import { liveFeed } from '../../lib/live.js';
import { useResource, type Resource } from '../../lib/useResource.js';

/**
 * The round trip and the lag change with every heartbeat (twice a second) and are not sent on the
 * live feed, so the list is loaded again this often while the page is shown (and at once when the
 * tab comes back into view).
 */
export const SITES_INTERVAL_MS = 2000;
/** Changes of `sites` on the live feed load the list again, at most this often. */
const LIVE_RELOAD_MIN_MS = 300;

/**
 * The sites list, kept fresh: polled every SITES_INTERVAL_MS, and loaded again when the live feed
 * says a site changed (`sites`) or after it reconnects, so a pairing or an unpairing made on the
 * other site shows without waiting for the next poll.
 */
export function useSites(): Resource<SitesList> {
  const sites = useResource(listSites, [], { intervalMs: SITES_INTERVAL_MS });
  const reloadRef = useRef(sites.reload);
  reloadRef.current = sites.reload;

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
      collections: ['sites'],
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

  return sites;
}
