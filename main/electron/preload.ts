/**
 * The preload: exposes exactly ConvmapApi as `window.convmap`, built from core/api.ts's channel
 * table: one method per operation, each an ipcRenderer.invoke on its own channel, and one subscribe
 * method per event. ipcRenderer itself is never exposed, and event listeners never see the
 * IpcRendererEvent (it carries `sender`, an ipcRenderer). Runs sandboxed: it may import only
 * 'electron' and what the bundler inlines (core/api), and exports nothing (a sandboxed preload has
 * no CommonJS `exports`).
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { DROPPED_CHANNEL, EVENTS, INVOKES, type ConvmapApi, type DroppedFile } from '../../core/api';

/**
 * Electron rejects a failed invoke with "Error invoking remote method 'channel': Name: message".
 * The renderer gets the message main threw, with the error's name (AbortError for a cancelled job).
 */
function remoteError(err: unknown): Error {
  const raw = err instanceof Error ? err.message : String(err);
  const m = /^Error invoking remote method '[^']*': (?:([A-Za-z]*Error): )?([\s\S]*)$/.exec(raw);
  const out = new Error(m ? m[2] : raw);
  out.name = m?.[1] ?? 'Error';
  return out;
}

const api: Record<string, unknown> = {};
for (const [method, { channel }] of Object.entries(INVOKES)) {
  api[method] = (...args: unknown[]): Promise<unknown> => ipcRenderer.invoke(channel, ...args).catch((err: unknown) => {
    throw remoteError(err);
  });
}
for (const [method, { channel }] of Object.entries(EVENTS)) {
  api[method] = (listener: (payload: unknown) => void): (() => void) => {
    const wrapped = (_event: IpcRendererEvent, payload: unknown): void => listener(payload);
    ipcRenderer.on(channel, wrapped);
    return () => {
      ipcRenderer.removeListener(channel, wrapped);
    };
  };
}
// webUtils needs the real DOM File; anything else has no path. A path found here is one the user
// dropped (a page cannot make a File with a path): main is told, so it accepts that path.
api.pathForFile = (file: DroppedFile): string => {
  let p = '';
  try {
    p = webUtils.getPathForFile(file as unknown as File);
  } catch {
    return '';
  }
  if (p) ipcRenderer.send(DROPPED_CHANNEL, p);
  return p;
};

// Typed by construction from the tables; test/app/preload.test.ts checks the exposed names against a written-out list.
contextBridge.exposeInMainWorld('convmap', api as unknown as ConvmapApi);
