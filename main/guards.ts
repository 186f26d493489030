/**
 * Pure security decisions of the desktop shell: which URLs the console window may load, which
 * ones go to the system browser, which IPC senders are trusted, which requests leave the app.
 * No Electron import here, so the rules are unit-tested directly (test/unit/main-guards.test.ts).
 */

/** What happens when the page tries to go to (or open a window on) a URL. */
export type NavigationDecision = 'allow' | 'open-external' | 'deny';

/** The origin (`scheme://host:port`) of `url`, or null when it has none (file:, data:, garbage). */
export function originOf(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  return parsed.origin;
}

/**
 * True when `url` belongs to the service's origin exactly: same scheme, host and port.
 * `http://localhost:7080` is not `http://127.0.0.1:7080`; URLs with credentials are refused.
 */
export function isServiceOrigin(url: string, serviceOrigin: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username !== '' || parsed.password !== '') return false;
  const origin = originOf(url);
  return origin !== null && origin === serviceOrigin;
}

/**
 * Decide a navigation or window.open target:
 * - the service's own origin stays in the app (`allow`);
 * - other http(s) pages, other hosts and other ports included, never load in the app: they are
 *   handed to the system browser (`open-external`);
 * - everything else (file:, javascript:, data:, blob:, custom schemes, URLs with credentials,
 *   unparsable strings) is refused (`deny`).
 */
export function navigationDecision(url: string, serviceOrigin: string): NavigationDecision {
  if (isServiceOrigin(url, serviceOrigin)) return 'allow';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'deny';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'deny';
  if (parsed.username !== '' || parsed.password !== '') return 'deny';
  if (parsed.hostname === '') return 'deny';
  return 'open-external';
}

/**
 * Whether the session may issue a network request for `url` (Electron's webRequest
 * `onBeforeRequest`): only the service origin over http(s) and its WebSocket (ws/wss on the same
 * host and port). `devtools:` is let through for the developer tools; data:/blob: only for
 * sub-resources, never as a document.
 */
export function isAllowedRequest(url: string, serviceOrigin: string, resourceType: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  switch (parsed.protocol) {
    case 'http:':
    case 'https:':
      return isServiceOrigin(url, serviceOrigin);
    case 'ws:':
    case 'wss:': {
      const asHttp = new URL(url);
      asHttp.protocol = parsed.protocol === 'wss:' ? 'https:' : 'http:';
      return isServiceOrigin(asHttp.href, serviceOrigin);
    }
    case 'devtools:':
      return true;
    case 'data:':
    case 'blob:':
      return resourceType !== 'mainFrame' && resourceType !== 'subFrame';
    default:
      return false;
  }
}

/** Response headers as Electron's webRequest hands them over. */
export type ResponseHeaders = Record<string, string | string[]> | undefined;

/** True when the response already carries a Content-Security-Policy (header names are case-insensitive). */
export function hasContentSecurityPolicy(headers: ResponseHeaders): boolean {
  if (!headers) return false;
  return Object.keys(headers).some((name) => name.toLowerCase() === 'content-security-policy');
}

/**
 * The CSP the shell adds to a service response that came without one. The console is a built
 * single-page app: scripts only from the service, styles from the service (inline styles for the
 * component library), media and images from the service or blob:/data: (voicemail player, charts),
 * connections to the service and its WebSocket, nothing framed, no plugins.
 */
export function fallbackContentSecurityPolicy(serviceOrigin: string): string {
  const ws = serviceOrigin.replace(/^http/, 'ws');
  return [
    "default-src 'self'",
    "script-src 'self'",
    "script-src-attr 'none'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self' data:",
    `connect-src 'self' ${ws}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "frame-src 'none'",
    "worker-src 'self' blob:",
  ].join('; ');
}

/** A frame as far as the IPC sender check needs it (Electron's WebFrameMain has these). */
export interface SenderFrameLike {
  readonly url: string;
  readonly parent: unknown;
}

/**
 * An IPC call is trusted only when it comes from a live top-level frame whose document is on the
 * service origin (not an iframe, not a page the window was somehow navigated to).
 */
export function isTrustedSender(frame: SenderFrameLike | null | undefined, serviceOrigin: string): boolean {
  if (!frame) return false;
  if (frame.parent !== null) return false;
  return isServiceOrigin(frame.url, serviceOrigin);
}
