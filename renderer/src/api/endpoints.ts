/** The API calls the console makes; the wire types come from shared/api. */
import type { LoginRequest, LoginResponse, TokenCreated, TokenCreateRequest, TokenList } from '../../../shared/api/auth.js';
import type {
  InterfacesInfo,
  PartitionResult,
  RolesConfig,
  RolesConfigInput,
  RoleType,
  SavedRolesConfig,
  ValidateRequest,
  ValidateResponse,
} from '../../../shared/api/roles.js';
import type { ActiveCall, CallList, Cdr } from '../../../shared/api/cdr.js';
import type { CallEvent } from '../../../shared/api/events.js';
import type { CallStats } from '../../../shared/api/stats.js';
import type { Conflict, ConflictList } from '../../../shared/api/conflicts.js';
import type { Health, ServiceStatus } from '../../../shared/api/status.js';
import { apiRequest } from './client.js';

export type { CallList } from '../../../shared/api/cdr.js';

export interface CdrList {
  items: Cdr[];
  /** every match of the filter, not only this page */
  total: number;
}

export function getHealth(signal?: AbortSignal): Promise<Health> {
  return apiRequest<Health>('/healthz', { auth: false, signal });
}

export function login(body: LoginRequest): Promise<LoginResponse> {
  return apiRequest<LoginResponse>('/api/v1/auth/login', { method: 'POST', body, auth: false });
}

/** Ends the session on the service; a 401 here (already expired) is not a new "session expired". */
export function logout(): Promise<void> {
  return apiRequest<void>('/api/v1/auth/logout', { method: 'POST', expireOn401: false });
}

export function getStatus(signal?: AbortSignal): Promise<ServiceStatus> {
  return apiRequest<ServiceStatus>('/api/v1/status', { signal });
}

export function listTokens(signal?: AbortSignal): Promise<TokenList> {
  return apiRequest<TokenList>('/api/v1/tokens', { signal });
}

export function createToken(body: TokenCreateRequest): Promise<TokenCreated> {
  return apiRequest<TokenCreated>('/api/v1/tokens', { method: 'POST', body });
}

export function revokeToken(id: string): Promise<void> {
  return apiRequest<void>(`/api/v1/tokens/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function getRolesConfig(signal?: AbortSignal): Promise<RolesConfig> {
  return apiRequest<RolesConfig>('/api/v1/config/roles', { signal });
}

/** 400 lists every problem in `details`; 409 when `revision` is no longer the current one. */
export function saveRolesConfig(body: RolesConfigInput): Promise<SavedRolesConfig> {
  return apiRequest<SavedRolesConfig>('/api/v1/config/roles', { method: 'PUT', body });
}

/** The open conflicts of one document (what a concurrent edit on another site overwrote), newest first. */
export function listConflictsOf(kind: string, key: string, signal?: AbortSignal): Promise<ConflictList> {
  return apiRequest<ConflictList>(`/api/v1/conflicts?kind=${encodeURIComponent(kind)}&key=${encodeURIComponent(key)}&limit=10`, { signal });
}

/** Keeps the current version: the conflict is dismissed on every site. */
export function dismissConflict(id: string): Promise<Conflict> {
  return apiRequest<Conflict>(`/api/v1/conflicts/${encodeURIComponent(id)}/dismiss`, { method: 'POST' });
}

/** Checks a configuration without saving it. */
export function validateRolesConfig(body: ValidateRequest, signal?: AbortSignal): Promise<ValidateResponse> {
  return apiRequest<ValidateResponse>('/api/v1/config/validate', { method: 'POST', body, signal });
}

/** Which group and instances of the SAVED configuration serve a domain. */
export function getPartition(roletype: RoleType, domain: string, signal?: AbortSignal): Promise<PartitionResult> {
  const q = new URLSearchParams({ roletype, domain });
  return apiRequest<PartitionResult>(`/api/v1/config/partition?${q.toString()}`, { signal });
}

export function getInterfaces(signal?: AbortSignal): Promise<InterfacesInfo> {
  return apiRequest<InterfacesInfo>('/api/v1/config/interfaces', { signal });
}

// ---------- Calls, call records, statistics ----------

/** GET /api/v1/calls/{id}: the call with its raw events in order. */
export type ActiveCallDetail = ActiveCall & { events: CallEvent[] };

/** GET /api/v1/calls: a page of the active calls, newest first; `limit: 0` for the count only. */
export function listCalls(page: { limit?: number; cursor?: string }, signal?: AbortSignal): Promise<CallList> {
  const q = new URLSearchParams();
  if (page.limit !== undefined) q.set('limit', String(page.limit));
  if (page.cursor !== undefined) q.set('cursor', page.cursor);
  const query = q.toString();
  return apiRequest<CallList>(`/api/v1/calls${query ? `?${query}` : ''}`, { signal });
}

export function getCall(id: string, signal?: AbortSignal): Promise<ActiveCallDetail> {
  return apiRequest<ActiveCallDetail>(`/api/v1/calls/${encodeURIComponent(id)}`, { signal });
}

/** Admin: ends the call here; its record is written with endReason `admin`. */
export function terminateCall(id: string): Promise<{ cdr: Cdr | null }> {
  return apiRequest<{ cdr: Cdr | null }>(`/api/v1/calls/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** `params`: the query string of GET /api/v1/cdrs (see lib/cdrFilters.ts). */
export function listCdrs(params: URLSearchParams, signal?: AbortSignal): Promise<CdrList> {
  return apiRequest<CdrList>(`/api/v1/cdrs?${params.toString()}`, { signal });
}

export function getCdr(id: string, signal?: AbortSignal): Promise<Cdr> {
  return apiRequest<Cdr>(`/api/v1/cdrs/${encodeURIComponent(id)}`, { signal });
}

export function getCdrEvents(id: string, signal?: AbortSignal): Promise<{ items: CallEvent[] }> {
  return apiRequest<{ items: CallEvent[] }>(`/api/v1/cdrs/${encodeURIComponent(id)}/events`, { signal });
}

export function getCallStats(query: { hours: number; bucketMinutes: number; tz: string }, signal?: AbortSignal): Promise<CallStats> {
  const q = new URLSearchParams({ hours: String(query.hours), bucketMinutes: String(query.bucketMinutes), tz: query.tz });
  return apiRequest<CallStats>(`/api/v1/stats/calls?${q.toString()}`, { signal });
}
