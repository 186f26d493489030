import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { SiteRef } from '../../shared/api/status.js';
import type { DocumentStore } from '../storage/documents.js';

interface SiteDoc {
  _id: 'self';
  id: string;
  name: string;
  createdAt: string;
}

/**
 * This site's identity: a stable id made on first start (the `site` of role instances and of
 * replicated records) and a name for people, the host name unless the admin chose one.
 */
export async function loadSiteIdentity(store: DocumentStore, requestedName: string | undefined): Promise<SiteRef & { firstStart: boolean }> {
  const sites = await store.open<SiteDoc>('site', { replicate: false });
  const existing = await sites.get('self');
  if (existing) {
    if (requestedName && requestedName !== existing.name) await sites.put({ ...existing, name: requestedName });
    return { id: existing.id, name: requestedName ?? existing.name, firstStart: false };
  }
  const doc: SiteDoc = { _id: 'self', id: randomUUID(), name: requestedName ?? hostname(), createdAt: new Date().toISOString() };
  await sites.put(doc);
  return { id: doc.id, name: doc.name, firstStart: true };
}
