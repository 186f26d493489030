/**
 * One active call in a dialog: who, state and duration (live), its timeline and raw events, and
 * (for administrators) terminating it. The call keeps updating while the dialog is open; when it
 * ends, the dialog says so and links to its record.
 */
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import type { ActiveCall } from '../../../../shared/api/cdr.js';
import type { CallEvent } from '../../../../shared/api/events.js';
import { isAbort, toApiError, type ApiError } from '../../api/client.js';
import { getCall, terminateCall } from '../../api/endpoints.js';
import { CallTimeline, RawEvents } from '../../components/CallTimeline.js';
import { DirectionText, Elapsed, PartyText } from '../../components/callParts.js';
import { Icon } from '../../components/icons.js';
import { Alert, Badge, ConfirmDialog, Modal } from '../../components/ui.js';
import { CALL_STATE_INFO, parseParty } from '../../lib/calls.js';
import { useServerNow } from '../../lib/clock.js';
import { formatInZone } from '../../lib/timeZone.js';

function LiveTimeline({ call, timeZone, ended }: { call: ActiveCall; timeZone: string; ended: boolean }) {
  const now = useServerNow();
  const lastEvent = Date.parse(call.lastEventAt);
  return (
    <CallTimeline
      call={{ ...call, endedAt: ended ? call.lastEventAt : null }}
      timeZone={timeZone}
      nowMs={ended && !Number.isNaN(lastEvent) ? lastEvent : now}
    />
  );
}

