/**
 * The role configuration editor (design section 3): the instances of every site as a local draft,
 * checked by the service as it is edited, saved with the revision it started from.
 */
import { useCallback, useEffect, useMemo, useReducer, useRef, type ReactNode } from 'react';
import type { ConfigProblem, IfaceAliases, RoleInstance, RoleType, SavedRolesConfig } from '../../../shared/api/roles.js';
import { toApiError } from '../api/client.js';
import { dismissConflict, getInterfaces, getRolesConfig, listConflictsOf, saveRolesConfig } from '../api/endpoints.js';
import { useAuth } from '../auth/AuthContext.js';
import { Icon } from '../components/icons.js';
import { Alert, ConfirmDialog, EmptyState, ErrorPanel, ErrorText, LoadingRegion, Modal, PageHeader, Panel, SkeletonTable } from '../components/ui.js';
import {
  applyInstance,
  draftFrom,
  groupDraft,
  mapProblems,
  newKey,
  nextGroup,
  nextOrder,
  suggestName,
  summarizeDraft,
  type DraftGroup,
  type DraftInstance,
} from '../lib/configDraft.js';
import { clearStoredDraft, draftFromStored, readStoredDraft, storeDraft } from '../lib/draftStorage.js';
import { useStatus } from '../lib/StatusContext.js';
import { useLiveValidation } from '../lib/useLiveValidation.js';
import { useResource } from '../lib/useResource.js';
import { useTitle } from '../lib/useTitle.js';
import { ConflictDialog } from './configuration/ConflictDialog.js';
import { formFrom, InstanceForm, readForm, type FormState } from './configuration/InstanceForm.js';
import { INITIAL_PAGE_STATE, pageReducer } from './configuration/pageState.js';
import { InstanceTables } from './configuration/InstanceTables.js';
import { instancesOf } from './configuration/overwritten.js';
import { OverwrittenBanner } from './configuration/OverwrittenBanner.js';
import { PartitionPreview } from './configuration/PartitionPreview.js';
import { ProblemSummary } from './configuration/ProblemSummary.js';

function ConfigSkeleton() {
  return (
    <LoadingRegion label="Loading the configuration…">
      <Panel title="Role instances">
        <SkeletonTable rows={4} columns={['wide', 'short', 'wide', 'short']} />
      </Panel>
    </LoadingRegion>
  );
}

