import { dialogsOfRpc, parseDialogsReply, parseSnapshot, SnapshotError, type Snapshot } from './snapshot.js';

const DLG_LIST = JSON.stringify({ jsonrpc: '2.0', method: 'dlg.list', id: 1 });

/**
 * Fetches Kamailio's dialog list. First the shipped cfg's POST /sitecall/dialogs (dlg.list run
 * under the event lock, its place in the event numbering in the reply's headers); a cfg from
 * before it (404) is asked GET /sitecall/snapshot (the same, but the body passes through the
 * script's 8 kB print buffer); a Kamailio with neither is asked plain JSON-RPC `dlg.list` on
 * /RPC, whose place in the stream is then only "about now".
 */
export async function fetchSnapshot(rpcUrl: string, timeoutMs = 5000): Promise<Snapshot> {
  const dialogsUrl = new URL('/sitecall/dialogs', rpcUrl);
  const res = await fetch(dialogsUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: DLG_LIST, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.ok) return parseDialogsReply(res.headers.get('x-sitecall-kboot'), res.headers.get('x-sitecall-kseq'), parseJson(text));
  if (res.status !== 404) throw new SnapshotError(`POST ${dialogsUrl.pathname}: HTTP ${res.status} ${text.slice(0, 200)}`);
  const snapUrl = new URL('/sitecall/snapshot', rpcUrl);
  const old = await fetch(snapUrl, { signal: AbortSignal.timeout(timeoutMs) });
  const oldText = await old.text();
  if (old.ok) return parseSnapshot(parseJson(oldText));
  if (old.status !== 404) throw new SnapshotError(`GET ${snapUrl.pathname}: HTTP ${old.status} ${oldText.slice(0, 200)}`);
  const rpc = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: DLG_LIST,
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
