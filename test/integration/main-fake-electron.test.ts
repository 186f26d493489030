/**
 * The desktop shell's main process (dist/main/main.js) run under plain Node with a stand-in for
 * Electron's API (test/support/fake-electron): Electron's binary cannot be installed on the build
 * machines, so this is where main.ts's wiring runs — the real service started and stopped, the
 * window's web preferences, the navigation, window-open, request, CSP, permission and IPC guards it
 * installs, attach mode, and the error path. test/electron/desktop.spec.ts covers the same with
 * real Electron where its binary exists.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { probeService } from '../../main/service-process.js';
import { freePort, REPO_ROOT, startService, tempDir, type RunningTestService } from '../support/service.js';

const MAIN = join(REPO_ROOT, 'dist', 'main', 'main.js');
const REGISTER = join(REPO_ROOT, 'test', 'support', 'fake-electron', 'register.mjs');

type FakeRecord = Record<string, unknown> & { event?: string; reply?: number };

class FakeElectronShell {
  readonly records: FakeRecord[] = [];
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  private nextId = 1;
  private waiters: Array<{ match: (record: FakeRecord) => boolean; resolve: (record: FakeRecord) => void }> = [];

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      this.output.push(line);
      if (!line.startsWith('@@fake ')) return;
      const record = JSON.parse(line.slice('@@fake '.length)) as FakeRecord;
      this.records.push(record);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(record)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(record);
        }
      }
    });
    proc.stderr.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  }

  waitFor(match: (record: FakeRecord) => boolean, timeoutMs = 20_000): Promise<FakeRecord> {
    const seen = this.records.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; output so far:\n${this.output.join('\n')}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (record) => {
          clearTimeout(timer);
          resolve(record);
        },
      });
    });
  }

  waitForEvent(event: string, timeoutMs?: number): Promise<FakeRecord> {
    return this.waitFor((record) => record.event === event, timeoutMs);
  }

  async send(command: Record<string, unknown>): Promise<FakeRecord> {
    const id = this.nextId++;
    const reply = this.waitFor((record) => record.reply === id);
    this.proc.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    return reply;
  }

  events(event: string): FakeRecord[] {
    return this.records.filter((record) => record.event === event);
  }
}

/** Live child processes of `pid` (Linux /proc). */
function childPids(pid: number | undefined): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

let root: string;
const running: Array<() => Promise<unknown>> = [];

function launchShell(env: Record<string, string>): FakeElectronShell {
  const proc = spawn(process.execPath, ['--import', REGISTER, MAIN], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      FAKE_APPDATA: join(root, 'appdata'),
      SITECALL_DESKTOP_USER_DATA_DIR: join(root, 'profile'),
      SITECALL_SERVICE_NODE: process.execPath,
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const shell = new FakeElectronShell(proc);
  running.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await shell.exited;
  });
  return shell;
}

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error('dist/main/main.js is missing: run "npm run build" first');
});
afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
  rmSync(root, { recursive: true, force: true });
});

