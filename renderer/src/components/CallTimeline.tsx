/**
 * The timeline of one call, the same for an active call and a call record: a chart of its legs
 * over time (setup, ringing, talking, holds) with the fork branches under each leg and which one
 * won, then the story in words, the linked dialogs, what did not fit the protocol, and the raw
 * events as the phone system sent them.
 */
import { useMemo, useState, type ReactNode } from 'react';
import type { Cdr, Fork, Hold, Leg, Link } from '../../../shared/api/cdr.js';
import type { CallEvent } from '../../../shared/api/events.js';
import { END_REASON_INFO, FORK_OUTCOME_INFO, offsetLabel, parseParty, sipCodeLabel } from '../lib/calls.js';
import { formatInZone } from '../lib/timeZone.js';
import { Icon } from './icons.js';
import { Alert, Badge, type Tone } from './ui.js';

/** What the timeline needs: an ActiveCall or a Cdr both fit. */
export interface TimelineCall {
  startedAt: string | null;
  answeredAt: string | null;
  /** null while the call is up: the chart runs to `nowMs` */
  endedAt: string | null;
  answeredBy: string | null;
  legs: Leg[];
  forks: Fork[];
  holds: Hold[];
  links: Link[];
  anomalies: string[];
  hangup?: Cdr['hangup'];
  endReason?: Cdr['endReason'];
}

const ms = (iso: string | null | undefined): number | null => {
  if (!iso) return null;
  const v = Date.parse(iso);
  return Number.isNaN(v) ? null : v;
};

