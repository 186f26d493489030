import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** the body parsed as JSON, or undefined */
  json: unknown;
  /** from the request's start to the end of the answer */
  ms: number;
}

export interface RawHttpRequest {
  method: string;
  /** sent as it is: bad percent-encodings stay bad */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /**
   * the loopback address to send from (127.0.0.2 ...): the login limit counts failures per client
   * address, so a suite that sends many bad logins spreads them over several
   */
  localAddress?: string;
  timeoutMs?: number;
}

/**
 * One HTTP request with node:http, which (unlike fetch) sends the path and headers exactly as
 * given and can choose its source address. Rejects only when no answer comes.
 */
export function rawRequest(baseUrl: string, req: RawHttpRequest): Promise<RawHttpResponse> {
  const url = new URL(baseUrl);
  const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body;
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = String(body.length);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent: false, ...(req.localAddress ? { localAddress: req.localAddress } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = data.length ? JSON.parse(data.toString()) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, json, ms: performance.now() - started });
        });
      },
    );
    r.setTimeout(req.timeoutMs ?? 10_000, () => r.destroy(new Error(`no answer to ${req.method} ${req.path} within ${req.timeoutMs ?? 10_000} ms`)));
    r.on('error', reject);
    r.end(body);
  });
}

/** Loopback source addresses 127.1.0.1, 127.1.0.2, ...: a new one at each call (Linux routes all of 127/8 to lo). */
export function loopbackAddresses(): () => string {
  let n = 0;
  return () => {
    const i = n++ % 62_500;
    return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  };
}
