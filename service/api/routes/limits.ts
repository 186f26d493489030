import { AdmissionRequest, AdmissionResponse, Limit, LimitInput, LimitList, LimitParams, ProfileCounts } from '../../../shared/api/limits.js';
import type { LimitStore } from '../../callstore/limits.js';
import type { CallstoreService } from '../../callstore/service.js';
import { route, type RouteDef } from '../route.js';

/** Call limits, admission and the profile counts (design section 4.4). */
export function limitRoutes(limits: LimitStore, callstore: CallstoreService): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/limits',
      operationId: 'listLimits',
      summary: 'The call limits: `{profile, value?, max}` rules, replicated to every paired site',
      tag: 'limits',
      auth: 'read',
      response: LimitList,
      handler: () => ({ items: limits.list() }),
    }),
    route({
      method: 'post',
      path: '/api/v1/limits',
      operationId: 'createLimit',
      summary: 'Add a limit. Without a value it applies to each value of the profile on its own; one rule per profile and value',
      tag: 'limits',
      auth: 'admin',
      body: LimitInput,
      status: 201,
      response: Limit,
      errors: [{ status: 409, description: 'A limit for the same profile and value exists already (details name it)' }],
      async handler({ body, log }) {
        const created = await limits.create(body);
        log.info({ limit: created.id, profile: created.profile, value: created.value, max: created.max }, 'limit created');
        return created;
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/limits/:id',
      operationId: 'getLimit',
      summary: 'One limit',
      tag: 'limits',
      auth: 'read',
      params: LimitParams,
      response: Limit,
      errors: [404],
      handler: ({ params }) => limits.get(params.id),
    }),
    route({
      method: 'put',
      path: '/api/v1/limits/:id',
      operationId: 'saveLimit',
      summary: 'Replace a limit (its profile, value, max and description)',
      tag: 'limits',
      auth: 'admin',
      params: LimitParams,
      body: LimitInput,
      response: Limit,
      errors: [404, { status: 409, description: 'Another limit has this profile and value' }],
      async handler({ params, body, log }) {
        const saved = await limits.update(params.id, body);
        log.info({ limit: saved.id, profile: saved.profile, value: saved.value, max: saved.max }, 'limit saved');
        return saved;
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/limits/:id',
      operationId: 'deleteLimit',
      summary: 'Remove a limit',
      tag: 'limits',
      auth: 'admin',
      params: LimitParams,
      errors: [404],
      async handler({ params, log }) {
        await limits.delete(params.id);
        log.info({ limit: params.id }, 'limit deleted');
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/admission',
      operationId: 'admitCall',
      summary:
        'May this call be relayed? Checks every limit its profiles fall under (total, its domain, its invite pairs) against the counts of every paired site; an allowed call holds a reservation until its invite event arrives or reservation_ttl passes. Asked again for the same callId (a retransmitted INVITE), it is allowed again without a second reservation',
      tag: 'limits',
      auth: 'admission',
      body: AdmissionRequest,
      response: AdmissionResponse,
      errors: [{ status: 503, description: 'No callstore instance for the domain runs on this site now: ask again after Retry-After (or apply the configured default)' }],
      handler: ({ body }) => callstore.admit(body),
    }),
    route({
      method: 'get',
      path: '/api/v1/profiles',
      operationId: 'listProfiles',
      summary: 'The dialogs counted per profile and value: this site’s (reservations included), each paired site’s last list with its age, and the total',
      tag: 'limits',
      auth: 'read',
      response: ProfileCounts,
      errors: [503],
      handler: () => callstore.profileCounts(),
    }),
  ];
}
