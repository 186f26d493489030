import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import type { ErrorDetail } from '../shared/api/errors.js';
import { ValidationError } from './errors.js';

// ajv-formats is CommonJS with a default export; under NodeNext its callable sits on `.default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes, useDefaults: false });
  addFormats(ajv);
  return ajv;
}

const bodies = makeAjv(false);
// Query strings and flags arrive as text; numbers and booleans there are coerced, nowhere else.
const coercing = makeAjv(true);

/** Turns Ajv's errors into the API's `details`: a JSON pointer to the value and a sentence. */
export function toDetails(errors: readonly ErrorObject[] | null | undefined, prefix = ''): ErrorDetail[] {
  const seen = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const e of errors ?? []) {
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
        const allowed = unionLiterals(errors ?? [], e.instancePath);
        message = allowed.length > 1 ? `must be one of ${allowed.join(', ')}` : `must be ${JSON.stringify(e.params['allowedValue'])}`;
        break;
      }
      default:
        message = e.message ?? 'is invalid';
    }
    const key = `${path}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      details.push({ path: path || '/', message });
    }
  }
  return details;
}

function unionLiterals(errors: readonly ErrorObject[], instancePath: string): string[] {
  return errors
    .filter((e) => e.keyword === 'const' && e.instancePath === instancePath)
    .map((e) => JSON.stringify(e.params['allowedValue']));
}

export interface Validator<T extends TSchema> {
  readonly schema: T;
  /** Returns the value typed, or throws a ValidationError listing every problem. */
  parse(value: unknown, what: string, pathPrefix?: string): Static<T>;
  check(value: unknown, pathPrefix?: string): ErrorDetail[];
}

export function validator<T extends TSchema>(schema: T, opts: { coerce?: boolean } = {}): Validator<T> {
  const fn: ValidateFunction = (opts.coerce ? coercing : bodies).compile(schema);
  return {
    schema,
    check(value, pathPrefix = '') {
      return fn(value) ? [] : toDetails(fn.errors, pathPrefix);
    },
    parse(value, what, pathPrefix = '') {
      if (fn(value)) return value as Static<T>;
      const details = toDetails(fn.errors, pathPrefix);
      throw new ValidationError(`${what} is invalid: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}.`, details);
    },
  };
}
