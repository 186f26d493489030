import { useRef } from 'react';
import type { RolesConfig } from '../../../../shared/api/roles.js';
import type { ApiError } from '../../api/client.js';
import { Alert, ErrorText, Modal } from '../../components/ui.js';
import { diffConfigs } from '../../lib/configDraft.js';

function names(list: string[]): string {
  return list.map((n) => `“${n}”`).join(', ');
}

/** A save refused with 409: someone saved since this draft was loaded. Reload theirs, or overwrite with mine. */
export function ConflictDialog({
  conflict,
  base,
  baseRevision,
  selfSite,
  busy,
  error,
  onReload,
  onOverwrite,
  onClose,
}: {
  conflict: { theirs: RolesConfig } | null;
  /** the saved configuration the draft started from */
  base: RolesConfig;
  /** the revision the draft was made from (base.revision unless the draft was kept from earlier) */
  baseRevision: number;
  selfSite: string;
  busy: 'reload' | 'overwrite' | null;
  error: ApiError | null;
  onReload: () => void;
  onOverwrite: () => void;
  onClose: () => void;
}) {
  const reloadRef = useRef<HTMLButtonElement>(null);
  const theirs = conflict?.theirs;
  const diff = theirs ? diffConfigs(base.instances, theirs.instances, selfSite) : null;
  const parts: string[] = [];
  if (diff?.added.length) parts.push(`added ${names(diff.added)}`);
  if (diff?.changed.length) parts.push(`changed ${names(diff.changed)}`);
  if (diff?.removed.length) parts.push(`removed ${names(diff.removed)}`);
  return (
    <Modal
      open={conflict !== null}
      title="Someone else changed the configuration"
      onClose={onClose}
      busy={busy !== null}
      initialFocus={reloadRef}
      testId="conflict-dialog"
      footer={
        <>
          <button type="button" className="button button--ghost" onClick={onClose} disabled={busy !== null}>
            Keep editing
          </button>
          <span className="modal__footer-spacer" />
          <button ref={reloadRef} type="button" className="button" onClick={onReload} disabled={busy !== null}>
            {busy === 'reload' ? 'Reloading…' : 'Reload theirs'}
          </button>
          <button type="button" className="button button--primary" onClick={onOverwrite} disabled={busy !== null}>
            {busy === 'overwrite' ? 'Saving…' : 'Overwrite with mine'}
          </button>
        </>
      }
    >
      <p className="conflict__lead">
        Someone else changed the configuration (now revision {theirs?.revision ?? '?'}). Your changes were made to revision {baseRevision},
        so they were not saved.
      </p>
      {parts.length > 0 ? (
        <p className="conflict__diff">
          Since revision {base.revision} they {parts.join('; ')}.
        </p>
      ) : null}
      <ul className="conflict__choices">
        <li>
          <strong>Reload theirs</strong> discards your unsaved changes and shows revision {theirs?.revision ?? '?'}.
        </li>
        <li>
          <strong>Overwrite with mine</strong> saves your draft as it is, replacing their changes.
        </li>
      </ul>
      {error ? (
        <Alert tone="danger">
          <ErrorText error={error} />
        </Alert>
      ) : null}
    </Modal>
  );
}
