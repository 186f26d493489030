/**
 * The upgrade of a data directory made before site certificates (a random UUID site id) to the
 * certificate-fingerprint id. The data directory is a fixture made by the build of ffc7cb0, the
 * last commit before certificates (test/fixtures/datadir-before-certificates/README.md says how):
 * a mailbox with a message and a greeting, configuration revision 1. Before the upgrade's second
 * half existed, the old voicemail stayed "held by site <uuid>" and could not be played.
 */
import { cpSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { freePort, login, runCli, startService, tempDir } from '../support/service.js';
import { vmailClient } from '../support/vmail.js';

const FIXTURE = new URL('../fixtures/datadir-before-certificates/', import.meta.url);
const FACTS = JSON.parse(readFileSync(new URL('facts.json', FIXTURE), 'utf8')) as { siteId: string; revision: number; messageId: string; messageAudio: string; greetingAudio: string };

function originsOf(dataDir: string): string[] {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true });
  try {
    return (db.prepare('SELECT name FROM origins ORDER BY id').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

describe('upgrade of a data directory from before site certificates', () => {
  it('takes the certificate id, renames the log origin, moves the configuration and voicemail to it, once', async () => {
    const root = tempDir('sitecall-upgrade-');
    const dataDir = join(root, 'data');
    const wav = readFileSync(new URL(`data/${FACTS.messageAudio}`, FIXTURE));
    const greeting = readFileSync(new URL(`data/${FACTS.greetingAudio}`, FIXTURE));
    const oldId = FACTS.siteId;
    const oldRevision = FACTS.revision;
    const messageId = FACTS.messageId;
    try {
      cpSync(new URL('data/', FIXTURE), dataDir, { recursive: true });
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

  it('refuses to start when the certificate beside a certificate id is another one, and says which files to restore', async () => {
    const root = tempDir('sitecall-wrong-cert-');
    const dataDir = join(root, 'data');
    try {
      const first = await startService({ dataDir });
      const id = first.logs().match(/"siteId":"([0-9a-f]{64})"/)?.[1];
      await first.stop({ keepData: true });
      expect(id).toBeDefined();
      // the certificate and key lost (a partial restore): the start makes none silently
      rmSync(join(dataDir, 'site-cert.pem'));
      rmSync(join(dataDir, 'site-key.pem'));
      const run = await runCli(['start', '--host', '127.0.0.1', '--port', String(await freePort()), '--peer-port', String(await freePort()), '--data-dir', dataDir], { SITECALL_ADMIN_PASSWORD: 'test-admin-password' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`This data directory belongs to site ${id}, but its certificate (site-cert.pem) is another one`);
      expect(run.stderr).toContain('restore site-cert.pem and site-key.pem from a backup of this site');
      // nothing was renamed: the log still names the site
      expect(originsOf(dataDir)).toEqual([id]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
