/** The console's small building blocks: page header, panels, states (empty, loading, error), badges. */
import { useEffect, useId, useRef, useState, type ReactNode, type RefObject } from 'react';
import type { ApiError } from '../api/client.js';
import { Icon, type IconName } from './icons.js';

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-header">
      <div className="page-header__text">
        <h1 tabIndex={-1}>{title}</h1>
        {description ? <p className="page-header__description">{description}</p> : null}
      </div>
      {actions ? <div className="page-header__actions">{actions}</div> : null}
    </div>
  );
}

export function Panel({
  title,
  description,
  actions,
  children,
  className,
  headingLevel = 2,
}: {
  title?: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  headingLevel?: 2 | 3;
}) {
  const id = useId();
  const Heading = headingLevel === 2 ? 'h2' : 'h3';
  return (
    <section className={className ? `panel ${className}` : 'panel'} aria-labelledby={title ? id : undefined}>
      {title || actions ? (
        <div className="panel__header">
          <div>
            {title ? (
              <Heading id={id} className="panel__title">
                {title}
              </Heading>
            ) : null}
            {description ? <p className="panel__description">{description}</p> : null}
          </div>
          {actions ? <div className="panel__actions">{actions}</div> : null}
        </div>
      ) : null}
      <div className="panel__body">{children}</div>
    </section>
  );
}

export function EmptyState({
  icon,
  title,
  children,
  actions,
  headingLevel = 2,
}: {
  icon: IconName;
  title: string;
  children?: ReactNode;
  actions?: ReactNode;
  headingLevel?: 2 | 3;
}) {
  const Heading = headingLevel === 2 ? 'h2' : 'h3';
  return (
    <div className="empty-state">
      <div className="empty-state__icon">
        <Icon name={icon} />
      </div>
      <Heading className="empty-state__title">{title}</Heading>
      {children ? <div className="empty-state__body">{children}</div> : null}
      {actions ? <div className="empty-state__actions">{actions}</div> : null}
    </div>
  );
}

export type Tone = 'neutral' | 'info' | 'success' | 'warning' | 'danger' | 'primary';

export function Badge({ tone = 'neutral', children, dot = false }: { tone?: Tone; children: ReactNode; dot?: boolean }) {
  return (
    <span className={`badge badge--${tone}`}>
      {dot ? <span className="badge__dot" aria-hidden="true" /> : null}
      {children}
    </span>
  );
}

/** An inline message: errors and warnings are announced (role=alert), the rest politely (role=status). */
export function Alert({
  tone,
  title,
  children,
  actions,
}: {
  tone: 'info' | 'success' | 'warning' | 'danger';
  title?: ReactNode;
  children?: ReactNode;
  actions?: ReactNode;
}) {
  const icon: IconName = tone === 'success' ? 'check' : tone === 'info' ? 'info' : 'alert';
  return (
    <div className={`alert alert--${tone}`} role={tone === 'danger' || tone === 'warning' ? 'alert' : 'status'}>
      <Icon name={icon} className="alert__icon" />
      <div className="alert__content">
        {title ? <p className="alert__title">{title}</p> : null}
        {children ? <div className="alert__body">{children}</div> : null}
      </div>
      {actions ? <div className="alert__actions">{actions}</div> : null}
    </div>
  );
}

