import { readFileSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Type, type Static } from '@sinclair/typebox';
import { StartupError } from '../errors.js';
import { LOG_LEVELS } from '../logger.js';
import { validator } from '../validation.js';

/**
 * How long the change log keeps entries at least (design section 7, retention), in days. At least
 * a day, so a reader (a backup, a peer being paired) that is a few hours behind never has to start
 * again from a snapshot; at most ten years, as the raw event journal's retention.
 */
export const DEFAULT_LOG_RETENTION_DAYS = 30;
export const MIN_LOG_RETENTION_DAYS = 1;
export const MAX_LOG_RETENTION_DAYS = 3660;

/** The peer listener (mutual TLS, pairing and the links to paired sites), a port of its own beside the API. */
export const DEFAULT_PEER_PORT = 7443;
/** A pairing code lives 10 minutes (design section 7); shorter only so that tests can see one expire. */
export const DEFAULT_PAIRING_CODE_TTL_SEC = 600;

/**
 * Start-up settings (design section 8). Flags override the environment, the environment
 * overrides the config file. Every problem stops the start with one sentence.
 */
export const SettingsFile = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    dataDir: Type.Optional(Type.String({ minLength: 1 })),
    siteName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    adminPassword: Type.Optional(Type.String({ minLength: 8, maxLength: 1024 })),
    logLevel: Type.Optional(Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)))),
    logRetentionDays: Type.Optional(Type.Integer({ minimum: MIN_LOG_RETENTION_DAYS, maximum: MAX_LOG_RETENTION_DAYS })),
    publicUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    peerHost: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    peerPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    pairingCodeTtlSec: Type.Optional(Type.Integer({ minimum: 1, maximum: DEFAULT_PAIRING_CODE_TTL_SEC })),
  },
  { additionalProperties: false },
);
type SettingsInput = Static<typeof SettingsFile>;
const settingsValidator = validator(SettingsFile, { coerce: true });

