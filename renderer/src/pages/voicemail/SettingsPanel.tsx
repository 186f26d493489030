/** The settings of a mailbox (the form of MailboxForm.tsx) and deleting it. */
import { useEffect, useState } from 'react';
import type { Mailbox } from '../../../../shared/api/vmail.js';
import { toApiError, type ApiError } from '../../api/client.js';
import { deleteMailbox, updateMailbox } from '../../api/vmail.js';
import { Icon } from '../../components/icons.js';
import { Alert, ConfirmDialog, ErrorText } from '../../components/ui.js';
import { draftOf, MailboxFields, patchBody, serverFieldErrors, validateDraft, type DraftErrors, type MailboxDraft } from './MailboxForm.js';
import { nf } from './format.js';

export function SettingsPanel({
  box,
  timeZone,
  onSaved,
  onDeleted,
}: {
  box: Mailbox;
  timeZone: string;
  onSaved: (box: Mailbox) => void;
  onDeleted: () => void;
}) {
  const [draft, setDraft] = useState<MailboxDraft>(() => draftOf(box));
  const [errors, setErrors] = useState<DraftErrors>({});
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [saved, setSaved] = useState(false);
  const [deleteOpen, setDeleteOpen] = useState(false);
  const [deleteError, setDeleteError] = useState<ApiError | undefined>(undefined);

  // Another mailbox: its own values.
  useEffect(() => {
    setDraft(draftOf(box));
    setErrors({});
    setSubmitted(false);
    setError(undefined);
    setSaved(false);
    // only when the mailbox changes, not when its counts do
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [box.domain, box.number]);

  useEffect(() => {
    if (!saved) return undefined;
    const t = window.setTimeout(() => setSaved(false), 4000);
    return () => window.clearTimeout(t);
  }, [saved]);

  const change = (patch: Partial<MailboxDraft>) => {
    const next = { ...draft, ...patch };
    setDraft(next);
    setSaved(false);
    if (submitted) setErrors(validateDraft(next, false));
  };

  const patch = patchBody(box, draft);

  const save = async () => {
    setSubmitted(true);
    const problems = validateDraft(draft, false);
    setErrors(problems);
    if (Object.keys(problems).length > 0 || !patch) return;
    setBusy(true);
    setError(undefined);
    try {
      const updated = await updateMailbox(box.domain, box.number, patch);
      onSaved(updated);
      setDraft(draftOf(updated));
      setSubmitted(false);
      setSaved(true);
    } catch (err) {
      const e = toApiError(err);
      setErrors(serverFieldErrors(e.details));
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setDeleteError(undefined);
    try {
      await deleteMailbox(box.domain, box.number);
      setDeleteOpen(false);
      onDeleted();
    } catch (err) {
      setDeleteError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };

  const total = box.counts.new + box.counts.saved + box.counts.deleted;

  return (
    <div className="vm-settings">
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
        aria-label="Mailbox settings"
      >
        <MailboxFields draft={draft} onChange={change} errors={errors} box={box} timeZone={timeZone} disabled={busy} />
        {error ? (
          <Alert tone="danger" title="The settings were not saved">
            <ErrorText error={error} />
          </Alert>
        ) : null}
        <div className="vm-settings__bar">
          <button type="submit" className="button button--primary" disabled={busy || !patch}>
            {busy ? 'Saving…' : 'Save changes'}
          </button>
          <button
            type="button"
            className="button"
            disabled={busy || !patch}
            onClick={() => {
              setDraft(draftOf(box));
              setErrors({});
              setSubmitted(false);
              setError(undefined);
            }}
          >
            Discard
          </button>
          <span className="vm-settings__state" role="status">
            {saved ? (
              <>
                <Icon name="check" /> Saved
              </>
            ) : patch ? (
              'Unsaved changes'
            ) : (
              ''
            )}
          </span>
        </div>
      </form>

      <section className="vm-danger" aria-labelledby="vm-danger-title">
        <div>
          <h3 id="vm-danger-title" className="vm-danger__title">
            Delete this mailbox
          </h3>
          <p className="vm-danger__text">Its messages, greetings and settings are removed for good.</p>
        </div>
        <button type="button" className="button button--danger-outline" onClick={() => setDeleteOpen(true)} disabled={busy}>
          <Icon name="trash" /> Delete mailbox…
        </button>
      </section>

      <ConfirmDialog
        open={deleteOpen}
        title={`Delete mailbox ${box.number}?`}
        confirmLabel="Delete mailbox"
        busyLabel="Deleting…"
        busy={busy}
        error={deleteError}
        onConfirm={() => void remove()}
        onCancel={() => {
          setDeleteOpen(false);
          setDeleteError(undefined);
        }}
      >
        <p>
          <strong>{box.name}</strong> ({box.number}) and {total === 0 ? 'its greetings' : `its ${nf.format(total)} message${total === 1 ? '' : 's'} and greetings`} are removed now. Callers
          can no longer leave messages in it. This cannot be undone.
        </p>
      </ConfirmDialog>
    </div>
  );
}
