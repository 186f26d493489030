import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { CallScript } from '../support/call-events.js';
import { eventually } from '../support/events-client.js';
import { documentAjv, HTTP_METHODS, officialSchemaProblems, semanticProblems, strictSchemaProblems } from '../support/openapi-check.js';
import { login, startService, type RunningTestService } from '../support/service.js';
import { makeWav, vmailClient } from '../support/vmail.js';

type Json = Record<string, any>;
type Method = (typeof HTTP_METHODS)[number];

/** A JSON pointer segment (RFC 6901). */
const seg = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const baseType = (contentType: string | null) => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

interface Operation {
  path: string;
  method: Method;
  op: Json;
}

function operationsOf(doc: Json): Operation[] {
  return Object.entries<Json>(doc['paths']).flatMap(([path, item]) => HTTP_METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method] as Json })));
}

/** A value for a path parameter that its schema accepts, so that a probe reaches the route. */
function sampleOf(schema: Json): string {
  const options = (schema['anyOf'] as Json[] | undefined)?.map((s) => s['const']).filter((c) => typeof c === 'string');
  if (options?.length) return options[0] as string;
  if (typeof schema['pattern'] === 'string' && schema['pattern'].includes('[0-9a-f]{8}-')) return '0b9c3e52-7d1a-4c3e-9f00-0123456789ab';
  return 'abc1';
}

function urlOf(o: Operation): string {
  return o.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const p = (o.op['parameters'] as Json[]).find((x) => x['in'] === 'path' && x['name'] === name);
    return encodeURIComponent(sampleOf(p?.['schema'] ?? {}));
  });
}

/**
 * Opens a WebSocket; resolves with the socket and the messages it receives (collected from the
 * first, which can arrive with the handshake), or with the HTTP status the upgrade was refused with.
 */
function openWs(url: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; messages: Json[]; status?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: Json[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Json));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, messages }));
    });
    ws.once('error', reject);
  });
}

