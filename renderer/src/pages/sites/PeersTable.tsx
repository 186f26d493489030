import type { PeerSite } from '../../../../shared/api/sites.js';
import { Icon } from '../../components/icons.js';
import { Badge } from '../../components/ui.js';
import { formatDateTime, formatTime } from '../../lib/format.js';
import { displaySiteId, joinView, lagView, PEER_STATE_INFO, rttText, shortSiteId } from './siteFormat.js';

function StateCell({ peer }: { peer: PeerSite }) {
  const info = PEER_STATE_INFO[peer.state];
  return (
    <div className="peer-state">
      <span title={info.description}>
        <Badge tone={info.tone} dot>
          {info.label}
        </Badge>
      </span>
      {peer.state === 'connected' && peer.connectedSince ? (
        <span className="peer-sub">
          since <time dateTime={peer.connectedSince}>{formatTime(Date.parse(peer.connectedSince))}</time>
        </span>
      ) : null}
    </div>
  );
}

function LagCell({ peer }: { peer: PeerSite }) {
  const lag = lagView(peer.lag);
  if (lag.unknown) {
    return (
      <span className="muted" title="No replication runs towards this site now (no link)">
        —
      </span>
    );
  }
  return (
    <div className="peer-lag" data-testid="peer-lag">
      <span className={lag.caughtUp ? 'peer-lag__entries' : 'peer-lag__entries peer-lag__entries--behind'}>{lag.entries}</span>
      {lag.age ? <span className="peer-sub">{lag.caughtUp ? 'caught up' : `oldest ${lag.age}`}</span> : null}
    </div>
  );
}

function JoinCell({ peer }: { peer: PeerSite }) {
  const join = joinView(peer.join);
  if (!join) {
    return (
      <span className="muted" title="That site joined this one: it copies from here, this site has nothing to copy">
        It joined this site
      </span>
    );
  }
  if (join.state === 'synced') {
    return (
      <span data-testid="peer-join">
        <Badge tone="success">
          <Icon name="check" className="icon--inline" />
          Synced
        </Badge>
      </span>
    );
  }
  return (
    <div className="peer-join" data-testid="peer-join">
      <span className="peer-join__label">{join.label}</span>
      {join.fraction === null ? (
        <progress className="progress" aria-label={`Joining ${peer.name}: adopting the installation`} />
      ) : (
        <progress className="progress" max={join.total ?? 1} value={join.copied} aria-label={`Joining ${peer.name}: ${join.label}`} />
      )}
    </div>
  );
}

/** How a peer's last error reads: a refusal is an error, a lost link a warning, an old error of a link that is up again a note. */
function errorTone(peer: PeerSite): 'error' | 'warning' | 'note' {
  return peer.state === 'refused' ? 'error' : peer.state === 'unreachable' ? 'warning' : 'note';
}

function PeerRows({ peer: p, columns, canAdmin, onUnpair }: { peer: PeerSite; columns: number; canAdmin: boolean; onUnpair: (peer: PeerSite) => void }) {
  const tone = p.lastError ? errorTone(p) : null;
  return (
    <tbody data-testid={`peer-${p.id}`} data-state={p.state} className={tone ? `peer-rows peer-rows--${tone}` : 'peer-rows'}>
      <tr>
        <th scope="row" className="cell-name peer-site">
          <span className="peer-site__name">{p.name}</span>
          <code className="peer-site__id" title={`Site id ${displaySiteId(p.id)}`}>
            {shortSiteId(p.id)}
          </code>
        </th>
        <td>
          <StateCell peer={p} />
        </td>
        <td className="cell-num" data-testid="peer-rtt">
          {rttText(p)}
        </td>
        <td>
          <LagCell peer={p} />
        </td>
        <td>
          <JoinCell peer={p} />
        </td>
        <td className="nowrap">
          <time dateTime={p.pairedAt}>{formatDateTime(p.pairedAt)}</time>
        </td>
        {canAdmin ? (
          <td className="cell-actions">
            <button type="button" className="button button--small button--danger-outline" onClick={() => onUnpair(p)}>
              <Icon name="trash" />
              Unpair<span className="visually-hidden"> {p.name}</span>
            </button>
          </td>
        ) : null}
      </tr>
      {p.lastError ? (
        <tr className="peer-error-row">
          <td colSpan={columns}>
            <p className={`row-problem row-problem--${tone === 'note' ? 'note' : tone}`} data-testid="peer-error">
              <Icon name={tone === 'note' ? 'info' : 'alert'} />
              <span>
                <span className="row-problem__field">Last error:</span> {p.lastError}
              </span>
            </p>
          </td>
        </tr>
      ) : null}
    </tbody>
  );
}

/** The paired sites, as GET /api/v1/sites lists them (by the time they were paired); a peer's last error on a line of its own. */
export function PeersTable({ peers, canAdmin, onUnpair }: { peers: readonly PeerSite[]; canAdmin: boolean; onUnpair: (peer: PeerSite) => void }) {
  const columns = canAdmin ? 7 : 6;
  return (
    <div className="table-scroll">
      <table className="table peers-table" data-testid="peers-table">
        <thead>
          <tr>
            <th scope="col">Site</th>
            <th scope="col">State</th>
            <th scope="col" className="cell-num">
              Round trip
            </th>
            <th scope="col">Replication lag</th>
            <th scope="col">Joining</th>
            <th scope="col">Paired</th>
            {canAdmin ? (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        {peers.map((p) => (
          <PeerRows key={p.id} peer={p} columns={columns} canAdmin={canAdmin} onUnpair={onUnpair} />
        ))}
      </table>
    </div>
  );
}
