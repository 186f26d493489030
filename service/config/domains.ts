/**
 * Domain names as partitioning sees them: case-insensitive, a trailing dot ignored
 * (`Example.COM.` is `example.com`).
 */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Why a (normalized) domain name is not valid, or undefined when it is. Underscores are refused: hosts, not SRV names. */
export function domainProblem(normalized: string): string | undefined {
  if (normalized.length === 0) return 'is empty';
  if (normalized.length > 253) return 'is longer than 253 characters';
  for (const label of normalized.split('.')) {
    if (label.length === 0) return 'has an empty label (two dots in a row, or a leading dot)';
    if (label.length > 63) return `has a label longer than 63 characters ("${label.slice(0, 20)}…")`;
    if (!LABEL.test(label)) return `has an invalid label "${label}": letters, digits and inner hyphens only`;
  }
  return undefined;
}

/** `a.b.example` → [`a.b.example`, `b.example`, `example`]: the subtrees a domain belongs to, longest first. */
export function suffixesOf(normalized: string): string[] {
  const labels = normalized.split('.');
  return labels.map((_, i) => labels.slice(i).join('.'));
}
