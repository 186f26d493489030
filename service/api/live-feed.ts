import { Counter, Gauge, type Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import { LivePosition, type LiveChange, type LiveMessage } from '../../shared/api/live.js';
import { ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactSecrets } from '../secrets.js';
import type { Change, ChangeFeed } from '../storage/changes.js';
import type { VersionedDoc } from '../storage/changelog/core/merge.js';
import { policyOf } from '../storage/changelog/kinds.js';
import { LogCompactedError, type LogEntry, type SinceVector } from '../storage/changelog/reader.js';
import { LogTail, type TailSource } from '../storage/changelog/tail.js';
import { validator } from '../validation.js';

/** The collections the console may watch; users, tokens and sessions never leave the service. */
export const LIVE_COLLECTIONS: readonly string[] = ['calls', 'cdrs', 'config', 'limits', 'mwi', 'profiles', 'sites'];
/** Where a collection's name on the feed is not the kind of its entries in the change log: the call records are `cdr` entries. */
const LOG_KIND_OF_COLLECTION: Readonly<Record<string, string>> = { cdrs: 'cdr' };
/** The change log's kind of the entries of a live collection. */
export function logKindOf(collection: string): string {
  return LOG_KIND_OF_COLLECTION[collection] ?? collection;
}
/** Changes without a position are gathered this long and sent together, the last state of each document only. */
export const LIVE_BATCH_MS = 200;
/**
 * Past this much unsent on a socket the feed stops reading the log for it until the socket drains
 * (it goes on from its position then), and drops the changes without a position (it says
 * `resync` once drained). What a connection holds is this, one page and its coalescing map.
 */
export const LIVE_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Log entries read at a time per connection. */
export const LIVE_PAGE_ENTRIES = 100;
/**
 * The most records (add-only kinds: the call records) a connection that resumes is sent of what
 * was written before it connected. A console away for an hour of a busy site would be sent
 * hundreds of thousands, none coalesced (each is a record of its own) and most never shown; past
 * this many the feed passes over the rest of that backlog (reading the other kinds on) and then
 * says `resync` for those collections: the console loads them again over REST, as after a resync.
 */
export const LIVE_MAX_CATCHUP_RECORDS = 500;

/** What the feed reads the log through: the service's ChangeLog. */
export interface LiveLog extends TailSource {
  head(): SinceVector;
  /** the merged version a key holds now (document kinds) */
  document(kind: string, key: string): VersionedDoc | undefined;
  /** resolves once every committed entry so far has reached its stores (and so the REST answers) */
  drained(): Promise<void>;
}

/** Whether the change log carries a kind: the collections whose kind it carries are read from it by position. */
function logCarries(kind: string): boolean {
  try {
    policyOf(kind);
    return true;
  } catch {
    return false;
  }
}

function addOnly(kind: string): boolean {
  return policyOf(kind) === 'add-only';
}

const positionCheck = validator(LivePosition);

/**
 * The position a client gives with `?after=`: the `position` of the last message it took, as
 * JSON. Absent: undefined (the client starts from now and loads what it shows). Malformed: a
 * ValidationError naming the value.
 */
export function parseLivePosition(raw: string | null): SinceVector | undefined {
  if (raw === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ValidationError('The position in ?after= is not JSON: send the `position` of the last live message, as JSON.', [{ path: '/after', message: 'is not JSON' }]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('The position in ?after= must be a JSON object of origin to seq (the `position` of the last live message).', [{ path: '/after', message: 'must be an object' }]);
  }
  return positionCheck.parse(value, 'The position in ?after=', '/after');
}

interface Connection {
  ws: WebSocket;
  /** waiting for the socket to drain before reading on */
  waiting: boolean;
  /** stops reading the log and the feed for it (the socket closes, or the service stops) */
  end(): void;
}

export interface LiveFeedDeps {
  feed: ChangeFeed;
  log: LiveLog;
  /** the service's metrics registry: the feed reports its connections and what they have unsent */
  registry?: Registry;
}

/**
 * The console's live feed: the positioned collections (those the change log carries: the
 * configuration and the call records) are read from the log after the client's position, a page
 * at a time, coalesced to the last version of each document, and then followed; the others come
 * from the ChangeFeed as they happen, gathered for 200 ms. Every message carries the client's new
 * position.
 */
export class LiveFeeds {
  readonly positioned: readonly string[] = LIVE_COLLECTIONS.filter((c) => logCarries(logKindOf(c)));
  /** the log's kinds the feed reads, and the collection each is sent as */
  private readonly collectionOfKind = new Map(this.positioned.map((c) => [logKindOf(c), c]));
  private readonly kinds: readonly string[] = [...this.collectionOfKind.keys()];
  /** the add-only ones: capped when a connection catches up (LIVE_MAX_CATCHUP_RECORDS) */
  private readonly recordKinds = new Set(this.kinds.filter(addOnly));
  private readonly unpositioned = new Set(LIVE_COLLECTIONS.filter((c) => !this.positioned.includes(c)));
  private readonly connections = new Set<Connection>();
  private readonly droppedChanges: Counter | undefined;

  constructor(private readonly deps: LiveFeedDeps) {
    if (deps.registry) {
      this.droppedChanges = new Counter({
        name: 'sitecall_live_dropped_changes_total',
        help: 'changes without a position dropped for live feed connections that fell behind (each then told to resync)',
        registers: [deps.registry],
      });
      const connections = this.connections;
      new Gauge({
        name: 'sitecall_live_connections',
        help: 'open connections of the live feed',
        registers: [deps.registry],
        collect() {
          this.set(connections.size);
        },
      });
      new Gauge({
        name: 'sitecall_live_buffered_bytes',
        help: 'bytes the live feed has queued on its sockets and not yet handed to the network',
        registers: [deps.registry],
        collect() {
          let sum = 0;
          for (const c of connections) sum += c.ws.bufferedAmount;
          this.set(sum);
        },
      });
      new Gauge({
        name: 'sitecall_live_waiting_connections',
        help: 'live feed connections that stopped reading the change log until their socket drains',
        registers: [deps.registry],
        collect() {
          let n = 0;
          for (const c of connections) if (c.waiting) n++;
          this.set(n);
        },
      });
    }
  }

  /** Serves one connection; `fail` closes it on our own fault. */
  open(ws: WebSocket, after: SinceVector | undefined, log: Logger, fail: (what: string, err: unknown) => void): void {
    let closed = false;
    let onClosed!: () => void;
    const closedNow = new Promise<void>((resolve) => (onClosed = resolve));
    let lastWrite: Promise<void> = Promise.resolve();
    let helloSent = false;
    /** what the client has been sent of the log */
    let position: SinceVector = {};
    let tail: LogTail | undefined;

    const send = (msg: LiveMessage) => {
      if (ws.readyState !== ws.OPEN) return;
      // The callback runs once the frame is handed to the network (or the socket failed): the drain signal.
      lastWrite = new Promise((resolve) => ws.send(JSON.stringify(msg), () => resolve()));
    };
    const overLimit = () => ws.bufferedAmount > LIVE_MAX_BUFFERED_BYTES;
    const socketDrained = async () => {
      while (!closed && overLimit()) {
        conn.waiting = true;
        const written = lastWrite;
        await Promise.race([written, closedNow]);
        // The last frame is out but more is queued than it (should not happen): look again shortly.
        if (!closed && overLimit() && written === lastWrite) await Promise.race([delay(50), closedNow]);
      }
      conn.waiting = false;
    };

    // Collections without a position: from the ChangeFeed, coalesced for LIVE_BATCH_MS.
    let pending = new Map<string, Change>();
    let timer: NodeJS.Timeout | undefined;
    let dropped = false;
    const flush = () => {
      timer = undefined;
      if (closed || pending.size === 0) return;
      if (!helloSent) {
        timer = setTimeout(flush, LIVE_BATCH_MS);
        return;
      }
      if (overLimit()) {
        this.droppedChanges?.inc(pending.size);
        pending = new Map();
        if (dropped) return;
        dropped = true;
        void socketDrained().then(() => {
          if (closed) return;
          dropped = false;
          send({ type: 'resync', reason: 'the console fell behind and changes of calls, counts or sites were dropped; reload them', collections: [...this.unpositioned], position });
        });
        return;
      }
      // The documents as a `read` client may see them: a secret in the configuration stays in the service.
      const changes: LiveChange[] = [...pending.values()].map((c) => ({ collection: c.collection, op: c.op, id: c.id, doc: redactSecrets(c.doc) }));
      pending = new Map();
      send({ type: 'changes', changes, position });
    };
    const unsubscribe = this.deps.feed.subscribe((change) => {
      if (!this.unpositioned.has(change.collection) || dropped) return;
      pending.set(`${change.collection}\u0000${change.id}`, change);
      timer ??= setTimeout(flush, LIVE_BATCH_MS);
    }, { collections: [...this.unpositioned] });

    const conn: Connection = {
      ws,
      waiting: false,
      end: () => {
        if (closed) return;
        closed = true;
        this.connections.delete(conn);
        unsubscribe();
        clearTimeout(timer);
        tail?.close();
        onClosed();
      },
    };
    this.connections.add(conn);
    ws.on('close', () => {
      conn.end();
      log.debug('live feed closed');
    });

    // Collections with a position: from the change log.
    const follow = async () => {
      const source = this.deps.log;
      const start = await this.startOf(after);
      if (closed) return;
      position = start.position;
      send({ type: 'hello', collections: [...LIVE_COLLECTIONS], positioned: [...this.positioned], position });
      helloSent = true;
      if (start.reload) send({ type: 'reload', reason: start.reload, position });
      /** what the log held when the connection began: records up to it are its backlog, capped */
      const backlogEnd = this.deps.log.head();
      let backlogRecords = 0;
      const inBacklog = (e: LogEntry) => e.seq <= (backlogEnd[e.origin] ?? 0);
      /**
       * Reads on to `upTo` (at least) the entries of the kinds other than records, sending them
       * as usual; the records up to where it stops are passed over. Reads the log itself rather
       * than through a tail, which would wait at the end for an entry of those kinds.
       */
      const passOverRecords = async (upTo: SinceVector) => {
        const others = this.kinds.filter((k) => !this.recordKinds.has(k));
        while (!covers(position, upTo)) {
          if (others.length === 0) {
            position = { ...position, ...Object.fromEntries(Object.entries(upTo).filter(([o, seq]) => seq > (position[o] ?? 0))) };
            return;
          }
          await socketDrained();
          if (closed) return;
          const { entries, through } = source.sinceOfKinds(position, LIVE_PAGE_ENTRIES, others);
          const moved = Object.keys(through).some((o) => through[o] !== position[o]);
          position = through;
          const changes = this.coalesce(entries);
          if (changes.length) send({ type: 'changes', changes, position });
          if (!moved) return; // at the end of the log (it held upTo when it began: only a restored log could stop short)
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      };
      for (;;) {
        tail = new LogTail(source, { from: position, pageSize: LIVE_PAGE_ENTRIES, kinds: this.kinds });
        try {
          for (;;) {
            await socketDrained();
            if (closed) return;
            const page = await tail.next();
            if (page.length === 0) return; // closed
            backlogRecords += page.filter((e) => this.recordKinds.has(e.kind) && inBacklog(e)).length;
            if (backlogRecords > LIVE_MAX_CATCHUP_RECORDS) {
              // Too many records missed: pass over the rest of the backlog's (position stays before this page).
              tail.close();
              await passOverRecords(backlogEnd);
              if (closed) return;
              backlogRecords = 0;
              for (const k of Object.keys(backlogEnd)) delete backlogEnd[k];
              // What was passed over is in the stores once they drained: a reload over REST then sees it.
              await Promise.race([this.deps.log.drained(), closedNow]);
              if (closed) return;
              const collections = [...this.recordKinds].map((k) => this.collectionOfKind.get(k) as string);
              send({ type: 'resync', reason: `More than ${LIVE_MAX_CATCHUP_RECORDS} call records were written while the console was away; they are not sent one by one: reload them`, collections, position });
              break;
            }
            position = tail.position;
            const changes = this.coalesce(page);
            if (changes.length) send({ type: 'changes', changes, position });
            // Caught up: let the next changes gather for a moment, so a busy document goes once.
            if (page.length < LIVE_PAGE_ENTRIES) await Promise.race([delay(LIVE_BATCH_MS), closedNow]);
          }
        } catch (err) {
          if (!(err instanceof LogCompactedError)) throw err;
          tail.close();
          const again = await this.startOf(undefined);
          if (closed) return;
          log.info({ origin: err.origin, after: err.after, base: err.base }, 'live feed reader fell behind the compacted log; told to reload');
          position = again.position;
          send({ type: 'reload', reason: `The change log no longer holds the changes after your position (compacted up to ${err.base}): reload what is shown.`, position });
        }
      }
    };
    follow().catch((err: unknown) => fail('reading the change log', err));
  }

  /**
   * At the service's stop, before the log closes: every connection stops reading it. One that
   * waits for its socket to drain would not take the closing handshake either (it sits behind
   * megabytes the client does not read), so it is ended at once instead of holding up the stop.
   */
  close(): void {
    for (const c of [...this.connections]) {
      const stuck = c.waiting;
      c.end();
      if (stuck) c.ws.terminate();
    }
  }

  /**
   * Where a connection starts: the client's position when the log holds what comes after it;
   * otherwise the current end of the log, once everything up to it has reached the stores (so a
   * client that reloads over REST then sees all of it, and the feed sends what comes after).
   */
  private async startOf(after: SinceVector | undefined): Promise<{ position: SinceVector; reload?: string }> {
    const head = this.deps.log.head();
    if (after) {
      // A position past the end of an origin's log is not of this log (a data directory restored from a backup).
      const ahead = Object.keys(after).find((o) => o in head && (after[o] ?? 0) > (head[o] ?? 0));
      if (ahead === undefined) return { position: { ...after } };
      await this.deps.log.drained();
      return { position: head, reload: `Your position is past the end of this service's change log (${ahead}): reload what is shown.` };
    }
    await this.deps.log.drained();
    return { position: head };
  }

  /** The last version of each document a page changed, in the order of their last entries. */
  private coalesce(page: readonly LogEntry[]): LiveChange[] {
    const last = new Map<string, LogEntry>();
    for (const e of page) {
      if (!this.collectionOfKind.has(e.kind)) continue;
      const id = `${e.kind}\u0000${e.key}`;
      last.delete(id);
      last.set(id, e);
    }
    return [...last.values()].map((e) => {
      // A document kind sends what the key holds now (the merge may have kept another version than
      // this entry's: a concurrent write of a peer); an add-only record is its entry.
      const current = addOnly(e.kind) ? undefined : this.deps.log.document(e.kind, e.key);
      const deleted = current ? current.tombstone : e.body === null;
      const doc = current ? current.body : e.body;
      const collection = this.collectionOfKind.get(e.kind) as string;
      return { collection, op: deleted ? 'delete' : 'put', id: e.key, doc: deleted ? null : redactSecrets(doc), origin: e.origin, seq: e.seq };
    });
  }
}

/** Whether a position holds everything up to another, origin by origin. */
function covers(position: SinceVector, upTo: SinceVector): boolean {
  return Object.entries(upTo).every(([origin, seq]) => (position[origin] ?? 0) >= seq);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
