import type { SyncDialog } from '../../../shared/api/sources.js';
import type { KamPosition } from './kamailio.js';

/**
 * Kamailio's dialog list (`dlg.list` over JSON-RPC, 5.6) and how it becomes the appliance's sync
 * body (`POST /api/v1/sources/{id}/sync`).
 *
 * One entry as Kamailio 5.6.3 returns it (seen):
 *   {"h_entry":3570,"h_id":725,"ref":2,"call-id":"1-25296@127.0.0.1",
 *    "from_uri":"sip:sipp@127.0.0.1:25080","to_uri":"sip:service@127.0.0.1:25070",
 *    "state":4,"start_ts":1795416021,"init_ts":1795416021,"end_ts":0,"duration":1,
 *    "timeout":1795437621,"lifetime":21600,"dflags":643,"sflags":0,"iflags":0,
 *    "caller":{"tag":"25296SIPpTag001","contact":"sip:sipp@127.0.0.1:25080","cseq":"1","route_set":"","socket":"udp:127.0.0.1:25060"},
 *    "callee":{"tag":"25123SIPpTag013","contact":"sip:127.0.0.1:25070;transport=UDP","cseq":"0","route_set":"","socket":"udp:127.0.0.1:25060"},
 *    "profiles":[],"variables":[{"sc_ans":"1795416021192"},{"sc_dom":"office.example"}]}
 *
 * States: 1 unconfirmed, 2 early, 3 confirmed (ACK not seen), 4 confirmed, 5 deleted (a deleted
 * dialog stays listed for a few seconds).
 */
export interface KamDialog {
  'call-id': string;
  state: number;
  from_uri?: string;
  to_uri?: string;
  start_ts?: number;
  init_ts?: number;
  caller?: { tag?: string };
  callee?: { tag?: string };
  variables?: Record<string, string>[];
}

/** The dialog list of the shipped cfg (POST /sitecall/dialogs): dlg.list taken under the event lock, with its place in the numbering. */
export interface Snapshot {
  /** the last event Kamailio numbered before the list was taken; null from plain /RPC (place unknown) */
  position: KamPosition | null;
  dialogs: KamDialog[];
}

export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `result` of a dlg.list JSON-RPC response (an error response throws). */
export function dialogsOfRpc(rpc: unknown): KamDialog[] {
  if (!isObject(rpc)) throw new SnapshotError('the JSON-RPC response is not an object');
  if (rpc['error'] !== undefined) throw new SnapshotError(`dlg.list failed: ${JSON.stringify(rpc['error'])}`);
  const result = rpc['result'];
  // an empty dialog table: Kamailio answers with no result at all, or an empty list
  if (result === undefined || result === null) return [];
  if (!Array.isArray(result)) throw new SnapshotError('dlg.list result is not a list');
  return result.filter((d): d is KamDialog => isObject(d) && typeof d['call-id'] === 'string' && typeof d['state'] === 'number');
}

/**
 * The answer of POST /sitecall/dialogs (the shipped cfg): the JSON-RPC reply of dlg.list as its
 * body, the position in its X-Sitecall-Kboot / X-Sitecall-Kseq headers.
 */
export function parseDialogsReply(kbootHeader: string | null, kseqHeader: string | null, body: unknown): Snapshot {
  const kboot = (kbootHeader ?? '').trim();
  const kseqText = (kseqHeader ?? '').trim();
  if (!/^\d{1,10}$/.test(kseqText)) throw new SnapshotError(`the dialog list has no valid X-Sitecall-Kseq header (got ${JSON.stringify(kseqHeader)})`);
  return { position: kboot === '' ? null : { kboot, kseq: Number(kseqText) }, dialogs: dialogsOfRpc(body) };
}

/** Parses the body of GET /sitecall/snapshot (the cfg's form before /sitecall/dialogs). */
export function parseSnapshot(body: unknown): Snapshot {
  if (!isObject(body)) throw new SnapshotError('the snapshot is not a JSON object');
  const { kboot, kseq, rpc } = body;
  if (typeof kboot !== 'string' || typeof kseq !== 'number') throw new SnapshotError('the snapshot has no kboot/kseq');
  // kboot is empty only if no event was ever numbered; the cfg sets it before answering
  return { position: kboot === '' ? null : { kboot, kseq }, dialogs: dialogsOfRpc(rpc) };
}

function variable(d: KamDialog, key: string): string | undefined {
  for (const v of d.variables ?? []) if (isObject(v) && typeof v[key] === 'string') return v[key];
  return undefined;
}

function hostOf(uri: string | undefined): string | undefined {
  const m = /^sips?:(?:[^@;?]*@)?(\[[^\]]+\]|[^:;?>]+)/i.exec(uri ?? '');
  return m?.[1]?.toLowerCase();
}

export interface SyncMapOptions {
  /** the domain when the dialog does not carry one (a dialog created before the Sitecall cfg was loaded) */
  domain?: string;
}

/**
 * dlg.list → the dialogs of the sync body. Deleted dialogs (state 5) are left out: a call the
 * appliance knows that has ended in Kamailio must be missing from the list so that it gets
 * terminated. A Call-ID listed twice (a retried INVITE) is sent once, the most advanced dialog.
 */
export function toSyncDialogs(dialogs: readonly KamDialog[], opts: SyncMapOptions = {}): SyncDialog[] {
  const byCallId = new Map<string, { rank: number; dialog: SyncDialog }>();
  for (const d of dialogs) {
    if (!(d.state >= 1 && d.state <= 4)) continue;
    const callId = d['call-id'];
    const domain = variable(d, 'sc_dom') || opts.domain || hostOf(d.to_uri);
    if (!callId || !domain || !d.from_uri || !d.to_uri) continue;
    const state: SyncDialog['state'] = d.state >= 3 ? 'confirmed' : 'early';
    const out: SyncDialog = {
      callId,
      fromTag: d.caller?.tag ?? '',
      toTag: d.callee?.tag ?? '',
      state,
      from: d.from_uri,
      to: d.to_uri,
      domain,
    };
    if (state === 'confirmed') {
      const ansMs = Number(variable(d, 'sc_ans'));
      if (Number.isFinite(ansMs) && ansMs > 0) out.answeredAt = new Date(ansMs).toISOString();
      else if (typeof d.start_ts === 'number' && d.start_ts > 0) out.answeredAt = new Date(d.start_ts * 1000).toISOString();
    }
    const rank = d.state * 1e10 + (d.init_ts ?? 0);
    const seen = byCallId.get(callId);
    if (!seen || rank > seen.rank) byCallId.set(callId, { rank, dialog: out });
  }
  return [...byCallId.values()].map((v) => v.dialog);
}
