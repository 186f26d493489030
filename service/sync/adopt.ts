import type { RolesConfig } from '../../shared/api/roles.js';
import type { AuthService, UserDoc } from '../auth/auth.js';
import type { ConfigService } from '../config/service.js';
import { conflictId, type VersionedDoc, type VersionRef } from '../storage/changelog/core/merge.js';
import type { ChangeLog } from '../storage/changelog/log.js';
import { ADOPTED_KINDS, type SupersededVersion } from '../../shared/sync/join.js';
import type { DonorState } from './join.js';
import { mergeJoiningConfig } from './join-config.js';

export interface AdoptResult {
  /** users of this site whose stored user (password, scopes) is now the installation's: their sessions here ended */
  replacedUsers: string[];
  /**
   * the keys the donor has whose version here is now one of this site's own (the adoption's
   * rewrites): this site's earlier versions of them, written before it joined, are not to win
   * anywhere; the donor is told so with `ready` (join.ts)
   */
  supersedes: SupersededVersion[];
}

export interface AdoptDeps {
  log: ChangeLog;
  config: ConfigService;
  auth: AuthService;
  /** the join overwrites on purpose: what it replaces of either installation is dismissed, not shown as a conflict */
  conflicts: { writeDismissals(ids: readonly string[], by: string): void };
  self: { id: string; name: string };
}

/**
 * The joining site takes the installation's users, API tokens and configuration from its donor
 * (design section 7, "Joining"), before it replicates anything of its own:
 *
 * 1. The donor's versions of users and tokens are merged into this log as they are (their own
 *    stamps and origin, like a snapshot), and the clock is moved past every stamp the donor sent,
 *    so each write below is later than all of them.
 * 2. A user this site has too (`admin` on two fresh appliances) whose own version won that merge
 *    is written again with the donor's body, through the normal write path: a new entry of this
 *    site, later than this site's pre-join version of it (the clock never goes back), so on every
 *    site it beats both. This site's other users are kept: they join the installation. Its tokens
 *    are kept (their ids are random), so its phone system keeps sending.
 * 3. The configuration: the donor's, with this site's instances added under its site
 *    (join-config.ts), stored as a new revision past both.
 * 4. What this replaced of either site (this site's pre-join versions, the donor's versions the
 *    new ones were not made from) would show as overwritten by a concurrent edit on both sites
 *    once their logs meet (core/merge.ts conflictStep): it was merged on purpose, so those
 *    conflicts are dismissed (replicated dismissals, written before the logs meet).
 */
export async function adoptFromDonor(deps: AdoptDeps, donor: DonorState): Promise<AdoptResult> {
  const { log } = deps;
  // encoded stamps are fixed-width hex: their text order is their order
  const latest = donor.documents.reduce<string | undefined>((max, d) => (max === undefined || d.hlc > max ? d.hlc : max), undefined);
  const merged = donor.documents.filter((d) => d.kind === 'users' || d.kind === 'tokens');
  // seq 0 moves no origin's position: the vector entry only has the clock see the donor's latest stamp
  const vector = latest ? { [donorOrigin(donor)]: { seq: 0, hlc: latest } } : {};
  const ownUsers = new Map(log.documents<UserDoc>('users').filter((u) => !u.tombstone).map((u) => [u.key, JSON.stringify(u.body)]));
  const replaced: string[] = [];
  const replacedBoth = (kind: string, key: string, own: VersionRef | undefined, theirs: VersionRef) => {
    if (own) replaced.push(conflictId(kind, key, own));
    replaced.push(conflictId(kind, key, theirs));
  };
  for (const d of merged) {
    const own = log.document(d.kind, d.key);
    if (own && !sameVersion(own, d)) replacedBoth(d.kind, d.key, own, d);
  }
  await log.applySnapshot({ vector, documents: merged }).applied;

  const replacedUsers: string[] = [];
  for (const d of merged) {
    if (d.kind !== 'users' || d.tombstone || !isUser(d.body)) continue;
    const body: UserDoc = { ...d.body, _id: d.key };
    const own = ownUsers.get(d.key);
    // replaced: this site had the user with another body (by the merge above, or by the write below)
    if (own !== undefined && own !== JSON.stringify(body)) replacedUsers.push(d.key);
    const held = log.document<UserDoc>('users', d.key);
    // the donor's version won the merge (it was later): nothing to write
    if (held && sameVersion(held, d)) continue;
    if (held && !held.tombstone && JSON.stringify(held.body) === JSON.stringify(body)) continue;
    await deps.auth.adoptUser(body);
  }

  const roles = donor.documents.find((d) => d.kind === 'config' && d.key === 'roles' && !d.tombstone && isRoles(d.body));
  if (roles) {
    const installation = stripDoc(roles.body as RolesConfig & { _id?: string; updatedAt?: string });
    const own = deps.config.get();
    const ownVersion = log.document('config', 'roles');
    if (!ownVersion || !sameVersion(ownVersion, roles)) replacedBoth('config', 'roles', ownVersion, roles);
    await deps.config.adopt(mergeJoiningConfig(installation, own, deps.self), Math.max(installation.revision, own.revision) + 1);
  }
  deps.conflicts.writeDismissals(replaced, 'system (joining)');
  return { replacedUsers, supersedes: supersededBy(log, [...merged, ...(roles ? [roles] : [])]) };
}

/**
 * For each key the donor sent, the version held here now when it is this site's own: the
 * adoption's rewrite (or, when this site's pre-join version already said what the donor's does,
 * that one). Read from the log, not from what this call wrote, so an adoption repeated after a
 * crash, which writes nothing more, says the same.
 */
function supersededBy(log: ChangeLog, donorDocs: readonly VersionedDoc[]): SupersededVersion[] {
  const out: SupersededVersion[] = [];
  for (const d of donorDocs) {
    const kind = ADOPTED_KINDS.find((k) => k === d.kind);
    if (!kind) continue;
    const held = log.document(kind, d.key);
    if (held && held.origin === log.origin) out.push({ kind, key: d.key, hlc: held.hlc });
  }
  return out;
}

/** The origin to name in the clock-only vector entry: one the donor's documents carry (the donor's own, usually). */
function donorOrigin(donor: DonorState): string {
  return donor.documents[0]?.origin ?? Object.keys(donor.have)[0] ?? 'donor';
}

function sameVersion(a: VersionedDoc, b: VersionedDoc): boolean {
  return a.hlc === b.hlc && a.origin === b.origin;
}

function isUser(body: unknown): body is UserDoc {
  const u = body as Partial<UserDoc> | null;
  return typeof u === 'object' && u !== null && typeof u.passwordHash === 'string' && Array.isArray(u.scopes) && typeof u.createdAt === 'string' && typeof u.passwordChangedAt === 'string';
}

function isRoles(body: unknown): boolean {
  const r = body as Partial<RolesConfig> | null;
  return typeof r === 'object' && r !== null && Array.isArray(r.instances) && typeof r.revision === 'number';
}

function stripDoc(doc: RolesConfig & { _id?: string; updatedAt?: string }): RolesConfig {
  const { _id, updatedAt, ...config } = doc;
  return config;
}
