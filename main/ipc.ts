/**
 * Typed IPC handlers of the main process: one handler per channel of `shared/ipc.ts`, each
 * checked against the channel's declared argument and result types, every call refused unless it
 * comes from the console's top-level frame on the service origin.
 */
import { ipcMain, type IpcMainInvokeEvent } from 'electron';
import type { IpcChannel, IpcChannels } from '../shared/ipc.js';
import { isTrustedSender } from './guards.js';

type ChannelArgs<C extends IpcChannel> = IpcChannels[C]['args'];
type ChannelResult<C extends IpcChannel> = IpcChannels[C]['result'];

export interface ChannelHandler<C extends IpcChannel> {
  /** Check what the renderer sent (untrusted) and return it as the channel's declared arguments; throw otherwise. */
  parseArgs(raw: readonly unknown[]): ChannelArgs<C>;
  handle(event: IpcMainInvokeEvent, ...args: ChannelArgs<C>): ChannelResult<C> | Promise<ChannelResult<C>>;
}

/** Exactly one handler for every channel: a missing or extra channel is a type error. */
export type ChannelHandlers = { [C in IpcChannel]: ChannelHandler<C> };

/** `parseArgs` for channels that take no arguments. */
export function noArgs(raw: readonly unknown[]): [] {
  if (raw.length !== 0) throw new Error(`expected no arguments, got ${raw.length}`);
  return [];
}

function registerOne<C extends IpcChannel>(channel: C, handler: ChannelHandler<C>, serviceOrigin: string): void {
  ipcMain.handle(channel, async (event, ...raw: unknown[]) => {
    if (!isTrustedSender(event.senderFrame, serviceOrigin)) {
      throw new Error(`${channel}: refused, the caller is not the Sitecall console`);
    }
    const args = handler.parseArgs(raw);
    return handler.handle(event, ...args);
  });
}

function registerChannel<C extends IpcChannel>(handlers: ChannelHandlers, channel: C, serviceOrigin: string): void {
  registerOne(channel, handlers[channel], serviceOrigin);
}

/** Register every handler; returns a function that removes them again. */
export function registerIpcHandlers(handlers: ChannelHandlers, serviceOrigin: string): () => void {
  const channels = Object.keys(handlers) as IpcChannel[];
  for (const channel of channels) registerChannel(handlers, channel, serviceOrigin);
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}
