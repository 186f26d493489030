import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types/index.js';
import addFormatsModule from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import type { ErrorDetail } from '../shared/api/errors.js';
import { ValidationError } from './errors.js';

// ajv-formats is CommonJS with a default export; under NodeNext its callable sits on `.default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * Every number the API takes is finite (`strictNumbers`: JSON's 1e400 parses as Infinity), and
 * every integer is a safe integer: an integer schema without bounds of its own gets
 * ±Number.MAX_SAFE_INTEGER, past which ids and counters stop being exact.
 */
export const INTEGER_BOUND = Number.MAX_SAFE_INTEGER;

/** The schema keywords of our own (JSON Schema allows `x-` extensions): a document reader must know them. */
export const EXTENSION_KEYWORDS = ['x-maxDepth', 'x-maxBytes'] as const;

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes, useDefaults: false, strictNumbers: true });
  addFormats(ajv);
  // Bounds for free-form JSON (a role's ext), checked without recursion before anything walks it.
  ajv.addKeyword({ keyword: 'x-maxDepth', schemaType: 'number', errors: true, validate: checkMaxDepth });
  ajv.addKeyword({ keyword: 'x-maxBytes', schemaType: 'number', errors: true, validate: checkMaxBytes });
  return ajv;
}

function checkMaxDepth(limit: number, data: unknown, _parent?: unknown, cxt?: DataValidationCxt): boolean {
  const at = tooDeepAt(data, limit);
  if (at === undefined) return true;
  checkMaxDepth.errors = [{ keyword: 'x-maxDepth', instancePath: (cxt?.instancePath ?? '') + at, params: { limit }, message: `nests deeper than ${limit} levels of objects and arrays` }];
  return false;
}
checkMaxDepth.errors = [] as Partial<ErrorObject>[];

function checkMaxBytes(limit: number, data: unknown, _parent?: unknown, cxt?: DataValidationCxt): boolean {
  if (!jsonLongerThan(data, limit)) return true;
  checkMaxBytes.errors = [{ keyword: 'x-maxBytes', instancePath: cxt?.instancePath ?? '', params: { limit }, message: `is larger than ${limit} bytes as JSON` }];
  return false;
}
checkMaxBytes.errors = [] as Partial<ErrorObject>[];

const pointerToken = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON pointer (below `value`) of the first object or array nested deeper than `limit`, walking a stack, not the call stack. */
export function tooDeepAt(value: unknown, limit: number): string | undefined {
  const stack: { node: object; depth: number; path: string }[] = [];
  if (typeof value === 'object' && value !== null) stack.push({ node: value, depth: 1, path: '' });
  while (stack.length > 0) {
    const { node, depth, path } = stack.pop() as { node: object; depth: number; path: string };
    if (depth > limit) return path;
    const children: [string, unknown][] = Array.isArray(node) ? node.map((v: unknown, i) => [String(i), v]) : Object.entries(node);
    // Pushed last to first, so the first too-deep place in document order is found first.
    for (let i = children.length - 1; i >= 0; i--) {
      const [key, child] = children[i] as [string, unknown];
      if (typeof child === 'object' && child !== null) stack.push({ node: child, depth: depth + 1, path: `${path}/${pointerToken(key)}` });
    }
  }
  return undefined;
}

/** Whether `value` serialized as JSON takes more than `limit` bytes (escapes aside), stopping as soon as it does. */
export function jsonLongerThan(value: unknown, limit: number): boolean {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += Buffer.byteLength(v) + 2;
    else if (Array.isArray(v)) {
      bytes += 1 + Math.max(v.length, 1);
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v);
      bytes += 1 + Math.max(keys.length, 1);
      for (const key of keys) {
        bytes += Buffer.byteLength(key) + 3;
        stack.push((v as Record<string, unknown>)[key]);
      }
    } else bytes += String(v).length;
    if (bytes > limit) return true;
  }
  return false;
}

/** Keywords whose values are data, not schemas: an object there is never a schema to bound. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples']);

/** A copy of the schema in which every integer without a bound of its own is a safe integer. */
function withSafeIntegers(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withSafeIntegers);
  if (typeof node !== 'object' || node === null) return node;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) copy[key] = DATA_KEYWORDS.has(key) ? value : withSafeIntegers(value);
  const type = copy['type'];
  if (type === 'integer' || (Array.isArray(type) && type.includes('integer'))) {
    if (copy['maximum'] === undefined && copy['exclusiveMaximum'] === undefined) copy['maximum'] = INTEGER_BOUND;
    if (copy['minimum'] === undefined && copy['exclusiveMinimum'] === undefined) copy['minimum'] = -INTEGER_BOUND;
  }
  return copy;
}

const bodies = makeAjv(false);
// Query strings and flags arrive as text; numbers and booleans there are coerced, nowhere else.
const coercing = makeAjv(true);

/** Problems listed in one answer's details; the rest are counted in a last detail. */
export const MAX_DETAILS = 100;
/** Problems named in the sentence of a ValidationError. */
const PROBLEMS_IN_MESSAGE = 5;

