import { useCallback, useEffect, useRef, useState } from 'react';
import type { ConfigProblem, IfaceAliases, RoleInstance } from '../../../shared/api/roles.js';
import { isAbort, toApiError, type ApiError } from '../api/client.js';
import { validateRolesConfig } from '../api/endpoints.js';
import type { ProblemSnapshot } from './configDraft.js';

export interface LiveValidation {
  /** the latest answer, with the keys and names of the draft it was computed for */
  snapshot: ProblemSnapshot | null;
  /** an edit is waiting for its check (debounce or request in flight) */
  pending: boolean;
  /** the last check failed (the service could not be asked); the previous snapshot stays */
  error: ApiError | null;
  /** records problems learned another way (a refused save) for this exact draft */
  remember(instances: readonly RoleInstance[], ifaceAliases: IfaceAliases | undefined, problems: ConfigProblem[], keys: readonly string[]): void;
  /** forgets cached answers (the service's view changed: a save, a reload) */
  forget(): void;
}

function requestKey(instances: readonly unknown[], ifaceAliases: IfaceAliases | undefined): string {
  return JSON.stringify({ instances, ifaceAliases });
}

/**
 * Asks POST /config/validate about the draft as it is edited, `delayMs` after the last change.
 * Answers are cached by the exact request, so undoing an edit or cancelling a dialog shows the
 * earlier answer at once. The problems' paths index `instances`; `keys[i]` says which draft
 * instance index i was, so a result that arrives after the list changed still lands on the right rows.
 */
export function useLiveValidation(
  instances: readonly RoleInstance[] | null,
  keys: readonly string[],
  ifaceAliases: IfaceAliases | undefined,
  delayMs = 300,
): LiveValidation {
  const [snapshot, setSnapshot] = useState<(ProblemSnapshot & { body: string }) | null>(null);
  const [failure, setFailure] = useState<{ body: string; error: ApiError } | null>(null);
  const [generation, setGeneration] = useState(0);
  const cache = useRef(new Map<string, ConfigProblem[]>());
  const body = instances ? requestKey(instances, ifaceAliases) : null;
  // The keys and names that go with `body`, read when the check starts.
  const current = useRef({ instances, keys, ifaceAliases });
  current.current = { instances, keys, ifaceAliases };

  useEffect(() => {
    if (body === null) return undefined;
    const { instances: sent, keys: sentKeys, ifaceAliases: sentAliases } = current.current;
    if (!sent) return undefined;
    const names = sent.map((i) => i.name);
    const cached = cache.current.get(body);
    if (cached) {
      setSnapshot({ problems: cached, keys: sentKeys, names, body });
      return undefined;
    }
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      validateRolesConfig({ instances: [...sent], ...(sentAliases ? { ifaceAliases: sentAliases } : {}) }, controller.signal).then(
        (res) => {
          if (controller.signal.aborted) return;
          if (cache.current.size > 50) cache.current.clear();
          cache.current.set(body, res.problems);
          setSnapshot({ problems: res.problems, keys: sentKeys, names, body });
          setFailure(null);
        },
        (err: unknown) => {
          if (controller.signal.aborted || isAbort(err)) return;
          setFailure({ body, error: toApiError(err) });
        },
      );
    }, delayMs);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [body, delayMs, generation]);

  const remember = useCallback(
    (sent: readonly RoleInstance[], aliases: IfaceAliases | undefined, problems: ConfigProblem[], sentKeys: readonly string[]) => {
      const body = requestKey(sent, aliases);
      cache.current.set(body, problems);
      setSnapshot({ problems, keys: sentKeys, names: sent.map((i) => i.name), body });
    },
    [],
  );
  const forget = useCallback(() => {
    cache.current.clear();
    setGeneration((g) => g + 1);
  }, []);

  // Pending from the moment the draft differs from what the snapshot describes, not only once a request is out.
  const pending = body !== null && snapshot?.body !== body && failure?.body !== body;
  return { snapshot, pending, error: failure?.error ?? null, remember, forget };
}
