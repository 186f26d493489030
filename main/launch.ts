/**
 * `npm run desktop`: start the Electron shell from a development checkout.
 *
 * Runs under plain Node. When the Electron binary is missing (npm installs the `electron` package
 * without it when its install script cannot download, or is not allowed to run), prints what to do
 * and exits 1. Otherwise runs Electron on this app with SITECALL_SERVICE_NODE set to this Node, so
 * the shell starts the service with Node (development native modules are built for Node's ABI, not
 * Electron's).
 */
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const appRoot = fileURLToPath(new URL('../../', import.meta.url));

/** What to do when the binary is missing (also the Electron test's skip reason). */
export const ELECTRON_BINARY_HELP = [
  'The Electron binary is not installed (this machine could not download it).',
  'On a machine that can reach GitHub run:',
  '  node node_modules/electron/install.js',
  '(with ELECTRON_SKIP_BINARY_DOWNLOAD unset: the script does nothing when it is set; `npm rebuild electron`',
  'does not run it here because package.json "allowScripts" turns electron\'s install script off),',
  'then `npm run desktop` again.',
  'The console also works in a browser: npm start, then open http://127.0.0.1:7080/.',
].join('\n');

/** The Electron executable when it is installed, else null. */
export function findElectronBinary(fromDir: string = appRoot): string | null {
  const require = createRequire(pathToFileURL(path.join(fromDir, 'package.json')));
  let binary: unknown;
  try {
    // node_modules/electron/index.js: reads path.txt (written by install.js after the download)
    // and throws "Electron failed to install correctly" when it is missing.
    binary = require('electron');
  } catch {
    return null;
  }
  return typeof binary === 'string' && existsSync(binary) ? binary : null;
}

function run(): void {
  const binary = findElectronBinary();
  if (binary === null) {
    console.error(ELECTRON_BINARY_HELP);
    process.exit(1);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, SITECALL_SERVICE_NODE: process.execPath };
  delete env.ELECTRON_RUN_AS_NODE;
  const child = spawn(binary, [appRoot, ...process.argv.slice(2)], { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
  }
  child.on('error', (error) => {
    console.error(`Could not run Electron (${binary}): ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    process.exit(code ?? (signal ? 1 : 0));
  });
}

// Run when executed (`node dist/main/launch.js`), not when imported (the Electron test reuses the helpers).
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) run();
