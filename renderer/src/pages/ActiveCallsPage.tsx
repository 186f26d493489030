/**
 * Active calls (design section 9): the calls in progress, live from /api/v1/live, filtered in the
 * browser by domain, number and state (kept in the URL), with a detail dialog per call.
 */
import { useCallback, useDeferredValue, useMemo } from 'react';
import type { ActiveCall, CallState } from '../../../shared/api/cdr.js';
import { useAuth } from '../auth/AuthContext.js';
import { Icon } from '../components/icons.js';
import { EmptyState, ErrorPanel, ErrorText, LoadingRegion, PageHeader, Alert, SkeletonTable } from '../components/ui.js';
import { activeCalls as store, useActiveCalls } from '../lib/activeCalls.js';
import { CALL_STATE_INFO, CALL_STATES, parseParty } from '../lib/calls.js';
import { LiveIndicator } from '../components/LiveIndicator.js';
import { useLiveState } from '../lib/live.js';
import { formatInZone, useTimeZone } from '../lib/timeZone.js';
import { useTitle } from '../lib/useTitle.js';
import { useDebouncedParam, useDetailParam, useUrlParams } from '../lib/useUrlState.js';
import { CallDetail } from './calls/CallDetail.js';
import { CallsTable, type CallSort, type CallSortKey } from './calls/CallsTable.js';

const nf = new Intl.NumberFormat();

function sortValue(c: ActiveCall, key: CallSortKey): string {
  switch (key) {
    case 'started':
      return c.startedAt ?? c.lastEventAt;
    case 'from':
      return parseParty(c.from)?.number.toLowerCase() ?? '';
    case 'to':
      return parseParty(c.to)?.number.toLowerCase() ?? '';
    case 'domain':
      return c.domain?.toLowerCase() ?? '';
    case 'state':
      return String(CALL_STATES.indexOf(c.state));
  }
}

function parseSort(text: string | null): CallSort {
  const desc = text?.startsWith('-') ?? true;
  const key = (text ?? '').replace(/^-/, '');
  const keys: CallSortKey[] = ['started', 'from', 'to', 'domain', 'state'];
  return keys.includes(key as CallSortKey) ? { key: key as CallSortKey, desc } : { key: 'started', desc: true };
}

function TableSkeleton() {
  return (
    <LoadingRegion label="Loading the active calls…">
      <div className="panel">
        <SkeletonTable rows={6} columns={['wide', 'wide', 'short', 'short']} padded />
      </div>
    </LoadingRegion>
  );
}

