import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changeLogFile } from '../../service/storage/changelog/files.js';
import { ChangeLogReader, type SinceVector } from '../../service/storage/changelog/reader.js';
import type { Cdr } from '../../shared/api/cdr.js';
import type { SourceInfo } from '../../shared/api/sources.js';
import { apiClient } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually } from '../support/events-client.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { AdapterProcess, freePorts, KamailioProcess, type KamailioOptions } from './harness.js';

export type Admin = ReturnType<typeof apiClient>;

export interface StackOptions {
  /** the callstore's resync_timeout (s) */
  resyncTimeout?: number;
  frInvTimerMs?: number;
  source?: string;
  adapterArgs?: string[];
  /** Kamailio settings for load runs (children, memory, log level) */
  kamailio?: Partial<Pick<KamailioOptions, 'children' | 'shmMb' | 'pkgMb' | 'debug' | 'referWindowS'>>;
}

/** The appliance (real service), Kamailio with the shipped cfg, and the adapter between them. */
export interface Stack {
  dir: string;
  svc: RunningTestService;
  admin: Admin;
  token: string;
  kam: KamailioProcess;
  adapter: AdapterProcess;
  source: string;
  sipPort: number;
  httpPort: number;
  evapiPort: number;
  /** the address UACs send to (-rsa) */
  proxy: string;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-kam-'));
  const svc = await startService();
  const admin = apiClient(svc.url, await login(svc));
  const put = await admin.put('/api/v1/config/roles', { revision: 1, instances: [cs({ ext: { resync_timeout: opts.resyncTimeout ?? 10 } }), vm()] });
  if (put.status !== 200) throw new Error(`config: ${put.status} ${put.text}`);
  const token = (await admin.post('/api/v1/tokens', { name: 'kamailio', scopes: ['events'] })).body.token as string;
  const [sipPort, httpPort, evapiPort] = (await freePorts(3)) as [number, number, number];
  const kam = await KamailioProcess.start({ dir: join(dir, 'kamailio'), sipPort, httpPort, evapiPort, frInvTimerMs: opts.frInvTimerMs ?? 2000, ...opts.kamailio });
  const source = opts.source ?? 'kam1';
  const adapter = new AdapterProcess({ evapiPort, httpPort, applianceUrl: svc.url, token, source, stateDir: join(dir, 'adapter'), extra: ['--heartbeat', '1', ...(opts.adapterArgs ?? [])] });
  await adapter.waitForLog((l) => l.msg === 'sync applied by the appliance', 30_000, 'the first sync');
  return { dir, svc, admin, token, kam, adapter, source, sipPort, httpPort, evapiPort, proxy: `127.0.0.1:${sipPort}` };
}

export async function stopStack(s: Stack | undefined): Promise<void> {
  if (!s) return;
  await s.adapter.stop().catch(() => undefined);
  await s.kam.stop().catch(() => undefined);
  await s.svc.stop().catch(() => undefined);
  rmSync(s.dir, { recursive: true, force: true });
}

export function cdrOf(admin: Admin, callId: string, timeoutMs = 10_000): Promise<Cdr> {
  return eventually(async () => {
    const r = await admin.get<Cdr>(`/api/v1/cdrs/${encodeURIComponent(callId)}`);
    return r.status === 200 ? r.body : undefined;
  }, timeoutMs, `the CDR of ${callId}`);
}

export async function sourceOf(admin: Admin, id: string): Promise<SourceInfo | undefined> {
  const r = await admin.get<{ items: SourceInfo[] }>('/api/v1/sources');
  return r.body.items.find((s) => s.id === id);
}

/** Every CDR in the store, streamed by the export (ndjson). */
export async function exportCdrs(admin: Admin): Promise<Cdr[]> {
  const r = await admin.get('/api/v1/cdrs/export?format=ndjson');
  if (r.status !== 200) throw new Error(`export: ${r.status} ${r.text.slice(0, 200)}`);
  return r.text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Cdr);
}

/**
 * The call events a service stored (acknowledged), from its change log (kind `event`, keyed by
 * the event id): id → when the service received it (ms). Read-only, beside the running service.
 */
export function storedEvents(dataDir: string): Map<string, number> {
  return new Map([...entriesOfKind<{ receivedAt: number }>(dataDir, 'event')].map(([k, body]) => [k, body.receivedAt]));
}

/** The call events a service stored, id → the event (its type, call id, …). */
export function storedEventBodies(dataDir: string): Map<string, { id: string; type: string; callId: string }> {
  return new Map([...entriesOfKind<{ event: { id: string; type: string; callId: string } }>(dataDir, 'event')].map(([k, body]) => [k, { ...body.event, id: k }]));
}

/** The ids of the call records (CDRs) in a service's change log, written there or received from a peer. */
export function storedRecordIds(dataDir: string): string[] {
  return [...entriesOfKind(dataDir, 'cdr').keys()];
}

function entriesOfKind<B>(dataDir: string, kind: string): Map<string, B> {
  const reader = ChangeLogReader.open(changeLogFile(dataDir));
  try {
    const out = new Map<string, B>();
    const head = reader.head();
    let at: SinceVector = {};
    while (Object.keys(head).some((o) => (at[o] ?? 0) < (head[o] ?? 0))) {
      const page = reader.sinceOfKinds(at, 5000, [kind]);
      for (const e of page.entries) out.set(e.key, e.body as B);
      at = page.through;
    }
    return out;
  } finally {
    reader.close();
  }
}