/** The message for an API error, with field details when the service gave them. */
export function ErrorText({ error }: { error: ApiError }) {
  return (
    <>
      <span>{error.message}</span>
      {error.details.length > 0 ? (
        <ul className="error-details">
          {error.details.map((d) => (
            <li key={`${d.path}:${d.message}`}>
              {d.path ? <code>{d.path}</code> : null} {d.message}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

/** A failed load that left the page with nothing to show: say what failed and offer to retry. */
export function ErrorPanel({ title, error, onRetry, busy }: { title: string; error: ApiError; onRetry: () => void; busy?: boolean }) {
  return (
    <div className="error-panel" role="alert">
      <div className="error-panel__icon">
        <Icon name="alert" />
      </div>
      <div className="error-panel__content">
        <h2 className="error-panel__title">{title}</h2>
        <p className="error-panel__message">
          <ErrorText error={error} />
        </p>
        {error.code === 'network' ? null : (
          <p className="error-panel__meta">
            {error.status ? `HTTP ${error.status} · ` : ''}
            {error.code}
          </p>
        )}
        <button type="button" className="button" onClick={onRetry} disabled={busy}>
          <Icon name="refresh" />
          {busy ? 'Retrying…' : 'Try again'}
        </button>
      </div>
    </div>
  );
}

export function Skeleton({ className }: { className?: string }) {
  return <span className={className ? `skeleton ${className}` : 'skeleton'} aria-hidden="true" />;
}

/**
 * Grey placeholder rows while a table loads: `columns` names each cell's width (`wide` fills,
 * `short` is a narrow cell).
 */
export function SkeletonTable({ rows, columns, padded = false }: { rows: number; columns: readonly ('wide' | 'short')[]; padded?: boolean }) {
  return (
    <div className={padded ? 'skeleton-table skeleton-table--padded' : 'skeleton-table'}>
      {Array.from({ length: rows }, (_, i) => (
        <div className="skeleton-table__row" key={i}>
          {columns.map((width, j) => (
            <Skeleton key={j} className={width === 'short' ? 'skeleton--cell skeleton--short' : 'skeleton--cell'} />
          ))}
        </div>
      ))}
    </div>
  );
}

/** Screen-reader text for a loading region whose skeleton is aria-hidden. */
export function LoadingRegion({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div aria-busy="true">
      <span className="visually-hidden" role="status">
        {label}
      </span>
      {children}
    </div>
  );
}

/** A modal confirmation built on <dialog>: focus stays inside, Escape cancels, Cancel has focus first. */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  busyLabel,
  busy,
  error,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  busyLabel: string;
  busy: boolean;
  error?: ApiError | undefined;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      dialog.showModal();
      cancelRef.current?.focus();
    } else if (!open && dialog.open) {
      dialog.close();
    }
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        // React passes a nested dialog's cancel up its tree: Escape closes this dialog only.
        e.stopPropagation();
        if (!busy) onCancel();
      }}
    >
      <h2 id={titleId} className="dialog__title">
        {title}
      </h2>
      <div className="dialog__body">{children}</div>
      {error ? (
        <Alert tone="danger">
          <ErrorText error={error} />
        </Alert>
      ) : null}
      <div className="dialog__actions">
        <button ref={cancelRef} type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="button" className="button button--danger" onClick={onConfirm} disabled={busy}>
          {busy ? busyLabel : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** Copies text; falls back to selecting it where the Clipboard API is missing (plain http on a LAN address). */
export function CopyButton({
  text,
  fallbackTarget,
  label = 'Copy',
  primary = true,
}: {
  text: string;
  fallbackTarget?: () => HTMLInputElement | null;
  label?: string;
  primary?: boolean;
}) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return undefined;
    const timer = window.setTimeout(() => setState('idle'), 2500);
    return () => window.clearTimeout(timer);
  }, [state]);
  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      const input = fallbackTarget?.();
      if (input) {
        input.focus();
        input.select();
        // The legacy path works in insecure contexts where navigator.clipboard is absent.
        setState(document.execCommand('copy') ? 'copied' : 'failed');
      } else {
        setState('failed');
      }
    }
  };
  return (
    <>
      <button type="button" className={primary ? 'button button--primary' : 'button'} onClick={() => void copy()}>
        <Icon name={state === 'copied' ? 'check' : 'copy'} />
        {state === 'copied' ? 'Copied' : label}
      </button>
      <span className={state === 'failed' ? 'copy-failed' : 'visually-hidden'} role="status">
        {state === 'copied' ? 'Copied to the clipboard' : state === 'failed' ? 'Could not copy: select the text and press Ctrl+C' : ''}
      </span>
    </>
  );
}

/**
 * A modal dialog built on <dialog>: showModal() makes the rest of the page inert (focus stays
 * inside), Escape asks to close (ignored while busy), and focus returns to where it was on close.
 * `initialFocus` picks what gets focus first; otherwise the first field or button inside.
 */
export function Modal({
  open,
  title,
  description,
  children,
  footer,
  onClose,
  busy = false,
  size = 'medium',
  initialFocus,
  testId,
  onSubmit,
}: {
  open: boolean;
  title: ReactNode;
  description?: ReactNode;
  children: ReactNode;
  footer?: ReactNode;
  onClose: () => void;
  busy?: boolean;
  size?: 'medium' | 'large' | 'xlarge';
  initialFocus?: RefObject<HTMLElement | null>;
  testId?: string;
  /** makes body and footer one <form>: Enter in a field submits */
  onSubmit?: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const returnTo = useRef<HTMLElement | null>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      returnTo.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      dialog.showModal();
      const target =
        initialFocus?.current ??
        dialog.querySelector<HTMLElement>('.modal__body :is(input, select, textarea, button):not(:disabled)') ??
        dialog.querySelector<HTMLElement>('button:not(:disabled)');
      target?.focus();
    } else if (!open && dialog.open) {
      dialog.close();
      const back = returnTo.current;
      returnTo.current = null;
      if (back?.isConnected) back.focus();
    }
  }, [open, initialFocus]);
  return (
    <dialog
      ref={ref}
      className={`dialog modal modal--${size}`}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      data-testid={testId}
      onCancel={(e) => {
        e.preventDefault();
        // Only this dialog's own Escape: a dialog opened inside it handles its own.
        if (e.target !== e.currentTarget) return;
        if (!busy) onClose();
      }}
    >
      <div className="modal__header">
        <div>
          <h2 id={titleId} className="dialog__title">
            {title}
          </h2>
          {description ? (
            <p id={descriptionId} className="modal__description">
              {description}
            </p>
          ) : null}
        </div>
        <button type="button" className="button button--ghost button--icon" onClick={onClose} disabled={busy} aria-label="Close">
          <Icon name="close" />
        </button>
      </div>
      {open ? (
        onSubmit ? (
          <form
            className="modal__form"
            noValidate
            onSubmit={(e) => {
              e.preventDefault();
              onSubmit();
            }}
          >
            <div className="modal__body">{children}</div>
            {footer ? <div className="modal__footer">{footer}</div> : null}
          </form>
        ) : (
          <>
            <div className="modal__body">{children}</div>
            {footer ? <div className="modal__footer">{footer}</div> : null}
          </>
        )
      ) : null}
    </dialog>
  );
}
