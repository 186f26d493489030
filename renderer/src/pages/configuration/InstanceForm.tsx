/** The edit form of one role instance: every field of design section 3, problems shown at their fields. */
import { useId, type ReactNode, type RefObject } from 'react';
import type { InterfacesInfo, RoleInstance, RoleType } from '../../../../shared/api/roles.js';
import type { ApiError } from '../../api/client.js';
import { Alert } from '../../components/ui.js';
import {
  CDR_MODE_INFO,
  CDR_MODES,
  FIELD_LABELS,
  STATE_SAVE_INFO,
  STATE_SAVES,
  type CdrMode,
  type FieldProblem,
  type InstanceField,
  type StateSave,
} from '../../lib/configDraft.js';
import { ROLE_INFO } from '../../lib/roles.js';
import type { FormState } from './formState.js';

const ROLE_TYPES = Object.keys(ROLE_INFO) as RoleType[];

export { formFrom, type FormState } from './formState.js';

export function domainsFromText(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((d) => d.trim())
    .filter((d) => d.length > 0);
}

export type LocalErrors = Partial<Record<InstanceField, string>>;

/** V8's JSON.parse message without the echo of the whole input: "Unexpected token '}'", "… at position 3 (line 1 column 4)". */
function jsonError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const trimmed = text.replace(/, ".*" is not valid JSON$/s, '');
  return /[.)]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function parseInteger(text: string): number | string {
  const t = text.trim();
  if (t === '') return 'Enter a number.';
  if (!/^-?\d+$/.test(t)) return 'Enter a whole number.';
  return Number(t);
}

/**
 * The instance the form describes, and what cannot be sent as typed (a number that is not one,
 * JSON that does not parse). Such a field keeps `base`'s value in the instance, so the rest of
 * the form can still be checked by the service.
 */
export function readForm(form: FormState, base: RoleInstance): { value: RoleInstance; local: LocalErrors } {
  const local: LocalErrors = {};
  const group = parseInteger(form.group);
  const order = parseInteger(form.order);
  if (typeof group === 'string') local.group = group;
  if (typeof order === 'string') local.order = order;

  let ext: RoleInstance['ext'] = base.ext;
  const extText = form.ext.trim();
  if (extText === '') ext = undefined;
  else {
    try {
      const parsed: unknown = JSON.parse(extText);
      if (parsed !== null && typeof parsed === 'object') ext = parsed as RoleInstance['ext'];
      else local.ext = 'Must be a JSON object, such as {"resync_timeout": 10}, or a list in [ ].';
    } catch (err) {
      local.ext = `Not valid JSON: ${jsonError(err)}`;
    }
  }

  const value: RoleInstance = {
    name: form.name.trim(),
    roletype: form.roletype,
    iface: form.iface.trim(),
    enabled: form.enabled,
    group: typeof group === 'number' ? group : base.group,
    order: typeof order === 'number' ? order : base.order,
    include_domains: domainsFromText(form.domains),
  };
  // Empty only before this site's id is known: leaving it out means this site.
  if (form.site !== '') value.site = form.site;
  if (ext !== undefined) value.ext = ext;
  if (form.roletype === 'callstore') {
    value.cdr_mode = form.cdrMode;
    value.cdr_aggregation = form.cdrAggregation;
    value.state_save = form.stateSave;
  }
  return { value, local };
}

/** The messages for one field: a local error (it cannot be sent as typed) hides the service's. */
function messagesFor(field: InstanceField, problems: readonly FieldProblem[], local: LocalErrors, showLocal: boolean) {
  const own = local[field];
  if (own) return showLocal ? [{ severity: 'error' as const, text: own }] : [];
  return problems
    .filter((p) => p.field === field)
    .map((p) => ({ severity: p.severity, text: p.field === 'ext' && p.sub ? `${p.sub}: ${p.message}` : sentence(p.message) }));
}

/** "must be at least 1" → "Must be at least 1." under a field, where it stands alone. */
function sentence(message: string): string {
  const m = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(m) ? m : `${m}.`;
}

function FieldMessages({ id, messages }: { id: string; messages: { severity: 'error' | 'warning'; text: string }[] }) {
  if (messages.length === 0) return null;
  return (
    <ul className="field__problems" id={id} data-testid="field-problems">
      {messages.map((m, i) => (
        <li key={`${i}:${m.text}`} className={m.severity === 'error' ? 'field__error' : 'field__warning'}>
          {m.severity === 'warning' ? 'Warning: ' : ''}
          {m.text}
        </li>
      ))}
    </ul>
  );
}

interface FieldProps {
  field: InstanceField;
  label: string;
  help?: ReactNode;
  children: (a11y: { id: string; 'aria-invalid': true | undefined; 'aria-describedby': string | undefined }) => ReactNode;
  problems: readonly FieldProblem[];
  local: LocalErrors;
  showLocal: boolean;
  className?: string;
  /** the help is only the rule an error message repeats: hide it while there is one */
  helpIsRule?: boolean;
}

