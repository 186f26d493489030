import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { ErrorBody } from '../../shared/api/errors.js';
import { hasScope, type AuthService, type Principal } from '../auth/auth.js';
import { AppError, ForbiddenError, NotFoundError, UnauthorizedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactText } from '../secrets.js';
import { validator, type Validator } from '../validation.js';
import type { Metrics } from './metrics.js';
import type { RouteDef } from './route.js';
import type { TSchema } from '@sinclair/typebox';

/** Largest JSON body accepted by default; routes that take bulk input raise it on their own parser. */
export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

export interface HttpDeps {
  routes: readonly RouteDef[];
  auth: AuthService;
  metrics: Metrics;
  log: Logger;
  /** the built console (dist/renderer); absent in a build without it */
  consoleDir: string;
}

/** Extracts the bearer token from the Authorization header. */
export function bearerOf(req: Pick<Request, 'headers'>): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export async function authenticate(auth: AuthService, bearer: string | undefined): Promise<Principal> {
  if (!bearer) throw new UnauthorizedError();
  return auth.authenticate(bearer);
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // React sets styles through the CSSOM, which CSP allows; no inline style sheets or attributes are needed.
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:', 'blob:'],
          mediaSrc: ["'self'", 'blob:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
        },
      },
      // The console is served over plain HTTP on a LAN address by default: no HSTS, no upgrade.
      strictTransportSecurity: false,
    }),
  );
  app.use(deps.metrics.middleware());
  app.use(requestLog(deps.log));

  for (const r of deps.routes) mount(app, r, deps);

  app.use('/api', (req, _res, next) => next(new NotFoundError(`No API route ${req.method} ${req.originalUrl}.`)));
  mountConsole(app, deps.consoleDir);
  app.use((req, _res, next) => next(new NotFoundError(`Nothing at ${req.method} ${req.originalUrl}.`)));
  app.use(errorHandler(deps.log));
  return app;
}

function mount(app: express.Express, r: RouteDef, deps: HttpDeps): void {
  const check = {
    params: r.params ? validator(r.params, { coerce: true }) : undefined,
    query: r.query ? validator(r.query, { coerce: true }) : undefined,
    body: r.body ? validator(r.body) : undefined,
  };
  // Authentication comes before the body is read: nobody unauthenticated makes us parse megabytes.
  const guard: RequestHandler = async (req, res, next) => {
    try {
      if (r.auth !== 'public') {
        const principal = await authenticate(deps.auth, bearerOf(req));
        if (!hasScope(principal, r.auth)) {
          throw new ForbiddenError(`This ${principal.kind === 'token' ? 'API token' : 'user'} lacks the "${r.auth}" scope that ${r.method.toUpperCase()} ${r.path} needs.`);
        }
        res.locals['principal'] = principal;
      }
      next();
    } catch (err) {
      next(err);
    }
  };
  const handler: RequestHandler = async (req, res, next) => {
    try {
      const principal = res.locals['principal'] as Principal | undefined;
      const params = parseInput(check.params, { ...req.params }, 'The path');
      const query = parseInput(check.query, { ...(req.query as object) }, 'The query string');
      const body = check.body ? check.body.parse(req.body, 'The request body') : r.rawBody ? (typeof req.body === 'string' ? req.body : '') : undefined;
      const result = await r.handler({ body, query, params, principal, log: res.locals['log'] as Logger, req, res } as never);
      if (res.headersSent) return;
      const status = r.status ?? (r.response ? 200 : 204);
      if (result === undefined || status === 204) res.status(status).end();
      else res.status(status).json(result);
    } catch (err) {
      next(err);
    }
  };
  const limit = r.bodyLimitBytes ?? JSON_BODY_LIMIT_BYTES;
  // Each route parses its own body, so that a bulk route can take more than the default limit
  // and a route without a body never reads one.
  const parser = r.rawBody ? express.text({ limit, type: r.rawBody.types }) : r.body ? express.json({ limit, type: ['application/json', 'application/*+json'] }) : undefined;
  app[r.method](r.path, ...(r.before ?? []), guard, ...(parser ? [parser] : []), handler);
}

function parseInput(check: Validator<TSchema> | undefined, value: Record<string, unknown>, what: string): unknown {
  return check ? check.parse(value, what) : undefined;
}

function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const reqId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].slice(0, 100)) || randomUUID();
    res.setHeader('X-Request-Id', reqId);
    const child = log.child({ reqId });
    res.locals['log'] = child;
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const quiet = req.path === '/healthz' || req.path === '/metrics' || !req.path.startsWith('/api');
      child[quiet ? 'debug' : 'info']({ method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}

/** The console: static files, and index.html for any other GET so client-side routes survive a reload. */
function mountConsole(app: express.Express, dir: string): void {
  const index = join(dir, 'index.html');
  app.use(
    express.static(dir, {
      index: false,
      fallthrough: true,
      setHeaders(res, path) {
        // Vite fingerprints assets; index.html must always be revalidated to pick up a new build.
        res.setHeader('Cache-Control', path.includes(`${join(dir, 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    }),
  );
  app.get(/.*/, (req, res, next) => {
    if (!req.accepts('html') || req.path.startsWith('/api') || !existsSync(index)) return next();
    res.locals['routeLabel'] = 'console';
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
}

interface BodyParserError {
  type?: string;
  limit?: number;
  status?: number;
  message: string;
}

function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const reqLog = (res.locals['log'] as Logger | undefined) ?? log;
    let status = 500;
    let body: ErrorBody;
    const parserError = err as BodyParserError;
    if (err instanceof AppError) {
      status = err.status;
      for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
      body = { error: { code: err.code, message: err.message, ...(err.details?.length ? { details: err.details } : {}) } };
    } else if (parserError.type === 'entity.parse.failed') {
      status = 400;
      // the parser's message quotes the body around the error, which may be a password
      body = { error: { code: 'invalid_json', message: `The request body is not valid JSON: ${redactText(parserError.message)}.` } };
    } else if (parserError.type === 'entity.too.large') {
      status = 413;
      body = { error: { code: 'payload_too_large', message: `The request body is larger than the limit of ${parserError.limit ?? JSON_BODY_LIMIT_BYTES} bytes.` } };
    } else if (parserError.type && parserError.status && parserError.status < 500) {
      status = 400;
      body = { error: { code: 'invalid_request', message: `The request body cannot be read: ${parserError.message}.` } };
    } else {
      reqLog.error({ err, method: req.method, url: req.originalUrl }, 'unhandled error');
      body = { error: { code: 'internal', message: `Internal error; the service log has the details (request ${String(res.getHeader('X-Request-Id'))}).` } };
    }
    if (status < 500) reqLog.debug({ status, code: body.error.code, msg: body.error.message }, 'request refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  };
}
