import { lazy, Suspense, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { SitesList } from '../../../shared/api/sites.js';
import type { ServiceStatus, RoleInstanceStatus } from '../../../shared/api/status.js';
import { listSites } from '../api/sites.js';
import { Icon } from '../components/icons.js';
import { Alert, Badge, EmptyState, ErrorPanel, ErrorText, LoadingRegion, PageHeader, Panel, Skeleton, SkeletonTable } from '../components/ui.js';
import { formatDateTime, formatDuration, formatTime } from '../lib/format.js';
import { domainsText, groupInstances, ROLE_INFO, STATE_INFO, type RoleGroup } from '../lib/roles.js';
import { STATUS_INTERVAL_MS, useStatus } from '../lib/StatusContext.js';
import { useNow, useResource } from '../lib/useResource.js';
import { useTitle } from '../lib/useTitle.js';
import { GroupElection } from './dashboard/GroupElection.js';
import { groupElection, siteLabel as siteLabelOf, type GroupElectionView } from './dashboard/groups.js';
import './dashboard/dashboard.css';
import { displaySiteId } from './sites/siteFormat.js';

/** The paired sites, by id and name: the instances on them are shown by their site's name. */
type PeerNames = SitesList['peers'] | undefined;

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

function SiteCell({ siteId, status, peers }: { siteId: string; status: ServiceStatus; peers: PeerNames }) {
  const site = siteLabelOf(siteId, status.site, peers);
  if (site.self) {
    return (
      <>
        {site.name} <span className="muted">(this site)</span>
      </>
    );
  }
  return site.known ? <span title={`Site id ${siteId}`}>{site.name}</span> : <code title={`Site id ${siteId}`}>{site.name}</code>;
}

/** The "In group" cell: the election's instance is active (or taking over); the others that run stand by. */
function InGroupCell({ instance, election }: { instance: RoleInstanceStatus; election: GroupElectionView }) {
  const elected = election.term !== null ? election.instance === instance.name : instance.active;
  if (elected && election.state === 'takeover') return <Badge tone="warning">Taking over</Badge>;
  if (elected && election.state === 'active') return <Badge tone="primary">Active</Badge>;
  if (instance.state === 'running' || instance.state === 'remote') return <span className="muted">Standby</span>;
  return <span className="muted">—</span>;
}

function InstanceRow({ instance, status, peers, election, showDomains }: { instance: RoleInstanceStatus; status: ServiceStatus; peers: PeerNames; election: GroupElectionView; showDomains: boolean }) {
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
        <InGroupCell instance={instance} election={election} />
      </td>
      <td>
        <SiteCell siteId={instance.site} status={status} peers={peers} />
      </td>
      {showDomains ? <td>{domainsText(instance.includeDomains)}</td> : null}
      <td className="muted">
        {instance.startedAt ? <time dateTime={instance.startedAt}>{formatDateTime(instance.startedAt)}</time> : '—'}
      </td>
    </tr>
  );
}

function GroupTable({ group, roletype, status, peers }: { group: RoleGroup; roletype: string; status: ServiceStatus; peers: PeerNames }) {
  const showDomains = group.domains === null;
  const election = groupElection(group, roletype, status.groups, status.site, peers);
  return (
    <div className="role-group" data-testid={`group-${group.instances[0]?.roletype ?? ''}-${group.group}`}>
      <div className="role-group__header">
        <h4 className="role-group__title">Group {group.group}</h4>
        <span className="role-group__domains">
          {group.domains ? domainsText(group.domains) : 'Instances serve different domains'}
        </span>
        <GroupElection election={election} />
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
            <InstanceRow key={i.name} instance={i} status={status} peers={peers} election={election} showDomains={showDomains} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function RoleInstances({ status, peers }: { status: ServiceStatus; peers?: PeerNames }) {
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
              <GroupTable key={g.group} group={g} roletype={section.roletype} status={status} peers={peers} />
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

/**
 * Under the site's name: its peers when it has any ("2 paired sites, 1 connected", to the Sites
 * page), else its id (grouped as the Sites page shows it).
 */
function SiteSub({ status, sites }: { status: ServiceStatus; sites: SitesList | undefined }) {
  const id = displaySiteId(status.site.id);
  if (!sites || sites.peers.length === 0) return <code title={`Site id ${id}`}>{id}</code>;
  const connected = sites.peers.filter((p) => p.state === 'connected').length;
  const n = sites.peers.length;
  return (
    <Link to="/sites" data-testid="sites-summary" title={`Site id ${id}`} className={connected < n ? 'site-peers site-peers--down' : 'site-peers'}>
      {n} paired site{n === 1 ? '' : 's'}, {connected === n && n > 1 ? 'all' : connected} connected
    </Link>
  );
}

export function DashboardPage() {
  useTitle('Dashboard');
  const { data: status, error, loading, updatedAt, reload } = useStatus();
  // the names of the paired sites (an instance on one is shown by it) and their links
  const sites = useResource(listSites, [], { intervalMs: STATUS_INTERVAL_MS });

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
          <Stat label="Site" value={<span data-testid="site-name">{status.site.name}</span>} sub={<SiteSub status={status} sites={sites.data} />} />
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
          description="Each group is served by one active instance, on one site; the others stand by and take over in order, each takeover raising the group's term."
        >
          <RoleInstances status={status} peers={sites.data?.peers} />
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
