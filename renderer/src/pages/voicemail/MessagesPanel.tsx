/**
 * The messages of one mailbox: folder tabs with counts, the list of a folder (newest first, paged),
 * and the selected message with its player and actions (read/unread, move, delete, undelete,
 * forward, delete forever). A message whose recording cannot be played from here (kept on a site
 * that is away, or missing) stays listed, marked unavailable with the reason.
 */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { Folder, Mailbox, Message, MessageCounts } from '../../../../shared/api/vmail.js';
import { FOLDERS } from './limits.js';
import { toApiError, type ApiError } from '../../api/client.js';
import { deleteMessage, forwardMessage, getMessage, listMessages, undeleteMessage, updateMessage } from '../../api/vmail.js';
import { Icon } from '../../components/icons.js';
import { Alert, Badge, ConfirmDialog, EmptyState, ErrorPanel, ErrorText, LoadingRegion, Skeleton } from '../../components/ui.js';
import { formatInZone, zoneOffsetLabel } from '../../lib/timeZone.js';
import { AudioPlayer } from './AudioPlayer.js';
import { boxLabel, callerSub, callerTitle, FOLDER_LABEL, formatWhen, lengthOf, messageFileName, nf, unavailableReason } from './format.js';
import { VmIcon } from './icons.js';
import { MailboxPickerDialog } from './MailboxPickerDialog.js';
import { useResource } from '../../lib/useResource.js';
import { listSites } from '../../api/sites.js';

const PAGE = 50;

export interface Notice {
  text: string;
  undo?: () => Promise<unknown>;
}

interface ListState {
  items: Message[];
  total: number;
  counts: MessageCounts;
}

