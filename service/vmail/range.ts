/**
 * HTTP Range for audio playback (RFC 9110 section 14), one range per request:
 * `bytes=a-b`, `bytes=a-`, `bytes=-n`. Another unit, or several ranges at once, is answered with
 * the whole file (200), which the RFC allows; a byte range that cannot be served (it starts past
 * the end, ends before it starts, or is not made of numbers) is 416.
 */
export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const SPEC = /^(\d*)-(\d*)$/;

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const value = header.trim();
  const eq = value.indexOf('=');
  if (eq < 0) return { kind: 'unsatisfiable' };
  if (value.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'full' };
  const spec = value.slice(eq + 1).trim();
  if (spec.includes(',')) return { kind: 'full' };
  const m = SPEC.exec(spec);
  if (!m) return { kind: 'unsatisfiable' };
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return { kind: 'unsatisfiable' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  if (last !== '' && Number(last) < start) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
