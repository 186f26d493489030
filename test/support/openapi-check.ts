import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { EXTENSION_KEYWORDS } from '../../service/validation.js';

/**
 * Three independent checks of an OpenAPI 3.1 document, each catching what the others cannot:
 *
 * 1. `officialSchemaProblems`: the OpenAPI Initiative's own JSON Schemas for 3.1 (oas-3.1/, copied
 *    verbatim as published: schema 2025-09-15, dialect and vocabulary 2024-11-10; Apache-2.0), run
 *    by Ajv's 2020-12 validator. This checks the document's structure and every Schema Object
 *    against the OAS dialect (the JSON Schema 2020-12 meta-schema and the OAS keywords).
 * 2. `strictSchemaProblems`: every Schema Object compiled by Ajv in strict mode with the whole
 *    document as its root, so that `$ref`s resolve as a client's code generator would resolve them;
 *    strict mode refuses unknown keywords, which a meta-schema lets through.
 * 3. `semanticProblems`: the rules of the specification that no JSON Schema expresses (what
 *    swagger-parser adds to schema validation): every `$ref` resolves, path templates and path
 *    parameters match one for one, operationIds are unique, parameters are unique per location,
 *    security requirements name declared schemes.
 *
 * Each returns a list of problems, empty when the document passes.
 */

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const OAS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'oas-3.1');
const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(join(OAS_DIR, file), 'utf8')) as Record<string, unknown>;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Json = Record<string, any>;

function formatErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
}

const DIALECT = 'https://spec.openapis.org/oas/3.1/dialect/2024-11-10';
/** RFC 9110 media ranges, the one format of the OAS schema that ajv-formats does not know */
const MEDIA_RANGE = /^(\*\/\*|[!#$%&'*+.^_`|~0-9A-Za-z-]+\/(\*|[!#$%&'*+.^_`|~0-9A-Za-z-]+))(\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=("[^"]*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+))*$/;

let official: ValidateFunction | undefined;

/**
 * Check 1: the published OAS 3.1 schema, with Schema Object validation. The published schema-base
 * makes the schema's `$dynamicRef: "#meta"` resolve to the OAS dialect (JSON Schema 2020-12 plus
 * the OAS vocabulary), through a `$dynamicAnchor` in its `$defs`; Ajv resolves a dynamic reference
 * only to an anchor at a resource's root, so here the reference is bound to the dialect directly,
 * which is what schema-base makes it resolve to.
 */
export function officialSchemaProblems(doc: unknown): string[] {
  if (!official) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
    addFormats(ajv);
    ajv.addFormat('media-range', MEDIA_RANGE);
    ajv.addSchema(readJson('meta-2024-11-10.json'));
    ajv.addSchema(readJson('dialect-2024-11-10.json'));
    const text = readFileSync(join(OAS_DIR, 'schema-2025-09-15.json'), 'utf8');
    const bound = text.replaceAll('"$dynamicRef": "#meta"', `"$ref": "${DIALECT}"`);
    if (bound === text) throw new Error('the OAS schema has no $dynamicRef "#meta" to bind: check the copy in oas-3.1/');
    official = ajv.compile(JSON.parse(bound) as object);
  }
  return official(doc) ? [] : formatErrors(official.errors);
}

/** A JSON pointer segment (RFC 6901). */
const seg = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Walks the document and yields every Schema Object with its JSON pointer. */
export function* schemaObjects(doc: Json): Generator<[string, unknown]> {
  for (const [name, s] of Object.entries<unknown>(doc['components']?.['schemas'] ?? {})) yield [`/components/schemas/${seg(name)}`, s];
  const media = function* (at: string, content: Json | undefined): Generator<[string, unknown]> {
    for (const [type, m] of Object.entries<Json>(content ?? {})) {
      if (m['schema'] !== undefined) yield [`${at}/content/${seg(type)}/schema`, m['schema']];
      for (const [k, v] of Object.entries<unknown>(m)) if (k.startsWith('x-')) yield [`${at}/content/${seg(type)}/${seg(k)}`, v];
    }
  };
  for (const [path, item] of Object.entries<Json>(doc['paths'] ?? {})) {
    for (const method of HTTP_METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const at = `/paths/${seg(path)}/${method}`;
      for (const [i, p] of (op['parameters'] ?? []).entries()) if (p['schema'] !== undefined) yield [`${at}/parameters/${i}/schema`, p['schema']];
      if (op['requestBody']) yield* media(`${at}/requestBody`, op['requestBody']['content']);
      for (const [status, r] of Object.entries<Json>(op['responses'] ?? {})) {
        yield* media(`${at}/responses/${status}`, r['content']);
        for (const [h, header] of Object.entries<Json>(r['headers'] ?? {})) if (header['schema'] !== undefined) yield [`${at}/responses/${status}/headers/${seg(h)}/schema`, header['schema']];
      }
      const ws = op['x-websocket'] as Json | undefined;
      for (const [k, v] of Object.entries<unknown>(ws?.['messages'] ?? {})) yield [`${at}/x-websocket/messages/${seg(k)}`, v];
    }
  }
}

const COMPONENT_REF = '#/components/schemas/';
const componentId = (name: string) => `urn:sitecall:schema:${encodeURIComponent(name)}`;

/** A copy of a Schema Object with each `#/components/schemas/X` reference turned into the id of X. */
function withComponentIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withComponentIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node as Json).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith(COMPONENT_REF) ? componentId(decodeURIComponent(v.slice(COMPONENT_REF.length))) : withComponentIds(v)]),
  );
}

