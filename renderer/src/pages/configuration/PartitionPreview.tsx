/** "Which instance serves this domain?": GET /config/partition for the SAVED configuration, as you type. */
import { useEffect, useId, useState } from 'react';
import type { PartitionResult, RoleType } from '../../../../shared/api/roles.js';
import { isAbort, toApiError, type ApiError } from '../../api/client.js';
import { getPartition } from '../../api/endpoints.js';
import { Icon } from '../../components/icons.js';
import { Badge, Panel } from '../../components/ui.js';
import { ROLE_INFO } from '../../lib/roles.js';

const ROLE_TYPES = Object.keys(ROLE_INFO) as RoleType[];

type Lookup =
  | { state: 'idle' }
  | { state: 'loading' }
  | { state: 'done'; result: PartitionResult; roletype: RoleType }
  | { state: 'failed'; error: ApiError };

export function PartitionPreview({ revision, dirty }: { revision: number; dirty: boolean }) {
  const id = useId();
  const [roletype, setRoletype] = useState<RoleType>('callstore');
  const [domain, setDomain] = useState('');
  const [lookup, setLookup] = useState<Lookup>({ state: 'idle' });
  const query = domain.trim();

  useEffect(() => {
    if (query === '') {
      setLookup({ state: 'idle' });
      return undefined;
    }
    setLookup((l) => (l.state === 'idle' ? { state: 'loading' } : l));
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      setLookup({ state: 'loading' });
      getPartition(roletype, query, controller.signal).then(
        (result) => {
          if (!controller.signal.aborted) setLookup({ state: 'done', result, roletype });
        },
        (err: unknown) => {
          if (controller.signal.aborted || isAbort(err)) return;
          setLookup({ state: 'failed', error: toApiError(err) });
        },
      );
    }, 300);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
    // `revision`: a save changes the answer for the same domain.
  }, [roletype, query, revision]);

  return (
    <Panel
      title="Partition preview"
      className="partition-panel"
      description={
        <>
          Which group and instance serve a domain, in the <strong>saved</strong> configuration (revision {revision})
          {dirty ? '; your unsaved changes are not included' : ''}.
        </>
      }
    >
      <div className="partition-form" role="search" aria-label="Partition preview">
        <div className="field partition-form__role">
          <label htmlFor={`${id}-role`}>Role type</label>
          <select id={`${id}-role`} className="input select" value={roletype} onChange={(e) => setRoletype(e.target.value as RoleType)}>
            {ROLE_TYPES.map((r) => (
              <option key={r} value={r}>
                {ROLE_INFO[r].label}
              </option>
            ))}
          </select>
        </div>
        <div className="field partition-form__domain">
          <label htmlFor={`${id}-domain`}>Domain</label>
          <input
            id={`${id}-domain`}
            className="input input--mono"
            value={domain}
            placeholder="e.g. eu.sales.example.com"
            autoComplete="off"
            spellCheck={false}
            aria-invalid={lookup.state === 'failed' ? true : undefined}
            aria-describedby={`${id}-result`}
            onChange={(e) => setDomain(e.target.value)}
          />
        </div>
      </div>
      <div id={`${id}-result`} className="partition-result" role="status" aria-live="polite" data-testid="partition-result">
        {lookup.state === 'idle' ? (
          <p className="muted">Type a domain to see the group that serves it and which of its instances is active.</p>
        ) : lookup.state === 'loading' ? (
          <p className="muted">Looking up…</p>
        ) : lookup.state === 'failed' ? (
          <p className="field__error">
            <Icon name="alert" /> {lookup.error.message}
          </p>
        ) : (
          <PartitionAnswer result={lookup.result} roletype={lookup.roletype} />
        )}
      </div>
    </Panel>
  );
}

function PartitionAnswer({ result, roletype }: { result: PartitionResult; roletype: RoleType }) {
  const role = ROLE_INFO[roletype].label.toLowerCase();
  if (result.group === null) {
    return (
      <p className="partition-result__none">
        <Badge tone="warning">Not served</Badge> No {role} group serves <code>{result.domain}</code>: no group lists it or a parent
        domain, and there is no default {role} group.
      </p>
    );
  }
  return (
    <div className="partition-answer">
      <p className="partition-answer__line">
        <code>{result.domain}</code>
        <span className="partition-answer__arrow" aria-label="is served by">
          →
        </span>
        <strong data-testid="partition-group">Group {result.group}</strong>
        <span className="muted" data-testid="partition-matched">
          {result.matched === null ? (
            '(default group: no listed domain matched)'
          ) : (
            <>
              (matched <code>{result.matched}</code>)
            </>
          )}
        </span>
      </p>
      {result.instances.length === 0 ? (
        <p className="muted">The group has no enabled instance.</p>
      ) : (
        <ol className="partition-answer__instances" aria-label="Instances in Active-Passive order">
          {result.instances.map((name) => (
            <li key={name}>
              <span className="partition-answer__name">{name}</span>
              {name === result.active ? <Badge tone="primary">Active</Badge> : <span className="muted">Standby</span>}
            </li>
          ))}
        </ol>
      )}
      {result.instances.length > 0 && result.active === null ? <p className="field__error">No instance of the group is active now.</p> : null}
    </div>
  );
}
