/**
 * The quarantine of a domain (service/vmail/README.md): files the start-up check found in the
 * store and could not match to a message or greeting, kept until an admin restores one into a
 * mailbox as a message (when it is audio a deposit would take) or deletes it for good; and the
 * messages whose recording the check did not find.
 */
import { useState } from 'react';
import type { Mailbox, Message, QuarantineEntry } from '../../../../shared/api/vmail.js';
import { toApiError, type ApiError } from '../../api/client.js';
import { deleteQuarantined, restoreQuarantined } from '../../api/vmail.js';
import { Icon } from '../../components/icons.js';
import { Alert, Badge, ConfirmDialog, EmptyState, ErrorPanel, ErrorText, LoadingRegion, Skeleton } from '../../components/ui.js';
import { formatInZone, zoneOffsetLabel } from '../../lib/timeZone.js';
import { audioFormatLabel, boxLabel, callerTitle, fileSize, lengthOf } from './format.js';
import type { Notice } from './MessagesPanel.js';
import type { QuarantineState } from './useQuarantine.js';
import { MailboxPickerDialog } from './MailboxPickerDialog.js';

const REASON_LABEL: Record<QuarantineEntry['reason'], string> = {
  no_metadata: 'Not recorded',
  unfinished_write: 'Unfinished write',
  checksum_mismatch: 'Damaged (checksum)',
};

