import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import type { Health } from '../../../shared/api/status.js';
import { toApiError, type ApiError } from '../api/client.js';
import { getHealth, login } from '../api/endpoints.js';
import { useAuth } from '../auth/AuthContext.js';
import { Icon } from '../components/icons.js';
import { Alert } from '../components/ui.js';
import { useTitle } from '../lib/useTitle.js';

function returnPath(state: unknown): string {
  if (typeof state === 'object' && state !== null && 'from' in state && typeof state.from === 'string') {
    const from = state.from;
    if (from.startsWith('/') && !from.startsWith('//') && !from.startsWith('/login')) return from;
  }
  return '/';
}

/** "Service running" with the site and version from /healthz, or that it cannot be reached. */
function ServiceLine() {
  const [health, setHealth] = useState<Health | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const controller = new AbortController();
    getHealth(controller.signal).then(
      (h) => setHealth(h),
      () => {
        if (!controller.signal.aborted) setFailed(true);
      },
    );
    return () => controller.abort();
  }, []);
  if (failed) {
    return (
      <p className="login__service login__service--down">
        <span className="status-dot status-dot--danger" aria-hidden="true" />
        The Sitecall service is not answering.
      </p>
    );
  }
  if (!health) return <p className="login__service login__service--pending">Checking the service…</p>;
  return (
    <p className="login__service">
      <span className={`status-dot status-dot--${health.status === 'ok' ? 'success' : 'warning'}`} aria-hidden="true" />
      <span>
        Site <strong>{health.site}</strong> · version {health.version}
        {health.status === 'ok' ? '' : ` · ${health.status}`}
      </span>
    </p>
  );
}

function loginErrorMessage(error: ApiError): string {
  if (error.code === 'unauthorized') return 'The user name or password is not correct.';
  // rate_limited: the service's message says when to try again; network: says the service is unreachable.
  return error.message;
}

export function LoginPage() {
  useTitle('Log in');
  const { session, notice, signIn } = useAuth();
  const location = useLocation();
  const navigate = useNavigate();
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  if (session) return <Navigate to={returnPath(location.state)} replace />;

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (busy) return;
    if (!username.trim() || !password) {
      setError(null);
      (username.trim() ? passwordRef.current : document.getElementById('login-username'))?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const res = await login({ username: username.trim(), password });
      signIn(res);
      navigate(returnPath(location.state), { replace: true });
    } catch (err) {
      setError(toApiError(err));
      setBusy(false);
      passwordRef.current?.focus();
      passwordRef.current?.select();
    }
  };

  return (
    <div className="login">
      <main className="login__card">
        <div className="login__brand">
          <svg className="brand__mark brand__mark--large" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
            <rect width="32" height="32" rx="7" />
            <path d="M11.2 7.5c.6-.2 1.3 0 1.6.6l1.6 3.4c.3.6.1 1.3-.4 1.7l-1.7 1.3a11 11 0 0 0 4.9 4.9l1.3-1.7c.4-.5 1.1-.7 1.7-.4l3.4 1.6c.6.3.9 1 .7 1.6l-.7 2.4c-.2.7-.9 1.2-1.6 1.1C14 23.3 8.7 18 7.9 10.8c-.1-.7.4-1.4 1.1-1.6z" />
          </svg>
          <div>
            <h1 className="login__title">Log in to Sitecall</h1>
            <ServiceLine />
          </div>
        </div>

        {notice === 'expired' ? (
          <Alert tone="info">Your session expired. Log in again to continue.</Alert>
        ) : notice === 'signed-out' ? (
          <Alert tone="success">You have logged out.</Alert>
        ) : typeof notice === 'object' && notice?.kind === 'joined' ? (
          <Alert tone="info" title={`This site joined the installation of ${notice.site}`}>
            It now uses that installation's users, so your session ended. Log in again with the installation's password
            (the one you use on {notice.site}).
          </Alert>
        ) : null}

        <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-describedby="login-hint">
          <div className="field">
            <label htmlFor="login-username">User name</label>
            <input
              id="login-username"
              name="username"
              className="input"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              required
            />
          </div>
          <div className="field">
            <label htmlFor="login-password">Password</label>
            <input
              id="login-password"
              ref={passwordRef}
              name="password"
              type="password"
              className="input"
              autoComplete="current-password"
              autoFocus
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={error?.code === 'unauthorized' ? true : undefined}
              aria-errormessage={error ? 'login-error' : undefined}
              required
            />
          </div>
          {error ? (
            <div id="login-error">
              <Alert tone="danger">{loginErrorMessage(error)}</Alert>
            </div>
          ) : null}
          <button type="submit" className="button button--primary button--block" disabled={busy}>
            {busy ? 'Logging in…' : 'Log in'}
          </button>
        </form>

        <div className="login__hint" id="login-hint">
          <Icon name="info" />
          <p>
            <strong>First start?</strong> Unless a password was set at installation, the service generated one for{' '}
            <code>admin</code> and printed it once in its log. It is also saved on the server in{' '}
            <code className="nowrap">&lt;data dir&gt;/initial-admin-password</code>.
          </p>
        </div>
      </main>
    </div>
  );
}