export interface Settings {
  host: string;
  port: number;
  dataDir: string;
  /** Name of this site; undefined keeps the stored one (first start: the host name). */
  siteName: string | undefined;
  /** Only used on first start, for user `admin`. */
  adminPassword: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  /** The change log keeps every entry at least this many days (and longer while a paired peer lacks it). */
  logRetentionDays: number;
  /**
   * The address a paired peer is given for this site's peer listener (`wss://host[:port]`), for a
   * site behind NAT or a TCP proxy; default `wss://<peer host>:<peer port>` (the host name when the
   * peer host is a wildcard address).
   */
  publicUrl: string | undefined;
  /** where the peer listener listens (default: the API's host) */
  peerHost: string | undefined;
  peerPort: number;
  /** how long a pairing code lives, in seconds (10 minutes; shorter only in tests) */
  pairingCodeTtlSec: number;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7080;

/** Where an appliance keeps its data when nobody says otherwise, per the platform's convention. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  switch (platform()) {
    case 'win32':
      return join(env['APPDATA'] ?? join(homedir(), 'AppData', 'Roaming'), 'Sitecall');
    case 'darwin':
      return join(homedir(), 'Library', 'Application Support', 'Sitecall');
    default:
      return join(env['XDG_DATA_HOME'] || join(homedir(), '.local', 'share'), 'sitecall');
  }
}

const FLAG_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  'site-name': { type: 'string' },
  'admin-password': { type: 'string' },
  'log-level': { type: 'string' },
  'log-retention-days': { type: 'string' },
  'public-url': { type: 'string' },
  'peer-host': { type: 'string' },
  'peer-port': { type: 'string' },
  'pairing-code-ttl-sec': { type: 'string' },
  config: { type: 'string' },
} as const;

export const SETTINGS_HELP = `Options (flags override SITECALL_* environment variables, which override the config file):
  --host HOST            address to listen on            SITECALL_HOST           (default ${DEFAULT_HOST})
  --port PORT            TCP port                        SITECALL_PORT           (default ${DEFAULT_PORT})
  --data-dir DIR         where all data is kept          SITECALL_DATA_DIR       (default ${defaultDataDir()})
  --site-name NAME       this site's name                SITECALL_SITE_NAME      (default: the host name)
  --admin-password PW    first start: password of admin  SITECALL_ADMIN_PASSWORD (default: generated, printed once)
  --log-level LEVEL      ${LOG_LEVELS.join('|')}  SITECALL_LOG_LEVEL (default info)
  --log-retention-days N change log entries kept at least N days (${MIN_LOG_RETENTION_DAYS}-${MAX_LOG_RETENTION_DAYS})
                                                         SITECALL_LOG_RETENTION_DAYS (default ${DEFAULT_LOG_RETENTION_DAYS})
  --public-url URL       the address peers are given     SITECALL_PUBLIC_URL     (wss://HOST[:PORT]; default wss://<peer host>:<peer port>)
  --peer-host HOST       peer listener address           SITECALL_PEER_HOST      (default: --host)
  --peer-port PORT       peer listener port (mutual TLS) SITECALL_PEER_PORT      (default ${DEFAULT_PEER_PORT})
  --pairing-code-ttl-sec N  pairing code lifetime, 1-${DEFAULT_PAIRING_CODE_TTL_SEC} s (tests only)
                                                         SITECALL_PAIRING_CODE_TTL_SEC (default ${DEFAULT_PAIRING_CODE_TTL_SEC})
  --config FILE          a JSON file with host, port, dataDir, siteName, adminPassword, logLevel,
                         logRetentionDays, publicUrl, peerHost, peerPort, pairingCodeTtlSec
                                                         SITECALL_CONFIG`;

export function loadSettings(argv: readonly string[], env: NodeJS.ProcessEnv): Settings {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    // parseArgs explains some mistakes over several lines; the first one says what is wrong.
    const first = ((err as Error).message.split('\n')[0] ?? '').replace(/\.$/, '');
    throw new StartupError(`${first}. Run "sitecall start --help" for the options.`);
  }
  const configPath = flags.config ?? env['SITECALL_CONFIG'];
  const fromFile = configPath ? readSettingsFile(configPath) : {};

  const fromEnv: Record<string, string> = {};
  const envNames: Record<keyof SettingsInput, string> = {
    host: 'SITECALL_HOST',
    port: 'SITECALL_PORT',
    dataDir: 'SITECALL_DATA_DIR',
    siteName: 'SITECALL_SITE_NAME',
    adminPassword: 'SITECALL_ADMIN_PASSWORD',
    logLevel: 'SITECALL_LOG_LEVEL',
    logRetentionDays: 'SITECALL_LOG_RETENTION_DAYS',
    publicUrl: 'SITECALL_PUBLIC_URL',
    peerHost: 'SITECALL_PEER_HOST',
    peerPort: 'SITECALL_PEER_PORT',
    pairingCodeTtlSec: 'SITECALL_PAIRING_CODE_TTL_SEC',
  };
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const fromFlags: Record<string, string> = {};
  const flagNames: Record<keyof SettingsInput, keyof typeof FLAG_OPTIONS> = {
    host: 'host',
    port: 'port',
    dataDir: 'data-dir',
    siteName: 'site-name',
    adminPassword: 'admin-password',
    logLevel: 'log-level',
    logRetentionDays: 'log-retention-days',
    publicUrl: 'public-url',
    peerHost: 'peer-host',
    peerPort: 'peer-port',
    pairingCodeTtlSec: 'pairing-code-ttl-sec',
  };
  for (const [key, flag] of Object.entries(flagNames)) {
    const value = flags[flag];
    if (value !== undefined) fromFlags[key] = value;
  }

  // Validate each layer on its own so the sentence names where the bad value came from.
  const file = check(fromFile, configPath ? `the config file ${configPath}` : 'the config file');
  const envs = check(fromEnv, 'the environment', (key) => envNames[key as keyof SettingsInput]);
  const flagged = check(fromFlags, 'the command line', (key) => `--${flagNames[key as keyof SettingsInput]}`);
  const merged: SettingsInput = { ...file, ...envs, ...flagged };
  const publicUrlFrom = flagged.publicUrl !== undefined ? '--public-url' : envs.publicUrl !== undefined ? 'SITECALL_PUBLIC_URL' : 'publicUrl in the config file';

  return {
    host: merged.host ?? DEFAULT_HOST,
    port: merged.port ?? DEFAULT_PORT,
    dataDir: resolve(merged.dataDir ?? defaultDataDir(env)),
    siteName: merged.siteName?.trim() || undefined,
    adminPassword: merged.adminPassword,
    logLevel: merged.logLevel ?? 'info',
    logRetentionDays: merged.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS,
    publicUrl: merged.publicUrl === undefined ? undefined : checkPublicUrl(merged.publicUrl, publicUrlFrom),
    peerHost: merged.peerHost,
    peerPort: merged.peerPort ?? DEFAULT_PEER_PORT,
    pairingCodeTtlSec: merged.pairingCodeTtlSec ?? DEFAULT_PAIRING_CODE_TTL_SEC,
  };
}

/**
 * A peer address is always TLS (the link is mutual TLS with pinned certificates, loopback tests
 * included): `wss://host[:port]`, `https://` taken as the same; no path, query, or credentials, since
 * what answers there must be this site's peer listener itself or a TCP proxy in front of it.
 * Returned in its canonical form (`wss://host:port`).
 */
export function checkPublicUrl(value: string, where: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StartupError(`Invalid setting ${where}: "${value}" is not a URL; give wss://HOST[:PORT].`);
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'https:') throw new StartupError(`Invalid setting ${where}: the peer address must be wss:// (TLS), not ${url.protocol}//.`);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) throw new StartupError(`Invalid setting ${where}: give only wss://HOST[:PORT], without a path, query or credentials.`);
  return `wss://${url.hostname}:${url.port || '443'}`;
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: FLAG_OPTIONS, strict: true, allowPositionals: false }).values;
}

function check(input: object, where: string, nameOf: (key: string) => string = (k) => k): SettingsInput {
  const copy: unknown = structuredClone(input);
  const problems = settingsValidator.check(copy);
  const first = problems[0];
  if (first) {
    const key = first.path.split('/')[1] ?? '';
    throw new StartupError(`Invalid setting ${nameOf(key)} in ${where}: ${first.message}.`);
  }
  return copy as SettingsInput;
}

function readSettingsFile(path: string): SettingsInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new StartupError(`Cannot read the config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('it must hold a JSON object');
    }
    return parsed as SettingsInput;
  } catch (err) {
    throw new StartupError(`The config file ${path} is not valid JSON: ${(err as Error).message}.`);
  }
}
