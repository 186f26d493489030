import type { TSchema } from '@sinclair/typebox';
import { Scope, TokenInfo } from '../../shared/api/auth.js';
import { ActiveCall, Cdr, Fork, Hold, Leg, Link } from '../../shared/api/cdr.js';
import { ErrorBody, ErrorDetail } from '../../shared/api/errors.js';
import { EventStreamAck, EventStreamError, SyncRequestMessage } from '../../shared/api/event-stream.js';
import { CallEvent, EventProblem, IngestResult, StoredEvent } from '../../shared/api/events.js';
import { LiveChanges, LiveHello, LiveResync } from '../../shared/api/live.js';
import { ConfigProblem, IfaceAliases, RoleInstance } from '../../shared/api/roles.js';
import { SourceInfo, SyncDialog } from '../../shared/api/sources.js';
import { CallStats } from '../../shared/api/stats.js';
import { Health, RoleInstanceStatus, ServiceStatus } from '../../shared/api/status.js';
import { AudioFormat, ForwardedFrom, GreetingInfo, Mailbox, Message, MessageCounts, Mwi, StoragePointer } from '../../shared/api/vmail.js';
import { JSON_BODY_LIMIT_BYTES } from './http.js';
import type { ErrorDoc, MediaDoc, RouteDef } from './route.js';
import { WEBSOCKET_DOCS, type WebSocketDoc } from './ws-doc.js';

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request: every problem is listed in error.details with its JSON path',
  401: 'Not authenticated: no bearer token, or one that is unknown, expired or revoked',
  403: 'The credential lacks the scope this operation needs (x-required-scope)',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Request body too large (or, for audio, longer than allowed)',
  415: 'Unsupported media type',
  416: 'The range lies outside the file',
  429: 'Too many requests: wait for Retry-After seconds',
  503: 'Temporarily unavailable (no active instance, not on this site, not ready): try again after Retry-After seconds',
};

const SUCCESS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'Done; no content' };

/**
 * Shared schemas that get a name under components/schemas: wherever one of these very objects sits
 * in a route's schema, the document refers to it, so clients generate one type for it.
 */
const NAMED_SCHEMAS: Record<string, TSchema> = {
  Error: ErrorBody,
  ErrorDetail,
  Scope,
  TokenInfo,
  Health,
  ServiceStatus,
  RoleInstanceStatus,
  RoleInstance,
  IfaceAliases,
  ConfigProblem,
  CallEvent,
  StoredEvent,
  EventProblem,
  IngestResult,
  ActiveCall,
  Cdr,
  Leg,
  Fork,
  Hold,
  Link,
  SourceInfo,
  SyncDialog,
  CallStats,
  Mailbox,
  MessageCounts,
  GreetingInfo,
  AudioFormat,
  StoragePointer,
  Message,
  ForwardedFrom,
  Mwi,
  EventStreamAck,
  EventStreamError,
  SyncRequestMessage,
  LiveHello,
  LiveChanges,
  LiveResync,
};

