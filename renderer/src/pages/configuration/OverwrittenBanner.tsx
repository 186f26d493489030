import type { Conflict } from '../../../../shared/api/conflicts.js';
import type { RoleInstance, RolesConfig } from '../../../../shared/api/roles.js';
import type { ApiError } from '../../api/client.js';
import { Alert, ErrorText } from '../../components/ui.js';
import { compareInstances, instancesOf } from './overwritten.js';

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function siteOf(v: { origin: string; siteName: string | null }, selfSite: string): string {
  if (v.origin === selfSite) return v.siteName ? `this site (${v.siteName})` : 'this site';
  return v.siteName ?? `site ${v.origin.slice(0, 8)}`;
}

function describe(i: RoleInstance, selfSite: string): string {
  const site = i.site && i.site !== selfSite ? ` · on ${i.site.slice(0, 8)}` : '';
  const domains = i.include_domains?.length ? ` · ${i.include_domains.join(', ')}` : '';
  const ext = i.ext && Object.keys(i.ext).length ? ` · options ${JSON.stringify(i.ext)}` : '';
  return `${i.roletype} · group ${i.group} · order ${i.order}${i.enabled === false ? ' · disabled' : ''}${domains}${site}${ext.length > 160 ? `${ext.slice(0, 157)}…` : ext}`;
}

/**
 * The configuration has an edit that a concurrent edit on another site overwrote (both sides of
 * a cut saved it; the merge kept the later one): the overwritten version beside the current one,
 * "Keep current" (dismissed on every site) and "Use the overwritten one" (saved as a new revision
 * through the normal save, then dismissed).
 */
export function OverwrittenBanner({
  conflict,
  count,
  current,
  selfSite,
  busy,
  error,
  dirty,
  readOnly,
  onKeep,
  onUse,
}: {
  conflict: Conflict;
  count: number;
  current: RolesConfig;
  selfSite: string;
  busy: 'keep' | 'use' | null;
  error: ApiError | null;
  /** the draft has unsaved changes: using the overwritten version would replace them */
  dirty: boolean;
  readOnly: boolean;
  onKeep: () => void;
  onUse: () => void;
}) {
  const rows = compareInstances(current.instances, instancesOf(conflict.overwritten.body), selfSite);
  const differing = rows.filter((r) => !r.same);
  const lost = conflict.overwritten;
  return (
    <div className="overwritten" data-testid="overwritten-banner">
      <Alert
        tone="warning"
        title={
          lost.deleted
            ? `A delete of the configuration made on ${siteOf(lost, selfSite)} was overwritten`
            : `An edit of the configuration made on ${siteOf(lost, selfSite)} was overwritten`
        }
        actions={
          readOnly ? null : (
            <>
              <button type="button" className="button button--small" onClick={onKeep} disabled={busy !== null} data-testid="overwritten-keep">
                {busy === 'keep' ? 'Keeping…' : 'Keep current'}
              </button>
              <button
                type="button"
                className="button button--small button--primary"
                onClick={onUse}
                disabled={busy !== null || dirty || lost.deleted}
                title={dirty ? 'Save or discard your changes first' : undefined}
                data-testid="overwritten-use"
              >
                {busy === 'use' ? 'Saving…' : 'Use the overwritten one'}
              </button>
            </>
          )
        }
      >
        <p>
          It was saved at {when(lost.writtenAt)} while this site and {siteOf(conflict.overwrittenBy, selfSite)} could not reach each other; the edit saved there at{' '}
          {when(conflict.overwrittenBy.writtenAt)} was later and is what both sites run now.
          {count > 1 ? ` ${count - 1} more overwritten version${count > 2 ? 's' : ''} wait after this one.` : ''}
        </p>
        {differing.length === 0 ? <p className="muted">The instances of both versions are the same.</p> : null}
        {dirty && !readOnly ? <p className="muted">Save or discard your changes to use the overwritten version.</p> : null}
        {error ? <ErrorText error={error} /> : null}
      </Alert>
      {differing.length > 0 ? (
        <table className="overwritten__diff" data-testid="overwritten-diff">
          <caption className="visually-hidden">Instances that differ between the current configuration and the overwritten one</caption>
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">Now (revision {current.revision})</th>
              <th scope="col">Overwritten version</th>
            </tr>
          </thead>
          <tbody>
            {differing.map((r) => (
              <tr key={r.name} data-instance={r.name}>
                <th scope="row">{r.name}</th>
                <td className={r.current ? '' : 'overwritten__absent'}>{r.current ? describe(r.current, selfSite) : 'not there'}</td>
                <td className={r.overwritten ? '' : 'overwritten__absent'}>{r.overwritten ? describe(r.overwritten, selfSite) : 'not there'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
