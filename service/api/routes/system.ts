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
      summary: 'Liveness and identity, without authentication',
      tag: 'system',
      auth: 'public',
      response: Health,
      errors: [503],
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
      summary: 'Prometheus metrics: request counts and latencies, process figures, role metrics',
      tag: 'system',
      auth: 'read',
      produces: 'text/plain',
      async handler({ res }) {
        res.setHeader('Content-Type', deps.metrics.registry.contentType);
        res.send(await deps.metrics.registry.metrics());
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/status',
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
      summary: 'This document',
      tag: 'system',
      auth: 'read',
      produces: 'application/json',
      handler({ res }) {
        res.json(deps.openApi());
      },
    }),
  ];
}
