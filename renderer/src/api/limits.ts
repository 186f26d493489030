/** The limits API calls of the console's limits page (design section 4.4; service/api/routes/limits.ts). */
import type { Limit, LimitInput, LimitList, ProfileCounts } from '../../../shared/api/limits.js';
import { apiRequest } from './client.js';

export function listLimits(signal?: AbortSignal): Promise<LimitList> {
  return apiRequest<LimitList>('/api/v1/limits', { signal });
}

/** 400: a field is refused (details name it by JSON path); 409: a limit for the same profile and value exists. */
export function createLimit(body: LimitInput): Promise<Limit> {
  return apiRequest<Limit>('/api/v1/limits', { method: 'POST', body });
}

export function saveLimit(id: string, body: LimitInput): Promise<Limit> {
  return apiRequest<Limit>(`/api/v1/limits/${encodeURIComponent(id)}`, { method: 'PUT', body });
}

export function deleteLimit(id: string): Promise<void> {
  return apiRequest<void>(`/api/v1/limits/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** 503 while no callstore instance runs on this site. */
export function listProfiles(signal?: AbortSignal): Promise<ProfileCounts> {
  return apiRequest<ProfileCounts>('/api/v1/profiles', { signal });
}
