/**
 * The desktop shell's service rules with real processes and sockets, outside Electron:
 * attach to a running service (never stop it), start one and own it, refuse a foreign server,
 * report a service that dies or never gets ready, stop with SIGTERM then kill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connectOrStart,
  nodeLauncher,
  probeService,
  ServiceLog,
  ServiceStartError,
  stopService,
  type ServiceConnection,
  type ServiceLauncher,
} from '../../main/service-process.js';
import { resolveSettings, type DesktopSettings } from '../../main/settings.js';
import { CLI, freePort, REPO_ROOT, tempDir } from '../support/service.js';

/** A stand-in service: answers /healthz like Sitecall, behaviour chosen by FAKE_MODE. */
const FAKE_SERVICE = `
import http from 'node:http';
const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
const mode = process.env.FAKE_MODE ?? 'ok';
if (mode === 'exit-early') { console.error('fake: cannot open the data directory'); process.exit(3); }
const started = Date.now();
const server = http.createServer((req, res) => {
  const status = mode === 'never-ready' || (mode === 'slow' && Date.now() - started < 800) ? 'starting' : 'ok';
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ status, site: 'fake-site', version: '9.9.9' }));
});
server.listen(port, '127.0.0.1', () => console.log('fake: listening on ' + port + ' args=' + args.join(' ')));
process.on('SIGTERM', () => {
  if (mode === 'ignore-term') { console.log('fake: ignoring SIGTERM'); return; }
  console.log('fake: stopping');
  server.close(() => process.exit(0));
});
`;

let dir: string;
let fakeEntry: string;
const cleanups: Array<() => unknown> = [];

beforeAll(() => {
  dir = tempDir('sitecall-desktop-');
  fakeEntry = join(dir, 'fake-service.mjs');
  writeFileSync(fakeEntry, FAKE_SERVICE);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function settingsOnFreePort(extra: Record<string, string> = {}): Promise<DesktopSettings> {
  const port = await freePort();
  return resolveSettings({ SITECALL_PORT: String(port), ...extra }, { dataDir: join(dir, `data-${port}`) });
}

function logFor(settings: DesktopSettings): ServiceLog {
  const log = new ServiceLog(join(settings.dataDir, 'logs', 'desktop-service.log'));
  cleanups.push(() => log.close());
  return log;
}

function fakeLauncher(mode: string): ServiceLauncher {
  const launch = nodeLauncher(process.execPath);
  return (spec) => launch({ ...spec, env: { ...spec.env, FAKE_MODE: mode } });
}

function own(connection: ServiceConnection): void {
  if (connection.ownsService) cleanups.push(() => stopService(connection.child, 2000));
}

function runFake(settings: DesktopSettings, mode: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fakeEntry, '--port', String(settings.port)], {
    env: { ...process.env, FAKE_MODE: mode },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve) => child.stdout?.once('data', () => resolve(child)));
}

const refusingLauncher: ServiceLauncher = () => {
  throw new Error('must not start a service when one is running');
};

