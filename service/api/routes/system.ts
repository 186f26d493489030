import { Type } from '@sinclair/typebox';
import { Health, ServiceStatus } from '../../../shared/api/status.js';
import type { Metrics } from '../metrics.js';
import { route, type RouteDef } from '../route.js';

export interface SystemDeps {
  health(): Health;
  status(): ServiceStatus;
  metrics: Metrics;
  /** the OpenAPI document, built after every route is known */
  openApi(): unknown;
}

export function systemRoutes(deps: SystemDeps): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/healthz',
      operationId: 'getHealth',
      summary: 'Liveness and identity, without authentication',
      tag: 'system',
      auth: 'public',
      response: Health,
      // answered while starting or stopping: the body says which (no Retry-After: a probe polls anyway)
      errors: [{ status: 503, description: 'Starting or stopping: status says which', schema: Health, retryAfter: false }],
      handler({ res }) {
        const health = deps.health();
        // Degraded still runs and answers (events wait rather than fail): a liveness probe must not restart it.
        if (health.status !== 'ok' && health.status !== 'degraded') res.status(503);
        return health;
      },
    }),
    route({
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      summary: 'Prometheus metrics: request counts and latencies, process figures, role metrics',
      tag: 'system',
      auth: 'read',
      produces: { 'text/plain': { schema: Type.String({ description: 'Prometheus text exposition format 0.0.4' }) } },
      async handler({ res }) {
        res.setHeader('Content-Type', deps.metrics.registry.contentType);
        res.send(await deps.metrics.registry.metrics());
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/status',
      operationId: 'getStatus',
      summary: 'This site, the version, uptime and the role instances with their groups',
      tag: 'system',
      auth: 'read',
      response: ServiceStatus,
      handler() {
        return deps.status();
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/openapi.json',
      operationId: 'getOpenApi',
      summary: 'This document',
      tag: 'system',
      auth: 'read',
      produces: { 'application/json': { schema: Type.Object({ openapi: Type.Literal('3.1.0') }, { description: 'an OpenAPI 3.1 document' }) } },
      handler({ res }) {
        res.json(deps.openApi());
      },
    }),
  ];
}
