/**
 * The console's session: the Bearer token from login and its expiry, kept in sessionStorage
 * (per browser tab, gone when the tab closes). This module is the one source of truth the
 * API client reads the token from.
 */
import type { LoginResponse, Scope } from '../../../shared/api/auth.js';

export interface Session {
  token: string;
  expiresAt: string;
  username: string;
  scopes: Scope[];
}

const KEY = 'sitecall.session';

function storage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined; // storage disabled: the session lives only in memory
  }
}

function isSession(value: unknown): value is Session {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['token'] === 'string' &&
    typeof v['expiresAt'] === 'string' &&
    typeof v['username'] === 'string' &&
    Array.isArray(v['scopes'])
  );
}

export function isExpired(session: Session, now: number = Date.now()): boolean {
  const at = Date.parse(session.expiresAt);
  return Number.isNaN(at) || at <= now;
}

function read(): Session | null {
  const raw = storage()?.getItem(KEY);
  if (!raw) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isSession(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

let memory: Session | null = read();

/** What a page load finds: a live session, or none (and whether one had just expired). */
export function restoreSession(): { session: Session | null; expired: boolean } {
  if (memory && isExpired(memory)) {
    clearSession();
    return { session: null, expired: true };
  }
  return { session: memory, expired: false };
}

/** The live session, or null; an expired one counts as none. */
export function currentSession(): Session | null {
  return memory && !isExpired(memory) ? memory : null;
}

export function saveSession(res: LoginResponse): Session {
  memory = { token: res.token, expiresAt: res.expiresAt, username: res.username, scopes: [...res.scopes] };
  storage()?.setItem(KEY, JSON.stringify(memory));
  return memory;
}

export function clearSession(): void {
  memory = null;
  storage()?.removeItem(KEY);
}
