import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ChangeLog, GroupWriter } from './changelog/log.js';

export type Durability = 'fsync' | 'os';

/** What the journal needs to know of an event; the rest of it is stored as it is. */
export interface JournalEvent {
  /** unique per instance: a second event with the same id is a duplicate */
  id: string;
  callId: string;
  /** the event's time, kept beside its body (the body is stored without it) */
  tsMs: number;
}

/** The body of an `event` entry of the change log. */
export interface EventEntryBody<E> {
  instance: string;
  receivedAt: number;
  tsMs: number;
  /** the event without `tsMs` */
  event: Omit<E, 'tsMs'>;
}

/** The kind of the change log's entries that carry raw events (kinds.ts). */
export const EVENT_KIND = 'event';

/** Calls `each` with up to ROWS_PER_STATEMENT rows of `width` parameters at a time, and their number of rows. */
function inChunks<P>(params: readonly P[], width: number, each: (rows: number, params: P[]) => void): void {
  for (let at = 0; at < params.length; at += ROWS_PER_STATEMENT * width) {
    const chunk = params.slice(at, at + ROWS_PER_STATEMENT * width);
    each(chunk.length / width, chunk);
  }
}

/** `(?, ?, …), …`: the VALUES of a multi-row INSERT of `rows` rows of `width` columns. */
function placeholders(rows: number, width: number): string {
  const row = `(${Array.from({ length: width }, () => '?').join(', ')})`;
  return Array.from({ length: rows }, () => row).join(', ');
}

/** What an old journal file is renamed to once its active calls are in the log. */
export const LEGACY_SUFFIX = '.pre-log';

/** the longest a finished call's write waits for a group opened by an append (finish) */
const FINISH_WITHIN_MS = 50;

/** the logs whose entries the journal holds from compaction already */
const HELD = new WeakSet<ChangeLog>();
/** the logs whose received events are indexed already (EventJournal.prepare) */
const PREPARED = new WeakSet<ChangeLog>();
const FINISH_STATEMENTS = new WeakMap<ChangeLog, Database.Statement>();

/**
 * What the journal does with the events peers send (Active-Passive across sites, design section
 * 7): each is indexed for the instance of this site that holds the calls of its group (its
 * holder), made active there, and handed to it once the commit that took it in is done.
 */
export interface ReceivedEvents<E> {
  /** the instance of this site holding the calls of the group of the peer's instance named in an event, if there is one */
  holderOf(instance: string): string | undefined;
  /** a peer's events indexed for `holder`, after their commit, in log order */
  indexed(holder: string, events: { event: E; receivedAt: number }[]): void;
}

/**
 * How the records of calls name their dialogs (the callstore's `cdr` entries): a log taken in
 * without the journal's rows (replayed into an empty data directory) makes the dialogs of its own
 * events active again, but not those a record of this site finished. Their records are written
 * and a dialog with a record is finished, so folding such a call again would only make a second
 * record, and one with the stragglers that came after the first (kept in the journal, not in the
 * record): the store would keep that one (more events), and the replay would not serve what the
 * site served.
 */
export interface LoggedRecords<E> {
  /** the kind of the record entries */
  kind: string;
  /** the dialogs a record's body names */
  dialogsOf(body: unknown): readonly string[];
  /** an event after its dialog's record that makes it active again (a resync reopening it), not a straggler */
  reopens(event: E): boolean;
}

export interface EventJournalOptions<E extends JournalEvent> {
  /** the callstore instance whose events these are */
  instance: string;
  durability: Durability;
  /** the dialogs an event makes active (its own, and the other one of a link) */
  dialogsOf(event: E): readonly string[];
  /**
   * a journal file of this instance from before the change log (`callstore/<name>/journal.sqlite`):
   * the events of its active calls are adopted at open, then it is renamed (LEGACY_SUFFIX)
   */
  legacyFile?: string;
}

