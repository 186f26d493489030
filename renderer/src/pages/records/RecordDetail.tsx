/** One call record in a dialog: the figures, the timeline, the raw events. Opened by `?call=<id>`. */
import { useEffect, useState } from 'react';
import type { Cdr } from '../../../../shared/api/cdr.js';
import type { CallEvent } from '../../../../shared/api/events.js';
import { isAbort, toApiError, type ApiError } from '../../api/client.js';
import { getCdr, getCdrEvents } from '../../api/endpoints.js';
import { CallTimeline, RawEvents } from '../../components/CallTimeline.js';
import { DirectionText, PartyText } from '../../components/callParts.js';
import { Alert, Badge, CopyButton, ErrorText, LoadingRegion, Modal, Skeleton } from '../../components/ui.js';
import { clockDuration, DISPOSITION_INFO, END_REASON_INFO, parseParty, sipCodeLabel } from '../../lib/calls.js';
import { useStatus } from '../../lib/StatusContext.js';
import { formatInZone } from '../../lib/timeZone.js';

/** A record is written about half a second after its call ends: a link from the live page may be early. */
const NOT_YET_RETRIES = 10;
const NOT_YET_DELAY_MS = 500;

function seconds(s: number): string {
  return s >= 60 ? `${clockDuration(s)} (${s.toFixed(s % 1 === 0 ? 0 : 1)} s)` : `${s.toFixed(s % 1 === 0 ? 0 : 1)} s`;
}

