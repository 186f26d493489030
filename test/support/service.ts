import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found upwards from here: this file also runs compiled under dist/ (benchmarks). */
export const REPO_ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bin', 'sitecall.js'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root (bin/sitecall.js)');
    dir = parent;
  }
  return dir;
})();
export const CLI = join(REPO_ROOT, 'bin', 'sitecall.js');
export const DEFAULT_TEST_PASSWORD = 'test-admin-password';

export interface StartOptions {
  /** password of `admin` on first start; default DEFAULT_TEST_PASSWORD, null to let the service generate one */
  adminPassword?: string | null;
  env?: Record<string, string>;
  args?: string[];
  /** reuse a data directory (a restart); default a new temporary one, removed on stop */
  dataDir?: string;
  port?: number;
  /** the peer listener's port (mutual TLS between sites); default a free one, so that services started side by side never share one */
  peerPort?: number;
}

export interface RunningTestService {
  url: string;
  port: number;
  peerPort: number;
  dataDir: string;
  adminPassword: string;
  proc: ChildProcess;
  /** everything the process wrote to stdout and stderr so far */
  logs(): string;
  /** SIGTERM and wait; resolves with the exit code */
  stop(opts?: { keepData?: boolean }): Promise<number | null>;
  /** SIGKILL (a crash) and wait; the data directory is kept */
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

export function tempDir(prefix = 'sitecall-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs the CLI to completion (for commands that exit, or for a start that must fail). */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sitecall ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** Starts the real service (bin/sitecall.js, built code) on a free port and waits until it is healthy. */
export async function startService(opts: StartOptions = {}): Promise<RunningTestService> {
  // A port found free and closed again can be taken by another test's service before this one
  // binds it: when the peer port the helper chose (not one the test named) was taken, try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServiceOnce(opts);
    } catch (err) {
      const taken = opts.peerPort === undefined && /The peer port \d+ on [^ ]+ is already in use/.test((err as Error).message);
      if (!taken || attempt >= 5) throw err;
    }
  }
}

async function startServiceOnce(opts: StartOptions): Promise<RunningTestService> {
  const port = opts.port ?? (await freePort());
  const peerPort = opts.peerPort ?? (await freePort());
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? join(tempDir(), 'data');
  const adminPassword = opts.adminPassword === undefined ? DEFAULT_TEST_PASSWORD : opts.adminPassword;
  const env: NodeJS.ProcessEnv = { ...process.env, SITECALL_LOG_LEVEL: 'info', ...opts.env };
  if (adminPassword !== null) env['SITECALL_ADMIN_PASSWORD'] = adminPassword;
  else delete env['SITECALL_ADMIN_PASSWORD'];

  const proc = spawn(process.execPath, [CLI, 'start', '--host', '127.0.0.1', '--port', String(port), '--peer-port', String(peerPort), '--data-dir', dataDir, ...(opts.args ?? [])], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolveExit) => proc.on('exit', (code) => resolveExit(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (hasExited) throw new Error(`the service exited before it was healthy:\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`the service was not healthy within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const generated = /password: (\S+)/.exec(output)?.[1];
  return {
    url,
    port,
    peerPort,
    dataDir,
    adminPassword: adminPassword ?? generated ?? '',
    proc,
    logs: () => output,
    async stop(stopOpts = {}) {
      if (!hasExited) proc.kill('SIGTERM');
      const code = await exited;
      if (ownDir && !stopOpts.keepData) rmSync(resolve(dataDir, '..'), { recursive: true, force: true });
      return code;
    },
    async kill() {
      if (!hasExited) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Logs in as admin and returns the bearer token. */
export async function login(service: Pick<RunningTestService, 'url' | 'adminPassword'>): Promise<string> {
  const res = await fetch(`${service.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: service.adminPassword }),
  });
  if (!res.ok) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}
