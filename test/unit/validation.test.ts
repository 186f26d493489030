import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../service/errors.js';
import { validator } from '../../service/validation.js';

const Schema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    kind: Type.Union([Type.Literal('a'), Type.Literal('b')]),
    items: Type.Array(Type.Object({ n: Type.Integer() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

describe('edge validation', () => {
  const v = validator(Schema);

  it('returns the value when it is valid', () => {
    const value = { name: 'x', kind: 'a', items: [{ n: 1 }] };
    expect(v.parse(value, 'The body')).toBe(value);
  });

  it('reports every problem with a JSON pointer and a sentence', () => {
    expect(v.check({ kind: 'c', items: [{ n: 1.5 }, { m: 1, n: 2 }], extra: true })).toEqual([
      { path: '/name', message: 'is required' },
      { path: '/extra', message: 'is not a known field' },
      { path: '/kind', message: 'must be one of "a", "b"' },
      { path: '/items/0/n', message: 'must be integer' },
      { path: '/items/1/m', message: 'is not a known field' },
    ]);
  });

  it('throws a ValidationError that carries the details', () => {
    try {
      v.parse({ name: '', kind: 'a', items: [] }, 'The body');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).status).toBe(400);
      expect((err as ValidationError).details).toEqual([{ path: '/name', message: 'must NOT have fewer than 1 characters' }]);
      expect((err as ValidationError).message).toBe('The body is invalid: /name must NOT have fewer than 1 characters.');
    }
  });

  it('coerces text only where asked (query strings)', () => {
    const q = validator(Type.Object({ limit: Type.Integer() }), { coerce: true });
    const value = { limit: '50' };
    expect(q.parse(value, 'The query')).toEqual({ limit: 50 });
    expect(validator(Type.Object({ limit: Type.Integer() })).check({ limit: '50' })).toEqual([{ path: '/limit', message: 'must be integer' }]);
  });
});

describe('numbers at the edge', () => {
  const infinity = JSON.parse('1e400') as number;

  it('refuses Infinity and NaN wherever a number or an integer is taken', () => {
    const v = validator(Type.Object({ i: Type.Integer(), n: Type.Number() }));
    for (const bad of [infinity, -infinity, Number.NaN]) {
      expect(v.check({ i: bad, n: 1 }).map((d) => d.path)).toEqual(['/i']);
      expect(v.check({ i: 1, n: bad }).map((d) => d.path)).toEqual(['/n']);
    }
    expect(v.check({ i: -3, n: 1.5 })).toEqual([]);
  });

  it('takes only safe integers where an integer has no bound of its own', () => {
    const v = validator(Type.Object({ i: Type.Integer(), capped: Type.Integer({ maximum: 10 }), nested: Type.Array(Type.Union([Type.Integer(), Type.Null()])) }));
    expect(v.check({ i: Number.MAX_SAFE_INTEGER, capped: 10, nested: [-Number.MAX_SAFE_INTEGER, null] })).toEqual([]);
    expect(v.check({ i: 2 ** 53, capped: 10, nested: [] })).toEqual([{ path: '/i', message: 'must be <= 9007199254740991' }]);
    expect([...new Set(v.check({ i: 1e300, capped: 11, nested: [-(2 ** 53)] }).map((d: { path: string }) => d.path))]).toEqual(['/i', '/capped', '/nested/0']);
  });

  it('refuses Infinity and huge integers that arrive as text in a query string', () => {
    const q = validator(Type.Object({ limit: Type.Integer() }), { coerce: true });
    for (const text of ['1e400', 'Infinity', '9007199254740993', '-1e400']) expect(q.check({ limit: text }).map((d) => d.path), text).toEqual(['/limit']);
  });
});

describe('the nesting and size of free-form JSON', () => {
  const bounded = validator(Type.Object({ ext: Type.Unknown({ 'x-maxDepth': 3, 'x-maxBytes': 100 }) }));
  const nest = (depth: number, inner: unknown = []): unknown => {
    let v: unknown = inner;
    for (let i = 1; i < depth; i++) v = [v];
    return v;
  };

  it('takes values as deep and as large as the bounds', () => {
    expect(bounded.check({ ext: { a: { b: ['x'] } } })).toEqual([]);
    expect(bounded.check({ ext: 'x'.repeat(98) })).toEqual([]);
    expect(bounded.check({ ext: 7 })).toEqual([]);
  });

  it('names the JSON path where a value nests too deep', () => {
    expect(bounded.check({ ext: { a: { b: [[1]] } } })).toEqual([{ path: '/ext/a/b/0', message: 'nests deeper than 3 levels of objects and arrays' }]);
    expect(bounded.check({ ext: { 'a/b~c': [{}, [[]]] } })).toEqual([{ path: '/ext/a~1b~0c/1/0', message: 'nests deeper than 3 levels of objects and arrays' }]);
  });

  it('refuses a value larger than its bound once serialized', () => {
    expect(bounded.check({ ext: { a: 'x'.repeat(100) } })).toEqual([{ path: '/ext', message: 'is larger than 100 bytes as JSON' }]);
    expect(bounded.check({ ext: Array.from({ length: 60 }, () => 1) })).toEqual([{ path: '/ext', message: 'is larger than 100 bytes as JSON' }]);
  });

  it('measures a value nested 500,000 deep without recursing, at once', () => {
    const deep = JSON.parse(`${'['.repeat(500_000)}${']'.repeat(500_000)}`) as unknown;
    const started = performance.now();
    expect(bounded.check({ ext: deep })).toEqual([
      { path: '/ext/0/0/0', message: 'nests deeper than 3 levels of objects and arrays' },
      { path: '/ext', message: 'is larger than 100 bytes as JSON' },
    ]);
    expect(performance.now() - started).toBeLessThan(500);
    expect(validator(Type.Unknown({ 'x-maxBytes': 2_000_000 })).check(nest(200_000))).toEqual([]);
  });
});

describe('many problems at once', () => {
  const scopes = validator(Type.Object({ scopes: Type.Array(Type.Union(['a', 'b', 'c', 'd', 'e'].map((s) => Type.Literal(s)))) }));

  it('reports 20,000 bad items of a union in linear time, listing the first 100', () => {
    const started = performance.now();
    const details = scopes.check({ scopes: Array.from({ length: 20_000 }, () => 0) });
    expect(performance.now() - started).toBeLessThan(1000);
    // each item: "must be string" and "must be one of ..."
    expect(details).toHaveLength(101);
    expect(details.slice(0, 2)).toEqual([
      { path: '/scopes/0', message: 'must be string' },
      { path: '/scopes/0', message: 'must be one of "a", "b", "c", "d", "e"' },
    ]);
    expect(details[100]).toEqual({ path: '/', message: 'and 39900 more problems, not listed' });
  });

  it('keeps the message of the error to its first problems', () => {
    try {
      scopes.parse({ scopes: Array.from({ length: 500 }, () => 'z') }, 'The body');
      expect.unreachable();
    } catch (err) {
      expect((err as ValidationError).message).toMatch(/^The body is invalid: \/scopes\/0 must be one of "a", "b", "c", "d", "e"; .*\/scopes\/4 must be one of .*; and 495 more problems\.$/);
    }
  });
});
