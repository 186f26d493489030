import { useEffect, useReducer, useRef } from 'react';
import type { PairedSite } from '../../../../shared/api/sites.js';
import { toApiError } from '../../api/client.js';
import { pairSite } from '../../api/sites.js';
import { useAuth } from '../../auth/AuthContext.js';
import { Icon } from '../../components/icons.js';
import { Alert, Panel } from '../../components/ui.js';
import { INITIAL_PAIR_FORM, pairFormReducer, readyToSend, type PairField } from './pairForm.js';

/**
 * After a pairing answered `pending` (the link was not up within 15 s), a 401 this long after
 * means the adoption, done once the link came up, ended the session: said as such.
 */
const PENDING_ADOPTION_WATCH_MS = 10 * 60_000;

function PairedNotice({ site, onDismiss }: { site: PairedSite; onDismiss: () => void }) {
  const pending = site.adoption.state === 'pending';
  return (
    <Alert
      tone={pending ? 'info' : 'success'}
      title={`Paired with ${site.name}`}
      actions={
        <button type="button" className="button button--small button--ghost" onClick={onDismiss}>
          Dismiss
        </button>
      }
    >
      {site.adoption.message}
    </Alert>
  );
}

/**
 * "Join another site": the address and the code that site shows. Pairing makes this site part of
 * that site's installation: it adopts its users, so the service may end this very session (the
 * answer says so; a 401 while the request runs means the same), and the console then asks to log
 * in with the installation's password.
 */
export function PairForm({ onPaired }: { onPaired: (site: PairedSite) => void }) {
  const [state, dispatch] = useReducer(pairFormReducer, INITIAL_PAIR_FORM);
  const { endSession, expectSessionEnd } = useAuth();
  const urlRef = useRef<HTMLInputElement>(null);
  const codeRef = useRef<HTMLInputElement>(null);
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);

  useEffect(() => {
    if (!state.focus) return;
    (state.focus === 'url' ? urlRef : codeRef).current?.focus();
    dispatch({ type: 'focused' });
  }, [state.focus]);

  const submit = async () => {
    dispatch({ type: 'submit' });
    if (!readyToSend(state)) return;
    const url = state.url.trim();
    dispatch({ type: 'started' });
    const release = expectSessionEnd({ kind: 'joined', site: url });
    try {
      const site = await pairSite({ url, code: state.code.trim() });
      if (site.adoption.sessionEnded) {
        endSession({ kind: 'joined', site: site.name });
        return;
      }
      if (site.adoption.state === 'pending') {
        // the adoption happens once the link comes up, and may end this session then (this
        // expectation replaces the one `release` below would clear)
        window.setTimeout(expectSessionEnd({ kind: 'joined', site: site.name }), PENDING_ADOPTION_WATCH_MS);
      }
      if (mounted.current) dispatch({ type: 'paired', site });
      onPaired(site);
    } catch (err) {
      if (mounted.current) dispatch({ type: 'failed', error: toApiError(err) });
    } finally {
      release();
    }
  };

  const invalid = (field: PairField) => (state.problems[field] || state.refusalField === field ? true : undefined);
  const describedBy = (field: PairField) => {
    if (state.problems[field]) return `pair-${field}-error`;
    if (state.refusalField === field) return 'pair-refusal';
    return `pair-${field}-help`;
  };

  return (
    <Panel
      title="Join another site"
      description="Enter the address and the code the other site shows. This site then becomes part of that site's installation."
      className="pair-panel"
    >
      <form
        className="form pair-form"
        noValidate
        aria-label="Pair with a site"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <div className="field">
          <label htmlFor="pair-url">Address of the other site</label>
          <input
            id="pair-url"
            ref={urlRef}
            className="input input--mono"
            value={state.url}
            placeholder="wss://office-b.example:7443"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            inputMode="url"
            maxLength={2048}
            disabled={state.busy}
            onChange={(e) => dispatch({ type: 'edit', field: 'url', value: e.target.value })}
            aria-invalid={invalid('url')}
            aria-describedby={describedBy('url')}
          />
          {state.problems.url ? (
            <p className="field__error" id="pair-url-error">
              {state.problems.url}
            </p>
          ) : (
            <p className="field__help" id="pair-url-help">
              Shown on the other site beside its code: <code>wss://HOST:PORT</code>.
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor="pair-code">Pairing code</label>
          <input
            id="pair-code"
            ref={codeRef}
            className="input input--mono pair-form__code"
            value={state.code}
            placeholder="XXXX-XXXX"
            autoComplete="off"
            autoCapitalize="characters"
            spellCheck={false}
            maxLength={32}
            disabled={state.busy}
            onChange={(e) => dispatch({ type: 'edit', field: 'code', value: e.target.value })}
            aria-invalid={invalid('code')}
            aria-describedby={describedBy('code')}
          />
          {state.problems.code ? (
            <p className="field__error" id="pair-code-error">
              {state.problems.code}
            </p>
          ) : (
            <p className="field__help" id="pair-code-help">
              8 letters and digits; case and dashes do not matter.
            </p>
          )}
        </div>
        <p className="pair-form__note">
          <Icon name="info" />
          <span>
            This site adopts the other site's users, API tokens and configuration, and keeps its own role instances. A user
            both sites have gets the other site's password: you may have to log in again.
          </span>
        </p>
        {state.refusal ? (
          <div id="pair-refusal">
            <Alert tone="danger" title="The sites were not paired">
              {state.refusal.message}
            </Alert>
          </div>
        ) : null}
        {state.paired ? <PairedNotice site={state.paired} onDismiss={() => dispatch({ type: 'dismissPaired' })} /> : null}
        <div className="form-actions">
          <button type="submit" className="button button--primary" disabled={state.busy}>
            <Icon name="sites" />
            {state.busy ? 'Pairing…' : 'Pair'}
          </button>
          {state.busy ? (
            <span className="muted" role="status">
              Pairing and adopting the installation; this can take up to 15 seconds.
            </span>
          ) : null}
        </div>
      </form>
    </Panel>
  );
}