export function ActiveCallsPage() {
  useTitle('Active calls');
  const { session } = useAuth();
  const canTerminate = session?.scopes.includes('admin') ?? false;
  const snapshot = useActiveCalls();
  const liveState = useLiveState();
  const { timeZone } = useTimeZone();
  const [params, update] = useUrlParams();

  const domain = params.get('domain') ?? '';
  const state = (params.get('state') ?? '') as CallState | '';
  const sort = parseSort(params.get('sort'));
  const [openId, open, close] = useDetailParam(params, update, 'call');
  const [numberInput, setNumberInput] = useDebouncedParam(params, update, 'number', { delayMs: 300, replace: true });
  const number = useDeferredValue(numberInput.trim().toLowerCase());

  const all = useMemo(() => [...snapshot.calls.values()], [snapshot.calls]);

  const domains = useMemo(() => {
    const counts = new Map<string, number>();
    for (const c of all) if (c.domain) counts.set(c.domain, (counts.get(c.domain) ?? 0) + 1);
    if (domain && !counts.has(domain)) counts.set(domain, 0);
    return [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }, [all, domain]);

  // Domain and number first; the state counts are of what those leave.
  const matching = useMemo(() => {
    const d = domain.toLowerCase();
    return all.filter((c) => {
      if (d && c.domain?.toLowerCase() !== d) return false;
      if (number && ![c.from, c.to, c.answeredBy].some((p) => p?.toLowerCase().includes(number))) return false;
      return true;
    });
  }, [all, domain, number]);

  const stateCounts = useMemo(() => {
    const counts = new Map<CallState, number>();
    for (const c of matching) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
    return counts;
  }, [matching]);

  const rows = useMemo(() => {
    const filtered = state ? matching.filter((c) => c.state === state) : matching;
    const dir = sort.desc ? -1 : 1;
    const keyed = filtered.map((c) => ({ c, k: sortValue(c, sort.key) }));
    keyed.sort((a, b) => (a.k < b.k ? -dir : a.k > b.k ? dir : a.c.id < b.c.id ? -dir : a.c.id > b.c.id ? dir : 0));
    return keyed.map((x) => x.c);
  }, [matching, state, sort.key, sort.desc]);

  const onSort = useCallback(
    (key: CallSortKey) => {
      const desc = sort.key === key ? !sort.desc : key === 'started';
      update({ sort: key === 'started' && desc ? null : `${desc ? '-' : ''}${key}` }, { replace: true });
    },
    [sort.key, sort.desc, update],
  );

  const filtered = domain !== '' || number !== '' || state !== '';
  const clearFilters = () => {
    setNumberInput('');
    update({ domain: null, number: null, state: null });
  };
  const total = snapshot.calls.size;

  const actions = (
    <>
      <LiveIndicator state={liveState} />
      <span className="updated" data-testid="calls-count">
        {snapshot.loaded ? `${nf.format(total)} active call${total === 1 ? '' : 's'}` : ''}
      </span>
    </>
  );

  const tabs = (
    <div className="calls-tabs" role="group" aria-label="State">
      <button type="button" className="calls-tab" aria-pressed={state === ''} onClick={() => update({ state: null })}>
        All <span className="calls-tab__count">{nf.format(matching.length)}</span>
      </button>
      {CALL_STATES.filter((s) => s === 'ringing' || s === 'talking' || s === 'on_hold' || (stateCounts.get(s) ?? 0) > 0 || s === state).map((s) => (
        <button key={s} type="button" className="calls-tab" aria-pressed={state === s} onClick={() => update({ state: state === s ? null : s })}>
          {CALL_STATE_INFO[s].label} <span className="calls-tab__count">{nf.format(stateCounts.get(s) ?? 0)}</span>
        </button>
      ))}
    </div>
  );

  let body;
  if (!snapshot.loaded && snapshot.error) {
    body = <ErrorPanel title="The active calls could not be loaded" error={snapshot.error} onRetry={store.reload} busy={snapshot.loading} />;
  } else if (!snapshot.loaded) {
    body = <TableSkeleton />;
  } else {
    body = (
      <div className="calls-body">
        {snapshot.error ? (
          <Alert
            tone="warning"
            title="The list could not be reloaded"
            actions={
              <button type="button" className="button button--small" onClick={store.reload}>
                Try again
              </button>
            }
          >
            <ErrorText error={snapshot.error} />
          </Alert>
        ) : null}
        <div className="filter-bar" role="search" aria-label="Filter the active calls">
          <div className="field field--inline filter-bar__number">
            <label htmlFor="calls-number">Number</label>
            <div className="input-icon">
              <Icon name="search" />
              <input
                id="calls-number"
                className="input"
                type="search"
                placeholder="Caller, callee or answerer"
                title="Part of the caller's, callee's or answerer's number or address"
                value={numberInput}
                onChange={(e) => setNumberInput(e.target.value)}
                autoComplete="off"
                spellCheck={false}
              />
            </div>
          </div>
          <div className="field field--inline">
            <label htmlFor="calls-domain">Domain</label>
            <select id="calls-domain" className="input select" value={domain} onChange={(e) => update({ domain: e.target.value || null })}>
              <option value="">All domains</option>
              {domains.map(([d, n]) => (
                <option key={d} value={d}>
                  {d} ({nf.format(n)})
                </option>
              ))}
            </select>
          </div>
          {filtered ? (
            <button type="button" className="button button--ghost button--small filter-bar__clear" onClick={clearFilters}>
              <Icon name="close" />
              Clear
            </button>
          ) : null}
        </div>
        {total === 0 ? (
          <div className="panel calls-empty">
            <EmptyState icon="calls" title="No calls in progress">
              <p>Calls appear here the moment the phone system reports them, and leave when they end. Nothing to reload.</p>
              {liveState !== 'open' ? <p>The live connection is not up yet, so a call that starts now shows up once it is.</p> : null}
            </EmptyState>
          </div>
        ) : (
          <div className="panel calls-panel">
            {tabs}
            {rows.length === 0 ? (
              <div className="calls-empty">
                <EmptyState
                  icon="search"
                  title="No call matches the filters"
                  actions={
                    <button type="button" className="button" onClick={clearFilters}>
                      Clear filters
                    </button>
                  }
                >
                  <p>
                    {nf.format(total)} call{total === 1 ? ' is' : 's are'} in progress, but none with these filters.
                  </p>
                </EmptyState>
              </div>
            ) : (
              <CallsTable
                calls={rows}
                sort={sort}
                onSort={onSort}
                selectedId={openId}
                onOpen={open}
                timeZone={timeZone}
                resetKey={`${domain}|${number}|${state}|${sort.key}|${sort.desc}`}
              />
            )}
            <div className="calls-footer">
              <span data-testid="calls-shown">
                {filtered ? `${nf.format(rows.length)} of ${nf.format(total)} calls` : `${nf.format(total)} call${total === 1 ? '' : 's'}`}
              </span>
              {liveState === 'open' ? (
                <span className="muted">
                  Times in {timeZone} · <kbd>↑</kbd> <kbd>↓</kbd> to move, <kbd>Enter</kbd> to open
                </span>
              ) : (
                <span className="calls-footer__stale" role="status">
                  Not live: the list is as of {snapshot.loadedAt ? formatInZone(snapshot.loadedAt, timeZone, 'time') : 'the last load'} and reloads once the connection is back
                </span>
              )}
            </div>
          </div>
        )}
      </div>
    );
  }

  return (
    <div className="page-fill">
      <PageHeader title="Active calls" description="The calls in progress on the phone system, as they ring, connect and end." actions={actions} />
      {body}
      {openId ? (
        <CallDetail
          key={openId}
          callId={openId}
          call={snapshot.calls.get(openId)}
          endedAt={snapshot.ended.get(openId)}
          canTerminate={canTerminate}
          timeZone={timeZone}
          onClose={close}
        />
      ) : null}
    </div>
  );
}
