import type { RolesConfig } from '../../shared/api/roles.js';
import type { Collection, DocumentStore } from '../storage/documents.js';
import { defaultRolesConfig } from './roles.js';

interface RolesDoc extends RolesConfig {
  _id: 'roles';
  updatedAt: string;
}

/** The role configuration of all sites, persisted with its revision. */
export class RolesConfigStore {
  private readonly listeners = new Set<(config: RolesConfig) => void>();

  private constructor(
    private readonly docs: Collection<RolesDoc>,
    private current: RolesConfig,
  ) {}

  /** Loads the stored configuration, writing the embedded default on first start. */
  static async open(store: DocumentStore, selfSiteId: string): Promise<RolesConfigStore> {
    const docs = await store.open<RolesDoc>('config');
    let doc = await docs.get('roles');
    if (!doc) {
      doc = { _id: 'roles', ...defaultRolesConfig(selfSiteId), updatedAt: new Date().toISOString() };
      await docs.put(doc);
    }
    const { _id, updatedAt, ...config } = doc;
    const roles = new RolesConfigStore(docs, config);
    // A version written by another site (replicated, design section 7) replaces the one held here:
    // the feed says a document of the log once its file holds it, with the version that won the merge.
    store.feed.subscribe((change) => {
      if (change.collection !== 'config' || change.id !== 'roles' || change.origin === undefined || change.origin === selfSiteId) return;
      if (change.op !== 'put' || change.doc === null || typeof change.doc !== 'object') return;
      const { _id: _key, updatedAt: _at, ...next } = change.doc as RolesDoc;
      roles.current = next;
      for (const l of roles.listeners) l(roles.get());
    }, { collections: ['config'] });
    return roles;
  }

  /** Listens to the configurations other sites write (after they replaced the one held here). */
  onReplicated(listener: (config: RolesConfig) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(): RolesConfig {
    return structuredClone(this.current);
  }

  /**
   * Stores a configuration that has already been validated, as the next revision (or, when
   * adopting another site's configuration, at least `minRevision`).
   */
  async replace(config: Omit<RolesConfig, 'revision'>, opts: { minRevision?: number } = {}): Promise<RolesConfig> {
    const next: RolesConfig = { ...structuredClone(config), revision: Math.max(this.current.revision + 1, opts.minRevision ?? 0) };
    await this.docs.put({ _id: 'roles', ...next, updatedAt: new Date().toISOString() });
    this.current = next;
    return this.get();
  }
}
