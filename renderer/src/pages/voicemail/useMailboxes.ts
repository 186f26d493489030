/**
 * The mailboxes of one domain, kept current: loaded from the API, with the message-waiting counts
 * the live feed pushes (collection `mwi`, id `domain/mailbox`) applied as they come, and reloaded
 * after a reconnection or a mailbox appearing or going.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Mailbox, Mwi } from '../../../../shared/api/vmail.js';
import type { ApiError } from '../../api/client.js';
import { listMailboxes } from '../../api/vmail.js';
import { liveFeed } from '../../lib/live.js';
import { useResource } from '../../lib/useResource.js';

export interface MailboxesState {
  items: Mailbox[] | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
  /** put one mailbox as the API answered it (after a change made here) */
  replace(box: Mailbox): void;
  remove(number: string): void;
  /** bumped on every live change of a mailbox's counts: the open mailbox reloads its messages */
  changed: ReadonlyMap<string, number>;
}

function isMwi(doc: unknown): doc is Mwi {
  return typeof doc === 'object' && doc !== null && 'mailbox' in doc && 'new' in doc && 'saved' in doc && 'urgent' in doc;
}

const byNumber = (a: Mailbox, b: Mailbox) => a.number.localeCompare(b.number, 'en', { numeric: true });

export function useMailboxes(domain: string): MailboxesState {
  // Another domain: nothing of the last one stays on screen.
  const {
    data: items,
    error,
    loading,
    reload,
    update: setItems,
  } = useResource(async (signal) => [...(await listMailboxes(domain, signal)).items].sort(byNumber), [domain], { enabled: Boolean(domain), clearOn: [domain] });
  const [changed, setChanged] = useState<ReadonlyMap<string, number>>(new Map());
  const domainRef = useRef(domain);
  domainRef.current = domain;

  useEffect(() => {
    if (!domain) return undefined;
    let reloadTimer: number | undefined;
    const reloadSoon = () => {
      window.clearTimeout(reloadTimer);
      reloadTimer = window.setTimeout(reload, 300);
    };
    const unsubscribe = liveFeed.subscribe({
      collections: ['mwi'],
      onSync: reloadSoon,
      onChanges(changes) {
        const mine = domainRef.current.toLowerCase();
        const updates = new Map<string, Mwi | null>();
        for (const c of changes) {
          const slash = c.id.lastIndexOf('/');
          if (slash < 0 || c.id.slice(0, slash).toLowerCase() !== mine) continue;
          const number = c.id.slice(slash + 1);
          updates.set(number, c.op === 'put' && isMwi(c.doc) ? c.doc : null);
        }
        if (updates.size === 0) return;
        // The counts at once; then the list again, for a mailbox that came or went and for the
        // deleted count, which MWI does not carry.
        setItems((list) =>
          list?.map((b) => {
            const mwi = updates.get(b.number);
            return mwi ? { ...b, counts: { ...b.counts, new: mwi.new, saved: mwi.saved, urgent: mwi.urgent } } : b;
          }),
        );
        setChanged((prev) => {
          const next = new Map(prev);
          for (const number of updates.keys()) next.set(number, (next.get(number) ?? 0) + 1);
          return next;
        });
        reloadSoon();
      },
    });
    return () => {
      unsubscribe();
      window.clearTimeout(reloadTimer);
    };
  }, [domain, reload]);

  const replace = useCallback((box: Mailbox) => {
    setItems((list) => (list ? [...list.filter((b) => b.number !== box.number), box].sort(byNumber) : [box]));
  }, [setItems]);
  const remove = useCallback((number: string) => {
    setItems((list) => list?.filter((b) => b.number !== number));
  }, [setItems]);

  return { items, error, loading, reload, replace, remove, changed };
}
