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
