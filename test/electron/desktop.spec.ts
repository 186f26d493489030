/**
 * The Electron shell end to end: it starts its own service on a free port with a temporary data
 * directory, opens the console's login page from that service, exposes only the desktop bridge
 * (no Node in the page), keeps navigation on the service origin, and stops the service on quit.
 *
 * Needs Electron's binary, which npm could not download on the build machines: the test is then
 * skipped with the way to get it. On Linux it also needs a display (xvfb-run -a npx playwright test).
 */
import { _electron as electron, expect, test, type ElectronApplication } from '@playwright/test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DesktopBridge, DesktopInfo } from '../../shared/ipc.js';
import { ELECTRON_BINARY_HELP, findElectronBinary } from '../../main/launch.js';
import { probeService } from '../../main/service-process.js';
import { freePort, REPO_ROOT, tempDir } from '../support/service.js';

const electronBinary = findElectronBinary(REPO_ROOT);
const noDisplay = process.platform === 'linux' && !process.env['DISPLAY'] && !process.env['WAYLAND_DISPLAY'];

/** What the page can see of the desktop bridge and of Node. */
interface PageView {
  bridgeKeys: string[] | null;
  bridgeTypes: string[];
  require: string;
  process: string;
  module: string;
  buffer: string;
}

/** The main process's record of URLs handed to the system browser (shell.openExternal is stubbed). */
interface OpenedRecord {
  sitecallTestOpened?: string[];
}

function definedEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  delete env['ELECTRON_RUN_AS_NODE'];
  return { ...env, ...extra };
}

test.describe('desktop shell (Electron)', () => {
  test.skip(electronBinary === null, `Electron binary not installed: ${ELECTRON_BINARY_HELP.replace(/\s*\n\s*/g, ' ')}`);
  test.skip(electronBinary !== null && noDisplay, 'No display for Electron: run the tests under `xvfb-run -a` (apt-get install xvfb).');

  let root: string;
  let app: ElectronApplication | undefined;

  test.beforeEach(() => {
    root = tempDir('sitecall-electron-');
  });
  test.afterEach(async () => {
    await app?.close().catch(() => undefined);
    app = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  test('opens the console from its own service, locked down, and stops the service on quit', async () => {
    const port = await freePort();
    const serviceUrl = `http://127.0.0.1:${port}/`;
    const dataDir = join(root, 'data');
    const launched = await electron.launch({
      args: [REPO_ROOT],
      cwd: REPO_ROOT,
      env: definedEnv({
        SITECALL_HOST: '127.0.0.1',
        SITECALL_PORT: String(port),
        SITECALL_DATA_DIR: dataDir,
        SITECALL_DESKTOP_USER_DATA_DIR: join(root, 'profile'),
        SITECALL_SERVICE_NODE: process.execPath,
        SITECALL_ADMIN_PASSWORD: 'electron-test-password',
      }),
    });
    app = launched;

    // Never open a real browser from a test: record what would have been opened.
    await launched.evaluate(({ shell }) => {
      const opened: string[] = [];
      (globalThis as OpenedRecord).sitecallTestOpened = opened;
      shell.openExternal = async (url: string) => {
        opened.push(url);
      };
    });
    const openedExternally = (): Promise<string[]> =>
      launched.evaluate(() => [...((globalThis as OpenedRecord).sitecallTestOpened ?? [])]);

    const page = await launched.firstWindow({ timeout: 60_000 });
    await page.waitForLoadState('domcontentloaded');
    expect(new URL(page.url()).origin).toBe(new URL(serviceUrl).origin);
    await expect(page.locator('input[type="password"]')).toBeVisible();
    await page.screenshot({ path: test.info().outputPath('electron-login.png') });

    // The page sees exactly one function per IPC channel and nothing of Node.
    const view = await page.evaluate((): PageView => {
      const w = window as unknown as Record<string, unknown>;
      const bridge = w['sitecallDesktop'];
      const record = typeof bridge === 'object' && bridge !== null ? (bridge as Record<string, unknown>) : null;
      return {
        bridgeKeys: record ? Object.keys(record).sort() : null,
        bridgeTypes: record ? Object.values(record).map((value) => typeof value) : [],
        require: typeof w['require'],
        process: typeof w['process'],
        module: typeof w['module'],
        buffer: typeof w['Buffer'],
      };
    });
    expect(view).toEqual({
      bridgeKeys: ['info', 'openInBrowser', 'quit'],
      bridgeTypes: ['function', 'function', 'function'],
      require: 'undefined',
      process: 'undefined',
      module: 'undefined',
      buffer: 'undefined',
    });

    const info = await page.evaluate(
      (): Promise<DesktopInfo> => (window as unknown as { sitecallDesktop: DesktopBridge }).sitecallDesktop.info(),
    );
    expect(info).toMatchObject({ serviceUrl, ownsService: true });
    expect(info.electronVersion).not.toBe('');

    // Navigation away from the service is blocked: http(s) goes to the system browser instead,
    // file: goes nowhere; window.open opens no window in the app.
    const consoleUrl = page.url();
    await page.evaluate(() => {
      window.location.href = 'https://example.com/elsewhere';
    });
    await expect.poll(openedExternally).toEqual(['https://example.com/elsewhere']);
    expect(page.url()).toBe(consoleUrl);

    await page.evaluate(() => {
      window.location.href = 'file:///etc/passwd';
    });
    const openedWindow = await page.evaluate(() => window.open('https://example.org/popup') === null);
    expect(openedWindow).toBe(true);
    await expect.poll(openedExternally).toEqual(['https://example.com/elsewhere', 'https://example.org/popup']);
    expect(page.url()).toBe(consoleUrl);
    expect(launched.windows()).toHaveLength(1);

    // Quit: the service this shell started is stopped with it.
    expect((await probeService(serviceUrl)).kind).toBe('sitecall');
    await launched.close();
    app = undefined;
    expect((await probeService(serviceUrl)).kind).toBe('unreachable');
    const log = readFileSync(join(dataDir, 'logs', 'desktop-service.log'), 'utf8');
    expect(log).toContain('stopping the Sitecall service: terminated');
  });
});
