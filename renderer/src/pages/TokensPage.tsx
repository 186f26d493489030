import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { Scope, TokenCreated, TokenInfo } from '../../../shared/api/auth.js';
import { toApiError, type ApiError } from '../api/client.js';
import { createToken, listTokens, revokeToken } from '../api/endpoints.js';
import { Icon } from '../components/icons.js';
import {
  Alert,
  Badge,
  ConfirmDialog,
  CopyButton,
  EmptyState,
  ErrorPanel,
  ErrorText,
  LoadingRegion,
  PageHeader,
  Panel,
  SkeletonTable,
} from '../components/ui.js';
import { formatDateTime, formatRelative } from '../lib/format.js';
import { useResource } from '../lib/useResource.js';
import { useTitle } from '../lib/useTitle.js';

/** Every scope with what it allows; a Record so a scope added in shared/ must be described here. */
const SCOPE_INFO: Record<Scope, string> = {
  events: 'Send call events and re-sync active calls (the phone system)',
  admission: 'Ask whether a call may start under the call limits',
  vmail: 'Deposit voicemail and read greetings and message counts (media servers)',
  read: 'Read status, configuration, calls and call records',
  admin: 'Everything, including configuration and tokens; implies every other scope',
};
const SCOPES = Object.keys(SCOPE_INFO) as Scope[];

function CreatedSecret({ created, onDone }: { created: TokenCreated; onDone: () => void }) {
  const inputRef = useRef<HTMLInputElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), []);
  return (
    <section className="secret" aria-labelledby="secret-title" data-testid="token-secret">
      <h2 id="secret-title" className="secret__title" ref={headingRef} tabIndex={-1}>
        <Icon name="check" />
        Token “{created.name}” created
      </h2>
      <p className="secret__warning">
        <Icon name="alert" />
        <span>
          <strong>Copy it now. It is shown only this once</strong> and cannot be looked up later. If it is lost, revoke the
          token and create a new one.
        </span>
      </p>
      <div className="secret__row">
        <label htmlFor="token-secret" className="visually-hidden">
          Token secret
        </label>
        <input
          id="token-secret"
          ref={inputRef}
          className="input input--mono"
          readOnly
          value={created.token}
          onFocus={(e) => e.currentTarget.select()}
        />
        <CopyButton text={created.token} fallbackTarget={() => inputRef.current} />
      </div>
      <p className="secret__usage">
        Send it in the <code>Authorization: Bearer …</code> header. Scopes:{' '}
        {created.scopes.map((s) => (
          <Badge key={s} tone={s === 'admin' ? 'warning' : 'neutral'}>
            {s}
          </Badge>
        ))}
      </p>
      <div>
        <button type="button" className="button" onClick={onDone}>
          I have copied it
        </button>
      </div>
    </section>
  );
}