export function ConfigurationPage() {
  useTitle('Configuration');
  const { session } = useAuth();
  const readOnly = !(session?.scopes.includes('admin') ?? false);
  const status = useStatus();
  const initial = useResource(getRolesConfig);
  const interfaces = useResource(getInterfaces);

  const [state, dispatch] = useReducer(pageReducer, INITIAL_PAGE_STATE);
  const { saved, draft, baseRevision, editor, saving, saveError, refused, notice, conflict, conflictBusy, conflictError, removed, confirmDiscard, flashKey } = state;
  const { overwritten, overwrittenCount, overwrittenBusy, overwrittenError } = state;
  const nameRef = useRef<HTMLInputElement>(null);
  const undoRef = useRef<HTMLButtonElement>(null);

  const selfSite = status.data?.site.id ?? interfaces.data?.site ?? '';
  const siteName = status.data?.site.name ?? 'This site';

  // The first answer becomes the saved configuration and the draft, unless this tab kept an unsaved draft.
  useEffect(() => {
    if (!initial.data || saved !== null) return;
    dispatch({ type: 'adopt', config: initial.data });
    const stored = readStoredDraft();
    if (stored && summarizeDraft(draftFromStored(stored), initial.data.instances, selfSite).dirty) {
      dispatch({
        type: 'restoreDraft',
        draft: draftFromStored(stored),
        baseRevision: stored.baseRevision,
        notice: { revision: initial.data.revision, warnings: 0, kind: 'restored', base: stored.baseRevision },
      });
    }
  }, [initial.data, saved, selfSite]);

  const summary = useMemo(() => summarizeDraft(draft, saved?.instances ?? [], selfSite), [draft, saved, selfSite]);
  const dirty = saved !== null && summary.dirty;

  // An unsaved draft outlives leaving the page (this tab only); a clean one starts from what is saved.
  useEffect(() => {
    if (!saved) return;
    if (dirty) storeDraft(baseRevision, draft);
    else {
      clearStoredDraft();
      dispatch({ type: 'rebase' });
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
        dispatch({ type: 'refreshed', config });
        forgetChecks();
      },
      () => {
        refreshing.current = false;
      },
    );
  }, [newerRevision, dirty, editor, saving, conflict, forgetChecks]);

  // What a concurrent edit on another site overwrote (GET /api/v1/conflicts): asked again with
  // every status poll and every configuration this page takes, so a heal shows up on its own.
  const loadOverwritten = useCallback(async () => {
    try {
      const list = await listConflictsOf('config', 'roles');
      dispatch({ type: 'overwrittenLoaded', conflicts: list.items, total: list.total });
    } catch {
      // the banner is a notice: it waits for the next poll
    }
  }, []);
  const savedRevision = saved?.revision;
  useEffect(() => {
    if (savedRevision === undefined) return;
    void loadOverwritten();
  }, [status.data, savedRevision, loadOverwritten]);

  // A conflict means another site's edit won the merge: the revision number may be the one shown
  // (both sides saved the same next revision), so the poll above did not take it; take it now.
  const overwrittenId = overwritten?.id;
  useEffect(() => {
    if (overwrittenId === undefined || dirty || editor || saving || conflict || refreshing.current) return;
    refreshing.current = true;
    getRolesConfig().then(
      (config) => {
        refreshing.current = false;
        if (JSON.stringify(config.instances) !== JSON.stringify(saved?.instances)) {
          dispatch({ type: 'refreshed', config });
          forgetChecks();
        }
      },
      () => {
        refreshing.current = false;
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps -- only when a conflict appears, not at every edit
  }, [overwrittenId]);

  useEffect(() => {
    if (flashKey === null) return undefined;
    const timer = window.setTimeout(() => dispatch({ type: 'flashOver' }), 2000);
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
    dispatch({ type: 'openEditor', editor: { key: newKey(), origName: null, isNew: true, base, form: formFrom(base, selfSite), domainsTouched: group !== undefined, nameSuggested: true } });
  };

  const openEdit = (key: string) => {
    const d = draft.find((x) => x.key === key);
    if (!d) return;
    dispatch({ type: 'openEditor', editor: { key, origName: d.origName, isNew: false, base: d.value, form: formFrom(d.value, selfSite), domainsTouched: false, nameSuggested: false } });
  };

  const changeForm = (patch: Partial<FormState>) => dispatch({ type: 'changeForm', patch });

  const applyEdit = () => {
    if (!editor || !formRead) return;
    if (Object.keys(formRead.local).length > 0) {
      const invalid = document.querySelector<HTMLElement>('.modal [aria-invalid="true"]');
      invalid?.focus({ preventScroll: true });
      // The field and the message under it, not just the field's first line.
      invalid?.closest('.field')?.scrollIntoView({ block: 'nearest' });
      return;
    }
    dispatch({ type: 'applyEdit', value: formRead.value });
  };

  const remove = (key: string) => {
    if (!draft.some((d) => d.key === key)) return;
    dispatch({ type: 'remove', key });
    // The row and its button are gone: keyboard focus goes to the way back.
    window.requestAnimationFrame(() => undoRef.current?.focus());
  };

  const undoRemove = () => {
    if (!removed) return;
    dispatch({ type: 'undoRemove' });
    focusRow(removed.item.key);
  };

  const discard = () => dispatch({ type: 'discard' });

  // ---------- Saving ----------

  const afterSave = (res: SavedRolesConfig, sent: readonly DraftInstance[]) => {
    dispatch({ type: 'saved', config: res, sent, warnings: res.warnings.length });
    live.forget();
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
          dispatch({ type: 'conflict', theirs });
        } catch (loadErr) {
          dispatch({ type: 'saveFailed', error: toApiError(loadErr) });
        }
        return 'conflict';
      }
      if (e.status === 400 && e.details.length > 0) {
        // The errors land at their fields; the warnings of the last check still apply to this draft.
        const warnings = (live.snapshot?.problems ?? []).filter((p) => p.severity === 'warning');
        const errors: ConfigProblem[] = e.details.map((d) => ({ severity: 'error', path: d.path, message: d.message }));
        live.remember(instances, aliases, [...errors, ...warnings], sent.map((d) => d.key));
        dispatch({ type: 'saveRefused', message: e.message });
        return 'failed';
      }
      dispatch({ type: 'saveFailed', error: e });
      return 'failed';
    }
  };

  const save = async () => {
    if (!saved || saving) return;
    dispatch({ type: 'saveStarted' });
    await send(baseRevision);
    dispatch({ type: 'saveEnded' });
  };

  const reloadTheirs = async () => {
    dispatch({ type: 'conflictBusy', busy: 'reload' });
    try {
      const config = await getRolesConfig();
      dispatch({ type: 'reloaded', config });
      live.forget();
      status.reload();
    } catch (err) {
      dispatch({ type: 'conflictFailed', error: toApiError(err) });
    } finally {
      dispatch({ type: 'conflictBusy', busy: null });
    }
  };

  const overwrite = async () => {
    if (!conflict) return;
    dispatch({ type: 'conflictBusy', busy: 'overwrite' });
    const outcome = await send(conflict.theirs.revision);
    dispatch({ type: 'conflictBusy', busy: null });
    // A new conflict (yet another save) replaced `conflict` and keeps the dialog open.
    if (outcome !== 'conflict') dispatch({ type: 'conflictClosed' });
  };

  /** Keep current: the conflict is dismissed (on every site). */
  const keepCurrent = async () => {
    if (!overwritten) return;
    const id = overwritten.id;
    dispatch({ type: 'overwrittenBusy', busy: 'keep' });
    try {
      await dismissConflict(id);
      dispatch({ type: 'overwrittenResolved', id });
      await loadOverwritten();
    } catch (err) {
      dispatch({ type: 'overwrittenFailed', error: toApiError(err) });
    } finally {
      dispatch({ type: 'overwrittenBusy', busy: null });
    }
  };

  /** Use the overwritten one: its instances saved as a new revision through the normal save, then the conflict dismissed. */
  const useOverwritten = async () => {
    if (!overwritten || !saved || dirty) return;
    const id = overwritten.id;
    const body = overwritten.overwritten.body as { ifaceAliases?: IfaceAliases } | null;
    const instances = instancesOf(body);
    dispatch({ type: 'overwrittenBusy', busy: 'use' });
    try {
      // secrets come back as the redaction mark: the service keeps the stored ones
      const res = await saveRolesConfig({ revision: saved.revision, instances, ...(body?.ifaceAliases ? { ifaceAliases: body.ifaceAliases } : {}) });
      afterSave(res, draftFrom(res.instances));
      await dismissConflict(id);
      dispatch({ type: 'overwrittenResolved', id });
      await loadOverwritten();
    } catch (err) {
      dispatch({ type: 'overwrittenFailed', error: toApiError(err) });
    } finally {
      dispatch({ type: 'overwrittenBusy', busy: null });
    }
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
              <button type="button" className="button" onClick={() => dispatch({ type: 'askDiscard', open: true })} disabled={!dirty || saving}>
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
              <button type="button" className="button button--small button--ghost" onClick={() => dispatch({ type: 'dismissNotice' })}>
                Dismiss
              </button>
            }
          >
          </Alert>
        ) : null}

        {overwritten ? (
          <OverwrittenBanner
            conflict={overwritten}
            count={overwrittenCount}
            current={overwritten.current && !overwritten.current.deleted ? { revision: saved.revision, instances: instancesOf(overwritten.current.body) } : saved}
            selfSite={selfSite}
            busy={overwrittenBusy}
            error={overwrittenError}
            dirty={dirty}
            readOnly={readOnly}
            onKeep={() => void keepCurrent()}
            onUse={() => void useOverwritten()}
          />
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
                <button type="button" className="button button--small button--ghost" onClick={() => dispatch({ type: 'dismissRemoved' })}>
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
          onClose={() => dispatch({ type: 'conflictClosed' })}
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
        onClose={() => dispatch({ type: 'closeEditor' })}
        initialFocus={nameRef}
        onSubmit={applyEdit}
        testId="instance-dialog"
        footer={
          <>
            <span className="modal__footer-note">
              {live.pending ? 'Checking…' : editorProblems.some((p) => p.severity === 'error') ? 'This instance has errors; you can fix them later, but not save them.' : ''}
            </span>
            <button type="button" className="button" onClick={() => dispatch({ type: 'closeEditor' })}>
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
        onCancel={() => dispatch({ type: 'askDiscard', open: false })}
      >
        <p>The draft goes back to revision {saved?.revision ?? ''}, as saved. This cannot be undone.</p>
      </ConfirmDialog>
    </>
  );
}
