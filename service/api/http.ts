import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
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
    headers: r.headers ? validator(r.headers) : undefined,
    body: r.body ? validator(r.body) : undefined,
  };
  const headerNames = Object.keys((r.headers?.['properties'] ?? {}) as Record<string, unknown>);
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
      if ((check.body || r.rawBody) && req.body === undefined && carriesBody(req)) throw unsupportedMediaType(req, r.rawBody?.types ?? ['application/json']);
      const params = parseInput(check.params, { ...req.params }, 'The path');
      const query = parseInput(check.query, { ...(req.query as object) }, 'The query string');
      const headers = parseInput(check.headers, headersOf(req, headerNames), 'A request header');
      const body = check.body ? check.body.parse(req.body, 'The request body') : r.rawBody ? (typeof req.body === 'string' ? req.body : '') : undefined;
      const result = await r.handler({ body, query, params, headers, principal, log: res.locals['log'] as Logger, req, res } as never);
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

/** A body is on its way (its parser skipped it when the Content-Type was not one it reads). */
function carriesBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function unsupportedMediaType(req: Request, types: readonly string[]): AppError {
  const sent = req.headers['content-type'];
  return new AppError(415, 'invalid_request', `Send the request body as ${types.join(' or ')} (its Content-Type is ${sent ? clip(JSON.stringify(sent)) : 'missing'}).`);
}

/** The headers a route names, under its names (Node has them in lower case; one sent twice is joined with ", "). */
function headersOf(req: Request, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const value = req.headers[name.toLowerCase()];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
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

/** What express, its router and body-parser attach to the errors they pass on (http-errors). */
interface HttpLayerError {
  type?: string;
  limit?: number;
  status?: number;
  statusCode?: number;
  expose?: boolean;
  /** zlib's code when a compressed body does not decode (Z_DATA_ERROR, ERR__ERROR_FORMAT_...) */
  code?: string;
  encoding?: string;
  charset?: string;
  message: string;
}

/**
 * The content codings body-parser decodes on this Node (zstd from Node 22.15). Compressed bodies
 * are decoded rather than refused: a source on a slow link may compress an 8 MiB batch, and the
 * body limit counts decoded bytes, so a small bomb stops at the limit.
 */
const ACCEPTED_ENCODINGS = ['gzip', 'deflate', 'br', ...('createZstdDecompress' in zlib ? ['zstd'] : [])];

const CODE_OF_STATUS: Record<number, ErrorBody['error']['code']> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 413: 'payload_too_large', 429: 'rate_limited' };

/**
 * The client's mistakes that express and body-parser report as errors of their own: each gets its
 * 4xx and one sentence. Anything else is not the client's doing and stays a 500.
 */
function clientErrorOf(err: unknown, req: Request): { status: number; body: ErrorBody; headers?: Record<string, string> } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as HttpLayerError;
  const status = e.status ?? e.statusCode;
  const refuse = (s: number, code: ErrorBody['error']['code'], message: string, headers?: Record<string, string>) => ({ status: s, body: { error: { code, message } }, ...(headers ? { headers } : {}) });
  // The router decodes path parameters before any handler runs (authentication included).
  if (err instanceof URIError && status === 400) return refuse(400, 'invalid_request', `The path holds a malformed percent-encoding: ${clip(e.message.replace(/^Failed to decode param /, ''))} is not UTF-8 in %XX form.`);
  switch (e.type) {
    case 'entity.parse.failed':
      // the parser's message quotes the body around the error, which may hold a password
      return refuse(400, 'invalid_json', `The request body is not valid JSON: ${redactText(e.message)}.`);
    case 'entity.too.large':
      return refuse(413, 'payload_too_large', `The request body is larger than the limit of ${e.limit ?? JSON_BODY_LIMIT_BYTES} bytes.`);
    case 'encoding.unsupported':
      return refuse(415, 'invalid_request', `The Content-Encoding ${clip(JSON.stringify(e.encoding ?? req.headers['content-encoding'] ?? ''))} is not supported: send the body as it is, or compressed with ${ACCEPTED_ENCODINGS.join(', ')}.`, { 'Accept-Encoding': ACCEPTED_ENCODINGS.join(', ') });
    case 'charset.unsupported':
      return refuse(415, 'invalid_request', `The charset ${clip(JSON.stringify(e.charset ?? ''))} is not supported: send UTF-8.`);
  }
  // http-errors marks what may be shown to the client (expose); anything else stays a 500.
  if (typeof status !== 'number' || status < 400 || status >= 500 || e.expose !== true) return undefined;
  // A decompression stream's error: body-parser marks it 400 but leaves zlib's words alone.
  const encoding = req.headers['content-encoding'];
  if (e.type === undefined && e.code !== undefined && encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return refuse(400, 'invalid_request', `The request body is not valid ${clip(encoding)} data (${e.message}); send it uncompressed, or compressed as Content-Encoding says.`);
  }
  return refuse(status, CODE_OF_STATUS[status] ?? 'invalid_request', `The request cannot be read: ${clip(e.message)}.`);
}

/** A client's text inside one of our sentences: short, on one line. */
function clip(text: string, max = 100): string {
  const line = text.replace(/[\r\n\t]+/g, ' ');
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const reqLog = (res.locals['log'] as Logger | undefined) ?? log;
    let status = 500;
    let body: ErrorBody;
    const clientError = err instanceof AppError ? undefined : clientErrorOf(err, req);
    if (err instanceof AppError) {
      status = err.status;
      for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
      body = { error: { code: err.code, message: err.message, ...(err.details?.length ? { details: err.details } : {}) } };
    } else if (clientError) {
      status = clientError.status;
      for (const [k, v] of Object.entries(clientError.headers ?? {})) res.setHeader(k, v);
      body = clientError.body;
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