/**
 * An Ajv that resolves the document's references as a client's code generator would: each
 * component schema is a schema resource of its own (compiled once, however often it is referred
 * to), and `compileAt` compiles the Schema Object at a JSON pointer of the document.
 */
export function documentAjv(doc: Json, opts: { strict: boolean }): { ajv: Ajv2020; compileAt(pointer: string): ValidateFunction } {
  const ajv = new Ajv2020({ allErrors: true, strict: opts.strict, validateFormats: true });
  // the service's own bounds on free-form JSON: known to this check, enforced by service/validation.ts
  for (const keyword of EXTENSION_KEYWORDS) ajv.addKeyword({ keyword, schemaType: 'number' });
  addFormats(ajv);
  // the OAS dialect's own keywords are annotations
  ajv.addVocabulary(['discriminator', 'xml', 'externalDocs', 'example']);
  for (const [name, schema] of Object.entries<unknown>(doc['components']?.['schemas'] ?? {})) {
    ajv.addSchema(typeof schema === 'object' && schema !== null ? { ...(withComponentIds(schema) as Json), $id: componentId(name) } : (schema as boolean), componentId(name));
  }
  const compiled = new Map<string, ValidateFunction>();
  return {
    ajv,
    compileAt(pointer) {
      let validate = compiled.get(pointer);
      if (!validate) {
        const schema = resolvePointer(doc, `#${pointer}`);
        if (schema === undefined) throw new Error(`nothing at ${pointer}`);
        validate = ajv.compile(withComponentIds(schema) as Json);
        compiled.set(pointer, validate);
      }
      return validate;
    },
  };
}

/** Check 2: every Schema Object compiles in Ajv's strict mode, references resolved in the document. */
export function strictSchemaProblems(doc: Json): string[] {
  let compileAt: (pointer: string) => ValidateFunction;
  try {
    compileAt = documentAjv(doc, { strict: true }).compileAt;
  } catch (err) {
    return [`the component schemas do not load: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  for (const [pointer] of schemaObjects(doc)) {
    try {
      compileAt(pointer);
    } catch (err) {
      problems.push(`${pointer}: ${(err as Error).message}`);
    }
  }
  return problems;
}

function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

/** Check 3: the rules of the specification beyond its schema. */
export function semanticProblems(doc: Json): string[] {
  const problems: string[] = [];
  const refs = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => refs(n, `${at}/${i}`));
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node as Json)) {
      if (k === '$ref' && typeof v === 'string' && resolvePointer(doc, v) === undefined) problems.push(`${at}: $ref ${v} does not resolve`);
      else refs(v, `${at}/${k}`);
    }
  };
  refs(doc, '');

  const schemes = new Set(Object.keys(doc['components']?.['securitySchemes'] ?? {}));
  const checkSecurity = (security: Json[] | undefined, at: string) => {
    for (const req of security ?? []) for (const name of Object.keys(req)) if (!schemes.has(name)) problems.push(`${at}: security scheme ${name} is not declared`);
  };
  checkSecurity(doc['security'], '/security');

  const operationIds = new Map<string, string>();
  const templates = new Map<string, string>();
  for (const [path, item] of Object.entries<Json>(doc['paths'] ?? {})) {
    const template = path.replace(/\{[^}]+\}/g, '{}');
    if (templates.has(template)) problems.push(`${path}: same template as ${templates.get(template)}`);
    templates.set(template, path);
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const method of HTTP_METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const at = `${method.toUpperCase()} ${path}`;
      const id = op['operationId'] as string | undefined;
      if (id !== undefined) {
        if (operationIds.has(id)) problems.push(`${at}: operationId ${id} also names ${operationIds.get(id)}`);
        operationIds.set(id, at);
      }
      const params = [...(item['parameters'] ?? []), ...(op['parameters'] ?? [])].map((p: Json) => (p['$ref'] ? (resolvePointer(doc, p['$ref']) as Json) : p));
      const seen = new Set<string>();
      for (const p of params) {
        const key = `${p['in']}:${p['in'] === 'header' ? String(p['name']).toLowerCase() : p['name']}`;
        if (seen.has(key)) problems.push(`${at}: parameter ${key} is declared twice`);
        seen.add(key);
        if (p['in'] === 'path' && !inPath.includes(p['name'])) problems.push(`${at}: path parameter ${p['name']} is not in the path`);
        if (p['in'] === 'path' && p['required'] !== true) problems.push(`${at}: path parameter ${p['name']} must be required`);
      }
      for (const name of inPath) if (!params.some((p) => p['in'] === 'path' && p['name'] === name)) problems.push(`${at}: {${name}} has no path parameter`);
      checkSecurity(op['security'], at);
      const statuses = Object.keys(op['responses'] ?? {});
      if (!statuses.some((s) => /^[123]/.test(s))) problems.push(`${at}: no success response`);
      for (const s of statuses) {
        const content = (op['responses'][s] as Json)['content'] as Json | undefined;
        if ((s === '204' || s === '304' || s === '101') && content) problems.push(`${at}: ${s} must not have content`);
      }
    }
  }
  return problems;
}
