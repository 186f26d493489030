/**
 * Voicemail (issue 7, service/vmail/README.md): the mailboxes of a domain with their new/total
 * counts (live from the `mwi` collection of /api/v1/live), and the selected mailbox: messages by
 * folder with a player, greetings, settings.
 *
 * URL: /voicemail/<domain>/<mailbox>/<message id>?folder=new|saved|deleted&tab=greetings|settings
 * (the message path is the link of a `notify: link` e-mail); /voicemail/<domain>?view=quarantine
 * is the domain's quarantine (a query, not a path: any name could be a mailbox number).
 */
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import type { Folder, Mailbox } from '../../../shared/api/vmail.js';
import { Icon } from '../components/icons.js';
import { Alert, EmptyState, ErrorPanel, ErrorText, LoadingRegion, PageHeader, Skeleton } from '../components/ui.js';
import { useLiveState, type LiveState } from '../lib/live.js';
import { useTimeZone } from '../lib/timeZone.js';
import { useTitle } from '../lib/useTitle.js';
import { isDomainLike, normalizeDomain, rememberDomain, useDomainChoices } from './voicemail/domains.js';
import { nf } from './voicemail/format.js';
import { GreetingsPanel } from './voicemail/GreetingsPanel.js';
import { VmIcon } from './voicemail/icons.js';
import { MessagesPanel, type Notice } from './voicemail/MessagesPanel.js';
import { NewMailboxDialog } from './voicemail/NewMailboxDialog.js';
import { QuarantinePanel } from './voicemail/QuarantinePanel.js';
import { SettingsPanel } from './voicemail/SettingsPanel.js';
import { useMailboxes } from './voicemail/useMailboxes.js';
import { useQuarantine } from './voicemail/useQuarantine.js';
import './voicemail/voicemail.css';

type Tab = 'messages' | 'greetings' | 'settings';
const FOLDER_SET = new Set<string>(['new', 'saved', 'deleted']);

function voicemailPath(domain: string, box?: string | null, id?: string | null): string {
  const parts = ['/voicemail', domain, box, id].filter((p): p is string => !!p).map((p, i) => (i === 0 ? p : encodeURIComponent(p)));
  return parts.join('/');
}

function LiveBadge({ state }: { state: LiveState }) {
  const info: Record<LiveState, { label: string; tone: string; title: string }> = {
    open: { label: 'Live', tone: 'success', title: 'Counts change as messages arrive' },
    connecting: { label: 'Connecting…', tone: 'warning', title: 'Opening the live connection' },
    reconnecting: { label: 'Reconnecting…', tone: 'warning', title: 'The live connection dropped; trying again. Counts may be out of date.' },
    closed: { label: 'Not live', tone: 'danger', title: 'No live connection: counts change when the page reloads' },
  };
  const i = info[state];
  return (
    <span className="vm-live" title={i.title} role="status" data-testid="vm-live">
      <span className={`status-dot status-dot--${i.tone}`} aria-hidden="true" />
      {i.label}
    </span>
  );
}

