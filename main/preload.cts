/**
 * Preload of the console window. Sandboxed preloads cannot be ES modules, so this file is
 * CommonJS (compiled to dist/main/preload.cjs) and requires nothing but `electron`.
 *
 * It exposes exactly one function per IPC channel as `window.sitecallDesktop`; the page never
 * gets ipcRenderer or a generic invoke.
 */
import electron = require('electron');
import type { DesktopBridge, IpcChannel, IpcChannels } from '../shared/ipc.js';

function invoke<C extends IpcChannel>(channel: C, ...args: IpcChannels[C]['args']): Promise<IpcChannels[C]['result']> {
  return electron.ipcRenderer.invoke(channel, ...args) as Promise<IpcChannels[C]['result']>;
}

/** Which channel each bridge function calls. */
const channelOf = {
  openInBrowser: 'shell:open-in-browser',
  info: 'app:info',
  quit: 'app:quit',
} as const satisfies Record<keyof DesktopBridge, IpcChannel>;

/** Compile-time check: every channel has a bridge function (a new channel without one fails here). */
type UnbridgedChannel = Exclude<IpcChannel, (typeof channelOf)[keyof typeof channelOf]>;
const everyChannelBridged: [UnbridgedChannel] extends [never] ? true : UnbridgedChannel = true;
void everyChannelBridged;

const bridge = {
  openInBrowser: () => invoke(channelOf.openInBrowser),
  info: () => invoke(channelOf.info),
  quit: () => invoke(channelOf.quit),
};

electron.contextBridge.exposeInMainWorld('sitecallDesktop', bridge satisfies DesktopBridge);
