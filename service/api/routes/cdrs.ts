import { pipeline } from 'node:stream/promises';
import { Type } from '@sinclair/typebox';
import { Cdr } from '../../../shared/api/cdr.js';
import { StoredEvent } from '../../../shared/api/events.js';
import type { CallstoreService } from '../../callstore/service.js';
import { CdrExportQuery, CdrQuery } from '../../../shared/api/cdr-query.js';
import { NotFoundError } from '../../errors.js';
import { checkTimeZone, CONTENT_TYPES, exportStream, parseCdrExportQuery, parseCdrQuery, type CdrReader } from '../../storage/cdr/index.js';
import type { CdrWriterThread } from '../../storage/cdr/writer.js';
import { route, type RouteDef } from '../route.js';

const CdrList = Type.Object({ items: Type.Array(Cdr), total: Type.Integer({ description: 'every match, not only this page' }) });

export function cdrRoutes(store: Pick<CdrWriterThread, 'get'>, reader: CdrReader, callstore: Pick<CallstoreService, 'rawEvents'>): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/cdrs',
      operationId: 'listCdrs',
      summary: 'Call records of cdr/COPM3_dialogs: filtered, searched, sorted and paged',
      tag: 'cdrs',
      auth: 'read',
      query: CdrQuery,
      response: CdrList,
      handler: ({ query }) => reader.page(parseCdrQuery(query)),
    }),
    route({
      method: 'get',
      path: '/api/v1/cdrs/export',
      operationId: 'exportCdrs',
      summary: 'Every call record matching the filter, streamed as CSV (times in tz) or NDJSON',
      tag: 'cdrs',
      auth: 'read',
      query: CdrExportQuery,
      produces: {
        'text/csv': { schema: Type.String({ description: 'a header row, then one row per record; times in tz; cells that a spreadsheet would run as a formula are quoted' }) },
        'application/x-ndjson': { schema: Type.String({ description: 'one Cdr as JSON per line' }), itemSchema: Cdr },
      },
      async handler({ query, req, res, log }) {
        const { filter, sort, format, tz } = parseCdrExportQuery(query);
        checkTimeZone(tz);
        const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
        res.setHeader('Content-Type', CONTENT_TYPES[format]);
        res.setHeader('Content-Disposition', `attachment; filename="sitecall-cdrs-${stamp}.${format === 'csv' ? 'csv' : 'ndjson'}"`);
        res.setHeader('Cache-Control', 'no-store');
        // The client going away cancels the worker's cursor.
        const abort = new AbortController();
        req.on('close', () => abort.abort(new Error('the client closed the connection')));
        try {
          await pipeline(exportStream(reader.exportJson(filter, { sort, signal: abort.signal }), { format, tz }), res);
        } catch (err) {
          if (!abort.signal.aborted) throw err;
          log.info('CDR export cancelled by the client');
        }
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/cdrs/:id',
      operationId: 'getCdr',
      summary: 'One call record',
      tag: 'cdrs',
      auth: 'read',
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) }),
      response: Cdr,
      errors: [404],
      async handler({ params }) {
        const cdr = await store.get(params.id);
        if (!cdr) throw new NotFoundError(`No call record with id ${params.id}.`);
        return cdr;
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/cdrs/:id/events',
      operationId: 'getCdrEvents',
      summary: 'The raw events the record was built from, while the journal keeps them (raw_event_retention_days)',
      tag: 'cdrs',
      auth: 'read',
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) }),
      response: Type.Object({ items: Type.Array(StoredEvent) }),
      errors: [404],
      async handler({ params }) {
        const cdr = await store.get(params.id);
        if (!cdr) throw new NotFoundError(`No call record with id ${params.id}.`);
        return { items: callstore.rawEvents(cdr.legs.map((l) => l.callId)) };
      },
    }),
  ];
}