function Field({ field, label, help: helpText, children, problems, local, showLocal, className, helpIsRule }: FieldProps) {
  const id = useId();
  const messages = messagesFor(field, problems, local, showLocal);
  const hasError = messages.some((m) => m.severity === 'error');
  const help = hasError && helpIsRule ? undefined : helpText;
  const describedBy = [messages.length > 0 ? `${id}-problems` : null, help ? `${id}-help` : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${className ? ` ${className}` : ''}${hasError ? ' field--invalid' : ''}`} data-field={field}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': hasError ? true : undefined, 'aria-describedby': describedBy })}
      <FieldMessages id={`${id}-problems`} messages={messages} />
      {help ? (
        <div className="field__help" id={`${id}-help`}>
          {help}
        </div>
      ) : null}
    </div>
  );
}

export interface InstanceFormProps {
  form: FormState;
  onChange: (patch: Partial<FormState>) => void;
  problems: readonly FieldProblem[];
  local: LocalErrors;
  /** show local errors (after the first try to apply, or once the field was left) */
  showLocal: boolean;
  selfSite: string;
  siteName: string;
  /** site ids the configuration mentions besides this one */
  otherSites: readonly string[];
  interfaces: InterfacesInfo | undefined;
  interfacesError: ApiError | undefined;
  /** the other members of the group the form's group number names, for the "shared" note */
  groupPeers: readonly string[];
  nameRef: RefObject<HTMLInputElement | null>;
}

export function InstanceForm({
  form,
  onChange,
  problems,
  local,
  showLocal,
  selfSite,
  siteName,
  otherSites,
  interfaces,
  interfacesError,
  groupPeers,
  nameRef,
}: InstanceFormProps) {
  const common = { problems, local, showLocal };
  const instanceProblems = problems.filter((p) => p.field === 'instance');
  const isSelf = form.site === selfSite;
  const ifaceNames = isSelf && interfaces ? interfaces.interfaces.map((i) => i.name) : [];
  const aliasNames = isSelf && interfaces ? Object.keys(interfaces.aliases) : [];
  const ifaceKnown = ifaceNames.includes(form.iface) || aliasNames.includes(form.iface);
  const useSelect = isSelf && interfaces !== undefined && (ifaceKnown || form.iface === '');

  return (
    <div className="instance-form">
      {instanceProblems.length > 0 ? (
        <Alert tone={instanceProblems.some((p) => p.severity === 'error') ? 'danger' : 'warning'} title="This instance has problems">
          <ul className="problem-list">
            {instanceProblems.map((p) => (
              <li key={`${p.path}:${p.message}`}>{p.message}</li>
            ))}
          </ul>
        </Alert>
      ) : null}

      <div className="form-grid">
        <Field field="name" label="Name" help="Latin letters and digits, starting with a letter; unique (ignoring case)." helpIsRule {...common}>
          {(a) => (
            <input
              {...a}
              ref={nameRef}
              className="input input--mono"
              value={form.name}
              autoComplete="off"
              spellCheck={false}
              maxLength={64}
              onChange={(e) => onChange({ name: e.target.value })}
            />
          )}
        </Field>
        <Field field="roletype" label="Role type" help={ROLE_INFO[form.roletype].description} {...common}>
          {(a) => (
            <select {...a} className="input select" value={form.roletype} onChange={(e) => onChange({ roletype: e.target.value as RoleType })}>
              {ROLE_TYPES.map((r) => (
                <option key={r} value={r}>
                  {ROLE_INFO[r].label}
                </option>
              ))}
            </select>
          )}
        </Field>

        <Field field="group" label="Group" help="1 to 9999999. Instances of a group share its domains and take over from each other." {...common}>
          {(a) => (
            <input
              {...a}
              className="input input--number"
              inputMode="numeric"
              value={form.group}
              autoComplete="off"
              onChange={(e) => onChange({ group: e.target.value })}
            />
          )}
        </Field>
        <Field field="order" label="Order" help="Position in the group's Active-Passive order: the lowest enabled one is active. Unique in the group." {...common}>
          {(a) => (
            <input
              {...a}
              className="input input--number"
              inputMode="numeric"
              value={form.order}
              autoComplete="off"
              onChange={(e) => onChange({ order: e.target.value })}
            />
          )}
        </Field>

        <Field field="site" label="Site" help="The paired site that runs this instance." {...common}>
          {(a) => (
            <select {...a} className="input select" value={form.site} onChange={(e) => onChange({ site: e.target.value })}>
              <option value={selfSite}>{siteName} (this site)</option>
              {otherSites.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          field="iface"
          label="Interface"
          help={
            interfacesError && isSelf ? (
              <>The list of interfaces could not be loaded ({interfacesError.message}); type the name.</>
            ) : isSelf ? (
              'A network interface of this site, or an alias defined for it.'
            ) : (
              'A network interface of that site, or an alias defined for it; it is checked against that site.'
            )
          }
          {...common}
        >
          {(a) =>
            useSelect ? (
              <select {...a} className="input select" value={form.iface} onChange={(e) => onChange({ iface: e.target.value })}>
                {form.iface === '' ? <option value="">Choose an interface…</option> : null}
                <optgroup label="Interfaces of this site">
                  {interfaces?.interfaces.map((i) => (
                    <option key={i.name} value={i.name}>
                      {i.name}
                      {i.addresses.length > 0 ? ` — ${i.addresses.slice(0, 2).join(', ')}${i.addresses.length > 2 ? ', …' : ''}` : ''}
                    </option>
                  ))}
                </optgroup>
                {aliasNames.length > 0 ? (
                  <optgroup label="Aliases">
                    {aliasNames.map((alias) => (
                      <option key={alias} value={alias}>
                        {alias} → {interfaces?.aliases[alias]}
                      </option>
                    ))}
                  </optgroup>
                ) : null}
              </select>
            ) : (
              <input
                {...a}
                className="input input--mono"
                value={form.iface}
                autoComplete="off"
                spellCheck={false}
                placeholder="e.g. eth0"
                onChange={(e) => onChange({ iface: e.target.value })}
              />
            )
          }
        </Field>

        <Field
          field="include_domains"
          label="Domains"
          className="form-grid__wide"
          help={
            <>
              One domain per line. The group serves each domain <strong>and every subdomain</strong> below it (
              <code>example.com</code> also serves <code>sales.example.com</code>), unless another group lists the longer
              name. Case does not matter; a trailing dot is ignored. Leave empty for the <strong>default group</strong>, which
              serves every domain no other group claims.
              {groupPeers.length > 0 ? (
                <>
                  {' '}
                  Shared by the group: also applied to {groupPeers.join(', ')}.
                </>
              ) : null}
            </>
          }
          {...common}
        >
          {(a) => (
            <textarea
              {...a}
              className="input textarea input--mono"
              rows={3}
              value={form.domains}
              spellCheck={false}
              placeholder="Empty: the default group"
              onChange={(e) => onChange({ domains: e.target.value })}
            />
          )}
        </Field>

        <div className="field form-grid__wide" data-field="enabled">
          <label className="check">
            <input type="checkbox" checked={form.enabled} onChange={(e) => onChange({ enabled: e.target.checked })} />
            <span>
              <span className="check__label">Enabled</span>
              <span className="check__help">A disabled instance is kept in the configuration but neither checked nor started.</span>
            </span>
          </label>
          <FieldMessages id="enabled-problems" messages={messagesFor('enabled', problems, local, showLocal)} />
        </div>
      </div>

      {form.roletype === 'callstore' ? (
        <fieldset className="fieldset form-section">
          <legend>Callstore options</legend>
          <div className="form-grid">
            <Field field="cdr_mode" label={FIELD_LABELS.cdr_mode} help={CDR_MODE_INFO[form.cdrMode].description} {...common}>
              {(a) => (
                <select {...a} className="input select" value={form.cdrMode} onChange={(e) => onChange({ cdrMode: e.target.value as CdrMode })}>
                  {CDR_MODES.map((m) => (
                    <option key={m} value={m}>
                      {CDR_MODE_INFO[m].label}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field
              field="state_save"
              label={FIELD_LABELS.state_save}
              help={`How active calls survive when every instance of the group restarts at once. ${STATE_SAVE_INFO[form.stateSave].description}`}
              {...common}
            >
              {(a) => (
                <select {...a} className="input select" value={form.stateSave} onChange={(e) => onChange({ stateSave: e.target.value as StateSave })}>
                  {STATE_SAVES.map((m) => (
                    <option key={m} value={m}>
                      {STATE_SAVE_INFO[m].label}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <div className="field form-grid__wide" data-field="cdr_aggregation">
              <label className="check">
                <input type="checkbox" checked={form.cdrAggregation} onChange={(e) => onChange({ cdrAggregation: e.target.checked })} />
                <span>
                  <span className="check__label">Build aggregated call records</span>
                  <span className="check__help">
                    Off: no aggregated record in <code>cdr/COPM3_dialogs</code>; the raw events are still kept.
                  </span>
                </span>
              </label>
              <FieldMessages id="cdr-aggregation-problems" messages={messagesFor('cdr_aggregation', problems, local, showLocal)} />
            </div>
          </div>
        </fieldset>
      ) : null}

      <Field
        field="ext"
        label="Extra options (ext, JSON)"
        className="form-section"
        help={
          form.roletype === 'callstore' ? (
            <>
              A JSON object or list; empty for none. Callstore tunables (seconds unless said): <code>resync_timeout</code> (10),{' '}
              <code>call_timeout</code> (14400), <code>resync_unknown</code> (<code>"reconstruct"</code> or <code>"refuse"</code>),{' '}
              <code>reject_until_synced</code> (true), <code>sync_timeout</code> (5), <code>remote_profile_ttl</code> (30),{' '}
              <code>reservation_ttl</code> (10), <code>raw_event_retention_days</code> (31).
            </>
          ) : (
            'A JSON object or list; empty for none.'
          )
        }
        {...common}
      >
        {(a) => (
          <textarea
            {...a}
            className="input textarea input--mono"
            rows={4}
            value={form.ext}
            spellCheck={false}
            placeholder="{}"
            onChange={(e) => onChange({ ext: e.target.value })}
          />
        )}
      </Field>
    </div>
  );
}
