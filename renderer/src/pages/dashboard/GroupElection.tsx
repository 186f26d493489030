import { Badge } from '../../components/ui.js';
import { formatDateTime } from '../../lib/format.js';
import type { GroupElectionView } from './groups.js';

/** A group's election in its header: which instance is active, on which site, the term and since when. */
export function GroupElection({ election }: { election: GroupElectionView }) {
  const { site } = election;
  return (
    <div className="group-election" data-testid="group-election" data-state={election.state} title={election.sentence}>
      <Badge tone={election.tone} dot>
        {election.label}
      </Badge>
      {election.instance ? (
        <span className="group-election__who">
          <strong data-testid="group-active">{election.instance}</strong>
          {site ? (
            <>
              {' on '}
              <span data-testid="group-active-site" className={site.known ? undefined : 'group-election__unknown-site'}>
                {site.name}
              </span>
              {site.self ? <span className="muted"> (this site)</span> : null}
            </>
          ) : null}
        </span>
      ) : null}
      {election.term !== null ? (
        <span className="group-election__term" data-testid="group-term">
          term {election.term}
        </span>
      ) : null}
      {election.since ? (
        <span className="group-election__since">
          since <time dateTime={election.since}>{formatDateTime(election.since)}</time>
        </span>
      ) : null}
    </div>
  );
}
