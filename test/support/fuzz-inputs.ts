import type { JsonSchema } from './openapi-ops.js';

/** A small seeded generator (mulberry32): the same seed, the same run. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** up to `n` items, in a seeded order */
  sample<T>(items: readonly T[], n: number): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy.slice(0, n);
  }
}

/**
 * JSON text that JSON.stringify cannot write (1e400, deep nesting), standing in a value: the
 * body is serialized with a marker in its place, and the marker replaced by the text.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** Serializes a value in which RawJson pieces stand for themselves. */
export function toJsonText(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0000raw${raws.length - 1}\u0000`;
    }
    return v;
  });
  return (text ?? 'null').replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)] as string);
}

const nested = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;

/** Values of the wrong kind, size or range for a JSON field, as JSON text. */
export const BAD_JSON_VALUES: readonly RawJson[] = [
  '1e400',
  '-1e400',
  '9007199254740993',
  '123456789012345678901234567890',
  '-1',
  '0',
  '1.5',
  '1e-400',
  'null',
  'true',
  '""',
  JSON.stringify('x'.repeat(100_000)),
  JSON.stringify('€'.repeat(5000)),
  '"\\ud800"',
  '"\\u0000"',
  '"../../../../etc/passwd"',
  '"%zz"',
  '"=cmd|\' /c calc\'!A1"',
  '"2026-13-45T25:61:61Z"',
  '"0000-01-01T00:00:00Z"',
  '"9999-12-31T23:59:59Z"',
  '[]',
  '{}',
  nested(5000),
  `{"a":${nested(3000)}}`,
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
  `[${Array.from({ length: 20_000 }, () => '0').join(',')}]`,
].map((t) => new RawJson(t));

/** Whole bodies that are not valid JSON, or not what a route takes at the top. */
export const BAD_JSON_BODIES: readonly string[] = [
  '',
  '{',
  '{"a":',
  '[1,2',
  'nul',
  '{"a":1}}',
  '{"a":1,}',
  "{'a':1}",
  '\u0000',
  '\ufeff{}',
  '"text"',
  '42',
  '1e400',
  'null',
  'true',
  '[]',
  '[{}]',
  nested(100_000),
  nested(100_000, '{"a":', '}'),
  '{"__proto__":{"isAdmin":true}}',
];

/** Path parameter values, sent as they are in the path (raw: bad percent-encodings stay bad). */
export const BAD_PATH_VALUES: readonly string[] = [
  '%zz',
  '%c0%ae',
  '%',
  '%00',
  '%ff%fe',
  '%ed%a0%80',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..',
  '.',
  '%2e%2e',
  'x'.repeat(5000),
  '%F0%9F%92%A9',
  '-1',
  '1e400',
  '__proto__',
  'constructor',
  '%20',
  '%22%3Cscript%3E',
  '%0d%0aSet-Cookie:%20x=1',
];

/** Query values (encoded as they are, then sent); `null` marks a parameter sent twice. */
export const BAD_QUERY_VALUES: readonly (string | null)[] = [
  '1e400',
  '-1e400',
  '-1',
  'NaN',
  'Infinity',
  '99999999999999999999999',
  '1.5',
  '',
  'x'.repeat(5000),
  '__proto__',
  '[object Object]',
  '2026-13-45',
  '0000-01-01T00:00:00Z',
  'Europe/Nowhere',
  '../../etc/passwd',
  null,
];

/** Bodies for media types other than JSON: multipart that lies, WAV that is not. */
export function badOtherBodies(): { contentType: string; body: Buffer }[] {
  const boundary = 'fuzzboundary';
  const part = (headers: string, content: string | Buffer) => Buffer.concat([Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`), Buffer.from(content), Buffer.from('\r\n')]);
  const riff = Buffer.from('RIFF\u0024\u0000\u0000\u0000WAVEfmt ', 'latin1');
  return [
    { contentType: 'multipart/form-data', body: Buffer.from('no boundary at all') },
    { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.from(`--${boundary}\r\ngarbage`) },
    { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat([part('Content-Disposition: form-data; name="audio"; filename="a.wav"\r\nContent-Type: audio/wav', riff), Buffer.from(`--${boundary}--\r\n`)]) },
    { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat([part('Content-Disposition: form-data; name="callerId"', 'x'.repeat(200_000)), Buffer.from(`--${boundary}--\r\n`)]) },
    {
      contentType: `multipart/form-data; boundary=${boundary}`,
      body: Buffer.concat([...Array.from({ length: 200 }, (_, i) => part(`Content-Disposition: form-data; name="f${i}"`, 'v')), Buffer.from(`--${boundary}--\r\n`)]),
    },
    { contentType: 'audio/wav', body: riff },
    { contentType: 'audio/wav', body: Buffer.alloc(4096, 0xff) },
    { contentType: 'application/octet-stream', body: Buffer.alloc(1024, 0) },
    { contentType: 'text/plain', body: Buffer.from('hello') },
    { contentType: 'application/x-www-form-urlencoded', body: Buffer.from('a=1&b=%zz&__proto__[x]=1') },
  ];
}

