import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Real Kamailio, SIPp and the Sitecall Kamailio adapter for the end-to-end tests: every process is
 * started here on 127.0.0.1 with free ports and a temporary directory, and stopped by its own id.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '..', '..');
export const KAMAILIO_CFG = join(REPO, 'integrations', 'kamailio', 'kamailio.cfg');
export const SCENARIOS = join(HERE, 'scenarios');
const ADAPTER_TS = join(REPO, 'integrations', 'kamailio', 'adapter', 'main.ts');
const ADAPTER_JS = join(REPO, 'dist', 'integrations', 'kamailio', 'adapter', 'main.js');
const TS_REGISTER = join(HERE, 'ts-register.mjs');

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export const KAMAILIO_BIN = which('kamailio') ?? (existsSync('/usr/sbin/kamailio') ? '/usr/sbin/kamailio' : null);
export const SIPP_BIN = which('sipp');
const missing = [!KAMAILIO_BIN && 'kamailio (apt-get install kamailio kamailio-extra-modules)', !SIPP_BIN && 'sipp (apt-get install sip-tester)'].filter(Boolean);
/** Why the end-to-end tests cannot run here, or null. */
export const SKIP_REASON = missing.length ? `not installed: ${missing.join(', ')}` : null;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A UDP port nobody holds on 127.0.0.1 (whose TCP twin is free too, for Kamailio's listeners). */
export async function freeUdpPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = createSocket('udp4');
      s.once('error', rej);
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => res(p));
      });
    });
    if (port < 65000 && (await tcpFree(port))) return port;
  }
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

/** Distinct free ports (UDP and TCP free). */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freeUdpPort());
  return [...ports];
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}

// ---------------------------------------------------------------- Kamailio

export interface KamailioOptions {
  dir: string;
  sipPort: number;
  httpPort: number;
  evapiPort: number;
  domain?: string;
  /** ms a ringing call waits for its final reply before tm answers 408 */
  frInvTimerMs?: number;
  children?: number;
  shmMb?: number;
  pkgMb?: number;
  debug?: number;
  /** s an accepted REFER waits for the transferee's INVITE (SITECALL_REFER_WINDOW) */
  referWindowS?: number;
}

