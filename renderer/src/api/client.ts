import type { ErrorBody, ErrorCode, ErrorDetail } from '../../../shared/api/errors.js';
import { currentSession } from '../auth/session.js';

/** The API's own error codes plus the two the console meets before it gets an answer. */
export type ClientErrorCode = ErrorCode | 'network' | 'bad_response';

/** An error from the service (its JSON error body) or from getting no usable answer at all. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ClientErrorCode;
  readonly details: readonly ErrorDetail[];

  constructor(status: number, code: ClientErrorCode, message: string, details: readonly ErrorDetail[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

/** Any error as an ApiError, so pages show one kind of message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(0, 'bad_response', err instanceof Error ? err.message : String(err));
}

let unauthorizedHandler: () => void = () => {};

/** The auth provider registers what to do when an authenticated call answers 401. */
export function onUnauthorized(handler: () => void): void {
  unauthorizedHandler = handler;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** send the session's Bearer token (default true) */
  auth?: boolean;
  /** treat a 401 as "session expired" and go to the login page (default: same as auth) */
  expireOn401?: boolean;
  signal?: AbortSignal;
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const e: unknown = value.error;
  return (
    typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' && 'message' in e && typeof e.message === 'string'
  );
}

/**
 * One call to the Sitecall API, same origin (the service serves the console; a dev server proxies).
 * Resolves with the parsed JSON body (undefined for 204), rejects with an ApiError.
 */
export async function apiRequest<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, auth = true, signal } = opts;
  const expireOn401 = opts.expireOn401 ?? auth;
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) {
    const session = currentSession();
    if (!session) {
      if (expireOn401) unauthorizedHandler();
      throw new ApiError(401, 'unauthorized', 'You are not logged in.');
    }
    headers['Authorization'] = `Bearer ${session.token}`;
  }

  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'network', 'Cannot reach the Sitecall service. Check that it is running, then try again.');
  }

  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }

  if (!res.ok) {
    const error = isErrorBody(json)
      ? new ApiError(res.status, json.error.code, json.error.message, json.error.details ?? [])
      : new ApiError(res.status, 'bad_response', `The service answered with HTTP ${res.status} ${res.statusText}`.trim() + '.');
    if (res.status === 401 && expireOn401) unauthorizedHandler();
    throw error;
  }
  if (json === undefined) {
    throw new ApiError(res.status, 'bad_response', 'The service sent an answer the console cannot read.');
  }
  return json as T;
}
