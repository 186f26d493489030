/**
 * Voicemail metadata durability. A power cut cannot be made here, and kill -9 loses nothing that
 * reached the page cache, so these tests check the ordering a power cut depends on instead:
 *
 * - every 201 of a deposit comes after an fsync of the metadata file that covered the message's
 *   line, observed from inside the real service process (test/support/vmail-fsync-probe.cjs
 *   records the process's fsyncs, nedb's appends and the HTTP answers in the order they happen).
 *   It proves the service asks the kernel to flush the metadata, and waits for it, before it
 *   answers. It cannot prove that the disk keeps what the kernel reports flushed (write caches,
 *   mount options), and it does not see a compaction in the middle of a deposit (nedb compacts
 *   only at load and at shutdown; service/vmail/datafile-sync.ts says why that case holds).
 */
import { readFileSync, realpathSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { login, REPO_ROOT, startService, tempDir } from '../support/service.js';
import { makeWav, vmailClient } from '../support/vmail.js';

const DOMAIN = 'office.example';
const PROBE = join(REPO_ROOT, 'test', 'support', 'vmail-fsync-probe.cjs');

type ProbeEvent =
  | { seq: number; event: 'probe-ready' }
  | { seq: number; event: 'fsync-start'; path: string; size: number }
  | { seq: number; event: 'fsync-done'; path: string }
  | { seq: number; event: 'append'; path: string; sizeAfter: number; data: string }
  | { seq: number; event: 'rename'; from: string; to: string }
  | { seq: number; event: 'response'; status: number; method: string; url: string; body: string };

function readProbe(file: string): ProbeEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ProbeEvent);
}

/** Starts the service with the probe loaded into its process. */
async function startProbed(dataDir?: string) {
  const logDir = tempDir('sitecall-probe-');
  const log = join(logDir, 'probe.ndjson');
  const service = await startService({
    ...(dataDir ? { dataDir } : {}),
    env: { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --require ${PROBE}`.trim(), SITECALL_TEST_FSYNC_LOG: log },
  });
  return { service, events: () => readProbe(log), cleanup: () => rmSync(logDir, { recursive: true, force: true }) };
}

describe('vmail metadata durability', () => {
  it('answers a deposit 201 only after the fsync that covers its metadata has returned', async () => {
    const { service, events, cleanup } = await startProbed();
    try {
      const client = vmailClient(service.url, await login(service));
      expect((await client.createMailbox({ number: '1001', name: 'Reception', maxMessages: 50 })).status).toBe(201);
      // concurrent deposits (their fsyncs are shared) and one after another
      const concurrent = await Promise.all(Array.from({ length: 8 }, (_, i) => client.deposit('1001', makeWav(0.5), { callerNumber: `10${i}` })));
      const sequential = [];
      for (let i = 0; i < 3; i++) sequential.push(await client.deposit('1001', makeWav(0.5), { callerNumber: `20${i}` }));
      const ids = [...concurrent, ...sequential].map((r) => {
        expect(r.status).toBe(201);
        return r.body.id as string;
      });

      const metadataFile = realpathSync(join(service.dataDir, 'db', 'vmail_messages.db'));
      const log = events();
      const ready = log.find((e) => e.event === 'probe-ready');
      expect(ready).toBeDefined();
      const responses = log.filter((e): e is Extract<ProbeEvent, { event: 'response' }> => e.event === 'response' && e.method === 'POST' && e.status === 201 && /\/messages$/.test(e.url));
      expect(responses.map((r) => JSON.parse(r.body).id).sort()).toEqual([...ids].sort());

      const problems: string[] = [];
      for (const response of responses) {
        const id = JSON.parse(response.body).id as string;
        expect(response.seq).toBeGreaterThan(ready?.seq ?? Infinity);
        const append = log.find((e): e is Extract<ProbeEvent, { event: 'append' }> => e.event === 'append' && resolve(e.path) === metadataFile && e.data.includes(`"_id":"${id}"`));
        if (!append || append.seq > response.seq) {
          problems.push(`${id}: its metadata was not appended before the answer`);
          continue;
        }
        // an fsync of the file, started after the append with the line in it, that returned before the answer
        const covering = log.filter((e): e is Extract<ProbeEvent, { event: 'fsync-start' }> => e.event === 'fsync-start' && e.path === metadataFile && e.seq > append.seq && e.seq < response.seq && e.size >= append.sizeAfter);
        const returned = covering.some((start) => log.some((e) => e.event === 'fsync-done' && e.path === metadataFile && e.seq > start.seq && e.seq < response.seq));
        if (!returned) problems.push(`${id}: answered 201 (event ${response.seq}) with no fsync of ${metadataFile} covering its line (appended at event ${append.seq}) returned before`);
      }
      expect(problems).toEqual([]);
    } finally {
      await service.stop();
      cleanup();
    }
  });
});