/** Kamailio with the shipped kamailio.cfg, its settings given as -A defines (the file is not copied). */
export class KamailioProcess {
  private output = '';
  private constructor(
    readonly proc: ChildProcess,
    readonly opts: KamailioOptions,
  ) {
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  static async start(opts: KamailioOptions): Promise<KamailioProcess> {
    if (!KAMAILIO_BIN) throw new Error('kamailio is not installed');
    mkdirSync(opts.dir, { recursive: true });
    const defines = [
      `SITECALL_SIP_LISTEN=udp:127.0.0.1:${opts.sipPort}`,
      `SITECALL_HTTP_LISTEN=tcp:127.0.0.1:${opts.httpPort}`,
      `SITECALL_EVAPI_BIND="127.0.0.1:${opts.evapiPort}"`,
      `SITECALL_CTL="unix:${join(opts.dir, 'kamailio_ctl')}"`,
      `SITECALL_DOMAIN="${opts.domain ?? 'office.example'}"`,
      `SITECALL_FR_INV_TIMER=${opts.frInvTimerMs ?? 60000}`,
      `SITECALL_CHILDREN=${opts.children ?? 4}`,
      `SITECALL_DEBUG=${opts.debug ?? 2}`,
      ...(opts.referWindowS !== undefined ? [`SITECALL_REFER_WINDOW=${opts.referWindowS}`] : []),
    ];
    const args = ['-f', KAMAILIO_CFG, '-DD', '-E', '-m', String(opts.shmMb ?? 64), '-M', String(opts.pkgMb ?? 8), '-P', join(opts.dir, 'kamailio.pid'), '-Y', opts.dir, ...defines.flatMap((d) => ['-A', d])];
    // its own process group: a crash test kills Kamailio and all its children at once
    const proc = spawn(KAMAILIO_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const kam = new KamailioProcess(proc, opts);
    try {
      await waitUntil(async () => {
        if (proc.exitCode !== null) throw new Error('exited');
        const r = await kam.rpc('core.version');
        return r !== undefined;
      }, 15_000, 'Kamailio to answer JSON-RPC');
    } catch (err) {
      await kam.kill();
      throw new Error(`Kamailio did not start (${(err as Error).message}):\n${kam.logs().slice(-4000)}`);
    }
    return kam;
  }

  get rpcUrl(): string {
    return `http://127.0.0.1:${this.opts.httpPort}/RPC`;
  }

  logs(): string {
    return this.output;
  }

  async rpc(method: string, params: unknown[] = []): Promise<unknown> {
    const res = await fetch(this.rpcUrl, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }), signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return ((await res.json()) as { result?: unknown }).result ?? null;
  }

  /** SIGTERM to the main process (it stops its children) and wait. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const done = await Promise.race([exited(this.proc).then(() => true), sleep(10_000).then(() => false)]);
    if (!done) await this.kill();
    else this.killGroup('SIGKILL');
  }

  /** A crash: SIGKILL to Kamailio's process group (main process and children). */
  async kill(): Promise<void> {
    this.killGroup('SIGKILL');
    await exited(this.proc);
  }

  private killGroup(signal: NodeJS.Signals): void {
    if (this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // the group is gone
    }
  }
}

// ---------------------------------------------------------------- SIPp

export interface SipMessage {
  /** ms since the epoch (SIPp's clock, which is this machine's) */
  at: number;
  dir: 'sent' | 'received';
  firstLine: string;
  method: string | null;
  status: number | null;
  callId: string;
  cseq: string;
}

/** Parses SIPp's -trace_msg file. */
export function parseSippMessages(text: string): SipMessage[] {
  const out: SipMessage[] = [];
  const blocks = text.split(/^-{20,} (\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})\s*$/m);
  // split with captures: [pre, y, mo, d, h, mi, s, us, body, y, ...]
  for (let i = 1; i + 7 < blocks.length; i += 8) {
    const [y, mo, d, h, mi, s, us] = blocks.slice(i, i + 7).map(Number) as [number, number, number, number, number, number, number];
    const body = blocks[i + 7] as string;
    const at = new Date(y, mo - 1, d, h, mi, s).getTime() + us / 1000;
    const dir = /message sent/.test(body) ? 'sent' : /message received/.test(body) ? 'received' : null;
    if (!dir) continue;
    const lines = body.split(/\r?\n/).map((l) => l.trim());
    const first = lines.find((l) => /^(SIP\/2\.0 \d{3}|[A-Z]+ \S+ SIP\/2\.0)/.test(l));
    if (!first) continue;
    const header = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(name.length + 1).trim() ?? '';
    const status = /^SIP\/2\.0 (\d{3})/.exec(first)?.[1];
    out.push({ at, dir, firstLine: first, method: status ? null : (first.split(' ')[0] as string), status: status ? Number(status) : null, callId: header('Call-ID'), cseq: header('CSeq') });
  }
  return out;
}

export interface SippResult {
  code: number | null;
  output: string;
  successful: number;
  failed: number;
  messages: SipMessage[];
}

export interface SippRun {
  proc: ChildProcess;
  done: Promise<SippResult>;
  kill(): Promise<void>;
}

export interface SippOptions {
  /** scenario file in test/kamailio/scenarios, or a built-in (`uas`, `uac`) */
  scenario: string;
  localPort: number;
  /** UAC: send through this proxy (host:port) to `target` */
  proxy?: string;
  target?: string;
  calls?: number;
  rate?: number;
  /** ms the built-in pause of uac_txn lasts (-d) */
  duration?: number;
  service?: string;
  traceFile?: string;
  extra?: string[];
  timeoutS?: number;
}

const lastCounter = (out: string, name: string) => {
  const all = [...out.matchAll(new RegExp(`${name}\\s*\\|\\s*(\\d+)\\s*\\|\\s*(\\d+)`, 'g'))];
  return Number(all.at(-1)?.[2] ?? 0);
};

