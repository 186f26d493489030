/**
 * The operations an OpenAPI 3.x document lists, in the shape the fuzz suite walks: whatever the
 * document describes (parameters, request bodies and their media types) is what gets attacked,
 * so the suite covers more as the document grows.
 */

export type JsonSchema = Record<string, unknown>;

export interface OperationParam {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** OpenAPI form: /api/v1/calls/{id} */
  path: string;
  operationId?: string;
  /** the scope the document says the operation needs; 'public' when it needs none */
  scope: string;
  params: OperationParam[];
  /** media type → schema of each documented request body */
  bodies: { mediaType: string; schema: JsonSchema }[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

interface DocOperation {
  operationId?: string;
  security?: unknown[];
  'x-required-scope'?: string;
  parameters?: ({ $ref?: string } & Partial<OperationParam>)[];
  requestBody?: { $ref?: string; content?: Record<string, { schema?: JsonSchema }> };
}

interface Doc {
  paths: Record<string, Record<string, DocOperation> & { parameters?: DocOperation['parameters'] }>;
  components?: Record<string, Record<string, unknown>>;
}

/** Follows a local `$ref` (#/components/...) once; anything else is returned as it is. */
function deref<T>(doc: Doc, node: T): T {
  const ref = (node as { $ref?: unknown } | undefined)?.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return node;
  let at: unknown = doc;
  for (const part of ref.slice(2).split('/')) at = (at as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return (at ?? node) as T;
}

export function operationsOf(docValue: unknown): Operation[] {
  const doc = docValue as Doc;
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])]
        .map((p) => deref(doc, p))
        .filter((p): p is OperationParam => typeof p.name === 'string' && (p.in === 'path' || p.in === 'query' || p.in === 'header'))
        .map((p) => ({ name: p.name, in: p.in, required: p.in === 'path' || p.required === true, schema: deref(doc, p.schema ?? {}) }));
      const body = deref(doc, op.requestBody);
      const bodies = Object.entries(body?.content ?? {}).map(([mediaType, c]) => ({ mediaType, schema: resolveRefs(doc, c.schema ?? {}) }));
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      ops.push({ method: method.toUpperCase(), path, ...(op.operationId ? { operationId: op.operationId } : {}), scope: isPublic ? 'public' : (op['x-required-scope'] ?? 'admin'), params, bodies });
    }
  }
  return ops;
}

/** A schema with its local `$ref`s followed (to a small depth: enough to make samples). */
function resolveRefs(doc: Doc, schema: JsonSchema, depth = 0): JsonSchema {
  const resolved = deref(doc, schema);
  if (depth > 6 || typeof resolved !== 'object' || resolved === null) return resolved;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(resolved)) {
    if (key === 'properties' && typeof value === 'object' && value !== null) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(doc, v as JsonSchema, depth + 1)]));
    } else if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object' && value !== null) {
      out[key] = resolveRefs(doc, value as JsonSchema, depth + 1);
    } else if ((key === 'anyOf' || key === 'oneOf' || key === 'allOf') && Array.isArray(value)) {
      out[key] = value.map((v) => resolveRefs(doc, v as JsonSchema, depth + 1));
    } else out[key] = value;
  }
  return out;
}
