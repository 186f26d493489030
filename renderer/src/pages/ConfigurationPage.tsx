/**
 * The role configuration editor (design section 3): the instances of every site as a local draft,
 * checked by the service as it is edited, saved with the revision it started from.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { ConfigProblem, RoleInstance, RolesConfig, RoleType, SavedRolesConfig } from '../../../shared/api/roles.js';
import { toApiError, type ApiError } from '../api/client.js';
import { getInterfaces, getRolesConfig, saveRolesConfig } from '../api/endpoints.js';
import { useAuth } from '../auth/AuthContext.js';
import { Icon } from '../components/icons.js';
import { Alert, ConfirmDialog, EmptyState, ErrorPanel, ErrorText, LoadingRegion, Modal, PageHeader, Panel, SkeletonTable } from '../components/ui.js';
import {
  applyInstance,
  draftFrom,
  groupDomains,
  groupDraft,
  mapProblems,
  newKey,
  nextGroup,
  nextOrder,
  suggestName,
  summarizeDraft,
  type DraftGroup,
  type DraftInstance,
  type FieldProblem,
  type MappedProblems,
} from '../lib/configDraft.js';
import { clearStoredDraft, draftFromStored, readStoredDraft, storeDraft } from '../lib/draftStorage.js';
import { useStatus } from '../lib/StatusContext.js';
import { useLiveValidation } from '../lib/useLiveValidation.js';
import { useResource } from '../lib/useResource.js';
import { useTitle } from '../lib/useTitle.js';
import { ConflictDialog } from './configuration/ConflictDialog.js';
import { formFrom, InstanceForm, readForm, type FormState } from './configuration/InstanceForm.js';
import { InstanceTables } from './configuration/InstanceTables.js';
import { PartitionPreview } from './configuration/PartitionPreview.js';

interface EditorState {
  key: string;
  origName: string | null;
  isNew: boolean;
  /** the instance as it was when the form opened */
  base: RoleInstance;
  form: FormState;
  /** the domains were typed in this form: a change of group no longer fills them in */
  domainsTouched: boolean;
  /** the name is still the one the console suggested: a change of role type suggests another */
  nameSuggested: boolean;
}

interface SavedNotice {
  revision: number;
  /** how many warnings the saved configuration has (they stay listed in the problem summary) */
  warnings: number;
  kind: 'saved' | 'reloaded' | 'refreshed' | 'restored';
  /** restored: the revision the restored draft was made from */
  base?: number;
}

/** Keeps the draft keys of `sent` for the instances the service saved (same order, same names). */
function adoptKeys(sent: readonly DraftInstance[], saved: readonly RoleInstance[]): DraftInstance[] {
  return saved.map((value, i) => {
    const before = sent[i];
    return { key: before && before.value.name === value.name ? before.key : newKey(), origName: value.name, value };
  });
}

function ConfigSkeleton() {
  return (
    <LoadingRegion label="Loading the configuration…">
      <Panel title="Role instances">
        <SkeletonTable rows={4} columns={['wide', 'short', 'wide', 'short']} />
      </Panel>
    </LoadingRegion>
  );
}

