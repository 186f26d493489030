import { Conflict, ConflictIdParams, ConflictList, ConflictListQuery } from '../../../shared/api/conflicts.js';
import type { ConflictService } from '../../sync/conflicts.js';
import { route, type RouteDef } from '../route.js';

export function conflictRoutes(conflicts: ConflictService): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/conflicts',
      operationId: 'listConflicts',
      summary: 'Versions overwritten by a concurrent edit on another site (both sides of a cut edited the same document), newest first',
      tag: 'sites',
      auth: 'read',
      query: ConflictListQuery,
      response: ConflictList,
      handler: ({ query }) => conflicts.list(query),
    }),
    route({
      method: 'get',
      path: '/api/v1/conflicts/:id',
      operationId: 'getConflict',
      summary: 'One conflict: the overwritten version beside what the document holds now',
      tag: 'sites',
      auth: 'read',
      params: ConflictIdParams,
      response: Conflict,
      errors: [404],
      handler: ({ params }) => conflicts.get(params.id),
    }),
    route({
      method: 'post',
      path: '/api/v1/conflicts/:id/dismiss',
      operationId: 'dismissConflict',
      summary: 'Keep the current version: the conflict is dismissed on every site (the dismissal is replicated)',
      tag: 'sites',
      auth: 'admin',
      params: ConflictIdParams,
      response: Conflict,
      errors: [404],
      handler: ({ params, principal, log }) => {
        const dismissed = conflicts.dismiss(params.id, principal?.name ?? 'unknown');
        log.info({ conflict: params.id, kind: dismissed.kind, key: dismissed.key }, 'conflict dismissed');
        return dismissed;
      },
    }),
  ];
}