export function RecordDetail({ id, timeZone, onClose }: { id: string; timeZone: string; onClose: () => void }) {
  const status = useStatus();
  const [cdr, setCdr] = useState<Cdr | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [waiting, setWaiting] = useState(false);
  const [events, setEvents] = useState<CallEvent[] | undefined>(undefined);
  const [eventsUnavailable, setEventsUnavailable] = useState<string | undefined>(undefined);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    let timer: number | undefined;
    const load = (tries: number) => {
      getCdr(id, controller.signal).then(
        (record) => {
          setCdr(record);
          setWaiting(false);
          setError(undefined);
        },
        (err: unknown) => {
          if (isAbort(err) || controller.signal.aborted) return;
          const e = toApiError(err);
          if (e.status === 404 && tries < NOT_YET_RETRIES) {
            setWaiting(true);
            timer = window.setTimeout(() => load(tries + 1), NOT_YET_DELAY_MS);
            return;
          }
          setWaiting(false);
          setError(e);
        },
      );
    };
    load(0);
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [id, attempt]);

  useEffect(() => {
    if (!cdr) return undefined;
    const controller = new AbortController();
    getCdrEvents(cdr.id, controller.signal).then(
      (res) => {
        setEvents(res.items);
        setEventsUnavailable(undefined);
      },
      (err: unknown) => {
        if (isAbort(err) || controller.signal.aborted) return;
        const e = toApiError(err);
        setEventsUnavailable(
          e.status === 404 && e.message.startsWith('No API route')
            ? 'Raw events unavailable: this version of the service does not serve them.'
            : `Raw events unavailable: ${e.message}`,
        );
      },
    );
    return () => controller.abort();
  }, [cdr]);

  const from = parseParty(cdr?.from);
  const to = parseParty(cdr?.to);
  const disposition = cdr ? DISPOSITION_INFO[cdr.disposition] : null;
  return (
    <Modal
      open
      size="xlarge"
      title={cdr ? `Call from ${from?.number ?? 'unknown'} to ${to?.number ?? 'unknown'}` : 'Call record'}
      description={
        <span className="detail-status">
          {cdr && disposition ? (
            <>
              <Badge tone={disposition.tone}>{disposition.label}</Badge>
              <span>{formatInZone(cdr.startedAt, timeZone, 'dateTimeSec')}</span>
            </>
          ) : null}
          <code className="detail-status__id" title="Call id (callRef)">
            {id}
          </code>
        </span>
      }
      onClose={onClose}
      testId="record-detail"
      footer={
        <>
          <span className="modal__footer-note">Times in {timeZone}</span>
          {cdr ? <CopyButton text={JSON.stringify(cdr, null, 2)} label="Copy as JSON" primary={false} /> : null}
          <button type="button" className="button" onClick={onClose}>
            Close
          </button>
        </>
      }
    >
      {error ? (
        <Alert
          tone={error.status === 404 ? 'info' : 'danger'}
          title={error.status === 404 ? 'No call record with this id' : 'The call record could not be loaded'}
          actions={
            <button type="button" className="button button--small" onClick={() => setAttempt((a) => a + 1)}>
              Try again
            </button>
          }
        >
          {error.status === 404 ? 'The call may still be in progress, or it was not recorded (CDR mode of its callstore).' : <ErrorText error={error} />}
        </Alert>
      ) : null}
      {!cdr && !error ? (
        <LoadingRegion label="Loading the call record…">
          {waiting ? <p className="muted">The call just ended; its record is being written…</p> : null}
          <div className="detail-grid">
            {[0, 1, 2, 3, 4, 5].map((i) => (
              <div key={i}>
                <Skeleton className="skeleton--short" />
                <Skeleton />
              </div>
            ))}
          </div>
        </LoadingRegion>
      ) : null}
      {cdr ? (
        <>
          <dl className="detail-grid" data-testid="record-summary">
            <div>
              <dt>Caller</dt>
              <dd>
                <PartyText value={cdr.from} />
              </dd>
            </div>
            <div>
              <dt>Callee</dt>
              <dd>
                <PartyText value={cdr.to} />
              </dd>
            </div>
            <div>
              <dt>Answered by</dt>
              <dd>
                <PartyText value={cdr.answeredBy} empty="nobody" />
              </dd>
            </div>
            <div>
              <dt>Outcome</dt>
              <dd data-testid="record-disposition" title={disposition?.description}>
                {disposition ? <Badge tone={disposition.tone}>{disposition.label}</Badge> : null}
              </dd>
            </div>
            <div>
              <dt>Domain</dt>
              <dd>{cdr.domain || '—'}</dd>
            </div>
            <div>
              <dt>Direction</dt>
              <dd>
                <DirectionText value={cdr.direction} />
              </dd>
            </div>
            <div>
              <dt>Duration · talk</dt>
              <dd>
                {seconds(cdr.duration)} · {seconds(cdr.billsec)}
              </dd>
            </div>
            <div>
              <dt>Ringing · on hold</dt>
              <dd>
                {seconds(cdr.ringSec)} · {seconds(cdr.holdSec)}
              </dd>
            </div>
            <div>
              <dt>Hung up</dt>
              <dd>
                {cdr.hangup.by ? `by the ${cdr.hangup.by}` : '—'}
                {cdr.hangup.code ? ` · ${sipCodeLabel(cdr.hangup.code)}` : ''}
                {cdr.hangup.reason ? ` · ${cdr.hangup.reason}` : ''}
              </dd>
            </div>
            <div>
              <dt>End reason</dt>
              <dd data-testid="record-end-reason">
                {cdr.endReason === 'normal' ? 'Normal' : <Badge tone="warning">{cdr.endReason}</Badge>}
                {cdr.endReason !== 'normal' ? <span className="muted"> {END_REASON_INFO[cdr.endReason]}</span> : null}
                {cdr.synthesized ? <span className="muted"> · ended by Sitecall</span> : null}
              </dd>
            </div>
            <div>
              <dt>Started · ended</dt>
              <dd>
                {formatInZone(cdr.startedAt, timeZone, 'time')} · {formatInZone(cdr.endedAt, timeZone, 'time')}
              </dd>
            </div>
            <div>
              <dt>Site · source</dt>
              <dd title={`Site ${cdr.site}, source ${cdr.source}`}>
                {status.data && (cdr.site === status.data.site.id || cdr.site === status.data.site.name) ? status.data.site.name : cdr.site} · {cdr.source}
              </dd>
            </div>
          </dl>
          <section className="detail-section" aria-labelledby="record-timeline-title">
            <h3 className="detail-subtitle" id="record-timeline-title">
              Timeline <span className="detail-subtitle__note">times in {timeZone}</span>
            </h3>
            <CallTimeline call={cdr} timeZone={timeZone} nowMs={Date.parse(cdr.endedAt)} />
          </section>
          <section className="detail-section" aria-labelledby="record-events-title">
            <h3 className="detail-subtitle" id="record-events-title">
              Raw events
            </h3>
            <RawEvents events={events} unavailable={eventsUnavailable} timeZone={timeZone} />
          </section>
        </>
      ) : null}
    </Modal>
  );
}
