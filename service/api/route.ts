import type { Request, RequestHandler, Response } from 'express';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Scope } from '../../shared/api/auth.js';
import type { Principal } from '../auth/auth.js';
import type { Logger } from '../logger.js';

type In<S> = S extends TSchema ? Static<S> : undefined;

export interface RouteContext<B, Q, P, H = undefined> {
  body: In<B>;
  query: In<Q>;
  params: In<P>;
  /** the request headers the route's `headers` schema names, under the names it gives them */
  headers: In<H>;
  /** undefined only on public routes */
  principal: Principal | undefined;
  log: Logger;
  req: Request;
  res: Response;
}

/** How the OpenAPI document shows one media type of a body or an answer that is not plain JSON. */
export interface MediaDoc {
  /** the schema of the whole body; absent for opaque bytes (audio) */
  schema?: TSchema;
  /** NDJSON: the schema of each line (shown as `x-item-schema`) */
  itemSchema?: TSchema;
  /** multipart/form-data: the media types each file part may have */
  encoding?: Record<string, { contentType: string }>;
}

/** A request body the edge does not parse into `body`: uploads read as streams, NDJSON, raw text. */
export interface RequestBodyDoc {
  description?: string;
  content: Record<string, MediaDoc>;
  /** the largest body taken, for the document (`x-max-bytes`) */
  maxBytes?: number;
}

/** An error status of a route, with its own body schema where it is not the error shape alone. */
export interface ErrorDoc {
  status: number;
  description?: string;
  schema?: TSchema;
  /** 429 and 503 carry Retry-After unless this is false */
  retryAfter?: boolean;
}

/**
 * One HTTP route: its schemas validate the input at the edge, type the handler and feed the
 * OpenAPI document, so the three can never disagree.
 */
export interface RouteDef<
  B extends TSchema | undefined = TSchema | undefined,
  Q extends TSchema | undefined = TSchema | undefined,
  P extends TSchema | undefined = TSchema | undefined,
  R extends TSchema | undefined = TSchema | undefined,
  H extends TSchema | undefined = TSchema | undefined,
> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** express syntax: /api/v1/tokens/:id */
  path: string;
  /** the operation's name in the OpenAPI document: unique, camelCase, stable (clients name their methods after it) */
  operationId: string;
  summary: string;
  tag: string;
  /** the scope a caller needs; 'public' needs no authentication */
  auth: Scope | 'public';
  body?: B;
  query?: Q;
  params?: P;
  /**
   * Request headers the route reads: an object schema whose property names are the headers' names
   * as the document shows them (`Idempotency-Key`; matched ignoring case), validated at the edge
   * like the path and query, and shown as header parameters.
   */
  headers?: H;
  /** success status; 204 when there is no response schema */
  status?: number;
  response?: R;
  /** headers the success answer may carry, for the document */
  responseHeaders?: Record<string, { description: string; schema: Record<string, unknown> }>;
  /** an answer that is not the JSON `response` (Prometheus text, an export, a file): its media types, for the document */
  produces?: Record<string, MediaDoc>;
  /** the answer is a file served with HTTP Range: 200 whole, 206 for one range, 416 outside the file */
  ranges?: boolean;
  /**
   * Error statuses this route can answer besides those the document derives (400 with input,
   * 401 and 403 with authentication, 413 with a body), for the document.
   */
  errors?: (number | ErrorDoc)[];
  /** middleware that runs before authentication (rate limits) */
  before?: RequestHandler[];
  /** largest body accepted (default JSON_BODY_LIMIT_BYTES) */
  bodyLimitBytes?: number;
  /**
   * The body is handed over as text, unparsed, for routes that take more than JSON (NDJSON);
   * `requestBody` then describes it in the OpenAPI document.
   */
  rawBody?: { types: string[] };
  /**
   * The request body as the document shows it, where `body` does not say it all: a body the
   * handler reads itself (uploads), a raw body, or a JSON body the edge checks only loosely so that
   * a deeper validator can report every problem at once (the document shows the full shape).
   */
  requestBody?: RequestBodyDoc;
  /** returns the response body, or undefined when it has written the response itself */
  handler(ctx: RouteContext<B, Q, P, H>): Promise<(R extends TSchema ? Static<R> : void) | undefined> | (R extends TSchema ? Static<R> : void) | undefined;
}

/** Identity function that lets TypeScript infer the schemas' types for the handler. */
export function route<
  B extends TSchema | undefined = undefined,
  Q extends TSchema | undefined = undefined,
  P extends TSchema | undefined = undefined,
  R extends TSchema | undefined = undefined,
  H extends TSchema | undefined = undefined,
>(def: RouteDef<B, Q, P, R, H>): RouteDef {
  return def as unknown as RouteDef;
}
