/**
 * Sitecall desktop shell (Electron main process).
 *
 * The console is the web app the service serves; this process finds the service (attaches to one
 * that already answers at the configured address, or starts one and owns it), opens one locked-down
 * window on the service's origin, and puts "Open in browser" and "Quit" in a tray icon and the
 * application menu. Quitting stops only a service this process started.
 *
 * Settings (environment): SITECALL_HOST, SITECALL_PORT, SITECALL_DATA_DIR (default
 * `<userData>/data`), SITECALL_DESKTOP_START_TIMEOUT_MS, SITECALL_DESKTOP_USER_DATA_DIR (the
 * shell's own profile directory, for tests and side-by-side installs).
 * SITECALL_SERVICE_NODE (set by `npm run desktop`): run the service with that Node binary instead of
 * an Electron utility process, because development node_modules are built for Node's ABI.
 */
import {
  app,
  BrowserWindow,
  dialog,
  Menu,
  nativeImage,
  session,
  shell,
  Tray,
  utilityProcess,
  type MenuItemConstructorOptions,
  type Session,
  type WebContents,
  type WebPreferences,
} from 'electron';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DesktopInfo } from '../shared/ipc.js';
import {
  fallbackContentSecurityPolicy,
  hasContentSecurityPolicy,
  isAllowedRequest,
  isServiceOrigin,
  navigationDecision,
} from './guards.js';
import { noArgs, registerIpcHandlers, type ChannelHandlers } from './ipc.js';
import {
  connectOrStart,
  describeExit,
  nodeLauncher,
  ServiceLog,
  ServiceStartError,
  stopService,
  type ChildExit,
  type LaunchSpec,
  type ServiceChild,
  type ServiceConnection,
  type ServiceLauncher,
} from './service-process.js';
import { resolveSettings, SettingsError, type DesktopSettings } from './settings.js';

const PRODUCT_NAME = 'Sitecall';
/** How long a service this shell started gets to shut down gracefully before it is killed. */
const STOP_GRACE_MS = 10_000;

// dist/main/main.js → the app's root: the repository in development, resources/app.asar when packaged.
const appRoot = fileURLToPath(new URL('../../', import.meta.url));
const preloadPath = fileURLToPath(new URL('./preload.cjs', import.meta.url));
const serviceEntry = path.join(appRoot, 'bin', 'sitecall.js');
const trayIconPath = path.join(appRoot, 'main', 'assets', 'tray.png');
const windowIconPath = path.join(appRoot, 'main', 'assets', 'icon.png');

/** The web preferences of every window this shell creates (Electron's security checklist). */
function secureWebPreferences(preload: string | undefined): WebPreferences {
  return {
    ...(preload === undefined ? {} : { preload }),
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
    devTools: !app.isPackaged,
  };
}

// ---------------------------------------------------------------------------------------------
// State

let settings: DesktopSettings | undefined;
let log: ServiceLog | undefined;
let connection: ServiceConnection | undefined;
/** The service process this shell launched (from launch on, also while it is still starting). */
let ownedChild: ServiceChild | undefined;
let mainWindow: BrowserWindow | undefined;
let tray: Tray | undefined;
/** Set once quitting has begun: windows close for real, a service exit is expected. */
let quitting = false;
let stopping: Promise<void> | undefined;
/** Set once the owned service (if any) has been stopped and the log closed. */
let serviceStopped = false;

// ---------------------------------------------------------------------------------------------
// Launching the service

/** An Electron utility process: the packaged app's way to run the service (Electron's Node ABI). */
const utilityLauncher: ServiceLauncher = (spec: LaunchSpec): ServiceChild => {
  const child = utilityProcess.fork(spec.entry, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: 'pipe',
    serviceName: 'Sitecall service',
  });
  let hasExited = false;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code) => {
      hasExited = true;
      resolve({ code, signal: null });
    });
  });
  return {
    get pid() {
      return child.pid;
    },
    stdout: child.stdout,
    stderr: child.stderr,
    terminate: () => void child.kill(),
    forceKill: () => {
      if (child.pid === undefined) return;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
    exited,
    get hasExited() {
      return hasExited;
    },
  };
};

function chooseLauncher(): { launcher: ServiceLauncher; description: string } {
  const nodePath = process.env.SITECALL_SERVICE_NODE?.trim();
  if (nodePath) return { launcher: nodeLauncher(nodePath), description: `Node at ${nodePath}` };
  return { launcher: utilityLauncher, description: 'an Electron utility process' };
}

function serviceEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE;
  delete env.SITECALL_SERVICE_NODE;
  if (app.isPackaged) env.NODE_ENV ??= 'production';
  return env;
}

async function bringUpService(current: DesktopSettings, serviceLog: ServiceLog): Promise<ServiceConnection> {
  const { launcher, description } = chooseLauncher();
  const trackedLauncher: ServiceLauncher = (spec) => {
    const child = launcher(spec);
    ownedChild = child;
    return child;
  };
  serviceLog.note(`desktop shell ${app.getVersion()} (Electron ${process.versions.electron}); service runs in ${description}`);
  const result = await connectOrStart({
    settings: current,
    launch: trackedLauncher,
    entry: serviceEntry,
    cwd: appRoot,
    env: serviceEnv(),
    log: serviceLog,
  });
  if (result.ownsService) void result.child.exited.then((exit) => onServiceExited(result.child, exit));
  return result;
}

function onServiceExited(child: ServiceChild, exit: ChildExit): void {
  if (quitting || connection === undefined || !connection.ownsService || connection.child !== child) return;
  const current = settings;
  const serviceLog = log;
  if (!current || !serviceLog) return;
  const choice = dialog.showMessageBoxSync({
    type: 'error',
    title: PRODUCT_NAME,
    message: `The Sitecall service stopped unexpectedly (${describeExit(exit)}).`,
    detail: `${serviceLog.tail(15).join('\n')}\n\nFull log: ${serviceLog.file}`,
    buttons: ['Restart the service', 'Quit'],
    defaultId: 0,
    cancelId: 1,
  });
  if (choice !== 0) {
    app.quit();
    return;
  }
  bringUpService(current, serviceLog)
    .then((restarted) => {
      connection = restarted;
      mainWindow?.loadURL(current.serviceUrl).catch(() => undefined);
    })
    .catch((error: unknown) => failAndExit(error));
}

/** Stop the service this shell started (never one it attached to). */
function stopOwnedService(): Promise<void> {
  stopping ??= (async () => {
    if (ownedChild) {
      const outcome = await stopService(ownedChild, STOP_GRACE_MS);
      log?.note(`stopping the Sitecall service: ${outcome}`);
    }
    await log?.close();
    serviceStopped = true;
  })();
  return stopping;
}

// ---------------------------------------------------------------------------------------------
// Errors

function showStartError(error: unknown): void {
  let message: string;
  let detail = '';
  if (error instanceof ServiceStartError) {
    message = error.message;
    const tail = error.logTail.slice(-15).join('\n');
    detail = [tail, error.logFile ? `Full log: ${error.logFile}` : ''].filter((part) => part !== '').join('\n\n');
  } else if (error instanceof SettingsError) {
    message = error.message;
  } else {
    message = `Sitecall could not start: ${error instanceof Error ? error.message : String(error)}`;
  }
  const logFile = error instanceof ServiceStartError ? error.logFile : undefined;
  const buttons = logFile ? ['Quit', 'Show log file'] : ['Quit'];
  const choice = dialog.showMessageBoxSync({ type: 'error', title: PRODUCT_NAME, message, detail, buttons, defaultId: 0 });
  if (choice === 1 && logFile) shell.showItemInFolder(logFile);
}

function failAndExit(error: unknown): void {
  quitting = true;
  showStartError(error);
  void stopOwnedService().finally(() => app.exit(1));
}

// ---------------------------------------------------------------------------------------------
// Security guards

/** Open an http(s) URL in the system browser (only URLs the guards classified as external). */
function openExternally(url: string): void {
  shell.openExternal(url).catch((error: unknown) => {
    log?.note(`could not open ${url} in the system browser: ${error instanceof Error ? error.message : String(error)}`);
  });
}

/** Navigation and window-open guards for every webContents the app ever gets. */
function guardWebContents(contents: WebContents): void {
  contents.on('will-attach-webview', (event) => event.preventDefault());

  const guardNavigation = (event: { preventDefault(): void }, url: string, openOutside: boolean): void => {
    const origin = settings?.serviceOrigin;
    const decision = origin === undefined ? 'deny' : navigationDecision(url, origin);
    if (decision === 'allow') return;
    event.preventDefault();
    if (decision === 'open-external' && openOutside) openExternally(url);
  };
  contents.on('will-navigate', (event) => guardNavigation(event, event.url, event.isMainFrame));
  // Sub-frames (the main frame is handled by will-navigate): in-origin only, nothing opened outside.
  contents.on('will-frame-navigate', (event) => {
    if (!event.isMainFrame) guardNavigation(event, event.url, false);
  });
  contents.on('will-redirect', (event) => guardNavigation(event, event.url, false));

  contents.setWindowOpenHandler(({ url }) => {
    const origin = settings?.serviceOrigin;
    const decision = origin === undefined ? 'deny' : navigationDecision(url, origin);
    if (decision === 'allow') {
      // A console page opened in a second window: same lockdown, no desktop bridge.
      return {
        action: 'allow',
        overrideBrowserWindowOptions: { autoHideMenuBar: true, webPreferences: secureWebPreferences(undefined) },
      };
    }
    if (decision === 'open-external') openExternally(url);
    return { action: 'deny' };
  });
}

