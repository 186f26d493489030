import { Type, type Static } from '@sinclair/typebox';

/**
 * Scopes of API tokens (design section 8). `admin` implies every other scope;
 * a logged-in console session carries `admin`.
 */
export const SCOPES = ['events', 'admission', 'vmail', 'read', 'admin'] as const;
export const Scope = Type.Union(SCOPES.map((s) => Type.Literal(s)));
export type Scope = (typeof SCOPES)[number];

export const LoginRequest = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequest>;

export const LoginResponse = Type.Object({
  token: Type.String({ description: 'Bearer token for the Authorization header' }),
  expiresAt: Type.String({ format: 'date-time' }),
  username: Type.String(),
  scopes: Type.Array(Scope),
});
export type LoginResponse = Static<typeof LoginResponse>;

export const WhoAmI = Type.Object({
  kind: Type.Union([Type.Literal('session'), Type.Literal('token')]),
  name: Type.String({ description: 'user name for a session, token name for an API token' }),
  scopes: Type.Array(Scope),
  expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type WhoAmI = Static<typeof WhoAmI>;

export const TokenCreateRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f]+$' }),
    scopes: Type.Array(Scope, { minItems: 1, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type TokenCreateRequest = Static<typeof TokenCreateRequest>;

export const TokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Scope),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type TokenInfo = Static<typeof TokenInfo>;

export const TokenCreated = Type.Composite([
  TokenInfo,
  Type.Object({ token: Type.String({ description: 'the secret, shown only in this response' }) }),
]);
export type TokenCreated = Static<typeof TokenCreated>;

export const TokenList = Type.Object({ items: Type.Array(TokenInfo) });
export type TokenList = Static<typeof TokenList>;
