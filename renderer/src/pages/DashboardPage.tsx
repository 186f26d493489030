import { lazy, Suspense, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { ServiceStatus, RoleInstanceStatus } from '../../../shared/api/status.js';
import { Icon } from '../components/icons.js';
import { Alert, Badge, EmptyState, ErrorPanel, ErrorText, LoadingRegion, PageHeader, Panel, Skeleton, SkeletonTable } from '../components/ui.js';
import { formatDateTime, formatDuration, formatTime } from '../lib/format.js';
import { domainsText, groupInstances, ROLE_INFO, STATE_INFO, type RoleGroup } from '../lib/roles.js';
import { STATUS_INTERVAL_MS, useStatus } from '../lib/StatusContext.js';
import { useNow } from '../lib/useResource.js';
import { useTitle } from '../lib/useTitle.js';

// The charts (uPlot) load as a chunk of their own, after the status.
const CallCharts = lazy(() => import('./dashboard/CallCharts.js').then((m) => ({ default: m.CallCharts })));

function Stat({ label, value, sub, testId }: { label: string; value: ReactNode; sub?: ReactNode; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <dt className="stat__label">{label}</dt>
      <dd className="stat__value">{value}</dd>
      {sub ? <dd className="stat__sub">{sub}</dd> : null}
    </div>
  );
}

/**
 * Uptime that ticks every second. Counted from the status's uptimeSec plus the time since it arrived,
 * which is the same instant as startedAt but immune to a clock difference between browser and server.
 */
function Uptime({ status, receivedAt }: { status: ServiceStatus; receivedAt: number }) {
  const now = useNow(1000);
  const seconds = status.uptimeSec + (now - receivedAt) / 1000;
  return <span data-testid="uptime">{formatDuration(seconds)}</span>;
}

function siteLabel(siteId: string, status: ServiceStatus): ReactNode {
  if (siteId === status.site.id || siteId === status.site.name) {
    return (
      <>
        {status.site.name} <span className="muted">(this site)</span>
      </>
    );
  }
  return <code>{siteId}</code>;
}

function InstanceRow({ instance, status, showDomains }: { instance: RoleInstanceStatus; status: ServiceStatus; showDomains: boolean }) {
  const state = STATE_INFO[instance.state] ?? { label: instance.state, tone: 'neutral' as const };
  return (
    <tr data-testid={`instance-${instance.name}`}>
      <th scope="row" className="cell-name">
        {instance.name}
      </th>
      <td className="cell-num">{instance.order}</td>
      <td>
        <Badge tone={state.tone} dot>
          {state.label}
        </Badge>
      </td>
      <td>
        {instance.active ? (
          <Badge tone="primary">Active</Badge>
        ) : instance.state === 'running' || instance.state === 'remote' ? (
          <span className="muted">Standby</span>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
      <td>{siteLabel(instance.site, status)}</td>
      {showDomains ? <td>{domainsText(instance.includeDomains)}</td> : null}
      <td className="muted">
        {instance.startedAt ? <time dateTime={instance.startedAt}>{formatDateTime(instance.startedAt)}</time> : '—'}
      </td>
    </tr>
  );
}

function GroupTable({ group, status }: { group: RoleGroup; status: ServiceStatus }) {
  const showDomains = group.domains === null;
  return (
    <div className="role-group" data-testid={`group-${group.instances[0]?.roletype ?? ''}-${group.group}`}>
      <div className="role-group__header">
        <h4 className="role-group__title">Group {group.group}</h4>
        <span className="role-group__domains">
          {group.domains ? domainsText(group.domains) : 'Instances serve different domains'}
        </span>
        {group.instances.some((i) => i.active) ? null : (
          <span className="role-group__warning">
            <Badge tone="danger">No active instance</Badge>
          </span>
        )}
      </div>
      <table className="table">
        <colgroup>
          <col className="col-name" />
          <col className="col-order" />
          <col className="col-state" />
          <col className="col-active" />
          <col />
          {showDomains ? <col /> : null}
          <col />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Instance</th>
            <th scope="col" className="cell-num">
              Order
            </th>
            <th scope="col">State</th>
            <th scope="col">In group</th>
            <th scope="col">Site</th>
            {showDomains ? <th scope="col">Domains</th> : null}
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {group.instances.map((i) => (
            <InstanceRow key={i.name} instance={i} status={status} showDomains={showDomains} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function RoleInstances({ status }: { status: ServiceStatus }) {
  const sections = groupInstances(status.instances);
  if (sections.length === 0) {
    return (
      <EmptyState icon="configuration" title="No role instances configured" headingLevel={3}>
        <p>
          This site runs no callstore or vmail instance, so it keeps no call records and holds no voicemail. Add role
          instances on the <Link to="/configuration">Configuration</Link> page.
        </p>
      </EmptyState>
    );
  }
  return (
    <div className="role-sections">
      {sections.map((section) => {
        const info = (ROLE_INFO as Record<string, { label: string; description: string } | undefined>)[section.roletype];
        return (
          <section key={section.roletype} className="role-section" aria-label={info?.label ?? section.roletype}>
            <h3 className="role-section__title">
              {info?.label ?? section.roletype}
              {info ? <span className="role-section__description">{info.description}</span> : null}
            </h3>
            {section.groups.map((g) => (
              <GroupTable key={g.group} group={g} status={status} />
            ))}
          </section>
        );
      })}
    </div>
  );
}

function DashboardSkeleton() {
  return (
    <LoadingRegion label="Loading the service status…">
      <dl className="stats">
        {['Site', 'Version', 'Uptime', 'Configuration'].map((label) => (
          <div className="stat" key={label}>
            <dt className="stat__label">{label}</dt>
            <dd className="stat__value">
              <Skeleton className="skeleton--value" />
            </dd>
            <dd className="stat__sub">
              <Skeleton className="skeleton--short" />
            </dd>
          </div>
        ))}
      </dl>
      <Panel title="Role instances">
        <SkeletonTable rows={4} columns={['wide', 'short', 'wide', 'short']} />
      </Panel>
    </LoadingRegion>
  );
}

export function DashboardPage() {
  useTitle('Dashboard');
  const { data: status, error, loading, updatedAt, reload } = useStatus();

  const actions = (
    <>
      {updatedAt ? (
        <span className="updated" title={`Refreshed every ${STATUS_INTERVAL_MS / 1000} seconds`}>
          Updated {formatTime(updatedAt)}
        </span>
      ) : null}
      <button type="button" className="button" onClick={reload} disabled={loading}>
        <Icon name="refresh" className={loading ? 'icon--spin' : undefined} />
        Refresh
      </button>
    </>
  );

  let body: ReactNode;
  if (!status && error) {
    body = <ErrorPanel title="The service status could not be loaded" error={error} onRetry={reload} busy={loading} />;
  } else if (!status || updatedAt === undefined) {
    body = <DashboardSkeleton />;
  } else {
    const running = status.instances.filter((i) => i.state === 'running').length;
    body = (
      <>
        {error ? (
          <Alert
            tone="warning"
            title="The status could not be refreshed"
            actions={
              <button type="button" className="button button--small" onClick={reload} disabled={loading}>
                Try again
              </button>
            }
          >
            <ErrorText error={error} /> Showing the status from {formatTime(updatedAt)}.
          </Alert>
        ) : null}
        <dl className="stats">
          <Stat label="Site" value={<span data-testid="site-name">{status.site.name}</span>} sub={<code title={`Site id ${status.site.id}`}>{status.site.id}</code>} />
          <Stat label="Version" value={<span data-testid="version">{status.version}</span>} sub="Sitecall service" />
          <Stat
            label="Uptime"
            value={<Uptime status={status} receivedAt={updatedAt} />}
            sub={
              <>
                since <time dateTime={status.startedAt}>{formatDateTime(status.startedAt)}</time>
              </>
            }
          />
          <Stat
            label="Configuration"
            value={<span data-testid="config-revision">revision {status.configRevision}</span>}
            sub={`${status.instances.length} role instance${status.instances.length === 1 ? '' : 's'}, ${running} running`}
          />
        </dl>
        <Suspense
          fallback={
            <Panel title="Calls">
              <LoadingRegion label="Loading the call figures…">
                <div className="chart-skeleton" />
              </LoadingRegion>
            </Panel>
          }
        >
          <CallCharts />
        </Suspense>
        <Panel
          title="Role instances"
          description="Each group is served by one active instance; the others in the group stand by and take over in order."
        >
          <RoleInstances status={status} />
        </Panel>
      </>
    );
  }

  return (
    <>
      <PageHeader title="Dashboard" description="The state of this site's Sitecall service and its role instances." actions={actions} />
      {body}
    </>
  );
}