describe('desktop shell: finding and starting the service', () => {
  it('starts a service when none answers, owns it, and stops it with SIGTERM', async () => {
    const settings = await settingsOnFreePort();
    const log = logFor(settings);
    const connection = await connectOrStart({ settings, launch: fakeLauncher('ok'), entry: fakeEntry, cwd: dir, env: process.env, log });
    own(connection);
    expect(connection.ownsService).toBe(true);
    expect(connection.health).toEqual({ status: 'ok', site: 'fake-site', version: '9.9.9' });
    if (!connection.ownsService) return;

    expect(await stopService(connection.child, 5000)).toBe('terminated');
    expect(await connection.child.exited).toEqual({ code: 0, signal: null });
    expect((await probeService(settings.serviceUrl)).kind).toBe('unreachable');

    await log.close();
    const text = readFileSync(log.file, 'utf8');
    expect(text).toContain('starting the Sitecall service');
    expect(text).toContain(`args=start --host 127.0.0.1 --port ${settings.port} --data-dir ${settings.dataDir}`);
    expect(text).toContain('fake: stopping');
  });

  it('attaches to a running service and leaves it running', async () => {
    const settings = await settingsOnFreePort();
    const running = await runFake(settings, 'ok');
    const connection = await connectOrStart({ settings, launch: refusingLauncher, entry: fakeEntry, cwd: dir, env: process.env, log: logFor(settings) });
    expect(connection.ownsService).toBe(false);
    expect(connection.health.status).toBe('ok');
    expect(running.exitCode).toBeNull();
    expect((await probeService(settings.serviceUrl)).kind).toBe('sitecall');
  });

  it('waits for a running service that is still starting', async () => {
    const settings = await settingsOnFreePort();
    await runFake(settings, 'slow');
    const connection = await connectOrStart({ settings, launch: refusingLauncher, entry: fakeEntry, cwd: dir, env: process.env, log: logFor(settings) });
    expect(connection).toMatchObject({ ownsService: false, health: { status: 'ok' } });
  });

  it('refuses a server that is not Sitecall', async () => {
    const settings = await settingsOnFreePort();
    const server: Server = createServer((_req, res) => res.end('<html>router admin</html>'));
    await new Promise<void>((resolve) => server.listen(settings.port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    await expect(
      connectOrStart({ settings, launch: refusingLauncher, entry: fakeEntry, cwd: dir, env: process.env, log: logFor(settings) }),
    ).rejects.toThrow(/Something other than Sitecall answers at http:\/\/127\.0\.0\.1:\d+\//);
  });

  it('reports a service that exits while starting, with its last output', async () => {
    const settings = await settingsOnFreePort();
    const error = await connectOrStart({ settings, launch: fakeLauncher('exit-early'), entry: fakeEntry, cwd: dir, env: process.env, log: logFor(settings) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServiceStartError);
    if (!(error instanceof ServiceStartError)) return;
    expect(error.message).toBe('The Sitecall service stopped while starting (exit code 3).');
    expect(error.logTail.join('\n')).toContain('fake: cannot open the data directory');
    expect(error.logFile && existsSync(error.logFile)).toBe(true);
  });

  it('gives up on a service that never gets ready, and stops it', async () => {
    const settings = await settingsOnFreePort({ SITECALL_DESKTOP_START_TIMEOUT_MS: '1500' });
    let launched: ReturnType<ServiceLauncher> | undefined;
    const launch: ServiceLauncher = (spec) => (launched = fakeLauncher('never-ready')(spec));
    await expect(connectOrStart({ settings, launch, entry: fakeEntry, cwd: dir, env: process.env, log: logFor(settings) })).rejects.toThrow(
      /did not become ready within 1\.5 s \(it reports "starting"\)/,
    );
    expect(launched?.hasExited).toBe(true);
  });

  it('kills a service that ignores SIGTERM after the grace period', async () => {
    const settings = await settingsOnFreePort();
    const connection = await connectOrStart({ settings, launch: fakeLauncher('ignore-term'), entry: fakeEntry, cwd: dir, env: process.env, log: logFor(settings) });
    own(connection);
    if (!connection.ownsService) throw new Error('expected to own the service');
    const started = Date.now();
    expect(await stopService(connection.child, 700)).toBe('killed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    expect((await connection.child.exited).signal).toBe('SIGKILL');
  });

  it('starts the real service with Node (as `npm run desktop` does) and stops it cleanly', async () => {
    const settings = await settingsOnFreePort();
    const log = logFor(settings);
    const env = { ...process.env, SITECALL_ADMIN_PASSWORD: 'desktop-test-password' };
    const connection = await connectOrStart({ settings, launch: nodeLauncher(process.execPath), entry: CLI, cwd: REPO_ROOT, env, log });
    own(connection);
    expect(connection.ownsService).toBe(true);
    expect(connection.health.status).toBe('ok');
    if (!connection.ownsService) return;
    expect(await stopService(connection.child)).toBe('terminated');
    expect((await connection.child.exited).code).toBe(0);
  });
});
