/**
 * Limits (design section 4.4): the call limits, each against its live count across the paired
 * sites (at the limit the next call is refused), and the profile counts they are held to: per
 * profile and value, this site's, each paired site's with the age of its list, and the total.
 * Adding, editing and deleting limits needs the admin scope. The limits are kept fresh by the
 * live feed's `limits`, the counts by its `profiles` (pages/limits/useLimits.ts); the form and
 * the delete confirmation are one reducer (pages/limits/limitsState.ts) beside the pure draft
 * (pages/limits/limitDraft.ts); the parts are in pages/limits/.
 */
import { useReducer } from 'react';
import type { Limit } from '../../../shared/api/limits.js';
import { toApiError } from '../api/client.js';
import { createLimit, deleteLimit, saveLimit } from '../api/limits.js';
import { useAuth } from '../auth/AuthContext.js';
import { Icon } from '../components/icons.js';
import { LiveIndicator } from '../components/LiveIndicator.js';
import { Alert, ConfirmDialog, EmptyState, ErrorPanel, ErrorText, LoadingRegion, PageHeader, Panel, SkeletonTable } from '../components/ui.js';
import { useLiveState } from '../lib/live.js';
import { useTitle } from '../lib/useTitle.js';
import { checkDraft, inputFrom, unchanged } from './limits/limitDraft.js';
import { knownProfiles } from './limits/limitCounts.js';
import { LimitForm } from './limits/LimitForm.js';
import { LimitsTable } from './limits/LimitsTable.js';
import { INITIAL_LIMITS_STATE, limitsReducer, ruleName } from './limits/limitsState.js';
import { ProfileCountsTable, profilesSummary, SyncBadge } from './limits/ProfileCounts.js';
import { useLimitList, useLiveProfiles } from './limits/useLimits.js';
import './limits/limits.css';

