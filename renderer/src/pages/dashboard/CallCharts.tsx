/**
 * The dashboard's call figures (GET /api/v1/stats/calls, every 30 s): concurrent calls over the
 * window, calls per hour by disposition (stacked bars), the busiest domains, and the number of
 * calls up now, which follows the live feed between two loads.
 */
import { useMemo, useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import uPlot from 'uplot';
import type { Disposition } from '../../../../shared/api/cdr.js';
import type { CallStats } from '../../../../shared/api/stats.js';
import { getCallStats } from '../../api/endpoints.js';
import { Icon } from '../../components/icons.js';
import { Alert, EmptyState, ErrorPanel, ErrorText, LoadingRegion, Panel, Skeleton } from '../../components/ui.js';
import { UPlotChart, type ChartOptions } from '../../components/UPlotChart.js';
import { useActiveCallCount } from '../../lib/activeCalls.js';
import { DISPOSITION_INFO, DISPOSITIONS } from '../../lib/calls.js';
import { useLiveState } from '../../lib/live.js';
import { formatInZone, hourMinuteAt, useTimeZone } from '../../lib/timeZone.js';
import { useResource } from '../../lib/useResource.js';

export const STATS_INTERVAL_MS = 30_000;

const WINDOWS = {
  '6h': { label: 'Last 6 hours', hours: 6, bucketMinutes: 5 },
  '24h': { label: 'Last 24 hours', hours: 24, bucketMinutes: 5 },
  '7d': { label: 'Last 7 days', hours: 24 * 7, bucketMinutes: 60 },
} as const;
type WindowKey = keyof typeof WINDOWS;

const DISPOSITION_COLORS: Record<Disposition, string> = {
  ANSWERED: '#1f9d5c',
  NO_ANSWER: '#e0a100',
  BUSY: '#e0702b',
  CANCELLED: '#98a2b0',
  FAILED: '#c0362c',
};

const AXIS_FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Liberation Sans', sans-serif";
const nf = new Intl.NumberFormat();

const sec = (iso: string) => Date.parse(iso) / 1000;

function integerAxis(): uPlot.Axis {
  return {
    stroke: '#586474',
    font: AXIS_FONT,
    grid: { stroke: '#eef1f5', width: 1 },
    ticks: { show: false },
    size: 44,
    incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000],
    values: (_u, vals) => vals.map((v) => (Number.isInteger(v) ? nf.format(v) : '')),
  };
}

/** Times in the admin's zone, 24-hour: "14:00", and the date at midnight ("Nov 23"). */
function timeAxis(tz: string): uPlot.Axis {
  return {
    stroke: '#586474',
    font: AXIS_FONT,
    grid: { show: false },
    ticks: { stroke: '#dde3ea', width: 1, size: 4 },
    size: 30,
    values: (_u, splits) =>
      splits.map((v) => {
        const ms = v * 1000;
        const { hour, minute } = hourMinuteAt(ms, tz);
        return hour === 0 && minute === 0 ? formatInZone(ms, tz, 'dayMonth') : formatInZone(ms, tz, 'hourMinute');
      }),
  };
}

function tzDate(tz: string): (ts: number) => Date {
  return (ts) => uPlot.tzDate(new Date(ts * 1000), tz);
}

