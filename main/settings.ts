/**
 * Start-up settings of the desktop shell (pure: no Electron import).
 *
 * The shell talks to the service at SITECALL_HOST:SITECALL_PORT (defaults 127.0.0.1:7080, the
 * service's own defaults) and, when it starts the service itself, gives it SITECALL_DATA_DIR
 * (default: `<userData>/data`).
 */

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7080;
/** How long a service the shell started (or found starting) may take to answer healthy. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;

export interface DesktopSettings {
  /** The address the service listens on (what it is started with). */
  host: string;
  port: number;
  dataDir: string;
  /** The URL the window loads, e.g. `http://127.0.0.1:7080/`. */
  serviceUrl: string;
  /** `http://127.0.0.1:7080`: the only origin the window, the IPC and the network may use. */
  serviceOrigin: string;
  startTimeoutMs: number;
}

/** A setting that cannot be used; the message is a sentence for the user. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

function parseIntegerSetting(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new SettingsError(`${name} must be a whole number between ${min} and ${max}, not "${raw}".`);
  const value = Number(raw);
  if (value < min || value > max) throw new SettingsError(`${name} must be between ${min} and ${max}, not ${value}.`);
  return value;
}

/**
 * The host to connect to for a listen address: a service listening on every interface
 * (0.0.0.0 or ::) is reached on loopback.
 */
export function connectHost(listenHost: string): string {
  const bare = listenHost.replace(/^\[(.*)\]$/, '$1');
  if (bare === '0.0.0.0' || bare === '') return '127.0.0.1';
  if (bare === '::') return '::1';
  return bare;
}

/** `http://host:port/` with IPv6 literals in brackets. */
export function serviceUrlFor(listenHost: string, port: number): string {
  const host = connectHost(listenHost);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return new URL(`http://${hostPart}:${port}/`).href;
}

export function resolveSettings(env: Env, defaults: { dataDir: string }): DesktopSettings {
  const host = nonEmpty(env.SITECALL_HOST) ?? DEFAULT_HOST;
  if (/[\s/?#@]/.test(host)) throw new SettingsError(`SITECALL_HOST must be a host name or IP address, not "${host}".`);
  const portRaw = nonEmpty(env.SITECALL_PORT);
  const port = portRaw === undefined ? DEFAULT_PORT : parseIntegerSetting('SITECALL_PORT', portRaw, 1, 65535);
  const dataDir = nonEmpty(env.SITECALL_DATA_DIR) ?? defaults.dataDir;
  const timeoutRaw = nonEmpty(env.SITECALL_DESKTOP_START_TIMEOUT_MS);
  const startTimeoutMs =
    timeoutRaw === undefined
      ? DEFAULT_START_TIMEOUT_MS
      : parseIntegerSetting('SITECALL_DESKTOP_START_TIMEOUT_MS', timeoutRaw, 1000, 600_000);
  let serviceUrl: string;
  try {
    serviceUrl = serviceUrlFor(host, port);
  } catch {
    throw new SettingsError(`SITECALL_HOST must be a host name or IP address, not "${host}".`);
  }
  return { host, port, dataDir, serviceUrl, serviceOrigin: new URL(serviceUrl).origin, startTimeoutMs };
}

/** The body of the service's `GET /healthz`. */
export interface Healthz {
  status: 'ok' | 'degraded' | 'starting' | 'stopping';
  site: unknown;
  version: string;
}

/** The health answer when `value` has the shape of a Sitecall `/healthz` body, else null. */
export function parseHealthz(value: unknown): Healthz | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  const status = record.status;
  if (status !== 'ok' && status !== 'degraded' && status !== 'starting' && status !== 'stopping') return null;
  if (typeof record.version !== 'string') return null;
  const site = record.site;
  if (typeof site !== 'string' && (typeof site !== 'object' || site === null)) return null;
  return { status, site, version: record.version };
}
