import WebSocket from 'ws';
import type { CallEvent } from '../../shared/api/events.js';
import { apiClient } from './api.js';

/** Posts events with a token that has the `events` scope. */
export async function postEvents(url: string, token: string, events: CallEvent[] | CallEvent | string, contentType = 'application/json') {
  return apiClient(url, token).post('/api/v1/events', events, { 'content-type': contentType });
}

/** Waits until `check` returns something truthy (polling), or fails after the timeout. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, what = 'the condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A source on the WebSocket event stream: send a message, get its ack. */
export class StreamSource {
  private readonly replies: ((msg: any) => void)[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.replies.shift()?.(JSON.parse(data.toString())));
  }

  static async open(url: string, token: string, viaQuery = false): Promise<StreamSource> {
    const wsUrl = `${url.replace(/^http/, 'ws')}/api/v1/events/stream${viaQuery ? `?token=${encodeURIComponent(token)}` : ''}`;
    const ws = new WebSocket(wsUrl, viaQuery ? {} : { headers: { authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return new StreamSource(ws);
  }

  send(payload: unknown): Promise<any> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload));
    });
  }

  close(): void {
    this.ws.close();
  }
}
