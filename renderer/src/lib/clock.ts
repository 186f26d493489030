/**
 * One shared once-a-second clock for values that tick (call durations). Components that show a
 * ticking value subscribe to it themselves, so a tick renders those small components only, never
 * the table around them.
 *
 * The time is the service's: the browser's clock corrected by the difference seen in the last
 * status answer, so durations are right even when the admin's PC clock is off by minutes.
 */
import { useSyncExternalStore } from 'react';

const listeners = new Set<() => void>();
let timer: number | undefined;
let offsetMs = 0;
let now = Date.now();

function tick(): void {
  now = Date.now() + offsetMs;
  for (const l of listeners) l();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (timer === undefined) {
    now = Date.now() + offsetMs;
    // Aligned to the second boundary so that all durations change together.
    const align = 1000 - (Date.now() % 1000);
    timer = window.setTimeout(() => {
      tick();
      timer = window.setInterval(tick, 1000);
    }, align);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer !== undefined) {
      window.clearTimeout(timer);
      window.clearInterval(timer);
      timer = undefined;
    }
  };
}

function getNow(): number {
  return now;
}

/** The service's time, updated once a second while the component is shown. */
export function useServerNow(): number {
  return useSyncExternalStore(subscribe, getNow);
}

/** The service's time now (not reactive). */
export function serverNow(): number {
  return Date.now() + offsetMs;
}

/**
 * Records the service's clock as seen in a status answer: `serverMs` is what the service's clock
 * said, `receivedAt` the browser's clock when the answer arrived. Differences under two seconds
 * are noise (the uptime is rounded to the second, plus latency) and ignored.
 */
export function observeServerClock(serverMs: number, receivedAt: number): void {
  const diff = serverMs - receivedAt;
  offsetMs = Math.abs(diff) < 2000 ? 0 : diff;
}
