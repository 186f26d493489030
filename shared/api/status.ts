import { Type, type Static } from '@sinclair/typebox';
import { RoleType } from './roles.js';

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('starting'), Type.Literal('stopping')]),
  site: Type.String(),
  version: Type.String(),
});
export type Health = Static<typeof Health>;

export const SiteRef = Type.Object({ id: Type.String(), name: Type.String() });
export type SiteRef = Static<typeof SiteRef>;

export const RoleInstanceState = Type.Union([
  Type.Literal('running'),
  Type.Literal('stopped'),
  Type.Literal('disabled'),
  Type.Literal('remote'),
]);
export type RoleInstanceState = Static<typeof RoleInstanceState>;

export const RoleInstanceStatus = Type.Object({
  name: Type.String(),
  roletype: RoleType,
  group: Type.Integer(),
  order: Type.Integer(),
  site: Type.String({ description: 'id of the site that runs the instance' }),
  includeDomains: Type.Array(Type.String(), { description: 'empty: the default group, serving every unclaimed domain' }),
  enabled: Type.Boolean(),
  state: RoleInstanceState,
  active: Type.Boolean({ description: 'the active instance of its group (Active-Passive by order)' }),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type RoleInstanceStatus = Static<typeof RoleInstanceStatus>;

export const ServiceStatus = Type.Object({
  site: SiteRef,
  version: Type.String(),
  startedAt: Type.String({ format: 'date-time' }),
  uptimeSec: Type.Number(),
  configRevision: Type.Integer(),
  instances: Type.Array(RoleInstanceStatus),
});
export type ServiceStatus = Static<typeof ServiceStatus>;
