import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Scope } from '../../shared/api/auth.js';
import { EVENT_LIMITS } from '../../shared/api/events.js';
import type { ErrorDetail } from '../../shared/api/errors.js';
import { hasScope, type AuthService, type Principal } from '../auth/auth.js';
import type { CallstoreService } from '../callstore/service.js';
import type { SocketHandle } from '../callstore/sources.js';
import { AppError, UnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ChangeFeed } from '../storage/changes.js';
import { bearerOf } from './http.js';
import { LiveFeeds, parseLivePosition, type LiveLog } from './live-feed.js';
import { checkBatchSize } from './routes/events.js';

const HEARTBEAT_MS = 30_000;
const SOURCE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

interface Endpoint {
  scope: Scope;
  maxPayload: number;
  /** checks the query string before the upgrade: a ValidationError refuses it with 400 */
  validate?(url: URL): void;
  open(ws: WebSocket, principal: Principal, log: Logger, url: URL): void;
}

export interface WsDeps {
  auth: AuthService;
  callstore: CallstoreService;
  feed: ChangeFeed;
  /** the change log, which the live feed reads by position */
  changeLog: LiveLog;
  log: Logger;
  /** the service's metrics registry (the live feed's gauges) */
  registry?: Registry;
}

/** The WebSocket endpoints: the event stream of sources and the live feed of the console. */
export function attachWebSockets(server: Server, deps: WsDeps): { close(): void } {
  const live = new LiveFeeds({ feed: deps.feed, log: deps.changeLog, ...(deps.registry ? { registry: deps.registry } : {}) });
  const endpoints: Record<string, Endpoint> = {
    '/api/v1/events/stream': { scope: 'events', maxPayload: EVENT_LIMITS.batchBytes, open: (ws, p, log, url) => eventStream(ws, p, deps, log, url.searchParams.get('source')) },
    '/api/v1/live': {
      scope: 'read',
      maxPayload: 64 * 1024,
      validate: (url) => void parseLivePosition(url.searchParams.get('after')),
      open: (ws, _p, log, url) => live.open(ws, parseLivePosition(url.searchParams.get('after')), log, (what, err) => closeOnFault(ws, log, what, err)),
    },
  };
  const servers = new Map(Object.entries(endpoints).map(([path, e]) => [path, new WebSocketServer({ noServer: true, maxPayload: e.maxPayload })]));
  for (const [path, wss] of servers) wss.on('error', (err: Error) => deps.log.error({ err, ws: path }, 'WebSocket server error'));

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // From the first moment: once node hands the socket over for an upgrade nothing else listens,
    // and a client that resets it while we authenticate would otherwise take the process down.
    socket.on('error', (err: NodeJS.ErrnoException) => deps.log.debug({ code: err.code, msg: err.message }, 'upgrade socket error'));
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return refuse(socket, 400, 'invalid_request', 'The request target is not a valid URL.');
    }
    const endpoint = endpoints[url.pathname];
    const wss = servers.get(url.pathname);
    if (!endpoint || !wss) return refuse(socket, 404, 'not_found', `No WebSocket endpoint at ${url.pathname}.`);
    const token = bearerOf(req) ?? url.searchParams.get('token') ?? undefined;
    if (!token) return refuse(socket, 401, 'unauthorized', 'Authentication required: send an Authorization: Bearer header or ?token=.');
    const upgrade = (principal: Principal) => {
      if (!hasScope(principal, endpoint.scope)) return refuse(socket, 403, 'forbidden', `This credential lacks the "${endpoint.scope}" scope.`);
      const source = url.searchParams.get('source');
      if (source !== null && !SOURCE_ID.test(source)) return refuse(socket, 400, 'invalid_request', 'The source id in ?source= may hold letters, digits and . _ : - only, and starts with a letter or digit.');
      try {
        endpoint.validate?.(url);
      } catch (err) {
        if (err instanceof AppError && err.status === 400) return refuse(socket, 400, err.code, err.message, err.details);
        throw err;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const log = deps.log.child({ ws: url.pathname, who: principal.name });
        // A protocol violation (bad UTF-8, oversize, unmasked, RSV bits, bad close code) is an
        // 'error' on the socket; ws has already closed it with the matching code.
        ws.on('error', (err: Error & { code?: string }) => log.info({ code: err.code, msg: err.message }, 'WebSocket closed on a protocol error'));
        try {
          keepAlive(ws);
          endpoint.open(ws, principal, log, url);
        } catch (err) {
          closeOnFault(ws, log, 'opening the WebSocket', err);
        }
      });
    };
    deps.auth.authenticate(token).then(
      (principal) => {
        try {
          upgrade(principal);
        } catch (err) {
          deps.log.error({ err, ws: url.pathname }, 'WebSocket upgrade failed');
          socket.destroy();
        }
      },
      (err: unknown) => refuse(socket, err instanceof AppError ? err.status : 401, 'unauthorized', err instanceof Error ? err.message : 'Unauthorized.'),
    );
  };
  server.on('upgrade', onUpgrade);
  return {
    close() {
      server.off('upgrade', onUpgrade);
      live.close();
      for (const wss of servers.values()) {
        for (const client of wss.clients) client.close(1001, 'service stopping');
        wss.close();
      }
    },
  };
}