/** Authorization headers that must never get further than a 401. */
export const BAD_AUTHORIZATIONS: readonly string[] = [
  'Bearer',
  'Bearer ',
  'Basic YWRtaW46dGVzdA==',
  'Bearer scs_forged-token',
  'Bearer sct_forged-token',
  `Bearer ${'x'.repeat(8000)}`,
  'Bearer a b c',
  'bearer\tscs_x',
];

/** A fixed UUID, so that samples are the same on every run. */
export const FUZZ_UUID = 'f0220000-0000-4000-8000-000000000015';

const STRING_CANDIDATES = ['fuzz.example', '100', 'fuzz-1', 'a', 'callstore1', 'pbx1', 'sip:100@fuzz.example', 'x@fuzz.example', 'Europe/Berlin'];

/**
 * A value that fits the schema well enough to get past its checks, so that a bad value in one
 * field meets the code behind the validation of the others. `hints` name good values by field.
 */
export function sampleOf(schema: JsonSchema, hints: Record<string, string> = {}, key = '', depth = 0, allFields = false): unknown {
  if (depth > 8) return null;
  if ('const' in schema) return schema['const'];
  if (Array.isArray(schema['enum'])) return schema['enum'][0];
  const branches = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (Array.isArray(branches) && branches.length) return sampleOf(branches.find((b) => b['type'] !== 'null') ?? (branches[0] as JsonSchema), hints, key, depth + 1, allFields);
  if (Array.isArray(schema['allOf'])) return Object.assign({}, ...(schema['allOf'] as JsonSchema[]).map((s) => sampleOf(s, hints, key, depth + 1, allFields)));
  const type = Array.isArray(schema['type']) ? (schema['type'] as string[]).find((t) => t !== 'null') : (schema['type'] as string | undefined);
  switch (type) {
    case 'integer':
    case 'number': {
      const min = typeof schema['minimum'] === 'number' ? schema['minimum'] : 1;
      const max = typeof schema['maximum'] === 'number' ? schema['maximum'] : min + 10;
      return Math.min(Math.max(min, 1), max);
    }
    case 'boolean':
      return true;
    case 'array': {
      const min = typeof schema['minItems'] === 'number' ? schema['minItems'] : 0;
      return Array.from({ length: Math.max(min, 1) }, () => sampleOf((schema['items'] as JsonSchema | undefined) ?? {}, hints, key, depth + 1, allFields));
    }
    case 'object': {
      const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
      const required = new Set((schema['required'] as string[] | undefined) ?? []);
      return Object.fromEntries(Object.entries(props).filter(([k]) => allFields || required.has(k) || k in hints).map(([k, s]) => [k, sampleOf(s, hints, k, depth + 1, allFields)]));
    }
    case 'string':
      return sampleString(schema, hints[key]);
    default:
      return schema['properties'] ? sampleOf({ ...schema, type: 'object' }, hints, key, depth, allFields) : 'fuzz';
  }
}

