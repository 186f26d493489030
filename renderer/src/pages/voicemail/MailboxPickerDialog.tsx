/**
 * A dialog that picks one mailbox of the domain and does something with it: forward a message
 * (MessagesPanel) or restore a quarantined recording (QuarantinePanel).
 */
import { useEffect, useState, type ReactNode } from 'react';
import type { Mailbox } from '../../../../shared/api/vmail.js';
import { toApiError, type ApiError } from '../../api/client.js';
import { Alert, ErrorText, Modal } from '../../components/ui.js';
import { boxLabel } from './format.js';

export function MailboxPickerDialog({
  open,
  id,
  title,
  description,
  mailboxes,
  initial = '',
  optionNote,
  help,
  action,
  missing,
  onClose,
  onPick,
}: {
  open: boolean;
  /** names the dialog (`<id>-dialog`, its test id) and its select (`<id>-to`) */
  id: string;
  title: string;
  description: string | undefined;
  mailboxes: readonly Mailbox[];
  /** the number picked when the dialog opens; '' for none */
  initial?: string;
  /** a note after a mailbox's label in the list */
  optionNote?: (box: Mailbox) => string;
  /** below the list */
  help?: ReactNode;
  /** the submit button: its icon, and its label idle and busy */
  action: { icon: ReactNode; label: string; busyLabel: string };
  /** the sentence shown when submitted with no mailbox picked */
  missing: string;
  onClose: () => void;
  onPick: (to: Mailbox) => Promise<unknown>;
}) {
  const [to, setTo] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  useEffect(() => {
    if (!open) return;
    setTo(initial);
    setError(undefined);
  }, [open, initial]);
  const target = mailboxes.find((b) => b.number === to);
  const submit = async () => {
    if (!target) {
      setError(toApiError(new Error(missing)));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await onPick(target);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      open={open}
      title={title}
      description={description}
      onClose={onClose}
      busy={busy}
      onSubmit={() => void submit()}
      testId={`${id}-dialog`}
      footer={
        <>
          <button type="button" className="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={busy || !target}>
            {action.icon} {busy ? action.busyLabel : action.label}
          </button>
        </>
      }
    >
      <div className="field">
        <label htmlFor={`${id}-to`}>Mailbox</label>
        <select id={`${id}-to`} className="input select" value={to} onChange={(e) => setTo(e.target.value)} disabled={busy}>
          <option value="">Choose a mailbox…</option>
          {mailboxes.map((b) => (
            <option key={b.number} value={b.number}>
              {boxLabel(b)}
              {optionNote?.(b) ?? ''}
            </option>
          ))}
        </select>
        {help}
      </div>
      {error ? (
        <Alert tone="danger">
          <ErrorText error={error} />
        </Alert>
      ) : null}
    </Modal>
  );
}
