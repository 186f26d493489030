import type { RolesConfig } from '../../shared/api/roles.js';
import type { Collection, DocumentStore } from '../storage/documents.js';
import { defaultRolesConfig } from './roles.js';

interface RolesDoc extends RolesConfig {
  _id: 'roles';
  updatedAt: string;
}

/** The role configuration of all sites, persisted with its revision. */
export class RolesConfigStore {
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
    return new RolesConfigStore(docs, config);
  }

  get(): RolesConfig {
    return structuredClone(this.current);
  }

  /** Stores a configuration that has already been validated, as the next revision. */
  async replace(config: Omit<RolesConfig, 'revision'>): Promise<RolesConfig> {
    const next: RolesConfig = { ...structuredClone(config), revision: this.current.revision + 1 };
    await this.docs.put({ _id: 'roles', ...next, updatedAt: new Date().toISOString() });
    this.current = next;
    return this.get();
  }
}
