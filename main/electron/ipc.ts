/**
 * One handler per invoke channel of core/api.ts. Every call is checked before use: the sender (our
 * window's main frame showing our page) and the shape of each argument (validate.ts). A refusal is
 * logged with its reason and rejects the renderer's promise with that reason.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { INVOKE_CHANNELS, type AddFoldersResult, type AddPhotosResult, type ConvmapApi, type InvokeArgs, type InvokeChannel } from '../../core/api';
import type { AppService } from '../services/app-service';
import { checkInvokeArgs, type ValidationContext } from './validate';

/** The dialogs, shown over the window that asked (the glue in main.ts implements them with Electron's dialog). */
export interface Dialogs {
  /** A model file or folder; null when cancelled. */
  openModel(sender: WebContents): Promise<string | null>;
  /** Photo files (multi-select); [] when cancelled. */
  openPhotos(sender: WebContents): Promise<string[]>;
  /** Folders (multi-select); [] when cancelled. */
  openFolders(sender: WebContents): Promise<string[]>;
  /** One folder to export into (created if needed); null when cancelled. */
  chooseExportFolder(sender: WebContents): Promise<string | null>;
}

export interface IpcDeps {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>;
  service: AppService;
  dialogs: Dialogs;
  /** Why the event's sender is refused, or undefined when it is one of our pages. */
  senderRefusal(event: IpcMainInvokeEvent): string | undefined;
  log?(line: string): void;
}

type Result<C extends InvokeChannel> = {
  [K in keyof ConvmapApi]: ConvmapApi[K] extends (...a: never[]) => Promise<infer R> ? R : never
}[MethodOf<C>];

/** The ConvmapApi method that each channel carries (the preload uses the same table). */
export const CHANNEL_METHOD = {
  'convmap:backend-info': 'backendInfo',
  'convmap:open-model-dialog': 'openModelDialog',
  'convmap:load-model': 'loadModel',
  'convmap:set-preprocess': 'setPreprocess',
  'convmap:open-photos-dialog': 'openPhotosDialog',
  'convmap:add-photos': 'addPhotos',
  'convmap:demo-scene': 'demoScene',
  'convmap:compute-scores': 'computeScores',
  'convmap:cancel': 'cancel',
  'convmap:recent': 'recent',
  'convmap:open-folders-dialog': 'openFoldersDialog',
  'convmap:add-folders': 'addFolders',
  'convmap:choose-export-folder': 'chooseExportFolder',
  'convmap:run-batch': 'runBatch',
  'convmap:pause-batch': 'pauseBatch',
  'convmap:resume-batch': 'resumeBatch',
} as const satisfies Record<InvokeChannel, keyof ConvmapApi>;
type MethodOf<C extends InvokeChannel> = (typeof CHANNEL_METHOD)[C];

type Handlers = { [C in InvokeChannel]: (sender: WebContents, ...args: InvokeArgs[C]) => Promise<Result<C>> };

/** Error whose message names the channel and the reason; what the renderer's promise rejects with. */
export class RefusedError extends Error {
  constructor(channel: InvokeChannel, reason: string) {
    super(`${channel} refused: ${reason}`);
    this.name = 'RefusedError';
  }
}

function handlers(service: AppService, dialogs: Dialogs): Handlers {
  const noPhotos: AddPhotosResult = { photos: [], failed: [] };
  const noFolders: AddFoldersResult = { photos: [], failed: [], skipped: 0, models: [] };
  return {
    'convmap:backend-info': () => service.backendInfo(),
    'convmap:open-model-dialog': (sender) => dialogs.openModel(sender),
    'convmap:load-model': (_s, req) => service.loadModel(req),
    'convmap:set-preprocess': (_s, req) => service.setPreprocess(req),
    'convmap:open-photos-dialog': async (sender) => {
      const paths = await dialogs.openPhotos(sender);
      return paths.length === 0 ? noPhotos : service.addPhotos(paths);
    },
    'convmap:add-photos': (_s, paths) => service.addPhotos(paths),
    'convmap:demo-scene': () => service.demoScene(),
    'convmap:compute-scores': (_s, req) => service.computeScores(req),
    'convmap:cancel': (_s, jobId) => service.cancel(jobId),
    'convmap:recent': () => service.recent(),
    'convmap:open-folders-dialog': async (sender, recursive) => {
      const paths = await dialogs.openFolders(sender);
      return paths.length === 0 ? noFolders : service.addFolders({ paths, recursive });
    },
    'convmap:add-folders': (_s, req) => service.addFolders(req),
    'convmap:choose-export-folder': async (sender) => {
      const dir = await dialogs.chooseExportFolder(sender);
      // Only folders the user picked here may be written to (validate.ts checks runBatch's outDir).
      if (dir !== null) service.allowExportDir(dir);
      return dir;
    },
    'convmap:run-batch': (_s, req) => service.runBatch(req),
    'convmap:pause-batch': (_s, batchId) => service.pauseBatch(batchId),
    'convmap:resume-batch': (_s, batchId) => service.resumeBatch(batchId),
  };
}

/** Registers every invoke channel; returns the function that removes them again. */
export function registerIpc(deps: IpcDeps): () => void {
  const log = deps.log ?? ((line: string) => console.warn(line));
  const table = handlers(deps.service, deps.dialogs);
  const ctx: ValidationContext = {
    hasModel: (id) => deps.service.hasModel(id),
    photoSize: (id) => {
      const ref = deps.service.photoRef(id);
      return ref ? [ref.height, ref.width] : undefined;
    },
    isExportDir: (dir) => deps.service.isExportDir(dir),
  };
  for (const channel of INVOKE_CHANNELS) {
    deps.ipcMain.handle(channel, async (event: IpcMainInvokeEvent, ...args: unknown[]) => {
      const refusal = deps.senderRefusal(event);
      if (refusal !== undefined) {
        log(`[ipc] ${channel} refused: ${refusal}`);
        throw new RefusedError(channel, refusal);
      }
      const checked = checkInvokeArgs(channel, args, ctx);
      if (!checked.ok) {
        log(`[ipc] ${channel} refused: ${checked.reason}`);
        throw new RefusedError(channel, checked.reason);
      }
      const handler = table[channel] as (sender: WebContents, ...a: unknown[]) => Promise<unknown>;
      return handler(event.sender, ...checked.value);
    });
  }
  return () => {
    for (const channel of INVOKE_CHANNELS) deps.ipcMain.removeHandler(channel);
  };
}
