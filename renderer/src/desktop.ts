import type { DesktopBridge } from '../../shared/ipc.js';

declare global {
  interface Window {
    /** Exposed by the Electron preload; absent when the console runs in a plain browser. */
    readonly sitecallDesktop?: DesktopBridge;
  }
}

/** The desktop shell's bridge, or undefined in a browser. */
export function desktopBridge(): DesktopBridge | undefined {
  return typeof window === 'undefined' ? undefined : window.sitecallDesktop;
}
