import type { TSchema } from '@sinclair/typebox';
import { ErrorBody } from '../../shared/api/errors.js';
import type { RouteDef } from './route.js';

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request: every problem is listed in error.details',
  401: 'Not authenticated',
  403: 'The credential lacks the scope this route needs',
  404: 'Not found',
  409: 'Conflict',
  413: 'Request body too large',
  429: 'Too many requests',
  503: 'Unavailable',
};

/** Strips TypeBox's symbol keys and `$id`s so each schema can sit inline in the document. */
function plain(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema, (key, value: unknown) => (key === '$id' ? undefined : value)));
}

function parametersOf(schema: TSchema | undefined, where: 'path' | 'query'): unknown[] {
  const props = (schema?.['properties'] ?? {}) as Record<string, TSchema>;
  const required = new Set((schema?.['required'] as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: plain(s),
    ...(typeof s['description'] === 'string' ? { description: s['description'] } : {}),
  }));
}

/** The OpenAPI 3.1 document, built from the same route definitions that validate requests. */
export function buildOpenApi(routes: readonly RouteDef[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const status = r.status ?? (r.response ? 200 : 204);
    const responses: Record<string, unknown> = {
      [status]: r.response
        ? { description: 'OK', content: { 'application/json': { schema: plain(r.response) } } }
        : r.produces
          ? { description: 'OK', content: { [r.produces]: { schema: { type: 'string' } } } }
          : { description: 'No content' },
    };
    const errors = new Set<number>(r.errors ?? []);
    if (r.body || r.query || r.params) errors.add(400);
    if (r.auth !== 'public') {
      errors.add(401);
      errors.add(403);
    }
    if (r.body || r.rawBody) errors.add(413);
    for (const code of [...errors].sort()) {
      responses[code] = { description: ERROR_TEXT[code] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary,
      tags: [r.tag],
      ...(r.auth === 'public' ? { security: [] } : { 'x-required-scope': r.auth }),
      parameters: [...parametersOf(r.params, 'path'), ...parametersOf(r.query, 'query')],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: plain(r.body) } } } } : {}),
      ...(r.rawBody && r.bodyDoc ? { requestBody: { required: true, content: Object.fromEntries(r.rawBody.types.map((t) => [t, { schema: plain(r.bodyDoc as TSchema) }])) } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sitecall API',
      version,
      description: 'Call records, active calls and voicemail of a Sitecall appliance. Authenticate with `Authorization: Bearer <token>` from /api/v1/auth/login or an API token.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: plain(ErrorBody) },
    },
    paths,
  };
}