export function MessagesPanel({
  domain,
  box,
  mailboxes,
  folder,
  onFolder,
  selectedId,
  onSelect,
  liveTick,
  timeZone,
  onNotice,
}: {
  domain: string;
  box: Mailbox;
  mailboxes: readonly Mailbox[];
  folder: Folder;
  onFolder: (folder: Folder, keepSelection?: string) => void;
  selectedId: string | null;
  onSelect: (id: string | null) => void;
  /** changes when the live feed says this mailbox's counts changed */
  liveTick: number;
  timeZone: string;
  onNotice: (notice: Notice) => void;
}) {
  const [offset, setOffset] = useState(0);
  // Another mailbox or folder: its first page, and nothing of the last one on screen meanwhile.
  const {
    data: list,
    error,
    loading,
    reload,
    update: setList,
  } = useResource<ListState>(
    async (signal) => {
      const answer = await listMessages(domain, box.number, folder, { limit: PAGE, offset }, signal);
      return { items: answer.items, total: answer.total, counts: answer.counts };
    },
    [domain, box.number, folder, offset, liveTick],
    { clearOn: [domain, box.number, folder] },
  );
  const [actionError, setActionError] = useState<ApiError | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [forwardOpen, setForwardOpen] = useState(false);
  const [purgeOpen, setPurgeOpen] = useState(false);
  const listRef = useRef<HTMLUListElement>(null);

  useEffect(() => {
    setOffset(0);
  }, [domain, box.number, folder]);

  const selected = useMemo(() => list?.items.find((m) => m.id === selectedId) ?? null, [list, selectedId]);
  // the names of the sites that keep unavailable messages: asked only while one is listed (a user
  // who may not read the sites sees "another site")
  const anyAway = list?.items.some((m) => !m.available && !m.audioMissing) ?? false;
  const sites = useResource(listSites, [], { enabled: anyAway });
  const siteName = (id: string): string | undefined => sites.data?.peers.find((p) => p.id === id)?.name;

  // A message asked for by the URL (a notification's link) that is in another folder: go there.
  useEffect(() => {
    if (!selectedId || !list || loading || selected) return undefined;
    const controller = new AbortController();
    getMessage(domain, box.number, selectedId, controller.signal).then(
      (m) => {
        if (!controller.signal.aborted && m.folder !== folder) onFolder(m.folder, m.id);
      },
      () => {
        if (!controller.signal.aborted) onSelect(null);
      },
    );
    return () => controller.abort();
  }, [selectedId, list, loading, selected, domain, box.number, folder, onFolder, onSelect]);

  useEffect(() => {
    setActionError(undefined);
  }, [selectedId]);

  const putMessage = (m: Message) => {
    setList((l) => (l ? { ...l, items: l.items.map((x) => (x.id === m.id ? m : x)) } : l));
  };

  /** The message after `id` in the list (or before it, at the end): where the selection goes when `id` leaves. */
  const neighbour = (id: string): string | null => {
    const items = list?.items ?? [];
    const i = items.findIndex((m) => m.id === id);
    return items[i + 1]?.id ?? items[i - 1]?.id ?? null;
  };

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setActionError(undefined);
    try {
      await action();
    } catch (err) {
      setActionError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };

  const markRead = (m: Message, read: boolean) =>
    run(async () => {
      putMessage(await updateMessage(domain, box.number, m.id, { read }));
    });

  const leave = (m: Message, to: Folder | 'purged', undo?: () => Promise<unknown>) => {
    onSelect(neighbour(m.id));
    setList((l) => (l ? { ...l, items: l.items.filter((x) => x.id !== m.id), total: Math.max(0, l.total - 1) } : l));
    const who = callerTitle(m);
    const text = to === 'purged' ? `The message from ${who} was deleted for good.` : to === 'deleted' ? `The message from ${who} was moved to Deleted.` : `The message from ${who} was moved to ${FOLDER_LABEL[to]}.`;
    onNotice(undo ? { text, undo: () => undo().finally(reload) } : { text });
    reload();
  };

  const move = (m: Message, to: 'new' | 'saved') =>
    run(async () => {
      await updateMessage(domain, box.number, m.id, { folder: to });
      leave(m, to, () => updateMessage(domain, box.number, m.id, { folder: m.folder }));
    });

  const remove = (m: Message) =>
    run(async () => {
      await deleteMessage(domain, box.number, m.id);
      leave(m, 'deleted', () => undeleteMessage(domain, box.number, m.id));
    });

  const undelete = (m: Message) =>
    run(async () => {
      const back = await undeleteMessage(domain, box.number, m.id);
      leave(m, back.folder, () => deleteMessage(domain, box.number, m.id));
    });

  const purge = (m: Message) =>
    run(async () => {
      await deleteMessage(domain, box.number, m.id, true);
      setPurgeOpen(false);
      leave(m, 'purged');
    });

  const onListKey = (e: KeyboardEvent<HTMLUListElement>) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Home' && e.key !== 'End') return;
    const buttons = [...(listRef.current?.querySelectorAll<HTMLButtonElement>('.vm-msg') ?? [])];
    if (buttons.length === 0) return;
    const i = buttons.findIndex((b) => b === document.activeElement);
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? buttons.length - 1 : e.key === 'ArrowDown' ? Math.min(buttons.length - 1, i + 1) : Math.max(0, i - 1);
    e.preventDefault();
    const target = buttons[next];
    if (target) {
      target.focus();
      target.click();
    }
  };

  const counts = list?.counts ?? { ...box.counts };
  const tabs = (
    <div className="vm-tabs vm-tabs--folders" role="group" aria-label="Folder">
      {FOLDERS.map((f) => (
        <button key={f} type="button" className="vm-tab" aria-pressed={folder === f} onClick={() => onFolder(f)} data-testid={`vm-folder-${f}`}>
          {FOLDER_LABEL[f]}
          <span className={f === 'new' && counts.new > 0 ? 'vm-count vm-count--new' : 'vm-count'}>{nf.format(counts[f])}</span>
        </button>
      ))}
      {folder === 'new' && counts.urgent > 0 ? (
        <span className="vm-tabs__note">
          <Badge tone="danger">{nf.format(counts.urgent)} urgent</Badge>
        </span>
      ) : null}
    </div>
  );

  let body;
  if (!list && error) {
    body = <ErrorPanel title="The messages could not be loaded" error={error} onRetry={reload} busy={loading} />;
  } else if (!list) {
    body = (
      <LoadingRegion label="Loading the messages…">
        <div className="vm-list-skeleton">
          {[0, 1, 2, 3].map((i) => (
            <div key={i} className="vm-list-skeleton__row">
              <Skeleton className="skeleton--cell" />
              <Skeleton className="skeleton--cell skeleton--short" />
            </div>
          ))}
        </div>
      </LoadingRegion>
    );
  } else if (list.items.length === 0 && list.total === 0) {
    const empty: Record<Folder, { title: string; text: string }> = {
      new: { title: 'No new messages', text: 'Messages appear here as callers leave them, live.' },
      saved: { title: 'No saved messages', text: 'Messages you keep after listening are moved here.' },
      deleted: {
        title: 'Nothing deleted',
        text: `Deleted messages stay here for ${box.retentionDays === 0 ? 'a short while' : `${nf.format(box.retentionDays)} day${box.retentionDays === 1 ? '' : 's'}`} and can be restored until then.`,
      },
    };
    body = (
      <EmptyState icon="voicemail" title={empty[folder].title} headingLevel={3}>
        {empty[folder].text}
      </EmptyState>
    );
  } else {
    body = (
      <>
        {error ? (
          <Alert tone="warning" title="The list could not be reloaded" actions={<button type="button" className="button button--small" onClick={reload}>Try again</button>}>
            <ErrorText error={error} />
          </Alert>
        ) : null}
        <div className="vm-list__head" aria-hidden="true">
          <span>Caller</span>
          <span title={`Times in ${timeZone} (${zoneOffsetLabel(timeZone)})`}>Received</span>
          <span className="vm-list__num">Length</span>
        </div>
        <ul className="vm-list" ref={listRef} onKeyDown={onListKey} aria-label={`${FOLDER_LABEL[folder]} messages`} data-testid="vm-messages">
          {list.items.map((m) => {
            const unread = m.folder !== 'deleted' && m.readAt === null;
            const sub = callerSub(m);
            const away = unavailableReason(m, siteName(m.originSite));
            return (
              <li key={m.id}>
                <button
                  type="button"
                  className={`vm-msg${unread ? ' vm-msg--unread' : ''}${away ? ' vm-msg--unavailable' : ''}`}
                  aria-current={m.id === selectedId ? 'true' : undefined}
                  onClick={() => onSelect(m.id)}
                  data-testid="vm-message"
                >
                  <span className="vm-msg__flag">
                    {m.urgent ? <VmIcon name="urgent" label="Urgent" className="vm-msg__urgent" /> : unread ? <span className="vm-msg__dot" role="img" aria-label="Unread" /> : null}
                  </span>
                  <span className="vm-msg__caller">
                    <span className="vm-msg__name">{callerTitle(m)}</span>
                    {sub ? <span className="vm-msg__number">{sub}</span> : null}
                    {m.forwardedFrom ? <span className="vm-msg__fwd">Forwarded from {m.forwardedFrom.mailbox}</span> : null}
                    {away ? (
                      <span className="vm-msg__unavailable" title={away.reason} data-testid="vm-message-unavailable">
                        <Icon name="alert" /> {away.label}
                      </span>
                    ) : null}
                  </span>
                  <span className="vm-msg__date" title={formatInZone(m.createdAt, timeZone, 'dateTimeSec')}>
                    {formatWhen(m.createdAt, timeZone)}
                  </span>
                  <span className="vm-msg__len">{lengthOf(m.durationMs)}</span>
                </button>
              </li>
            );
          })}
        </ul>
        {list.total > PAGE ? (
          <div className="vm-pager">
            <span>
              {nf.format(offset + 1)}–{nf.format(Math.min(offset + PAGE, list.total))} of {nf.format(list.total)}
            </span>
            <button type="button" className="button button--small" disabled={offset === 0 || loading} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              <Icon name="chevron-left" /> Newer
            </button>
            <button type="button" className="button button--small" disabled={offset + PAGE >= list.total || loading} onClick={() => setOffset(offset + PAGE)}>
              Older <Icon name="chevron-right" />
            </button>
          </div>
        ) : null}
      </>
    );
  }

  const others = mailboxes.filter((b) => b.number !== box.number);

  return (
    <div className="vm-messages">
      {tabs}
      {selected ? (
        <MessageDetail
          key={selected.id}
          message={selected}
          originName={siteName(selected.originSite)}
          timeZone={timeZone}
          busy={busy}
          error={actionError}
          canForward={others.length > 0}
          forwardBlocked={!selected.available && !selected.audioMissing ? 'A forward copies the recording from the site that keeps it, which cannot be reached now' : undefined}
          onPlayed={() => {
            if (selected.readAt === null && selected.folder !== 'deleted') void markRead(selected, true);
          }}
          onMarkRead={(read) => void markRead(selected, read)}
          onMove={(to) => void move(selected, to)}
          onDelete={() => void remove(selected)}
          onUndelete={() => void undelete(selected)}
          onPurge={() => setPurgeOpen(true)}
          onForward={() => setForwardOpen(true)}
          onClose={() => onSelect(null)}
        />
      ) : list && list.items.length > 0 ? (
        <p className="vm-hint">
          <VmIcon name="play" /> Pick a message to listen to it. Up and down arrows move through the list.
        </p>
      ) : null}
      <div className="vm-list-wrap">{body}</div>

      {selected ? (
        <>
          <MailboxPickerDialog
            open={forwardOpen}
            id="vm-forward"
            title="Forward the message"
            description={`A copy of the message from ${callerTitle(selected)} goes to the new messages of the mailbox you pick; this one stays where it is.`}
            mailboxes={others}
            action={{ icon: <VmIcon name="forward" />, label: 'Forward', busyLabel: 'Forwarding…' }}
            missing="Pick the mailbox to forward the message to."
            onClose={() => setForwardOpen(false)}
            onPick={async (to) => {
              const copy = await forwardMessage(domain, box.number, selected.id, { mailbox: to.number });
              setForwardOpen(false);
              onNotice({ text: `The message from ${callerTitle(selected)} was forwarded to ${boxLabel(to)}.` });
              return copy;
            }}
          />
          <ConfirmDialog
            open={purgeOpen}
            title="Delete this message for good?"
            confirmLabel="Delete for good"
            busyLabel="Deleting…"
            busy={busy}
            error={purgeOpen ? actionError : undefined}
            onConfirm={() => void purge(selected)}
            onCancel={() => setPurgeOpen(false)}
          >
            <p>
              The message from <strong>{callerTitle(selected)}</strong> of {formatInZone(selected.createdAt, timeZone, 'dateTime')} and its recording are removed now. This cannot be
              undone.
            </p>
          </ConfirmDialog>
        </>
      ) : null}
    </div>
  );
}

