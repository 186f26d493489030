/**
 * Call records (design section 9): every finished call, filtered, searched, sorted and paged by the
 * service; the whole state in the URL; a record's detail in a dialog (`?call=`); export of the
 * filter as CSV or NDJSON with progress.
 */
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { Cdr, Disposition } from '../../../shared/api/cdr.js';
import type { CdrSort } from '../../../shared/api/cdr-query.js';
import type { Direction } from '../../../shared/api/events.js';
import { isAbort, toApiError, type ApiError } from '../api/client.js';
import { listCdrs, type CdrList } from '../api/endpoints.js';
import { DirectionText, PartyText } from '../components/callParts.js';
import { Icon } from '../components/icons.js';
import { Alert, Badge, EmptyState, ErrorPanel, ErrorText, LoadingRegion, PageHeader, Skeleton, SkeletonTable } from '../components/ui.js';
import { clockDuration, DIRECTION_INFO, DIRECTIONS, DISPOSITION_INFO, DISPOSITIONS, END_REASON_INFO, parseParty } from '../lib/calls.js';
import {
  DEFAULT_PAGE_SIZE,
  DEFAULT_SORT,
  filterParams,
  hasFilters,
  LIMITS,
  listParams,
  MAX_OFFSET,
  PAGE_SIZES,
  RANGE_PRESETS,
  rangeBounds,
  readView,
  type CdrView,
  type RangePreset,
} from '../lib/cdrFilters.js';
import { civilDateAt, formatCompact, formatInZone, toIsoDate, useTimeZone } from '../lib/timeZone.js';
import { useTitle } from '../lib/useTitle.js';
import { useDebouncedParam, useDetailParam, useUrlParams, type ParamPatch, type UpdateOptions } from '../lib/useUrlState.js';
import { ExportBar, ExportDialog, useExport } from './records/Export.js';
import { RecordDetail } from './records/RecordDetail.js';
import { TimeZoneSelect } from './records/TimeZoneSelect.js';

const nf = new Intl.NumberFormat();

interface ListState {
  key: string;
  data: CdrList | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** the key `data` answers (while a new key loads, the old rows stay, dimmed) */
  dataKey: string | undefined;
}

function useCdrList(params: URLSearchParams | null, generation: number): ListState {
  const key = params ? params.toString() : '';
  const [state, setState] = useState<ListState>({ key, data: undefined, error: undefined, loading: params !== null, dataKey: undefined });
  useEffect(() => {
    if (!params) {
      setState((s) => ({ ...s, key, loading: false, error: undefined }));
      return undefined;
    }
    const controller = new AbortController();
    setState((s) => ({ ...s, key, loading: true }));
    listCdrs(new URLSearchParams(key), controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ key, data, error: undefined, loading: false, dataKey: key });
      },
      (err: unknown) => {
        if (controller.signal.aborted || isAbort(err)) return;
        setState((s) => ({ ...s, key, error: toApiError(err), loading: false }));
      },
    );
    return () => controller.abort();
    // `params` is represented by `key`.
  }, [key, generation]);
  return state;
}

// ---------- Filters ----------

function Chip({ pressed, onClick, children, tone }: { pressed: boolean; onClick: () => void; children: ReactNode; tone?: string }) {
  return (
    <button type="button" className={`chip${tone ? ` chip--${tone}` : ''}`} aria-pressed={pressed} onClick={onClick}>
      {pressed ? <Icon name="check" className="chip__check" /> : null}
      {children}
    </button>
  );
}

function toggle<T>(list: readonly T[], value: T): T[] {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}