export function VoicemailPage() {
  useTitle('Voicemail');
  const { timeZone } = useTimeZone();
  const navigate = useNavigate();
  const splat = useParams()['*'] ?? '';
  const [search, setSearch] = useSearchParams();
  const [urlDomain = '', urlBox = '', urlId = ''] = splat.split('/');
  const domain = normalizeDomain(urlDomain);
  const folderParam = search.get('folder') ?? 'new';
  const folder: Folder = FOLDER_SET.has(folderParam) ? (folderParam as Folder) : 'new';
  const tabParam = search.get('tab');
  const tab: Tab = tabParam === 'greetings' || tabParam === 'settings' ? tabParam : 'messages';
  const quarantineView = search.get('view') === 'quarantine';

  const choices = useDomainChoices();
  const boxes = useMailboxes(domain);
  // once the domain is known to be served here
  const quarantine = useQuarantine(domain, boxes.items !== undefined);
  const liveState = useLiveState();
  const [newOpen, setNewOpen] = useState(false);
  const [notice, setNotice] = useState<Notice | null>(null);

  // No domain in the URL: the first one offered.
  const firstDomain = choices.domains[0];
  useEffect(() => {
    if (!domain && firstDomain) navigate(voicemailPath(firstDomain), { replace: true });
  }, [domain, firstDomain, navigate]);

  // A domain with mailboxes is remembered for the picker.
  useEffect(() => {
    if (domain && boxes.items && boxes.items.length > 0) rememberDomain(domain);
  }, [domain, boxes.items]);

  const selected: Mailbox | null = useMemo(() => boxes.items?.find((b) => b.number.toLowerCase() === urlBox.toLowerCase()) ?? null, [boxes.items, urlBox]);

  // No mailbox in the URL: the first one.
  const firstBox = boxes.items?.[0]?.number;
  useEffect(() => {
    if (domain && !urlBox && firstBox && !quarantineView) navigate(voicemailPath(domain, firstBox), { replace: true });
  }, [domain, urlBox, firstBox, quarantineView, navigate]);

  useEffect(() => {
    if (!notice) return undefined;
    const t = window.setTimeout(() => setNotice(null), 8000);
    return () => window.clearTimeout(t);
  }, [notice]);
  useEffect(() => setNotice(null), [domain, urlBox, tab, quarantineView]);

  const go = useCallback(
    (to: { domain?: string; box?: string | null; id?: string | null; folder?: Folder; tab?: Tab }, replace = false) => {
      const d = to.domain ?? domain;
      const b = to.box === undefined ? urlBox : to.box;
      const id = to.id === undefined ? urlId : to.id;
      const q = new URLSearchParams();
      const f = to.folder ?? (to.box !== undefined && to.box !== urlBox ? 'new' : folder);
      const t = to.tab ?? (to.box !== undefined && to.box !== urlBox ? 'messages' : tab);
      if (f !== 'new') q.set('folder', f);
      if (t !== 'messages') q.set('tab', t);
      const qs = q.toString();
      navigate(`${voicemailPath(d, b, id)}${qs ? `?${qs}` : ''}`, { replace });
    },
    [domain, urlBox, urlId, folder, tab, navigate],
  );

  const onSelectMessage = useCallback((id: string | null) => go({ id }, true), [go]);
  const onFolder = useCallback((f: Folder, keep?: string) => go({ folder: f, id: keep ?? null }), [go]);

  const header = <PageHeader title="Voicemail" description="Listen to messages, manage mailboxes and their greetings." actions={domain ? <LiveBadge state={liveState} /> : undefined} />;

  return (
    <div className="vm-page">
      {header}
      <div className="vm-layout">
        <aside className="vm-side" aria-label="Mailboxes">
          <DomainPicker
            domain={domain}
            choices={choices.domains}
            onPick={(d) => {
              setSearch(new URLSearchParams(), { replace: true });
              navigate(voicemailPath(d));
            }}
          />
          <div className="vm-side__head">
            <h2 className="vm-side__title">Mailboxes{boxes.items ? <span className="vm-side__total">{nf.format(boxes.items.length)}</span> : null}</h2>
            <button type="button" className="button button--small button--primary" onClick={() => setNewOpen(true)} disabled={!domain || (!boxes.items && !!boxes.error)} data-testid="vm-new-mailbox-button">
              <Icon name="plus" /> New mailbox
            </button>
          </div>
          <MailboxList domain={domain} state={boxes} selected={quarantineView ? '' : urlBox} onSelect={(b) => go({ box: b, id: null })} ready={choices.ready} />
          {domain && boxes.items ? <QuarantineLink state={quarantine} current={quarantineView} onOpen={() => navigate(`${voicemailPath(domain)}?view=quarantine`)} /> : null}
        </aside>

        <section className="vm-main" aria-label={quarantineView ? 'Quarantine' : selected ? `Mailbox ${selected.number}` : 'Mailbox'}>
          {quarantineView && domain && boxes.items ? (
            <QuarantinePanel
              domain={domain}
              state={quarantine}
              mailboxes={boxes.items}
              timeZone={timeZone}
              notice={notice}
              onNotice={setNotice}
              onOpenMessage={(m) => navigate(`${voicemailPath(domain, m.mailbox, m.id)}${m.folder !== 'new' ? `?folder=${m.folder}` : ''}`)}
              onRestored={boxes.reload}
            />
          ) : (
            <MainArea
              domain={domain}
              urlBox={urlBox}
              boxes={boxes}
              selected={selected}
              ready={choices.ready}
              onNew={() => setNewOpen(true)}
              render={(box) => (
                <MailboxView
                  box={box}
                  mailboxes={boxes.items ?? []}
                  tab={tab}
                  folder={folder}
                  selectedId={urlId || null}
                  timeZone={timeZone}
                  liveTick={boxes.changed.get(box.number) ?? 0}
                  notice={notice}
                  onNotice={setNotice}
                  onTab={(t) => go({ tab: t })}
                  onFolder={onFolder}
                  onSelectMessage={onSelectMessage}
                  onSaved={boxes.replace}
                  onGreetingsChanged={boxes.reload}
                  onDeleted={() => {
                    boxes.remove(box.number);
                    setNotice({ text: `Mailbox ${box.number} was deleted.` });
                    navigate(voicemailPath(domain), { replace: true });
                    boxes.reload();
                  }}
                />
              )}
            />
          )}
        </section>
      </div>

      <NewMailboxDialog
        open={newOpen}
        domain={domain}
        timeZone={timeZone}
        onClose={() => setNewOpen(false)}
        onCreated={(box) => {
          setNewOpen(false);
          boxes.replace(box);
          rememberDomain(domain);
          go({ box: box.number, id: null, tab: 'messages', folder: 'new' });
        }}
      />
    </div>
  );
}