function ProblemSummary({
  mapped,
  refused,
  nameOf,
  onShow,
}: {
  mapped: MappedProblems;
  refused: string | null;
  nameOf: (key: string) => string | undefined;
  onShow: (key: string) => void;
}) {
  const instancesWithProblems = [...mapped.byKey.entries()].filter(([key]) => nameOf(key) !== undefined);
  if (mapped.errors === 0 && mapped.warnings === 0 && !refused) return null;
  const mixed = new Set(mapped.general.map((p) => p.severity)).size > 1;
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const title = refused
    ? `Not saved: ${refused}`
    : mapped.errors > 0
      ? `${count(mapped.errors, 'error')}${mapped.warnings > 0 ? ` and ${count(mapped.warnings, 'warning')}` : ''}: the configuration cannot be saved until the errors are fixed`
      : count(mapped.warnings, 'warning');
  return (
    <div className="problem-summary" data-testid="problem-summary">
      <Alert tone={mapped.errors > 0 || refused ? 'danger' : 'warning'} title={title}>
        {mapped.general.length > 0 ? (
          <ul className="problem-list">
            {mapped.general.map((p) => (
              <li key={`${p.path}:${p.message}`}>
                {!mixed ? null : p.severity === 'warning' ? (
                  <span className="problem-list__tag">Warning </span>
                ) : (
                  <span className="problem-list__tag problem-list__tag--error">Error </span>
                )}
                {p.message}
                {p.path !== '/instances' && p.path !== '/' ? <code className="problem-list__path">{p.path}</code> : null}
              </li>
            ))}
          </ul>
        ) : null}
        {instancesWithProblems.length > 0 ? (
          <p className="problem-summary__instances">
            Marked below:{' '}
            {instancesWithProblems.map(([key, list], i) => (
              <span key={key}>
                {i > 0 ? ', ' : ''}
                <button type="button" className="link-button" onClick={() => onShow(key)}>
                  {nameOf(key) || '(no name)'}
                </button>{' '}
                <span className="muted">({describeCount(list)})</span>
              </span>
            ))}
          </p>
        ) : null}
      </Alert>
    </div>
  );
}