function Filters({
  view,
  params,
  update,
  timeZone,
  rangeError,
}: {
  view: CdrView;
  params: URLSearchParams;
  update: (patch: ParamPatch, opts?: UpdateOptions) => void;
  timeZone: string;
  rangeError: string | null;
}) {
  const resetPage = { page: null };
  const [search, setSearch, commitSearch] = useDebouncedParam(params, update, 'q', { alsoSet: resetPage });
  const [domain, setDomain, commitDomain] = useDebouncedParam(params, update, 'domain', { alsoSet: resetPage });
  const [number, setNumber, commitNumber] = useDebouncedParam(params, update, 'number', { alsoSet: resetPage });
  const set = (patch: ParamPatch) => update({ ...patch, page: null });

  const chooseRange = (range: RangePreset) => {
    if (range === 'custom') {
      // Start the custom range from the days the current preset covered.
      const b = rangeBounds(view, timeZone, Date.now());
      const today = toIsoDate(civilDateAt(Date.now(), timeZone));
      set({
        range,
        from: b.fromMs !== undefined ? toIsoDate(civilDateAt(b.fromMs, timeZone)) : view.fromDate || today,
        to: b.untilMs !== undefined ? toIsoDate(civilDateAt(b.untilMs - 1, timeZone)) : view.toDate || today,
      });
    } else {
      set({ range: range === '7d' ? null : range, from: null, to: null });
    }
  };

  const anyFilter = hasFilters(view) || view.range !== '7d';
  return (
    <form
      className="filter-panel"
      role="search"
      aria-label="Filter the call records"
      onSubmit={(e) => {
        e.preventDefault();
        commitSearch();
        commitDomain();
        commitNumber();
      }}
    >
      <div className="filter-row">
        <div className="field field--inline filter-row__search">
          <label htmlFor="cdr-search">Search</label>
          <div className="input-icon">
            <Icon name="search" />
            <input
              id="cdr-search"
              className="input"
              type="search"
              placeholder="Call id, caller, callee, answerer or domain"
              value={search}
              maxLength={LIMITS.search}
              onChange={(e) => setSearch(e.target.value)}
              autoComplete="off"
              spellCheck={false}
            />
          </div>
        </div>
        <div className="field field--inline">
          <label htmlFor="cdr-range">Date</label>
          <select id="cdr-range" className="input select" value={view.range} onChange={(e) => chooseRange(e.target.value as RangePreset)}>
            {(Object.keys(RANGE_PRESETS) as RangePreset[]).map((r) => (
              <option key={r} value={r}>
                {RANGE_PRESETS[r]}
              </option>
            ))}
          </select>
        </div>
        {view.range === 'custom' ? (
          <>
            <div className="field field--inline">
              <label htmlFor="cdr-from">From</label>
              <input
                id="cdr-from"
                className="input input--date"
                type="date"
                value={view.fromDate}
                max={view.toDate || undefined}
                aria-invalid={rangeError ? true : undefined}
                onChange={(e) => set({ from: e.target.value || null })}
              />
            </div>
            <div className="field field--inline">
              <label htmlFor="cdr-to">To</label>
              <input
                id="cdr-to"
                className="input input--date"
                type="date"
                value={view.toDate}
                min={view.fromDate || undefined}
                aria-invalid={rangeError ? true : undefined}
                onChange={(e) => set({ to: e.target.value || null })}
              />
            </div>
          </>
        ) : null}
      </div>
      <div className="filter-row">
        <div className="field field--inline">
          <label htmlFor="cdr-domain">Domain</label>
          <input
            id="cdr-domain"
            className="input input--domain"
            type="text"
            placeholder="any"
            value={domain}
            maxLength={LIMITS.domain}
            onChange={(e) => setDomain(e.target.value)}
            autoComplete="off"
            spellCheck={false}
          />
        </div>
        <div className="field field--inline">
          <label htmlFor="cdr-number">Number</label>
          <div className="input-group">
            <input
              id="cdr-number"
              className="input input--number-filter"
              type="text"
              inputMode="tel"
              placeholder="any"
              value={number}
              maxLength={LIMITS.number}
              onChange={(e) => setNumber(e.target.value)}
              autoComplete="off"
              spellCheck={false}
            />
            <select
              className="input select"
              aria-label="How the number matches"
              value={view.numberMatch}
              onChange={(e) => set({ match: e.target.value === 'contains' ? 'contains' : null })}
            >
              <option value="prefix">starts with</option>
              <option value="contains">contains</option>
            </select>
          </div>
        </div>
        <div className="field field--inline">
          <span className="field__label" id="cdr-direction-label">
            Direction
          </span>
          <div className="chips" role="group" aria-labelledby="cdr-direction-label">
            {DIRECTIONS.map((d: Direction) => (
              <Chip key={d} pressed={view.directions.includes(d)} onClick={() => set({ direction: toggle(view.directions, d).join(',') || null })}>
                {DIRECTION_INFO[d].label}
              </Chip>
            ))}
          </div>
        </div>
      </div>
      <div className="filter-row filter-row--last">
        <div className="field field--inline">
          <span className="field__label" id="cdr-outcome-label">
            Outcome
          </span>
          <div className="chips" role="group" aria-labelledby="cdr-outcome-label">
            {DISPOSITIONS.map((d: Disposition) => (
              <Chip
                key={d}
                tone={DISPOSITION_INFO[d].tone}
                pressed={view.dispositions.includes(d)}
                onClick={() => set({ disposition: toggle(view.dispositions, d).join(',') || null })}
              >
                {DISPOSITION_INFO[d].label}
              </Chip>
            ))}
          </div>
        </div>
        <TimeZoneSelect />
        {anyFilter ? (
          <button
            type="button"
            className="button button--ghost button--small filter-row__clear"
            onClick={() => {
              setSearch('');
              setDomain('');
              setNumber('');
              update({ q: null, domain: null, number: null, match: null, disposition: null, direction: null, range: null, from: null, to: null, page: null });
            }}
          >
            <Icon name="close" />
            Clear filters
          </button>
        ) : null}
      </div>
      {rangeError ? <p className="field__error filter-panel__error">{rangeError}</p> : null}
      <button type="submit" className="visually-hidden" tabIndex={-1}>
        Apply
      </button>
    </form>
  );
}

