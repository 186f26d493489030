import { Type } from '@sinclair/typebox';
import { HeartbeatRequest, HeartbeatResponse, SourceId, SourceList, SyncRequest, SyncResult } from '../../../shared/api/sources.js';
import type { CallstoreService } from '../../callstore/service.js';
import { DEFAULT_HEARTBEAT_MS } from '../../callstore/sources.js';
import { route, type RouteDef } from '../route.js';

const SourceParams = Type.Object({ id: SourceId }, { additionalProperties: false });

export function sourceRoutes(callstore: CallstoreService): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/sources',
      operationId: 'listSources',
      summary: 'The sources of call events: connected, lost or resyncing, with their counters',
      tag: 'sources',
      auth: 'read',
      response: SourceList,
      errors: [503],
      handler: () => ({ items: callstore.listSources() }),
    }),
    route({
      method: 'post',
      path: '/api/v1/sources/:id/heartbeat',
      operationId: 'postSourceHeartbeat',
      summary: 'An HTTP source says it is alive; lost after three missed intervals. Answers whether a sync is wanted',
      tag: 'sources',
      auth: 'events',
      params: SourceParams,
      body: HeartbeatRequest,
      response: HeartbeatResponse,
      errors: [503],
      handler: ({ params, body }) => callstore.heartbeat(params.id, body.intervalMs ?? DEFAULT_HEARTBEAT_MS),
    }),
    route({
      method: 'post',
      path: '/api/v1/sources/:id/sync',
      operationId: 'syncSource',
      summary: 'A source sends its active dialogs after a restart or reconnect: the callstore reconciles its calls with them',
      tag: 'sources',
      auth: 'events',
      params: SourceParams,
      body: SyncRequest,
      bodyLimitBytes: 32 * 1024 * 1024,
      response: SyncResult,
      errors: [404, 503],
      handler({ params, body, log }) {
        const result = callstore.sync(params.id, body.dialogs);
        log.info({ source: params.id, kept: result.kept.length, reconstructed: result.reconstructed.length, refused: result.refused.length, terminated: result.terminated.length, dropped: result.dropped.length }, 'source resynced');
        return result;
      },
    }),
  ];
}
