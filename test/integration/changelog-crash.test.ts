import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { ChangeLogReader, type LogEntry } from '../../service/storage/changelog/reader.js';
import { apiClient } from '../support/api.js';
import { seededRandom } from '../support/crash-source.js';
import { login, REPO_ROOT, startService, tempDir, type RunningTestService } from '../support/service.js';

/**
 * kill -9 of a real service at random (seeded) moments of a mixed write load: configuration saves
 * (PUT /api/v1/config/roles), API token creations and revocations, from several clients at once.
 * After every restart: every acknowledged write is there, the nedb files and the change log hold
 * the same documents; meanwhile a reader of the log in a process of its own is killed and
 * restarted too, and must end with every entry exactly once. At the end the log, replayed into an
 * empty data directory, gives the same documents.
 *
 * CHANGELOG_CRASH_SEED overrides the seed (printed with the figures).
 */
const SEED = Number(process.env['CHANGELOG_CRASH_SEED'] ?? 16_2026);
const ROUNDS = 4;
const CLIENTS = 4;
const LOGGED = ['config', 'users', 'tokens'] as const;

type Docs = Map<string, unknown>;

/** A collection's nedb file as nedb reads it: later lines replace earlier ones, `$$deleted` removes. */
function nedbFile(file: string, kind: string, into: Docs): void {
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const doc = JSON.parse(line) as { _id?: string; $$deleted?: boolean; $$indexCreated?: unknown };
    if (doc.$$indexCreated || doc._id === undefined) continue;
    if (doc.$$deleted) into.delete(`${kind}/${doc._id}`);
    else into.set(`${kind}/${doc._id}`, doc);
  }
}

function viewDocs(dataDir: string): Docs {
  const docs: Docs = new Map();
  for (const kind of LOGGED) nedbFile(join(dataDir, 'db', `${kind}.db`), kind, docs);
  return docs;
}

