import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { CallEvent, StoredEvent } from '../../shared/api/events.js';
import { apiClient } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { callLoad, inParallel, ResendingSource, seededRandom, storedState, type CallLoad } from '../support/crash-source.js';
import { login, startService, tempDir, type RunningTestService } from '../support/service.js';

/**
 * kill -9 under load, several times, in `async` and in `transactional`: a real service process, a
 * source streaming calls over /api/v1/events/stream with acks and resending what was not
 * acknowledged after each restart on the same data directory. After every restart, every event
 * acknowledged so far must be stored (in a record, or in an active call), and every call whose
 * end was acknowledged must have its record; at the end every call has exactly one record, and
 * the stored events are the ones sent.
 *
 * The kill points are random and seeded (CRASH_SEED overrides the seed, printed with the figures).
 */
const SEED = Number(process.env['CRASH_SEED'] ?? 15_2026);
const CALLS = 2000;
const WINDOW = 8;
/** where the kills fall, as fractions of the messages: one in each range */
const KILL_RANGES: [number, number][] = [
  [0.1, 0.3],
  [0.4, 0.6],
  [0.7, 0.9],
];

interface Check {
  ackedEvents: number;
  storedOfAcked: number;
  missing: string[];
  recordsExpected: number;
  unrecorded: string[];
  duplicateRecords: string[];
}

/** Polls what the service holds until every acknowledged event and owed record is there (or the deadline). */
async function checkStored(svc: RunningTestService, token: string, load: CallLoad, acked: readonly CallEvent[], timeoutMs = 20_000): Promise<Check> {
  const api = apiClient(svc.url, token);
  const deadline = Date.now() + timeoutMs;
  const ackedIds = new Set(acked.map((e) => e.id));
  // A call owes its record once its end is acknowledged.
  const owed = [...new Set(acked.filter((e) => e.type === 'end').map((e) => e.callId))];
  for (;;) {
    const state = await storedState(svc.url, token);
    const have = new Set([...state.cdrEvents.values(), ...state.activeEvents.values()].flat());
    const recorded = new Set(state.cdrIds);
    // A straggler that came after the record is in the journal, not in the record: ask for the call's raw events.
    const lookUp = [...new Set(acked.filter((e) => !have.has(e.id) && recorded.has(e.callId)).map((e) => e.callId))];
    await inParallel(lookUp, 8, async (callId) => {
      for (const e of (await api.get<{ items: StoredEvent[] }>(`/api/v1/cdrs/${callId}/events`)).body.items ?? []) have.add(e.id);
    });
    const missing = [...ackedIds].filter((id) => !have.has(id));
    const unrecorded = owed.filter((id) => !recorded.has(id));
    const duplicateRecords = state.cdrIds.filter((id, i) => state.cdrIds.indexOf(id) !== i);
    const check = { ackedEvents: ackedIds.size, storedOfAcked: ackedIds.size - missing.length, missing, recordsExpected: owed.length, unrecorded, duplicateRecords };
    if ((missing.length === 0 && unrecorded.length === 0 && duplicateRecords.length === 0) || Date.now() > deadline) return check;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What the change log of a data directory holds, read as the next start reads it (a kill -9 leaves committed transactions in the WAL). */
function logOnDisk(dataDir: string): { events: Set<string>; journal: Set<string>; cdrs: Set<string>; stored: string[] } {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true });
  const index = new Database(join(dataDir, 'cdr', 'COPM3_dialogs', 'index.sqlite'), { readonly: true });
  try {
    return {
      events: new Set(db.prepare("SELECT key FROM entries WHERE kind = 'event'").pluck().all() as string[]),
      journal: new Set(db.prepare('SELECT id FROM journal_events').pluck().all() as string[]),
      cdrs: new Set(db.prepare("SELECT key FROM entries WHERE kind = 'cdr'").pluck().all() as string[]),
      // the store's index is written after the month rows: every record it names is stored
      stored: index.prepare('SELECT id FROM cdr_month').pluck().all() as string[],
    };
  } finally {
    index.close();
    db.close();
  }
}

/** A new data directory holding only the change log of `dataDir` (one consistent file, its WAL folded in). */
function logOnlyCopy(dataDir: string): string {
  const target = join(tempDir('sitecall-replay-'), 'data');
  mkdirSync(target, { recursive: true });
  const db = new Database(join(dataDir, 'changelog.sqlite'));
  try {
    db.prepare('VACUUM INTO ?').run(join(target, 'changelog.sqlite'));
  } finally {
    db.close();
  }
  return target;
}

/** The active calls (with their events) and the records of a service, comparable across services. */
async function comparable(svc: RunningTestService): Promise<{ cdrIds: string[]; active: [string, string[]][] }> {
  const state = await storedState(svc.url, await login(svc));
  return { cdrIds: [...state.cdrIds].sort(), active: [...state.activeEvents].map(([id, events]) => [id, [...events].sort()] as [string, string[]]).sort((a, b) => a[0].localeCompare(b[0])) };
}