function shortId(id: string): string {
  return id.length > 18 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

function partyText(raw: string | null | undefined): string {
  const p = parseParty(raw);
  if (!p) return '—';
  return p.name ? `${p.name} (${p.number})` : p.number;
}

interface Span {
  start: number;
  end: number;
}

function spanOf(call: TimelineCall, nowMs: number): Span {
  const times: number[] = [];
  const push = (v: number | null) => {
    if (v !== null) times.push(v);
  };
  push(ms(call.startedAt));
  for (const l of call.legs) {
    push(ms(l.startedAt));
    push(ms(l.endedAt));
  }
  for (const f of call.forks) push(ms(f.at));
  for (const h of call.holds) push(ms(h.on));
  const start = times.length ? Math.min(...times) : nowMs;
  const end = Math.max(ms(call.endedAt) ?? nowMs, ...times, start + 1000);
  return { start, end };
}

// ---------- The chart ----------

function Segment({ span, from, to, kind, label }: { span: Span; from: number; to: number; kind: string; label: string }) {
  const total = span.end - span.start;
  const left = ((Math.max(from, span.start) - span.start) / total) * 100;
  const width = Math.max(((Math.min(to, span.end) - Math.max(from, span.start)) / total) * 100, 0.6);
  return <span className={`tl-seg tl-seg--${kind}`} style={{ left: `${left}%`, width: `${Math.min(width, 100 - left)}%` }} title={label} />;
}

function Marker({ span, at, kind, label }: { span: Span; at: number; kind: string; label: string }) {
  const left = ((at - span.start) / (span.end - span.start)) * 100;
  return <span className={`tl-marker tl-marker--${kind}`} style={{ left: `${Math.min(Math.max(left, 0), 100)}%` }} title={label} />;
}

function LegLane({ leg, index, forks, holds, span, nowMs, timeZone, single }: {
  leg: Leg;
  index: number;
  forks: Fork[];
  holds: Hold[];
  span: Span;
  nowMs: number;
  timeZone: string;
  single: boolean;
}) {
  const start = ms(leg.startedAt) ?? span.start;
  const ringing = ms(leg.ringingAt);
  const answered = ms(leg.answeredAt);
  const ended = ms(leg.endedAt);
  const up = ended ?? nowMs;
  const setupEnd = answered ?? up;
  const at = (t: number) => formatInZone(t, timeZone, 'timeMs');
  const outcome = answered !== null ? 'answered' : ended !== null ? (leg.code === 487 ? 'cancelled' : 'failed') : 'up';
  return (
    <>
      <div className="tl-lane" data-testid={`tl-leg-${index}`}>
        <div className="tl-lane__label">
          <span className="tl-lane__title">{single ? 'Call' : `Leg ${index + 1}`}</span>
          <span className="tl-lane__sub" title={`Call-ID ${leg.callId} via ${leg.source}`}>
            {leg.callId}
          </span>
        </div>
        <div className="tl-lane__track">
          {ringing !== null && ringing > start ? (
            <Segment span={span} from={start} to={Math.min(ringing, setupEnd)} kind="trying" label={`Calling from ${at(start)}`} />
          ) : null}
          <Segment
            span={span}
            from={ringing !== null && ringing > start ? Math.min(ringing, setupEnd) : start}
            to={setupEnd}
            kind={ringing !== null ? 'ringing' : 'trying'}
            label={`${ringing !== null ? 'Ringing' : 'Calling'} until ${at(setupEnd)}`}
          />
          {answered !== null ? <Segment span={span} from={answered} to={up} kind="talking" label={`Talking from ${at(answered)}`} /> : null}
          {holds.map((h) => {
            const on = ms(h.on) ?? start;
            const off = ms(h.off) ?? up;
            return <Segment key={h.on} span={span} from={on} to={off} kind="hold" label={`On hold (by ${h.by}) from ${at(on)}${h.off ? ` to ${at(off)}` : ''}`} />;
          })}
          {ended !== null ? (
            <Marker span={span} at={ended} kind={outcome === 'answered' ? 'end' : 'fail'} label={`Ended ${at(ended)}${leg.code && leg.code !== 200 ? ` (${sipCodeLabel(leg.code)})` : ''}`} />
          ) : null}
        </div>
      </div>
      {forks.map((f) => {
        const info = FORK_OUTCOME_INFO[f.outcome];
        const seen = ms(f.at) ?? start;
        const until = f.outcome === 'answered' ? (answered ?? seen) : f.outcome === 'pending' ? up : (answered ?? ended ?? up);
        return (
          <div className="tl-lane tl-lane--fork" key={`${f.callId}|${f.toTag}`} data-testid={`tl-fork-${f.toTag}`}>
            <div className="tl-lane__label">
              <span className="tl-lane__fork" title={`To-tag ${f.toTag}`}>
                Branch {f.toTag}
              </span>
              <span title={info.description}>
                <Badge tone={info.tone}>{info.label}</Badge>
              </span>
            </div>
            <div className="tl-lane__track tl-lane__track--thin">
              <Segment span={span} from={seen} to={until} kind={`fork-${f.outcome}`} label={`${info.label}${f.code ? ` · ${sipCodeLabel(f.code)}` : ''}`} />
            </div>
          </div>
        );
      })}
    </>
  );
}

/** A round step (1, 2 or 5 times a power of ten, in ms) giving at most `max` intervals. */
function niceStep(total: number, max = 5): number {
  const raw = total / max;
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

function Axis({ span, timeZone }: { span: Span; timeZone: string }) {
  const total = span.end - span.start;
  const step = niceStep(total);
  const ticks: number[] = [];
  for (let t = 0; t <= total; t += step) ticks.push(t);
  return (
    <div className="tl-axis" aria-hidden="true">
      <div className="tl-lane__label">
        <span className="tl-axis__start">{formatInZone(span.start, timeZone, 'time')}</span>
      </div>
      <div className="tl-axis__ticks">
        {ticks.map((t, i) => {
          const at = t / total;
          // The last label would run off the end: it is drawn right-aligned, or left out when it crowds the one before.
          if (i > 0 && at > 0.93 && at < 1) return null;
          return (
            <span key={t} className={`tl-axis__tick${i === 0 ? ' tl-axis__tick--first' : at >= 0.999 ? ' tl-axis__tick--last' : ''}`} style={{ left: `${at * 100}%` }}>
              {offsetLabel(t)}
            </span>
          );
        })}
      </div>
    </div>
  );
}

function Legend() {
  const items: [string, string][] = [
    ['trying', 'Calling'],
    ['ringing', 'Ringing'],
    ['talking', 'Talking'],
    ['hold', 'On hold'],
  ];
  return (
    <ul className="tl-legend" aria-hidden="true">
      {items.map(([kind, label]) => (
        <li key={kind}>
          <span className={`tl-legend__swatch tl-seg--${kind}`} />
          {label}
        </li>
      ))}
      <li>
        <span className="tl-legend__swatch tl-seg--fork-answered" /> Branch that won
      </li>
      <li>
        <span className="tl-legend__swatch tl-seg--fork-lose_race" /> Branch that lost
      </li>
    </ul>
  );
}

// ---------- The story in words ----------

/** The party part of a URI for comparing parties: user@host, the port and parameters left out. */
function partyKey(raw: string | null | undefined): string | null {
  const p = parseParty(raw);
  return p ? `${p.number}@${p.host ?? ''}`.toLowerCase().replace(/:\d+$/, '') : null;
}

/**
 * A link in words: who was transferred to whom, which call replaced which, who picked up. `linked`
 * is the dialog linked to (the transferred, replaced or ringing one), `made` the dialog that made
 * the link (its new call). Null when the record does not say which dialog made it (records
 * written before links carried `fromCallId`).
 */
export function linkSentence(kind: Link['kind'], linked: Leg | undefined, made: Leg | undefined): ReactNode | null {
  if (!linked || !made) return null;
  const p = (raw: string | null) => <strong>{partyText(raw)}</strong>;
  switch (kind) {
    case 'transfer': {
      // the transferee makes the new call: it is one end of the transferred dialog, the transferor the other
      const transfereeIsCaller = partyKey(made.from) === partyKey(linked.from);
      const transferee = transfereeIsCaller ? linked.from : linked.to;
      const transferor = transfereeIsCaller ? linked.to : linked.from;
      return (
        <>
          Transferred: {p(transferor)} transferred {p(transferee)} to {p(made.to)} <span className="muted">(REFER)</span>
        </>
      );
    }
    case 'replaces':
      return (
        <>
          Attended transfer: {p(made.from)} → {p(made.to)} replaced the call {p(linked.from)} → {p(linked.to)} <span className="muted">(Replaces)</span>
        </>
      );
    case 'pickup':
      return (
        <>
          Picked up: {p(made.from)} took the call ringing at {p(linked.to)}
        </>
      );
    case 'forward':
      return (
        <>
          Forwarded: {p(linked.to)} forwarded the call to {p(made.to)}
        </>
      );
    default:
      return null;
  }
}

interface Entry {
  at: number;
  order: number;
  tone: Tone;
  text: ReactNode;
  leg: number | null;
}

function storyOf(call: TimelineCall): Entry[] {
  const entries: Entry[] = [];
  const legIndex = new Map(call.legs.map((l, i) => [l.callId, i]));
  const single = call.legs.length <= 1;
  const legOf = (callId: string) => (single ? null : (legIndex.get(callId) ?? null));
  // after a transfer, replacement or pickup `answeredBy` is the party talked to last, not the
  // one who answered the first leg
  const handedOver = call.links.some((k) => k.kind === 'transfer' || k.kind === 'replaces' || k.kind === 'pickup');
  const firstParty = handedOver ? (call.legs[0]?.to ?? null) : call.answeredBy;
  call.legs.forEach((l, i) => {
    const start = ms(l.startedAt);
    if (start !== null) {
      entries.push({
        at: start,
        order: 0,
        tone: 'primary',
        leg: single ? null : i,
        text: (
          <>
            {i === 0 ? 'Call started' : 'Leg started'}: <strong>{partyText(l.from)}</strong> → <strong>{partyText(l.to)}</strong>{' '}
            <span className="muted">via {l.source}</span>
          </>
        ),
      });
    }
    const ringing = ms(l.ringingAt);
    if (ringing !== null) entries.push({ at: ringing, order: 1, tone: 'warning', leg: single ? null : i, text: 'Ringing' });
    const answered = ms(l.answeredAt);
    if (answered !== null) {
      entries.push({
        at: answered,
        order: 3,
        tone: 'success',
        leg: single ? null : i,
        text: (
          <>
            Answered{l.toTag ? <> by branch <code>{shortId(l.toTag)}</code></> : null}
            {i === 0 && firstParty ? (
              <>
                {' '}
                — <strong>{partyText(firstParty)}</strong>
              </>
            ) : null}
          </>
        ),
      });
    }
    const ended = ms(l.endedAt);
    if (ended !== null && !(single && call.endedAt)) {
      entries.push({
        at: ended,
        order: 6,
        tone: answered !== null ? 'neutral' : 'danger',
        leg: single ? null : i,
        text: (
          <>
            Leg ended{l.code !== null && l.code !== 200 ? ` — ${sipCodeLabel(l.code)}` : ''}
          </>
        ),
      });
    }
  });
  for (const f of call.forks) {
    const seen = ms(f.at);
    if (seen === null) continue;
    const info = FORK_OUTCOME_INFO[f.outcome];
    entries.push({
      at: seen,
      order: 2,
      tone: info.tone,
      leg: legOf(f.callId),
      text: (
        <>
          Branch <code>{shortId(f.toTag)}</code> responded
          {f.code && f.code !== 200 ? ` (${sipCodeLabel(f.code)})` : ''} — <Badge tone={info.tone}>{info.label}</Badge>{' '}
          <span className="muted">{info.description}</span>
        </>
      ),
    });
  }
  const legById = new Map(call.legs.map((l) => [l.callId, l]));
  for (const l of call.links) {
    const at = ms(l.at);
    const text = l.fromCallId ? linkSentence(l.kind, legById.get(l.callId), legById.get(l.fromCallId)) : null;
    if (at === null || text === null) continue;
    entries.push({ at, order: 1, tone: 'info', leg: l.fromCallId ? legOf(l.fromCallId) : null, text });
  }
  for (const h of call.holds) {
    const on = ms(h.on);
    const off = ms(h.off);
    if (on !== null) entries.push({ at: on, order: 4, tone: 'info', leg: legOf(h.callId), text: `Put on hold by the ${h.by}` });
    if (off !== null && on !== null) {
      entries.push({ at: off, order: 5, tone: 'info', leg: legOf(h.callId), text: `Taken off hold (held ${offsetLabel(off - on).slice(1)})` });
    }
  }
  const end = ms(call.endedAt);
  if (end !== null) {
    const by = call.hangup?.by;
    const parts = [
      by ? `hung up by the ${by}` : null,
      call.hangup?.code && call.hangup.code !== 200 ? sipCodeLabel(call.hangup.code) : null,
      call.hangup?.reason ?? null,
    ].filter(Boolean);
    entries.push({
      at: end,
      order: 7,
      tone: call.endReason && call.endReason !== 'normal' ? 'warning' : 'neutral',
      leg: null,
      text: (
        <>
          Call ended{parts.length ? `: ${parts.join(' · ')}` : ''}
          {call.endReason && call.endReason !== 'normal' ? (
            <>
              {' '}
              — <strong>{END_REASON_INFO[call.endReason]}</strong>
            </>
          ) : null}
        </>
      ),
    });
  }
  return entries.sort((a, b) => a.at - b.at || a.order - b.order);
}

function Story({ call, start, timeZone }: { call: TimelineCall; start: number; timeZone: string }) {
  const entries = useMemo(() => storyOf(call), [call]);
  if (entries.length === 0) return <p className="muted">No step of this call has a time yet.</p>;
  return (
    <ol className="tl-story" data-testid="timeline-story">
      {entries.map((e, i) => (
        <li key={i} className="tl-story__item">
          <span className={`tl-story__dot tl-story__dot--${e.tone}`} aria-hidden="true" />
          <span className="tl-story__time">
            <time dateTime={new Date(e.at).toISOString()}>{formatInZone(e.at, timeZone, 'timeMs')}</time>
            <span className="tl-story__offset">{offsetLabel(e.at - start)}</span>
          </span>
          <span className="tl-story__text">
            {e.leg !== null ? <span className="tl-story__leg">Leg {e.leg + 1}</span> : null}
            {e.text}
          </span>
        </li>
      ))}
    </ol>
  );
}

export function CallTimeline({ call, timeZone, nowMs }: { call: TimelineCall; timeZone: string; nowMs: number }) {
  const span = spanOf(call, nowMs);
  const single = call.legs.length <= 1;
  return (
    <div className="timeline" data-testid="timeline">
      <div className="tl-chart" role="img" aria-label={`Timeline of ${call.legs.length} leg${call.legs.length === 1 ? '' : 's'} and ${call.forks.length} branch${call.forks.length === 1 ? '' : 'es'}; the same steps are listed below.`}>
        <Axis span={span} timeZone={timeZone} />
        {call.legs.map((leg, i) => (
          <LegLane
            key={leg.callId}
            leg={leg}
            index={i}
            single={single}
            forks={call.forks.filter((f) => f.callId === leg.callId)}
            holds={call.holds.filter((h) => h.callId === leg.callId)}
            span={span}
            nowMs={nowMs}
            timeZone={timeZone}
          />
        ))}
        {call.legs.length === 0 ? <p className="muted tl-empty">No dialog of this call has started yet (its INVITE has not arrived).</p> : null}
      </div>
      <Legend />
      <Story call={call} start={span.start} timeZone={timeZone} />
      {call.links.length > 0 ? (
        <div className="tl-links">
          <h4 className="detail-subtitle">Linked dialogs</h4>
          <ul className="tl-links__list" data-testid="timeline-links">
            {call.links.map((l) => {
              const legNo = (id: string | undefined) => {
                const i = id === undefined ? -1 : call.legs.findIndex((g) => g.callId === id);
                return i >= 0 ? `leg ${i + 1}` : null;
              };
              const from = legNo(l.fromCallId);
              const to = legNo(l.callId);
              const at = ms(l.at);
              return (
                <li key={`${l.kind}|${l.callId}|${l.fromCallId ?? ''}`}>
                  <Badge tone="info">{l.kind}</Badge> {from && to ? <>{from} continues {to}{at !== null ? <> at <time dateTime={new Date(at).toISOString()}>{formatInZone(at, timeZone, 'timeMs')}</time></> : null}: </> : null}
                  <code title={l.callId}>{l.callId}</code>
                </li>
              );
            })}
          </ul>
        </div>
      ) : null}
      {call.anomalies.length > 0 ? (
        <Alert tone="warning" title={`${call.anomalies.length} thing${call.anomalies.length === 1 ? '' : 's'} in this call did not fit the SIP protocol`}>
          <ul className="problem-list" data-testid="timeline-anomalies">
            {call.anomalies.map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        </Alert>
      ) : null}
    </div>
  );
}

// ---------- Raw events ----------

function eventDetail(e: CallEvent): string {
  const bits: string[] = [];
  if (e.type === 'invite') bits.push(`${partyText(e.from)} → ${partyText(e.to)}`);
  if (e.toTag) bits.push(`to-tag ${shortId(e.toTag)}`);
  if (e.code) bits.push(sipCodeLabel(e.code));
  if (e.by) bits.push(`by ${e.by}`);
  if (e.kind) bits.push(`${e.kind} ${e.otherCallId ?? ''}`);
  if (e.reason) bits.push(e.reason);
  return bits.join(' · ');
}

/**
 * The raw events: a table, or their JSON. `events` undefined while loading; `unavailable` says
 * why there are none to show.
 */
export function RawEvents({ events, unavailable, timeZone }: { events: CallEvent[] | undefined; unavailable?: string | undefined; timeZone: string }) {
  const [asJson, setAsJson] = useState(false);
  if (unavailable) {
    return (
      <p className="raw-events__none" data-testid="raw-events-unavailable">
        <Icon name="info" /> {unavailable}
      </p>
    );
  }
  if (!events) return <p className="muted">Loading the raw events…</p>;
  if (events.length === 0) {
    return (
      <p className="raw-events__none" data-testid="raw-events-unavailable">
        <Icon name="info" /> Raw events unavailable: the journal no longer keeps them (they are removed after the retention period).
      </p>
    );
  }
  return (
    <div className="raw-events" data-testid="raw-events">
      <div className="raw-events__bar">
        <span className="muted">
          {events.length} event{events.length === 1 ? '' : 's'}, in the order the callstore applies them
        </span>
        <button type="button" className="button button--small" aria-pressed={asJson} onClick={() => setAsJson((v) => !v)}>
          {asJson ? 'Show as table' : 'Show JSON'}
        </button>
      </div>
      {asJson ? (
        <pre className="raw-events__json" tabIndex={0} aria-label="Raw events as JSON">
          {events.map((e) => JSON.stringify(e)).join('\n')}
        </pre>
      ) : (
        <div className="table-scroll" tabIndex={0} aria-label="Raw events">
          <table className="table table--compact">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Type</th>
                <th scope="col">Call-ID</th>
                <th scope="col">Detail</th>
                <th scope="col">Source · seq</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id} data-testid="raw-event">
                  <td className="nowrap">{formatInZone(e.ts, timeZone, 'timeMs')}</td>
                  <td>
                    <code>{e.type}</code>
                  </td>
                  <td>
                    <code title={e.callId}>{shortId(e.callId)}</code>
                  </td>
                  <td className="raw-events__detail">{eventDetail(e)}</td>
                  <td className="nowrap muted" title={`id ${e.id}`}>
                    {e.source} · {e.seq}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