// ---------- Table ----------

const COLUMNS: { label: string; sort: CdrSort | null; className: string; num?: boolean }[] = [
  { label: 'Started', sort: 'startedAt', className: 'col-rec-started' },
  { label: 'Caller', sort: 'from', className: 'col-rec-party' },
  { label: 'Callee', sort: 'to', className: 'col-rec-party' },
  { label: 'Domain', sort: 'domain', className: 'col-rec-domain' },
  { label: 'Direction', sort: null, className: 'col-rec-direction' },
  { label: 'Outcome', sort: null, className: 'col-rec-outcome' },
  { label: 'Duration', sort: 'duration', className: 'col-rec-duration', num: true },
  { label: 'Talk', sort: 'billsec', className: 'col-rec-talk', num: true },
];

function nextSort(current: CdrSort, field: CdrSort): CdrSort {
  const base = field.replace(/^-/, '');
  const isCurrent = current.replace(/^-/, '') === base;
  if (isCurrent) return (current.startsWith('-') ? base : `-${base}`) as CdrSort;
  // Times and durations first look at the newest / longest; names and numbers from A.
  return (base === 'startedAt' || base === 'duration' || base === 'billsec' ? `-${base}` : base) as CdrSort;
}

function RecordRow({ cdr, timeZone, onOpen }: { cdr: Cdr; timeZone: string; onOpen: (id: string) => void }) {
  const d = DISPOSITION_INFO[cdr.disposition];
  const to = parseParty(cdr.to);
  const by = parseParty(cdr.answeredBy);
  const otherAnswerer = by && to && by.number !== to.number ? by : null;
  return (
    <tr data-testid="cdr-row" data-cdr-id={cdr.id} onClick={() => onOpen(cdr.id)} className="records-row">
      <td className="nowrap">
        <button
          type="button"
          className="link-button records-row__open"
          onClick={(e) => {
            e.stopPropagation();
            onOpen(cdr.id);
          }}
          title={`Open the record of ${formatInZone(cdr.startedAt, timeZone, 'dateTimeSec')}`}
        >
          {formatCompact(cdr.startedAt, timeZone)}
        </button>
      </td>
      <td className="cell-party">
        <PartyText value={cdr.from} />
      </td>
      <td className="cell-party">
        <PartyText value={cdr.to} />
        {otherAnswerer ? (
          <span className="records-row__answerer" title={`Answered by ${otherAnswerer.raw}`}>
            → {otherAnswerer.number}
          </span>
        ) : null}
      </td>
      <td className="cell-ellipsis" title={cdr.domain}>
        {cdr.domain}
      </td>
      <td>
        <DirectionText value={cdr.direction} />
      </td>
      <td>
        <Badge tone={d.tone}>{d.label}</Badge>
        {cdr.endReason !== 'normal' ? (
          <span className="records-row__reason" title={END_REASON_INFO[cdr.endReason]}>
            {cdr.endReason.replace(/_/g, ' ')}
          </span>
        ) : null}
      </td>
      <td className="cell-num">{clockDuration(cdr.duration)}</td>
      <td className="cell-num">{cdr.billsec > 0 ? clockDuration(cdr.billsec) : <span className="muted">—</span>}</td>
    </tr>
  );
}

