import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { buildOpenApi } from '../../service/api/openapi.js';
import { route, type RouteDef } from '../../service/api/route.js';

type Json = Record<string, any>;

const ping = (over: Partial<RouteDef> = {}): RouteDef =>
  route({ method: 'get', path: '/api/v1/ping', operationId: 'ping', summary: 'ping', tag: 't', auth: 'read', response: Type.Object({ ok: Type.Boolean() }), handler: () => ({ ok: true }), ...over } as RouteDef);

describe('buildOpenApi', () => {
  it('refuses a route defined twice, which would otherwise replace the first in the document', () => {
    expect(() => buildOpenApi([ping(), ping({ operationId: 'pingAgain' })], '1', [])).toThrow('GET /api/v1/ping is defined twice');
  });

  it('refuses an operationId given to two operations', () => {
    expect(() => buildOpenApi([ping(), ping({ path: '/api/v1/pong' })], '1', [])).toThrow('operationId ping names both GET /api/v1/ping and GET /api/v1/pong');
  });

  it('derives 400, 401, 403, 413 and 415 from the definition, and lets a declared error bring its own schema', () => {
    const IngestLike = Type.Object({ accepted: Type.Integer() });
    const doc = buildOpenApi(
      [
        ping({ method: 'post', operationId: 'postPing', body: Type.Object({ n: Type.Integer() }), errors: [{ status: 400, schema: IngestLike }, 429] }),
        ping({ path: '/open', operationId: 'open', auth: 'public' }),
      ],
      '1',
      [],
    ) as Json;
    const post = doc['paths']['/api/v1/ping']['post'];
    expect(Object.keys(post['responses'])).toEqual(['200', '400', '401', '403', '413', '415', '429', 'default']);
    expect(post['responses']['400']['content']['application/json']['schema']).toEqual({ type: 'object', properties: { accepted: { type: 'integer' } }, required: ['accepted'] });
    expect(post['responses']['413']['content']['application/json']['schema']).toEqual({ $ref: '#/components/schemas/Error' });
    expect(post['responses']['429']['headers']['Retry-After']['schema']).toEqual({ type: 'integer', minimum: 0 });
    expect(post['requestBody']['x-max-bytes']).toBe(1024 * 1024);
    const open = doc['paths']['/open']['get'];
    expect(open['security']).toEqual([]);
    expect(Object.keys(open['responses'])).toEqual(['200', 'default']);
  });

  it('answers a file with Range as 200 and 206 with their headers, and a route without an answer as 204 without content', () => {
    const doc = buildOpenApi(
      [
        ping({ operationId: 'file', response: undefined, produces: { 'audio/wav': {} }, ranges: true }),
        ping({ method: 'delete', operationId: 'drop', response: undefined }),
      ],
      '1',
      [],
    ) as Json;
    const file = doc['paths']['/api/v1/ping']['get'];
    expect(Object.keys(file['responses'])).toEqual(['200', '206', '401', '403', '416', 'default']);
    expect(Object.keys(file['responses']['206']['headers'])).toEqual(['Accept-Ranges', 'Content-Range', 'Content-Length', 'Content-Disposition']);
    expect(file['responses']['416']['headers']['Content-Range']).toBeDefined();
    expect(file['parameters']).toEqual([expect.objectContaining({ name: 'Range', in: 'header' })]);
    expect(doc['paths']['/api/v1/ping']['delete']['responses']['204']).toEqual({ description: 'Done; no content' });
  });
});