function ConcurrencyChart({ stats, activeNow, timeZone }: { stats: CallStats; activeNow: number; timeZone: string }) {
  const data = useMemo<uPlot.AlignedData>(() => {
    const xs = stats.concurrency.map((b) => sec(b.at));
    const ys = stats.concurrency.map((b) => b.calls);
    // The last bucket is "now": it shows at least the calls up now, as the live feed counts them.
    if (ys.length > 0) ys[ys.length - 1] = Math.max(ys[ys.length - 1] ?? 0, activeNow);
    return [xs, ys];
  }, [stats, activeNow]);
  const options = useMemo<ChartOptions>(
    () => ({
      tzDate: tzDate(timeZone),
      padding: [12, 8, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
      axes: [timeAxis(timeZone), integerAxis()],
      series: [
        { label: 'Time', value: (_u, v) => (v === null ? '—' : formatInZone(v * 1000, timeZone, 'dateTime')) },
        {
          label: 'Concurrent calls',
          stroke: '#2459c9',
          width: 2,
          fill: 'rgba(36, 89, 201, 0.12)',
          paths: uPlot.paths.stepped?.({ align: 1 }),
          points: { show: false },
          value: (_u, v) => (v === null ? '—' : nf.format(v)),
        },
      ],
    }),
    [timeZone],
  );
  const peak = stats.concurrency.reduce((best, b) => (b.calls > best.calls ? b : best), { at: stats.from, calls: 0 });
  const [hover, setHover] = useState<number | null>(null);
  const hovered = hover === null ? undefined : stats.concurrency[hover];
  const hoveredCalls = hover === null ? undefined : data[1]?.[hover];
  return (
    <>
      <p className="chart-readout" aria-hidden="true">
        {hovered ? (
          <>
            <span className="chart-readout__when">{formatInZone(hovered.at, timeZone, 'dateTime')}</span>
            <strong>{nf.format(hoveredCalls ?? hovered.calls)}</strong> call{(hoveredCalls ?? hovered.calls) === 1 ? '' : 's'} up
          </>
        ) : (
          <>
            Peak <strong>{nf.format(peak.calls)}</strong> at {formatInZone(peak.at, timeZone, 'dateTime')} · <strong>{nf.format(activeNow)}</strong> up now
          </>
        )}
      </p>
      <UPlotChart
        options={options}
        data={data}
        height={200}
        testId="chart-concurrency"
        onHover={setHover}
        label={`Concurrent calls from ${formatInZone(stats.from, timeZone, 'dateTime')} to now: peak ${peak.calls} at ${formatInZone(peak.at, timeZone, 'dateTime')}, ${activeNow} now.`}
      />
    </>
  );
}

/** Bottom of the stack first: answered calls sit on the axis. */
const STACK: Disposition[] = ['ANSWERED', 'NO_ANSWER', 'BUSY', 'CANCELLED', 'FAILED'];

function PerHourChart({ stats, timeZone }: { stats: CallStats; timeZone: string }) {
  // uPlot has no stacking of its own: each series is drawn as the running total up to it, the
  // tallest first, so each visible band is one disposition; the legend shows the real counts.
  const { data, raw } = useMemo(() => {
    const xs = stats.perHour.map((h) => sec(h.hour) + 1800);
    const raw = STACK.map((d) => stats.perHour.map((h) => h[d]));
    const cumulative = STACK.map((_, k) => stats.perHour.map((_h, i) => raw.slice(0, k + 1).reduce((sum, r) => sum + (r[i] ?? 0), 0)));
    const drawn = [...cumulative].reverse();
    return { data: [xs, ...drawn] as uPlot.AlignedData, raw: [...raw].reverse() };
  }, [stats]);
  const many = stats.perHour.length > 48;
  const options = useMemo<ChartOptions>(() => {
    const bars = uPlot.paths.bars?.({ size: [many ? 0.9 : 0.7, 40], align: 0 });
    return {
      tzDate: tzDate(timeZone),
      padding: [12, 8, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
      axes: [timeAxis(timeZone), integerAxis()],
      series: [
        { label: 'Hour', value: (_u, v) => (v === null ? '—' : formatInZone((v - 1800) * 1000, timeZone, 'dateTime')) },
        ...[...STACK].reverse().map((d, k) => ({
          label: DISPOSITION_INFO[d].label,
          stroke: DISPOSITION_COLORS[d],
          fill: DISPOSITION_COLORS[d],
          width: 0,
          paths: bars,
          points: { show: false },
          value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx === null ? '—' : nf.format(raw[k]?.[idx] ?? 0)),
        })),
      ],
    };
  }, [timeZone, raw, many]);
  const total = stats.perHour.reduce((sum, h) => sum + DISPOSITIONS.reduce((s, d) => s + h[d], 0), 0);
  const [hover, setHover] = useState<number | null>(null);
  const hour = hover === null ? undefined : stats.perHour[hover];
  const value = (d: Disposition) => (hour ? hour[d] : stats.perHour.reduce((sum, h) => sum + h[d], 0));
  return (
    <>
      <UPlotChart options={options} data={data} height={200} testId="chart-per-hour" onHover={setHover} label={`Calls per hour by outcome: ${nf.format(total)} calls in the window.`} />
      <div className="chart-legend" data-testid="per-hour-legend">
        <span className="chart-legend__when">
          {hour ? `${formatInZone(hour.hour, timeZone, 'dateTime')} – ${formatInZone(Date.parse(hour.hour) + 3600_000, timeZone, 'hourMinute')}` : 'Whole period'}
        </span>
        <ul className="chart-legend__list">
          {STACK.map((d) => (
            <li key={d}>
              <span className="chart-legend__swatch" style={{ background: DISPOSITION_COLORS[d] }} />
              {DISPOSITION_INFO[d].label} <strong>{nf.format(value(d))}</strong>
            </li>
          ))}
        </ul>
      </div>
    </>
  );
}

function TopDomains({ stats }: { stats: CallStats }) {
  const max = Math.max(1, ...stats.topDomains.map((d) => d.calls));
  if (stats.topDomains.length === 0) return <p className="muted">No calls in this window.</p>;
  return (
    <table className="table table--compact top-domains" data-testid="top-domains">
      <colgroup>
        <col />
        <col className="top-domains__calls" />
        <col className="top-domains__answered" />
      </colgroup>
      <thead>
        <tr>
          <th scope="col">Domain</th>
          <th scope="col" className="cell-num">
            Calls
          </th>
          <th scope="col" className="cell-num">
            Answered
          </th>
        </tr>
      </thead>
      <tbody>
        {stats.topDomains.map((d) => (
          <tr key={d.domain}>
            <th scope="row" className="top-domains__name">
              <Link to={`/call-records?domain=${encodeURIComponent(d.domain)}`} title={`Call records of ${d.domain}`}>
                {d.domain}
              </Link>
              <span className="meter" aria-hidden="true">
                <span className="meter__answered" style={{ width: `${(d.answered / max) * 100}%` }} />
                <span className="meter__other" style={{ width: `${((d.calls - d.answered) / max) * 100}%` }} />
              </span>
            </th>
            <td className="cell-num">{nf.format(d.calls)}</td>
            <td className="cell-num">{d.calls > 0 ? `${Math.round((d.answered / d.calls) * 100)} %` : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Figure({ label, value, sub, testId }: { label: string; value: ReactNode; sub?: ReactNode; testId?: string }) {
  return (
    <div className="figure" data-testid={testId}>
      <dt className="figure__label">{label}</dt>
      <dd className="figure__value">{value}</dd>
      {sub ? <dd className="figure__sub">{sub}</dd> : null}
    </div>
  );
}

function ChartsSkeleton() {
  return (
    <LoadingRegion label="Loading the call figures…">
      <div className="figures">
        {[0, 1, 2, 3].map((i) => (
          <div className="figure" key={i}>
            <Skeleton className="skeleton--short" />
            <Skeleton className="skeleton--value" />
          </div>
        ))}
      </div>
      <div className="chart-skeleton" />
    </LoadingRegion>
  );
}

export function CallCharts() {
  const { timeZone } = useTimeZone();
  const [windowKey, setWindowKey] = useState<WindowKey>('24h');
  const win = WINDOWS[windowKey];
  const stats = useResource((signal) => getCallStats({ hours: win.hours, bucketMinutes: win.bucketMinutes, tz: timeZone }, signal), [windowKey, timeZone], { intervalMs: STATS_INTERVAL_MS });
  const live = useActiveCallCount();
  const liveState = useLiveState();
  const data = stats.data;
  // Between two loads the live feed keeps the count of calls up now.
  const activeNow = live.total ?? data?.active ?? 0;

  const windowSelect = (
    <div className="field field--inline">
      <label htmlFor="stats-window" className="visually-hidden">
        Period
      </label>
      <select id="stats-window" className="input select input--small" value={windowKey} onChange={(e) => setWindowKey(e.target.value as WindowKey)}>
        {(Object.keys(WINDOWS) as WindowKey[]).map((k) => (
          <option key={k} value={k}>
            {WINDOWS[k].label}
          </option>
        ))}
      </select>
    </div>
  );

  let body: ReactNode;
  if (!data && stats.error) {
    body = (
      <ErrorPanel
        title={stats.error.status === 404 ? 'Call statistics are not available from this service' : 'The call figures could not be loaded'}
        error={stats.error}
        onRetry={stats.reload}
        busy={stats.loading}
      />
    );
  } else if (!data) {
    body = <ChartsSkeleton />;
  } else {
    const total = data.perHour.reduce((sum, h) => sum + DISPOSITIONS.reduce((s, d) => s + h[d], 0), 0);
    const answered = data.perHour.reduce((sum, h) => sum + h.ANSWERED, 0);
    const peak = data.concurrency.reduce((best, b) => (b.calls > best.calls ? b : best), { at: data.from, calls: 0 });
    const peakCalls = Math.max(peak.calls, activeNow);
    body = (
      <>
        {stats.error ? (
          <Alert tone="warning" title="The call figures could not be refreshed">
            <ErrorText error={stats.error} /> Showing the figures from {formatInZone(stats.updatedAt ?? Date.now(), timeZone, 'time')}.
          </Alert>
        ) : null}
        <dl className="figures">
          <Figure
            label="Active now"
            testId="active-now"
            value={
              <Link to="/calls" className="figure__link">
                {nf.format(activeNow)}
              </Link>
            }
            sub={liveState === 'open' ? 'live' : 'as of the last load'}
          />
          <Figure label="Calls" testId="calls-total" value={nf.format(total)} sub={win.label.toLowerCase()} />
          <Figure label="Answered" value={total > 0 ? `${Math.round((answered / total) * 100)} %` : '—'} sub={`${nf.format(answered)} of ${nf.format(total)}`} />
          <Figure
            label="Peak concurrent"
            testId="peak"
            value={nf.format(peakCalls)}
            sub={peakCalls > 0 ? (peak.calls >= activeNow ? `at ${formatInZone(peak.at, timeZone, 'dateTime')}` : 'now') : 'no calls'}
          />
        </dl>
        {total === 0 && peakCalls === 0 ? (
          <EmptyState icon="calls" title={`No calls in the ${win.label.toLowerCase()}`} headingLevel={3}>
            <p>The charts fill in as the phone system reports calls. Check that it sends its events to this site.</p>
          </EmptyState>
        ) : (
          <div className="charts">
            <section className="chart-block chart-block--wide" aria-labelledby="chart-concurrency-title">
              <h3 className="chart-block__title" id="chart-concurrency-title">
                Concurrent calls{' '}
                <span className="chart-block__note">
                  calls up during each {win.bucketMinutes === 60 ? 'hour' : `${win.bucketMinutes} minutes`}, times in {timeZone}
                </span>
              </h3>
              <ConcurrencyChart stats={data} activeNow={activeNow} timeZone={timeZone} />
            </section>
            <section className="chart-block chart-block--main" aria-labelledby="chart-hour-title">
              <h3 className="chart-block__title" id="chart-hour-title">
                Calls per hour by outcome
              </h3>
              <PerHourChart stats={data} timeZone={timeZone} />
            </section>
            <section className="chart-block chart-block--side" aria-labelledby="top-domains-title">
              <h3 className="chart-block__title" id="top-domains-title">
                Top domains
              </h3>
              <TopDomains stats={data} />
            </section>
          </div>
        )}
      </>
    );
  }

  return (
    <Panel
      title="Calls"
      className="calls-overview"
      description={
        <>
          Refreshed every {STATS_INTERVAL_MS / 1000} s; the calls up now follow the live feed.{' '}
          <Link to="/call-records">
            Call records <Icon name="chevron-right" className="icon--inline" />
          </Link>
        </>
      }
      actions={windowSelect}
    >
      {body}
    </Panel>
  );
}