/** Network, CSP and permission policy of the session the console uses. */
function guardSession(ses: Session, serviceOrigin: string): void {
  const csp = fallbackContentSecurityPolicy(serviceOrigin);
  ses.webRequest.onBeforeRequest((details, callback) => {
    const allowed = isAllowedRequest(details.url, serviceOrigin, details.resourceType);
    if (!allowed) log?.note(`blocked a request to ${details.url} (${details.resourceType})`);
    callback({ cancel: !allowed });
  });
  ses.webRequest.onHeadersReceived((details, callback) => {
    if (isServiceOrigin(details.url, serviceOrigin) && !hasContentSecurityPolicy(details.responseHeaders)) {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } });
      return;
    }
    callback({});
  });
  // The console needs no permission (audio playback needs none): refuse every request and check.
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);
}

// ---------------------------------------------------------------------------------------------
// Window, menu, tray

function showMainWindow(): void {
  if (!mainWindow || mainWindow.isDestroyed()) return;
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.show();
  mainWindow.focus();
}

function openInBrowser(): void {
  if (settings) openExternally(settings.serviceUrl);
}

function createMainWindow(current: DesktopSettings): BrowserWindow {
  const window = new BrowserWindow({
    title: PRODUCT_NAME,
    width: 1280,
    height: 820,
    minWidth: 880,
    minHeight: 560,
    show: false,
    backgroundColor: '#ffffff',
    ...(process.platform === 'linux' && existsSync(windowIconPath) ? { icon: windowIconPath } : {}),
    webPreferences: secureWebPreferences(preloadPath),
  });
  window.once('ready-to-show', () => window.show());
  window.on('close', (event) => {
    // With a tray and a service of its own, closing the window keeps the service (and the phone
    // system it serves) running; "Quit" in the tray or menu ends both.
    if (!quitting && tray && connection?.ownsService) {
      event.preventDefault();
      window.hide();
    }
  });
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = undefined;
  });
  window.webContents.on('did-fail-load', (_event, code, description, url, isMainFrame) => {
    if (isMainFrame && code !== -3) log?.note(`the console failed to load ${url}: ${description} (${code})`);
  });
  void window.loadURL(current.serviceUrl).catch(() => undefined);
  return window;
}

function appMenuItems(): MenuItemConstructorOptions[] {
  return [
    { label: 'Open Sitecall', click: showMainWindow },
    { label: 'Open in browser', click: openInBrowser },
    { type: 'separator' },
    { label: 'Quit', accelerator: 'CmdOrCtrl+Q', click: () => app.quit() },
  ];
}

