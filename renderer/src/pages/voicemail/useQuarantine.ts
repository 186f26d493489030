/**
 * The quarantine of one domain (what the start-up check could not match), for the count beside the
 * mailboxes and the Quarantine view. It changes only at a start of the vmail instance or by the
 * admin's own restores and deletes, so it is loaded with the domain and reloaded after those.
 */
import { useCallback, useEffect, useState } from 'react';
import type { QuarantineList } from '../../../../shared/api/vmail.js';
import { isAbort, toApiError, type ApiError } from '../../api/client.js';
import { listQuarantine } from '../../api/vmail.js';

export interface QuarantineState {
  list: QuarantineList | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

export function useQuarantine(domain: string, enabled: boolean): QuarantineState {
  const [list, setList] = useState<QuarantineList | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    setList(undefined);
    setError(undefined);
  }, [domain]);

  useEffect(() => {
    if (!domain || !enabled) return undefined;
    const controller = new AbortController();
    setLoading(true);
    listQuarantine(domain, controller.signal).then(
      (answer) => {
        if (controller.signal.aborted) return;
        setList(answer);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (controller.signal.aborted || isAbort(err)) return;
        setError(toApiError(err));
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [domain, enabled, generation]);

  return { list, error, loading, reload };
}