// journal_events is an index of the log's `event` entries (by origin and seq, as `entries` stores
// them: a log replayed into another data directory keeps its origin ids): the body is stored
// once, in the entry.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS journal_events (
    instance TEXT NOT NULL,
    id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    origin INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (instance, id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS journal_events_call ON journal_events(instance, call_id);
  CREATE INDEX IF NOT EXISTS journal_events_received ON journal_events(received_at);
  CREATE TABLE IF NOT EXISTS journal_active (
    instance TEXT NOT NULL,
    call_id TEXT NOT NULL,
    PRIMARY KEY (instance, call_id)
  ) WITHOUT ROWID;
`;

/** an event's row, pointing at its entry; a duplicate id changes nothing */
const INSERT_EVENT = 'INSERT OR IGNORE INTO journal_events (instance, id, received_at, call_id, origin, seq) VALUES (?, ?, ?, ?, ?, ?)';
const INSERT_ACTIVE = 'INSERT OR IGNORE INTO journal_active (instance, call_id) VALUES (?, ?)';
/**
 * rows per statement of an append: the index rows of a message's new events go in multi-row
 * INSERTs, the ids already stored are looked up in one SELECT ... IN per so many, the dialogs
 * made active in multi-row INSERT OR IGNOREs (a statement a row cost more than its b-tree work)
 */
const ROWS_PER_STATEMENT = 32;

/**
 * The raw event journal of one callstore instance, in the change log's own database: every event
 * is an `event` entry of the log and a row of `journal_events` that indexes it (by id, dialog and
 * time received, pointing at the entry's seq), written in the same group transaction of the log's
 * connection, so neither holds an event the other lacks; the body is stored once, in the entry.
 * The index answers what the log cannot answer cheaply (the events of a dialog, whether a dialog
 * was seen); its rows are purged by the raw-event retention on their own schedule, and the log's
 * compaction keeps every entry from the lowest one the index still names (holdEntries).
 * `journal_active` names the dialogs of calls not finished yet, whose events restore the active
 * calls at a start.
 *
 * Writes join the log's group transaction, which commits on the next turn of the event loop
 * (group commit). `flush()` resolves once it committed: a kill of the process keeps it; with
 * durability `fsync` (state_save `transactional`) the commit is fsync'd, so a power loss does too.
 */
export class EventJournal<E extends JournalEvent> {
  readonly instance: string;
  private fsync: boolean;
  private readonly dialogsOf: (event: E) => readonly string[];
  /** this site's origin id in `entries`: the origin of the entries it appends */
  private readonly origin: number;
  /** the start of every entry body's text: `{"instance":"<name>","receivedAt":` */
  private readonly bodyPrefix: string;
  private readonly db: Database.Database;
  private readonly insertEvent: Database.Statement;
  private readonly insertActive: Database.Statement;
  /** by number of rows (1 to ROWS_PER_STATEMENT): the statements of `append` */
  private readonly storedOfIds = new Map<number, Database.Statement>();
  private readonly insertEvents = new Map<number, Database.Statement>();
  private readonly insertActives = new Map<number, Database.Statement>();
  private readonly deleteActive: Database.Statement;
  private readonly selectByCall: Database.Statement;
  private readonly selectAnyOfCall: Database.Statement;
  private readonly selectActive: Database.Statement;
  private readonly purge: Database.Statement;
  private readonly countAll: Database.Statement;

  private constructor(
    private readonly log: ChangeLog,
    opts: EventJournalOptions<E>,
  ) {
    this.instance = opts.instance;
    this.fsync = opts.durability === 'fsync';
    this.dialogsOf = opts.dialogsOf;
    this.bodyPrefix = `{"instance":${JSON.stringify(opts.instance)},"receivedAt":`;
    this.db = log.database;
    this.origin = log.localOriginId;
    this.insertEvent = this.db.prepare(INSERT_EVENT);
    this.insertActive = this.db.prepare(INSERT_ACTIVE);
    this.deleteActive = this.db.prepare('DELETE FROM journal_active WHERE instance = ? AND call_id = ?');
    this.selectByCall = this.db.prepare('SELECT e.body AS body FROM journal_events j JOIN entries e ON e.origin = j.origin AND e.seq = j.seq WHERE j.instance = ? AND j.call_id = ?');
    this.selectAnyOfCall = this.db.prepare('SELECT 1 FROM journal_events WHERE instance = ? AND call_id = ? LIMIT 1');
    this.selectActive = this.db.prepare(
      'SELECT e.body AS body, j.origin AS origin FROM journal_active a JOIN journal_events j ON j.instance = a.instance AND j.call_id = a.call_id JOIN entries e ON e.origin = j.origin AND e.seq = j.seq WHERE a.instance = ?',
    );
    this.purge = this.db.prepare('DELETE FROM journal_events WHERE instance = ? AND received_at < ? AND call_id NOT IN (SELECT call_id FROM journal_active WHERE instance = ?)');
    this.countAll = this.db.prepare('SELECT count(*) AS n FROM journal_events WHERE instance = ?');
  }

  /** Creates the journal's tables in the log's database if need be, and holds the entries they index from compaction. */
  static createSchema(log: ChangeLog): void {
    log.transaction(() => log.database.exec(SCHEMA));
    if (HELD.has(log)) return;
    HELD.add(log);
    // a scan of the index, run at compaction only (at start and every few hours)
    const lowest = log.database.prepare('SELECT min(seq) AS seq FROM journal_events WHERE origin = ?');
    log.holdEntries((originId) => (lowest.get(originId) as { seq: number | null }).seq ?? undefined);
  }

  /**
   * Indexes the log's `event` entries the index does not name yet, of every instance: those a log
   * took in without writing them here (a log replayed into an empty data directory, a peer's
   * entries). A local append indexes its entry in the same transaction, so per origin only the
   * entries after the highest seq the index names can be missing, and this is a range read of the
   * log's primary key that finds nothing on an ordinary start. The dialogs of this site's own
   * events indexed here are made active, but those a record of this site finished (`records`,
   * LoggedRecords: unless an event after the record reopened the dialog): a call that had not
   * finished is an active call again, as it was, and one that had keeps the record it has.
   * Without `records`, a finished call folds again at the instance's start and is recorded again.
   */
  static indexLoggedEvents<E extends JournalEvent>(log: ChangeLog, dialogsOf: (event: E) => readonly string[], holderOf?: (instance: string) => string | undefined, records?: LoggedRecords<E>): number {
    const db = log.database;
    const origins = db.prepare('SELECT id FROM origins').pluck().all() as number[];
    const highest = db.prepare('SELECT max(seq) AS seq FROM journal_events WHERE origin = ?').pluck();
    const page = db.prepare(`SELECT seq, key, body FROM entries WHERE origin = ? AND seq > ? AND kind = '${EVENT_KIND}' ORDER BY seq LIMIT 2000`);
    const insertEvent = db.prepare(INSERT_EVENT);
    const insertActive = db.prepare(INSERT_ACTIVE);
    let indexed = 0;
    // per dialog, the last of this site's records that names it (read once, and only when own events are taken in here)
    let finished: Map<string, number> | undefined;
    const finishedAt = (): Map<string, number> => {
      if (finished) return finished;
      finished = new Map();
      if (!records) return finished;
      const rows = db.prepare('SELECT seq, body FROM entries WHERE origin = ? AND kind = ? AND body IS NOT NULL').iterate(log.localOriginId, records.kind) as Iterable<{ seq: number; body: string }>;
      for (const r of rows) for (const d of records.dialogsOf(JSON.parse(r.body) as unknown)) finished.set(d, Math.max(finished.get(d) ?? 0, r.seq));
      return finished;
    };
    for (const origin of origins) {
      let after = (highest.get(origin) as number | null) ?? 0;
      for (;;) {
        const rows = page.all(origin, after) as { seq: number; key: string; body: string | null }[];
        if (rows.length === 0) break;
        log.transaction(() => {
          for (const row of rows) {
            if (row.body === null) continue;
            const { instance, receivedAt, tsMs, event } = JSON.parse(row.body) as EventEntryBody<E>;
            const full = { ...event, tsMs } as E;
            const own = origin === log.localOriginId;
            const name = own ? instance : (holderOf?.(instance) ?? instance);
            if (insertEvent.run(name, full.id ?? row.key, receivedAt, full.callId, origin, row.seq).changes !== 1) continue;
            // A peer's calls are not made active here: whether their record came is not known
            // without reading every record (a log replayed into an empty data directory).
            if (own) {
              for (const id of dialogsOf(full)) {
                // a dialog a record of this site finished stays finished, unless an event after the record reopened it
                const recordedAt = records ? finishedAt().get(id) : undefined;
                if (recordedAt === undefined || (row.seq > recordedAt && records?.reopens(full) === true)) insertActive.run(instance, id);
              }
            }
            indexed++;
          }
        });
        after = (rows[rows.length - 1] as { seq: number }).seq;
      }
    }
    return indexed;
  }

  /**
   * Indexes each `event` entry a peer sends, in the transaction of `receive` that takes it in, as
   * the start does for entries taken in without their rows. With `received`, a peer's event is
   * indexed for the holder of its group here (so an event a source sent to both sites is stored
   * once per instance: the second copy is a duplicate by id), made active there (a restart folds
   * it again; the record of its call, when it comes from the active site, finishes its dialogs:
   * finishDialogs), and handed to the holder after the commit. An event whose group has no holder
   * here is indexed under the peer's instance, not active: nothing here folds it. Entries of this
   * site's own origin (a replay) are made active, as at start.
   */
  static indexReceivedEvents<E extends JournalEvent>(log: ChangeLog, dialogsOf: (event: E) => readonly string[], received?: ReceivedEvents<E>): () => void {
    const insertEvent = log.database.prepare(INSERT_EVENT);
    const insertActive = log.database.prepare(INSERT_ACTIVE);
    const stillThere = log.database.prepare('SELECT 1 FROM journal_events WHERE instance = ? AND id = ? AND origin = ? AND seq = ?');
    // taken in, waiting for the commit; a receive that rolled back leaves rows that are gone (checked at the hand-over)
    let pending: { holder: string; id: string; originId: number; seq: number; event: E; receivedAt: number }[] = [];
    const offReceive = log.onReceive((entry, originId) => {
      if (entry.kind !== EVENT_KIND || entry.body === null) return;
      const { instance, receivedAt, tsMs, event } = entry.body as EventEntryBody<E>;
      const full = { ...event, tsMs } as E;
      const own = originId === log.localOriginId;
      const holder = own ? undefined : received?.holderOf(instance);
      const name = holder ?? instance;
      const id = full.id ?? entry.key;
      if (insertEvent.run(name, id, receivedAt, full.callId, originId, entry.seq).changes !== 1) return;
      if (own || holder !== undefined) for (const d of dialogsOf(full)) insertActive.run(name, d);
      if (holder !== undefined) pending.push({ holder, id, originId, seq: entry.seq, event: full, receivedAt });
    });
    const offCommit = log.onCommit(() => {
      if (pending.length === 0 || !received) return;
      const taken = pending;
      pending = [];
      const byHolder = new Map<string, { event: E; receivedAt: number }[]>();
      for (const p of taken) {
        if (stillThere.get(p.holder, p.id, p.originId, p.seq) === undefined) continue;
        let list = byHolder.get(p.holder);
        if (!list) byHolder.set(p.holder, (list = []));
        list.push({ event: p.event, receivedAt: p.receivedAt });
      }
      for (const [holder, events] of byHolder) received.indexed(holder, events);
    });
    return () => {
      offReceive();
      offCommit();
    };
  }

  /**
   * Creates the journal's tables, indexes what the log holds without rows, and indexes the
   * events peers will send (with `received`: for the holders of their groups here). Once per
   * log; the first `open` does it (without `received`) if the service did not before.
   */
  static prepare<E extends JournalEvent>(log: ChangeLog, dialogsOf: (event: E) => readonly string[], received?: ReceivedEvents<E>, records?: LoggedRecords<E>): void {
    if (PREPARED.has(log)) return;
    PREPARED.add(log);
    EventJournal.createSchema(log);
    EventJournal.indexLoggedEvents(log, dialogsOf, received?.holderOf, records);
    EventJournal.indexReceivedEvents(log, dialogsOf, received);
  }

  /**
   * The dialogs leave the active set of these instances: a peer's record of their call came (in
   * the transaction of `receive` that takes it in), so no instance here writes one of its own.
   */
  static finishDialogs(log: ChangeLog, instances: readonly string[], callIds: readonly string[]): void {
    if (instances.length === 0 || callIds.length === 0) return;
    let del = FINISH_STATEMENTS.get(log);
    if (!del) FINISH_STATEMENTS.set(log, (del = log.database.prepare('DELETE FROM journal_active WHERE instance = ? AND call_id = ?')));
    for (const instance of instances) for (const id of callIds) del.run(instance, id);
  }

  /** Opens the journal of an instance, adopting the active calls of its journal file from before the log. */
  static async open<E extends JournalEvent>(log: ChangeLog, opts: EventJournalOptions<E>): Promise<EventJournal<E>> {
    EventJournal.prepare(log, opts.dialogsOf);
    const journal = new EventJournal<E>(log, opts);
    if (opts.legacyFile && existsSync(opts.legacyFile)) await journal.adopt(opts.legacyFile);
    return journal;
  }

  /** The durability its commits get now: `fsync` for state_save transactional. */
  get durability(): Durability {
    return this.fsync ? 'fsync' : 'os';
  }

  /** From the next write on, commits are fsync'd (or not) as this says. */
  setDurability(durability: Durability): void {
    this.fsync = durability === 'fsync';
  }

  /**
   * Stores the events not stored yet, each with its entry in the log; returns, per event, whether
   * it was new (its id not stored yet for this instance, nor earlier in the same message). The ids
   * stored already are looked up in one SELECT per ROWS_PER_STATEMENT, and the new events' index
   * rows, the dialogs they make active (once each per message) and their entries go in multi-row
   * INSERTs (the index row names the seq its entry gets: the seqs are known before). All of it in
   * the log's group transaction: an event is never in the index without its entry or the reverse.
   */
  append(events: readonly E[], receivedAt: number): boolean[] {
    return this.log.write(
      (w) => {
        const stored = this.storedIds(events);
        const first = w.nextSeq();
        const records: { key: string; body: EventEntryBody<E>; text: string }[] = [];
        const rows: (string | number)[] = [];
        const activated = new Set<string>();
        const fresh = events.map((e) => {
          if (stored.has(e.id)) return false;
          // a second copy in the same message is a duplicate too
          stored.add(e.id);
          rows.push(this.instance, e.id, receivedAt, e.callId, this.origin, first + records.length);
          const { tsMs, ...rest } = e;
          for (const id of this.dialogsOf(e)) activated.add(id);
          records.push({ key: e.id, body: { instance: this.instance, receivedAt, tsMs, event: rest }, text: `${this.bodyPrefix}${receivedAt},"tsMs":${tsMs},"event":${JSON.stringify(rest)}}` });
          return true;
        });
        inChunks(rows, 6, (n, params) => this.statement(this.insertEvents, n, () => `INSERT INTO journal_events (instance, id, received_at, call_id, origin, seq) VALUES ${placeholders(n, 6)}`).run(params));
        const active: string[] = [];
        for (const id of activated) active.push(this.instance, id);
        inChunks(active, 2, (n, params) => this.statement(this.insertActives, n, () => `INSERT OR IGNORE INTO journal_active (instance, call_id) VALUES ${placeholders(n, 2)}`).run(params));
        if (records.length) w.appendRecords(EVENT_KIND, records);
        return fresh;
      },
      { fsync: this.fsync },
    ).result;
  }

  /** The ids of these events that this instance's index holds already. */
  private storedIds(events: readonly E[]): Set<string> {
    const stored = new Set<string>();
    const ids = events.map((e) => e.id);
    inChunks(ids, 1, (n, params) => {
      const select = this.statement(this.storedOfIds, n, () => `SELECT id FROM journal_events WHERE instance = ? AND id IN (${Array.from({ length: n }, () => '?').join(', ')})`);
      for (const row of select.raw(true).all(this.instance, ...params) as [string][]) stored.add(row[0]);
    });
    return stored;
  }

  /** The statement of `rows` rows of a kind, made once. */
  private statement(cache: Map<number, Database.Statement>, rows: number, sql: () => string): Database.Statement {
    let stmt = cache.get(rows);
    if (!stmt) cache.set(rows, (stmt = this.db.prepare(sql())));
    return stmt;
  }

  /**
   * The dialogs of a finished call leave the active set (their events stay until retention);
   * `also` runs in the same transaction (the call's record, appended to the log). Nobody waits
   * for it, so it joins the open group or the next one an append opens (ChangeLog.writeSoon):
   * under load the records of finished calls share the commit (and with `fsync` the fsync) of
   * the events instead of costing a commit of their own. A crash before it is written leaves the
   * call active with its events, and it is finished again at the next start.
   */
  finish(callIds: Iterable<string>, also?: (writer: GroupWriter) => void): Promise<void> {
    const ids = [...callIds];
    return this.log.writeSoon(
      (w) => {
        for (const id of ids) this.deleteActive.run(this.instance, id);
        also?.(w);
      },
      { fsync: this.fsync, withinMs: FINISH_WITHIN_MS },
    );
  }

  /** Resolves once everything written so far is committed (and fsync'd, with durability `fsync`). */
  flush(): Promise<void> {
    return this.log.whenCommitted();
  }

  /** The events of every dialog still active: what a restart folds back into active calls. */
  activeEvents(): E[] {
    return (this.selectActive.all(this.instance) as { body: string }[]).map((r) => this.eventOf(r.body));
  }

  /**
   * The same, each with whether this site took it in (its entry is of this site's origin) or a
   * peer did: a site counts in its profiles only the dialogs its own sources brought in.
   */
  activeEventsWithOrigin(): { event: E; own: boolean }[] {
    return (this.selectActive.all(this.instance) as { body: string; origin: number }[]).map((r) => ({ event: this.eventOf(r.body), own: r.origin === this.origin }));
  }

  /** Whether any event of this dialog is stored. */
  knows(callId: string): boolean {
    return this.selectAnyOfCall.get(this.instance, callId) !== undefined;
  }

  eventsOf(callIds: Iterable<string>): E[] {
    const out: E[] = [];
    for (const id of callIds) for (const row of this.selectByCall.all(this.instance, id) as { body: string }[]) out.push(this.eventOf(row.body));
    return out;
  }

  /** Deletes events received before the cut-off, except those of active dialogs (the log's entries are compacted on their own). */
  purgeReceivedBefore(cutoffMs: number): number {
    return this.log.write(() => this.purge.run(this.instance, cutoffMs, this.instance).changes).result;
  }

  count(): number {
    return (this.countAll.get(this.instance) as { n: number }).n;
  }

  /** Commits what is written; the log itself stays open (its owner closes it). */
  async close(): Promise<void> {
    await this.log.flush();
  }

  private eventOf(entryBody: string): E {
    const { event, tsMs } = JSON.parse(entryBody) as EventEntryBody<E>;
    return { ...event, tsMs } as E;
  }

  /**
   * Takes in the active calls of a journal file from before the change log: their events become
   * entries of the log and rows here (by id: an event adopted before is not adopted twice), in one
   * fsync'd commit, and only then is the file renamed. A crash in between adopts it again at the
   * next start, and finds everything there already. The events of finished calls are not adopted:
   * their records are written, and the renamed file keeps them for whoever wants to look.
   */
  private async adopt(file: string): Promise<void> {
    // Opened for writing, so that what a kill -9 left in its WAL is read back (and checkpointed on close).
    const old = new Database(file);
    let rows: { id: string; received_at: number; ts: number; call_id: string; body: string }[];
    let active: string[];
    try {
      const hasTables = old.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'active')").get() as { n: number };
      rows = hasTables.n === 2 ? (old.prepare('SELECT e.id, e.received_at, e.ts, e.call_id, e.body FROM events e JOIN active a ON e.call_id = a.call_id').all() as typeof rows) : [];
      active = hasTables.n === 2 ? (old.prepare('SELECT call_id FROM active').pluck().all() as string[]) : [];
    } finally {
      old.close();
    }
    const { committed } = this.log.write(
      (w) => {
        for (const r of rows) {
          if (this.insertEvent.run(this.instance, r.id, r.received_at, r.call_id, this.origin, w.nextSeq()).changes !== 1) continue;
          const body: EventEntryBody<E> = { instance: this.instance, receivedAt: r.received_at, tsMs: r.ts, event: JSON.parse(r.body) as Omit<E, 'tsMs'> };
          w.append({ kind: EVENT_KIND, key: r.id, body }, `${this.bodyPrefix}${r.received_at},"tsMs":${r.ts},"event":${r.body}}`);
        }
        for (const id of active) this.insertActive.run(this.instance, id);
      },
      { fsync: true },
    );
    await this.log.flush();
    await committed;
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) renameSync(file + suffix, `${file}${LEGACY_SUFFIX}${suffix}`);
  }
}
