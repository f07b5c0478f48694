/**
 * The preload: exposes exactly ConvmapApi as `window.convmap`, one method per operation, each an
 * ipcRenderer.invoke on its own channel. ipcRenderer itself is never exposed, and event listeners
 * never see the IpcRendererEvent (it carries `sender`, an ipcRenderer). Runs sandboxed: it may
 * import only 'electron' and what the bundler inlines (core/api), and exports nothing (a
 * sandboxed preload has no CommonJS `exports`).
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import type {
  AddFoldersResult, AddPhotosResult, BackendInfo, BatchEvent, BatchResult, ConvmapApi, DroppedFile, EventChannel, InvokeArgs, InvokeChannel,
  ModelSummary, PhotoRef, ProgressEvent, RecentItems, ScoresResult,
} from '../../core/api';

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

function invoke<C extends InvokeChannel, R>(channel: C, ...args: InvokeArgs[C]): Promise<R> {
  return (ipcRenderer.invoke(channel, ...args) as Promise<R>).catch((err: unknown) => {
    throw remoteError(err);
  });
}

function subscribe<T>(channel: EventChannel, listener: (payload: T) => void): () => void {
  const wrapped = (_event: IpcRendererEvent, payload: T): void => listener(payload);
  ipcRenderer.on(channel, wrapped);
  return () => {
    ipcRenderer.removeListener(channel, wrapped);
  };
}

const api: ConvmapApi = {
  backendInfo: () => invoke<'convmap:backend-info', BackendInfo>('convmap:backend-info'),
  openModelDialog: () => invoke<'convmap:open-model-dialog', string | null>('convmap:open-model-dialog'),
  loadModel: (req) => invoke<'convmap:load-model', ModelSummary>('convmap:load-model', req),
  setPreprocess: (req) => invoke<'convmap:set-preprocess', ModelSummary>('convmap:set-preprocess', req),
  openPhotosDialog: () => invoke<'convmap:open-photos-dialog', AddPhotosResult>('convmap:open-photos-dialog'),
  addPhotos: (paths) => invoke<'convmap:add-photos', AddPhotosResult>('convmap:add-photos', paths),
  demoScene: () => invoke<'convmap:demo-scene', PhotoRef>('convmap:demo-scene'),
  computeScores: (req) => invoke<'convmap:compute-scores', ScoresResult>('convmap:compute-scores', req),
  cancel: (jobId) => invoke<'convmap:cancel', void>('convmap:cancel', jobId),
  recent: () => invoke<'convmap:recent', RecentItems>('convmap:recent'),
  openFoldersDialog: (recursive) => invoke<'convmap:open-folders-dialog', AddFoldersResult>('convmap:open-folders-dialog', recursive),
  addFolders: (req) => invoke<'convmap:add-folders', AddFoldersResult>('convmap:add-folders', req),
  chooseExportFolder: () => invoke<'convmap:choose-export-folder', string | null>('convmap:choose-export-folder'),
  runBatch: (req) => invoke<'convmap:run-batch', BatchResult>('convmap:run-batch', req),
  pauseBatch: (batchId) => invoke<'convmap:pause-batch', void>('convmap:pause-batch', batchId),
  resumeBatch: (batchId) => invoke<'convmap:resume-batch', void>('convmap:resume-batch', batchId),
  onBatch: (listener) => subscribe<BatchEvent>('convmap:batch', listener),
  onProgress: (listener) => subscribe<ProgressEvent>('convmap:progress', listener),
  onOpenFiles: (listener) => subscribe<string[]>('convmap:open-files', listener),
  // webUtils needs the real DOM File; anything else has no path.
  pathForFile: (file: DroppedFile) => {
    try {
      return webUtils.getPathForFile(file as unknown as File);
    } catch {
      return '';
    }
  },
};

contextBridge.exposeInMainWorld('convmap', api);
