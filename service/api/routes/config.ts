import { InterfacesInfo, PartitionQuery, PartitionResult, RolesConfig, RolesConfigInput, RolesConfigInputShape, SavedRolesConfig, ValidateRequest, ValidateRequestShape, ValidateResponse } from '../../../shared/api/roles.js';
import type { ConfigService } from '../../config/service.js';
import { route, type RouteDef } from '../route.js';

export function configRoutes(config: ConfigService): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/config/roles',
      operationId: 'getRolesConfig',
      summary: 'The role instances of all sites with the configuration revision',
      tag: 'config',
      auth: 'read',
      response: RolesConfig,
      handler: () => config.getRedacted(),
    }),
    route({
      method: 'put',
      path: '/api/v1/config/roles',
      operationId: 'saveRolesConfig',
      summary: 'Replace the role configuration; applied at once (instances start and stop to match)',
      tag: 'config',
      auth: 'admin',
      body: RolesConfigInput,
      requestBody: { content: { 'application/json': { schema: RolesConfigInputShape } } },
      response: SavedRolesConfig,
      errors: [409],
      async handler({ body, log }) {
        const saved = await config.save(body);
        log.info({ revision: saved.revision, instances: saved.instances.length, warnings: saved.warnings.length }, 'role configuration saved');
        return { ...config.getRedacted(), warnings: saved.warnings };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/config/validate',
      operationId: 'validateRolesConfig',
      summary: 'Check a role configuration without saving it: every error and warning with its path',
      tag: 'config',
      auth: 'read',
      body: ValidateRequest,
      requestBody: { content: { 'application/json': { schema: ValidateRequestShape } } },
      response: ValidateResponse,
      handler: ({ body }) => ({ problems: config.validate(body) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/config/partition',
      operationId: 'getPartition',
      summary: 'Which group and instance serve a domain for a roletype',
      tag: 'config',
      auth: 'read',
      query: PartitionQuery,
      response: PartitionResult,
      handler: ({ query }) => config.partition(query.roletype, query.domain),
    }),
    route({
      method: 'get',
      path: '/api/v1/config/interfaces',
      operationId: 'getInterfaces',
      summary: 'The network interfaces of this site and the aliases it defines, for the iface of instances',
      tag: 'config',
      auth: 'read',
      response: InterfacesInfo,
      handler: () => config.interfaces(),
    }),
  ];
}
