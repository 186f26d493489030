import { useEffect, useId, useRef, type ReactNode } from 'react';
import type { Limit } from '../../../../shared/api/limits.js';
import { Alert, ErrorText, Modal } from '../../components/ui.js';
import { DOMAIN_PROFILE, effectiveScope, FIELD_MAX_LENGTH, hasValues, messagesOf, type LimitDraft, type LimitField } from './limitDraft.js';
import { ruleName, type LimitEditor } from './limitsState.js';

/** One field: its label, the input, and below it the console's problem, else the service's refusal, else the help. */
function Field({
  field,
  label,
  help,
  editor,
  children,
}: {
  field: LimitField;
  label: string;
  help: ReactNode;
  editor: LimitEditor;
  children: (a: { id: string; 'aria-invalid': true | undefined; 'aria-describedby': string }) => ReactNode;
}) {
  const id = `limit-${field}`;
  const message = editor.problems[field] ?? editor.refused[field];
  return (
    <div className={message ? 'field field--invalid' : 'field'} data-field={field}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': message ? true : undefined, 'aria-describedby': message ? `${id}-error` : `${id}-help` })}
      {message ? (
        <p className="field__error" id={`${id}-error`} data-testid={`limit-${field}-error`}>
          {message}
        </p>
      ) : (
        <p className="field__help" id={`${id}-help`}>
          {help}
        </p>
      )}
    </div>
  );
}

/** What the refusal says above the buttons: a 409 explained, a 404 (deleted meanwhile), else the service's sentence. */
function Refusal({ editor, onEditDuplicate }: { editor: LimitEditor; onEditDuplicate: (limit: Limit) => void }) {
  const error = editor.refusal;
  if (!error) return null;
  if (error.code === 'conflict') {
    const dup = editor.duplicate;
    return (
      <Alert
        tone="warning"
        title="This profile and value have a limit already"
        actions={
          dup ? (
            <button type="button" className="button button--small" onClick={() => onEditDuplicate(dup)}>
              Edit the existing limit
            </button>
          ) : null
        }
      >
        <span data-testid="limit-conflict">
          There is one limit per profile and value, so that a refused call names the one rule that refused it.{' '}
          {dup ? `Change the existing limit ${ruleName(dup)} (at most ${dup.max}) instead, or choose another value.` : error.message}
        </span>
      </Alert>
    );
  }
  const { fields, other } = messagesOf(error.details);
  const onFields = Object.keys(fields).length > 0;
  return (
    <Alert tone="danger" title={error.code === 'not_found' ? 'This limit no longer exists' : 'The limit was not saved'}>
      {error.code === 'not_found' ? (
        'It was deleted, here or on a paired site, while the form was open. Close the form; add it again if it is still needed.'
      ) : onFields && other.length === 0 ? (
        'The service refused what is marked above.'
      ) : (
        <ErrorText error={error} />
      )}
    </Alert>
  );
}

/**
 * The form of one limit, new or edited, in a modal: profile (with the names known now as
 * suggestions), one value or each value on its own, the max and a description. The state is the
 * page's reducer (limitsState.ts); this renders it and says what is typed.
 */