function MessageDetail({
  message: m,
  originName,
  timeZone,
  busy,
  error,
  canForward,
  forwardBlocked,
  onPlayed,
  onMarkRead,
  onMove,
  onDelete,
  onUndelete,
  onPurge,
  onForward,
  onClose,
}: {
  message: Message;
  /** the name of the site that keeps its recording, when known */
  originName: string | undefined;
  timeZone: string;
  busy: boolean;
  error: ApiError | undefined;
  canForward: boolean;
  /** why a forward cannot be made now (its recording is on a site that is away) */
  forwardBlocked: string | undefined;
  onPlayed: () => void;
  onMarkRead: (read: boolean) => void;
  onMove: (to: 'new' | 'saved') => void;
  onDelete: () => void;
  onUndelete: () => void;
  onPurge: () => void;
  onForward: () => void;
  onClose: () => void;
}) {
  const sub = callerSub(m);
  const title = callerTitle(m);
  const headingRef = useRef<HTMLHeadingElement>(null);
  return (
    <section className="vm-detail" aria-labelledby={`vm-detail-${m.id}`} data-testid="vm-detail">
      <div className="vm-detail__head">
        <div className="vm-detail__who">
          <h3 id={`vm-detail-${m.id}`} ref={headingRef} className="vm-detail__title">
            {title}
            {m.urgent ? <Badge tone="danger">Urgent</Badge> : null}
            {m.folder !== 'deleted' && m.readAt === null ? <Badge tone="primary">Unread</Badge> : null}
          </h3>
          <p className="vm-detail__meta">
            {sub ? <span className="vm-detail__number">{sub}</span> : null}
            <span title={`${timeZone} (${zoneOffsetLabel(timeZone)})`}>{formatInZone(m.createdAt, timeZone, 'dateTimeSec')}</span>
            <span>{lengthOf(m.durationMs)} long</span>
            {m.forwardedFrom ? (
              <span title={`Forwarded by ${m.forwardedFrom.by} on ${formatInZone(m.forwardedFrom.at, timeZone, 'dateTime')}`}>
                Forwarded from mailbox {m.forwardedFrom.mailbox}
                {m.forwardedFrom.domain !== m.domain ? `@${m.forwardedFrom.domain}` : ''} by {m.forwardedFrom.by}
              </span>
            ) : null}
            {m.folder === 'deleted' && m.deletedAt ? <span>Deleted {formatInZone(m.deletedAt, timeZone, 'dateTime')}</span> : null}
          </p>
        </div>
        <button type="button" className="button button--ghost button--icon" onClick={onClose} aria-label="Close the message" title="Close">
          <Icon name="close" />
        </button>
      </div>
      <AudioPlayer
        source={{ type: 'message', domain: m.domain, box: m.mailbox, id: m.id }}
        durationMs={m.durationMs}
        fileName={messageFileName(m)}
        label={`the message from ${title}`}
        onPlayed={onPlayed}
        unavailable={unavailableReason(m, originName)?.reason}
      />
      <div className="vm-detail__actions" role="group" aria-label="Message actions">
        {m.folder === 'deleted' ? (
          <>
            <button type="button" className="button" onClick={onUndelete} disabled={busy}>
              <Icon name="undo" /> Undelete
            </button>
            <span className="vm-detail__spacer" />
            <button type="button" className="button button--danger-outline" onClick={onPurge} disabled={busy}>
              <Icon name="trash" /> Delete for good…
            </button>
          </>
        ) : (
          <>
            {m.folder === 'new' ? (
              <button type="button" className="button" onClick={() => onMove('saved')} disabled={busy} data-testid="vm-move-saved">
                <VmIcon name="save" /> Move to saved
              </button>
            ) : (
              <button type="button" className="button" onClick={() => onMove('new')} disabled={busy}>
                <VmIcon name="inbox" /> Move to new
              </button>
            )}
            <button type="button" className="button" onClick={() => onMarkRead(m.readAt === null)} disabled={busy}>
              <VmIcon name={m.readAt === null ? 'mail-open' : 'mail'} /> {m.readAt === null ? 'Mark as read' : 'Mark as unread'}
            </button>
            <button
              type="button"
              className="button"
              onClick={onForward}
              disabled={busy || !canForward || forwardBlocked !== undefined}
              title={forwardBlocked ?? (canForward ? undefined : 'There is no other mailbox in this domain')}
            >
              <VmIcon name="forward" /> Forward…
            </button>
            <span className="vm-detail__spacer" />
            <button type="button" className="button button--danger-outline" onClick={onDelete} disabled={busy}>
              <Icon name="trash" /> Delete
            </button>
          </>
        )}
      </div>
      {error ? (
        <Alert tone="danger">
          <ErrorText error={error} />
        </Alert>
      ) : null}
    </section>
  );
}