const RETRY_AFTER = { description: 'seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } };
const CONTENT_LENGTH = { description: 'bytes in this answer', schema: { type: 'integer', minimum: 0 } };
const ACCEPT_RANGES = { description: 'byte ranges are served', schema: { type: 'string', const: 'bytes' } };
const CONTENT_DISPOSITION = { description: 'inline, or attachment with download=true; with the file name', schema: { type: 'string' } };

class DocumentBuilder {
  private readonly names = new Map<object, string>();
  readonly components: Record<string, unknown> = {};

  constructor(named: Record<string, TSchema>) {
    for (const [name, schema] of Object.entries(named)) this.names.set(schema, name);
    for (const [name, schema] of Object.entries(named)) this.components[name] = this.plain(schema, schema);
  }

  /** Names one more schema (the WebSocket messages); returns its reference. */
  name(name: string, schema: TSchema): { $ref: string } {
    if (!this.names.has(schema)) {
      this.names.set(schema, name);
      this.components[name] = this.plain(schema, schema);
    }
    return { $ref: `#/components/schemas/${this.names.get(schema)}` };
  }

  /**
   * A TypeBox schema as plain JSON Schema: symbol keys and `$id`s dropped, and each named schema
   * replaced by its reference (except in its own definition).
   */
  plain(schema: TSchema, self?: TSchema): unknown {
    const names = this.names;
    return JSON.parse(
      JSON.stringify(schema, function (key, value: unknown) {
        if (key === '$id') return undefined;
        if (value !== null && typeof value === 'object' && value !== self) {
          const name = names.get(value);
          if (name) return { $ref: `#/components/schemas/${name}` };
        }
        return value;
      }),
    );
  }

  content(types: Record<string, MediaDoc>): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(types).map(([type, m]) => [
        type,
        {
          ...(m.schema ? { schema: this.plain(m.schema) } : {}),
          ...(m.itemSchema ? { 'x-item-schema': this.plain(m.itemSchema) } : {}),
          ...(m.encoding ? { encoding: m.encoding } : {}),
        },
      ]),
    );
  }

  parameters(schema: TSchema | undefined, where: 'path' | 'query' | 'header'): unknown[] {
    const props = (schema?.['properties'] ?? {}) as Record<string, TSchema>;
    const required = new Set((schema?.['required'] as string[] | undefined) ?? []);
    return Object.entries(props).map(([name, s]) => ({
      name,
      in: where,
      required: where === 'path' || required.has(name),
      schema: this.plain(s),
      ...(typeof s['description'] === 'string' ? { description: s['description'] } : {}),
    }));
  }

  errorResponse(e: ErrorDoc, ranges: boolean): unknown {
    const headers: Record<string, unknown> = {};
    if (e.status === 401) headers['WWW-Authenticate'] = { description: 'Bearer realm="sitecall"', schema: { type: 'string' } };
    if ((e.status === 429 || e.status === 503) && e.retryAfter !== false) headers['Retry-After'] = RETRY_AFTER;
    if (e.status === 416 && ranges) headers['Content-Range'] = { description: 'bytes */size: the size of the file', schema: { type: 'string' } };
    return {
      description: e.description ?? ERROR_TEXT[e.status] ?? 'Error',
      ...(Object.keys(headers).length ? { headers } : {}),
      content: { 'application/json': { schema: e.schema ? this.plain(e.schema) : { $ref: '#/components/schemas/Error' } } },
    };
  }

  errorResponses(errors: ErrorDoc[], ranges = false): Record<string, unknown> {
    const byStatus = new Map<number, ErrorDoc>();
    for (const e of errors) byStatus.set(e.status, { ...byStatus.get(e.status), ...e });
    const out: Record<string, unknown> = {};
    for (const status of [...byStatus.keys()].sort((a, b) => a - b)) out[status] = this.errorResponse(byStatus.get(status)!, ranges);
    out['default'] = { description: 'Unexpected error (500): the service log has the details, under the X-Request-Id of the answer', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    return out;
  }
}

/** The errors a route can answer: those it declares, and those its definition implies. */
function errorsOf(r: RouteDef): ErrorDoc[] {
  const declared = (r.errors ?? []).map((e) => (typeof e === 'number' ? { status: e } : e));
  const derived: number[] = [];
  if (r.body || r.query || r.params || r.headers || r.rawBody || r.requestBody) derived.push(400);
  if (r.auth !== 'public') derived.push(401, 403);
  // a body too large, or in a media type or Content-Encoding the route does not take (api/http.ts)
  if (r.body || r.rawBody || r.requestBody) derived.push(413, 415);
  if (r.ranges) derived.push(416);
  // the declared entries come last so that their schema and description win
  return [...derived.map((status) => ({ status })), ...declared];
}

function successOf(b: DocumentBuilder, r: RouteDef): Record<string, unknown> {
  if (r.response) {
    const status = r.status ?? 200;
    return { [status]: { description: SUCCESS_TEXT[status] ?? 'OK', ...(r.responseHeaders ? { headers: r.responseHeaders } : {}), content: { 'application/json': { schema: b.plain(r.response) } } } };
  }
  if (r.produces) {
    const content = b.content(r.produces);
    if (r.ranges) {
      return {
        200: { description: 'The whole file', headers: { 'Accept-Ranges': ACCEPT_RANGES, 'Content-Length': CONTENT_LENGTH, 'Content-Disposition': CONTENT_DISPOSITION }, content },
        206: {
          description: 'The one range asked for in Range',
          headers: {
            'Accept-Ranges': ACCEPT_RANGES,
            'Content-Range': { description: 'bytes start-end/size', schema: { type: 'string', pattern: '^bytes [0-9]+-[0-9]+/[0-9]+$' } },
            'Content-Length': CONTENT_LENGTH,
            'Content-Disposition': CONTENT_DISPOSITION,
          },
          content,
        },
      };
    }
    const status = r.status ?? 200;
    return { [status]: { description: SUCCESS_TEXT[status] ?? 'OK', content } };
  }
  return { 204: { description: SUCCESS_TEXT[204] } };
}

function requestBodyOf(b: DocumentBuilder, r: RouteDef): unknown {
  if (r.requestBody) {
    const maxBytes = r.requestBody.maxBytes ?? r.bodyLimitBytes ?? JSON_BODY_LIMIT_BYTES;
    return { required: true, ...(r.requestBody.description ? { description: r.requestBody.description } : {}), content: b.content(r.requestBody.content), 'x-max-bytes': maxBytes };
  }
  if (r.body) return { required: true, content: { 'application/json': { schema: b.plain(r.body) } }, 'x-max-bytes': r.bodyLimitBytes ?? JSON_BODY_LIMIT_BYTES };
  return undefined;
}

