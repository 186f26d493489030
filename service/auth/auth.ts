import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Scope, TokenInfo } from '../../shared/api/auth.js';
import { NotFoundError, UnauthorizedError } from '../errors.js';
import type { Collection, DocumentStore } from '../storage/documents.js';
import { hashSecret, verifySecret } from './passwords.js';

export interface UserDoc {
  _id: string; // user name
  passwordHash: string;
  scopes: Scope[];
  createdAt: string;
  passwordChangedAt: string;
}

/** A login session. Only the SHA-256 of the bearer token is stored: a copied database grants nothing. */
interface SessionDoc {
  _id: string; // sha256(token)
  username: string;
  createdAt: string;
  expiresAt: string;
  /**
   * The user's passwordChangedAt when the password was checked: a login that read the old
   * password while it was being changed opens a session that the change makes void.
   */
  passwordChangedAt?: string;
}

interface ApiTokenDoc {
  _id: string;
  name: string;
  scopes: Scope[];
  secretHash: string; // sha256(token): tokens are 256 random bits, so a fast hash is enough
  createdAt: string;
  lastUsedAt: string | null;
}

/** Who is calling, as the API's guards see it. */
export interface Principal {
  kind: 'session' | 'token';
  name: string;
  scopes: readonly Scope[];
  expiresAt?: string;
  /** the session or token id, for logout */
  credentialId: string;
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(scope);
}

const SESSION_PREFIX = 'scs_';
const TOKEN_PREFIX = 'sct_';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const newSecret = (prefix: string) => prefix + randomBytes(32).toString('base64url');

/** lastUsedAt is informative; writing it on every event would cost a disk write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface AuthOptions {
  sessionTtlMs: number;
  now?: () => number;
}

export class AuthService {
  // A hash of an unguessable string: verifying against it costs as much as a real user's hash,
  // so the response time does not tell whether a user name exists.
  private decoyHash: Promise<string> = hashSecret(randomBytes(16).toString('hex'));
  private readonly now: () => number;

  private constructor(
    private readonly users: Collection<UserDoc>,
    private readonly sessions: Collection<SessionDoc>,
    private readonly tokens: Collection<ApiTokenDoc>,
    private readonly opts: AuthOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  static async open(store: DocumentStore, opts: AuthOptions): Promise<AuthService> {
    const users = await store.open<UserDoc>('users');
    const sessions = await store.open<SessionDoc>('sessions', { replicate: false, indexes: [{ fieldName: 'expiresAt' }] });
    const tokens = await store.open<ApiTokenDoc>('tokens', { indexes: [{ fieldName: 'secretHash', unique: true }] });
    return new AuthService(users, sessions, tokens, opts);
  }

  async hasUser(username: string): Promise<boolean> {
    return (await this.users.get(username)) !== null;
  }

  async setPassword(username: string, password: string, scopes: Scope[] = ['admin']): Promise<void> {
    const existing = await this.users.get(username);
    const at = new Date(this.now()).toISOString();
    await this.users.put({
      _id: username,
      passwordHash: await hashSecret(password),
      scopes: existing?.scopes ?? scopes,
      createdAt: existing?.createdAt ?? at,
      passwordChangedAt: at,
    });
    // A new password ends every session opened with the old one.
    await this.sessions.deleteWhere({ username });
  }

  /**
   * Puts a user as the installation has it (joining, design section 7: a site that joins another
   * takes the installation's users). Its password and scopes are the installation's from now on,
   * so this site's sessions of that user end, as at a password change.
   */
  async adoptUser(user: UserDoc): Promise<void> {
    await this.users.put({ _id: user._id, passwordHash: user.passwordHash, scopes: [...user.scopes], createdAt: user.createdAt, passwordChangedAt: user.passwordChangedAt });
    await this.sessions.deleteWhere({ username: user._id });
  }

  /** Checks the credentials; the error never says which of the two was wrong. */
  async login(username: string, password: string): Promise<{ token: string; principal: Principal }> {
    const user = await this.users.get(username);
    const ok = await verifySecret(password, user?.passwordHash ?? (await this.decoyHash));
    if (!user || !ok) throw new UnauthorizedError('Wrong user name or password.');
    const token = newSecret(SESSION_PREFIX);
    const createdAt = this.now();
    const session: SessionDoc = {
      _id: sha256(token),
      username,
      createdAt: new Date(createdAt).toISOString(),
      expiresAt: new Date(createdAt + this.opts.sessionTtlMs).toISOString(),
      passwordChangedAt: user.passwordChangedAt,
    };
    await this.sessions.put(session);
    return { token, principal: { kind: 'session', name: username, scopes: user.scopes, expiresAt: session.expiresAt, credentialId: session._id } };
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.kind === 'session') await this.sessions.delete(principal.credentialId);
  }

  /** Resolves a bearer token to its principal, or throws 401. */
  async authenticate(bearer: string): Promise<Principal> {
    const hash = sha256(bearer);
    if (bearer.startsWith(SESSION_PREFIX)) {
      const session = await this.sessions.get(hash);
      if (session && Date.parse(session.expiresAt) > this.now()) {
        const user = await this.users.get(session.username);
        const passwordUnchanged = session.passwordChangedAt === undefined || session.passwordChangedAt === user?.passwordChangedAt;
        if (user && passwordUnchanged) return { kind: 'session', name: user._id, scopes: user.scopes, expiresAt: session.expiresAt, credentialId: session._id };
      }
      if (session) await this.sessions.delete(session._id);
      throw new UnauthorizedError('The session has expired or was ended: log in again.');
    }
    if (bearer.startsWith(TOKEN_PREFIX)) {
      let token = await this.tokens.findOne({ secretHash: hash });
      const lastUsed = token?.lastUsedAt ? Date.parse(token.lastUsedAt) : 0;
      if (token && this.now() - lastUsed > LAST_USED_RESOLUTION_MS) {
        // An update, not a put: a token revoked since it was read stays revoked (patch answers null).
        token = await this.tokens.patch(token._id, { lastUsedAt: new Date(this.now()).toISOString() });
      }
      if (token) return { kind: 'token', name: token.name, scopes: token.scopes, credentialId: token._id };
      throw new UnauthorizedError('The API token is unknown or was revoked.');
    }
    throw new UnauthorizedError('The bearer token is not a Sitecall token.');
  }

  async createToken(name: string, scopes: Scope[]): Promise<TokenInfo & { token: string }> {
    const token = newSecret(TOKEN_PREFIX);
    const doc: ApiTokenDoc = {
      _id: randomUUID(),
      name,
      scopes: [...new Set(scopes)],
      secretHash: sha256(token),
      createdAt: new Date(this.now()).toISOString(),
      lastUsedAt: null,
    };
    await this.tokens.put(doc);
    return { ...publicToken(doc), token };
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.tokens.find({}, { sort: { createdAt: 1 } })).map(publicToken);
  }

  async revokeToken(id: string): Promise<void> {
    if (!(await this.tokens.delete(id))) throw new NotFoundError(`No API token with id ${id}.`);
  }

  async purgeExpiredSessions(): Promise<number> {
    return this.sessions.deleteWhere({ expiresAt: { $lte: new Date(this.now()).toISOString() } });
  }
}

function publicToken(doc: ApiTokenDoc): TokenInfo {
  return { id: doc._id, name: doc.name, scopes: doc.scopes, createdAt: doc.createdAt, lastUsedAt: doc.lastUsedAt };
}
