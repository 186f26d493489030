import { createContext, useContext, type ReactNode } from 'react';
import type { ServiceStatus } from '../../../shared/api/status.js';
import { getStatus } from '../api/endpoints.js';
import { useResource, type Resource } from './useResource.js';

/** How often the shell asks the service for its status (the dashboard's refresh). */
export const STATUS_INTERVAL_MS = 10_000;

const StatusContext = createContext<Resource<ServiceStatus> | null>(null);

/** One status poll for the whole signed-in console: header, dashboard and configuration read it. */
export function StatusProvider({ children }: { children: ReactNode }) {
  const status = useResource(getStatus, STATUS_INTERVAL_MS);
  return <StatusContext.Provider value={status}>{children}</StatusContext.Provider>;
}

export function useStatus(): Resource<ServiceStatus> {
  const value = useContext(StatusContext);
  if (!value) throw new Error('useStatus outside <StatusProvider>');
  return value;
}