/**
 * Turns Ajv's errors into the API's `details`: a JSON pointer to the value and a sentence, each
 * problem once, at most MAX_DETAILS of them and then one detail that counts the others. Linear
 * in the number of errors: a list of 20,000 bad items must not cost 20,000².
 */
export function toDetails(errors: readonly ErrorObject[] | null | undefined, prefix = ''): ErrorDetail[] {
  const { listed, unlisted } = collectDetails(errors ?? [], prefix);
  return unlisted > 0 ? [...listed, { path: '/', message: `and ${unlisted} more problems, not listed` }] : listed;
}

function collectDetails(errors: readonly ErrorObject[], prefix: string): { listed: ErrorDetail[]; unlisted: number } {
  const seen = new Set<string>();
  const listed: ErrorDetail[] = [];
  const literals = unionLiterals(errors);
  let unlisted = 0;
  for (const e of errors) {
    let path = prefix + e.instancePath;
    let message: string;
    switch (e.keyword) {
      case 'required':
        path += `/${String(e.params['missingProperty'])}`;
        message = 'is required';
        break;
      case 'additionalProperties':
        path += `/${String(e.params['additionalProperty'])}`;
        message = 'is not a known field';
        break;
      case 'anyOf':
      case 'oneOf':
        // The branches have already been reported one by one; a union of literals reads better as a list.
        continue;
      case 'const': {
        const allowed = literals.get(e.instancePath) ?? [];
        message = allowed.length > 1 ? `must be one of ${allowed.join(', ')}` : `must be ${JSON.stringify(e.params['allowedValue'])}`;
        break;
      }
      default:
        message = e.message ?? 'is invalid';
    }
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (listed.length < MAX_DETAILS) listed.push({ path: path || '/', message });
    else unlisted++;
  }
  return { listed, unlisted };
}

/** The literals each value was compared with, by the value's path: the members of its union. */
function unionLiterals(errors: readonly ErrorObject[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const e of errors) {
    if (e.keyword !== 'const') continue;
    const list = byPath.get(e.instancePath) ?? [];
    list.push(JSON.stringify(e.params['allowedValue']));
    byPath.set(e.instancePath, list);
  }
  return byPath;
}

/** The one sentence of a ValidationError: its first problems, and how many more there are. */
function sentenceOf(what: string, listed: readonly ErrorDetail[], unlisted: number): string {
  const shown = listed.slice(0, PROBLEMS_IN_MESSAGE).map((d) => `${d.path} ${d.message}`);
  const more = listed.length - shown.length + unlisted;
  return `${what} is invalid: ${shown.join('; ')}${more > 0 ? `; and ${more} more problems` : ''}.`;
}

export interface Validator<T extends TSchema> {
  readonly schema: T;
  /** Returns the value typed, or throws a ValidationError listing its problems. */
  parse(value: unknown, what: string, pathPrefix?: string): Static<T>;
  check(value: unknown, pathPrefix?: string): ErrorDetail[];
  /** The problems listed (at most MAX_DETAILS) and the number of others, without a counting detail. */
  problems(value: unknown, pathPrefix?: string): { listed: ErrorDetail[]; unlisted: number };
}

export function validator<T extends TSchema>(schema: T, opts: { coerce?: boolean } = {}): Validator<T> {
  const fn: ValidateFunction = (opts.coerce ? coercing : bodies).compile(withSafeIntegers(schema) as TSchema);
  const problems = (value: unknown, pathPrefix: string) => {
    const found: { listed: ErrorDetail[]; unlisted: number } = fn(value) ? { listed: [], unlisted: 0 } : collectDetails(fn.errors ?? [], pathPrefix);
    // Ajv checks numbers before it coerces text, not after: "1e400" in a query string becomes Infinity.
    return opts.coerce ? { ...found, listed: [...found.listed, ...nonFiniteNumbers(value, pathPrefix)] } : found;
  };
  return {
    schema,
    problems(value, pathPrefix = '') {
      return problems(value, pathPrefix);
    },
    check(value, pathPrefix = '') {
      const { listed, unlisted } = problems(value, pathPrefix);
      return unlisted > 0 ? [...listed, { path: '/', message: `and ${unlisted} more problems, not listed` }] : listed;
    },
    parse(value, what, pathPrefix = '') {
      const { listed, unlisted } = problems(value, pathPrefix);
      if (listed.length === 0) return value as Static<T>;
      const details = unlisted > 0 ? [...listed, { path: '/', message: `and ${unlisted} more problems, not listed` }] : listed;
      throw new ValidationError(sentenceOf(what, listed, unlisted), details);
    },
  };
}

/** The numbers of a query string or path (flat: values and lists of values) that coercion made infinite. */
function nonFiniteNumbers(value: unknown, pathPrefix: string): ErrorDetail[] {
  if (typeof value !== 'object' || value === null) return [];
  const found: ErrorDetail[] = [];
  for (const [key, v] of Object.entries(value)) {
    const items = Array.isArray(v) ? v.map((x: unknown, i) => [`/${i}`, x] as const) : [['', v] as const];
    for (const [suffix, x] of items) {
      if (typeof x === 'number' && !Number.isFinite(x)) found.push({ path: `${pathPrefix}/${pointerToken(key)}${suffix}`, message: 'must be a finite number' });
    }
  }
  return found;
}
