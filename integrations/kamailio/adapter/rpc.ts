import { dialogsOfRpc, parseSnapshot, SnapshotError, type Snapshot } from './snapshot.js';

/**
 * Fetches Kamailio's dialog list. First the shipped cfg's GET /sitecall/snapshot (dlg.list taken
 * under the event lock, with its place in the event numbering); a Kamailio without it (404) is
 * asked plain JSON-RPC `dlg.list` on /RPC, whose place in the stream is then only "about now".
 */
export async function fetchSnapshot(rpcUrl: string, timeoutMs = 5000): Promise<Snapshot> {
  const snapUrl = new URL('/sitecall/snapshot', rpcUrl);
  const res = await fetch(snapUrl, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.ok) return parseSnapshot(parseJson(text));
  if (res.status !== 404) throw new SnapshotError(`GET ${snapUrl.pathname}: HTTP ${res.status} ${text.slice(0, 200)}`);
  const rpc = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'dlg.list', id: 1 }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await rpc.text();
  if (!rpc.ok) throw new SnapshotError(`dlg.list: HTTP ${rpc.status} ${body.slice(0, 200)}`);
  return { position: null, dialogs: dialogsOfRpc(parseJson(body)) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SnapshotError(`not JSON: ${text.slice(0, 200)}`);
  }
}
