import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join, relative } from 'node:path';
import type { AudioEncoding } from '../../shared/api/vmail.js';
import { wavHeader } from '../../service/vmail/wav.js';

/** A WAV of `seconds` of random samples (random, so byte-for-byte comparisons mean something). */
export function makeWav(seconds: number, encoding: AudioEncoding = 'pcm_s16le', sampleRate = 8000): Buffer {
  const bytes = Math.round(seconds * sampleRate) * (encoding === 'pcm_s16le' ? 2 : 1);
  return Buffer.concat([wavHeader({ encoding, sampleRate, channels: 1 }, bytes), randomBytes(bytes)]);
}

export interface DepositFields {
  callerNumber?: string;
  callerName?: string;
  callId?: string;
  urgent?: string;
}

/** A JSON + multipart client of the vmail API for one domain. */
export function vmailClient(url: string, token: string, domain = 'office.example') {
  const base = (d = domain) => `${url}/api/v1/domains/${d}/mailboxes`;
  async function call(method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}) {
    const stream = init.body instanceof ReadableStream;
    // a stream body needs half-duplex in Node's fetch (not in the DOM typings)
    const req = { method, headers: { authorization: `Bearer ${token}`, ...init.headers }, ...(init.body !== undefined ? { body: init.body } : {}), ...(stream ? { duplex: 'half' } : {}) } as RequestInit;
    const res = await fetch(path.startsWith('http') ? path : `${base()}${path}`, req);
    const buf = Buffer.from(await res.arrayBuffer());
    let body: any;
    try {
      body = JSON.parse(buf.toString('utf8'));
    } catch {
      body = undefined;
    }
    return { status: res.status, headers: res.headers, body, bytes: buf };
  }
  const json = (method: string, path: string, value?: unknown) => call(method, path, value === undefined ? {} : { body: JSON.stringify(value), headers: { 'content-type': 'application/json' } });
  return {
    base,
    call,
    json,
    createMailbox: (body: Record<string, unknown>) => json('POST', '', body),
    deposit(box: string, wav: Buffer, fields: DepositFields = {}, d = domain) {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      form.append('audio', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'message.wav');
      return call('POST', `${base(d)}/${box}/messages`, { body: form });
    },
    list: (box: string, query = '') => json('GET', `/${box}/messages${query}`),
    message: (box: string, id: string) => json('GET', `/${box}/messages/${id}`),
    audio: (box: string, id: string, headers: Record<string, string> = {}, query = '') => call('GET', `/${box}/messages/${id}/audio${query}`, { headers }),
  };
}

/** A request with the path sent exactly as written (fetch would normalize `..` and `%2e%2e`). */
export function rawRequest(url: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A multipart body by hand, for uploads streamed slowly or with odd parts. */
export function multipartBody(parts: { name: string; value: string | Buffer; filename?: string }[], boundary = `----sitecall${randomBytes(8).toString('hex')}`): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.filename !== undefined ? 'Content-Type: audio/wav\r\n' : ''}\r\n`));
    chunks.push(typeof p.value === 'string' ? Buffer.from(p.value) : p.value);
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Every file under a directory, as paths relative to it (empty when it does not exist). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Waits until the store check of every vmail instance has finished (it runs after the service
 * listens: /healthz lists it as a task) and its summary line is in the service's output.
 */
export async function storeChecked(service: { url: string; logs(): string }, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = (await (await fetch(`${service.url}/healthz`)).json()) as { tasks?: { task: string; state: string }[] };
    const checks = (health.tasks ?? []).filter((t) => t.task === 'store check');
    if (checks.length > 0 && checks.every((t) => t.state !== 'running') && /vmail store checked|vmail store check failed/.test(service.logs())) return;
    if (Date.now() > deadline) throw new Error(`the vmail store check did not finish within ${timeoutMs} ms: ${JSON.stringify(health)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
