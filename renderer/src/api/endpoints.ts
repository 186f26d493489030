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
import type { Health, ServiceStatus } from '../../../shared/api/status.js';
import { apiRequest } from './client.js';

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