describe('desktop shell main process (fake Electron)', () => {
  it('starts its own service, opens a locked-down window on it, guards it, and stops the service on quit', async () => {
    root = tempDir('sitecall-fake-electron-');
    const port = await freePort();
    const serviceUrl = `http://127.0.0.1:${port}/`;
    const origin = `http://127.0.0.1:${port}`;
    const dataDir = join(root, 'data');
    const shell = launchShell({ SITECALL_PORT: String(port), SITECALL_DATA_DIR: dataDir, SITECALL_ADMIN_PASSWORD: 'fake-electron-password' });

    expect((await shell.waitForEvent('loadURL')).url).toBe(serviceUrl);
    expect(shell.events('setPath')).toContainEqual({ event: 'setPath', name: 'userData', value: join(root, 'profile') });
    expect(shell.events('enableSandbox')).toHaveLength(1);
    const window = shell.events('window')[0];
    expect(window?.show).toBe(false);
    expect(window?.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      preload: join(REPO_ROOT, 'dist', 'main', 'preload.cjs'),
    });
    await shell.waitForEvent('show');
    const menu = shell.events('applicationMenu')[0]?.labels;
    expect(menu).toEqual(expect.arrayContaining(['Open in browser', 'Quit']));
    expect(shell.events('trayMenu')[0]?.labels).toEqual(expect.arrayContaining(['Open in browser', 'Quit']));

    // The service it started answers.
    const probe = await probeService(serviceUrl);
    expect(probe.kind).toBe('sitecall');

    // Navigation: in-origin stays, http(s) elsewhere goes to the system browser, the rest nowhere.
    expect(await shell.send({ cmd: 'navigate', url: `${origin}/calls` })).toMatchObject({ prevented: false });
    expect(await shell.send({ cmd: 'navigate', url: 'https://example.com/x' })).toMatchObject({ prevented: true });
    await shell.waitFor((record) => record.event === 'openExternal' && record.url === 'https://example.com/x');
    expect(await shell.send({ cmd: 'navigate', url: 'file:///etc/passwd' })).toMatchObject({ prevented: true });
    expect(await shell.send({ cmd: 'navigate', url: `http://127.0.0.1:${port + 1}/` })).toMatchObject({ prevented: true });
    expect(await shell.send({ cmd: 'frame-navigate', url: 'https://example.com/frame' })).toMatchObject({ prevented: true });
    expect(await shell.send({ cmd: 'redirect', url: 'https://example.com/redirected' })).toMatchObject({ prevented: true });
    expect(shell.events('openExternal').map((record) => record.url)).toEqual(['https://example.com/x', `http://127.0.0.1:${port + 1}/`]);

    // window.open
    const inOrigin = await shell.send({ cmd: 'window-open', url: `${origin}/cdrs/123` });
    expect(inOrigin).toMatchObject({ action: 'allow', webPreferences: { sandbox: true, contextIsolation: true, nodeIntegration: false } });
    expect((inOrigin.webPreferences as Record<string, unknown>).preload).toBeUndefined();
    expect(await shell.send({ cmd: 'window-open', url: 'https://example.org/' })).toMatchObject({ action: 'deny' });
    expect(await shell.send({ cmd: 'window-open', url: 'javascript:alert(1)' })).toMatchObject({ action: 'deny' });
    expect(await shell.send({ cmd: 'webview' })).toMatchObject({ prevented: true });

    // Network, CSP, permissions
    expect(await shell.send({ cmd: 'request', url: `${origin}/assets/app.js`, resourceType: 'script' })).toMatchObject({ cancel: false });
    expect(await shell.send({ cmd: 'request', url: 'https://cdn.example.com/x.js', resourceType: 'script' })).toMatchObject({ cancel: true });
    const added = await shell.send({ cmd: 'headers', url: `${origin}/`, headers: { 'content-type': ['text/html'] } });
    expect(JSON.stringify(added.responseHeaders)).toContain("default-src 'self'");
    const kept = await shell.send({ cmd: 'headers', url: `${origin}/`, headers: { 'content-security-policy': ["default-src 'none'"] } });
    expect(kept.responseHeaders).toBeUndefined();
    expect(await shell.send({ cmd: 'permission', permission: 'media', origin })).toMatchObject({ granted: false, check: false });
    expect(await shell.send({ cmd: 'permission', permission: 'notifications', origin })).toMatchObject({ granted: false, check: false });

    // IPC: one handler per channel, only for the console's top frame on the service origin.
    expect(await shell.send({ cmd: 'channels' })).toMatchObject({ channels: ['app:info', 'app:quit', 'shell:open-in-browser'] });
    const info = await shell.send({ cmd: 'ipc', channel: 'app:info', frameUrl: `${origin}/dashboard` });
    expect(info.value).toEqual({ shellVersion: '0.1.0', electronVersion: '', serviceUrl, ownsService: true });
    for (const [frameUrl, subframe] of [['https://evil.example/', false], [`${origin}/`, true], [null, false]] as const) {
      const refused = await shell.send({ cmd: 'ipc', channel: 'app:info', frameUrl, subframe });
      expect(refused.error).toMatch(/refused, the caller is not the Sitecall console/);
    }
    expect((await shell.send({ cmd: 'ipc', channel: 'app:info', frameUrl: `${origin}/`, args: ['x'] })).error).toMatch(/expected no arguments/);
    await shell.send({ cmd: 'ipc', channel: 'shell:open-in-browser', frameUrl: `${origin}/` });
    await shell.waitFor((record) => record.event === 'openExternal' && record.url === serviceUrl);

    // Closing the window keeps the service running (tray); a second launch shows the window.
    expect(await shell.send({ cmd: 'close-window' })).toMatchObject({ prevented: true });
    expect(shell.events('hide')).toHaveLength(1);
    await shell.send({ cmd: 'second-instance' });
    expect(shell.events('show')).toHaveLength(2);

    // Quit over IPC: the service it owns is stopped gracefully, then the shell exits.
    await shell.send({ cmd: 'ipc', channel: 'app:quit', frameUrl: `${origin}/` });
    expect(await shell.exited).toBe(0);
    expect((await probeService(serviceUrl)).kind).toBe('unreachable');
    const log = readFileSync(join(dataDir, 'logs', 'desktop-service.log'), 'utf8');
    expect(log).toContain('stopping the Sitecall service: terminated');
    expect(shell.events('before-quit').map((record) => record.prevented)).toEqual([true, false]);
  });

  it.skipIf(process.platform !== 'linux')('offers to restart a service that dies, and reloads the console', async () => {
    root = tempDir('sitecall-fake-electron-');
    const port = await freePort();
    const serviceUrl = `http://127.0.0.1:${port}/`;
    const shell = launchShell({ SITECALL_PORT: String(port), SITECALL_DATA_DIR: join(root, 'data'), SITECALL_ADMIN_PASSWORD: 'fake-electron-password' });
    await shell.waitForEvent('loadURL');
    const [first] = childPids(shell.proc.pid);
    if (first === undefined) throw new Error('the shell started no service process');
    process.kill(first, 'SIGKILL');

    // The fake dialog answers with the first button: "Restart the service".
    const dialog = await shell.waitFor((record) => record.event === 'dialog' && record.type === 'error');
    expect(dialog.message).toBe('The Sitecall service stopped unexpectedly (killed by SIGKILL).');
    await shell.waitFor((record) => record.event === 'loadURL' && shell.events('loadURL').length === 2);
    expect((await probeService(serviceUrl)).kind).toBe('sitecall');
    const [second] = childPids(shell.proc.pid);
    expect(second).toBeDefined();
    expect(second).not.toBe(first);

    await shell.send({ cmd: 'quit' });
    expect(await shell.exited).toBe(0);
    expect((await probeService(serviceUrl)).kind).toBe('unreachable');
  });

  it.skipIf(process.platform !== 'linux')('quitting while its service is still starting stops the service, without an error', async () => {
    root = tempDir('sitecall-fake-electron-');
    const port = await freePort();
    const shell = launchShell({ SITECALL_PORT: String(port), SITECALL_DATA_DIR: join(root, 'data'), SITECALL_ADMIN_PASSWORD: 'fake-electron-password' });
    let child: number | undefined;
    for (let i = 0; i < 200 && child === undefined; i++) {
      child = childPids(shell.proc.pid)[0];
      if (child === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (child === undefined) throw new Error('the shell started no service process');
    await shell.send({ cmd: 'quit' });
    expect(await shell.exited).toBe(0);
    expect(shell.events('dialog')).toEqual([]);
    expect(shell.events('before-quit')[0]).toMatchObject({ prevented: true });
    expect(existsSync(`/proc/${child}`) && !readFileSync(`/proc/${child}/stat`, 'utf8').includes(') Z ')).toBe(false);
  });

  it('tells where the generated admin password is, once per data directory', async () => {
    root = tempDir('sitecall-fake-electron-');
    const port = await freePort();
    const dataDir = join(root, 'data');
    const env = { SITECALL_PORT: String(port), SITECALL_DATA_DIR: dataDir, SITECALL_ADMIN_PASSWORD: '' };
    const first = launchShell(env);
    const hint = await first.waitFor((record) => record.event === 'dialog' && record.type === 'info');
    expect(hint.message).toMatch(/Sign in as "admin"/);
    expect(hint.detail).toContain(join(dataDir, 'initial-admin-password'));
    await first.send({ cmd: 'quit' });
    expect(await first.exited).toBe(0);

    const second = launchShell(env);
    await second.waitForEvent('show');
    await second.send({ cmd: 'quit' });
    expect(await second.exited).toBe(0);
    expect(second.events('dialog'), JSON.stringify(second.events('dialog'))).toHaveLength(0);
  });

  it('attaches to a running service, reports it, and leaves it running on quit', async () => {
    root = tempDir('sitecall-fake-electron-');
    const service: RunningTestService = await startService();
    running.push(() => service.stop());
    const shell = launchShell({ SITECALL_PORT: String(service.port), SITECALL_DATA_DIR: join(root, 'unused-data') });

    expect((await shell.waitForEvent('loadURL')).url).toBe(`${service.url}/`);
    const info = await shell.send({ cmd: 'ipc', channel: 'app:info', frameUrl: `${service.url}/` });
    expect(info.value).toMatchObject({ ownsService: false });
    // Without a service of its own, closing the window is not intercepted.
    expect(await shell.send({ cmd: 'close-window' })).toMatchObject({ prevented: false });

    await shell.send({ cmd: 'quit' });
    expect(await shell.exited).toBe(0);
    expect(shell.events('before-quit').map((record) => record.prevented)).toEqual([false]);
    expect((await probeService(`${service.url}/`)).kind).toBe('sitecall');
  });

  it('explains a port taken by something else and exits 1', async () => {
    root = tempDir('sitecall-fake-electron-');
    const port = await freePort();
    const server = createServer((_req, res) => res.end('<html>not sitecall</html>'));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    running.push(() => new Promise((resolve) => server.close(resolve)));

    const shell = launchShell({ SITECALL_PORT: String(port), SITECALL_DATA_DIR: join(root, 'data'), FAKE_TRAY: 'none' });
    const dialog = await shell.waitForEvent('dialog');
    expect(dialog).toMatchObject({ type: 'error' });
    expect(String(dialog.message)).toMatch(/^Something other than Sitecall answers at http:\/\/127\.0\.0\.1:\d+\/ .*choose another port with SITECALL_PORT\.$/);
    expect(await shell.exited).toBe(1);
    expect(shell.events('window')).toHaveLength(0);
  });

  it('refuses an unusable setting with a sentence', async () => {
    root = tempDir('sitecall-fake-electron-');
    const shell = launchShell({ SITECALL_PORT: 'eighty' });
    const dialog = await shell.waitForEvent('dialog');
    expect(dialog.message).toBe('SITECALL_PORT must be a whole number between 1 and 65535, not "eighty".');
    expect(await shell.exited).toBe(1);
  });

  it('quits at once when another instance holds the lock', async () => {
    root = tempDir('sitecall-fake-electron-');
    const shell = launchShell({ FAKE_LOCK: 'taken' });
    expect(await shell.exited).toBe(0);
    expect(shell.events('window')).toHaveLength(0);
    expect(shell.events('loadURL')).toHaveLength(0);
  });
});