describe('the OpenAPI document', () => {
  let svc: RunningTestService;
  let admin: string;
  let doc: Json;
  let ops: Operation[];
  const tokens: Record<'events' | 'read' | 'vmail' | 'admission', string> = { events: '', read: '', vmail: '', admission: '' };
  /** validates a value against the schema at a pointer of the document, references resolved */
  let validateAt: (pointer: string, value: unknown) => string[];

  const opAt = (path: string, method: Method): Json => {
    const op = doc['paths'][path]?.[method] as Json | undefined;
    if (!op) throw new Error(`the document has no ${method.toUpperCase()} ${path}`);
    return op;
  };
  const pointerOf = (path: string, method: Method, ...rest: string[]) => ['', 'paths', path, method, ...rest].map(seg).join('/');

  /** Checks a real answer against the document: status listed, media type listed, body valid for the schema. */
  function expectDocumented(path: string, method: Method, status: number, contentType: string | null, body: unknown): void {
    const responses = opAt(path, method)['responses'] as Json;
    const documented = responses[String(status)] ? String(status) : responses['default'] ? 'default' : undefined;
    expect(documented, `${method.toUpperCase()} ${path} answered ${status}, which the document does not list`).toBeDefined();
    const content = responses[documented!]['content'] as Json | undefined;
    if (!content) {
      expect(body === undefined || body === '', `${method.toUpperCase()} ${path} ${status} has a body the document says it has not`).toBe(true);
      return;
    }
    const type = baseType(contentType);
    expect(Object.keys(content), `${method.toUpperCase()} ${path} ${status} answered ${type}`).toContain(type);
    if (type === 'application/json' && content[type]['schema']) {
      expect(validateAt(pointerOf(path, method, 'responses', documented!, 'content', type, 'schema'), body), `${method.toUpperCase()} ${path} ${status}`).toEqual([]);
    }
  }

  beforeAll(async () => {
    svc = await startService();
    admin = await login(svc);
    const api = apiClient(svc.url, admin);
    const res = await api.get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body as Json;
    ops = operationsOf(doc);
    for (const scope of Object.keys(tokens) as (keyof typeof tokens)[]) {
      tokens[scope] = (await api.post('/api/v1/tokens', { name: `openapi-${scope}`, scopes: [scope] })).body.token as string;
    }
    const { compileAt } = documentAjv(doc, { strict: false });
    validateAt = (pointer, value) => {
      const validate = compileAt(pointer);
      return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
    };
  });
  afterAll(async () => {
    expect(await svc.stop()).toBe(0);
  });

  describe('validity', () => {
    it('passes the published OAS 3.1 schema, a strict compile of every Schema Object, and the rules beyond the schema', () => {
      expect(officialSchemaProblems(doc)).toEqual([]);
      expect(strictSchemaProblems(doc)).toEqual([]);
      expect(semanticProblems(doc)).toEqual([]);
    });

    it('each of the three checks refuses a document broken in the way it is there for', () => {
      const broken = (change: (d: Json) => void): Json => {
        const copy = structuredClone(doc);
        change(copy);
        return copy;
      };
      const statusJson = (d: Json): Json => d['paths']['/api/v1/status']['get']['responses']['200']['content']['application/json'];
      // a Schema Object that is not JSON Schema: only the dialect, through $dynamicRef, sees it
      expect(officialSchemaProblems(broken((d) => (statusJson(d)['schema'] = { type: 'strin' })))).not.toEqual([]);
      expect(officialSchemaProblems(broken((d) => (d['paths']['/api/v1/status']['get']['responses'] = { '200': {} })))).not.toEqual([]);
      // a misspelt keyword is valid JSON Schema (unknown keywords are allowed) but not in strict mode
      const misspelt = broken((d) => (statusJson(d)['schema'] = { type: 'string', maxLenght: 3 }));
      expect(officialSchemaProblems(misspelt)).toEqual([]);
      expect(strictSchemaProblems(misspelt)).not.toEqual([]);
      // a dangling reference and a reused operationId are valid for both schemas
      const dangling = broken((d) => (statusJson(d)['schema'] = { $ref: '#/components/schemas/NoSuchThing' }));
      expect(officialSchemaProblems(dangling)).toEqual([]);
      expect(semanticProblems(dangling)).toEqual([expect.stringMatching(/NoSuchThing does not resolve/)]);
      const reused = broken((d) => {
        d['paths']['/api/v1/status']['get']['operationId'] = 'same';
        d['paths']['/healthz']['get']['operationId'] = 'same';
      });
      expect(officialSchemaProblems(reused)).toEqual([]);
      expect(semanticProblems(reused)).toEqual([expect.stringMatching(/operationId same also names/)]);
      expect(semanticProblems(broken((d) => delete d['paths']['/api/v1/tokens/{id}']['delete']['parameters']))).toEqual([expect.stringMatching(/\{id\} has no path parameter/)]);
    });
  });

  describe('operations', () => {
    it('names every operation with a unique, camelCase operationId', () => {
      const ids = ops.map((o) => o.op['operationId'] as unknown);
      const missing = ops.filter((o) => typeof o.op['operationId'] !== 'string').map((o) => `${o.method.toUpperCase()} ${o.path}`);
      expect(missing).toEqual([]);
      for (const id of ids) expect(id).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('lists only operations the service serves: each probe reaches its route (401 without a token, the error as documented)', async () => {
      const http = ops.filter((o) => !o.op['x-websocket']);
      expect(http.length).toBeGreaterThan(40);
      for (const o of http) {
        const res = await fetch(svc.url + urlOf(o), { method: o.method.toUpperCase() });
        const text = await res.text();
        const what = `${o.method.toUpperCase()} ${o.path}`;
        // the fallbacks after every route answer "No API route ..." and "Nothing at ..."
        expect(text, what).not.toMatch(/No API route|Nothing at/);
        if (o.op['security']?.length === 0) continue;
        expect(res.status, what).toBe(401);
        expect(res.headers.get('www-authenticate'), what).toMatch(/^Bearer/);
        expectDocumented(o.path, o.method, res.status, res.headers.get('content-type'), JSON.parse(text));
      }
    });

    it('leaves out no method the service serves on a documented path', async () => {
      for (const [path, item] of Object.entries<Json>(doc['paths'])) {
        if (Object.values(item).some((op) => (op as Json)['x-websocket'])) continue;
        const sample = operationsOf({ paths: { [path]: item } })[0]!;
        for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
          if (item[method]) continue;
          const res = await fetch(svc.url + urlOf(sample), { method: method.toUpperCase() });
          expect(`${method.toUpperCase()} ${path} → ${res.status} ${await res.text()}`).toMatch(/→ 404 .*(No API route|Nothing at)/);
        }
      }
    });

    it('states the scope the service asks for: a token without it is refused with 403 as documented', async () => {
      for (const o of ops.filter((x) => !x.op['x-websocket'] && x.op['security']?.length !== 0)) {
        const scope = o.op['x-required-scope'] as string;
        expect(['events', 'admission', 'vmail', 'read', 'admin'], `${o.method} ${o.path}`).toContain(scope);
        const without = scope === 'vmail' ? tokens.read : tokens.vmail;
        const res = await fetch(svc.url + urlOf(o), { method: o.method.toUpperCase(), headers: { authorization: `Bearer ${without}` } });
        expect(res.status, `${o.method.toUpperCase()} ${o.path} with a token lacking ${scope}`).toBe(403);
        expectDocumented(o.path, o.method, 403, res.headers.get('content-type'), await res.json());
      }
    });

    it('lists 400 with the error schema on every operation that takes input, and 401/403 on every one that needs a token', () => {
      for (const o of ops.filter((x) => !x.op['x-websocket'])) {
        const what = `${o.method.toUpperCase()} ${o.path}`;
        const takesInput = (o.op['parameters'] as Json[]).some((p) => p['in'] !== 'header') || o.op['requestBody'];
        const responses = o.op['responses'] as Json;
        if (takesInput) expect(responses['400'], what).toBeDefined();
        if (o.op['security']?.length !== 0) expect([responses['401'], responses['403']].every(Boolean), what).toBe(true);
        for (const [status, r] of Object.entries<Json>(responses)) {
          if (Number(status) >= 400) expect(Object.keys(r['content'] ?? {}), `${what} ${status}`).toEqual(['application/json']);
        }
      }
    });

    it('puts Retry-After on every 429 and 503 (but the health probe\'s, which answers its Health body)', () => {
      let seen = 0;
      for (const o of ops.filter((x) => x.path !== '/healthz')) {
        for (const status of ['429', '503']) {
          const r = o.op['responses'][status] as Json | undefined;
          if (!r) continue;
          seen++;
          expect(r['headers']?.['Retry-After']?.['schema'], `${o.method.toUpperCase()} ${o.path} ${status}`).toMatchObject({ type: 'integer' });
        }
      }
      expect(seen).toBeGreaterThan(20);
    });

    it('has no content under 204, and a schema under every JSON answer', () => {
      for (const o of ops) {
        for (const [status, r] of Object.entries<Json>(o.op['responses'])) {
          if (status === '204') expect(r['content'], `${o.method.toUpperCase()} ${o.path}`).toBeUndefined();
          if (r['content']?.['application/json']) expect(r['content']['application/json']['schema'], `${o.method.toUpperCase()} ${o.path} ${status}`).toBeDefined();
        }
      }
    });
  });

  describe('bodies and answers that are not JSON', () => {
    it('describes the voicemail deposit: multipart/form-data with the WAV in "audio" and the text fields with their limits', () => {
      const body = opAt('/api/v1/domains/{domain}/mailboxes/{box}/messages', 'post')['requestBody'] as Json;
      expect(body['required']).toBe(true);
      expect(Object.keys(body['content'])).toEqual(['multipart/form-data']);
      const form = body['content']['multipart/form-data'] as Json;
      expect(form['schema']['required']).toEqual(['audio']);
      expect(form['schema']['additionalProperties']).toBe(false);
      expect(form['schema']['properties']['audio']).toMatchObject({ contentMediaType: 'audio/wav' });
      expect(form['schema']['properties']['callerNumber']).toMatchObject({ type: 'string', maxLength: 64 });
      expect(form['schema']['properties']['callerName']).toMatchObject({ type: 'string', maxLength: 128 });
      expect(form['schema']['properties']['callId']).toMatchObject({ type: 'string', maxLength: 256 });
      expect(form['schema']['properties']['urgent']['anyOf'].map((s: Json) => s['const'])).toEqual(['true', 'false', '1', '0', '']);
      expect(form['encoding']['audio']['contentType']).toMatch(/audio\/wav/);
      expect(body['x-max-bytes']).toBe(20 * 1024 * 1024);
    });

    it('describes the greeting upload: a raw WAV body or the same multipart form', () => {
      const body = opAt('/api/v1/domains/{domain}/mailboxes/{box}/greetings/{kind}', 'put')['requestBody'] as Json;
      expect(Object.keys(body['content'])).toEqual(expect.arrayContaining(['audio/wav', 'audio/x-wav', 'application/octet-stream', 'multipart/form-data']));
      expect(body['content']['multipart/form-data']['schema']['required']).toEqual(['audio']);
    });

    it('describes an event batch as JSON (one event or an array) or NDJSON (one event per line)', () => {
      const body = opAt('/api/v1/events', 'post')['requestBody'] as Json;
      expect(Object.keys(body['content'])).toEqual(expect.arrayContaining(['application/json', 'application/x-ndjson']));
      expect(body['content']['application/x-ndjson']['x-item-schema']).toEqual({ $ref: '#/components/schemas/CallEvent' });
      expect(body['x-max-bytes']).toBe(8 * 1024 * 1024);
    });

    it('documents the deposit’s Idempotency-Key header and answers as documented: a replay, a reused key, a malformed key', async () => {
      const op = opAt('/api/v1/domains/{domain}/mailboxes/{box}/messages', 'post');
      const header = (op['parameters'] as Json[]).find((p) => p['in'] === 'header' && p['name'] === 'Idempotency-Key');
      expect(header).toMatchObject({ required: false, schema: { type: 'string', pattern: expect.any(String) }, description: expect.stringMatching(/24 h/) });
      expect(op['responses']['201']['headers']['Idempotent-Replayed']).toBeDefined();
      expect(Object.keys(op['responses'])).toEqual(expect.arrayContaining(['400', '409', '422']));
      const vm = vmailClient(svc.url, admin, 'openapi.example');
      expect((await vm.createMailbox({ number: '301', name: 'Keys' })).status).toBe(201);
      const path = `/api/v1/domains/openapi.example/mailboxes/301/messages`;
      const send = (key: string, wav: Buffer) => {
        const form = new FormData();
        form.append('audio', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'm.wav');
        return vm.call('POST', `${svc.url}${path}`, { body: form, headers: { 'idempotency-key': key } });
      };
      const wav = makeWav(0.3);
      for (const [res, status] of [
        [await send('doc-key', wav), 201],
        [await send('doc-key', wav), 201],
        [await send('doc-key', makeWav(0.3)), 422],
        [await send('two keys', wav), 400],
      ] as const) {
        expect(res.status).toBe(status);
        expectDocumented('/api/v1/domains/{domain}/mailboxes/{box}/messages', 'post', res.status, res.headers.get('content-type'), res.body);
      }
    });

    it('serves audio as documented: 200 whole, 206 for a Range, with Accept-Ranges and Content-Range', async () => {
      const vm = vmailClient(svc.url, admin, 'openapi.example');
      expect((await vm.createMailbox({ number: '300', name: 'Docs' })).status).toBe(201);
      const deposit = await vmailClient(svc.url, tokens.vmail, 'openapi.example').deposit('300', makeWav(1), { callerNumber: '+4930123' });
      expectDocumented('/api/v1/domains/{domain}/mailboxes/{box}/messages', 'post', deposit.status, deposit.headers.get('content-type'), deposit.body);
      expect(deposit.status).toBe(201);
      const path = '/api/v1/domains/{domain}/mailboxes/{box}/messages/{id}/audio';
      const op = opAt(path, 'get');
      expect((op['parameters'] as Json[]).find((p) => p['in'] === 'header' && p['name'] === 'Range')).toBeDefined();

      const whole = await vm.audio('300', deposit.body.id);
      expect(whole.status).toBe(200);
      expectDocumented(path, 'get', 200, whole.headers.get('content-type'), undefined);
      for (const h of ['Accept-Ranges', 'Content-Length']) expect(op['responses']['200']['headers'][h], h).toBeDefined();
      expect(whole.headers.get('accept-ranges')).toBe('bytes');

      const part = await vm.audio('300', deposit.body.id, { range: 'bytes=0-99' });
      expect(part.status).toBe(206);
      expectDocumented(path, 'get', 206, part.headers.get('content-type'), undefined);
      for (const h of ['Accept-Ranges', 'Content-Range', 'Content-Length']) expect(op['responses']['206']['headers'][h], h).toBeDefined();
      expect(part.headers.get('content-range')).toMatch(/^bytes 0-99\/\d+$/);

      const outside = await vm.audio('300', deposit.body.id, { range: 'bytes=99999999-' });
      expect(outside.status).toBe(416);
      expectDocumented(path, 'get', 416, outside.headers.get('content-type'), outside.body);
      expect(op['responses']['416']['headers']['Content-Range']).toBeDefined();

      const greeting = await vm.call('PUT', '/300/greetings/busy', { body: new Uint8Array(makeWav(1)), headers: { 'content-type': 'audio/wav' } });
      expectDocumented('/api/v1/domains/{domain}/mailboxes/{box}/greetings/{kind}', 'put', greeting.status, greeting.headers.get('content-type'), greeting.body);
      const played = await vm.call('GET', '/300/greetings/busy', { headers: { range: 'bytes=10-' } });
      expect(played.status).toBe(206);
      expectDocumented('/api/v1/domains/{domain}/mailboxes/{box}/greetings/{kind}', 'get', 206, played.headers.get('content-type'), undefined);
    });

    it('lists CSV and NDJSON under 200 of the export, each as the service sends it', async () => {
      const path = '/api/v1/cdrs/export';
      const op = opAt(path, 'get');
      expect(op['responses']['204']).toBeUndefined();
      expect(op['responses']['200']['content']['application/x-ndjson']['x-item-schema']).toEqual({ $ref: '#/components/schemas/Cdr' });
      for (const format of ['csv', 'ndjson']) {
        const res = await fetch(`${svc.url}${path}?format=${format}`, { headers: { authorization: `Bearer ${tokens.read}` } });
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        expectDocumented(path, 'get', 200, res.headers.get('content-type'), undefined);
      }
      for (const [p, type] of [['/metrics', 'text/plain'], ['/api/v1/openapi.json', 'application/json']] as const) {
        const res = await fetch(svc.url + p, { headers: { authorization: `Bearer ${tokens.read}` } });
        const text = await res.text();
        expect(baseType(res.headers.get('content-type'))).toBe(type);
        expectDocumented(p, 'get', res.status, res.headers.get('content-type'), type === 'application/json' ? JSON.parse(text) : text);
      }
    });

    it('documents the refusal of POST /api/v1/events with the body the service really answers', async () => {
      const t0 = Date.now();
      const good = new CallScript('docs1', t0).invite(0, 'docs-call-1', '100', '200').events[0]!;
      const { id: _id, ...noId } = good;
      const res = await apiClient(svc.url, tokens.events).post('/api/v1/events', [good, { ...noId, seq: 2 }]);
      expect(res.status).toBe(400);
      expectDocumented('/api/v1/events', 'post', 400, res.headers.get('content-type'), res.body);
      const ok = await apiClient(svc.url, tokens.events).post('/api/v1/events', { ...good, id: 'docs1-2', seq: 3 });
      expectDocumented('/api/v1/events', 'post', ok.status, ok.headers.get('content-type'), ok.body);
    });

    it('shows role instances with their properties wherever a configuration is sent or answered', async () => {
      for (const [path, method, where] of [
        ['/api/v1/config/roles', 'put', ['requestBody', 'content', 'application/json', 'schema']],
        ['/api/v1/config/validate', 'post', ['requestBody', 'content', 'application/json', 'schema']],
        ['/api/v1/config/roles', 'get', ['responses', '200', 'content', 'application/json', 'schema']],
      ] as const) {
        let schema = where.reduce((node: Json, key) => node[key] as Json, opAt(path, method));
        if (schema['$ref']) schema = doc['components']['schemas'][String(schema['$ref']).split('/').pop()!];
        let items = schema['properties']['instances']['items'] as Json;
        if (items['$ref']) items = doc['components']['schemas'][String(items['$ref']).split('/').pop()!];
        expect(Object.keys(items['properties'] ?? {}), `${method} ${path}`).toEqual(expect.arrayContaining(['name', 'roletype', 'iface', 'group', 'order', 'include_domains', 'state_save']));
      }
      const api = apiClient(svc.url, admin);
      const current = await api.get('/api/v1/config/roles');
      expectDocumented('/api/v1/config/roles', 'get', current.status, current.headers.get('content-type'), current.body);
      const stale = await api.put('/api/v1/config/roles', { revision: current.body.revision + 5, instances: current.body.instances });
      expect(stale.status).toBe(409);
      expectDocumented('/api/v1/config/roles', 'put', 409, stale.headers.get('content-type'), stale.body);
      const invalid = await api.put('/api/v1/config/roles', { revision: current.body.revision, instances: [{ name: '1bad' }] });
      expect(invalid.status).toBe(400);
      expectDocumented('/api/v1/config/roles', 'put', 400, invalid.headers.get('content-type'), invalid.body);
    });
  });

  describe('WebSockets', () => {
    const wsOps = () => ops.filter((o) => o.op['x-websocket']);

    it('describes both as a GET with the 101 upgrade and their messages in components', () => {
      expect(wsOps().map((o) => o.path).sort()).toEqual(['/api/v1/events/stream', '/api/v1/live']);
      for (const o of wsOps()) {
        expect(o.method).toBe('get');
        expect(o.op['responses']['101']).toBeDefined();
        const ext = o.op['x-websocket'] as Json;
        // the live feed reads nothing from the client
        const keys = o.path === '/api/v1/live' ? ['server'] : ['client', 'server'];
        expect(Object.keys(ext['messages']).sort(), o.path).toEqual(keys);
        for (const key of keys) expect(ext['messages'][key]['$ref'], `${o.path} ${key}`).toMatch(/^#\/components\/schemas\//);
        expect(ext['maxMessageBytes']).toBeGreaterThan(0);
      }
      expect(doc['info']['description']).toMatch(/WebSocket/);
    });

    it('refuses an upgrade without a token (401) and with a token lacking the scope (403), as documented', async () => {
      const ws = svc.url.replace(/^http/, 'ws');
      for (const o of wsOps()) {
        const none = await openWs(ws + o.path);
        expect(none.status, o.path).toBe(401);
        expectDocumented(o.path, 'get', 401, 'application/json', JSON.parse(none.body!));
        const scope = o.op['x-required-scope'] as string;
        const lacking = await openWs(ws + o.path, { authorization: `Bearer ${scope === 'read' ? tokens.vmail : tokens.read}` });
        expect(lacking.status, o.path).toBe(403);
        expectDocumented(o.path, 'get', 403, 'application/json', JSON.parse(lacking.body!));
        const viaQuery = await openWs(`${ws}${o.path}?token=${encodeURIComponent(tokens[scope as 'events' | 'read'])}`);
        expect(viaQuery.ws, o.path).toBeDefined();
        viaQuery.ws!.close();
      }
    });

    it('sends and takes the messages its schemas describe', async () => {
      const ws = svc.url.replace(/^http/, 'ws');
      const schemaOf = (path: string, key: 'client' | 'server') => pointerOf(path, 'get', 'x-websocket', 'messages', key);
      const live = await openWs(`${ws}/api/v1/live`, { authorization: `Bearer ${tokens.read}` });
      const liveMessages = live.messages;
      const stream = await openWs(`${ws}/api/v1/events/stream?source=docs2`, { authorization: `Bearer ${tokens.events}` });
      const streamMessages = stream.messages;

      const script = new CallScript('docs2', Date.now()).invite(0, 'docs-call-2', '100', '200').answer(10, 'docs-call-2');
      const sent = [script.events, script.events[0], '{"not json'];
      for (const m of sent.slice(0, 2)) expect(validateAt(schemaOf('/api/v1/events/stream', 'client'), m)).toEqual([]);
      for (const m of sent) stream.ws!.send(typeof m === 'string' ? m : JSON.stringify(m));
      await eventually(async () => streamMessages.length >= 3, 10_000, 'three acks');
      expect(streamMessages[0]!['ack']).toBe(2);
      expect(streamMessages[2]!['error']).toBeDefined();
      for (const m of streamMessages) expect(validateAt(schemaOf('/api/v1/events/stream', 'server'), m), JSON.stringify(m)).toEqual([]);

      await eventually(async () => liveMessages.some((m) => m['type'] === 'changes'), 10_000, 'a live change');
      expect(liveMessages[0]!['type']).toBe('hello');
      for (const m of liveMessages) expect(validateAt(schemaOf('/api/v1/live', 'server'), m), JSON.stringify(m).slice(0, 300)).toEqual([]);
      live.ws!.close();
      stream.ws!.close();
    });
  });
});