export function LimitsPage() {
  useTitle('Limits');
  const { session } = useAuth();
  const canAdmin = session?.scopes.includes('admin') ?? false;
  const limits = useLimitList();
  const profiles = useLiveProfiles();
  const [state, dispatch] = useReducer(limitsReducer, INITIAL_LIMITS_STATE);
  const items = limits.data?.items ?? [];
  const liveState = useLiveState();

  const save = async () => {
    const editor = state.editor;
    if (!editor || editor.busy) return;
    dispatch({ type: 'submit' });
    if (Object.keys(checkDraft(editor.draft)).length > 0) return;
    if (editor.base && unchanged(editor.draft, editor.base)) {
      dispatch({ type: 'close' });
      return;
    }
    dispatch({ type: 'started' });
    try {
      const body = inputFrom(editor.draft);
      const saved = editor.id === null ? await createLimit(body) : await saveLimit(editor.id, body);
      dispatch({ type: 'saved', limit: saved, created: editor.id === null });
      limits.update((d) => (d ? { items: [...d.items.filter((l) => l.id !== saved.id), saved] } : d));
      limits.reload();
    } catch (err) {
      const error = toApiError(err);
      dispatch({ type: 'failed', error, limits: items });
      // a 409 names a limit this list may not have yet (made on a paired site a moment ago)
      if (error.code === 'conflict' || error.code === 'not_found') limits.reload();
    }
  };

  const confirmDelete = async () => {
    const limit = state.deleting;
    if (!limit || state.deleteBusy) return;
    dispatch({ type: 'deleteStarted' });
    try {
      await deleteLimit(limit.id);
      dispatch({ type: 'deleted', alreadyGone: false });
    } catch (err) {
      const e = toApiError(err);
      if (e.code !== 'not_found') {
        dispatch({ type: 'deleteFailed', error: e });
        return;
      }
      dispatch({ type: 'deleted', alreadyGone: true });
    }
    limits.update((d) => (d ? { items: d.items.filter((l) => l.id !== limit.id) } : d));
    limits.reload();
  };

  const newButton = canAdmin ? (
    <button type="button" className="button button--primary" onClick={() => dispatch({ type: 'open', limit: null })}>
      <Icon name="plus" />
      New limit
    </button>
  ) : null;

  let limitsBody;
  if (!limits.data && limits.error) {
    limitsBody = <ErrorPanel title="The limits could not be loaded" error={limits.error} onRetry={limits.reload} busy={limits.loading} />;
  } else if (!limits.data) {
    limitsBody = (
      <LoadingRegion label="Loading the limits…">
        <SkeletonTable rows={3} columns={['short', 'short', 'short', 'wide', 'wide']} padded />
      </LoadingRegion>
    );
  } else if (items.length === 0) {
    limitsBody = (
      <EmptyState icon="limits" title="No limits yet" headingLevel={3} actions={newButton}>
        <p>
          Every call is admitted. Add a limit to cap the calls up at once: all of them (<code>total</code>), those of a domain, or those of
          a profile your phone system names, like a shared trunk of 30 channels. A limit holds across every paired site.
        </p>
      </EmptyState>
    );
  } else {
    limitsBody = (
      <>
        {limits.error ? (
          <Alert tone="warning" title="The limits could not be refreshed">
            <ErrorText error={limits.error} />
          </Alert>
        ) : null}
        <LimitsTable
          limits={items}
          counts={profiles.data}
          canAdmin={canAdmin}
          onEdit={(l) => dispatch({ type: 'open', limit: l })}
          onDelete={(l) => dispatch({ type: 'askDelete', limit: l })}
        />
      </>
    );
  }

  let countsBody;
  if (!profiles.data && profiles.error) {
    countsBody = <ErrorPanel title="The profile counts could not be loaded" error={profiles.error} onRetry={profiles.reload} busy={profiles.loading} />;
  } else if (!profiles.data || profiles.receivedAt === undefined) {
    countsBody = (
      <LoadingRegion label="Loading the profile counts…">
        <SkeletonTable rows={3} columns={['short', 'wide', 'short', 'short']} padded />
      </LoadingRegion>
    );
  } else {
    countsBody = <ProfileCountsTable counts={profiles.data} receivedAt={profiles.receivedAt} limits={items} />;
  }

  const deleting: Limit | null = state.deleting;
  return (
    <>
      <PageHeader
        title="Limits"
        description="Cap how many calls are up at once, per profile: the phone system asks before it relays a call, and one over a limit is refused. Limits and counts hold across every paired site."
        actions={
          <>
            <LiveIndicator state={liveState} />
            {items.length > 0 ? newButton : null}
          </>
        }
      />
      {state.notice ? (
        <Alert
          tone="success"
          actions={
            <button type="button" className="button button--small button--ghost" onClick={() => dispatch({ type: 'dismissNotice' })}>
              Dismiss
            </button>
          }
        >
          <span data-testid="limits-notice">{state.notice}</span>
        </Alert>
      ) : null}
      {!canAdmin ? (
        <Alert tone="info" title="Changing limits needs an administrator">
          Log in as a user with the admin scope to add, change or delete a limit.
        </Alert>
      ) : null}
      <Panel title="Call limits" description={limits.data ? `${items.length} limit${items.length === 1 ? '' : 's'}, each against the calls up now.` : undefined}>
        {limitsBody}
      </Panel>
      <Panel
        title="Profile counts"
        description={profiles.data ? profilesSummary(profiles.data) : undefined}
        actions={profiles.data ? <SyncBadge synced={profiles.data.synced} /> : undefined}
      >
        {profiles.data && profiles.error ? (
          <Alert tone="warning" title="The counts could not be refreshed">
            <ErrorText error={profiles.error} />
          </Alert>
        ) : null}
        {countsBody}
      </Panel>
      <LimitForm
        editor={state.editor}
        profiles={knownProfiles(profiles.data, items)}
        onChange={(change) => dispatch({ type: 'edit', change })}
        onSubmit={() => void save()}
        onClose={() => dispatch({ type: 'close' })}
        onEditDuplicate={(l) => dispatch({ type: 'open', limit: l })}
        onFocused={() => dispatch({ type: 'focused' })}
      />
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete the limit ${deleting ? ruleName(deleting) : ''}?`}
        confirmLabel="Delete limit"
        busyLabel="Deleting…"
        busy={state.deleteBusy}
        error={state.deleteError ?? undefined}
        onConfirm={() => void confirmDelete()}
        onCancel={() => dispatch({ type: 'cancelDelete' })}
      >
        <p>
          {deleting ? `At most ${deleting.max} call${deleting.max === 1 ? '' : 's'} under ${ruleName(deleting)} are admitted now.` : null} Once it
          is deleted, on this site and every paired site, those calls are limited only by the other limits.
        </p>
      </ConfirmDialog>
    </>
  );
}
