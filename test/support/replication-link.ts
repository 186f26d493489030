import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import type { ServedDomains } from '../../shared/sync/replication.js';
import { channelOverWebSocket } from '../../service/sync/channel.js';
import { startReplication, type ReplicationDeps, type ReplicationSession } from '../../service/sync/replication/session.js';
import { changeLogFile } from '../../service/storage/changelog/files.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog, type LogDurability } from '../../service/storage/changelog/log.js';
import { checkpointWorker } from './callstore-harness.js';

/** A site as replication sees it: a change log in a data directory of its own, and what it serves. */
export interface TestSite {
  id: string;
  dir: string;
  log: ChangeLog;
  serves: ServedDomains;
}

/** The domain of the test's entries: a CDR's `domain`, a raw event's `event.domain`; the rest is global. */
export function testDomainOf(kind: string, body: unknown): string | undefined {
  const b = body as { domain?: unknown; event?: { domain?: unknown } } | null;
  if (kind === 'cdr' && typeof b?.domain === 'string') return b.domain;
  if (kind === 'event' && typeof b?.event?.domain === 'string') return b.event.domain;
  return undefined;
}

const dirs: string[] = [];

export function openSite(id: string, serves: ServedDomains = 'all', dir?: string, durability: LogDurability = 'fsync'): TestSite {
  const at = dir ?? mkdtempSync(join(tmpdir(), `sitecall-repl-${id}-`));
  if (!dir) dirs.push(at);
  const log = ChangeLog.open(changeLogFile(at), { origin: id, policyOf, durability, checkpointWorker: checkpointWorker() });
  return { id, dir: at, log, serves };
}

export async function reopenSite(site: TestSite): Promise<TestSite> {
  await site.log.close();
  return openSite(site.id, site.serves, site.dir);
}

export function removeSiteDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface TestLink {
  /** the session on each end (`a` runs on the first site) */
  a: ReplicationSession;
  b: ReplicationSession;
  /** cuts the link (both sockets) and stops both sessions */
  cut(): Promise<void>;
}

/** Two ends of one WebSocket on loopback: `client` and the server's `serverSide`; `close` ends the server. */
export async function loopbackSockets(): Promise<{ client: WebSocket; serverSide: WebSocket; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', (ws) => resolve(ws)));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const serverSide = await accepted;
  return { client, serverSide, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Two sites linked by a real WebSocket on loopback (plain ws: the pinned mutual TLS is the link
 * layer's), a PeerChannel on each end, a replication session on each.
 */
export async function link(x: TestSite, y: TestSite, opts: Partial<ReplicationDeps> = {}): Promise<TestLink> {
  const { client, serverSide, close } = await loopbackSockets();
  const deps = (site: TestSite): ReplicationDeps => ({ log: site.log, serves: () => site.serves, domainOf: testDomainOf, pollMs: 50, retryMs: 100, ...opts });
  const a = startReplication(channelOverWebSocket(client, y.id), deps(x));
  const b = startReplication(channelOverWebSocket(serverSide, x.id), deps(y));
  return {
    a,
    b,
    async cut() {
      client.terminate();
      serverSide.terminate();
      await Promise.all([a.stop(), b.stop()]);
      await close();
    },
  };
}

export async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The state two logs must agree on: every document version, and the set of add-only records (kind, key). */
export function stateOf(log: ChangeLog, documentKinds: readonly string[], recordKinds: readonly string[]): { documents: string[]; records: string[] } {
  const documents = documentKinds.flatMap((k) => log.documents(k).map((d) => `${d.kind}/${d.key}@${d.hlc}/${d.origin}:${JSON.stringify(d.body)}`)).sort();
  const kinds = JSON.stringify(recordKinds);
  const records = (log.database.prepare('SELECT kind, key FROM entries WHERE kind IN (SELECT value FROM json_each(?))').all(kinds) as { kind: string; key: string }[]).map((r) => `${r.kind}/${r.key}`).sort();
  return { documents, records };
}
