import { brotliCompressSync, gzipSync } from 'node:zlib';
import {
  BAD_AUTHORIZATIONS,
  BAD_JSON_BODIES,
  BAD_JSON_VALUES,
  BAD_PATH_VALUES,
  BAD_QUERY_VALUES,
  badOtherBodies,
  badValuesFor,
  fieldsOf,
  RawJson,
  sampleOf,
  toJsonText,
  withField,
  type Rng,
} from './fuzz-inputs.js';
import type { JsonSchema, Operation } from './openapi-ops.js';

export interface FuzzRequest {
  /** what is wrong with it, for the failure message */
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface FuzzCredentials {
  /** a token whose scope covers every operation */
  admin: string;
  /** a token of each scope, for the other-scope attempts */
  byScope: Record<string, string>;
}

/** Good values by parameter or field name: a fixture that exists, so bad values meet real code. */
export interface FuzzFixtures {
  hints: Record<string, string>;
}

/** Scopes that do not imply each other: what a caller of `scope` is refused with. */
const OTHER_SCOPE: Record<string, string> = { admin: 'read', read: 'events', events: 'read', vmail: 'read', admission: 'read' };

/** How many of each kind of attack one operation gets (the suite stays under a minute). */
export const BUDGET = { pathValues: 6, queryValues: 18, malformedBodies: 8, fieldMutations: 6, otherBodies: 5 } as const;

const JSON_LIMIT_BYTES = 1024 * 1024;

/**
 * The bad requests for one operation: auth that is missing, wrong or of another scope; bad path
 * parameters; bad query values; malformed, mistyped, oversize, mislabelled and miscompressed
 * bodies. Every request but the auth ones carries a credential that passes, so it meets the
 * validation and the code behind it.
 */
export function requestsFor(op: Operation, rng: Rng, creds: FuzzCredentials, fixtures: FuzzFixtures): FuzzRequest[] {
  const pathParams = op.params.filter((p) => p.in === 'path');
  const queryParams = op.params.filter((p) => p.in === 'query');
  const good = Object.fromEntries(op.params.map((p) => [p.name, String(sampleOf(p.schema, fixtures.hints, p.name))]));
  const pathWith = (overrides: Record<string, string> = {}) => op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => overrides[name] ?? encodeURIComponent(good[name] ?? 'x'));
  const requiredQuery = queryParams.filter((p) => p.required).map((p) => `${encodeURIComponent(p.name)}=${encodeURIComponent(good[p.name] ?? '')}`);
  const target = (path: string, query: string[] = requiredQuery) => (query.length ? `${path}?${query.join('&')}` : path);
  const authed = (headers: Record<string, string> = {}) => (op.scope === 'public' ? headers : { authorization: `Bearer ${creds.admin}`, ...headers });
  const out: FuzzRequest[] = [];
  const add = (label: string, req: Omit<FuzzRequest, 'label' | 'method'> & { method?: string }) => out.push({ label, method: req.method ?? op.method, path: req.path, headers: req.headers, ...(req.body ? { body: req.body } : {}) });

  // Authentication: none, malformed, forged, another scope's. A public route ignores them all.
  add('no Authorization', { path: target(pathWith()), headers: {} });
  for (const auth of BAD_AUTHORIZATIONS) add(`Authorization "${auth.slice(0, 30)}"`, { path: target(pathWith()), headers: { authorization: auth } });
  const other = creds.byScope[OTHER_SCOPE[op.scope] ?? 'read'];
  if (op.scope !== 'public' && other) add(`a token of scope ${OTHER_SCOPE[op.scope] ?? 'read'}`, { path: target(pathWith()), headers: { authorization: `Bearer ${other}` } });

  const sample = sampleBody(op, fixtures);
  const withSample = (path: string) => ({ path, headers: authed(sample.contentType), ...(sample.body ? { body: sample.body } : {}) });
  add('the sample request', withSample(target(pathWith())));

  for (const p of pathParams) {
    for (const bad of rng.sample(BAD_PATH_VALUES, BUDGET.pathValues)) add(`path ${p.name}=${bad.slice(0, 40)}`, withSample(target(pathWith({ [p.name]: bad }))));
  }

  const queryAttacks: FuzzRequest[] = [];
  for (const p of queryParams) {
    const others = requiredQuery.filter((q) => !q.startsWith(`${encodeURIComponent(p.name)}=`));
    for (const bad of BAD_QUERY_VALUES) {
      const query = bad === null ? [...others, `${p.name}=${encodeURIComponent(good[p.name] ?? '1')}`, `${p.name}=${encodeURIComponent(good[p.name] ?? '1')}`] : [...others, `${encodeURIComponent(p.name)}=${encodeURIComponent(bad)}`];
      queryAttacks.push({ label: `query ${p.name}=${bad === null ? '(twice)' : bad.slice(0, 40)}`, method: op.method, path: target(pathWith(), query), headers: authed() });
    }
    queryAttacks.push({ label: `query ${p.name}=%zz`, method: op.method, path: target(pathWith(), [...others, `${p.name}=%zz`]), headers: authed() });
    queryAttacks.push({ label: `query ${p.name}[x]=1`, method: op.method, path: target(pathWith(), [...others, `${p.name}[x]=1`]), headers: authed() });
  }
  queryAttacks.push({ label: 'an unknown query parameter', method: op.method, path: target(pathWith(), [...requiredQuery, 'fuzz=1', '__proto__=1']), headers: authed() });
  out.push(...rng.sample(queryAttacks, BUDGET.queryValues));

