import { rateLimit } from 'express-rate-limit';
import { Type } from '@sinclair/typebox';
import { LoginRequest, LoginResponse, TokenCreated, TokenCreateRequest, TokenList, WhoAmI } from '../../../shared/api/auth.js';
import type { AuthService } from '../../auth/auth.js';
import { BusyError, RateLimitedError } from '../../errors.js';
import { route, type RouteDef } from '../route.js';

export interface LoginLimit {
  /** failed attempts allowed per client address in one window */
  attempts: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMIT: LoginLimit = { attempts: 10, windowMs: 15 * 60_000 };

export function authRoutes(auth: AuthService, limit: LoginLimit = DEFAULT_LOGIN_LIMIT): RouteDef[] {
  // Only failures count, per client address: an admin who types the password right is never locked out.
  const loginLimiter = rateLimit({
    windowMs: limit.windowMs,
    limit: limit.attempts,
    skipSuccessfulRequests: true,
    // A 503 (password checks saturated, service/auth/passwords.ts) checked no password: it is not a failure of this client's.
    requestWasSuccessful: (_req, res) => res.statusCode < 400 || res.statusCode === 503,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (_req, _res, next, options) => {
      const retryAfter = Math.ceil(options.windowMs / 1000);
      next(new RateLimitedError(`Too many failed logins from this address: try again in ${Math.ceil(retryAfter / 60)} minutes.`, retryAfter));
    },
  });

  return [
    route({
      method: 'post',
      path: '/api/v1/auth/login',
      operationId: 'login',
      summary: 'Log in with a user name and password; returns a bearer token with its expiry',
      tag: 'auth',
      auth: 'public',
      before: [loginLimiter],
      body: LoginRequest,
      response: LoginResponse,
      errors: [401, 429, 503],
      async handler({ body, log }) {
        try {
          const { token, principal } = await auth.login(body.username, body.password);
          log.info({ user: principal.name }, 'login');
          return { token, expiresAt: principal.expiresAt ?? '', username: principal.name, scopes: [...principal.scopes] };
        } catch (err) {
          if (err instanceof BusyError) log.warn({ user: body.username }, 'login put off: too many password checks under way');
          else log.warn({ user: body.username }, 'login failed');
          throw err;
        }
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/auth/logout',
      operationId: 'logout',
      summary: 'End the session of the bearer token',
      tag: 'auth',
      auth: 'read',
      async handler({ principal }) {
        if (principal) await auth.logout(principal);
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/auth/me',
      operationId: 'getWhoAmI',
      summary: 'Who the bearer token belongs to and its scopes',
      tag: 'auth',
      auth: 'read',
      response: WhoAmI,
      handler({ principal }) {
        if (!principal) return undefined;
        return { kind: principal.kind, name: principal.name, scopes: [...principal.scopes], ...(principal.expiresAt ? { expiresAt: principal.expiresAt } : {}) };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/tokens',
      operationId: 'listTokens',
      summary: 'List API tokens (never their secrets)',
      tag: 'tokens',
      auth: 'admin',
      response: TokenList,
      async handler() {
        return { items: await auth.listTokens() };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/tokens',
      operationId: 'createToken',
      summary: 'Create an API token for a phone system, media server or integration; the secret is shown only here',
      tag: 'tokens',
      auth: 'admin',
      body: TokenCreateRequest,
      status: 201,
      response: TokenCreated,
      async handler({ body, log }) {
        const created = await auth.createToken(body.name.trim(), body.scopes);
        log.info({ tokenId: created.id, name: created.name, scopes: created.scopes }, 'api token created');
        return created;
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/tokens/:id',
      operationId: 'revokeToken',
      summary: 'Revoke an API token',
      tag: 'tokens',
      auth: 'admin',
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
      errors: [404],
      async handler({ params, log }) {
        await auth.revokeToken(params.id);
        log.info({ tokenId: params.id }, 'api token revoked');
      },
    }),
  ];
}
