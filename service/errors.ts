import type { ErrorCode, ErrorDetail } from '../shared/api/errors.js';

/**
 * Typed errors of the service. Each carries its HTTP status; the API maps them to the one
 * JSON error shape in exactly one place (api/http.ts), so modules never speak HTTP themselves.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(400, 'invalid_request', message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Authentication required: send an Authorization: Bearer token.') {
    super(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer realm="sitecall"' });
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super(409, 'conflict', message, details);
  }
}

export class RateLimitedError extends AppError {
  constructor(message: string, retryAfterSec: number) {
    super(429, 'rate_limited', message, undefined, { 'Retry-After': String(retryAfterSec) });
  }
}

/** A temporary condition: the same request may succeed later (after `retryAfterSec`, when given). */
export class UnavailableError extends AppError {
  constructor(
    message: string,
    readonly retryAfterSec?: number,
    details?: ErrorDetail[],
  ) {
    super(503, 'unavailable', message, details, retryAfterSec === undefined ? undefined : { 'Retry-After': String(retryAfterSec) });
  }
}

/** A start-up problem the admin must fix: printed as one sentence, exit code 1. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Work the service bounds is at its limit for a moment (a queue is full): 503, try again after `retryAfterSec`. */
export class BusyError extends AppError {
  constructor(message: string, retryAfterSec: number) {
    super(503, 'unavailable', message, undefined, { 'Retry-After': String(retryAfterSec) });
  }
}
