import type { Request, RequestHandler, Response } from 'express';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Scope } from '../../shared/api/auth.js';
import type { Principal } from '../auth/auth.js';
import type { Logger } from '../logger.js';

type In<S> = S extends TSchema ? Static<S> : undefined;

export interface RouteContext<B, Q, P> {
  body: In<B>;
  query: In<Q>;
  params: In<P>;
  /** undefined only on public routes */
  principal: Principal | undefined;
  log: Logger;
  req: Request;
  res: Response;
}

/**
 * One HTTP route: its schemas validate the input at the edge, type the handler and feed the
 * OpenAPI document, so the three can never disagree.
 */
export interface RouteDef<B extends TSchema | undefined = TSchema | undefined, Q extends TSchema | undefined = TSchema | undefined, P extends TSchema | undefined = TSchema | undefined, R extends TSchema | undefined = TSchema | undefined> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** express syntax: /api/v1/tokens/:id */
  path: string;
  summary: string;
  tag: string;
  /** the scope a caller needs; 'public' needs no authentication */
  auth: Scope | 'public';
  body?: B;
  query?: Q;
  params?: P;
  /** success status; 204 when there is no response schema */
  status?: number;
  response?: R;
  /** a response that is not JSON (Prometheus text, a file): its media type, for the document */
  produces?: string;
  /** extra error statuses this route can answer, for the document */
  errors?: number[];
  /** middleware that runs before authentication (rate limits) */
  before?: RequestHandler[];
  /** largest body accepted (default JSON_BODY_LIMIT_BYTES) */
  bodyLimitBytes?: number;
  /**
   * The body is handed over as text, unparsed, for routes that take more than JSON (NDJSON);
   * `bodyDoc` then describes it in the OpenAPI document.
   */
  rawBody?: { types: string[] };
  bodyDoc?: TSchema;
  /** returns the response body, or undefined when it has written the response itself */
  handler(ctx: RouteContext<B, Q, P>): Promise<(R extends TSchema ? Static<R> : void) | undefined> | (R extends TSchema ? Static<R> : void) | undefined;
}

/** Identity function that lets TypeScript infer the schemas' types for the handler. */
export function route<B extends TSchema | undefined = undefined, Q extends TSchema | undefined = undefined, P extends TSchema | undefined = undefined, R extends TSchema | undefined = undefined>(
  def: RouteDef<B, Q, P, R>,
): RouteDef {
  return def as unknown as RouteDef;
}
