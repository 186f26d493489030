import type { SupersededVersion } from '../../shared/sync/join.js';
import type { Collection, DocumentStore } from '../storage/documents.js';

/**
 * A paired peer as this site keeps it. Site-local (not replicated): each site pins the
 * certificates of the sites it links to itself, and another site's pins are none of its business
 * (design section 7: the peer list is per site).
 */
export interface PeerRecord {
  _id: string;
  name: string;
  /** where this site dials it: the address entered with the code, or the one it advertised; '' when that was not a peer address */
  url: string;
  /** the pinned certificate */
  certPem: string;
  pairedAt: string;
  /** true on the site that entered the code (it joined the peer) */
  joined: boolean;
  /** set when the peer said it unpaired this site: shown, and not dialed any more */
  unpairedByPeer?: string;
  /** what the peer said of itself on its last link (topic `sites`): the configuration validates its instances against it */
  about?: { name: string; interfaces: string[]; at: string };
  /**
   * On the joining site (`joined`): its adoption of the donor's installation (sync/adopt.ts) and
   * the joining copy's target, the donor's log head when the join began (this site's origin left
   * out), and this log's head of those origins then; synced once this log holds the target.
   * `supersedes`: the versions the adoption wrote over this site's own pre-join ones, said to the
   * donor with `ready` on every link (absent in a join saved before it was kept).
   */
  join?: { adoptedAt: string; target: Record<string, number>; from: Record<string, number>; replacedUsers: string[]; supersedes?: SupersededVersion[]; syncedAt?: string };
}

export class PeerStore {
  private readonly byId = new Map<string, PeerRecord>();

  private constructor(private readonly docs: Collection<PeerRecord>) {}

  static async open(documents: DocumentStore): Promise<PeerStore> {
    const store = new PeerStore(await documents.open<PeerRecord>('site_peers', { replicate: false }));
    for (const p of await store.docs.find({})) store.byId.set(p._id, p);
    return store;
  }

  get(id: string): PeerRecord | undefined {
    return this.byId.get(id);
  }

  all(): PeerRecord[] {
    return [...this.byId.values()].sort((a, b) => a.pairedAt.localeCompare(b.pairedAt));
  }

  async put(peer: PeerRecord): Promise<void> {
    await this.docs.put(peer);
    this.byId.set(peer._id, peer);
  }

  async remove(id: string): Promise<boolean> {
    const had = this.byId.delete(id);
    await this.docs.delete(id);
    return had;
  }
}
