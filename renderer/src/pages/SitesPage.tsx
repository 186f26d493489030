/**
 * Sites (design sections 7 and 9): this site's identity, pairing (show a code here, or enter the
 * code another site shows), and the paired sites with the state of the link, its round trip, the
 * replication lag, the last error and, on the site that joined, the join's progress; unpairing.
 * Kept fresh by pages/sites/useSites.ts; the parts are in pages/sites/.
 */
import { useEffect, useRef, useState } from 'react';
import type { PeerSite } from '../../../shared/api/sites.js';
import { toApiError, type ApiError } from '../api/client.js';
import { unpairSite } from '../api/sites.js';
import { useAuth } from '../auth/AuthContext.js';
import { Icon } from '../components/icons.js';
import { Alert, ConfirmDialog, EmptyState, ErrorPanel, ErrorText, LoadingRegion, PageHeader, Panel, SkeletonTable } from '../components/ui.js';
import { formatTime } from '../lib/format.js';
import { useTitle } from '../lib/useTitle.js';
import { PairForm } from './sites/PairForm.js';
import { PairingCodePanel } from './sites/PairingCodePanel.js';
import { PeersTable } from './sites/PeersTable.js';
import { ThisSite } from './sites/ThisSite.js';
import { peerChanges } from './sites/siteFormat.js';
import { SITES_INTERVAL_MS, useSites } from './sites/useSites.js';
import './sites/sites.css';

function peersSummary(peers: readonly PeerSite[]): string {
  if (peers.length === 0) return 'None yet';
  const connected = peers.filter((p) => p.state === 'connected').length;
  return `${peers.length} site${peers.length === 1 ? '' : 's'}, ${connected} connected`;
}

export function SitesPage() {
  useTitle('Sites');
  const { session } = useAuth();
  const canAdmin = session?.scopes.includes('admin') ?? false;
  const sites = useSites();
  const [unpairing, setUnpairingState] = useState<PeerSite | null>(null);
  // the dialog keeps the last peer's name while it closes
  const [lastUnpairing, setLastUnpairing] = useState<PeerSite | null>(null);
  const setUnpairing = (p: PeerSite | null) => {
    setUnpairingState(p);
    if (p) setLastUnpairing(p);
  };
  const [unpairBusy, setUnpairBusy] = useState(false);
  const [unpairError, setUnpairError] = useState<ApiError | undefined>(undefined);
  const [message, setMessage] = useState<string | null>(null);

  // a link that goes down or comes back, a pairing made on the other site: said to a screen reader
  const [announcement, setAnnouncement] = useState('');
  const lastPeers = useRef<readonly PeerSite[] | undefined>(undefined);
  const listed = sites.data?.peers;
  useEffect(() => {
    if (!listed) return;
    const said = peerChanges(lastPeers.current, listed);
    lastPeers.current = listed;
    if (said.length > 0) setAnnouncement(said.join(' '));
  }, [listed]);

  const confirmUnpair = async () => {
    if (!unpairing) return;
    const peer = unpairing;
    setUnpairBusy(true);
    setUnpairError(undefined);
    try {
      await unpairSite(peer.id);
      setMessage(
        peer.state === 'connected'
          ? `Unpaired ${peer.name}. It was told at once and no longer replicates with this site.`
          : peer.state === 'refused'
            ? `Unpaired ${peer.name}, which had unpaired this site already.`
            : `Unpaired ${peer.name}. It learns it when it next reaches this site.`,
      );
      sites.update((d) => (d ? { ...d, peers: d.peers.filter((p) => p.id !== peer.id) } : d));
      setUnpairing(null);
      sites.reload();
    } catch (err) {
      const e = toApiError(err);
      if (e.code === 'not_found') {
        setMessage(`${peer.name} was unpaired already.`);
        setUnpairing(null);
        sites.reload();
      } else {
        setUnpairError(e);
      }
    } finally {
      setUnpairBusy(false);
    }
  };

  const actions = (
    <>
      {sites.updatedAt ? (
        <span className="updated" title={`Refreshed every ${SITES_INTERVAL_MS / 1000} seconds`}>
          Updated {formatTime(sites.updatedAt)}
        </span>
      ) : null}
      <button type="button" className="button" onClick={sites.reload} disabled={sites.loading && !sites.data}>
        <Icon name="refresh" />
        Refresh
      </button>
    </>
  );

  let body;
  if (!sites.data && sites.error) {
    body = <ErrorPanel title="The sites could not be loaded" error={sites.error} onRetry={sites.reload} busy={sites.loading} />;
  } else if (!sites.data) {
    body = (
      <LoadingRegion label="Loading the sites…">
        <div className="panel">
          <SkeletonTable rows={3} columns={['wide', 'wide', 'short']} padded />
        </div>
        <div className="panel">
          <SkeletonTable rows={3} columns={['wide', 'short', 'short', 'wide']} padded />
        </div>
      </LoadingRegion>
    );
  } else {
    const { self, peers } = sites.data;
    body = (
      <>
        {sites.error ? (
          <Alert tone="warning" title="The sites could not be refreshed">
            <ErrorText error={sites.error} /> {sites.updatedAt ? `Showing them as of ${formatTime(sites.updatedAt)}.` : null}
          </Alert>
        ) : null}
        <Panel title="Paired sites" description={peersSummary(peers)}>
          {peers.length === 0 ? (
            <EmptyState icon="sites" title="This site is not paired with another" headingLevel={3}>
              <p>
                Pair it with Sitecall at another office, or with a standby appliance: paired sites keep each other's call records,
                voicemail and configuration, and take over each other's role instances when one is down.
              </p>
            </EmptyState>
          ) : (
            <PeersTable
              peers={peers}
              canAdmin={canAdmin}
              onUnpair={(p) => {
                setUnpairError(undefined);
                setUnpairing(p);
              }}
            />
          )}
        </Panel>
        {canAdmin ? (
          <div className="pair-grid">
            <PairingCodePanel peers={peers} />
            <PairForm
              onPaired={(site) => {
                setMessage(null);
                sites.update((d) => (d ? { ...d, peers: [...d.peers.filter((p) => p.id !== site.id), site] } : d));
                sites.reload();
              }}
            />
          </div>
        ) : (
          <Alert tone="info" title="Pairing needs an administrator">
            Log in as a user with the admin scope to show a pairing code, to pair this site with another, or to unpair one.
          </Alert>
        )}
        <ThisSite self={self} />
      </>
    );
  }

  return (
    <>
      <PageHeader
        title="Sites"
        description="Pair this appliance with Sitecall at your other offices: paired sites keep each other's call records, voicemail and configuration in step, and one takes over when another is down."
        actions={actions}
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
      {body}
      <p className="visually-hidden" role="status" data-testid="sites-announcement">
        {announcement}
      </p>
      <ConfirmDialog
        open={unpairing !== null}
        title={`Unpair ${lastUnpairing?.name ?? ''}?`}
        confirmLabel="Unpair site"
        busyLabel="Unpairing…"
        busy={unpairBusy}
        error={unpairError}
        onConfirm={() => void confirmUnpair()}
        onCancel={() => setUnpairing(null)}
      >
        <p>
          This site forgets {lastUnpairing?.name ?? 'the site'}'s certificate and stops replicating with it; it is told at once
          while the link is up, or when it next connects. The two keep what they hold now. Pairing them again needs a new code.
        </p>
      </ConfirmDialog>
    </>
  );
}