function describeCount(list: readonly FieldProblem[]): string {
  const errors = list.filter((p) => p.severity === 'error').length;
  const warnings = list.length - errors;
  return [errors ? `${errors} error${errors === 1 ? '' : 's'}` : '', warnings ? `${warnings} warning${warnings === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ');
}

export function ConfigurationPage() {
  useTitle('Configuration');
  const { session } = useAuth();
  const readOnly = !(session?.scopes.includes('admin') ?? false);
  const status = useStatus();
  const initial = useResource(getRolesConfig);
  const interfaces = useResource(getInterfaces);

  const [saved, setSaved] = useState<RolesConfig | null>(null);
  const [draft, setDraftState] = useState<DraftInstance[]>([]);
  /** the revision the draft was made from: sent with a save, so a newer one answers 409 */
  const [baseRevision, setBaseRevision] = useState(0);
  const [editor, setEditor] = useState<EditorState | null>(null);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<ApiError | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const [notice, setNotice] = useState<SavedNotice | null>(null);
  const [conflict, setConflict] = useState<{ theirs: RolesConfig } | null>(null);
  const [conflictBusy, setConflictBusy] = useState<'reload' | 'overwrite' | null>(null);
  const [conflictError, setConflictError] = useState<ApiError | null>(null);
  const [removed, setRemoved] = useState<{ item: DraftInstance; index: number } | null>(null);
  const [confirmDiscard, setConfirmDiscard] = useState(false);
  const [flashKey, setFlashKey] = useState<string | null>(null);
  const nameRef = useRef<HTMLInputElement>(null);
  const undoRef = useRef<HTMLButtonElement>(null);

  const selfSite = status.data?.site.id ?? interfaces.data?.site ?? '';
  const siteName = status.data?.site.name ?? 'This site';

  /** Every change to the draft goes through here: a refused save's message no longer applies. */
  const setDraft = useCallback((next: DraftInstance[] | ((d: DraftInstance[]) => DraftInstance[])) => {
    setDraftState(next);
    setRefused(null);
  }, []);

  const adopt = useCallback(
    (config: RolesConfig, keys?: readonly DraftInstance[]) => {
      setSaved({ revision: config.revision, instances: config.instances, ...(config.ifaceAliases ? { ifaceAliases: config.ifaceAliases } : {}) });
      setBaseRevision(config.revision);
      setDraft(keys ? adoptKeys(keys, config.instances) : draftFrom(config.instances));
      setRemoved(null);
    },
    [setDraft],
  );

  // The first answer becomes the saved configuration and the draft, unless this tab kept an unsaved draft.
  useEffect(() => {
    if (!initial.data || saved !== null) return;
    adopt(initial.data);
    const stored = readStoredDraft();
    if (stored && summarizeDraft(draftFromStored(stored), initial.data.instances, selfSite).dirty) {
      setDraft(draftFromStored(stored));
      setBaseRevision(stored.baseRevision);
      setNotice({ revision: initial.data.revision, warnings: 0, kind: 'restored', base: stored.baseRevision });
    }
  }, [initial.data, saved, adopt, setDraft, selfSite]);

  const summary = useMemo(() => summarizeDraft(draft, saved?.instances ?? [], selfSite), [draft, saved, selfSite]);
  const dirty = saved !== null && summary.dirty;

  // An unsaved draft outlives leaving the page (this tab only); a clean one starts from what is saved.
  useEffect(() => {
    if (!saved) return;
    if (dirty) storeDraft(baseRevision, draft);
    else {
      clearStoredDraft();
      if (baseRevision !== saved.revision) setBaseRevision(saved.revision);
    }
  }, [draft, saved, dirty, baseRevision]);

  // The instances as they would be with the open form applied: what is checked and shown.
  const formRead = useMemo(() => (editor ? readForm(editor.form, editor.base) : null), [editor]);
  const candidate = useMemo(
    () => (editor && formRead ? applyInstance(draft, { key: editor.key, origName: editor.origName, value: formRead.value }) : draft),
    [draft, editor, formRead],
  );
  const live = useLiveValidation(
    saved ? candidate.map((d) => d.value) : null,
    candidate.map((d) => d.key),
    saved?.ifaceAliases,
  );
  const forgetChecks = live.forget;
  const mapped = useMemo(() => mapProblems(live.snapshot), [live.snapshot]);
  const problemsOf = useCallback((key: string) => mapped.byKey.get(key) ?? [], [mapped]);
  const sections = useMemo(() => groupDraft(draft), [draft]);

  // Leaving the page (reload, closing the tab) with unsaved changes asks first.
  useEffect(() => {
    if (!dirty) return undefined;
    const onUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
    };
    window.addEventListener('beforeunload', onUnload);
    return () => window.removeEventListener('beforeunload', onUnload);
  }, [dirty]);

  // Another save seen by the status poll: take it when nothing is being edited, else say so.
  const newerRevision = status.data && saved && status.data.configRevision > saved.revision ? status.data.configRevision : null;
  const refreshing = useRef(false);
  useEffect(() => {
    if (newerRevision === null || dirty || editor || saving || conflict || refreshing.current) return;
    refreshing.current = true;
    getRolesConfig().then(
      (config) => {
        refreshing.current = false;
        adopt(config);
        forgetChecks();
        setNotice({ revision: config.revision, warnings: 0, kind: 'refreshed' });
      },
      () => {
        refreshing.current = false;
      },
    );
  }, [newerRevision, dirty, editor, saving, conflict, adopt, forgetChecks]);

  useEffect(() => {
    if (flashKey === null) return undefined;
    const timer = window.setTimeout(() => setFlashKey(null), 2000);
    return () => window.clearTimeout(timer);
  }, [flashKey]);

  const focusRow = (key: string) => {
    window.requestAnimationFrame(() => {
      const button = document.querySelector<HTMLButtonElement>(`[data-edit-key="${key}"]`);
      button?.scrollIntoView({ block: 'center', behavior: 'smooth' });
      button?.focus({ preventScroll: true });
    });
  };

  // ---------- Editing ----------

  const defaultIface = (group?: DraftGroup): string => {
    const fromGroup = group?.members[0]?.value.iface;
    if (fromGroup) return fromGroup;
    const counts = new Map<string, number>();
    for (const d of draft) if ((d.value.site ?? selfSite) === selfSite) counts.set(d.value.iface, (counts.get(d.value.iface) ?? 0) + 1);
    const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    return common ?? interfaces.data?.interfaces[0]?.name ?? '';
  };

  const openAdd = (group?: DraftGroup) => {
    const roletype: RoleType = group ? (group.roletype as RoleType) : 'callstore';
    const base: RoleInstance = {
      name: suggestName(draft, roletype),
      roletype,
      iface: defaultIface(group),
      enabled: true,
      group: group ? group.group : nextGroup(draft),
      order: group ? nextOrder(draft, group.group) : 1,
      include_domains: group?.domains ? [...group.domains] : [],
      site: selfSite,
      ext: {},
    };
    setEditor({ key: newKey(), origName: null, isNew: true, base, form: formFrom(base, selfSite), domainsTouched: group !== undefined, nameSuggested: true });
  };

  const openEdit = (key: string) => {
    const d = draft.find((x) => x.key === key);
    if (!d) return;
    setEditor({ key, origName: d.origName, isNew: false, base: d.value, form: formFrom(d.value, selfSite), domainsTouched: false, nameSuggested: false });
  };

  const changeForm = (patch: Partial<FormState>) => {
    setEditor((e) => {
      if (!e) return e;
      const form = { ...e.form, ...patch };
      let { domainsTouched, nameSuggested } = e;
      if (patch.domains !== undefined) domainsTouched = true;
      if (patch.name !== undefined) nameSuggested = false;
      // A new group number: take that group's domains (they are shared) unless some were typed.
      if (patch.group !== undefined && !domainsTouched && /^\d+$/.test(patch.group.trim())) {
        const target = groupDomains(draft, Number(patch.group), e.key);
        form.domains = (target ? target.domains : (e.base.include_domains ?? [])).join('\n');
      }
      if (patch.roletype !== undefined && nameSuggested) form.name = suggestName(draft, patch.roletype);
      return { ...e, form, domainsTouched, nameSuggested };
    });
  };

  const applyEdit = () => {
    if (!editor || !formRead) return;
    if (Object.keys(formRead.local).length > 0) {
      const invalid = document.querySelector<HTMLElement>('.modal [aria-invalid="true"]');
      invalid?.focus({ preventScroll: true });
      // The field and the message under it, not just the field's first line.
      invalid?.closest('.field')?.scrollIntoView({ block: 'nearest' });
      return;
    }
    setDraft((d) => applyInstance(d, { key: editor.key, origName: editor.origName, value: formRead.value }));
    setEditor(null);
    setNotice(null);
    setFlashKey(editor.key);
  };

  const remove = (key: string) => {
    const index = draft.findIndex((d) => d.key === key);
    const item = draft[index];
    if (!item) return;
    setDraft(draft.filter((d) => d.key !== key));
    setRemoved({ item, index });
    setNotice(null);
    // The row and its button are gone: keyboard focus goes to the way back.
    window.requestAnimationFrame(() => undoRef.current?.focus());
  };

  const undoRemove = () => {
    if (!removed) return;
    const { item, index } = removed;
    setDraft((d) => [...d.slice(0, index), item, ...d.slice(index)]);
    setRemoved(null);
    focusRow(item.key);
  };

  const discard = () => {
    if (!saved) return;
    setDraft(draftFrom(saved.instances));
    setRemoved(null);
    setConfirmDiscard(false);
    setSaveError(null);
  };

  // ---------- Saving ----------

  const afterSave = (res: SavedRolesConfig, sent: readonly DraftInstance[]) => {
    adopt(res, sent);
    live.forget();
    setNotice({ revision: res.revision, warnings: res.warnings.length, kind: 'saved' });
    setSaveError(null);
    status.reload();
    // The notice is at the top: bring it (and the page's heading, for keyboard users) into view.
    document.querySelector<HTMLElement>('main h1')?.focus();
  };

  /** Sends the draft; `revision` is the one it claims to start from. */
  const send = async (revision: number): Promise<'saved' | 'conflict' | 'failed'> => {
    if (!saved) return 'failed';
    const sent = draft;
    const instances = sent.map((d) => d.value);
    const aliases = saved.ifaceAliases;
    try {
      const res = await saveRolesConfig({ revision, instances, ...(aliases ? { ifaceAliases: aliases } : {}) });
      afterSave(res, sent);
      return 'saved';
    } catch (err) {
      const e = toApiError(err);
      if (e.code === 'conflict') {
        try {
          const theirs = await getRolesConfig();
          setConflict({ theirs });
          setConflictError(null);
        } catch (loadErr) {
          setSaveError(toApiError(loadErr));
        }
        return 'conflict';
      }
      if (e.status === 400 && e.details.length > 0) {
        // The errors land at their fields; the warnings of the last check still apply to this draft.
        const warnings = (live.snapshot?.problems ?? []).filter((p) => p.severity === 'warning');
        const errors: ConfigProblem[] = e.details.map((d) => ({ severity: 'error', path: d.path, message: d.message }));
        live.remember(instances, aliases, [...errors, ...warnings], sent.map((d) => d.key));
        setRefused(e.message);
        setSaveError(null);
        return 'failed';
      }
      setSaveError(e);
      return 'failed';
    }
  };

  const save = async () => {
    if (!saved || saving) return;
    setSaving(true);
    setNotice(null);
    setSaveError(null);
    await send(baseRevision);
    setSaving(false);
  };

  const reloadTheirs = async () => {
    setConflictBusy('reload');
    try {
      const config = await getRolesConfig();
      adopt(config);
      live.forget();
      setConflict(null);
      setNotice({ revision: config.revision, warnings: 0, kind: 'reloaded' });
      status.reload();
    } catch (err) {
      setConflictError(toApiError(err));
    } finally {
      setConflictBusy(null);
    }
  };

  const overwrite = async () => {
    if (!conflict) return;
    setConflictBusy('overwrite');
    setConflictError(null);
    const outcome = await send(conflict.theirs.revision);
    setConflictBusy(null);
    // A new conflict (yet another save) replaced `conflict` and keeps the dialog open.
    if (outcome !== 'conflict') setConflict(null);
  };

  // ---------- Rendering ----------

  const headerActions = saved ? (
    <button type="button" className="button button--primary" onClick={() => openAdd()} disabled={readOnly}>
      <Icon name="plus" />
      Add instance
    </button>
  ) : null;

  let body: ReactNode;
  if (!saved && initial.error) {
    body = <ErrorPanel title="The configuration could not be loaded" error={initial.error} onRetry={initial.reload} busy={initial.loading} />;
  } else if (!saved) {
    body = <ConfigSkeleton />;
  } else {
    const changes: string[] = [];
    if (summary.added) changes.push(`${summary.added} added`);
    if (summary.changed) changes.push(`${summary.changed} edited`);
    if (summary.removed.length) changes.push(`${summary.removed.length} removed`);
    if (changes.length === 0 && summary.reordered) changes.push('order of the list changed');
    const checkState = live.pending ? (
      <span className="config-bar__check muted">Checking…</span>
    ) : live.error ? (
      <span className="config-bar__check config-bar__check--warning" title={live.error.message}>
        Could not check
      </span>
    ) : mapped.errors > 0 ? (
      <span className="config-bar__check config-bar__check--error">
        <Icon name="alert" />
        {mapped.errors} error{mapped.errors === 1 ? '' : 's'}
      </span>
    ) : mapped.warnings > 0 ? (
      <span className="config-bar__check config-bar__check--warning">
        <Icon name="alert" />
        {mapped.warnings} warning{mapped.warnings === 1 ? '' : 's'}
      </span>
    ) : live.snapshot ? (
      <span className="config-bar__check config-bar__check--ok">
        <Icon name="check" />
        No problems
      </span>
    ) : null;

    body = (
      <>
        <div className={`config-bar${dirty ? ' config-bar--dirty' : ''}`} data-testid="config-bar">
          <div className="config-bar__inner">
            <div className="config-bar__state" role="status">
              {dirty ? (
                <>
                  <span className="config-bar__dot" aria-hidden="true" />
                  <span className="config-bar__title">Unsaved changes</span>
                  <span className="muted">
                    {changes.join(', ')} · based on revision {baseRevision}
                  </span>
                </>
              ) : (
                <>
                  <span className="config-bar__title" data-testid="config-revision">
                    Revision {saved.revision}
                  </span>
                  <span className="muted">no unsaved changes</span>
                </>
              )}
              {checkState}
            </div>
            <div className="config-bar__actions">
              <button type="button" className="button" onClick={() => setConfirmDiscard(true)} disabled={!dirty || saving}>
                <Icon name="undo" />
                Discard
              </button>
              <button type="button" className="button button--primary" onClick={() => void save()} disabled={!dirty || saving || readOnly}>
                {saving ? 'Saving…' : 'Save configuration'}
              </button>
            </div>
          </div>
        </div>

        {readOnly ? (
          <Alert tone="info" title="Read-only">
            Only administrators can change the configuration.
          </Alert>
        ) : null}

        {notice ? (
          <Alert
            tone={notice.kind === 'saved' ? 'success' : 'info'}
            title={
              notice.kind === 'saved' ? (
                <span data-testid="save-notice">
                  Saved as revision {notice.revision}
                  {notice.warnings > 0 ? ` with ${notice.warnings} warning${notice.warnings === 1 ? '' : 's'} (listed below)` : ''}. Instances
                  start and stop to match.
                </span>
              ) : notice.kind === 'restored' ? (
                <span data-testid="save-notice">Your unsaved changes from earlier in this tab are back (made to revision {notice.base}).</span>
              ) : notice.kind === 'reloaded' ? (
                <span data-testid="save-notice">Loaded revision {notice.revision}; your changes were discarded.</span>
              ) : (
                <span data-testid="save-notice">Revision {notice.revision}, saved elsewhere, is now shown.</span>
              )
            }
            actions={
              <button type="button" className="button button--small button--ghost" onClick={() => setNotice(null)}>
                Dismiss
              </button>
            }
          >
          </Alert>
        ) : null}

        {saveError ? (
          <Alert
            tone="danger"
            title="The configuration was not saved"
            actions={
              <button type="button" className="button button--small" onClick={() => void save()} disabled={saving}>
                Try again
              </button>
            }
          >
            <ErrorText error={saveError} /> Your changes are still here.
          </Alert>
        ) : null}

        {(newerRevision !== null || baseRevision < saved.revision) && dirty && !conflict ? (
          <Alert tone="warning" title={`Someone else saved revision ${newerRevision ?? saved.revision} after you started editing revision ${baseRevision}`}>
            When you save, you can choose between their configuration and yours.
          </Alert>
        ) : null}

        {removed ? (
          <Alert
            tone="info"
            actions={
              <>
                <button ref={undoRef} type="button" className="button button--small" onClick={undoRemove}>
                  <Icon name="undo" />
                  Undo
                </button>
                <button type="button" className="button button--small button--ghost" onClick={() => setRemoved(null)}>
                  Dismiss
                </button>
              </>
            }
          >
            “{removed.item.value.name}” removed from the draft. It keeps running until you save.
          </Alert>
        ) : null}

        <ProblemSummary
          mapped={mapped}
          refused={refused}
          nameOf={(key) => draft.find((d) => d.key === key)?.value.name}
          onShow={focusRow}
        />

        <Panel
          title="Role instances"
          description="By role type and group. Each group is served by its active instance (the lowest order that is enabled and reachable); the others stand by in order."
        >
          {draft.length === 0 ? (
            <EmptyState
              icon="configuration"
              title="No role instances"
              headingLevel={3}
              actions={
                <button type="button" className="button button--primary" onClick={() => openAdd()} disabled={readOnly}>
                  <Icon name="plus" />
                  Add instance
                </button>
              }
            >
              <p>
                {summary.removed.length > 0
                  ? 'Every instance is removed in this draft. Saved like this, the site keeps no call records and serves no voicemail.'
                  : 'This configuration has no callstore or vmail instance, so no call is recorded and no voicemail is served.'}
              </p>
            </EmptyState>
          ) : (
            <InstanceTables
                sections={sections}
                ctx={{
                  problemsOf,
                  changeOf: (key) => summary.changeOf.get(key) ?? null,
                  status: status.data,
                  statusBehind: status.data !== undefined && status.data.configRevision < saved.revision,
                  selfSite,
                  readOnly,
                  onEdit: openEdit,
                  onRemove: remove,
                  onAddToGroup: openAdd,
                  flashKey,
                }}
              />
          )}
        </Panel>

        <PartitionPreview revision={saved.revision} dirty={dirty} />

        <ConflictDialog
          conflict={conflict}
          base={saved}
          baseRevision={baseRevision}
          selfSite={selfSite}
          busy={conflictBusy}
          error={conflictError}
          onReload={() => void reloadTheirs()}
          onOverwrite={() => void overwrite()}
          onClose={() => setConflict(null)}
        />
      </>
    );
  }

  const editorProblems = editor ? problemsOf(editor.key) : [];
  const groupPeers =
    editor && formRead
      ? draft
          .filter((d) => d.key !== editor.key && d.value.group === formRead.value.group && d.value.roletype === formRead.value.roletype)
          .map((d) => d.value.name)
      : [];
  const otherSites = [...new Set(draft.map((d) => d.value.site ?? selfSite).concat(editor ? [editor.form.site] : []))].filter((s) => s !== selfSite);

  return (
    <>
      <PageHeader
        title="Configuration"
        description="The role instances of every paired site: which role, which domains, and the order in which they take over. Edits stay in a draft until you save."
        actions={headerActions}
      />
      {body}
      <Modal
        open={editor !== null}
        size="large"
        title={editor?.isNew ? 'Add instance' : `Edit “${editor?.base.name ?? ''}”`}
        description="Checked by the service as you type. Nothing is saved until you press Save configuration."
        onClose={() => setEditor(null)}
        initialFocus={nameRef}
        onSubmit={applyEdit}
        testId="instance-dialog"
        footer={
          <>
            <span className="modal__footer-note">
              {live.pending ? 'Checking…' : editorProblems.some((p) => p.severity === 'error') ? 'This instance has errors; you can fix them later, but not save them.' : ''}
            </span>
            <button type="button" className="button" onClick={() => setEditor(null)}>
              Cancel
            </button>
            <button type="submit" className="button button--primary">
              {editor?.isNew ? 'Add to draft' : 'Apply to draft'}
            </button>
          </>
        }
      >
        {editor && formRead ? (
          <InstanceForm
            form={editor.form}
            onChange={changeForm}
            problems={editorProblems}
            local={formRead.local}
            showLocal
            selfSite={selfSite}
            siteName={siteName}
            otherSites={otherSites}
            interfaces={interfaces.data}
            interfacesError={interfaces.error}
            groupPeers={groupPeers}
            nameRef={nameRef}
          />
        ) : null}
      </Modal>
      <ConfirmDialog
        open={confirmDiscard}
        title="Discard your changes?"
        confirmLabel="Discard changes"
        busyLabel="Discarding…"
        busy={false}
        onConfirm={discard}
        onCancel={() => setConfirmDiscard(false)}
      >
        <p>The draft goes back to revision {saved?.revision ?? ''}, as saved. This cannot be undone.</p>
      </ConfirmDialog>
    </>
  );
}
