/**
 * Load run: SIPp calls through Kamailio (the shipped cfg) into the appliance through the adapter,
 * and a count of the CDRs against SIPp's own count: none lost, none twice.
 *
 *   npm run build && node --import ./test/kamailio/ts-register.mjs test/kamailio/load.ts \
 *       [--rates 100,200,400] [--first-duration 60] [--step-duration 20] [--call-ms 1000] [--out results.json]
 *
 * The first rate runs --first-duration seconds (the acceptance run: 100 calls/s for 60 s); each
 * further rate runs --step-duration seconds, and the stepping stops after the first rate whose
 * records are not right. Two verdicts per rate:
 *  - records right: every dialog Kamailio handled (its dialog:processed_dialogs counter) has
 *    exactly one CDR (or is still up: a call SIPp gave up on mid-call has no end yet), every call SIPp completed has an ANSWERED/normal one, no CDR id repeats and
 *    the appliance counted no gap in the event numbering;
 *  - SIP clean: in addition SIPp saw no failed call (failures past the machine's limit come from
 *    UDP datagrams the kernel drops for full socket buffers, also reported).
 * Callers use scenarios/uac_txn.xml (late provisional replies ignored, see
 * notes/kamailio-load.md), callees SIPp's built-in uas; calls last --call-ms.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { Cdr } from '../../shared/api/cdr.js';
import { freePorts, sipp, sleep } from './harness.js';
import { sourceOf, startStack, stopStack, type Stack } from './stack.js';

interface Args {
  rates: number[];
  firstDuration: number;
  stepDuration: number;
  callMs: number;
  out: string | null;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, def: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? (argv[i + 1] as string) : def;
  };
  return {
    rates: get('rates', '100,200,300,400,500,600,800,1000')
      .split(',')
      .map(Number)
      .filter((n) => n > 0),
    firstDuration: Number(get('first-duration', '60')),
    stepDuration: Number(get('step-duration', '20')),
    callMs: Number(get('call-ms', '1000')),
    out: get('out', '') || null,
  };
}

const log = (msg: string) => process.stderr.write(`[load ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** CPU seconds used so far by these processes (and, for a group leader, its whole group). */
function cpuSeconds(pids: number[], groups: number[] = []): number {
  const hz = 100;
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pgrp = Number(fields[2]);
      if (pids.includes(Number(entry)) || groups.includes(pgrp)) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / hz;
}

/** The kernel's UDP counters (datagrams dropped for a full socket buffer show up here). */
function udpErrors(): { rcvbuf: number; inErrors: number } {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/).slice(1));
  const get = (n: string) => Number(values?.[names?.indexOf(n) ?? -1] ?? 0);
  return { rcvbuf: get('RcvbufErrors'), inErrors: get('InErrors') };
}

interface StepResult {
  rate: number;
  seconds: number;
  offered: number;
  sippSuccessful: number;
  sippFailed: number;
  cdrs: number;
  duplicateCdrs: number;
  answeredNormal: number;
  missingCdrs: number;
  otherCdrs: number;
  /** from SIPp's exit to the last CDR of the run in the store */
  catchUpMs: number;
  eventsReceived: number;
  gaps: number;
  cpu: { kamailio: number; appliance: number; adapter: number; sipp: number };
  /** UDP datagrams the kernel dropped during the step (full receive buffers) */
  udpDrops: number;
  /** dialogs Kamailio handled during the step */
  kamailioDialogs: number;
  /** calls of the step still up at its end (SIPp gave up on them mid-call): no record yet, rightly */
  stillUp: number;
  /** the machine's 1-minute load average at the end of the step (other work on it shows here) */
  loadAvg: number;
  recordsRight: boolean;
  clean: boolean;
}

async function processedDialogs(stack: Stack): Promise<number> {
  // 5.6.3: {"dialog.processed_dialogs":"123"}
  const r = (await stack.kam.rpc('stats.fetch', ['dialog:processed_dialogs'])) as Record<string, string> | null;
  return Number(r?.['dialog.processed_dialogs'] ?? NaN);
}

