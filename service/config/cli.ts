import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ConfigProblem } from '../../shared/api/roles.js';
import { StartupError } from '../errors.js';
import { redactSecrets, redactText } from '../secrets.js';
import { peekDocument } from '../storage/documents.js';
import { defaultDataDir, DEFAULT_HOST, DEFAULT_PORT } from './settings.js';
import { localInterfaces } from './service.js';
import { validateRolesConfig } from './validate.js';

/** Output of a command: lines for stdout and stderr and the exit code. */
export interface CommandResult {
  code: number;
  out: string[];
  err: string[];
}

export const CONFIG_USAGE = `  config validate FILE [--data-dir DIR] [--allow-warnings]
                        check a role configuration file offline against this machine
                        (exit 0 clean, 1 with problems, printed one a line)
  config export [--url URL] [--token TOKEN]
                        print the running service's role configuration as JSON
  config import FILE [--url URL] [--token TOKEN] [--force]
                        replace the running service's role configuration with FILE's;
                        refused if FILE was exported from an older revision, unless --force
                        (--token or SITECALL_TOKEN: an API token with the admin scope;
                         --url default http://SITECALL_HOST:SITECALL_PORT)`;

interface ConfigFile {
  revision?: number;
  instances: unknown[];
  ifaceAliases?: unknown;
}

function readConfigFile(path: string): ConfigFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StartupError(code ? `Cannot read ${path}: ${code}.` : `${path} is not valid JSON: ${(err as Error).message}.`);
  }
  if (Array.isArray(parsed)) return { instances: parsed };
  if (typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as ConfigFile).instances)) return parsed as ConfigFile;
  throw new StartupError(`${path} must hold {"instances": [...]} (as "sitecall config export" writes) or a list of instances.`);
}

const line = (p: ConfigProblem) => `${p.severity} ${p.path}: ${p.message}`;

export async function configCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  const [sub, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { 'data-dir': { type: 'string' }, url: { type: 'string' }, token: { type: 'string' }, force: { type: 'boolean' }, 'allow-warnings': { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new StartupError(`${(err as Error).message.split('\n')[0]} Run "sitecall help" for the commands.`);
  }
  const { values, positionals } = parsed;
  switch (sub) {
    case 'validate': {
      const file = positionals[0];
      if (!file) throw new StartupError('Name the file to check: sitecall config validate FILE.');
      const config = readConfigFile(file);
      const dataDir = values['data-dir'] ?? env['SITECALL_DATA_DIR'] ?? defaultDataDir(env);
      // The site id made on this machine's first start; before any start, instances name no site.
      const self = peekDocument<{ _id: string; id: string; name: string }>(dataDir, 'site', 'self');
      const selfId = self?.id ?? 'this-site';
      const result = validateRolesConfig(config, {
        selfSiteId: selfId,
        sites: new Map([[selfId, { name: self?.name ?? 'this site', interfaces: localInterfaces().map((i) => i.name) }]]),
      });
      const errors = result.problems.filter((p) => p.severity === 'error').length;
      const failed = errors > 0 || (result.problems.length > 0 && !values['allow-warnings']);
      return {
        code: failed ? 1 : 0,
        out: result.problems.length ? result.problems.map(line) : [`${file}: no problems (${config.instances.length} instances).`],
        err: [],
      };
    }
    case 'export': {
      const client = apiFor(values, env);
      const res = await client('GET', '/api/v1/config/roles');
      // The service answers redacted; an export is a way out of its own, so it redacts again
      // (a file that travels must not depend on what the service it came from did).
      return { code: 0, out: [JSON.stringify(redactSecrets(res), null, 2)], err: [] };
    }
    case 'import': {
      const file = positionals[0];
      if (!file) throw new StartupError('Name the file to import: sitecall config import FILE.');
      const config = readConfigFile(file);
      const client = apiFor(values, env);
      const current = (await client('GET', '/api/v1/config/roles')) as { revision: number };
      if (config.revision !== undefined && config.revision !== current.revision && !values.force) {
        return {
          code: 1,
          out: [],
          err: [`sitecall: ${file} was exported at revision ${config.revision}, but the service is at revision ${current.revision}: someone changed it since. Export again, or import with --force to overwrite.`],
        };
      }
      const saved = (await client('PUT', '/api/v1/config/roles', { revision: current.revision, instances: config.instances, ...(config.ifaceAliases !== undefined ? { ifaceAliases: config.ifaceAliases } : {}) })) as {
        revision: number;
        warnings: ConfigProblem[];
      };
      return { code: 0, out: [...saved.warnings.map(line), `Imported ${config.instances.length} instances: the configuration is now at revision ${saved.revision}.`], err: [] };
    }
    default:
      throw new StartupError(`Unknown config command "${sub ?? ''}". Commands:\n${CONFIG_USAGE}`);
  }
}

class ApiFailure extends StartupError {}

function apiFor(values: { url?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv) {
  const base = (values.url ?? `http://${env['SITECALL_HOST'] || DEFAULT_HOST}:${env['SITECALL_PORT'] || DEFAULT_PORT}`).replace(/\/$/, '');
  const token = values.token ?? env['SITECALL_TOKEN'];
  if (!token) throw new StartupError('This command talks to the running service: pass an API token with the admin scope in --token or SITECALL_TOKEN (create one in the console under API tokens).');
  return async (method: string, path: string, body?: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiFailure(redactText(`Cannot reach the service at ${base}: ${cause?.code ?? cause?.message ?? (err as Error).message}. Is it running? (--url)`));
    }
    const payload = (await res.json().catch(() => undefined)) as { error?: { message: string; details?: { path: string; message: string }[] } } | undefined;
    if (!res.ok) {
      const details = payload?.error?.details?.map((d) => `error ${d.path}: ${d.message}`) ?? [];
      throw new ApiFailure([payload?.error?.message ?? `The service answered ${res.status}.`, ...details].join('\n'));
    }
    return payload;
  };
}