function httpOperation(b: DocumentBuilder, r: RouteDef): unknown {
  const requestBody = requestBodyOf(b, r);
  const rangeHeader = r.ranges
    ? [{ name: 'Range', in: 'header', required: false, description: 'one byte range, e.g. bytes=0-1023 or bytes=-500', schema: { type: 'string', maxLength: 200 } }]
    : [];
  return {
    operationId: r.operationId,
    summary: r.summary,
    tags: [r.tag],
    ...(r.auth === 'public' ? { security: [] } : { 'x-required-scope': r.auth }),
    parameters: [...b.parameters(r.params, 'path'), ...b.parameters(r.query, 'query'), ...b.parameters(r.headers, 'header'), ...rangeHeader],
    ...(requestBody ? { requestBody } : {}),
    responses: { ...successOf(b, r), ...b.errorResponses(errorsOf(r), r.ranges === true) },
  };
}

function webSocketOperation(b: DocumentBuilder, w: WebSocketDoc): unknown {
  const header = (name: string, description: string, schema: object) => ({ name, in: 'header', required: true, description, schema });
  return {
    operationId: w.operationId,
    summary: w.summary,
    description: `WebSocket (RFC 6455). ${w.description}`,
    tags: [w.tag],
    security: [{ bearer: [] }, { queryToken: [] }],
    'x-required-scope': w.auth,
    parameters: [
      ...b.parameters(w.query, 'query'),
      header('Upgrade', 'the WebSocket handshake', { type: 'string', const: 'websocket' }),
      header('Connection', 'the WebSocket handshake: holds Upgrade', { type: 'string' }),
      header('Sec-WebSocket-Key', 'the WebSocket handshake', { type: 'string' }),
      header('Sec-WebSocket-Version', 'the WebSocket handshake', { type: 'string', const: '13' }),
    ],
    responses: {
      101: { description: 'Switching Protocols: the socket is open; see x-websocket for its messages' },
      ...b.errorResponses([...(w.errors ?? []).map((status) => ({ status })), { status: 401 }, { status: 403 }]),
    },
    'x-websocket': {
      maxMessageBytes: w.maxMessageBytes,
      messages: {
        ...(w.client ? { client: b.name(w.client.name, w.client.schema) } : {}),
        server: b.name(w.server.name, w.server.schema),
      },
    },
  };
}

/** The OpenAPI 3.1 document, built from the same route definitions that validate requests. */
export function buildOpenApi(routes: readonly RouteDef[], version: string, websockets: readonly WebSocketDoc[] = WEBSOCKET_DOCS): unknown {
  const b = new DocumentBuilder(NAMED_SCHEMAS);
  const paths: Record<string, Record<string, unknown>> = {};
  const operationIds = new Map<string, string>();
  const add = (path: string, method: string, operationId: string, operation: unknown) => {
    const where = `${method.toUpperCase()} ${path}`;
    // a second definition would silently replace the first in the document
    if (paths[path]?.[method]) throw new Error(`${where} is defined twice`);
    const other = operationIds.get(operationId);
    if (other) throw new Error(`operationId ${operationId} names both ${other} and ${where}`);
    operationIds.set(operationId, where);
    paths[path] ??= {};
    paths[path][method] = operation;
  };
  for (const r of routes) add(r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}'), r.method, r.operationId, httpOperation(b, r));
  for (const w of websockets) add(w.path, 'get', w.operationId, webSocketOperation(b, w));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sitecall API',
      version,
      description: [
        'Call records, active calls and voicemail of a Sitecall appliance.',
        'Authenticate with `Authorization: Bearer <token>`: a session token from POST /api/v1/auth/login, or an API token with scopes (`admin` implies every other scope); each operation names the scope it needs in `x-required-scope`.',
        'Every error has one shape (components/schemas/Error); 400 lists every problem in `details` with its JSON path. Temporary conditions are 503 with Retry-After: send again.',
        'Request bodies are refused with 413 above `x-max-bytes`. Every GET also answers HEAD. Every HTTP answer carries X-Request-Id.',
        'WebSockets: OpenAPI 3.1 has no WebSocket operation, so /api/v1/events/stream and /api/v1/live are each shown as the GET that opens them: 101 when the upgrade is taken, the usual error answers when it is refused. ' +
          'Their messages are in the extension `x-websocket` of the operation: `messages.client` (what the client sends) and `messages.server` (what the service sends), as references into components/schemas, with `maxMessageBytes`. ' +
          'A WebSocket client may pass its token as ?token= instead of the Authorization header.',
      ].join('\n\n'),
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: [...new Set([...routes.map((r) => r.tag), ...websockets.map((w) => w.tag)])].map((name) => ({ name })),
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'a session token (scs_...) or an API token (sct_...)' },
        queryToken: { type: 'apiKey', in: 'query', name: 'token', description: 'WebSockets only: the bearer token as a query parameter' },
      },
      schemas: b.components,
    },
    paths,
  };
}
