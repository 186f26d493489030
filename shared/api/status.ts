import { Type, type Static } from '@sinclair/typebox';
import { RoleType } from './roles.js';

export const HealthReason = Type.Object({
  component: Type.String({ description: 'the impaired part, e.g. `cdr-writer` or `callstore callstore1`' }),
  message: Type.String({ description: 'what is wrong and what the service does about it, in one sentence' }),
  since: Type.String({ format: 'date-time' }),
});
export type HealthReason = Static<typeof HealthReason>;

export const HealthTask = Type.Object({
  component: Type.String({ description: 'the part that runs it, e.g. `vmail vmail1`' }),
  task: Type.String({ description: 'what it is, e.g. `store check`' }),
  state: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  message: Type.String({ description: 'what it does or found, in one sentence' }),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type HealthTask = Static<typeof HealthTask>;

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('starting'), Type.Literal('stopping')], {
    description: '`degraded`: running and answering, but a part is impaired (see reasons); answered with 200 like `ok`, the others with 503',
  }),
  site: Type.String(),
  version: Type.String(),
  reasons: Type.Optional(Type.Array(HealthReason, { description: 'present when degraded: why' })),
  tasks: Type.Optional(Type.Array(HealthTask, { description: 'work the service does in the background after it listens (the voicemail store checks), running or with its last result; it does not make the service degraded' })),
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

/**
 * One group of the configuration as the Active-Passive election on this site sees it (design
 * section 7): the elected instance, the group's term, and whether the term names it yet.
 */
export const GroupStatus = Type.Object({
  roletype: RoleType,
  group: Type.Integer(),
  active: Type.Union([Type.String(), Type.Null()], { description: 'the elected instance: the enabled one with the lowest order among those whose site is reachable and synced; null when none is' }),
  activeSite: Type.Union([Type.String(), Type.Null()], { description: 'id of the site of the active instance' }),
  term: Type.Integer({ minimum: 0, description: 'the group’s term, raised at each takeover; 0 before the first' }),
  since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when the current term began' }),
  state: Type.Union([Type.Literal('active'), Type.Literal('takeover'), Type.Literal('none')], {
    description: '`active`: the elected instance holds the current term; `takeover`: the elected instance’s site has not raised the term yet, or the site of an instance is still catching up; `none`: no instance can be active (none enabled on a reachable site)',
  }),
});
export type GroupStatus = Static<typeof GroupStatus>;

export const ServiceStatus = Type.Object({
  site: SiteRef,
  version: Type.String(),
  startedAt: Type.String({ format: 'date-time' }),
  uptimeSec: Type.Number(),
  configRevision: Type.Integer(),
  instances: Type.Array(RoleInstanceStatus),
  // Optional here until the Active-Passive election reports it (the console shows it when present)
  groups: Type.Optional(Type.Array(GroupStatus)),
});
export type ServiceStatus = Static<typeof ServiceStatus>;
