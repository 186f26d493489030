import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { LEVELS, type Level } from './log.js';

export interface AdapterConfig {
  evapiHost: string;
  evapiPort: number;
  /** Kamailio's JSON-RPC URL (/RPC); the snapshot is fetched from /sitecall/snapshot on the same origin */
  rpcUrl: string;
  /** the appliance addresses, most preferred first */
  applianceUrls: string[];
  /** one token for every address, or one per address in the same order */
  tokens: string[];
  source: string;
  stateDir: string;
  /** events per WebSocket message */
  batch: number;
  /** messages sent and not acknowledged at once */
  maxInFlight: number;
  maxMemory: number;
  maxSpoolBytes: number;
  /** a fixed domain for dialogs that do not carry one in the snapshot */
  domain: string | undefined;
  logLevel: Level;
  statsIntervalMs: number;
  ackTimeoutMs: number;
  /** POST /sources/{id}/heartbeat period while the stream is open; 0: none */
  heartbeatMs: number;
  /** an open stream silent this long (no pong, no reply) is dead; also the connect and probe timeout */
  linkTimeoutMs: number;
  /** the longest pause between two probes of an appliance address that is down */
  probeMaxMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** flag → environment variable, and the default */
const OPTIONS = {
  evapi: { env: 'SITECALL_KAMAILIO_EVAPI', def: '127.0.0.1:8448', help: "Kamailio's evapi address (host:port)" },
  'rpc-url': { env: 'SITECALL_KAMAILIO_RPC', def: 'http://127.0.0.1:8088/RPC', help: "Kamailio's JSON-RPC URL" },
  appliance: { env: 'SITECALL_URL', def: 'http://127.0.0.1:7080', help: "the appliance's base URL; several sites: their URLs, most preferred first, separated by commas" },
  token: { env: 'SITECALL_TOKEN', def: '', help: 'an API token with the events scope (one for all addresses, or one per address, separated by commas)' },
  'token-file': { env: 'SITECALL_TOKEN_FILE', def: '', help: 'a file holding the token(s) (instead of --token)' },
  source: { env: 'SITECALL_SOURCE', def: '', help: 'the source id of this Kamailio (default kamailio-<hostname>)' },
  'state-dir': { env: 'SITECALL_ADAPTER_STATE_DIR', def: '', help: 'where seq numbers and the spool live (default $STATE_DIRECTORY or /var/lib/sitecall-kamailio-adapter)' },
  batch: { env: 'SITECALL_ADAPTER_BATCH', def: '500', help: 'events per message to the appliance' },
  'max-in-flight': { env: 'SITECALL_ADAPTER_MAX_IN_FLIGHT', def: '8', help: 'messages awaiting their ack at once' },
  'max-memory': { env: 'SITECALL_ADAPTER_MAX_MEMORY', def: '200000', help: 'events buffered in memory before the spool takes over' },
  'max-spool-mb': { env: 'SITECALL_ADAPTER_MAX_SPOOL_MB', def: '1024', help: 'disk the spool may use (MB); 0: no spool' },
  domain: { env: 'SITECALL_DOMAIN', def: '', help: 'domain for dialogs that carry none (see kamailio.cfg SITECALL_DOMAIN)' },
  'log-level': { env: 'SITECALL_LOG_LEVEL', def: 'info', help: 'debug, info, warn or error' },
  'stats-interval': { env: 'SITECALL_ADAPTER_STATS_S', def: '60', help: 'seconds between statistics lines; 0: none' },
  heartbeat: { env: 'SITECALL_ADAPTER_HEARTBEAT_S', def: '5', help: 'seconds between heartbeats to the appliance; 0: none' },
  'ack-timeout': { env: 'SITECALL_ADAPTER_ACK_TIMEOUT_S', def: '30', help: 'seconds to wait for an ack before leaving that appliance' },
  'link-timeout': { env: 'SITECALL_ADAPTER_LINK_TIMEOUT_S', def: '3', help: 'seconds an appliance may stay silent (connect, ping, probe) before it counts as unreachable' },
  'probe-max': { env: 'SITECALL_ADAPTER_PROBE_MAX_S', def: '30', help: 'longest pause (s) between health probes of an unreachable appliance address' },
} as const;
type Option = keyof typeof OPTIONS;

export function usage(): string {
  const lines = Object.entries(OPTIONS).map(([flag, o]) => `  --${flag.padEnd(15)} ${o.env.padEnd(32)} ${o.help}${o.def ? ` (default ${o.def})` : ''}`);
  return `Usage: node <adapter>/main.js [flags]   (from a checkout: dist/integrations/kamailio/adapter/main.js)\nFlags override the environment:\n${lines.join('\n')}\n`;
}

const SOURCE_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

function int(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name} must be a whole number from ${min} to ${max} (got "${text}").`);
  return n;
}

/** Flags (`--name value` or `--name=value`) over environment over defaults. Throws ConfigError with a sentence. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AdapterConfig {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new ConfigError(`Unexpected argument "${arg}".`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!(name in OPTIONS)) throw new ConfigError(`Unknown flag --${name}.`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`--${name} needs a value.`);
    flags.set(name, value);
  }
  const get = (name: Option): string => flags.get(name) ?? env[OPTIONS[name].env] ?? OPTIONS[name].def;

  const evapi = get('evapi');
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(evapi);
  if (!m) throw new ConfigError(`--evapi must be host:port (got "${evapi}").`);
  const evapiPort = int('evapi', m[2] as string, 1, 65535);

  const urlOf = (name: Option): string => {
    const text = get(name);
    try {
      const u = new URL(text);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
      return u.href;
    } catch {
      throw new ConfigError(`--${name} must be an http(s) URL (got "${text}").`);
    }
  };

  const applianceUrls = parseAddresses(get('appliance'));

  let tokenText = get('token');
  const tokenFile = get('token-file');
  if (!tokenText && tokenFile) {
    try {
      tokenText = readFileSync(tokenFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`Cannot read the token file ${tokenFile}: ${(err as Error).message}.`);
    }
  }
  const tokens = tokenText
    .split(/[,\s]+/)
    .map((t) => t.trim())
    .filter(Boolean);
  if (tokens.length === 0) throw new ConfigError('An API token with the events scope is needed: --token, --token-file or SITECALL_TOKEN.');
  if (tokens.length > 1 && tokens.length !== applianceUrls.length) {
    throw new ConfigError(`There are ${tokens.length} tokens for ${applianceUrls.length} appliance address${applianceUrls.length === 1 ? '' : 'es'}: give one token for all (paired sites share their tokens) or one per address, in the order of --appliance.`);
  }

  const source = get('source') || `kamailio-${hostname().replace(/[^A-Za-z0-9._:-]/g, '-')}`.slice(0, 64);
  if (!SOURCE_RE.test(source)) throw new ConfigError(`--source must be 1 to 64 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (got "${source}").`);

  const level = get('log-level');
  if (!LEVELS.includes(level as Level)) throw new ConfigError(`--log-level must be one of ${LEVELS.join(', ')} (got "${level}").`);

  const spoolMb = int('max-spool-mb', get('max-spool-mb'), 0, 1_000_000);
  return {
    evapiHost: (m[1] as string).replace(/^\[|\]$/g, ''),
    evapiPort,
    rpcUrl: urlOf('rpc-url'),
    applianceUrls,
    tokens,
    source,
    stateDir: get('state-dir') || env['STATE_DIRECTORY']?.split(':')[0] || '/var/lib/sitecall-kamailio-adapter',
    batch: int('batch', get('batch'), 1, 5000),
    maxInFlight: int('max-in-flight', get('max-in-flight'), 1, 256),
    maxMemory: int('max-memory', get('max-memory'), 100, 50_000_000),
    maxSpoolBytes: spoolMb * 1024 * 1024,
    domain: get('domain') || undefined,
    logLevel: level as Level,
    statsIntervalMs: int('stats-interval', get('stats-interval'), 0, 86_400) * 1000,
    ackTimeoutMs: int('ack-timeout', get('ack-timeout'), 1, 3600) * 1000,
    heartbeatMs: int('heartbeat', get('heartbeat'), 0, 3600) * 1000,
    linkTimeoutMs: int('link-timeout', get('link-timeout'), 1, 600) * 1000,
    probeMaxMs: int('probe-max', get('probe-max'), 1, 3600) * 1000,
  };
}

/** Most appliance addresses one adapter takes (sites of one installation). */
export const MAX_APPLIANCES = 8;

const ordinal = (n: number) => `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`;

/**
 * `--appliance`: one URL, or several separated by commas, most preferred first. Each must be an
 * http(s) URL without credentials, and each appliance is named once (its origin).
 */
export function parseAddresses(text: string): string[] {
  const parts = text.split(',').map((p) => p.trim());
  const example = 'e.g. https://site-a.example:7080,https://site-b.example:7080';
  if (parts.length > MAX_APPLIANCES) throw new ConfigError(`--appliance names ${parts.length} addresses; at most ${MAX_APPLIANCES} are taken.`);
  const seen = new Map<string, number>();
  return parts.map((part, i) => {
    const which = parts.length === 1 ? 'the address' : `the ${ordinal(i + 1)} address`;
    if (!part) throw new ConfigError(`--appliance: ${which} is empty; give the appliance URLs most preferred first, separated by commas (${example}).`);
    let u: URL;
    try {
      u = new URL(part);
    } catch {
      throw new ConfigError(`--appliance: ${which}, "${part}", is not a URL; give the appliance URLs most preferred first, separated by commas (${example}).`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`--appliance: ${which}, "${part}", must start with http:// or https://.`);
    // a password in the URL would end up in logs: the token goes in --token
    if (u.username || u.password) throw new ConfigError(`--appliance: ${which} carries a user name or password; give the token with --token or --token-file instead.`);
    const before = seen.get(u.origin);
    if (before !== undefined) throw new ConfigError(`--appliance: ${which}, ${u.origin}, is the same appliance as the ${ordinal(before + 1)}; name each once.`);
    seen.set(u.origin, i);
    return u.href;
  });
}
