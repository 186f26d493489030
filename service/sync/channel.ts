import type { RawData, WebSocket } from 'ws';

/**
 * A message between two paired sites. `topic` says which part of the sync layer it belongs to
 * (replication, heartbeat, voicemail, profiles, ...); each part validates its own messages with
 * its schema in `shared/` before it acts on them.
 */
export interface PeerMessage {
  topic: string;
  type: string;
  [field: string]: unknown;
}

/**
 * One authenticated link to one paired peer, as the parts of the sync layer see it: ordered,
 * reliable while open, framed JSON messages. Who made the link (pairing, pinned mutual TLS) and
 * who reconnects it is the link layer's business; a part only sends, listens, and hears of the end.
 */
export interface PeerChannel {
  /** the peer's site id (its certificate fingerprint) */
  readonly peerId: string;
  readonly isOpen: boolean;
  /**
   * Queues the message on the socket. Resolves at once while the socket's queue is short, and
   * once this frame is written when it is not; rejects when the link is closed. Senders of bulk
   * data await it, so a slow peer slows them down instead of filling memory.
   */
  send(message: PeerMessage): Promise<void>;
  /** Listens to the messages of one topic; returns the function that stops listening. */
  onMessage(topic: string, listener: (message: PeerMessage) => void): () => void;
  onClose(listener: (reason: string) => void): () => void;
  close(reason?: string): void;
}

/** Bytes queued on the socket above which `send` waits for them to leave. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * A PeerChannel over an open WebSocket (plain in tests of the parts, pinned mutual TLS in the
 * service). A frame that is not a JSON object with a string `topic` and `type` closes the link
 * with 1007: a peer that speaks another protocol is a fault, not something to guess around.
 */
export function channelOverWebSocket(ws: WebSocket, peerId: string): PeerChannel {
  const listeners = new Map<string, Set<(m: PeerMessage) => void>>();
  const closeListeners = new Set<(reason: string) => void>();
  let closedReason: string | undefined;

  const ended = (reason: string) => {
    if (closedReason !== undefined) return;
    closedReason = reason;
    for (const l of closeListeners) l(reason);
  };
  ws.on('close', (code: number, why: Buffer) => ended(why.length ? why.toString() : `closed (${code})`));
  ws.on('error', (err: Error) => ended(err.message));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const message = isBinary ? undefined : parseMessage(data);
    if (!message) {
      ws.close(1007, 'not a peer message');
      return;
    }
    for (const l of listeners.get(message.topic) ?? []) l(message);
  });

  return {
    peerId,
    get isOpen() {
      return closedReason === undefined && ws.readyState === ws.OPEN;
    },
    async send(message) {
      if (closedReason !== undefined || ws.readyState !== ws.OPEN) throw new Error(`link to ${peerId} is closed`);
      const sent = new Promise<void>((resolve, reject) => ws.send(JSON.stringify(message), (err) => (err ? reject(err) : resolve())));
      // Below the mark the caller goes on at once; above it, it waits for this frame to be written.
      if (ws.bufferedAmount > HIGH_WATER_BYTES) await sent;
      else sent.catch(() => undefined);
    },
    onMessage(topic, listener) {
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
    onClose(listener) {
      if (closedReason !== undefined) {
        listener(closedReason);
        return () => undefined;
      }
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    close(reason = 'closed') {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000, reason.slice(0, 120));
      ended(reason);
    },
  };
}

function parseMessage(data: RawData): PeerMessage | undefined {
  try {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const { topic, type } = value as Record<string, unknown>;
    return typeof topic === 'string' && typeof type === 'string' ? (value as PeerMessage) : undefined;
  } catch {
    return undefined;
  }
}
