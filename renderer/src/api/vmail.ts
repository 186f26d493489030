/**
 * The vmail API calls of the console's voicemail page (service/vmail/README.md). JSON goes through
 * apiRequest; audio (play, download, greeting upload) needs the bearer token too, so it is fetched
 * here into a Blob: an <audio> element cannot send an Authorization header, and the session token
 * never goes into a URL.
 */
import type { Folder, GreetingInfo, GreetingKind, Mailbox, MailboxCreate, MailboxList, MailboxPatch, Message, MessageList, MessagePatch, QuarantineList } from '../../../shared/api/vmail.js';
import { currentSession } from '../auth/session.js';
import { ApiError, apiRequest, isAbort } from './client.js';

const enc = encodeURIComponent;

function boxesPath(domain: string): string {
  return `/api/v1/domains/${enc(domain)}/mailboxes`;
}
function boxPath(domain: string, box: string): string {
  return `${boxesPath(domain)}/${enc(box)}`;
}
function messagePath(domain: string, box: string, id: string): string {
  return `${boxPath(domain, box)}/messages/${enc(id)}`;
}
function greetingPath(domain: string, box: string, kind: GreetingKind): string {
  return `${boxPath(domain, box)}/greetings/${enc(kind)}`;
}

export function listMailboxes(domain: string, signal?: AbortSignal): Promise<MailboxList> {
  return apiRequest<MailboxList>(boxesPath(domain), { signal });
}

export function getMailbox(domain: string, box: string, signal?: AbortSignal): Promise<Mailbox> {
  return apiRequest<Mailbox>(boxPath(domain, box), { signal });
}

export function createMailbox(domain: string, body: MailboxCreate): Promise<Mailbox> {
  return apiRequest<Mailbox>(boxesPath(domain), { method: 'POST', body });
}

export function updateMailbox(domain: string, box: string, body: MailboxPatch): Promise<Mailbox> {
  return apiRequest<Mailbox>(boxPath(domain, box), { method: 'PATCH', body });
}

export function deleteMailbox(domain: string, box: string): Promise<void> {
  return apiRequest<void>(boxPath(domain, box), { method: 'DELETE' });
}

export function listMessages(domain: string, box: string, folder: Folder, opts: { limit?: number; offset?: number } = {}, signal?: AbortSignal): Promise<MessageList> {
  const q = new URLSearchParams({ folder, order: 'newest', limit: String(opts.limit ?? 100), offset: String(opts.offset ?? 0) });
  return apiRequest<MessageList>(`${boxPath(domain, box)}/messages?${q.toString()}`, { signal });
}

export function getMessage(domain: string, box: string, id: string, signal?: AbortSignal): Promise<Message> {
  return apiRequest<Message>(messagePath(domain, box, id), { signal });
}

export function updateMessage(domain: string, box: string, id: string, body: MessagePatch): Promise<Message> {
  return apiRequest<Message>(messagePath(domain, box, id), { method: 'PATCH', body });
}

/** Soft delete (to the deleted folder), or `purge` to remove it and its audio now. */
export function deleteMessage(domain: string, box: string, id: string, purge = false): Promise<void> {
  return apiRequest<void>(`${messagePath(domain, box, id)}${purge ? '?purge=true' : ''}`, { method: 'DELETE' });
}

export function undeleteMessage(domain: string, box: string, id: string): Promise<Message> {
  return apiRequest<Message>(`${messagePath(domain, box, id)}/undelete`, { method: 'POST' });
}

export function forwardMessage(domain: string, box: string, id: string, to: { mailbox: string; domain?: string }): Promise<Message> {
  return apiRequest<Message>(`${messagePath(domain, box, id)}/forward`, { method: 'POST', body: to });
}

export function deleteGreeting(domain: string, box: string, kind: GreetingKind): Promise<void> {
  return apiRequest<void>(greetingPath(domain, box, kind), { method: 'DELETE' });
}

// ---- quarantine (admin) ----------------------------------------------------------------------

function quarantinePath(domain: string): string {
  return `/api/v1/domains/${enc(domain)}/quarantine`;
}

/** What the start-up check could not match in a domain: quarantined files, and messages whose audio is missing. */
export function listQuarantine(domain: string, signal?: AbortSignal): Promise<QuarantineList> {
  return apiRequest<QuarantineList>(quarantinePath(domain), { signal });
}

/** Makes a quarantined file a new message of `mailbox` (default: the mailbox it was found in). */
export function restoreQuarantined(domain: string, id: string, mailbox?: string): Promise<Message> {
  return apiRequest<Message>(`${quarantinePath(domain)}/${enc(id)}/restore`, { method: 'POST', body: mailbox ? { mailbox } : {} });
}

export function deleteQuarantined(domain: string, id: string): Promise<void> {
  return apiRequest<void>(`${quarantinePath(domain)}/${enc(id)}`, { method: 'DELETE' });
}

// ---- audio -----------------------------------------------------------------------------------

export type AudioSource = { type: 'message'; domain: string; box: string; id: string } | { type: 'greeting'; domain: string; box: string; kind: GreetingKind };

function audioPath(src: AudioSource): string {
  return src.type === 'message' ? `${messagePath(src.domain, src.box, src.id)}/audio` : greetingPath(src.domain, src.box, src.kind);
}

async function errorOf(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const e: unknown = body.error;
    if (typeof e === 'object' && e !== null && 'code' in e && 'message' in e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new ApiError(res.status, e.code as ApiError['code'], e.message);
    }
  }
  if (res.status === 401) return new ApiError(401, 'unauthorized', 'Your session has ended. Log in again.');
  return new ApiError(res.status, 'bad_response', `The service answered with HTTP ${res.status} ${res.statusText}`.trim() + '.');
}

/** A fetch with the session's bearer token, for bodies that are not JSON. */
async function authorizedFetch(path: string, init: RequestInit): Promise<Response> {
  const session = currentSession();
  if (!session) throw new ApiError(401, 'unauthorized', 'You are not logged in.');
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${session.token}`);
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'network', 'Cannot reach the Sitecall service. Check that it is running, then try again.');
  }
  if (!res.ok) {
    const error = await errorOf(res);
    // A JSON call lets the auth provider handle an ended session (back to the login page).
    if (res.status === 401) void apiRequest('/api/v1/status').catch(() => undefined);
    throw error;
  }
  return res;
}

/** The whole WAV of a message or greeting, as a Blob to play from a blob: URL. */
export async function fetchAudio(src: AudioSource, signal?: AbortSignal): Promise<Blob> {
  const res = await authorizedFetch(audioPath(src), { signal: signal ?? null });
  const blob = await res.blob();
  return blob.type ? blob : new Blob([blob], { type: 'audio/wav' });
}

/** Saves a Blob as a file through a temporary link (the browser's download, no token in a URL). */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Uploads a greeting WAV as the request body (audio/wav). */
export async function uploadGreeting(domain: string, box: string, kind: GreetingKind, file: Blob): Promise<GreetingInfo> {
  const res = await authorizedFetch(greetingPath(domain, box, kind), { method: 'PUT', headers: { 'Content-Type': 'audio/wav', Accept: 'application/json' }, body: file });
  return (await res.json()) as GreetingInfo;
}