function CreateTokenForm({ onCreated, onCancel }: { onCreated: (t: TokenCreated) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Set<Scope>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [problems, setProblems] = useState<{ name?: string; scopes?: string }>({});
  const nameRef = useRef<HTMLInputElement>(null);
  const firstScopeRef = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => nameRef.current?.focus(), []);

  const toggle = (scope: Scope, on: boolean) => {
    setScopes((prev) => {
      const next = new Set(prev);
      if (on) next.add(scope);
      else next.delete(scope);
      return next;
    });
    setProblems((p) => ({ ...p, scopes: undefined }));
  };

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const trimmed = name.trim();
    const found: { name?: string; scopes?: string } = {};
    if (!trimmed) found.name = 'Give the token a name, such as the system that will use it.';
    if (scopes.size === 0) found.scopes = 'Choose at least one scope.';
    setProblems(found);
    if (found.name || found.scopes) {
      (found.name ? nameRef.current : firstScopeRef.current)?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await createToken({ name: trimmed, scopes: SCOPES.filter((s) => scopes.has(s)) });
      setName('');
      setScopes(new Set());
      onCreated(created);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form token-form" onSubmit={(e) => void submit(e)} noValidate>
      <div className="field token-form__name">
        <label htmlFor={`${id}-name`}>Name</label>
        <input
          id={`${id}-name`}
          ref={nameRef}
          className="input"
          value={name}
          maxLength={100}
          placeholder="e.g. kamailio-edge-1"
          autoComplete="off"
          onChange={(e) => {
            setName(e.target.value);
            setProblems((p) => ({ ...p, name: undefined }));
          }}
          aria-invalid={problems.name ? true : undefined}
          aria-describedby={problems.name ? `${id}-name-error` : `${id}-name-help`}
        />
        {problems.name ? (
          <p className="field__error" id={`${id}-name-error`}>
            {problems.name}
          </p>
        ) : (
          <p className="field__help" id={`${id}-name-help`}>
            Name it after the system that will use it.
          </p>
        )}
      </div>
      <fieldset className="fieldset" aria-describedby={problems.scopes ? `${id}-scopes-error` : undefined}>
        <legend>Scopes</legend>
        <div className="scope-grid">
          {SCOPES.map((scope, i) => (
            <label key={scope} className="scope-option">
              <input
                type="checkbox"
                ref={i === 0 ? firstScopeRef : undefined}
                name="scopes"
                value={scope}
                checked={scopes.has(scope)}
                onChange={(e) => toggle(scope, e.target.checked)}
              />
              <span>
                <span className="scope-option__name">{scope}</span>
                <span className="scope-option__description">{SCOPE_INFO[scope]}</span>
              </span>
            </label>
          ))}
        </div>
        {problems.scopes ? (
          <p className="field__error" id={`${id}-scopes-error`}>
            {problems.scopes}
          </p>
        ) : null}
      </fieldset>
      {error ? (
        <Alert tone="danger" title="The token was not created">
          <ErrorText error={error} />
        </Alert>
      ) : null}
      <div className="form-actions">
        <button type="submit" className="button button--primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create token'}
        </button>
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function TokenTable({ items, onRevoke }: { items: TokenInfo[]; onRevoke: (t: TokenInfo) => void }) {
  const now = Date.now();
  return (
    <table className="table" data-testid="token-table">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Scopes</th>
          <th scope="col">Created</th>
          <th scope="col">Last used</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {items.map((t) => (
          <tr key={t.id}>
            <th scope="row" className="cell-name">
              {t.name}
            </th>
            <td>
              <span className="badge-list">
                {t.scopes.map((s) => (
                  <Badge key={s} tone={s === 'admin' ? 'warning' : 'neutral'}>
                    {s}
                  </Badge>
                ))}
              </span>
            </td>
            <td>
              <time dateTime={t.createdAt}>{formatDateTime(t.createdAt)}</time>
            </td>
            <td>
              {t.lastUsedAt ? (
                <time dateTime={t.lastUsedAt} title={formatDateTime(t.lastUsedAt)}>
                  {formatRelative(t.lastUsedAt, now)}
                </time>
              ) : (
                <span className="muted">Never</span>
              )}
            </td>
            <td className="cell-actions">
              <button type="button" className="button button--small button--danger-outline" onClick={() => onRevoke(t)}>
                <Icon name="trash" />
                Revoke<span className="visually-hidden"> {t.name}</span>
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function TokensPage() {
  useTitle('API tokens');
  const tokens = useResource(listTokens);
  const [created, setCreated] = useState<TokenCreated | null>(null);
  const [revoking, setRevokingState] = useState<TokenInfo | null>(null);
  // The dialog keeps showing the last token's name while it closes.
  const [lastRevoking, setLastRevoking] = useState<TokenInfo | null>(null);
  const setRevoking = (t: TokenInfo | null) => {
    setRevokingState(t);
    if (t) setLastRevoking(t);
  };
  const [revokeBusy, setRevokeBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<ApiError | undefined>(undefined);
  const [message, setMessage] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const newButtonRef = useRef<HTMLButtonElement>(null);

  const startCreating = () => {
    setMessage(null);
    setCreating(true);
  };
  const newTokenButton = creating ? null : (
    <button ref={newButtonRef} type="button" className="button button--primary" onClick={startCreating}>
      <Icon name="plus" />
      New token
    </button>
  );

  const confirmRevoke = async () => {
    if (!revoking) return;
    setRevokeBusy(true);
    setRevokeError(undefined);
    try {
      await revokeToken(revoking.id);
      setMessage(`Token “${revoking.name}” revoked. Anything still using it is now refused.`);
      if (created?.id === revoking.id) setCreated(null);
      setRevoking(null);
      tokens.reload();
    } catch (err) {
      const e = toApiError(err);
      if (e.code === 'not_found') {
        setMessage(`Token “${revoking.name}” was already revoked.`);
        setRevoking(null);
        tokens.reload();
      } else {
        setRevokeError(e);
      }
    } finally {
      setRevokeBusy(false);
    }
  };

  let list;
  if (!tokens.data && tokens.error) {
    list = tokens.error.code === 'forbidden' ? (
      <EmptyState icon="key" title="Only administrators can manage API tokens" headingLevel={3}>
        <p>Log in as a user with the admin scope to see and create tokens.</p>
      </EmptyState>
    ) : (
      <ErrorPanel title="The tokens could not be loaded" error={tokens.error} onRetry={tokens.reload} busy={tokens.loading} />
    );
  } else if (!tokens.data) {
    list = (
      <LoadingRegion label="Loading tokens…">
        <SkeletonTable rows={3} columns={['wide', 'wide', 'short']} />
      </LoadingRegion>
    );
  } else if (tokens.data.items.length === 0) {
    list = (
      <EmptyState icon="key" title="No API tokens yet" headingLevel={3}>
        <p>Create one for each system that talks to Sitecall: the phone system, a media server, a reporting script.</p>
      </EmptyState>
    );
  } else {
    list = (
      <>
        {tokens.error ? (
          <Alert tone="warning" title="The list could not be refreshed">
            <ErrorText error={tokens.error} />
          </Alert>
        ) : null}
        <TokenTable
          items={tokens.data.items}
          onRevoke={(t) => {
            setRevokeError(undefined);
            setRevoking(t);
          }}
        />
      </>
    );
  }

  return (
    <>
      <PageHeader
        title="API tokens"
        description="Tokens let the phone system, media servers and scripts use the Sitecall API. Give each one its own token with only the scopes it needs."
        actions={newTokenButton}
      />
      {message ? (
        <Alert
          tone="success"
          actions={
            <button type="button" className="button button--small button--ghost" onClick={() => setMessage(null)}>
              Dismiss
            </button>
          }
        >
          {message}
        </Alert>
      ) : null}
      {created ? <CreatedSecret created={created} onDone={() => setCreated(null)} /> : null}
      {creating ? (
        <Panel title="New token" className="panel--accent">
          <CreateTokenForm
            onCreated={(t) => {
              setCreating(false);
              setCreated(t);
              tokens.reload();
            }}
            onCancel={() => {
              setCreating(false);
              // Back to the button that opened the form (rendered again on the next frame).
              window.requestAnimationFrame(() => newButtonRef.current?.focus());
            }}
          />
        </Panel>
      ) : null}
      <Panel
        title="Tokens"
        description={tokens.data ? `${tokens.data.items.length} token${tokens.data.items.length === 1 ? '' : 's'}` : undefined}
      >
        {list}
      </Panel>
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke “${lastRevoking?.name ?? ''}”?`}
        confirmLabel="Revoke token"
        busyLabel="Revoking…"
        busy={revokeBusy}
        error={revokeError}
        onConfirm={() => void confirmRevoke()}
        onCancel={() => setRevoking(null)}
      >
        <p>Anything that uses this token is refused from now on. This cannot be undone.</p>
      </ConfirmDialog>
    </>
  );
}