export function QuarantinePanel({
  domain,
  state,
  mailboxes,
  timeZone,
  notice,
  onNotice,
  onOpenMessage,
  onRestored,
}: {
  domain: string;
  state: QuarantineState;
  mailboxes: readonly Mailbox[];
  timeZone: string;
  notice: Notice | null;
  onNotice: (n: Notice | null) => void;
  onOpenMessage: (m: Message) => void;
  /** a message was added to a mailbox: its counts change */
  onRestored: () => void;
}) {
  const [restoring, setRestoring] = useState<QuarantineEntry | null>(null);
  const [deleting, setDeleting] = useState<QuarantineEntry | null>(null);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<ApiError | undefined>(undefined);
  const { list, error } = state;

  const remove = async (entry: QuarantineEntry) => {
    setBusy(true);
    setDeleteError(undefined);
    try {
      await deleteQuarantined(domain, entry.id);
      setDeleting(null);
      onNotice({ text: `${entry.fileName} was deleted for good.` });
      state.reload();
    } catch (err) {
      setDeleteError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };

  let body;
  if (!list && error) {
    body = <ErrorPanel title="The quarantine could not be loaded" error={error} onRetry={state.reload} busy={state.loading} />;
  } else if (!list) {
    body = (
      <LoadingRegion label="Loading the quarantine…">
        <div className="vm-list-skeleton">
          {[0, 1, 2].map((i) => (
            <div key={i} className="vm-list-skeleton__row">
              <Skeleton className="skeleton--cell" />
              <Skeleton className="skeleton--cell skeleton--short" />
            </div>
          ))}
        </div>
      </LoadingRegion>
    );
  } else if (list.items.length === 0 && list.missingAudio.length === 0) {
    body = (
      <EmptyState icon="check" title="Nothing in quarantine" headingLevel={3}>
        At its last start the voicemail service found every file of {domain} where its messages and greetings say.
      </EmptyState>
    );
  } else {
    body = (
      <>
        {list.items.length > 0 ? (
          <ul className="vm-quarantine-list" aria-label="Quarantined files" data-testid="vm-quarantine-files">
            {list.items.map((e) => (
              <li key={e.id} className="vm-quarantine" data-testid="vm-quarantine-entry">
                <div className="vm-quarantine__text">
                  <h3 className="vm-quarantine__title">
                    <span className="vm-quarantine__file">{e.fileName}</span>
                    <Badge tone={e.reason === 'no_metadata' ? 'warning' : 'neutral'}>{REASON_LABEL[e.reason]}</Badge>
                  </h3>
                  <p className="vm-quarantine__why">{e.reasonText}</p>
                  <p className="vm-quarantine__meta">
                    <span>
                      Found among the {e.found === 'greeting' ? 'greetings' : 'messages'} of mailbox {e.mailbox}
                    </span>
                    <span>{fileSize(e.size)}</span>
                    <span title={`${timeZone} (${zoneOffsetLabel(timeZone)})`}>Written {formatInZone(e.modifiedAt, timeZone, 'dateTime')}</span>
                    <span>Quarantined {formatInZone(e.quarantinedAt, timeZone, 'dateTime')}</span>
                  </p>
                  <p className={e.audio ? 'vm-quarantine__audio' : 'vm-quarantine__audio vm-quarantine__audio--bad'}>
                    {e.audio ? (
                      <>
                        <Icon name="check" /> A recording of {lengthOf(e.audio.durationMs)}, {audioFormatLabel(e.audio.format)}
                      </>
                    ) : (
                      <>
                        <Icon name="alert" /> Not a recording that can be restored: {e.problem}
                      </>
                    )}
                  </p>
                </div>
                <div className="vm-quarantine__buttons">
                  <button
                    type="button"
                    className="button button--small"
                    disabled={!e.audio || busy}
                    title={e.audio ? undefined : 'Only a complete WAV recording can be restored'}
                    onClick={() => setRestoring(e)}
                    aria-label={`Restore ${e.fileName} as a message`}
                  >
                    <Icon name="undo" /> Restore…
                  </button>
                  <button type="button" className="button button--small button--danger-outline" disabled={busy} onClick={() => setDeleting(e)} aria-label={`Delete ${e.fileName} for good`}>
                    <Icon name="trash" /> Delete…
                  </button>
                </div>
              </li>
            ))}
          </ul>
        ) : (
          <p className="vm-section-note">No quarantined files.</p>
        )}
        {list.missingAudio.length > 0 ? (
          <section className="vm-quarantine-missing" aria-labelledby="vm-quarantine-missing">
            <h3 id="vm-quarantine-missing" className="vm-quarantine-missing__title">
              Messages whose recording is missing
            </h3>
            <p className="vm-section-note">
              The start-up check found no file for these messages; they stay in their mailboxes, marked. Put the files back in the store and restart the service to heal them, or delete
              the messages.
            </p>
            <ul className="vm-quarantine-list" data-testid="vm-quarantine-missing">
              {list.missingAudio.map((m) => (
                <li key={m.id} className="vm-quarantine vm-quarantine--message">
                  <div className="vm-quarantine__text">
                    <p className="vm-quarantine__title">{callerTitle(m)}</p>
                    <p className="vm-quarantine__meta">
                      <span>Mailbox {m.mailbox}</span>
                      <span>{formatInZone(m.createdAt, timeZone, 'dateTime')}</span>
                      <span className="vm-quarantine__file">{m.storage.key}</span>
                    </p>
                  </div>
                  <div className="vm-quarantine__buttons">
                    <button type="button" className="button button--small" onClick={() => onOpenMessage(m)}>
                      Open the message
                    </button>
                  </div>
                </li>
              ))}
            </ul>
          </section>
        ) : null}
      </>
    );
  }

  return (
    <div className="vm-panel" data-testid="vm-quarantine">
      <div className="vm-mailbox__head">
        <div className="vm-mailbox__who">
          <h2 className="vm-mailbox__title">Quarantine</h2>
          <p className="vm-mailbox__meta">
            <span>
              Files of {domain} that the start-up check found in the store and could not match to a message or greeting. Nothing here is deleted unless you delete it.
            </span>
          </p>
        </div>
        {list ? (
          <div className="vm-quarantine__reload">
            <button type="button" className="button button--small" onClick={state.reload} disabled={state.loading}>
              <Icon name="refresh" className={state.loading ? 'icon--spin' : undefined} /> Reload
            </button>
          </div>
        ) : null}
      </div>
      {notice ? (
        <div className="vm-notice">
          <Alert
            tone="success"
            actions={
              <button type="button" className="button button--ghost button--small" onClick={() => onNotice(null)} aria-label="Dismiss">
                <Icon name="close" />
              </button>
            }
          >
            {notice.text}
          </Alert>
        </div>
      ) : null}
      {list && error ? (
        <div className="vm-notice">
          <Alert tone="warning" title="The quarantine could not be reloaded">
            <ErrorText error={error} />
          </Alert>
        </div>
      ) : null}
      <div className="vm-pad">{body}</div>

      <MailboxPickerDialog
        open={restoring !== null}
        id="vm-restore"
        title="Restore the recording as a message"
        description={
          restoring
            ? `${restoring.fileName}${restoring.audio ? ` (${lengthOf(restoring.audio.durationMs)})` : ''} becomes a new message, dated when it was written, without caller details. The file leaves the quarantine.`
            : undefined
        }
        mailboxes={mailboxes}
        // where it was found, when that mailbox still exists
        initial={mailboxes.find((b) => b.number === restoring?.mailbox)?.number ?? ''}
        optionNote={(b) => (restoring && b.number === restoring.mailbox ? ' (where it was found)' : '')}
        help={
          mailboxes.length === 0 ? (
            <p className="field__help">There is no mailbox in this domain yet: create one first.</p>
          ) : restoring && !mailboxes.some((b) => b.number === restoring.mailbox) ? (
            <p className="field__help">Mailbox {restoring.mailbox}, where it was found, no longer exists.</p>
          ) : null
        }
        action={{ icon: <Icon name="undo" />, label: 'Restore', busyLabel: 'Restoring…' }}
        missing="Pick the mailbox to restore the recording into."
        onClose={() => setRestoring(null)}
        onPick={async (to) => {
          if (!restoring) return;
          const entry = restoring;
          await restoreQuarantined(domain, entry.id, to.number);
          setRestoring(null);
          onNotice({ text: `${entry.fileName} was restored as a new message of ${boxLabel(to)}.` });
          state.reload();
          onRestored();
        }}
      />
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this file for good?"
        confirmLabel="Delete for good"
        busyLabel="Deleting…"
        busy={busy}
        error={deleting ? deleteError : undefined}
        onConfirm={() => deleting && void remove(deleting)}
        onCancel={() => {
          setDeleting(null);
          setDeleteError(undefined);
        }}
      >
        <p>
          <strong>{deleting?.fileName}</strong> ({deleting ? fileSize(deleting.size) : ''}) is removed from the store now. This cannot be undone.
        </p>
      </ConfirmDialog>
    </div>
  );
}