export function LimitForm({
  editor,
  profiles,
  onChange,
  onSubmit,
  onClose,
  onEditDuplicate,
  onFocused,
}: {
  editor: LimitEditor | null;
  profiles: readonly string[];
  onChange: (change: Partial<LimitDraft>) => void;
  onSubmit: () => void;
  onClose: () => void;
  onEditDuplicate: (limit: Limit) => void;
  /** the field `editor.focus` named has focus now */
  onFocused: () => void;
}) {
  const listId = useId();
  const refs = {
    profile: useRef<HTMLInputElement>(null),
    value: useRef<HTMLInputElement>(null),
    max: useRef<HTMLInputElement>(null),
    description: useRef<HTMLTextAreaElement>(null),
  };
  const focus = editor?.focus ?? null;
  useEffect(() => {
    if (!focus) return;
    refs[focus].current?.focus();
    onFocused();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the refs are stable; onFocused only clears `focus`
  }, [focus]);

  const busy = editor?.busy ?? false;
  const draft = editor?.draft;
  const isNew = editor?.id === null;
  const scope = draft ? effectiveScope(draft) : 'one';
  const withValues = draft ? hasValues(draft.profile) : true;
  const isDomain = draft?.profile.trim() === DOMAIN_PROFILE;

  return (
    <Modal
      open={editor !== null}
      title={isNew ? 'New limit' : `Edit the limit ${editor?.base ? ruleName(editor.base) : ''}`}
      description="At most this many calls up at once under the profile, counted across every paired site. The phone system asks before it relays a call, and a call over the limit is refused."
      onClose={onClose}
      busy={busy}
      onSubmit={onSubmit}
      testId="limit-form"
      initialFocus={refs.profile}
      footer={
        <>
          <button type="button" className="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={busy}>
            {busy ? 'Saving…' : isNew ? 'Add limit' : 'Save limit'}
          </button>
        </>
      }
    >
      {editor && draft ? (
        <div className="form limit-form">
          <Field
            field="profile"
            label="Profile"
            editor={editor}
            help={
              <>
                <code>total</code> counts every call, <code>domain</code> the calls of each domain; other names are those your phone system puts
                on a call (like <code>trunk</code> or <code>user</code>).
              </>
            }
          >
            {(a) => (
              <input
                {...a}
                ref={refs.profile}
                className="input input--mono"
                list={listId}
                value={draft.profile}
                maxLength={FIELD_MAX_LENGTH.profile}
                autoComplete="off"
                spellCheck={false}
                disabled={busy}
                onChange={(e) => onChange({ profile: e.target.value })}
              />
            )}
          </Field>
          <datalist id={listId}>
            {profiles.map((p) => (
              <option key={p} value={p} />
            ))}
          </datalist>

          {withValues ? (
            <fieldset className="fieldset" disabled={busy}>
              <legend>Applies to</legend>
              <div className="choice-list">
                <label className="scope-option">
                  <input type="radio" name="limit-scope" value="one" checked={scope === 'one'} onChange={() => onChange({ scope: 'one' })} />
                  <span>
                    <span className="choice__name">One value</span>
                    <span className="scope-option__description">The calls with this value of the profile, together.</span>
                  </span>
                </label>
                <label className="scope-option">
                  <input type="radio" name="limit-scope" value="each" checked={scope === 'each'} onChange={() => onChange({ scope: 'each' })} />
                  <span>
                    <span className="choice__name">Each value on its own</span>
                    <span className="scope-option__description">
                      Every value of the profile gets this max for itself{isDomain ? ': each domain its own' : ', like each user their own'}.
                    </span>
                  </span>
                </label>
              </div>
            </fieldset>
          ) : (
            <p className="field__help">
              <code>total</code> has no values: the limit holds all calls together.
            </p>
          )}

          {withValues && scope === 'one' ? (
            <Field
              field="value"
              label="Value"
              editor={editor}
              help={isDomain ? 'The domain, like office.example (compared lower case, without a trailing dot).' : 'The value as the phone system sends it, like sip1.'}
            >
              {(a) => (
                <input
                  {...a}
                  ref={refs.value}
                  className="input input--mono"
                  value={draft.value}
                  maxLength={FIELD_MAX_LENGTH.value}
                  autoComplete="off"
                  spellCheck={false}
                  disabled={busy}
                  onChange={(e) => onChange({ value: e.target.value })}
                />
              )}
            </Field>
          ) : editor.refused.value ? (
            // a refusal about the value while there is no value field (a 409 of a rule for each value)
            <p className="field__error" data-testid="limit-value-error">
              {editor.refused.value}
            </p>
          ) : null}

          <Field field="max" label="Max" editor={editor} help="The most calls up at once; 0 refuses every call under it.">
            {(a) => (
              <input
                {...a}
                ref={refs.max}
                className="input input--number"
                inputMode="numeric"
                value={draft.max}
                maxLength={FIELD_MAX_LENGTH.max}
                autoComplete="off"
                disabled={busy}
                onChange={(e) => onChange({ max: e.target.value })}
              />
            )}
          </Field>

          <Field field="description" label="Description (optional)" editor={editor} help="What the limit is for, like “the shared SIP trunk, 30 channels”.">
            {(a) => (
              <textarea
                {...a}
                ref={refs.description}
                className="input textarea"
                rows={2}
                value={draft.description}
                maxLength={FIELD_MAX_LENGTH.description}
                disabled={busy}
                onChange={(e) => onChange({ description: e.target.value })}
              />
            )}
          </Field>
          <Refusal editor={editor} onEditDuplicate={onEditDuplicate} />
        </div>
      ) : null}
    </Modal>
  );
}
