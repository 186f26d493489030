import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { loopbackAddresses, rawRequest } from '../support/http-raw.js';
import { assertAlive } from '../support/liveness.js';
import { login, startService, type RunningTestService } from '../support/service.js';

/** Express and body-parser refusals come out as the API's own 4xx, never a 500 with a stack trace. */
describe('HTTP edge', () => {
  let svc: RunningTestService;
  let admin: string;
  let paramRoutes: { method: string; path: string }[];

  beforeAll(async () => {
    svc = await startService();
    admin = await login(svc);
    const doc = (await apiClient(svc.url, admin).get('/api/v1/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    paramRoutes = Object.entries(doc.paths).flatMap(([path, ops]) => (path.includes('{') ? Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })) : []));
  });
  afterAll(async () => {
    await svc.stop();
  });

  // Each request from its own address: failed logins are limited per client address.
  const nextAddress = loopbackAddresses();
  const send = async (method: string, path: string, init: { headers?: Record<string, string>; body?: Buffer | string } = {}) => {
    const res = await rawRequest(svc.url, { method, path, localAddress: nextAddress(), ...init });
    return { status: res.status, json: (res.json ?? {}) as { error?: { code: string; message: string } }, headers: res.headers };
  };

  it('refuses a path parameter with bad percent-encoding with 400 on every parameterised route, with and without a token', async () => {
    expect(paramRoutes.length).toBeGreaterThan(5);
    const logBefore = svc.logs().length;
    for (const { method, path } of paramRoutes) {
      for (const bad of ['%zz', '%c0%ae', '%', 'a%E0%A4%A']) {
        const target = path.replace(/\{[^}]+\}/g, bad);
        for (const headers of [{}, { authorization: `Bearer ${admin}` }] as Record<string, string>[]) {
          const r = await send(method, target, { headers });
          expect([r.status, r.json.error?.code], `${method} ${target}`).toEqual([400, 'invalid_request']);
          expect(r.json.error?.message).toMatch(/^The path holds a malformed percent-encoding/);
        }
      }
    }
    await assertAlive(svc, 'bad percent-encodings');
    // one short line per request, no error with a stack trace
    const logged = svc.logs().slice(logBefore);
    expect(logged).not.toContain('URIError');
    expect(logged).not.toContain('"level":50');
  });

  const login_ = JSON.stringify({ username: 'admin', password: 'not the password' });
  const json = { 'content-type': 'application/json' };

  it.each(['gzip', 'deflate', 'br', 'GZIP', 'x-gzip'])('refuses a body labelled Content-Encoding: %s that does not decode with 400', async (encoding) => {
    for (const [path, headers] of [
      ['/api/v1/auth/login', json],
      ['/api/v1/config/validate', { ...json, authorization: `Bearer ${admin}` }],
      ['/api/v1/events', { ...json, authorization: `Bearer ${admin}` }],
    ] as const) {
      const r = await send('POST', path, { headers: { ...headers, 'content-encoding': encoding }, body: login_ });
      expect([r.status, r.json.error?.code], `${encoding} on ${path}`).toEqual(encoding === 'x-gzip' ? [415, 'invalid_request'] : [400, 'invalid_request']);
    }
    await assertAlive(svc, `Content-Encoding ${encoding}`);
    expect(svc.logs()).not.toContain('incorrect header check"');
  });

  it('reads a body that is compressed as it says (the size limit counts decoded bytes)', async () => {
    for (const [encoding, pack] of [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ] as const) {
      const ok = await send('POST', '/api/v1/auth/login', { headers: { ...json, 'content-encoding': encoding }, body: pack(JSON.stringify({ username: 'admin', password: svc.adminPassword })) });
      expect(ok.status, encoding).toBe(200);
    }
    // 2 MiB of zeros in a few KiB: over the 1 MiB limit once decoded
    const bomb = gzipSync(Buffer.from(`{"username":"admin","password":"${'0'.repeat(2 * 1024 * 1024)}"}`));
    expect(bomb.length).toBeLessThan(16 * 1024);
    const big = await send('POST', '/api/v1/auth/login', { headers: { ...json, 'content-encoding': 'gzip' }, body: bomb });
    expect([big.status, big.json.error?.code]).toEqual([413, 'payload_too_large']);
  });

  it('refuses an unknown Content-Encoding and charset with 415, saying what is taken', async () => {
    const enc = await send('POST', '/api/v1/auth/login', { headers: { ...json, 'content-encoding': 'compress' }, body: login_ });
    expect([enc.status, enc.json.error?.code]).toEqual([415, 'invalid_request']);
    expect(enc.json.error?.message).toMatch(/gzip, deflate, br/);
    expect(enc.headers['accept-encoding']).toMatch(/^gzip, deflate, br/);
    const charset = await send('POST', '/api/v1/auth/login', { headers: { 'content-type': 'application/json; charset=latin2' }, body: login_ });
    expect([charset.status, charset.json.error?.code]).toEqual([415, 'invalid_request']);
    expect(charset.json.error?.message).toMatch(/UTF-8/);
  });

  it('refuses a body of another media type with 415 naming the one taken', async () => {
    for (const [path, type] of [
      ['/api/v1/auth/login', 'text/plain'],
      ['/api/v1/auth/login', 'application/x-www-form-urlencoded'],
      ['/api/v1/config/validate', 'multipart/form-data; boundary=x'],
      ['/api/v1/events', 'text/csv'],
    ] as const) {
      const r = await send('POST', path, { headers: { 'content-type': type, authorization: `Bearer ${admin}` }, body: login_ });
      expect([r.status, r.json.error?.code], `${type} on ${path}`).toEqual([415, 'invalid_request']);
      expect(r.json.error?.message).toMatch(/^Send the request body as application\/json/);
    }
    const missing = await send('POST', '/api/v1/auth/login', { body: login_ });
    expect([missing.status, missing.json.error?.message]).toEqual([415, 'Send the request body as application/json (its Content-Type is missing).']);
  });

  it('refuses malformed JSON with 400 and names the problem', async () => {
    for (const body of ['{"username":', '[1,2', '"text"', 'nul', '{"a":1}}']) {
      const r = await send('POST', '/api/v1/auth/login', { headers: json, body });
      expect([r.status, r.json.error?.code], body).toEqual([400, 'invalid_json']);
    }
  });
});
