/**
 * The IPC channels between the Electron main process and the console's preload.
 * One entry per channel; the preload exposes exactly one function per channel, and
 * the renderer sees them as `window.sitecallDesktop` (absent in a plain browser).
 */
export interface IpcChannels {
  /** Open the console's address in the system browser. */
  'shell:open-in-browser': { args: []; result: void };
  /** Version of the desktop shell and the address of the service it talks to. */
  'app:info': { args: []; result: DesktopInfo };
  /** Quit the desktop shell (the headless service it started stops with it). */
  'app:quit': { args: []; result: void };
}

export interface DesktopInfo {
  shellVersion: string;
  electronVersion: string;
  serviceUrl: string;
  /** true when the shell started the service itself, false when it attached to a running one */
  ownsService: boolean;
}

export type IpcChannel = keyof IpcChannels;

/** What the preload puts on `window.sitecallDesktop`: one function per channel. */
export interface DesktopBridge {
  openInBrowser(): Promise<void>;
  info(): Promise<DesktopInfo>;
  quit(): Promise<void>;
}
