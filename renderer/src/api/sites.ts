/** The sites API calls of the console's sites page (design section 7; service/api/routes/sites.ts). */
import type { PairedSite, PairingCode, PairRequest, SitesList } from '../../../shared/api/sites.js';
import { apiRequest } from './client.js';

export function listSites(signal?: AbortSignal): Promise<SitesList> {
  return apiRequest<SitesList>('/api/v1/sites', { signal });
}

/** A new one-time code (it replaces the one shown before): 10 minutes, single use, void after 5 wrong tries. */
export function makePairingCode(): Promise<PairingCode> {
  return apiRequest<PairingCode>('/api/v1/sites/pairing-code', { method: 'POST' });
}

/**
 * This site joins the site at `url` that shows `code`. The service waits up to 15 s for the
 * adoption of that installation; the answer says whether this session ended with it. A 401 here
 * is that ending (the session was replaced meanwhile), not an expired session: the caller says so.
 */
export function pairSite(body: PairRequest): Promise<PairedSite> {
  return apiRequest<PairedSite>('/api/v1/sites', { method: 'POST', body });
}

export function unpairSite(id: string): Promise<void> {
  return apiRequest<void>(`/api/v1/sites/${encodeURIComponent(id)}`, { method: 'DELETE' });
}