const OTHER = '\u0000other';

function DomainPicker({ domain, choices, onPick }: { domain: string; choices: string[]; onPick: (domain: string) => void }) {
  const [typing, setTyping] = useState(false);
  const [text, setText] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const options = domain && !choices.includes(domain) ? [domain, ...choices] : choices;
  const showInput = typing || options.length === 0;

  useEffect(() => {
    if (typing) inputRef.current?.focus();
  }, [typing]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const d = normalizeDomain(text);
    if (!isDomainLike(d)) {
      setProblem('Enter a domain name, e.g. office.example.com.');
      return;
    }
    setProblem(null);
    setTyping(false);
    setText('');
    onPick(d);
  };

  if (showInput) {
    return (
      <form className="vm-domain" onSubmit={submit} noValidate>
        <label htmlFor="vm-domain-input" className="vm-domain__label">
          Domain
        </label>
        <div className="vm-domain__row">
          <input
            ref={inputRef}
            id="vm-domain-input"
            className="input"
            value={text}
            placeholder="office.example.com"
            autoComplete="off"
            spellCheck={false}
            aria-invalid={problem ? true : undefined}
            aria-describedby={problem ? 'vm-domain-problem' : undefined}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape' && options.length > 0) {
                e.preventDefault();
                setTyping(false);
                setProblem(null);
              }
            }}
          />
          <button type="submit" className="button">
            Open
          </button>
        </div>
        {problem ? (
          <p className="field__error" id="vm-domain-problem">
            {problem}
          </p>
        ) : null}
        {options.length > 0 ? (
          <button type="button" className="link-button vm-domain__switch" onClick={() => setTyping(false)}>
            Back to the list
          </button>
        ) : null}
      </form>
    );
  }
  return (
    <div className="vm-domain">
      <label htmlFor="vm-domain-select" className="vm-domain__label">
        Domain
      </label>
      <div className="vm-domain__row">
        <select
          id="vm-domain-select"
          className="input select"
          value={domain}
          onChange={(e) => (e.target.value === OTHER ? setTyping(true) : onPick(e.target.value))}
          data-testid="vm-domain"
        >
          {domain ? null : <option value="">Choose a domain…</option>}
          {options.map((d) => (
            <option key={d} value={d}>
              {d}
            </option>
          ))}
          <option value={OTHER}>Another domain…</option>
        </select>
      </div>
    </div>
  );
}

