/**
 * The upgrade of a data directory made before site certificates (a random UUID site id) to the
 * certificate-fingerprint id: the data directory is made by main's own build (/work/main, or
 * SITECALL_OLD_CLI), then started with this build. Before the upgrade's second half existed, the
 * old voicemail stayed "held by site <uuid>" and could not be played.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TEST_PASSWORD, freePort, login, startService, tempDir } from '../support/service.js';
import { makeWav, vmailClient } from '../support/vmail.js';

const OLD_CLI = process.env['SITECALL_OLD_CLI'] ?? '/work/main/bin/sitecall.js';

/** Starts the old build on a data directory, runs `work` against it, stops it with SIGTERM. */
async function withOldService(dataDir: string, work: (url: string) => Promise<void>): Promise<string> {
  const port = await freePort();
  const proc = spawn(process.execPath, [OLD_CLI, 'start', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], {
    env: { ...process.env, SITECALL_ADMIN_PASSWORD: DEFAULT_TEST_PASSWORD, SITECALL_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', r));
  const url = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`the old service exited:\n${output}`);
      if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
      if (Date.now() > deadline) throw new Error(`the old service was not healthy:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await work(url);
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
  return output;
}

function originsOf(dataDir: string): string[] {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true });
  try {
    return (db.prepare('SELECT name FROM origins ORDER BY id').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

describe.skipIf(!existsSync(OLD_CLI))('upgrade of a data directory from before site certificates', () => {
  it('takes the certificate id, renames the log origin, moves the configuration and voicemail to it, once', async () => {
    const root = tempDir('sitecall-upgrade-');
    const dataDir = join(root, 'data');
    const wav = makeWav(0.5);
    const greeting = makeWav(0.3);
    let oldId = '';
    let oldRevision = -1;
    let messageId = '';
    try {
      await withOldService(dataDir, async (url) => {
        const token = await login({ url, adminPassword: DEFAULT_TEST_PASSWORD });
        const status = (await (await fetch(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as { site: { id: string } };
        oldId = status.site.id;
        const config = (await (await fetch(`${url}/api/v1/config/roles`, { headers: { authorization: `Bearer ${token}` } })).json()) as { revision: number; instances: { site?: string }[] };
        oldRevision = config.revision;
        expect(config.instances.every((i) => i.site === oldId)).toBe(true);
        const vmail = vmailClient(url, token);
        expect((await vmail.createMailbox({ number: '1001', name: 'Reception' })).status).toBe(201);
        const deposit = await vmail.deposit('1001', wav, { callerNumber: '200' });
        expect(deposit.status).toBe(201);
        messageId = deposit.body.id as string;
        expect((await vmail.call('PUT', '/1001/greetings/busy', { body: new Uint8Array(greeting), headers: { 'content-type': 'audio/wav' } })).status).toBe(200);
      });
      expect(oldId).toMatch(/^[0-9a-f-]{36}$/);
      expect(originsOf(dataDir)).toEqual([oldId]);

      const upgraded = await startService({ dataDir });
      let newId = '';
      try {
        const token = await login(upgraded);
        const auth = { authorization: `Bearer ${token}` };
        const status = (await (await fetch(`${upgraded.url}/api/v1/status`, { headers: auth })).json()) as { site: { id: string }; instances: { name: string; site: string }[] };
        newId = status.site.id;
        expect(newId).toMatch(/^[0-9a-f]{64}$/);
        expect(statSync(join(dataDir, 'site-key.pem')).mode & 0o777).toBe(0o600);
        const config = (await (await fetch(`${upgraded.url}/api/v1/config/roles`, { headers: auth })).json()) as { revision: number; instances: { site?: string }[] };
        expect(config.revision).toBe(oldRevision + 1);
        expect(config.instances.map((i) => i.site)).toEqual(config.instances.map(() => newId));
        // the instances run here, as before
        expect(status.instances.length).toBeGreaterThan(0);
        expect(status.instances.every((i) => i.site === newId)).toBe(true);
        const vmail = vmailClient(upgraded.url, token);
        const audio = await vmail.audio('1001', messageId);
        expect(audio.status).toBe(200);
        expect(audio.bytes.equals(wav)).toBe(true);
        const played = await vmail.call('GET', '/1001/greetings/busy');
        expect(played.status).toBe(200);
        expect(played.bytes.equals(greeting)).toBe(true);
      } finally {
        await upgraded.stop({ keepData: true });
      }
      expect(originsOf(dataDir)).toEqual([newId]);

      // a second start finds nothing to move: same id, same revision
      const again = await startService({ dataDir });
      try {
        const auth = { authorization: `Bearer ${await login(again)}` };
        const status = (await (await fetch(`${again.url}/api/v1/status`, { headers: auth })).json()) as { site: { id: string } };
        expect(status.site.id).toBe(newId);
        const config = (await (await fetch(`${again.url}/api/v1/config/roles`, { headers: auth })).json()) as { revision: number };
        expect(config.revision).toBe(oldRevision + 1);
      } finally {
        await again.stop({ keepData: true });
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