  if (op.method === 'GET') {
    for (const range of ['bytes=99999999999-', 'bytes=5-1', 'bytes=-0', `bytes=${Array.from({ length: 200 }, (_, i) => `${i}-${i}`).join(',')}`, 'pages=1-2']) {
      add(`Range ${range.slice(0, 30)}`, { path: target(pathWith()), headers: authed({ range }) });
    }
  }

  out.push(...bodyAttacks(op, rng, fixtures, target(pathWith()), authed));
  return out;
}

let bodies = 0;

/**
 * The sample with an id of its own (unless the id is the field under attack): a store that
 * drops a repeated id as a duplicate would otherwise never look at the bad value.
 */
function freshId(sample: unknown, field: readonly string[]): unknown {
  if (typeof sample !== 'object' || sample === null || Array.isArray(sample) || !('id' in sample) || field[0] === 'id') return sample;
  return { ...sample, id: `fuzz-body-${++bodies}` };
}

function jsonBodyOf(op: Operation): JsonSchema | undefined {
  return op.bodies.find((b) => /json/i.test(b.mediaType) && !/ndjson|jsonl/i.test(b.mediaType))?.schema;
}

/** The sample body of an operation with a JSON body, and its Content-Type header. */
function sampleBody(op: Operation, fixtures: FuzzFixtures): { body?: Buffer; contentType?: Record<string, string> } {
  const schema = jsonBodyOf(op);
  return schema ? { body: Buffer.from(toJsonText(sampleOf(schema, fixtures.hints))), contentType: { 'content-type': 'application/json' } } : {};
}

function bodyAttacks(op: Operation, rng: Rng, fixtures: FuzzFixtures, path: string, authed: (h?: Record<string, string>) => Record<string, string>): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  const add = (label: string, contentType: string | undefined, body: Buffer, extra: Record<string, string> = {}) =>
    out.push({ label, method: op.method, path, headers: authed({ ...(contentType ? { 'content-type': contentType } : {}), ...extra }), body });
  const takesBody = op.method === 'POST' || op.method === 'PUT' || op.method === 'PATCH';
  const schema = jsonBodyOf(op);

  if (!takesBody) {
    // A body where none is read: it must be ignored, whatever it holds.
    add('a body on a request without one', 'application/json', Buffer.from(rng.pick(BAD_JSON_BODIES)));
    return out;
  }

  if (schema) {
    const json = 'application/json';
    for (const text of rng.sample(BAD_JSON_BODIES, BUDGET.malformedBodies)) add(`body ${JSON.stringify(text.slice(0, 30))}`, json, Buffer.from(text));
    const full = sampleOf(schema, fixtures.hints, '', 0, true);
    const minimal = sampleOf(schema, fixtures.hints);
    // Every field gets the bad values its type invites, and a few fields get more of any kind.
    const fields = fieldsOf(full, schema);
    const mutations = fields.flatMap((f) => badValuesFor(f.schema, rng).map((bad) => ({ field: f.path, bad })));
    const extra = rng.sample(fields.flatMap((f) => BAD_JSON_VALUES.map((bad) => ({ field: f.path, bad }))), BUDGET.fieldMutations);
    for (const { field, bad } of [...mutations, ...extra]) add(`body /${field.join('/')} = ${bad.text.slice(0, 30)}`, json, Buffer.from(toJsonText(withField(freshId(full, field), field, bad))));
    add('body with an unknown field', json, Buffer.from(toJsonText({ ...(typeof minimal === 'object' && minimal !== null ? minimal : {}), fuzzUnknown: new RawJson('1e400') })));
    const text = Buffer.from(toJsonText(minimal));
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin2', 'application/json; charset=utf-16']) add(`body as ${type}`, type, text);
    add('body without a Content-Type', undefined, text);
    for (const encoding of ['gzip', 'deflate', 'br', 'compress', 'gzip, gzip']) add(`body labelled ${encoding}, not compressed`, json, text, { 'content-encoding': encoding });
    add('gzip of malformed JSON', json, gzipSync('{"a":'), { 'content-encoding': 'gzip' });
    add('a brotli bomb over the limit', json, brotliCompressSync(Buffer.from(`["${'0'.repeat(JSON_LIMIT_BYTES + 10)}"]`)), { 'content-encoding': 'br' });
    add('a body over the 1 MiB limit', json, Buffer.from(`["${'x'.repeat(JSON_LIMIT_BYTES)}"]`));
  }

  for (const other of op.bodies.filter((b) => !/json/i.test(b.mediaType) || /ndjson|jsonl/i.test(b.mediaType))) {
    if (/ndjson|jsonl/i.test(other.mediaType)) {
      add(`${other.mediaType} with broken lines`, other.mediaType, Buffer.from(['{', '1e400', '[]', '{"seq":1e400}', 'x'.repeat(10_000)].join('\n')));
    }
  }
  // Multipart and audio bodies, documented or not: deposits and greetings take them.
  for (const b of rng.sample(badOtherBodies(), schema ? 2 : BUDGET.otherBodies)) add(`a ${b.contentType.split(';')[0]} body that lies`, b.contentType, b.body);
  return out;
}
