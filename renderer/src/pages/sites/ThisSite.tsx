import { useRef } from 'react';
import type { SelfSite } from '../../../../shared/api/sites.js';
import { CopyButton, Panel } from '../../components/ui.js';
import { displaySiteId } from './siteFormat.js';

/** A value with a copy button: the input keeps it selectable where the Clipboard API is missing. */
function CopyableValue({ id, label, value, testId }: { id: string; label: string; value: string; testId: string }) {
  const inputRef = useRef<HTMLInputElement>(null);
  return (
    <div className="site-fact__row">
      <input
        id={id}
        ref={inputRef}
        className="input input--mono site-fact__input"
        readOnly
        value={value}
        aria-label={label}
        data-testid={testId}
        onFocus={(e) => e.currentTarget.select()}
      />
      <CopyButton text={value} fallbackTarget={() => inputRef.current} label="Copy" primary={false} />
    </div>
  );
}

/** Who this site is to its peers: its name, its id (the certificate's fingerprint) and the address they dial. */
export function ThisSite({ self }: { self: SelfSite }) {
  return (
    <Panel title="This site" description="What another site's admin checks before pairing: the id is the fingerprint of this site's certificate.">
      <dl className="site-facts" data-testid="this-site">
        <div className="site-fact">
          <dt className="site-fact__label">Name</dt>
          <dd className="site-fact__value site-fact__name" data-testid="self-name">
            {self.name}
          </dd>
        </div>
        <div className="site-fact">
          <dt className="site-fact__label">Peer address</dt>
          <dd className="site-fact__value">
            {self.publicUrl ? (
              <CopyableValue id="self-url" label="Peer address" value={self.publicUrl} testId="self-url" />
            ) : (
              <span className="muted">Not known yet: the peer port is not listening.</span>
            )}
          </dd>
        </div>
        <div className="site-fact site-fact--wide">
          <dt className="site-fact__label">Site id</dt>
          <dd className="site-fact__value">
            <CopyableValue id="self-id" label="Site id" value={displaySiteId(self.id)} testId="self-id" />
          </dd>
        </div>
      </dl>
    </Panel>
  );
}
