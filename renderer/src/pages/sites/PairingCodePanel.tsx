import { useEffect, useRef, useState } from 'react';
import type { PeerSite } from '../../../../shared/api/sites.js';
import { toApiError, type ApiError } from '../../api/client.js';
import { makePairingCode } from '../../api/sites.js';
import { currentSession } from '../../auth/session.js';
import { Icon } from '../../components/icons.js';
import { Alert, CopyButton, ErrorText, Panel } from '../../components/ui.js';
import { serverNow, useServerNow } from '../../lib/clock.js';
import { codeStatus, type ShownCode } from './pairingCode.js';
import { formatCountdown, spokenCountdown } from './siteFormat.js';

function CodeCard({ code, peers, onNew, onHide, busy }: { code: ShownCode; peers: readonly PeerSite[]; onNew: () => void; onHide: () => void; busy: boolean }) {
  const now = useServerNow();
  const status = codeStatus(code, now, peers);
  const codeRef = useRef<HTMLInputElement>(null);
  const urlRef = useRef<HTMLInputElement>(null);

  if (status.kind === 'used') {
    return (
      <div className="code-card code-card--done" data-testid="pairing-code">
        <Alert tone="success" title={`${status.peer.name} paired with this site`}>
          It used this code, which is spent now. It copies this installation's configuration and data: see its progress in the
          table below.
        </Alert>
        <div className="form-actions">
          <button type="button" className="button" onClick={onHide}>
            Done
          </button>
        </div>
      </div>
    );
  }

  const expired = status.kind === 'expired';
  return (
    <div className={expired ? 'code-card code-card--expired' : 'code-card'} data-testid="pairing-code">
      <div className="code-card__code-row">
        <label htmlFor="pairing-code-value" className="visually-hidden">
          Pairing code
        </label>
        <input
          id="pairing-code-value"
          ref={codeRef}
          className="code-card__code"
          readOnly
          value={code.code}
          aria-describedby="pairing-code-expiry"
          data-testid="pairing-code-value"
          onFocus={(e) => e.currentTarget.select()}
          disabled={expired}
        />
        {expired ? null : <CopyButton text={code.code} fallbackTarget={() => codeRef.current} label="Copy code" />}
      </div>
      {expired ? (
        <Alert tone="warning" title="This code expired">
          No site can pair with it any more. Make a new one when the other site is ready to enter it.
        </Alert>
      ) : (
        <>
          <div className="code-card__expiry" id="pairing-code-expiry">
            <span role="timer" aria-label={`Expires in ${spokenCountdown(status.msLeft)}`} data-testid="pairing-code-countdown">
              <Icon name="clock" /> Expires in <strong>{formatCountdown(status.msLeft)}</strong>
            </span>
            <span className="code-card__tries" data-testid="pairing-code-tries">
              Single use · void after {code.tries} wrong {code.tries === 1 ? 'try' : 'tries'}
            </span>
          </div>
          <progress className="progress code-card__meter" max={1} value={status.fractionLeft} aria-hidden="true" />
          <div className="field">
            <label htmlFor="pairing-code-url">Enter it on the other site with this address</label>
            <div className="site-fact__row">
              <input
                id="pairing-code-url"
                ref={urlRef}
                className="input input--mono"
                readOnly
                value={code.url}
                data-testid="pairing-code-url"
                onFocus={(e) => e.currentTarget.select()}
              />
              <CopyButton text={code.url} fallbackTarget={() => urlRef.current} label="Copy" primary={false} />
            </div>
          </div>
        </>
      )}
      <div className="form-actions">
        <button type="button" className={expired ? 'button button--primary' : 'button'} onClick={onNew} disabled={busy}>
          <Icon name="refresh" />
          {busy ? 'Making a code…' : 'Make a new code'}
        </button>
        <button type="button" className="button button--ghost" onClick={onHide} disabled={busy}>
          {expired ? 'Close' : 'Hide the code'}
        </button>
      </div>
    </div>
  );
}

/**
 * The code on screen, kept in this tab's memory (never stored) while the admin visits another
 * page: the service shows a code once, and it stays valid there until it expires or is used.
 * Only for the session that made it: after a logout nobody else sees it.
 */
let keptCode: { code: ShownCode; token: string } | null = null;

function keptForThisSession(): ShownCode | null {
  const token = currentSession()?.token;
  return keptCode && token !== undefined && keptCode.token === token ? keptCode.code : null;
}

/**
 * "Let another site join": the one-time code this site shows (design section 7). A new code
 * replaces the one before on the service, so "Make a new code" voids the one on screen.
 */
export function PairingCodePanel({ peers }: { peers: readonly PeerSite[] | undefined }) {
  const [shown, setShownState] = useState<ShownCode | null>(keptForThisSession);
  const setShown = (code: ShownCode | null) => {
    const token = currentSession()?.token;
    keptCode = code && token !== undefined ? { code, token } : null;
    setShownState(code);
  };
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const showRef = useRef<HTMLButtonElement>(null);
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);

  const make = async () => {
    setBusy(true);
    setError(null);
    const known = (peers ?? []).map((p) => p.id);
    try {
      const code = await makePairingCode();
      if (!mounted.current) return;
      setShown({ ...code, receivedAt: serverNow(), knownPeers: known });
    } catch (err) {
      if (mounted.current) setError(toApiError(err));
    } finally {
      if (mounted.current) setBusy(false);
    }
  };
  const hide = () => {
    setShown(null);
    window.requestAnimationFrame(() => showRef.current?.focus());
  };

  return (
    <Panel
      title="Let another site join this one"
      description="Show a one-time code here, then enter it on the other site together with this site's address. That site then joins this installation."
      className="pair-panel"
    >
      {shown ? (
        <CodeCard code={shown} peers={peers ?? []} onNew={() => void make()} onHide={hide} busy={busy} />
      ) : (
        <div className="pair-panel__start">
          <p className="muted">
            The code serves one pairing, expires after a few minutes and is void after 5 wrong tries. Whoever has it and this
            site's address can pair a site with this one: pass it on to the other site's admin only.
          </p>
          <div>
            <button
              ref={showRef}
              type="button"
              className="button button--primary"
              onClick={() => void make()}
              disabled={busy}
            >
              <Icon name="key" />
              {busy ? 'Making a code…' : 'Show a pairing code'}
            </button>
          </div>
        </div>
      )}
      {error ? (
        <Alert tone="danger" title="No code was made">
          <ErrorText error={error} />
        </Alert>
      ) : null}
    </Panel>
  );
}