/** The calls of this run still up: every page of GET /api/v1/calls (newest first, by cursor). */
async function stillUp(stack: Stack, marker: string): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await stack.admin.get(`/api/v1/calls?limit=5000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    count += page.body.items.filter((c) => c.id.endsWith(marker)).length;
    cursor = page.body.nextCursor;
  } while (cursor);
  return count;
}

async function countCdrs(stack: Stack, marker: string): Promise<number> {
  const r = await stack.admin.get<{ total: number }>(`/api/v1/cdrs?search=${encodeURIComponent(marker)}&limit=1`);
  return r.body.total;
}

async function step(stack: Stack, uasPort: number, uasPid: number, rate: number, seconds: number, callMs: number): Promise<StepResult> {
  const offered = Math.round(rate * seconds);
  const [port] = (await freePorts(1)) as [number];
  const before = await sourceOf(stack.admin, stack.source);
  const kamPid = stack.kam.proc.pid as number;
  const cpu0 = { kamailio: cpuSeconds([], [kamPid]), appliance: cpuSeconds([stack.svc.proc.pid as number]), adapter: cpuSeconds([stack.adapter.proc.pid as number]), sipp: cpuSeconds([uasPid]) };
  const udp0 = udpErrors();
  const dialogs0 = await processedDialogs(stack);
  const started = Date.now();
  log(`${rate} calls/s for ${seconds} s (${offered} calls of ${callMs} ms)`);
  const run = sipp({
    scenario: 'uac_txn.xml',
    localPort: port,
    proxy: stack.proxy,
    target: `127.0.0.1:${uasPort}`,
    calls: offered,
    rate,
    duration: callMs,
    timeoutS: seconds + 120,
    extra: ['-rp', '1000', '-max_recv_loops', '10000', '-max_sched_loops', '10000', '-buff_size', '4194304'],
  });
  const sippPid = run.proc.pid as number;
  let sippCpu = 0;
  const sampler = setInterval(() => (sippCpu = Math.max(sippCpu, cpuSeconds([sippPid]))), 500);
  const result = await run.done;
  clearInterval(sampler);
  const sippEnded = Date.now();
  const marker = `-${sippPid}@127.0.0.1`;

  // wait until the store has every record it is going to get (stable for 3 s, at most 180 s)
  let last = -1;
  let lastChange = Date.now();
  let lastGrowthAt = sippEnded;
  for (;;) {
    const n = await countCdrs(stack, marker);
    if (n !== last) {
      if (n > last && last >= 0) lastGrowthAt = Date.now();
      last = n;
      lastChange = Date.now();
    }
    if (n >= offered && Date.now() - lastChange > 1000) break;
    if (Date.now() - lastChange > 3000 || Date.now() - sippEnded > 180_000) break;
    await sleep(250);
  }
  const exp = await stack.admin.get(`/api/v1/cdrs/export?format=ndjson&search=${encodeURIComponent(marker)}`);
  const records = exp.text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Cdr);
  const ids = new Set(records.map((r) => r.id));
  const answeredNormal = records.filter((r) => r.disposition === 'ANSWERED' && r.endReason === 'normal').length;
  const after = await sourceOf(stack.admin, stack.source);
  const elapsed = (Date.now() - started) / 1000;
  const cpu = {
    kamailio: (cpuSeconds([], [kamPid]) - cpu0.kamailio) / elapsed,
    appliance: (cpuSeconds([stack.svc.proc.pid as number]) - cpu0.appliance) / elapsed,
    adapter: (cpuSeconds([stack.adapter.proc.pid as number]) - cpu0.adapter) / elapsed,
    sipp: (cpuSeconds([uasPid]) - cpu0.sipp + sippCpu) / elapsed,
  };
  const res: StepResult = {
    rate,
    seconds,
    offered,
    sippSuccessful: result.successful,
    sippFailed: result.failed,
    cdrs: records.length,
    duplicateCdrs: records.length - ids.size,
    answeredNormal,
    missingCdrs: Math.max(0, result.successful - answeredNormal),
    otherCdrs: records.length - answeredNormal,
    catchUpMs: Math.max(0, lastGrowthAt - sippEnded),
    eventsReceived: (after?.eventsReceived ?? 0) - (before?.eventsReceived ?? 0),
    gaps: (after?.gaps ?? 0) - (before?.gaps ?? 0),
    cpu,
    udpDrops: udpErrors().rcvbuf - udp0.rcvbuf,
    kamailioDialogs: (await processedDialogs(stack)) - dialogs0,
    stillUp: await stillUp(stack, marker),
    loadAvg: Math.round((loadavg()[0] ?? 0) * 10) / 10,
    recordsRight: false,
    clean: false,
  };
  res.recordsRight = res.cdrs + res.stillUp === res.kamailioDialogs && res.duplicateCdrs === 0 && res.missingCdrs === 0 && res.gaps === 0;
  res.clean = res.recordsRight && res.sippFailed === 0 && res.sippSuccessful === offered && res.cdrs === offered;
  log(
    `${rate}/s: SIPp ${res.sippSuccessful} ok ${res.sippFailed} failed; Kamailio dialogs ${res.kamailioDialogs}, still up ${res.stillUp}; CDRs ${res.cdrs} (answered ${res.answeredNormal}, other ${res.otherCdrs}, twice ${res.duplicateCdrs}, missing ${res.missingCdrs}); ` +
      `events ${res.eventsReceived}, gaps ${res.gaps}, catch-up ${res.catchUpMs} ms; CPU kam ${pct(cpu.kamailio)} app ${pct(cpu.appliance)} adapter ${pct(cpu.adapter)} sipp ${pct(cpu.sipp)}; UDP drops ${res.udpDrops}; load average ${res.loadAvg} => records ${res.recordsRight ? 'right' : 'WRONG'}, SIP ${res.clean ? 'clean' : 'not clean'}`,
  );
  if (!res.recordsRight) {
    log(`SIPp output tail:\n${result.output.slice(-1500)}`);
    const noisy = stack.adapter.lines().filter((l) => l.level === 'error' || l.level === 'warn');
    log(`adapter warnings/errors (${noisy.length}):\n${noisy.slice(0, 10).map((l) => JSON.stringify(l).slice(0, 600)).join('\n')}`);
  }
  return res;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  log(`machine: ${cpus().length} CPUs ${cpus()[0]?.model ?? ''}; rates ${args.rates.join(', ')}`);
  const stack = await startStack({ source: 'kamload', kamailio: { children: 8, shmMb: 1024, pkgMb: 16, debug: 1 } });
  const results: StepResult[] = [];
  try {
    const [uasPort] = (await freePorts(1)) as [number];
    const uas = sipp({ scenario: 'uas', localPort: uasPort, extra: ['-max_recv_loops', '10000', '-buff_size', '4194304'] });
    await sleep(500);
    for (const [i, rate] of args.rates.entries()) {
      const r = await step(stack, uasPort, uas.proc.pid as number, rate, i === 0 ? args.firstDuration : args.stepDuration, args.callMs);
      results.push(r);
      if (!r.recordsRight && i > 0) break;
      await sleep(3000);
    }
    await uas.kill();
    const adapterErrors = stack.adapter.lines().filter((l) => l.level === 'error');
    const highestRight = results.filter((r) => r.recordsRight).reduce((m, r) => Math.max(m, r.rate), 0);
    const highestClean = results.filter((r) => r.clean).reduce((m, r) => Math.max(m, r.rate), 0);
    const summary = { at: new Date().toISOString(), cpus: cpus().length, callMs: args.callMs, highestRateRecordsRight: highestRight, highestRateSipClean: highestClean, adapterErrors: adapterErrors.length, steps: results };
    process.stdout.write(`${table(results)}\nhighest rate with every record right: ${highestRight} calls/s; with no SIP failure either: ${highestClean} calls/s\n`);
    if (args.out) writeFileSync(args.out, JSON.stringify(summary, null, 2) + '\n');
    return results[0]?.recordsRight ? 0 : 1;
  } finally {
    await stopStack(stack);
  }
}

function table(rows: StepResult[]): string {
  const head = ['calls/s', 's', 'offered', 'SIPp ok', 'SIPp failed', 'CDRs', 'twice', 'missing', 'events', 'gaps', 'catch-up ms', 'CPU kam', 'CPU app', 'CPU adapter', 'CPU sipp', 'UDP drops', 'load avg', 'Kamailio dialogs', 'still up', 'records right', 'SIP clean'];
  const body = rows.map((r) => [r.rate, r.seconds, r.offered, r.sippSuccessful, r.sippFailed, r.cdrs, r.duplicateCdrs, r.missingCdrs, r.eventsReceived, r.gaps, r.catchUpMs, pct(r.cpu.kamailio), pct(r.cpu.appliance), pct(r.cpu.adapter), pct(r.cpu.sipp), r.udpDrops, r.loadAvg, r.kamailioDialogs, r.stillUp, r.recordsRight ? 'yes' : 'NO', r.clean ? 'yes' : 'no'].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`load run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
