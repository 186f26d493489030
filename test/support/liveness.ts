import type { RunningTestService } from './service.js';

/**
 * Throws unless the service process is still running and /healthz answers 200 within the
 * deadline: the check between the attacks of the edge and fuzz tests.
 */
export async function assertAlive(svc: RunningTestService, what: string, deadlineMs = 2000): Promise<void> {
  if (svc.proc.exitCode !== null || svc.proc.signalCode !== null) {
    throw new Error(`the service exited (code ${String(svc.proc.exitCode)}, signal ${String(svc.proc.signalCode)}) after ${what}:\n${tail(svc.logs())}`);
  }
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(`${svc.url}/healthz`, { signal: AbortSignal.timeout(deadlineMs) });
  } catch (err) {
    // A process that is going down stops answering a moment before its exit is seen.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 500);
      svc.proc.once('exit', () => (clearTimeout(timer), resolve()));
    });
    throw new Error(`/healthz did not answer within ${deadlineMs} ms after ${what} (${String(err)}); process ${svc.proc.exitCode === null ? 'running' : `exited ${svc.proc.exitCode}`}:\n${tail(svc.logs())}`);
  }
  if (res.status !== 200) throw new Error(`/healthz answered ${res.status} after ${what}`);
  await res.arrayBuffer();
  const ms = Date.now() - started;
  if (ms > deadlineMs) throw new Error(`/healthz took ${ms} ms after ${what}`);
}

/** The last lines of a log, for a failure message. */
export function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** SIGTERM, and SIGKILL when the process has not exited within the grace (a wedged service ignores SIGTERM). */
export async function stopOrKill(svc: RunningTestService, graceMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([svc.stop().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
  clearTimeout(timer);
  if (!stopped) await svc.kill();
}