/** Runs SIPp; `done` resolves when it exits, with its counters and (with traceFile) its messages. */
export function sipp(opts: SippOptions): SippRun {
  if (!SIPP_BIN) throw new Error('sipp is not installed');
  const args: string[] = [];
  if (opts.scenario.endsWith('.xml')) args.push('-sf', join(SCENARIOS, opts.scenario));
  else args.push('-sn', opts.scenario);
  if (opts.service) args.push('-s', opts.service);
  if (opts.proxy) args.push('-rsa', opts.proxy);
  if (opts.target) args.push(opts.target);
  args.push('-i', '127.0.0.1', '-p', String(opts.localPort), '-nostdin');
  if (opts.calls !== undefined) args.push('-m', String(opts.calls));
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.duration !== undefined) args.push('-d', String(opts.duration));
  if (opts.traceFile) args.push('-trace_msg', '-message_file', opts.traceFile);
  if (opts.timeoutS) args.push('-timeout', `${opts.timeoutS}s`, '-timeout_error');
  args.push(...(opts.extra ?? []));
  const proc = spawn(SIPP_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.traceFile ? dirname(opts.traceFile) : undefined });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const done = exited(proc).then((code) => ({
    code,
    output,
    successful: lastCounter(output, 'Successful call'),
    failed: lastCounter(output, 'Failed call'),
    messages: opts.traceFile && existsSync(opts.traceFile) ? parseSippMessages(readFileSync(opts.traceFile, 'utf8')) : [],
  }));
  return {
    proc,
    done,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

// ---------------------------------------------------------------- the adapter

export interface AdapterOptions {
  evapiPort: number;
  httpPort: number;
  applianceUrl: string;
  token: string;
  source: string;
  stateDir: string;
  extra?: string[];
}

/**
 * How to run the adapter: its build (dist/, what ships) when that is at least as new as every
 * source file, else the TypeScript sources through a transpiling loader (slower to start).
 */
export function adapterEntry(): string[] {
  const srcDir = dirname(ADAPTER_TS);
  const distDir = dirname(ADAPTER_JS);
  const fresh = readdirSync(srcDir)
    .filter((f) => f.endsWith('.ts'))
    .every((f) => {
      const js = join(distDir, f.replace(/\.ts$/, '.js'));
      return existsSync(js) && statSync(js).mtimeMs >= statSync(join(srcDir, f)).mtimeMs;
    });
  return fresh && process.env['SITECALL_ADAPTER_FROM'] !== 'ts' ? [ADAPTER_JS] : ['--import', TS_REGISTER, ADAPTER_TS];
}

/** The adapter as a process of its own. */
export class AdapterProcess {
  private output = '';
  readonly proc: ChildProcess;

  constructor(readonly opts: AdapterOptions) {
    const args = [
      '--evapi',
      `127.0.0.1:${opts.evapiPort}`,
      '--rpc-url',
      `http://127.0.0.1:${opts.httpPort}/RPC`,
      '--appliance',
      opts.applianceUrl,
      '--source',
      opts.source,
      '--state-dir',
      opts.stateDir,
      '--stats-interval',
      '0',
      ...(opts.extra ?? []),
    ];
    this.proc = spawn(process.execPath, [...adapterEntry(), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SITECALL_TOKEN: opts.token } });
    this.proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  logs(): string {
    return this.output;
  }

  /** The JSON log lines so far. */
  lines(): Record<string, any>[] {
    return this.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
  }

  async waitForLog(test: (line: Record<string, any>) => boolean, timeoutMs = 10_000, what = 'an adapter log line'): Promise<Record<string, any>> {
    let found: Record<string, any> | undefined;
    await waitUntil(() => {
      if (this.proc.exitCode !== null) throw new Error(`the adapter exited:\n${this.output}`);
      found = this.lines().find(test);
      return found !== undefined;
    }, timeoutMs, `${what}\n--- adapter log ---\n${this.output.slice(-3000)}`);
    return found as Record<string, any>;
  }

  async stop(): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    return exited(this.proc);
  }

  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await exited(this.proc);
  }
}

// ---------------------------------------------------------------- checks

/** |a − b| in ms for two times given as ISO strings or epoch ms. */
export function msBetween(a: string | number | null | undefined, b: string | number | null | undefined): number {
  if (a === null || a === undefined || b === null || b === undefined) return Number.POSITIVE_INFINITY;
  const ta = typeof a === 'number' ? a : Date.parse(a);
  const tb = typeof b === 'number' ? b : Date.parse(b);
  return Math.abs(ta - tb);
}

/**
 * How far (ms) a time is from the span of two SIPp timestamps of one message: when the sender
 * sent it and when the receiver took it in (0 inside). Kamailio handles the message in between;
 * a SIPp that the machine starves of CPU for a moment stamps late, and the span absorbs that.
 */
export function msOutside(t: string | number | null | undefined, ...stamps: SipMessage[]): number {
  if (t === null || t === undefined || stamps.length === 0) return Number.POSITIVE_INFINITY;
  const at = typeof t === 'number' ? t : Date.parse(t);
  const lo = Math.min(...stamps.map((m) => m.at));
  const hi = Math.max(...stamps.map((m) => m.at));
  return at < lo ? lo - at : at > hi ? at - hi : 0;
}

/** The first message of a call matching a direction and a first-line test. */
export function findMessage(messages: SipMessage[], callId: string, dir: SipMessage['dir'], test: (m: SipMessage) => boolean): SipMessage {
  const m = messages.find((x) => x.callId === callId && x.dir === dir && test(x));
  if (!m) throw new Error(`no ${dir} message matching in call ${callId}:\n${messages.filter((x) => x.callId === callId).map((x) => `${x.dir} ${x.firstLine} ${x.cseq}`).join('\n')}`);
  return m;
}
