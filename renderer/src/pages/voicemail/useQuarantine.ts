/**
 * The quarantine of one domain (what the start-up check could not match), for the count beside the
 * mailboxes and the Quarantine view. It changes only at a start of the vmail instance or by the
 * admin's own restores and deletes, so it is loaded with the domain and reloaded after those.
 */
import type { QuarantineList } from '../../../../shared/api/vmail.js';
import type { ApiError } from '../../api/client.js';
import { listQuarantine } from '../../api/vmail.js';
import { useResource } from '../../lib/useResource.js';

export interface QuarantineState {
  list: QuarantineList | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

export function useQuarantine(domain: string, enabled: boolean): QuarantineState {
  const { data, error, loading, reload } = useResource((signal) => listQuarantine(domain, signal), [domain], { enabled: Boolean(domain) && enabled, clearOn: [domain] });
  return { list: data, error, loading, reload };
}
