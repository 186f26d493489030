import type { Limit, ProfileCounts as Counts } from '../../../../shared/api/limits.js';
import { Badge, EmptyState } from '../../components/ui.js';
import { useNow } from '../../lib/useResource.js';
import { ageNow, formatAge, valueText } from './limitCounts.js';

function siteLabel(site: { site: string; name: string | null }): string {
  return site.name ?? `site ${site.site.slice(0, 8)}`;
}

/** Whether a pair has a limit of its own or falls under a rule for each value of its profile. */
function limitedBy(name: string, value: string | null, limits: readonly Limit[]): Limit[] {
  return limits.filter((l) => l.profile === name && (l.value === value || l.value === null));
}

/**
 * The profile counts (GET /api/v1/profiles, then the live feed's `profiles`): per name and value,
 * this site's (with its reservations: admitted calls whose invite has not come), each paired
 * site's last list with how old it is, and the total the limits are held to.
 */
export function ProfileCountsTable({ counts, receivedAt, limits }: { counts: Counts; receivedAt: number; limits: readonly Limit[] }) {
  const now = useNow(1000);
  const sites = counts.sites;
  if (counts.items.length === 0) {
    return (
      <EmptyState icon="calls" title="No calls are counted now" headingLevel={3}>
        <p>
          Every call up counts under <code>total</code>, under <code>domain</code> with its domain, and under the profiles its invite
          event names. They show here as calls come in{sites.length > 0 ? ', here and at the paired sites' : ''}.
        </p>
      </EmptyState>
    );
  }
  return (
    <div className="table-scroll">
      <table className="table table--compact profiles-table" data-testid="profiles-table">
        <thead>
          <tr>
            <th scope="col">Profile</th>
            <th scope="col">Value</th>
            <th scope="col" className="cell-num">
              This site
            </th>
            {sites.map((s) => (
              <th scope="col" className="cell-num" key={s.site} data-testid="profiles-site">
                <span className="profiles-site__name">{siteLabel(s)}</span>
                <span className="profiles-site__age" data-testid="profiles-site-age">
                  list {formatAge(ageNow(s.ageMs, receivedAt, now))}
                </span>
              </th>
            ))}
            <th scope="col" className="cell-num">
              Total
            </th>
            <th scope="col">Limit</th>
          </tr>
        </thead>
        <tbody>
          {counts.items.map((row) => {
            const rules = limitedBy(row.name, row.value, limits);
            return (
              <tr key={`${row.name}\u0000${row.value ?? '\u0001'}`} data-testid="profile-row" data-profile={row.name} data-value={row.value ?? ''}>
                <th scope="row">
                  <code>{row.name}</code>
                </th>
                <td className={row.value === null ? 'muted' : undefined}>{valueText(row.name, row.value)}</td>
                <td className="cell-num" data-testid="profile-local">
                  {row.local}
                  {row.reserved > 0 ? (
                    <span className="profiles-sub" title="Admitted calls whose invite event has not come yet">
                      {row.reserved} reserved
                    </span>
                  ) : null}
                </td>
                {sites.map((s) => {
                  const r = row.remote.find((x) => x.site === s.site);
                  return (
                    <td className={r ? 'cell-num' : 'cell-num muted'} key={s.site} data-testid="profile-remote">
                      {r?.count ?? 0}
                    </td>
                  );
                })}
                <td className="cell-num" data-testid="profile-total">
                  <strong>{row.count}</strong>
                </td>
                <td>
                  {rules.length === 0 ? (
                    <span className="muted">—</span>
                  ) : (
                    rules.map((l) => (
                      <span key={l.id} className="profiles-limit">
                        <Badge tone={row.count > l.max ? 'danger' : row.count === l.max ? 'warning' : 'neutral'}>
                          max {l.max}
                          {l.value === null && row.name !== 'total' ? ' each' : ''}
                        </Badge>
                      </span>
                    ))
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** What the counts' header says: the paired sites whose lists are held and whether they are all in. */
export function profilesSummary(counts: Counts): string {
  const n = counts.sites.length;
  const sites = n === 0 ? 'this site only (no paired site sends counts)' : `this site and ${n} paired site${n === 1 ? '' : 's'}`;
  return `Calls up now, counted at ${sites}.`;
}

export function SyncBadge({ synced }: { synced: boolean }) {
  return synced ? null : (
    <span title="Not every reachable paired site has sent its counts yet: with reject_until_synced, admission answers syncing until they have">
      <Badge tone="warning" dot>
        Waiting for paired sites' counts
      </Badge>
    </span>
  );
}
