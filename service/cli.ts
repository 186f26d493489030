import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ADMIN_USER, INITIAL_PASSWORD_FILE, openDocuments, startService } from './app.js';
import { AuthService } from './auth/auth.js';
import { configCommand, CONFIG_USAGE } from './config/cli.js';
import { loadSettings, SETTINGS_HELP, type Settings } from './config/settings.js';
import { StartupError } from './errors.js';
import { createLogger } from './logger.js';
import { ChangeFeed } from './storage/changes.js';
import { lockDataDir, prepareDataDir } from './storage/data-dir.js';
import { VERSION } from './version.js';

const USAGE = `Usage: sitecall <command> [options]

Commands:
  start                 run the service (callstore and vmail roles, API, console)
${CONFIG_USAGE}
  admin password        set the password of user "admin" (the service must be stopped);
                        reads SITECALL_ADMIN_PASSWORD, or asks
  --version             print the version

${SETTINGS_HELP}`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        if (rest.includes('--help') || rest.includes('-h')) return print(USAGE);
        return await start(loadSettings(rest, process.env));
      case 'config': {
        const result = await configCommand(rest, process.env);
        for (const l of result.out) process.stdout.write(`${l}\n`);
        for (const l of result.err) process.stderr.write(`${l}\n`);
        return result.code;
      }
      case 'admin':
        if (rest[0] !== 'password') return fail(`Unknown admin command "${rest[0] ?? ''}". ${USAGE}`);
        return await adminPassword(loadSettings(rest.slice(1), process.env));
      case '--version':
      case 'version':
        return print(VERSION);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return print(USAGE);
      default:
        return fail(`Unknown command "${command}". Run "sitecall help" for the commands.`);
    }
  } catch (err) {
    if (err instanceof StartupError) return fail(err.message);
    throw err;
  }
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`sitecall: ${message}\n`);
  return 1;
}

async function start(settings: Settings): Promise<number> {
  const log = createLogger(settings.logLevel);
  const service = await startService(settings, log, {
    onGeneratedPassword(password, file) {
      process.stdout.write(
        [
          '',
          '  ┌──────────────────────────────────────────────────────────────┐',
          '  │ Sitecall first start: the admin password was generated.',
          `  │   user:     ${ADMIN_USER}`,
          `  │   password: ${password}`,
          '  │ It is shown only this once; until you change it, it is also in',
          `  │   ${file}`,
          '  │ Change it with: sitecall admin password',
          '  └──────────────────────────────────────────────────────────────┘',
          '',
        ].join('\n') + '\n',
      );
    },
  });
  process.stdout.write(`Sitecall is running: open ${service.url}/ in a browser. Stop it with Ctrl+C.\n`);

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        log.warn({ signal }, 'second signal: exiting without a clean stop');
        resolve(130);
        return;
      }
      log.info({ signal }, 'signal received');
      service.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function adminPassword(settings: Settings): Promise<number> {
  const password = settings.adminPassword ?? (await ask('New password for admin (at least 8 characters): '));
  if (password.length < 8) return fail('The password must have at least 8 characters.');
  prepareDataDir(settings.dataDir);
  const unlock = lockDataDir(settings.dataDir);
  try {
    // Through the change log like the service: a password written around it would be undone by a rebuild.
    const { documents, changeLog } = await openDocuments(settings.dataDir, new ChangeFeed());
    const auth = await AuthService.open(documents, { sessionTtlMs: 0 });
    await auth.setPassword(ADMIN_USER, password);
    await documents.flush();
    await changeLog.close();
    rmSync(join(settings.dataDir, INITIAL_PASSWORD_FILE), { force: true });
  } finally {
    unlock();
  }
  return print(`The password of ${ADMIN_USER} is set; its open sessions were ended.`);
}

/** Asks on the terminal without echoing; reads a line from stdin when it is not a terminal. */
function ask(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
    if (process.stdin.isTTY) {
      process.stdout.write(question);
      // readline echoes through _writeToOutput; silencing it hides the password as it is typed
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
    }
    rl.question(process.stdin.isTTY ? '' : question, (answer) => {
      rl.close();
      if (process.stdin.isTTY) process.stdout.write('\n');
      resolve(answer.trim());
    });
  });
}