function sampleString(schema: JsonSchema, hint: string | undefined): string {
  const format = schema['format'];
  if (format === 'date-time') return new Date().toISOString();
  if (format === 'date') return new Date().toISOString().slice(0, 10);
  if (format === 'email') return 'fuzz@fuzz.example';
  if (format === 'uuid') return FUZZ_UUID;
  const pattern = typeof schema['pattern'] === 'string' ? new RegExp(schema['pattern']) : undefined;
  const min = typeof schema['minLength'] === 'number' ? schema['minLength'] : 0;
  const max = typeof schema['maxLength'] === 'number' ? schema['maxLength'] : Infinity;
  const fits = (s: string) => s.length >= min && s.length <= max && (!pattern || pattern.test(s));
  const candidates = [...(hint ? [hint] : []), ...STRING_CANDIDATES, FUZZ_UUID, '1234', 'a'.repeat(Math.max(min, 1))];
  return candidates.find(fits) ?? (hint ?? 'fuzz');
}

/** The fields of a sample worth replacing one at a time (objects and first items, a few levels down), with their schemas. */
export function fieldsOf(value: unknown, schema: JsonSchema | undefined, depth = 0): { path: string[]; schema: JsonSchema }[] {
  if (depth > 3 || typeof value !== 'object' || value === null) return [];
  const s = branchOf(schema ?? {}, value);
  const entries: [string, unknown, JsonSchema][] = Array.isArray(value)
    ? value.length
      ? [['0', value[0], (s['items'] as JsonSchema | undefined) ?? {}]]
      : []
    : Object.entries(value).map(([k, v]) => [k, v, ((s['properties'] as Record<string, JsonSchema> | undefined)?.[k] ?? {}) as JsonSchema]);
  return entries.flatMap(([k, v, sub]) => [{ path: [k], schema: sub }, ...fieldsOf(v, sub, depth + 1).map((f) => ({ path: [k, ...f.path], schema: f.schema }))]);
}

/** The branch of a union the sample was made from (the first that is not null). */
function branchOf(schema: JsonSchema, value: unknown): JsonSchema {
  const branches = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (!Array.isArray(branches)) return schema;
  return branches.find((b) => (Array.isArray(value) ? b['type'] === 'array' : b['type'] === 'object' || b['properties'] !== undefined)) ?? schema;
}

const NUMERIC_BAD = BAD_JSON_VALUES.filter((v) => /^-?[\d.]/.test(v.text) && !v.text.startsWith('['));
const STRING_BAD = BAD_JSON_VALUES.filter((v) => v.text.startsWith('"'));
const DEEP_BAD = BAD_JSON_VALUES.filter((v) => v.text.length > 5000 && /^[[{]/.test(v.text));
const INFINITY = BAD_JSON_VALUES[0] as RawJson;

/**
 * Bad values for one field: what its type invites first (Infinity for a number; for a list, an
 * object or free-form JSON, nesting thousands deep and 20,000 items; a string of another kind),
 * then one of any kind.
 */
export function badValuesFor(schema: JsonSchema, rng: Rng): RawJson[] {
  const type = Array.isArray(schema['type']) ? (schema['type'] as string[]).find((x) => x !== 'null') : (schema['type'] as string | undefined);
  const typed = type === 'integer' || type === 'number' ? [INFINITY, rng.pick(NUMERIC_BAD)] : type === 'string' ? rng.sample(STRING_BAD, 2) : type === 'boolean' ? [rng.pick(NUMERIC_BAD)] : DEEP_BAD;
  return [...new Set([...typed, rng.pick(BAD_JSON_VALUES)])];
}

/** A copy of `value` with the field at `path` replaced. */
export function withField(value: unknown, path: readonly string[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(value)) return value.map((v, i) => (String(i) === head ? withField(v, rest, replacement) : v));
  const obj = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return { ...obj, [head]: withField(obj[head], rest, replacement) };
}
