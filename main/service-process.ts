/**
 * Finding, starting and stopping the Sitecall service for the desktop shell.
 *
 * No Electron import: the shell passes in how to launch the service (a plain Node child in
 * development, an Electron utility process when packaged), so the attach/start/stop rules are
 * tested with real processes outside Electron (test/integration/main-service-process.test.ts).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, renameSync, statSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseHealthz, type DesktopSettings, type Healthz } from './settings.js';

/** What answers at the service address. */
export type ProbeResult =
  | { kind: 'sitecall'; health: Healthz }
  | { kind: 'unreachable'; reason: string }
  | { kind: 'foreign'; reason: string };

function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code;
      return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
    }
    return error.message;
  }
  return String(error);
}

/** Ask `GET /healthz` at the service URL and classify the answer. */
export async function probeService(serviceUrl: string, timeoutMs = 2000): Promise<ProbeResult> {
  const url = new URL('healthz', serviceUrl);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  } catch (error) {
    return { kind: 'unreachable', reason: describeFetchError(error) };
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return { kind: 'foreign', reason: `${url.href} answered HTTP ${response.status} without a JSON body` };
  }
  const health = parseHealthz(body);
  if (!health) return { kind: 'foreign', reason: `${url.href} answered HTTP ${response.status}, not a Sitecall health report` };
  return { kind: 'sitecall', health };
}

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all. */
  error?: string;
}

/** A service process the shell started: the common face of a Node child and a utility process. */
export interface ServiceChild {
  readonly pid: number | undefined;
  readonly stdout: NodeJS.ReadableStream | null;
  readonly stderr: NodeJS.ReadableStream | null;
  /** Ask it to stop gracefully (SIGTERM on POSIX). */
  terminate(): void;
  /** Stop it now (SIGKILL on POSIX). */
  forceKill(): void;
  /** Resolves once, when the process has ended. */
  readonly exited: Promise<ChildExit>;
  /** True once `exited` has resolved. */
  readonly hasExited: boolean;
}