/** The live documents of the logged kinds as the log's own table holds them (read-only, beside the running service). */
function logDocs(dataDir: string): Docs {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT kind, key, body FROM documents WHERE body IS NOT NULL AND kind IN (${LOGGED.map(() => '?').join(',')})`).all(...LOGGED) as { kind: string; key: string; body: string }[];
    return new Map(rows.map((r) => [`${r.kind}/${r.key}`, JSON.parse(r.body) as unknown]));
  } finally {
    db.close();
  }
}

const sortedEntries = (docs: Docs) => [...docs.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

/** What the clients know for sure: acknowledged writes; a request cut by the kill may have happened or not. */
interface Ledger {
  createdAcked: Set<string>;
  revokeAcked: Set<string>;
  revokeTried: Set<string>;
  maxRevision: number;
  acked: number;
  unknown: number;
}

async function writeLoad(svc: RunningTestService, token: string, ledger: Ledger, random: () => number, stop: () => boolean): Promise<void> {
  const api = apiClient(svc.url, token);
  const worker = async () => {
    while (!stop()) {
      const dice = random();
      try {
        if (dice < 0.4) {
          const res = await api.post('/api/v1/tokens', { name: `t${ledger.acked}`, scopes: ['read'] });
          if (res.status !== 201) throw new Error(`create: ${res.status} ${res.text}`);
          ledger.createdAcked.add(res.body.id as string);
        } else if (dice < 0.7) {
          const live = [...ledger.createdAcked].filter((id) => !ledger.revokeTried.has(id));
          const id = live[Math.floor(random() * live.length)];
          if (id === undefined) continue;
          ledger.revokeTried.add(id);
          const res = await api.delete(`/api/v1/tokens/${id}`);
          if (res.status !== 204) throw new Error(`revoke: ${res.status} ${res.text}`);
          ledger.revokeAcked.add(id);
        } else {
          const current = await api.get('/api/v1/config/roles');
          const res = await api.put('/api/v1/config/roles', { revision: current.body.revision, instances: [] });
          if (res.status === 409) continue; // another client saved in between: a refusal, not a write
          if (res.status !== 200) throw new Error(`config: ${res.status} ${res.text}`);
          ledger.maxRevision = Math.max(ledger.maxRevision, res.body.revision as number);
        }
        ledger.acked++;
      } catch (err) {
        // The kill cuts requests under way; anything else is a failure of the test.
        if (!stop() && !(err instanceof TypeError)) throw err;
        ledger.unknown++;
        if (stop()) return;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, worker));
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The log reader of test/support/log-reader.ts, in a process of its own. */
class ReaderProcess {
  private proc: ChildProcess | undefined;
  pages = 0;
  lastPosition: Record<string, number> = {};
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly logFile: string,
    private readonly sinkFile: string,
  ) {}

  start(): void {
    this.pages = 0;
    const proc = spawn(process.execPath, ['--import', './test/kamailio/ts-register.mjs', 'test/support/log-reader.ts', this.logFile, this.sinkFile], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    let errors = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        this.pages++;
        this.lastPosition = JSON.parse(line) as Record<string, number>;
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
    this.exited = new Promise((resolve, reject) =>
      proc.on('exit', (code, signal) => (code === 0 || signal === 'SIGKILL' || signal === 'SIGTERM' ? resolve() : reject(new Error(`the log reader failed (${code}): ${errors}`)))),
    );
    this.proc = proc;
  }

  async kill(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.proc?.kill('SIGTERM');
    await this.exited;
  }
}

describe('change log under kill -9', () => {
  it(
    'keeps every acknowledged write, the nedb views and the log agree after each restart, a restarting reader takes each entry once, a replay gives the same documents',
    async () => {
      const random = seededRandom(SEED);
      const env = { SITECALL_LOG_LEVEL: 'warn' };
      let svc = await startService({ env });
      const dataDir = svc.dataDir;
      const work = tempDir('sitecall-changelog-crash-');
      const reader = new ReaderProcess(join(dataDir, 'changelog.sqlite'), join(work, 'sink.sqlite'));
      const ledger: Ledger = { createdAcked: new Set(), revokeAcked: new Set(), revokeTried: new Set(), maxRevision: 0, acked: 0, unknown: 0 };
      let readerKills = 0;
      let chaosDone = false;
      // The reader is killed after a random number of pages, again and again, while the service is too.
      const chaos = (async () => {
        while (!chaosDone) {
          reader.start();
          const after = 1 + Math.floor(random() * 6);
          await waitFor('the reader to take some pages', () => chaosDone || reader.pages >= after, 60_000);
          if (chaosDone) break;
          await reader.kill();
          readerKills++;
        }
      })();
      const replayDir = join(tempDir('sitecall-changelog-replay-'), 'data');
      let replayed: RunningTestService | undefined;
      const figures: Record<string, unknown> = { seed: SEED };
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const token = await login(svc);
          const target = ledger.acked + 15 + Math.floor(random() * 40);
          let stopped = false;
          const load = writeLoad(svc, token, ledger, random, () => stopped);
          await waitFor('acknowledged writes', () => ledger.acked >= target, 60_000);
          // a random moment within the next few milliseconds of writes
          await new Promise((r) => setTimeout(r, random() * 5));
          stopped = true;
          await svc.kill();
          await load;

          svc = await startService({ env, dataDir });
          const api = apiClient(svc.url, await login(svc));
          const tokens = new Set(((await api.get('/api/v1/tokens')).body.items as { id: string }[]).map((t) => t.id));
          const lost = [...ledger.createdAcked].filter((id) => !ledger.revokeTried.has(id) && !tokens.has(id));
          const revived = [...ledger.revokeAcked].filter((id) => tokens.has(id));
          expect({ round, lost, revived }).toEqual({ round, lost: [], revived: [] });
          expect((await api.get('/api/v1/config/roles')).body.revision).toBeGreaterThanOrEqual(ledger.maxRevision);
          // the nedb views and the log hold the same documents, and the API serves them
          const inLog = logDocs(dataDir);
          expect(sortedEntries(viewDocs(dataDir))).toEqual(sortedEntries(inLog));
          expect([...tokens].sort()).toEqual([...inLog.keys()].filter((k) => k.startsWith('tokens/')).map((k) => k.slice('tokens/'.length)).sort());
        }
        const finalApi = apiClient(svc.url, await login(svc));
        const finalTokens = (await finalApi.get('/api/v1/tokens')).body.items as unknown[];
        const finalConfig = (await finalApi.get('/api/v1/config/roles')).body as unknown;
        expect(await svc.stop({ keepData: true })).toBe(0);

        // The reader, started once more, catches up to the end: every entry once, in order, none missing.
        chaosDone = true;
        await chaos;
        await reader.kill();
        const source = ChangeLogReader.open(join(dataDir, 'changelog.sqlite'));
        const head = source.head();
        reader.start();
        await waitFor('the reader to reach the head', () => Object.entries(head).every(([o, s]) => s === 0 || (reader.lastPosition[o] ?? 0) >= s), 60_000);
        await reader.stop();
        const sink = new Database(join(work, 'sink.sqlite'), { readonly: true });
        const seen = sink.prepare('SELECT origin, seq FROM seen ORDER BY origin, seq').all() as { origin: string; seq: number }[];
        sink.close();
        const expected = Object.entries(head).flatMap(([origin, last]) => Array.from({ length: last }, (_, i) => ({ origin, seq: i + 1 })));
        expect(seen).toEqual(expected);

        // Replay: every entry of the log into the log of an empty data directory, then a service on it.
        mkdirSync(replayDir, { recursive: true });
        const replay = ChangeLog.open(join(replayDir, 'changelog.sqlite'), { origin: 'replayer', policyOf });
        let vector = {};
        let entries = 0;
        for (let page: LogEntry[] = source.since(vector, 100); page.length; page = source.since(vector, 100)) {
          replay.receive(page);
          entries += page.length;
          vector = replay.head();
        }
        source.close();
        await replay.close();
        replayed = await startService({ env, dataDir: replayDir });
        const replayApi = apiClient(replayed.url, await login(replayed));
        expect((await replayApi.get('/api/v1/tokens')).body.items).toEqual(finalTokens);
        expect((await replayApi.get('/api/v1/config/roles')).body).toEqual(finalConfig);
        expect(sortedEntries(viewDocs(replayDir))).toEqual(sortedEntries(viewDocs(dataDir)));
        Object.assign(figures, { rounds: ROUNDS, acked: ledger.acked, cutByKill: ledger.unknown, tokens: ledger.createdAcked.size, revoked: ledger.revokeAcked.size, configRevision: ledger.maxRevision, entries, readerKills });
        console.log(`changelog crash test: ${JSON.stringify(figures)}`);
        expect(readerKills).toBeGreaterThan(0);
      } finally {
        chaosDone = true;
        await chaos.catch(() => undefined);
        await reader.kill().catch(() => undefined);
        await replayed?.stop();
        await svc.stop();
        rmSync(work, { recursive: true, force: true });
        rmSync(join(replayDir, '..'), { recursive: true, force: true });
        rmSync(join(dataDir, '..'), { recursive: true, force: true });
      }
    },
    240_000,
  );
});
