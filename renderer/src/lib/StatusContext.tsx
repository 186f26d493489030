import { createContext, useContext, useEffect, type ReactNode } from 'react';
import type { ServiceStatus } from '../../../shared/api/status.js';
import { getStatus } from '../api/endpoints.js';
import { observeServerClock } from './clock.js';
import { useResource, type Resource } from './useResource.js';

/** How often the shell asks the service for its status (the dashboard's refresh). */
export const STATUS_INTERVAL_MS = 10_000;

const StatusContext = createContext<Resource<ServiceStatus> | null>(null);

/** One status poll for the whole signed-in console: header, dashboard and configuration read it. */
export function StatusProvider({ children }: { children: ReactNode }) {
  const status = useResource(getStatus, [], { intervalMs: STATUS_INTERVAL_MS });
  const { data, updatedAt } = status;
  useEffect(() => {
    if (data && updatedAt !== undefined) observeServerClock(Date.parse(data.startedAt) + data.uptimeSec * 1000, updatedAt);
  }, [data, updatedAt]);
  return <StatusContext.Provider value={status}>{children}</StatusContext.Provider>;
}

export function useStatus(): Resource<ServiceStatus> {
  const value = useContext(StatusContext);
  if (!value) throw new Error('useStatus outside <StatusProvider>');
  return value;
}
