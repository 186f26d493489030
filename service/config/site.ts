import { hostname } from 'node:os';
import type { SiteRef } from '../../shared/api/status.js';
import type { Collection, DocumentStore } from '../storage/documents.js';
import { StartupError } from '../errors.js';

interface SiteDoc {
  _id: 'self';
  id: string;
  name: string;
  createdAt: string;
  /**
   * Ids this site had before (a random UUID before sites had certificates). Kept so that a start
   * finds and moves what still names an old id (the role configuration's `site`, vmail's
   * `originSite`) even after a crash in the middle of the upgrade.
   */
  formerIds?: string[];
  /** set while what names a former id may not have been moved yet; cleared by `finishUpgrade` */
  upgradePending?: boolean;
}

export interface SiteIdentity extends SiteRef {
  firstStart: boolean;
  /** ids this site had before, newest last */
  formerIds: readonly string[];
  /** true while the records that name a former id still have to be moved to `id` */
  upgradePending: boolean;
  /** Marks the upgrade done (after the configuration and vmail no longer name a former id). */
  finishUpgrade(): Promise<void>;
}

/**
 * This site's identity: its id is the fingerprint of its certificate (`certificateId`, see
 * service/sync/identity.ts), the `site` of role instances and of replicated records, and the change
 * log's origin; a name for people is the host name unless the admin chose one.
 *
 * A data directory from before certificates has a random UUID here: it takes the certificate's id
 * and keeps the old one in `formerIds`. Nothing outside this machine knows the old id (no site had
 * paired before certificates), so moving the local references is the whole upgrade; the caller
 * renames the log's origin (`beforeRename`, run before the new id is stored, so a crash in between
 * repeats it) and moves the configuration, then calls `finishUpgrade`.
 */
/** The form of an id taken from a certificate (sync/identity.ts `siteIdOf`). */
const CERTIFICATE_ID = /^[0-9a-f]{64}$/;

export async function loadSiteIdentity(
  store: DocumentStore,
  requestedName: string | undefined,
  certificateId: string,
  beforeRename: (from: string, to: string) => void = () => undefined,
): Promise<SiteIdentity> {
  const sites = await store.open<SiteDoc>('site', { replicate: false });
  let doc = await sites.get('self');
  let firstStart = false;
  if (!doc) {
    firstStart = true;
    doc = { _id: 'self', id: certificateId, name: requestedName ?? hostname(), createdAt: new Date().toISOString() };
    await sites.put(doc);
  } else if (doc.id !== certificateId) {
    // Only an id from before certificates (a UUID) upgrades. An id that is a certificate's means
    // the certificate beside it is another one: taking it would silently make this a new site its
    // peers no longer trust, and rename every record this site made.
    if (CERTIFICATE_ID.test(doc.id)) {
      throw new StartupError(
        `This data directory belongs to site ${doc.id}, but its certificate (site-cert.pem) is another one (${certificateId}): restore site-cert.pem and site-key.pem from a backup of this site.`,
      );
    }
    beforeRename(doc.id, certificateId);
    doc = { ...doc, id: certificateId, formerIds: [...(doc.formerIds ?? []), doc.id], upgradePending: true };
    await sites.put(doc);
  }
  if (requestedName && requestedName !== doc.name) {
    doc = { ...doc, name: requestedName };
    await sites.put(doc);
  }
  return identityOf(sites, doc, firstStart);
}

function identityOf(sites: Collection<SiteDoc>, doc: SiteDoc, firstStart: boolean): SiteIdentity {
  return {
    id: doc.id,
    name: doc.name,
    firstStart,
    formerIds: doc.formerIds ?? [],
    upgradePending: doc.upgradePending === true,
    async finishUpgrade() {
      const current = await sites.get('self');
      if (current?.upgradePending) await sites.put({ ...current, upgradePending: false });
    },
  };
}
