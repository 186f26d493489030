import { Type } from '@sinclair/typebox';
import { ActiveCall, CALL_LIST_LIMITS, CallList, CallListQuery, Cdr } from '../../../shared/api/cdr.js';
import { ErrorBody } from '../../../shared/api/errors.js';
import { CallEvent, EVENT_LIMITS, IngestResult, StoredEvent, type EventProblem } from '../../../shared/api/events.js';
import type { CallstoreService } from '../../callstore/service.js';
import { parseNdjson } from '../../callstore/ingest.js';
import { AppError } from '../../errors.js';
import { route, type RouteDef } from '../route.js';

/** Turns a request body (JSON object, JSON array or NDJSON) into the list of items to validate. */
export function batchOf(text: string, contentType: string | undefined): { items: unknown[]; broken: EventProblem[] } {
  if (/ndjson|jsonlines|jsonl/i.test(contentType ?? '')) return parseNdjson(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new AppError(400, 'invalid_json', `The request body is not valid JSON: ${(err as Error).message}.`);
  }
  return { items: Array.isArray(parsed) ? parsed : [parsed], broken: [] };
}

export function checkBatchSize(count: number): void {
  if (count > EVENT_LIMITS.batchEvents) {
    throw new AppError(413, 'payload_too_large', `The batch has ${count} events; at most ${EVENT_LIMITS.batchEvents} are taken at once.`);
  }
  if (count === 0) throw new AppError(400, 'invalid_request', 'The batch holds no event.');
}

/** A batch with invalid events: the error, and what became of each event (the report of a 200). */
const IngestRefused = Type.Union([Type.Intersect([ErrorBody, IngestResult]), ErrorBody]);
const CallParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: EVENT_LIMITS.callIdLength }) });
const CallDetail = Type.Composite([ActiveCall, Type.Object({ events: Type.Array(StoredEvent, { description: 'the raw events of the call, in order' }) })]);

export function callstoreRoutes(callstore: CallstoreService): RouteDef[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/events',
      operationId: 'postEvents',
      summary: 'Send call lifecycle events: one object, an array, or NDJSON; answered when stored as state_save requires',
      tag: 'events',
      auth: 'events',
      rawBody: { types: ['application/json', 'application/x-ndjson', 'application/jsonl', 'application/*+json'] },
      requestBody: {
        description: `at most ${EVENT_LIMITS.batchEvents} events; each is checked on its own: the valid ones are stored even when others are refused`,
        content: {
          'application/json': { schema: Type.Union([CallEvent, Type.Array(CallEvent, { maxItems: EVENT_LIMITS.batchEvents })]) },
          'application/x-ndjson': { schema: Type.String({ description: 'one event as JSON per line' }), itemSchema: CallEvent },
        },
      },
      errors: [
        { status: 400, schema: IngestRefused, description: 'Some events are invalid (each listed in details and rejected; the valid ones were stored), or the body is not JSON' },
        { status: 503, description: 'An event has no instance here for now (its group has no active instance on this site): nothing of the batch was stored; send it again after Retry-After' },
      ],
      bodyLimitBytes: EVENT_LIMITS.batchBytes,
      response: IngestResult,
      async handler({ body, req, res }) {
        const { items, broken } = batchOf(String(body), req.headers['content-type']);
        checkBatchSize(items.length);
        const { highestSeq, ...report } = await callstore.ingest(items, broken);
        if (report.rejected.length === 0) return report;
        const { rejected, truncated, ...counts } = report;
        const valid = report.accepted;
        const refused = items.length - valid;
        // The invalid events are refused with the one error shape, each problem once (in details);
        // the body also says what was stored.
        res.status(400).json({
          error: {
            code: 'invalid_request',
            message: `${refused > 1 ? `${refused} events are` : '1 event is'} invalid${valid ? `; the ${valid} valid ${valid === 1 ? 'one was' : 'ones were'} stored` : ''}${truncated ? `; the first ${rejected.length} problems are listed, ${truncated} more are not` : ''}.`,
            details: rejected.map((r) => ({ path: `/${r.index}${r.path}`, message: r.message })),
          },
          ...counts,
          ...(truncated ? { truncated } : {}),
        });
        void highestSeq;
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/calls',
      operationId: 'listCalls',
      summary: `Active calls (and orphan events with state=orphan), newest first, a page at a time: up to limit (default ${CALL_LIST_LIMITS.defaultLimit}, at most ${CALL_LIST_LIMITS.maxLimit}; 0 for the total only), then the next page with cursor=nextCursor`,
      tag: 'calls',
      auth: 'read',
      query: CallListQuery,
      response: CallList,
      handler({ query }) {
        const { limit, cursor, ...filter } = query;
        return callstore.listPage(filter, { limit, cursor });
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/calls/:id',
      operationId: 'getCall',
      summary: 'One active call with its legs, forks, holds, links and raw events',
      tag: 'calls',
      auth: 'read',
      params: CallParams,
      response: CallDetail,
      errors: [404],
      handler({ params }) {
        const { call } = callstore.get(params.id);
        return { ...call, events: callstore.rawEvents(call.legs.map((l) => l.callId)) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/calls/:id',
      operationId: 'terminateCall',
      summary: 'Terminate an active call here: its CDR is written with endReason admin',
      tag: 'calls',
      auth: 'admin',
      params: CallParams,
      response: Type.Object({ cdr: Type.Union([Cdr, Type.Null()]) }),
      errors: [404],
      handler({ params, log }) {
        const cdr = callstore.terminate(params.id);
        log.info({ callId: params.id }, 'call terminated by the admin');
        return { cdr: cdr ?? null };
      },
    }),
  ];
}
