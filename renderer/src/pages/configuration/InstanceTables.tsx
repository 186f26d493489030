/** The draft's instances by role type and group, each row with its runtime state and its problems. */
import type { ServiceStatus, RoleInstanceStatus } from '../../../../shared/api/status.js';
import { Icon } from '../../components/icons.js';
import { Badge } from '../../components/ui.js';
import { problemLabel, type DraftChange, type DraftGroup, type DraftInstance, type DraftSection, type FieldProblem } from '../../lib/configDraft.js';
import { ROLE_INFO, STATE_INFO } from '../../lib/roles.js';

export interface TableContext {
  problemsOf: (key: string) => readonly FieldProblem[];
  changeOf: (key: string) => DraftChange;
  status: ServiceStatus | undefined;
  /** the status describes an older revision than the one shown (just saved): states are about to change */
  statusBehind: boolean;
  selfSite: string;
  readOnly: boolean;
  /** the instance just applied from the form, briefly highlighted */
  flashKey: string | null;
  onEdit: (key: string) => void;
  onRemove: (key: string) => void;
  onAddToGroup: (group: DraftGroup) => void;
}

/** Fields that have a column; problems of the others are only listed under the row. */
const COLUMN_FIELDS = ['name', 'order', 'iface', 'enabled', 'site'] as const;
type ColumnField = (typeof COLUMN_FIELDS)[number];

function cellClass(problems: readonly FieldProblem[], field: ColumnField, base = ''): string | undefined {
  const mine = problems.filter((p) => p.field === field);
  const extra = mine.some((p) => p.severity === 'error') ? 'cell--invalid' : mine.length > 0 ? 'cell--warning' : '';
  const cls = [base, extra].filter(Boolean).join(' ');
  return cls || undefined;
}

function runtimeOf(instance: DraftInstance, status: ServiceStatus | undefined): RoleInstanceStatus | undefined {
  if (!status || instance.origName === null) return undefined;
  return status.instances.find((s) => s.name === instance.origName);
}

function StateCell({ instance, change, ctx }: { instance: DraftInstance; change: DraftChange; ctx: TableContext }) {
  if (change === 'new') return <span className="muted">Not saved yet</span>;
  const runtime = ctx.statusBehind ? undefined : runtimeOf(instance, ctx.status);
  if (!runtime) return <span className="muted">{ctx.statusBehind ? 'Updating…' : ctx.status ? 'Not running' : '—'}</span>;
  const state = STATE_INFO[runtime.state] ?? { label: runtime.state, tone: 'neutral' as const };
  return (
    <span className="state-cell">
      <Badge tone={state.tone} dot>
        {state.label}
      </Badge>
      {runtime.active ? <Badge tone="primary">Active</Badge> : runtime.state === 'running' || runtime.state === 'remote' ? <span className="muted">Standby</span> : null}
    </span>
  );
}