async function crashRun(mode: 'async' | 'transactional', seed: number): Promise<void> {
  const random = seededRandom(seed);
  const env = { SITECALL_LOG_LEVEL: 'warn' };
  let svc = await startService({ env });
  const dataDir = svc.dataDir;
  try {
    const admin = apiClient(svc.url, await login(svc));
    expect((await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs({ state_save: mode }), vm()] })).status).toBe(200);
    const token = (await admin.post('/api/v1/tokens', { name: 'pbx', scopes: ['events'] })).body.token as string;
    const load = callLoad({ source: `pbx-${mode}`, calls: CALLS, concurrent: 40, batch: 20, t0: Date.now() - 30 * 60_000, straggleEvery: 10 });
    const source = new ResendingSource(load.messages, WINDOW);
    const killPoints = KILL_RANGES.map(([a, b]) => Math.floor(load.messages.length * (a + random() * (b - a))));

    let storedAtKills = 0;
    for (const [n, killAt] of killPoints.entries()) {
      let killed: Promise<void> | undefined;
      const outcome = await source.run(svc.url, token, (acked) => {
        if (acked >= killAt) killed ??= svc.kill();
      });
      await killed;
      expect(outcome, `the source was still sending when kill ${n + 1} came`).toBe('lost');
      const acked = source.ackedEvents();
      // Every acknowledged event is an entry of the log, and a row of the journal beside it.
      const disk = logOnDisk(dataDir);
      expect(acked.filter((e) => !disk.events.has(e.id)).map((e) => e.id).slice(0, 20), `acknowledged events not in the log after kill ${n + 1}`).toEqual([]);
      expect([...disk.journal].filter((id) => !disk.events.has(id)).slice(0, 20), `journal rows without their entry after kill ${n + 1}`).toEqual([]);
      expect(disk.events.size).toBe(disk.journal.size);
      // Every record the CDR store holds is an entry of the log (the store is a view of it).
      expect(disk.stored.filter((id) => !disk.cdrs.has(id)).slice(0, 20), `stored records not in the log after kill ${n + 1}`).toEqual([]);
      storedAtKills += disk.stored.length;
      // After the last kill, a data directory holding only the log must start as the whole one does.
      const replayDir = n === killPoints.length - 1 ? logOnlyCopy(dataDir) : undefined;

      svc = await startService({ dataDir, env });
      const check = await checkStored(svc, await login(svc), load, acked);
      console.log(
        `[crash ${mode} seed ${seed}] kill ${n + 1} at message ${killAt}/${load.messages.length}: ` +
          `${check.storedOfAcked} of ${check.ackedEvents} acknowledged events stored, ` +
          `${check.recordsExpected - check.unrecorded.length} of ${check.recordsExpected} owed records, ${check.duplicateRecords.length} duplicate records`,
      );
      expect(check.missing.slice(0, 20), `acknowledged events lost by kill ${n + 1}`).toEqual([]);
      expect(check.unrecorded.slice(0, 20), `finished calls without a record after kill ${n + 1}`).toEqual([]);
      expect(check.duplicateRecords, `records written twice after kill ${n + 1}`).toEqual([]);
      if (replayDir) await compareReplay(svc, replayDir, env);
    }

    expect(storedAtKills, 'records in the store at some kill (else the check above checked nothing)').toBeGreaterThan(0);

    // The rest of the traffic; then every call is finished and has exactly one record.
    expect(await source.run(svc.url, token)).toBe('done');
    expect(source.problems).toEqual([]);
    const adminToken = await login(svc);
    const final = await checkStored(svc, adminToken, load, source.ackedEvents(), 30_000);
    expect(final.missing).toEqual([]);
    expect(final.duplicateRecords).toEqual([]);
    const state = await storedState(svc.url, adminToken);
    expect([...state.activeEvents.keys()]).toEqual([]);
    expect([...state.cdrIds].sort()).toEqual([...load.callIds].sort());

    // What is stored is what was sent, event by event.
    const api = apiClient(svc.url, adminToken);
    const differing: string[] = [];
    await inParallel(load.callIds, 8, async (callId) => {
      const stored = (await api.get<{ items: StoredEvent[] }>(`/api/v1/cdrs/${callId}/events`)).body.items;
      const sent = load.eventsByCall.get(callId) ?? [];
      const byId = new Map(stored.map((e) => [e.id, e]));
      if (stored.length !== sent.length || sent.some((e) => JSON.stringify(byId.get(e.id), Object.keys(e).sort()) !== JSON.stringify(e, Object.keys(e).sort()))) differing.push(callId);
    });
    expect(differing.slice(0, 20)).toEqual([]);
    console.log(`[crash ${mode} seed ${seed}] end: ${source.ackedEvents().length} events, ${state.cdrIds.length} records for ${load.callIds.length} calls, kills at messages ${killPoints.join(', ')}`);
  } finally {
    await svc.stop();
    rmSync(dirname(dataDir), { recursive: true, force: true });
  }
}

/**
 * Starts a service on a data directory that holds only the change log taken after a kill, and
 * waits until it holds the same active calls and the same records as the service restarted on
 * the whole directory.
 */
async function compareReplay(original: RunningTestService, replayDir: string, env: Record<string, string>): Promise<void> {
  const replay = await startService({ dataDir: replayDir, env });
  try {
    const deadline = Date.now() + 20_000;
    let want = await comparable(original);
    let got = await comparable(replay);
    while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      want = await comparable(original);
      got = await comparable(replay);
    }
    expect(got.active.length).toBeGreaterThan(0);
    expect(got.cdrIds.length).toBeGreaterThan(0);
    expect(got.active).toEqual(want.active);
    expect(got.cdrIds).toEqual(want.cdrIds);
  } finally {
    await replay.stop();
    rmSync(dirname(replayDir), { recursive: true, force: true });
  }
}

describe('kill -9 under load', () => {
  it('loses no acknowledged event and no record with state_save async', () => crashRun('async', SEED), 120_000);
  it('loses no acknowledged event and no record with state_save transactional', () => crashRun('transactional', SEED + 1), 120_000);
});