function RecordsTable({ items, sort, onSort, timeZone, onOpen, busy }: {
  items: Cdr[];
  sort: CdrSort;
  onSort: (s: CdrSort) => void;
  timeZone: string;
  onOpen: (id: string) => void;
  busy: boolean;
}) {
  return (
    <div className={`table-scroll records-table${busy ? ' records-table--busy' : ''}`} aria-busy={busy}>
      <table className="table" data-testid="cdr-table">
        <colgroup>
          {COLUMNS.map((c, i) => (
            <col key={i} className={c.className} />
          ))}
        </colgroup>
        <thead>
          <tr>
            {COLUMNS.map((c) => {
              const active = c.sort !== null && sort.replace(/^-/, '') === c.sort;
              const desc = sort.startsWith('-');
              return (
                <th key={c.label} scope="col" className={c.num ? 'cell-num' : undefined} aria-sort={active ? (desc ? 'descending' : 'ascending') : undefined}>
                  {c.sort ? (
                    <button type="button" className="sort-button" onClick={() => c.sort && onSort(nextSort(sort, c.sort))}>
                      {c.label}
                      <Icon name={active ? (desc ? 'sort-down' : 'sort-up') : 'sort'} className={active ? 'sort-icon sort-icon--active' : 'sort-icon'} />
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <RecordRow key={c.id} cdr={c} timeZone={timeZone} onOpen={onOpen} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Pager({ view, total, update }: { view: CdrView; total: number; update: (patch: ParamPatch) => void }) {
  const pages = Math.max(1, Math.ceil(total / view.size));
  const reachable = Math.min(pages, Math.floor(MAX_OFFSET / view.size) + 1);
  const first = total === 0 ? 0 : (view.page - 1) * view.size + 1;
  const last = Math.min(view.page * view.size, total);
  const [pageText, setPageText] = useState(String(view.page));
  useEffect(() => setPageText(String(view.page)), [view.page]);
  const go = (page: number) => update({ page: page <= 1 ? null : String(Math.min(Math.max(1, page), reachable)) });
  return (
    <nav className="pager" aria-label="Pages of call records">
      <div className="pager__size">
        <label htmlFor="cdr-size">Rows per page</label>
        <select
          id="cdr-size"
          className="input select input--small"
          value={view.size}
          onChange={(e) => update({ size: Number(e.target.value) === DEFAULT_PAGE_SIZE ? null : e.target.value, page: null })}
        >
          {PAGE_SIZES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <span className="pager__range" data-testid="pager-range">
        {nf.format(first)}–{nf.format(last)} of {nf.format(total)}
      </span>
      <div className="pager__buttons">
        <button type="button" className="button button--small button--icon" onClick={() => go(1)} disabled={view.page <= 1} aria-label="First page">
          <Icon name="chevrons-left" />
        </button>
        <button type="button" className="button button--small" onClick={() => go(view.page - 1)} disabled={view.page <= 1}>
          <Icon name="chevron-left" />
          Previous
        </button>
        <form
          className="pager__jump"
          onSubmit={(e) => {
            e.preventDefault();
            const n = Number(pageText);
            if (Number.isInteger(n)) go(n);
          }}
        >
          <label htmlFor="cdr-page">Page</label>
          <input
            id="cdr-page"
            className="input input--small input--page"
            type="number"
            min={1}
            max={reachable}
            value={pageText}
            onChange={(e) => setPageText(e.target.value)}
            onBlur={() => setPageText(String(view.page))}
          />
          <span>of {nf.format(pages)}</span>
        </form>
        <button type="button" className="button button--small" onClick={() => go(view.page + 1)} disabled={view.page >= reachable}>
          Next
          <Icon name="chevron-right" />
        </button>
        <button type="button" className="button button--small button--icon" onClick={() => go(reachable)} disabled={view.page >= reachable} aria-label="Last page">
          <Icon name="chevrons-right" />
        </button>
      </div>
      {reachable < pages ? <p className="pager__note">Pages past {nf.format(reachable)} are out of reach: narrow the filter or sort the other way.</p> : null}
    </nav>
  );
}

function TableSkeleton() {
  return (
    <LoadingRegion label="Loading the call records…">
      <SkeletonTable rows={8} columns={['wide', 'wide', 'short', 'short']} padded />
    </LoadingRegion>
  );
}

function summaryText(view: CdrView, rangeDescription: string): string {
  const parts = [view.range === 'custom' ? rangeDescription || 'Custom range' : RANGE_PRESETS[view.range] + (rangeDescription ? ` (${rangeDescription})` : '')];
  if (view.domain) parts.push(`domain ${view.domain}`);
  if (view.number) parts.push(`number ${view.numberMatch === 'contains' ? 'containing' : 'starting with'} ${view.number}`);
  if (view.directions.length) parts.push(view.directions.map((d) => DIRECTION_INFO[d].label.toLowerCase()).join(' or '));
  if (view.dispositions.length) parts.push(view.dispositions.map((d) => DISPOSITION_INFO[d].label.toLowerCase()).join(' or '));
  if (view.search) parts.push(`matching “${view.search}”`);
  return parts.join(', ');
}

export function CallRecordsPage() {
  useTitle('Call records');
  const [params, update] = useUrlParams();
  const { timeZone } = useTimeZone();
  const view = useMemo(() => readView(params), [params]);
  const [generation, setGeneration] = useState(0);
  // "Today" is fixed when the page opens (and on Refresh), so paging does not shift under midnight.
  const [now, setNow] = useState(() => Date.now());
  const bounds = useMemo(() => rangeBounds(view, timeZone, now), [view, timeZone, now]);
  const query = useMemo(() => (bounds.invalid ? null : listParams(view, bounds)), [view, bounds]);
  const list = useCdrList(query, generation);
  const exp = useExport();
  const [exportOpen, setExportOpen] = useState(false);
  const [openId, openRecord, closeRecord] = useDetailParam(params, update, 'call');
  const tableTop = useRef<HTMLDivElement>(null);

  const refresh = () => {
    setNow(Date.now());
    setGeneration((g) => g + 1);
  };
  const data = list.data;
  const total = data?.total ?? 0;
  const summary = summaryText(view, bounds.description);
  const stale = list.dataKey !== list.key;

  // A page past the end (the filter shrank behind a shared link): go to the last page.
  useEffect(() => {
    if (data && !stale && data.items.length === 0 && total > 0 && view.page > 1) {
      update({ page: String(Math.max(1, Math.ceil(total / view.size))) }, { replace: true });
    }
  }, [data, stale, total, view.page, view.size, update]);

  const actions = (
    <>
      <button type="button" className="button" onClick={refresh} disabled={list.loading}>
        <Icon name="refresh" className={list.loading ? 'icon--spin' : undefined} />
        Refresh
      </button>
      <button
        type="button"
        className="button button--primary"
        onClick={() => setExportOpen(true)}
        disabled={!data || stale || total === 0 || exp.phase === 'running'}
        title={total === 0 ? 'Nothing to export with these filters' : undefined}
      >
        <Icon name="download" />
        Export…
      </button>
    </>
  );

  const failed = !data && list.error !== undefined;
  let body: ReactNode;
  if (bounds.invalid) {
    body = (
      <EmptyState icon="clock" title="Choose the days to show" headingLevel={2}>
        <p>{bounds.invalid}</p>
      </EmptyState>
    );
  } else if (!data) {
    body = <TableSkeleton />;
  } else if (data.items.length === 0 && !stale) {
    body = (
      <EmptyState icon={hasFilters(view) ? 'search' : 'records'} title={hasFilters(view) ? 'No call record matches these filters' : 'No calls in this period'}>
        <p>
          {hasFilters(view)
            ? `Nothing for ${summary}. Loosen a filter, or look at a longer period.`
            : `No call was recorded ${view.range === 'all' ? 'yet' : `in this period (${bounds.description || RANGE_PRESETS[view.range]})`}. Records appear here about a second after a call ends.`}
        </p>
        {view.range !== 'all' ? (
          <p>
            <button type="button" className="link-button" onClick={() => update({ range: 'all', from: null, to: null, page: null })}>
              Show all time
            </button>
          </p>
        ) : null}
      </EmptyState>
    );
  } else {
    body = (
      <>
        <RecordsTable
          items={data.items}
          sort={view.sort}
          onSort={(sort) => update({ sort: sort === DEFAULT_SORT ? null : sort, page: null })}
          timeZone={timeZone}
          onOpen={openRecord}
          busy={stale}
        />
        <Pager
          view={view}
          total={total}
          update={(patch) => {
            update(patch);
            tableTop.current?.scrollIntoView({ block: 'nearest' });
          }}
        />
      </>
    );
  }

  return (
    <>
      <PageHeader
        title="Call records"
        description="Every finished call: who called whom, when, for how long, who answered and how it ended."
        actions={actions}
      />
      <Filters view={view} params={params} update={update} timeZone={timeZone} rangeError={bounds.invalid} />
      {exp.phase !== 'idle' ? (
        <div className="export-slot">
          <ExportBar store={exp.store} onCancel={exp.cancel} onDismiss={exp.dismiss} />
        </div>
      ) : null}
      {data && list.error ? (
        <div className="export-slot">
          <Alert
            tone="warning"
            title="The records could not be refreshed"
            actions={
              <button type="button" className="button button--small" onClick={refresh}>
                Try again
              </button>
            }
          >
            <ErrorText error={list.error} /> The rows shown are from before.
          </Alert>
        </div>
      ) : null}
      {failed && list.error ? (
        <ErrorPanel title="The call records could not be loaded" error={list.error} onRetry={refresh} busy={list.loading} />
      ) : (
        <div className="panel records-panel" ref={tableTop}>
          <div className="records-summary">
            <span className="records-summary__count" data-testid="cdr-total" aria-live="polite">
              {data ? (
                <>
                  <strong>{nf.format(total)}</strong> call{total === 1 ? '' : 's'}
                </>
              ) : (
                <Skeleton className="skeleton--short" />
              )}
            </span>
            <span className="records-summary__filter">{summary}</span>
            <span className="records-summary__tz" title="Change it with “Time zone” above">
              Times in {timeZone}
            </span>
            {list.loading ? <span className="records-summary__loading" aria-hidden="true" /> : null}
          </div>
          {body}
        </div>
      )}
      <ExportDialog
        open={exportOpen}
        total={total}
        filterSummary={summary}
        timeZone={timeZone}
        onClose={() => setExportOpen(false)}
        onStart={(format) => {
          setExportOpen(false);
          const q = filterParams(view, bounds);
          if (format === 'csv') q.set('tz', timeZone);
          void exp.start(q, format, total);
        }}
      />
      {openId ? <RecordDetail key={openId} id={openId} timeZone={timeZone} onClose={closeRecord} /> : null}
    </>
  );
}
