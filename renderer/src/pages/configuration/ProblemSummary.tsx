/** The problems the service found in the draft, or why it refused a save: above the instances, each instance a link to its row. */
import { Alert } from '../../components/ui.js';
import type { FieldProblem, MappedProblems } from '../../lib/configDraft.js';

export function ProblemSummary({
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