export interface LaunchSpec {
  /** The service entry script, e.g. `<app>/bin/sitecall.js`. */
  entry: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type ServiceLauncher = (spec: LaunchSpec) => ServiceChild;

/** Launch the service with a Node binary (development: native modules are built for Node's ABI). */
export function nodeLauncher(nodePath: string): ServiceLauncher {
  return (spec) => {
    const child = spawn(nodePath, [spec.entry, ...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let hasExited = false;
    const exited = new Promise<ChildExit>((resolve) => {
      child.once('exit', (code, signal) => {
        hasExited = true;
        resolve({ code, signal });
      });
      child.once('error', (error) => {
        if (child.pid === undefined) {
          hasExited = true;
          resolve({ code: null, signal: null, error: `could not start ${nodePath}: ${error.message}` });
        }
      });
    });
    return {
      pid: child.pid,
      stdout: child.stdout,
      stderr: child.stderr,
      terminate: () => void child.kill('SIGTERM'),
      forceKill: () => void child.kill('SIGKILL'),
      exited,
      get hasExited() {
        return hasExited;
      },
    };
  };
}

/** The command-line arguments of `sitecall start` for these settings (flags override env and config). */
export function serviceArgs(settings: Pick<DesktopSettings, 'host' | 'port' | 'dataDir'>): string[] {
  return ['start', '--host', settings.host, '--port', String(settings.port), '--data-dir', settings.dataDir];
}

const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
const TAIL_LINES = 40;

/**
 * The service's output as the shell sees it: appended to a log file under the data directory
 * (mode 0600: on first start the service prints the generated admin password) and the last lines
 * kept in memory for error dialogs.
 */
export class ServiceLog {
  readonly file: string;
  private readonly stream: WriteStream;
  private readonly lines: string[] = [];
  private partial = '';

  constructor(file: string) {
    this.file = file;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      if (statSync(file).size > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`);
    } catch {
      // no log yet
    }
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.stream.on('error', () => {
      // A log that cannot be written must not take the shell down; the tail still works.
    });
  }

  /** A line from the shell itself. */
  note(message: string): void {
    const line = `[desktop ${new Date().toISOString()}] ${message}`;
    this.remember(line);
    this.stream.write(`${line}\n`);
  }

  attach(child: ServiceChild): void {
    for (const source of [child.stdout, child.stderr]) {
      source?.on('data', (chunk: Buffer | string) => {
        const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        this.stream.write(text);
        this.collect(text);
      });
    }
  }

  /** The last lines written, oldest first. */
  tail(count = TAIL_LINES): string[] {
    const all = this.partial === '' ? this.lines : [...this.lines, this.partial];
    return all.slice(-count);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }

  private collect(text: string): void {
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const part of parts) this.remember(part);
  }

  private remember(line: string): void {
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES * 2) this.lines.splice(0, this.lines.length - TAIL_LINES);
  }
}

/** The service could not be reached or started; `message` is a sentence for the user. */
export class ServiceStartError extends Error {
  override name = 'ServiceStartError';
  readonly logTail: string[];
  readonly logFile: string | undefined;
  constructor(message: string, log?: ServiceLog) {
    super(message);
    this.logTail = log?.tail() ?? [];
    this.logFile = log?.file;
  }
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Stop waiting (with an error) as soon as this child ends. */
  child?: ServiceChild;
  log?: ServiceLog;
}

/** Poll `/healthz` until the service reports `ok` (or `degraded`: it runs, impaired, and says why). */
export async function waitForHealthy(serviceUrl: string, options: WaitOptions): Promise<Healthz> {
  const interval = options.intervalMs ?? 200;
  const deadline = Date.now() + options.timeoutMs;
  let last: ProbeResult | undefined;
  let childExit: ChildExit | undefined;
  void options.child?.exited.then((exit) => {
    childExit = exit;
  });
  for (;;) {
    if (childExit) throw new ServiceStartError(`The Sitecall service stopped while starting (${describeExit(childExit)}).`, options.log);
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    last = await probeService(serviceUrl, Math.min(2000, Math.max(remaining, 100)));
    if (last.kind === 'sitecall' && isRunning(last.health)) return last.health;
    if (last.kind === 'foreign') throw new ServiceStartError(`Something other than Sitecall answers at ${serviceUrl}: ${last.reason}.`, options.log);
    await delay(Math.min(interval, Math.max(deadline - Date.now(), 0)));
  }
  const lastSeen =
    last === undefined
      ? 'no answer'
      : last.kind === 'sitecall'
        ? `it reports "${last.health.status}"`
        : last.reason;
  throw new ServiceStartError(
    `The Sitecall service at ${serviceUrl} did not become ready within ${Math.round(options.timeoutMs / 100) / 10} s (${lastSeen}).`,
    options.log,
  );
}

function isRunning(health: Healthz): boolean {
  return health.status === 'ok' || health.status === 'degraded';
}

/** Poll until nothing answers at the service URL (a service that reported `stopping`). */
async function waitUntilGone(serviceUrl: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const probe = await probeService(serviceUrl, 1000);
    if (probe.kind === 'unreachable') return true;
    await delay(200);
  }
  return false;
}

export function describeExit(exit: ChildExit): string {
  if (exit.error) return exit.error;
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code ?? 'unknown'}`;
}

export type ServiceConnection =
  | { ownsService: false; health: Healthz }
  | { ownsService: true; health: Healthz; child: ServiceChild };

export interface ConnectOptions {
  settings: DesktopSettings;
  launch: ServiceLauncher;
  /** `<app>/bin/sitecall.js` */
  entry: string;
  /** The app's root directory (the service's working directory). */
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: ServiceLog;
}

/**
 * Attach to a Sitecall service that already answers at the configured address, or start one
 * and wait until it is healthy. Only a service started here is the shell's to stop.
 */
export async function connectOrStart(options: ConnectOptions): Promise<ServiceConnection> {
  const { settings, log } = options;
  const probe = await probeService(settings.serviceUrl);
  if (probe.kind === 'foreign') {
    throw new ServiceStartError(
      `Something other than Sitecall answers at ${settings.serviceUrl} (${probe.reason}). ` +
        'Stop it, or choose another port with SITECALL_PORT.',
    );
  }
  if (probe.kind === 'sitecall' && probe.health.status !== 'stopping') {
    log.note(`attaching to the running Sitecall service at ${settings.serviceUrl} (${probe.health.status})`);
    const health =
      isRunning(probe.health)
        ? probe.health
        : await waitForHealthy(settings.serviceUrl, { timeoutMs: settings.startTimeoutMs, log });
    return { ownsService: false, health };
  }
  if (probe.kind === 'sitecall') {
    log.note(`the Sitecall service at ${settings.serviceUrl} is stopping; waiting for it to finish`);
    if (!(await waitUntilGone(settings.serviceUrl, settings.startTimeoutMs))) {
      throw new ServiceStartError(`The Sitecall service at ${settings.serviceUrl} is stopping and did not finish in time.`, log);
    }
  }

  const args = serviceArgs(settings);
  log.note(`starting the Sitecall service: ${options.entry} ${args.join(' ')}`);
  const child = options.launch({ entry: options.entry, args, env: options.env, cwd: options.cwd });
  log.attach(child);
  void child.exited.then((exit) => log.note(`the Sitecall service ended (${describeExit(exit)})`));
  try {
    const health = await waitForHealthy(settings.serviceUrl, { timeoutMs: settings.startTimeoutMs, child, log });
    log.note(`the Sitecall service is ready at ${settings.serviceUrl} (version ${health.version})`);
    return { ownsService: true, health, child };
  } catch (error) {
    await stopService(child, 5000);
    throw error;
  }
}

export type StopOutcome = 'already-exited' | 'terminated' | 'killed';

/** SIGTERM, wait up to `graceMs` for a graceful exit, then kill. */
export async function stopService(child: ServiceChild, graceMs = 10_000): Promise<StopOutcome> {
  if (child.hasExited) return 'already-exited';
  child.terminate();
  const timer = new AbortController();
  const ended = await Promise.race([
    child.exited.then(() => true),
    delay(graceMs, false, { signal: timer.signal }).catch(() => false),
  ]);
  timer.abort();
  if (ended) return 'terminated';
  child.forceKill();
  await Promise.race([child.exited, delay(5000)]);
  return 'killed';
}
