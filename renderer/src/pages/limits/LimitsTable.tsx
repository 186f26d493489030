import type { Limit, ProfileCounts } from '../../../../shared/api/limits.js';
import { Icon } from '../../components/icons.js';
import { Badge } from '../../components/ui.js';
import { countsOf, fillOf, standingOfCounts, standingText, valueText, type CountView, type Standing } from './limitCounts.js';

/** A rule without a value lists this many of its values (the fullest); the rest are summed up. */
const VALUES_SHOWN = 8;

const STANDING_TONE: Record<Standing, 'success' | 'warning' | 'danger'> = { under: 'success', at: 'warning', over: 'danger' };
const STANDING_LABEL: Record<Standing, string> = { under: 'Under', at: 'At limit', over: 'Over limit' };

function Bar({ count, max, standing, label }: { count: number; max: number; standing: Standing; label: string }) {
  return (
    <div
      className={`limit-bar limit-bar--${standing}`}
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={Math.max(max, count)}
      aria-valuenow={count}
      aria-valuetext={`${count} of ${max}`}
    >
      <span className="limit-bar__fill" style={{ width: `${Math.round(fillOf(count, max) * 100)}%` }} />
    </div>
  );
}

function Split({ v }: { v: CountView }) {
  return (
    <span className="limit-split">
      {v.local} here{v.remote > 0 ? `, ${v.remote} at paired sites` : ''}
    </span>
  );
}

function OneCount({ view, max, rule }: { view: CountView; max: number; rule: string }) {
  return (
    <div className="limit-count" data-testid="limit-count" data-count={view.count} data-standing={view.standing}>
      <div className="limit-count__line">
        <span className="limit-count__figure">
          <strong data-testid="limit-count-value">{view.count}</strong> of {max}
        </span>
        <Badge tone={STANDING_TONE[view.standing]} dot>
          {STANDING_LABEL[view.standing]}
        </Badge>
      </div>
      <Bar count={view.count} max={max} standing={view.standing} label={`Calls under ${rule}`} />
      <span className="limit-count__note">
        {standingText(view.standing, view.count, max)} · <Split v={view} />
      </span>
    </div>
  );
}

function EachCount({ values, max, profile, standing }: { values: CountView[]; max: number; profile: string; standing: Standing }) {
  if (values.length === 0) {
    return (
      <div className="limit-count" data-testid="limit-count" data-standing={standing}>
        <span className="muted">No calls counted under {profile} now: each value may have {max}.</span>
      </div>
    );
  }
  const shown = values.slice(0, VALUES_SHOWN);
  const rest = values.slice(VALUES_SHOWN);
  return (
    <div className="limit-count" data-testid="limit-count" data-standing={standing}>
      <ul className="limit-values" aria-label={`Values of ${profile} counted now`}>
        {shown.map((v) => (
          <li key={v.value ?? '\u0000'} className="limit-value" data-testid="limit-value" data-value={v.value ?? ''} data-count={v.count} data-standing={v.standing}>
            <span className="limit-value__name" title={valueText(profile, v.value)}>
              {valueText(profile, v.value)}
            </span>
            <span className="limit-value__figure">
              <strong>{v.count}</strong> of {max}
            </span>
            <Bar count={v.count} max={max} standing={v.standing} label={`Calls under ${profile} = ${valueText(profile, v.value)}`} />
            {v.standing !== 'under' ? (
              <Badge tone={STANDING_TONE[v.standing]} dot>
                {STANDING_LABEL[v.standing]}
              </Badge>
            ) : (
              <span />
            )}
          </li>
        ))}
      </ul>
      {rest.length > 0 ? (
        <span className="limit-count__note">
          and {rest.length} more value{rest.length === 1 ? '' : 's'} with {rest.reduce((s, v) => s + v.count, 0)} calls
        </span>
      ) : null}
    </div>
  );
}

function CountCell({ limit, counts }: { limit: Limit; counts: ProfileCounts | undefined }) {
  if (!counts) return <span className="muted">Counts not known</span>;
  const c = countsOf(limit, counts);
  if (c.kind === 'one') return <OneCount view={c.count} max={limit.max} rule={limit.value === null ? limit.profile : `${limit.profile} = ${limit.value}`} />;
  return <EachCount values={c.values} max={limit.max} profile={limit.profile} standing={c.standing} />;
}

function ValueCell({ limit }: { limit: Limit }) {
  if (limit.value !== null) return <code className="limit-rule__value">{limit.value}</code>;
  if (limit.profile === 'total') return <span className="muted">all calls</span>;
  return (
    <span className="limit-rule__each" title="The rule has no value: it applies to each value of the profile on its own">
      each value
    </span>
  );
}

/** The limits, as GET /api/v1/limits lists them (by profile, then value), each against its live count. */
export function LimitsTable({
  limits,
  counts,
  canAdmin,
  onEdit,
  onDelete,
}: {
  limits: readonly Limit[];
  counts: ProfileCounts | undefined;
  canAdmin: boolean;
  onEdit: (limit: Limit) => void;
  onDelete: (limit: Limit) => void;
}) {
  return (
    <div className="table-scroll">
      <table className="table limits-table" data-testid="limits-table">
        <thead>
          <tr>
            <th scope="col">Profile</th>
            <th scope="col">Value</th>
            <th scope="col" className="cell-num">
              Max
            </th>
            <th scope="col">Now</th>
            <th scope="col">Description</th>
            {canAdmin ? (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>
          {limits.map((l) => {
            const standing = counts ? standingOfCounts(countsOf(l, counts)) : undefined;
            const name = l.value === null ? l.profile : `${l.profile} = ${l.value}`;
            return (
              <tr key={l.id} data-testid="limit-row" data-limit-id={l.id} data-standing={standing} className={standing && standing !== 'under' ? `limit-row limit-row--${standing}` : 'limit-row'}>
                <th scope="row">
                  <code className="limit-rule__profile">{l.profile}</code>
                </th>
                <td>
                  <ValueCell limit={l} />
                </td>
                <td className="cell-num" data-testid="limit-max">
                  {l.max}
                </td>
                <td className="limit-row__count">
                  <CountCell limit={l} counts={counts} />
                </td>
                <td className="limit-row__description">{l.description ?? <span className="muted">—</span>}</td>
                {canAdmin ? (
                  <td className="cell-actions">
                    <div className="row-actions">
                      <button type="button" className="button button--small" onClick={() => onEdit(l)}>
                        <Icon name="edit" />
                        Edit<span className="visually-hidden"> the limit {name}</span>
                      </button>
                      <button type="button" className="button button--small button--danger-outline" onClick={() => onDelete(l)}>
                        <Icon name="trash" />
                        Delete<span className="visually-hidden"> the limit {name}</span>
                      </button>
                    </div>
                  </td>
                ) : null}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
