import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { LoginResponse } from '../../../shared/api/auth.js';
import { onUnauthorized } from '../api/client.js';
import { logout } from '../api/endpoints.js';
import { liveFeed } from '../lib/live.js';
import { clearSession, restoreSession, saveSession, type Session } from './session.js';

/**
 * Why the login page is shown, when there is something to say about it. `joined`: this site joined
 * another site's installation (the sites page paired it) and now uses that installation's users,
 * so the service ended this session; `site` names the other site (its name, or its address).
 */
export type LoginNotice = 'expired' | 'signed-out' | { kind: 'joined'; site: string } | null;

interface AuthValue {
  session: Session | null;
  notice: LoginNotice;
  signIn(res: LoginResponse): void;
  signOut(): Promise<void>;
  /** The service ended the session for a reason the console knows: leave, and say it on the login page. */
  endSession(notice: NonNullable<LoginNotice>): void;
  /**
   * Until the returned function is called, a 401 means the session ended for `notice`'s reason
   * (a pairing under way replaces this site's users), not that it expired.
   */
  expectSessionEnd(notice: NonNullable<LoginNotice>): () => void;
}

const AuthContext = createContext<AuthValue | null>(null);

/** Longest delay setTimeout accepts; a session that lasts longer is re-checked then. */
const MAX_TIMEOUT = 2_147_483_647;

export function AuthProvider({ children }: { children: ReactNode }) {
  const [initial] = useState(restoreSession);
  const [session, setSession] = useState<Session | null>(initial.session);
  const [notice, setNotice] = useState<LoginNotice>(initial.expired ? 'expired' : null);

  const sessionRef = useRef(session);
  sessionRef.current = session;
  const signingOutRef = useRef(false);
  const expectedEndRef = useRef<NonNullable<LoginNotice> | null>(null);

  const expire = useCallback(() => {
    clearSession();
    liveFeed.close();
    if (sessionRef.current && !signingOutRef.current) setNotice(expectedEndRef.current ?? 'expired');
    sessionRef.current = null;
    setSession(null);
  }, []);

  const endSession = useCallback((reason: NonNullable<LoginNotice>) => {
    clearSession();
    liveFeed.close();
    // (requests still in flight come back 401 after this: with no session left they change nothing)
    sessionRef.current = null;
    setSession(null);
    setNotice(reason);
  }, []);

  const expectSessionEnd = useCallback((reason: NonNullable<LoginNotice>) => {
    expectedEndRef.current = reason;
    return () => {
      if (expectedEndRef.current === reason) expectedEndRef.current = null;
    };
  }, []);

  // Any 401 on an authenticated call: the session is over, back to the login page.
  useEffect(() => onUnauthorized(expire), [expire]);

  // The token's own expiry: leave the console when it passes, even if nothing is being loaded.
  useEffect(() => {
    if (!session) return undefined;
    const delay = Date.parse(session.expiresAt) - Date.now();
    const timer = window.setTimeout(() => {
      if (Date.parse(session.expiresAt) <= Date.now()) expire();
      else setSession({ ...session }); // a very long session: schedule again
    }, Math.min(Math.max(delay, 0), MAX_TIMEOUT));
    return () => window.clearTimeout(timer);
  }, [session, expire]);

  const signIn = useCallback((res: LoginResponse) => {
    signingOutRef.current = false;
    expectedEndRef.current = null;
    setSession(saveSession(res));
    setNotice(null);
  }, []);

  const signOut = useCallback(async () => {
    // From here on the session is ending by choice. The service revokes the token before it answers
    // the logout, so a request still in flight (a dashboard poll, the live feed) can come back 401
    // after that answer and before React renders the login page; without this, expire() would see
    // the old session in the ref and replace "You have logged out" with "Your session expired".
    signingOutRef.current = true;
    try {
      await logout();
    } catch {
      // Already expired or the service is unreachable: the local session ends either way.
    }
    clearSession();
    liveFeed.close();
    setSession(null);
    setNotice('signed-out');
  }, []);

  const value = useMemo(() => ({ session, notice, signIn, signOut, endSession, expectSessionEnd }), [session, notice, signIn, signOut, endSession, expectSessionEnd]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth outside <AuthProvider>');
  return value;
}
