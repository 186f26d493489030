/** "New mailbox": the settings form in a modal, with the number. */
import { useEffect, useState } from 'react';
import type { Mailbox } from '../../../../shared/api/vmail.js';
import { toApiError, type ApiError } from '../../api/client.js';
import { createMailbox } from '../../api/vmail.js';
import { Alert, ErrorText, Modal } from '../../components/ui.js';
import { createBody, draftOf, MailboxFields, serverFieldErrors, validateDraft, type DraftErrors, type MailboxDraft } from './MailboxForm.js';

export function NewMailboxDialog({
  open,
  domain,
  timeZone,
  onClose,
  onCreated,
}: {
  open: boolean;
  domain: string;
  timeZone: string;
  onClose: () => void;
  onCreated: (box: Mailbox) => void;
}) {
  const [draft, setDraft] = useState<MailboxDraft>(() => draftOf(null));
  const [errors, setErrors] = useState<DraftErrors>({});
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);

  useEffect(() => {
    if (!open) return;
    setDraft({ ...draftOf(null), notify: 'none' });
    setErrors({});
    setSubmitted(false);
    setError(undefined);
  }, [open]);

  const change = (patch: Partial<MailboxDraft>) => {
    const next = { ...draft, ...patch };
    // An e-mail typed in: notify by default, as the service's default does.
    if (patch.email !== undefined && !draft.email.trim() && patch.email.trim() && draft.notify === 'none') next.notify = 'attach';
    setDraft(next);
    if (submitted) setErrors(validateDraft(next, true));
  };

  const submit = async () => {
    setSubmitted(true);
    const problems = validateDraft(draft, true);
    setErrors(problems);
    if (Object.keys(problems).length > 0) return;
    setBusy(true);
    setError(undefined);
    try {
      onCreated(await createMailbox(domain, createBody(draft)));
    } catch (err) {
      const e = toApiError(err);
      const fieldErrors = serverFieldErrors(e.details);
      if (e.status === 409) fieldErrors.number = e.message;
      setErrors(fieldErrors);
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      open={open}
      title="New mailbox"
      description={
        <>
          In <strong>{domain}</strong>. Callers can leave messages as soon as it exists.
        </>
      }
      size="large"
      onClose={onClose}
      busy={busy}
      onSubmit={() => void submit()}
      testId="vm-new-mailbox"
      footer={
        <>
          <button type="button" className="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create mailbox'}
          </button>
        </>
      }
    >
      <MailboxFields draft={draft} onChange={change} errors={errors} box={null} timeZone={timeZone} disabled={busy} />
      {error ? (
        <Alert tone="danger" title="The mailbox was not created">
          <ErrorText error={error} />
        </Alert>
      ) : null}
    </Modal>
  );
}