function InstanceRow({ instance, ctx }: { instance: DraftInstance; ctx: TableContext }) {
  const v = instance.value;
  const problems = ctx.problemsOf(instance.key);
  const change = ctx.changeOf(instance.key);
  const hasError = problems.some((p) => p.severity === 'error');
  const problemsId = `problems-${instance.key}`;
  const rowClass = ['instance-row', hasError ? 'instance-row--invalid' : problems.length > 0 ? 'instance-row--warning' : '', v.enabled === false ? 'instance-row--disabled' : '', ctx.flashKey === instance.key ? 'instance-row--flash' : '']
    .filter(Boolean)
    .join(' ');
  const site = v.site ?? ctx.selfSite;
  const label = v.name || '(no name)';
  return (
    <>
      <tr className={rowClass} data-testid={`cfg-row-${v.name}`} data-key={instance.key}>
        <th scope="row" className={cellClass(problems, 'name', 'cell-name')}>
          <span className="instance-name">
            <span className="instance-name__text">{label}</span>
            {change === 'new' ? <Badge tone="info">New</Badge> : change === 'changed' ? <Badge tone="warning">Edited</Badge> : null}
          </span>
          {instance.origName !== null && instance.origName !== v.name ? <span className="instance-name__was">was {instance.origName}</span> : null}
        </th>
        <td className={cellClass(problems, 'order', 'cell-num')}>{v.order}</td>
        <td className={cellClass(problems, 'iface')}>
          <code>{v.iface || '—'}</code>
        </td>
        <td className={cellClass(problems, 'enabled')}>{v.enabled === false ? <span className="muted">No</span> : 'Yes'}</td>
        <td>
          <StateCell instance={instance} change={change} ctx={ctx} />
        </td>
        <td className={cellClass(problems, 'site')}>
          {site === ctx.selfSite ? (
            'This site'
          ) : (
            <code className="site-id" title={`Site id ${site}`}>
              {site}
            </code>
          )}
        </td>
        <td className="cell-actions">
          <span className="row-actions">
            <button
              type="button"
              className="button button--small"
              onClick={() => ctx.onEdit(instance.key)}
              disabled={ctx.readOnly}
              data-edit-key={instance.key}
              aria-describedby={problems.length > 0 ? problemsId : undefined}
            >
              <Icon name="edit" />
              Edit<span className="visually-hidden"> {label}</span>
            </button>
            <button type="button" className="button button--small button--danger-outline" onClick={() => ctx.onRemove(instance.key)} disabled={ctx.readOnly}>
              <Icon name="trash" />
              Remove<span className="visually-hidden"> {label}</span>
            </button>
          </span>
        </td>
      </tr>
      {problems.length > 0 ? (
        <tr className={`problem-row ${hasError ? 'problem-row--invalid' : 'problem-row--warning'}`} data-testid={`cfg-problems-${v.name}`}>
          <td colSpan={7}>
            <ul className="row-problems" id={problemsId}>
              {problems.map((p) => (
                <li key={`${p.path}:${p.message}`} className={`row-problem row-problem--${p.severity}`}>
                  <Icon name="alert" />
                  <span>
                    <span className="row-problem__field">{problemLabel(p)}:</span> {p.message}
                  </span>
                </li>
              ))}
            </ul>
          </td>
        </tr>
      ) : null}
    </>
  );
}

function GroupBlock({ group, ctx }: { group: DraftGroup; ctx: TableContext }) {
  return (
    <div className="role-group cfg-group" data-testid={`cfg-group-${group.roletype}-${group.group}`}>
      <div className="cfg-group__header">
        <div className="cfg-group__info">
          <h4 className="role-group__title">Group {group.group}</h4>
          <span className="cfg-group__domains">
            {group.domains === null ? (
              <Badge tone="warning">Members list different domains</Badge>
            ) : group.domains.length === 0 ? (
              <span className="muted">All other domains (default group)</span>
            ) : (
              <span className="domain-list" aria-label="Domains">
                {group.domains.map((d) => (
                  <code key={d} className="domain-chip">
                    {d}
                  </code>
                ))}
              </span>
            )}
          </span>
          <span className="cfg-group__order">
            <span className="cfg-group__order-label">Active-Passive:</span>{' '}
            {group.order.length === 0 ? <span className="muted">no enabled instance</span> : group.order.join(' → ')}
          </span>
        </div>
        <button type="button" className="button button--small button--ghost" onClick={() => ctx.onAddToGroup(group)} disabled={ctx.readOnly}>
          <Icon name="plus" />
          Add to this group<span className="visually-hidden"> {group.group}</span>
        </button>
      </div>
      <table className="table">
        <colgroup>
          <col className="cfg-col-name" />
          <col className="cfg-col-order" />
          <col className="cfg-col-iface" />
          <col className="cfg-col-enabled" />
          <col className="cfg-col-state" />
          <col />
          <col className="cfg-col-actions" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Instance</th>
            <th scope="col" className="cell-num">
              Order
            </th>
            <th scope="col">Interface</th>
            <th scope="col">Enabled</th>
            <th scope="col">State</th>
            <th scope="col">Site</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {group.members.map((m) => (
            <InstanceRow key={m.key} instance={m} ctx={ctx} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function InstanceTables({ sections, ctx }: { sections: readonly DraftSection[]; ctx: TableContext }) {
  return (
    <div className="role-sections">
      {sections.map((section) => {
        const info = (ROLE_INFO as Record<string, { label: string; description: string } | undefined>)[section.roletype];
        return (
          <section key={section.roletype} className="role-section" aria-label={info?.label ?? section.roletype} data-testid={`cfg-section-${section.roletype}`}>
            <h3 className="role-section__title">
              {info?.label ?? section.roletype}
              {info ? <span className="role-section__description">{info.description}</span> : null}
            </h3>
            {section.groups.map((g) => (
              <GroupBlock key={g.group} group={g} ctx={ctx} />
            ))}
          </section>
        );
      })}
    </div>
  );
}
