import { Type } from '@sinclair/typebox';
import { HeartbeatRequest, HeartbeatResponse, SourceId, SourceList, SYNC_LIMITS, SyncDialog, SyncRequest, SyncResult } from '../../../shared/api/sources.js';
import type { CallstoreService } from '../../callstore/service.js';
import { DEFAULT_HEARTBEAT_MS } from '../../callstore/sources.js';
import { lingerAfterRefusal } from '../../vmail/upload.js';
import { route, type RouteDef } from '../route.js';
import { syncBodyFormat, syncDialogs } from '../sync-body.js';

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
      summary:
        'A source sends its active dialogs after a restart or reconnect: the callstore reconciles its calls with them. NDJSON (one dialog a line) is read and applied as it arrives; the JSON form is read whole',
      tag: 'sources',
      auth: 'events',
      params: SourceParams,
      requestBody: {
        description: `at most ${SYNC_LIMITS.dialogs} dialogs. NDJSON is taken in as it arrives: a bad line (path /<index>) refuses the request there, the dialogs before it taken in and none ended; the JSON form is checked whole first (paths /dialogs/<index>), nothing changed when it is refused. Either may be sent with Content-Encoding gzip, deflate or br`,
        content: {
          'application/x-ndjson': { schema: Type.String({ description: 'one dialog as JSON per line' }), itemSchema: SyncDialog },
          'application/json': { schema: SyncRequest },
        },
        maxBytes: SYNC_LIMITS.bodyBytes,
      },
      bodyLimitBytes: SYNC_LIMITS.bodyBytes,
      response: SyncResult,
      errors: [
        404,
        { status: 503, description: 'A dialog to reconstruct has no instance here for now (its group has no active instance on this site): the dialogs before it were taken in, none was ended; send the list again after Retry-After' },
      ],
      async handler({ params, req, log }) {
        try {
          const format = syncBodyFormat(req.headers['content-type']);
          const result = await callstore.sync(params.id, syncDialogs(req, format), { pathPrefix: format === 'json' ? '/dialogs' : '' });
          log.info({ source: params.id, kept: result.kept.length, reconstructed: result.reconstructed.length, refused: result.refused.length, terminated: result.terminated.length, dropped: result.dropped.length }, 'source resynced');
          return result;
        } catch (err) {
          // The client may still be sending the list: let it finish so that it reads the answer.
          lingerAfterRefusal(req);
          throw err;
        }
      },
    }),
  ];
}