export function CallDetail({
  callId,
  call,
  endedAt,
  canTerminate,
  timeZone,
  onClose,
}: {
  callId: string;
  /** the live call; undefined once it ended (or when the id is unknown) */
  call: ActiveCall | undefined;
  /** when the live feed saw it end (ms) */
  endedAt: number | undefined;
  canTerminate: boolean;
  timeZone: string;
  onClose: () => void;
}) {
  const [last, setLast] = useState<ActiveCall | undefined>(call);
  const [events, setEvents] = useState<CallEvent[] | undefined>(undefined);
  const [eventsError, setEventsError] = useState<string | undefined>(undefined);
  const [notFound, setNotFound] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [terminating, setTerminating] = useState(false);
  const [terminateError, setTerminateError] = useState<ApiError | undefined>(undefined);
  const [terminated, setTerminated] = useState(false);

  useEffect(() => {
    if (call) setLast(call);
  }, [call]);

  // The call with its raw events: on open, and again (shortly after) whenever new events arrive.
  const eventCount = call?.eventCount;
  const gone = call === undefined;
  useEffect(() => {
    if (gone && events !== undefined) return undefined;
    const controller = new AbortController();
    const timer = window.setTimeout(
      () => {
        getCall(callId, controller.signal).then(
          (detail) => {
            const { events: evs, ...rest } = detail;
            setEvents(evs);
            setEventsError(undefined);
            setLast((prev) => prev ?? rest);
            setNotFound(false);
          },
          (err: unknown) => {
            if (isAbort(err) || controller.signal.aborted) return;
            const e = toApiError(err);
            if (e.status === 404) setNotFound(true);
            else setEventsError(`The raw events could not be loaded: ${e.message}`);
          },
        );
      },
      events === undefined ? 0 : 300,
    );
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
    // Deliberately keyed on the event count only: a new event means new raw events to show.
  }, [callId, eventCount, gone]);

  const shown = call ?? last;
  const ended = gone && (endedAt !== undefined || terminated || (notFound && last !== undefined));
  const from = parseParty(shown?.from);
  const to = parseParty(shown?.to);
  const state = shown ? CALL_STATE_INFO[shown.state] : null;

  const doTerminate = async () => {
    setTerminating(true);
    setTerminateError(undefined);
    try {
      await terminateCall(callId);
      setTerminated(true);
      setConfirm(false);
    } catch (err) {
      const e = toApiError(err);
      if (e.status === 404) {
        setTerminated(true);
        setConfirm(false);
      } else setTerminateError(e);
    } finally {
      setTerminating(false);
    }
  };

  const title = shown ? `Call from ${from?.number ?? 'unknown'} to ${to?.number ?? 'unknown'}` : 'Call';
  return (
    <Modal
      open
      size="xlarge"
      title={title}
      description={
        shown ? (
          <span className="detail-status">
            {ended ? <Badge tone="neutral">Ended</Badge> : state ? <Badge tone={state.tone} dot>{state.label}</Badge> : null}
            {!ended ? (
              <span>
                {shown.answeredAt ? 'talking for ' : 'started '}
                <Elapsed since={Date.parse(shown.answeredAt ?? shown.startedAt ?? shown.lastEventAt)} />
                {shown.answeredAt ? null : ' ago'}
              </span>
            ) : null}
            <code className="detail-status__id" title="Call id (callRef)">
              {callId}
            </code>
          </span>
        ) : (
          <code>{callId}</code>
        )
      }
      onClose={onClose}
      busy={terminating}
      testId="call-detail"
      footer={
        <>
          {canTerminate && !ended ? (
            <button type="button" className="button button--danger-outline" onClick={() => setConfirm(true)} disabled={!shown}>
              <Icon name="stop" />
              Terminate…
            </button>
          ) : null}
          <span className="modal__footer-spacer" />
          <button type="button" className="button" onClick={onClose}>
            Close
          </button>
        </>
      }
    >
      {ended ? (
        <Alert
          tone={terminated ? 'success' : 'info'}
          title={terminated ? 'Call terminated' : 'This call has ended'}
          actions={
            <Link className="button button--small" to={`/call-records?call=${encodeURIComponent(callId)}`}>
              Open its call record
            </Link>
          }
        >
          {terminated
            ? 'Sitecall closed the call and wrote its record with the end reason “admin”.'
            : `It ended${endedAt ? ` at ${formatInZone(endedAt, timeZone, 'time')}` : ''}; its record is written a moment after the end.`}
        </Alert>
      ) : null}
      {!shown && notFound ? (
        <Alert tone="info" title="No active call with this id">
          It may have ended already. Look for it in <Link to={`/call-records?call=${encodeURIComponent(callId)}`}>Call records</Link>.
        </Alert>
      ) : null}
      {shown ? (
        <>
          <dl className="detail-grid" data-testid="call-summary">
            <div>
              <dt>Caller</dt>
              <dd>
                <PartyText value={shown.from} />
              </dd>
            </div>
            <div>
              <dt>Callee</dt>
              <dd>
                <PartyText value={shown.to} />
              </dd>
            </div>
            <div>
              <dt>Answered by</dt>
              <dd>
                <PartyText value={shown.answeredBy} empty={shown.answeredAt ? '—' : 'not answered yet'} />
              </dd>
            </div>
            <div>
              <dt>Domain</dt>
              <dd>{shown.domain ?? '—'}</dd>
            </div>
            <div>
              <dt>Direction</dt>
              <dd>
                <DirectionText value={shown.direction} />
              </dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>{formatInZone(shown.startedAt, timeZone, 'dateTimeSec') || '—'}</dd>
            </div>
            <div>
              <dt>Answered</dt>
              <dd>{formatInZone(shown.answeredAt, timeZone, 'time') || '—'}</dd>
            </div>
            <div>
              <dt>Source · instance</dt>
              <dd>
                {shown.source || '—'} · {shown.instance}
              </dd>
            </div>
          </dl>
          <section className="detail-section" aria-labelledby="call-timeline-title">
            <h3 className="detail-subtitle" id="call-timeline-title">
              Timeline <span className="detail-subtitle__note">times in {timeZone}</span>
            </h3>
            <LiveTimeline call={shown} timeZone={timeZone} ended={ended} />
          </section>
          <section className="detail-section" aria-labelledby="call-events-title">
            <h3 className="detail-subtitle" id="call-events-title">
              Raw events
            </h3>
            <RawEvents events={events} unavailable={eventsError ?? (ended && events === undefined ? 'Raw events unavailable: the call ended before they were loaded; its call record has them.' : undefined)} timeZone={timeZone} />
          </section>
        </>
      ) : null}
      <ConfirmDialog
        open={confirm}
        title="Terminate this call?"
        confirmLabel="Terminate call"
        busyLabel="Terminating…"
        busy={terminating}
        error={terminateError}
        onConfirm={() => void doTerminate()}
        onCancel={() => setConfirm(false)}
      >
        <p>
          Sitecall stops tracking the call from <strong>{from?.number ?? 'unknown'}</strong> to <strong>{to?.number ?? 'unknown'}</strong> and writes
          its call record now, with the end reason “admin”.
        </p>
        <p className="dialog__note">
          Use it for a call the phone system no longer has (a stuck call). It does not hang up the phones.
        </p>
      </ConfirmDialog>
    </Modal>
  );
}
