// A stand-in for the parts of Electron's main-process API the desktop shell uses, so main.ts can
// run under plain Node where Electron's binary is not installed. It records what the shell does
// (one JSON line per event on stdout, prefixed "@@fake ") and lets the test drive the hooks the
// shell installed (navigation, window.open, requests, permissions, IPC, quit) with JSON lines
// on stdin: {"id": 1, "cmd": "navigate", "url": "..."} → {"reply": 1, ...}.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

const out = (record) => process.stdout.write(`@@fake ${JSON.stringify(record)}\n`);

class FakeEvent {
  constructor(fields = {}) {
    Object.assign(this, fields);
    this.defaultPrevented = false;
  }
  preventDefault() {
    this.defaultPrevented = true;
  }
}

class App extends EventEmitter {
  isPackaged = false;
  #name = 'sitecall';
  #paths = { appData: process.env.FAKE_APPDATA ?? '/nonexistent-appdata', userData: '' };
  setName(name) {
    this.#name = name;
    out({ event: 'setName', name });
  }
  getName() {
    return this.#name;
  }
  getVersion() {
    return '0.1.0';
  }
  getPath(name) {
    if (!(name in this.#paths)) throw new Error(`fake electron: no path ${name}`);
    return this.#paths[name];
  }
  setPath(name, value) {
    this.#paths[name] = value;
    out({ event: 'setPath', name, value });
  }
  enableSandbox() {
    out({ event: 'enableSandbox' });
  }
  requestSingleInstanceLock() {
    return process.env.FAKE_LOCK !== 'taken';
  }
  whenReady() {
    return Promise.resolve();
  }
  quit() {
    const event = new FakeEvent();
    this.emit('before-quit', event);
    out({ event: 'before-quit', prevented: event.defaultPrevented });
    if (!event.defaultPrevented) {
      out({ event: 'quit' });
      setImmediate(() => process.exit(0));
    }
  }
  exit(code = 0) {
    out({ event: 'exit', code });
    process.exit(code);
  }
}
export const app = new App();

class WebContents extends EventEmitter {
  openHandler = undefined;
  setWindowOpenHandler(handler) {
    this.openHandler = handler;
  }
}

const windows = [];
export class BrowserWindow extends EventEmitter {
  constructor(options) {
    super();
    this.options = options;
    this.webContents = new WebContents();
    this.destroyed = false;
    windows.push(this);
    app.emit('web-contents-created', new FakeEvent(), this.webContents);
    out({ event: 'window', show: options.show, webPreferences: options.webPreferences });
  }
  static getAllWindows() {
    return windows.filter((window) => !window.destroyed);
  }
  loadURL(url) {
    out({ event: 'loadURL', url });
    setImmediate(() => this.emit('ready-to-show'));
    return Promise.resolve();
  }
  show() {
    out({ event: 'show' });
  }
  hide() {
    out({ event: 'hide' });
  }
  focus() {}
  restore() {}
  isMinimized() {
    return false;
  }
  isDestroyed() {
    return this.destroyed;
  }
}

const sessionHooks = {};
export const session = {
  defaultSession: {
    webRequest: {
      onBeforeRequest: (listener) => (sessionHooks.beforeRequest = listener),
      onHeadersReceived: (listener) => (sessionHooks.headersReceived = listener),
    },
    setPermissionRequestHandler: (handler) => (sessionHooks.permissionRequest = handler),
    setPermissionCheckHandler: (handler) => (sessionHooks.permissionCheck = handler),
    setDevicePermissionHandler: (handler) => (sessionHooks.devicePermission = handler),
  },
};

const ipcHandlers = new Map();
export const ipcMain = {
  handle: (channel, handler) => {
    if (ipcHandlers.has(channel)) throw new Error(`fake electron: second handler for ${channel}`);
    ipcHandlers.set(channel, handler);
  },
  removeHandler: (channel) => ipcHandlers.delete(channel),
};

const labels = (template) =>
  template.map((item) => item.label ?? item.role ?? item.type).concat(
    template.flatMap((item) => (Array.isArray(item.submenu) ? labels(item.submenu) : [])),
  );
export const Menu = {
  buildFromTemplate: (template) => ({ template }),
  setApplicationMenu: (menu) => out({ event: 'applicationMenu', labels: labels(menu.template) }),
};

export class Tray {
  constructor() {
    if (process.env.FAKE_TRAY === 'none') throw new Error('no tray on this desktop');
    out({ event: 'tray' });
  }
  setToolTip(text) {
    out({ event: 'trayToolTip', text });
  }
  setContextMenu(menu) {
    out({ event: 'trayMenu', labels: labels(menu.template) });
  }
  on() {}
  destroy() {
    out({ event: 'trayDestroyed' });
  }
}

export const nativeImage = {
  createFromPath: (file) => ({ isEmpty: () => !existsSync(file) }),
};

export const dialog = {
  showMessageBoxSync: (...args) => {
    const options = args.at(-1);
    out({ event: 'dialog', type: options.type, message: options.message, detail: options.detail });
    return 0;
  },
  showMessageBox: (...args) => {
    const options = args.at(-1);
    out({ event: 'dialog', type: options.type, message: options.message, detail: options.detail });
    return Promise.resolve({ response: 0 });
  },
  showErrorBox: (title, content) => out({ event: 'dialog', type: 'error', message: title, detail: content }),
};

export const shell = {
  openExternal: (url) => {
    out({ event: 'openExternal', url });
    return Promise.resolve();
  },
  showItemInFolder: (file) => out({ event: 'showItemInFolder', file }),
};

export const utilityProcess = {
  fork: () => {
    throw new Error('fake electron: utilityProcess is not available (set SITECALL_SERVICE_NODE)');
  },
};

// ---- the test drives the installed hooks from stdin ----

const mainContents = () => windows[0]?.webContents;

async function run(command) {
  switch (command.cmd) {
    case 'navigate': {
      const event = new FakeEvent({ url: command.url, isMainFrame: true });
      mainContents().emit('will-navigate', event);
      return { prevented: event.defaultPrevented };
    }
    case 'frame-navigate': {
      const event = new FakeEvent({ url: command.url, isMainFrame: false });
      mainContents().emit('will-frame-navigate', event);
      return { prevented: event.defaultPrevented };
    }
    case 'redirect': {
      const event = new FakeEvent({ url: command.url, isMainFrame: true });
      mainContents().emit('will-redirect', event);
      return { prevented: event.defaultPrevented };
    }
    case 'window-open': {
      const result = mainContents().openHandler({ url: command.url });
      return {
        action: result.action,
        webPreferences: result.overrideBrowserWindowOptions?.webPreferences ?? null,
      };
    }
    case 'webview': {
      const event = new FakeEvent();
      mainContents().emit('will-attach-webview', event, {}, {});
      return { prevented: event.defaultPrevented };
    }
    case 'request':
      return new Promise((resolve) =>
        sessionHooks.beforeRequest({ url: command.url, resourceType: command.resourceType }, (response) => resolve(response)),
      );
    case 'headers':
      return new Promise((resolve) =>
        sessionHooks.headersReceived({ url: command.url, responseHeaders: command.headers }, (response) => resolve(response)),
      );
    case 'permission':
      return new Promise((resolve) =>
        sessionHooks.permissionRequest({}, command.permission, (granted) =>
          resolve({ granted, check: sessionHooks.permissionCheck({}, command.permission, command.origin, {}) }),
        ),
      );
    case 'ipc': {
      const handler = ipcHandlers.get(command.channel);
      if (!handler) return { error: `no handler for ${command.channel}` };
      const event = { senderFrame: command.frameUrl === null ? null : { url: command.frameUrl, parent: command.subframe ? {} : null } };
      try {
        return { value: (await handler(event, ...(command.args ?? []))) ?? null };
      } catch (error) {
        return { error: error.message };
      }
    }
    case 'channels':
      return { channels: [...ipcHandlers.keys()].sort() };
    case 'close-window': {
      const event = new FakeEvent();
      windows[0].emit('close', event);
      return { prevented: event.defaultPrevented };
    }
    case 'second-instance':
      app.emit('second-instance', new FakeEvent(), [], '');
      return {};
    case 'quit':
      app.quit();
      return {};
    default:
      return { error: `unknown command ${command.cmd}` };
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  Promise.resolve(run(command)).then(
    (result) => out({ reply: command.id, ...result }),
    (error) => out({ reply: command.id, error: String(error) }),
  );
});
