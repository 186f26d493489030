import WebSocket from 'ws';
import type { CallEvent } from '../../shared/api/events.js';
import type { SyncDialog, SyncResult } from '../../shared/api/sources.js';

interface Reply {
  ack?: number | null;
  error?: { code: string; message: string; retryAfter?: number };
  rejected?: unknown[];
  type?: string;
}

/**
 * A phone system's event source with several appliance addresses (as the Kamailio adapter is):
 * it streams over /api/v1/events/stream to one address, paced, up to `window` messages
 * unacknowledged; when the connection is lost (the site died) it moves to the next address and
 * sends again everything not acknowledged (acks come in order: every message after the last
 * acknowledged one), then, once those are acknowledged, it sends its list of active dialogs
 * (POST /api/v1/sources/{id}/sync, as the adapter's dlg.list resync does on every reconnect), the
 * stream held meanwhile. A temporary refusal (503 unavailable) is sent again after its retry time.
 */
export class FailoverSource {
  /** messages acknowledged: always a prefix of the messages */
  acked = 0;
  /** which address each acknowledged message was acknowledged by */
  readonly ackedBy: number[] = [];
  readonly problems: string[] = [];
  /** times it moved to another address */
  moves = 0;
  /** the answers to its resyncs */
  readonly syncs: SyncResult[] = [];
  private stopped = false;
  private syncPending = false;

  constructor(
    readonly messages: readonly CallEvent[][],
    readonly opts: { urls: string[]; token: string; window: number; intervalMs: number; start?: number; source: string },
  ) {
    this.address = opts.start ?? 0;
  }

  address: number;

  get done(): boolean {
    return this.acked === this.messages.length;
  }

  ackedEvents(): CallEvent[] {
    return this.messages.slice(0, this.acked).flat();
  }

  /** The events acknowledged by one address. */
  ackedAt(address: number): CallEvent[] {
    return this.messages.slice(0, this.acked).filter((_, i) => this.ackedBy[i] === address).flat();
  }

  stop(): void {
    this.stopped = true;
  }

  /** Runs until every message is acknowledged (or `deadline`), moving between the addresses as they fail. */
  async run(deadline = Date.now() + 120_000): Promise<void> {
    while (!this.done && !this.stopped && Date.now() < deadline) {
      const outcome = await this.connection(this.opts.urls[this.address] as string);
      if (outcome === 'done') return;
      if (outcome === 'lost') {
        this.address = (this.address + 1) % this.opts.urls.length;
        this.moves++;
        this.syncPending = true;
      }
      await new Promise((r) => setTimeout(r, outcome === 'retry' ? 500 : 50));
    }
  }

  /** The dialogs up at the source, as far as what it has had acknowledged goes. */
  activeDialogs(): SyncDialog[] {
    const up = new Map<string, SyncDialog>();
    for (const e of this.ackedEvents()) {
      if (e.type === 'invite') up.set(e.callId, { callId: e.callId, fromTag: e.fromTag ?? '', toTag: '', state: 'early', from: e.from ?? '', to: e.to ?? '', domain: e.domain ?? '' });
      const d = up.get(e.callId);
      if (!d) continue;
      if (e.type === 'progress' && e.toTag && d.state === 'early') d.toTag = e.toTag;
      if (e.type === 'answer') Object.assign(d, { state: 'confirmed', toTag: e.toTag ?? d.toTag, answeredAt: e.ts });
      if (e.type === 'end' || e.type === 'fail' || e.type === 'cancel') up.delete(e.callId);
    }
    return [...up.values()];
  }

  private async sync(url: string): Promise<SyncResult> {
    const res = await fetch(`${url}/api/v1/sources/${encodeURIComponent(this.opts.source)}/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.opts.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dialogs: this.activeDialogs() }),
    });
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    return (await res.json()) as SyncResult;
  }

  private connection(url: string): Promise<'done' | 'lost' | 'retry'> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/events/stream`, { headers: { authorization: `Bearer ${this.opts.token}` } });
      let next = this.acked;
      let answered = this.acked;
      let outcome: 'done' | 'lost' | 'retry' = 'lost';
      let pacer: NodeJS.Timeout | undefined;
      let syncing = false;
      // what was sent before the move goes again first; then the dialog list, with the stream held
      const resendUntil = this.syncPending ? Math.min(this.messages.length, this.acked + this.opts.window) : 0;
      const pump = () => {
        if (ws.readyState !== ws.OPEN || this.stopped || syncing) return;
        if (this.syncPending && this.acked >= resendUntil && next === this.acked) {
          syncing = true;
          this.sync(url).then(
            (result) => {
              this.syncs.push(result);
              this.syncPending = false;
              syncing = false;
            },
            (err: unknown) => {
              this.problems.push(`sync: ${String(err)}`);
              this.stopped = true;
              ws.close();
            },
          );
          return;
        }
        if (this.syncPending && next >= resendUntil) return;
        if (next < this.messages.length && next - this.acked < this.opts.window) ws.send(JSON.stringify(this.messages[next++]));
      };
      ws.on('open', () => {
        pacer = setInterval(pump, this.opts.intervalMs);
        pump();
      });
      ws.on('message', (data) => {
        const reply = JSON.parse(data.toString()) as Reply;
        if (reply.type) return; // a sync request: this source keeps no dialog list
        const index = answered++;
        if (reply.error?.code === 'unavailable') {
          // for now: the same message and those after it go again, here, after the retry time
          outcome = 'retry';
          ws.close();
          return;
        }
        if (reply.error || typeof reply.ack !== 'number' || reply.rejected) {
          this.problems.push(`message ${index}: ${JSON.stringify(reply)}`);
          this.stopped = true;
          ws.close();
          return;
        }
        if (index === this.acked) {
          this.ackedBy[this.acked] = this.address;
          this.acked++;
        }
        if (this.done) {
          outcome = 'done';
          ws.close();
        }
      });
      ws.on('error', () => undefined);
      ws.on('close', () => {
        clearInterval(pacer);
        resolve(this.done ? 'done' : outcome);
      });
    });
  }
}
