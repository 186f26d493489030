import { Type, type Static } from '@sinclair/typebox';

/** Every error the API returns has this one shape (design section 8). */
export const ErrorDetail = Type.Object({
  path: Type.String({ description: 'JSON path of the offending value, e.g. /instances/0/name' }),
  message: Type.String(),
});
export type ErrorDetail = Static<typeof ErrorDetail>;

export const ErrorCode = Type.Union([
  Type.Literal('invalid_request'),
  Type.Literal('invalid_json'),
  Type.Literal('unauthorized'),
  Type.Literal('forbidden'),
  Type.Literal('not_found'),
  Type.Literal('conflict'),
  Type.Literal('payload_too_large'),
  Type.Literal('rate_limited'),
  Type.Literal('unavailable'),
  Type.Literal('internal'),
]);
export type ErrorCode = Static<typeof ErrorCode>;

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: ErrorCode,
      message: Type.String(),
      details: Type.Optional(Type.Array(ErrorDetail)),
    }),
  },
  { $id: 'Error' },
);
export type ErrorBody = Static<typeof ErrorBody>;