function MailboxList({
  domain,
  state,
  selected,
  onSelect,
  ready,
}: {
  domain: string;
  state: ReturnType<typeof useMailboxes>;
  selected: string;
  onSelect: (box: string) => void;
  ready: boolean;
}) {
  const listRef = useRef<HTMLUListElement>(null);
  if (!domain) {
    return ready ? <p className="vm-side__note">Enter a domain above to see its mailboxes.</p> : null;
  }
  if (!state.items) {
    if (state.error) return <p className="vm-side__note">{state.error.status === 404 ? 'No vmail group serves this domain.' : 'The mailboxes could not be loaded.'}</p>;
    return (
      <LoadingRegion label="Loading the mailboxes…">
        <div className="vm-box-skeleton">
          {[0, 1, 2, 3].map((i) => (
            <Skeleton key={i} className="skeleton--cell" />
          ))}
        </div>
      </LoadingRegion>
    );
  }
  if (state.items.length === 0) return <p className="vm-side__note">No mailboxes in {domain} yet.</p>;
  const onKey = (e: KeyboardEvent<HTMLUListElement>) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const links = [...(listRef.current?.querySelectorAll<HTMLButtonElement>('.vm-box') ?? [])];
    const i = links.findIndex((l) => l === document.activeElement);
    const next = links[e.key === 'ArrowDown' ? Math.min(links.length - 1, i + 1) : Math.max(0, i - 1)];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  };
  return (
    <ul className="vm-boxes" ref={listRef} onKeyDown={onKey} data-testid="vm-mailboxes">
      {state.items.map((b) => {
        const total = b.counts.new + b.counts.saved;
        const current = b.number.toLowerCase() === selected.toLowerCase();
        return (
          <li key={b.number}>
            <button
              type="button"
              className="vm-box"
              aria-current={current ? 'true' : undefined}
              onClick={() => onSelect(b.number)}
              aria-label={`${b.number} ${b.name}: ${b.counts.new} new, ${total} in all${b.counts.urgent ? `, ${b.counts.urgent} urgent` : ''}`}
              data-testid={`vm-box-${b.number}`}
            >
              <span className="vm-box__text">
                <span className="vm-box__number">{b.number}</span>
                <span className="vm-box__name">{b.name}</span>
              </span>
              <span className="vm-box__counts" aria-hidden="true">
                {b.counts.new > 0 ? (
                  <span className={b.counts.urgent > 0 ? 'vm-pill vm-pill--urgent' : 'vm-pill vm-pill--new'} title={`${b.counts.new} new${b.counts.urgent ? `, ${b.counts.urgent} urgent` : ''}`}>
                    {nf.format(b.counts.new)} new
                  </span>
                ) : null}
                <span className="vm-box__total" title={`${total} message${total === 1 ? '' : 's'} (new and saved)`}>
                  {total === 0 ? 'empty' : b.counts.new > 0 ? `of ${nf.format(total)}` : `${nf.format(total)} saved`}
                </span>
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** Below the mailboxes: the domain's quarantine, with how many things are in it. */
function QuarantineLink({ state, current, onOpen }: { state: ReturnType<typeof useQuarantine>; current: boolean; onOpen: () => void }) {
  const count = state.list ? state.list.items.length + state.list.missingAudio.length : undefined;
  return (
    <div className="vm-side__quarantine">
      <button
        type="button"
        className="vm-box"
        aria-current={current ? 'true' : undefined}
        onClick={onOpen}
        aria-label={`Quarantine: ${count === undefined ? 'files the start-up check could not match' : count === 0 ? 'empty' : `${count} to look at`}`}
        data-testid="vm-quarantine-link"
      >
        <span className="vm-box__text">
          <span className="vm-box__number">Quarantine</span>
          <span className="vm-box__name">Files not matched at start</span>
        </span>
        <span className="vm-box__counts" aria-hidden="true">
          {count === undefined ? null : count > 0 ? <span className="vm-pill vm-pill--urgent">{nf.format(count)}</span> : <span className="vm-box__total">empty</span>}
        </span>
      </button>
    </div>
  );
}

function MainArea({
  domain,
  urlBox,
  boxes,
  selected,
  ready,
  onNew,
  render,
}: {
  domain: string;
  urlBox: string;
  boxes: ReturnType<typeof useMailboxes>;
  selected: Mailbox | null;
  ready: boolean;
  onNew: () => void;
  render: (box: Mailbox) => ReactNode;
}) {
  if (!domain) {
    if (!ready) return <MainSkeleton />;
    return (
      <EmptyState icon="voicemail" title="Which domain?">
        <p>
          Mailboxes belong to a domain. Enter one on the left, or add the domains a vmail group serves in{' '}
          <Link to="/configuration">Configuration</Link> to have them listed.
        </p>
      </EmptyState>
    );
  }
  if (!boxes.items && boxes.error) {
    const e = boxes.error;
    if (e.status === 404 || e.status === 503) {
      return (
        <div className="vm-panel vm-panel--padded">
          <Alert
            tone="warning"
            title={e.status === 404 ? `No voicemail service for ${domain}` : `The voicemail service for ${domain} is not running here`}
            actions={
              <button type="button" className="button button--small" onClick={boxes.reload} disabled={boxes.loading}>
                Try again
              </button>
            }
          >
            <ErrorText error={e} />
            <p className="vm-alert-more">
              {e.status === 404 ? (
                <>
                  Add a vmail instance whose group serves this domain in <Link to="/configuration">Configuration</Link>, or check the domain name.
                </>
              ) : (
                'Its vmail group has no active instance on this site. The dashboard shows the state of the role instances.'
              )}
            </p>
          </Alert>
        </div>
      );
    }
    return <ErrorPanel title="The mailboxes could not be loaded" error={e} onRetry={boxes.reload} busy={boxes.loading} />;
  }
  if (!boxes.items) return <MainSkeleton />;
  if (boxes.items.length === 0) {
    return (
      <div className="vm-panel">
        <EmptyState
          icon="voicemail"
          title={`No mailboxes in ${domain}`}
          actions={
            <button type="button" className="button button--primary" onClick={onNew}>
              <Icon name="plus" /> New mailbox
            </button>
          }
        >
          Create a mailbox for each person or team that takes messages, usually numbered like their extension.
        </EmptyState>
      </div>
    );
  }
  if (!selected) {
    if (!urlBox) return <MainSkeleton />;
    return (
      <div className="vm-panel">
        <EmptyState icon="alert" title={`There is no mailbox ${urlBox} in ${domain}`}>
          It may have been deleted. Pick one on the left.
        </EmptyState>
      </div>
    );
  }
  return <>{render(selected)}</>;
}

function MainSkeleton() {
  return (
    <LoadingRegion label="Loading…">
      <div className="vm-panel vm-panel--padded vm-main-skeleton">
        <Skeleton className="skeleton--value" />
        <Skeleton className="skeleton--cell" />
        <Skeleton className="skeleton--cell" />
        <Skeleton className="skeleton--cell skeleton--short" />
      </div>
    </LoadingRegion>
  );
}

function MailboxView({
  box,
  mailboxes,
  tab,
  folder,
  selectedId,
  timeZone,
  liveTick,
  notice,
  onNotice,
  onTab,
  onFolder,
  onSelectMessage,
  onSaved,
  onGreetingsChanged,
  onDeleted,
}: {
  box: Mailbox;
  mailboxes: readonly Mailbox[];
  tab: Tab;
  folder: Folder;
  selectedId: string | null;
  timeZone: string;
  liveTick: number;
  notice: Notice | null;
  onNotice: (n: Notice | null) => void;
  onTab: (t: Tab) => void;
  onFolder: (f: Folder, keep?: string) => void;
  onSelectMessage: (id: string | null) => void;
  onSaved: (box: Mailbox) => void;
  onGreetingsChanged: () => void;
  onDeleted: () => void;
}) {
  const [undoing, setUndoing] = useState(false);
  const activeGreeting = box.greetings.temporary ? 'Temporary greeting on' : null;
  const tabs: { id: Tab; label: string }[] = [
    { id: 'messages', label: 'Messages' },
    { id: 'greetings', label: 'Greetings' },
    { id: 'settings', label: 'Settings' },
  ];
  return (
    <div className="vm-panel" data-testid="vm-mailbox">
      <div className="vm-mailbox__head">
        <div className="vm-mailbox__who">
          <h2 className="vm-mailbox__title">
            {box.name} <span className="vm-mailbox__number">{box.number}</span>
          </h2>
          <p className="vm-mailbox__meta">
            <span>{box.email ?? 'No e-mail address'}</span>
            <span>
              <VmIcon name="lock" /> {box.hasPin ? 'PIN set' : 'No PIN'}
            </span>
            {box.pinLockedUntil && Date.parse(box.pinLockedUntil) > Date.now() ? <span className="vm-mailbox__warn">PIN locked</span> : null}
            {activeGreeting ? <span className="vm-mailbox__warn">{activeGreeting}</span> : null}
            <span>
              {nf.format(box.counts.new + box.counts.saved)} of {nf.format(box.maxMessages)} messages
            </span>
          </p>
        </div>
        <div className="vm-tabs vm-tabs--views" role="group" aria-label="View">
          {tabs.map((t) => (
            <button key={t.id} type="button" className="vm-view" aria-pressed={tab === t.id} onClick={() => onTab(t.id)} data-testid={`vm-tab-${t.id}`}>
              {t.label}
            </button>
          ))}
        </div>
      </div>
      {notice ? (
        <div className="vm-notice">
          <Alert
            tone="success"
            actions={
              notice.undo ? (
                <button
                  type="button"
                  className="button button--small"
                  disabled={undoing}
                  onClick={() => {
                    const undo = notice.undo;
                    if (!undo) return;
                    setUndoing(true);
                    undo()
                      .then(() => onNotice({ text: 'Undone.' }))
                      .catch(() => onNotice({ text: 'It could not be undone: the message may have changed since.' }))
                      .finally(() => setUndoing(false));
                  }}
                >
                  <Icon name="undo" /> Undo
                </button>
              ) : (
                <button type="button" className="button button--ghost button--small" onClick={() => onNotice(null)} aria-label="Dismiss">
                  <Icon name="close" />
                </button>
              )
            }
          >
            {notice.text}
          </Alert>
        </div>
      ) : null}
      {tab === 'messages' ? (
        <MessagesPanel
          domain={box.domain}
          box={box}
          mailboxes={mailboxes}
          folder={folder}
          onFolder={onFolder}
          selectedId={selectedId}
          onSelect={onSelectMessage}
          liveTick={liveTick}
          timeZone={timeZone}
          onNotice={onNotice}
        />
      ) : tab === 'greetings' ? (
        <div className="vm-pad">
          <GreetingsPanel box={box} timeZone={timeZone} onChanged={onGreetingsChanged} />
        </div>
      ) : (
        <div className="vm-pad">
          <SettingsPanel box={box} timeZone={timeZone} onSaved={onSaved} onDeleted={onDeleted} />
        </div>
      )}
    </div>
  );
}