function installApplicationMenu(): void {
  const isMac = process.platform === 'darwin';
  const viewItems: MenuItemConstructorOptions[] = [
    { role: 'reload' },
    { role: 'forceReload' },
    ...(app.isPackaged ? [] : [{ role: 'toggleDevTools' } satisfies MenuItemConstructorOptions]),
    { type: 'separator' },
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' } satisfies MenuItemConstructorOptions] : []),
    { label: PRODUCT_NAME, submenu: appMenuItems() },
    { role: 'editMenu' },
    { label: 'View', submenu: viewItems },
    { role: 'windowMenu' },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

/** A tray icon when the desktop has a tray; without one the application menu does the same job. */
function createTray(): Tray | undefined {
  try {
    const image = nativeImage.createFromPath(trayIconPath);
    if (image.isEmpty()) return undefined;
    const created = new Tray(image);
    created.setToolTip(PRODUCT_NAME);
    created.setContextMenu(Menu.buildFromTemplate(appMenuItems()));
    created.on('click', showMainWindow);
    return created;
  } catch (error) {
    log?.note(`no tray icon (${error instanceof Error ? error.message : String(error)}); the application menu has the same items`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// IPC

function desktopInfo(current: DesktopSettings): DesktopInfo {
  return {
    shellVersion: app.getVersion(),
    electronVersion: process.versions.electron ?? '',
    serviceUrl: current.serviceUrl,
    ownsService: connection?.ownsService ?? false,
  };
}

function installIpc(current: DesktopSettings): void {
  const handlers: ChannelHandlers = {
    'shell:open-in-browser': { parseArgs: noArgs, handle: () => openInBrowser() },
    'app:info': { parseArgs: noArgs, handle: () => desktopInfo(current) },
    'app:quit': {
      parseArgs: noArgs,
      // Reply first, then quit (the quit stops the owned service and closes the window).
      handle: () => void setImmediate(() => app.quit()),
    },
  };
  registerIpcHandlers(handlers, current.serviceOrigin);
}

// ---------------------------------------------------------------------------------------------
// First start: tell where the generated admin password is

function hintInitialPassword(current: DesktopSettings): void {
  const passwordFile = path.join(current.dataDir, 'initial-admin-password');
  const marker = path.join(app.getPath('userData'), 'initial-password-hint-shown.json');
  let shownFor: string[] = [];
  try {
    const parsed: unknown = JSON.parse(readFileSync(marker, 'utf8'));
    if (Array.isArray(parsed)) shownFor = parsed.filter((entry): entry is string => typeof entry === 'string');
  } catch {
    // not shown yet
  }
  if (!existsSync(passwordFile) || shownFor.includes(current.dataDir)) return;
  try {
    mkdirSync(path.dirname(marker), { recursive: true });
    writeFileSync(marker, JSON.stringify([...shownFor, current.dataDir]), { mode: 0o600 });
  } catch {
    // showing it again next time is harmless
  }
  const options = {
    type: 'info' as const,
    title: PRODUCT_NAME,
    message: 'Sign in as "admin" with the password generated on the first start.',
    detail: `It is in ${passwordFile} (readable only by you). Change it after signing in.`,
    buttons: ['OK', 'Show the file'],
    defaultId: 0,
  };
  const shown = mainWindow ? dialog.showMessageBox(mainWindow, options) : dialog.showMessageBox(options);
  void shown.then(({ response }) => {
    if (response === 1) shell.showItemInFolder(passwordFile);
  });
}

// ---------------------------------------------------------------------------------------------
// Start-up

async function start(): Promise<void> {
  await app.whenReady();
  let current: DesktopSettings;
  try {
    current = resolveSettings(process.env, { dataDir: path.join(app.getPath('userData'), 'data') });
  } catch (error) {
    failAndExit(error);
    return;
  }
  settings = current;
  guardSession(session.defaultSession, current.serviceOrigin);
  installApplicationMenu();

  const serviceLog = new ServiceLog(path.join(current.dataDir, 'logs', 'desktop-service.log'));
  log = serviceLog;
  tray = createTray();
  tray?.setToolTip(`${PRODUCT_NAME}: starting…`);

  try {
    connection = await bringUpService(current, serviceLog);
  } catch (error) {
    // Quitting while the service was starting stops it, which ends the wait with an error: no dialog.
    if (!quitting) failAndExit(error);
    return;
  }
  if (quitting) return;
  tray?.setToolTip(`${PRODUCT_NAME}: ${current.serviceUrl}${connection.ownsService ? '' : ' (attached)'}`);
  installIpc(current);
  mainWindow = createMainWindow(current);
  if (connection.ownsService) mainWindow.once('ready-to-show', () => hintInitialPassword(current));
}

function main(): void {
  app.setName(PRODUCT_NAME);
  const userData = process.env.SITECALL_DESKTOP_USER_DATA_DIR?.trim();
  app.setPath('userData', userData ? path.resolve(userData) : path.join(app.getPath('appData'), PRODUCT_NAME));
  app.enableSandbox();

  if (!app.requestSingleInstanceLock()) {
    // Another Sitecall window is running for this profile: it comes to the front instead.
    app.quit();
    return;
  }
  app.on('second-instance', showMainWindow);
  app.on('web-contents-created', (_event, contents) => guardWebContents(contents));
  app.on('activate', showMainWindow);
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin' || !connection?.ownsService) app.quit();
  });
  app.on('before-quit', (event) => {
    quitting = true;
    if (ownedChild && !serviceStopped) {
      event.preventDefault();
      for (const window of BrowserWindow.getAllWindows()) window.hide();
      tray?.destroy();
      tray = undefined;
      void stopOwnedService().finally(() => app.quit());
    }
  });
  // A development child (plain Node) does not die with this process: never leave it behind.
  process.on('exit', () => {
    if (ownedChild && !ownedChild.hasExited) ownedChild.forceKill();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => app.quit());

  start().catch((error: unknown) => failAndExit(error));
}

main();