function refuse(socket: Duplex, status: number, code: string, message: string, details?: readonly ErrorDetail[]): void {
  // The client may be gone already (it reset the connection while we authenticated).
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  const body = JSON.stringify({ error: { code, message, ...(details?.length ? { details } : {}) } });
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Our own fault while serving a WebSocket (a bug, never the client's input): logged once, and
 * the socket is closed with 1011 so the peer reconnects, instead of the exception escaping from
 * a socket callback and ending the process.
 */
export function closeOnFault(ws: WebSocket, log: Logger, what: string, err: unknown): void {
  log.error({ err }, `WebSocket failed while ${what}; closing it`);
  if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1011, 'internal error');
}

/** A socket event listener that cannot throw out of the socket: a fault closes this WebSocket only. */
export function guarded<A extends unknown[]>(ws: WebSocket, log: Logger, what: string, listener: (...args: A) => unknown): (...args: A) => void {
  return (...args) => {
    try {
      const result = listener(...args);
      if (result instanceof Promise) result.catch((err: unknown) => closeOnFault(ws, log, what, err));
    } catch (err) {
      closeOnFault(ws, log, what, err);
    }
  };
}

function keepAlive(ws: WebSocket): void {
  let alive = true;
  ws.on('pong', () => (alive = true));
  const timer = setInterval(() => {
    if (!alive) return ws.terminate();
    alive = false;
    ws.ping();
  }, HEARTBEAT_MS);
  timer.unref();
  ws.on('close', () => clearInterval(timer));
}

/**
 * A source's event stream. Each message is taken in as soon as it arrives (so messages that
 * arrive during one commit share the next: group commit), and the acks go back in the order the
 * messages came, each naming the highest seq now stored and any event refused.
 */
function eventStream(ws: WebSocket, principal: Principal, deps: WsDeps, log: Logger, source: string | null): void {
  let acks = Promise.resolve();
  log.info('event stream opened');
  // The sources whose events this socket carries are connected while it is open.
  const socket: SocketHandle = {
    requestSync(source) {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'sync_request', source }));
    },
  };
  ws.on('close', guarded(ws, log, 'disconnecting its sources', () => deps.callstore.socketClosed(socket)));
  // A source that names itself is connected from the first moment, before its first event.
  if (source) deps.callstore.socketOpened(source, socket);
  ws.on(
    'message',
    guarded(ws, log, 'taking in a message', (data: RawData, isBinary: boolean) => {
      const reply = handleMessage(data, isBinary, deps, socket, log);
      // Each link catches its own fault, so one failed ack never stalls the acks behind it.
      acks = acks
        .then(async () => {
          const body = await reply;
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(body));
        })
        .catch((err: unknown) => closeOnFault(ws, log, 'sending an ack', err));
    }),
  );
  ws.on('close', (code) => log.info({ code, who: principal.name }, 'event stream closed'));
}

async function handleMessage(data: RawData, isBinary: boolean, deps: WsDeps, socket: SocketHandle, log: Logger): Promise<object> {
  try {
    if (isBinary) throw new AppError(400, 'invalid_request', 'Send events as text messages (JSON).');
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch (err) {
      throw new AppError(400, 'invalid_json', `The message is not valid JSON: ${(err as Error).message}.`);
    }
    const items = Array.isArray(parsed) ? parsed : [parsed];
    checkBatchSize(items.length);
    // ingest() takes the events in synchronously, in arrival order; only storing is awaited.
    const report = await deps.callstore.ingest(items, [], socket);
    return { ack: report.highestSeq, stored: report.stored, duplicates: report.duplicates, ...(report.rejected.length ? { rejected: report.rejected } : {}), ...(report.truncated ? { truncated: report.truncated } : {}) };
  } catch (err) {
    const e = err instanceof AppError ? err : new AppError(500, 'internal', 'The events could not be stored; send them again.');
    if (!(err instanceof AppError)) log.error({ err }, 'event stream message failed');
    // A temporary refusal says when to send the message again, as Retry-After does over HTTP.
    const retryAfter = e instanceof UnavailableError ? e.retryAfterSec : undefined;
    return { ack: null, error: { code: e.code, message: e.message, ...(retryAfter !== undefined ? { retryAfter } : {}) } };
  }
}
