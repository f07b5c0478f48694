/**
 * Main's IPC registration, derived from core/api.ts's channel table: one handler per entry. Every
 * call is checked before use: the sender (our window's main frame showing our page) and each
 * argument by its kind (validate.ts), paths included: only paths the user chose (chosen.ts) pass.
 * A refusal is logged with its reason and rejects the renderer's promise with that reason.
 * Operations answered by the service are forwarded to it as they are; the glue adds only the
 * dialogs, Show in folder (on chosen paths and the files exports wrote), the record of chosen paths,
 * and the jobs of each window (ended when it reloads or closes).
 */
import type { IpcMain, IpcMainEvent, IpcMainInvokeEvent, WebContents } from 'electron';
import {
  DROPPED_CHANNEL, INVOKES, type AddFoldersResult, type AddPhotosResult, type InvokeArgs, type InvokeMethod, type InvokeResult, type ServiceApi,
  type ServiceMethod,
} from '../../core/api';
import path from 'node:path';
import type { ChosenPaths } from './chosen';
import { identityOf, type FileIdentity, type PhotoIdentities } from './photo-identity';
import { checkInvokeArgs, checkPath, type ValidationContext } from './validate';

/** The dialogs, shown over the window that asked (the glue in main.ts implements them with Electron's dialog). */
export interface Dialogs {
  /** A model file or folder; null when cancelled. */
  openModel(sender: WebContents): Promise<string | null>;
  /** A label file for the loaded model; null when cancelled. */
  openLabels(sender: WebContents): Promise<string | null>;
  /** Photo files (multi-select); [] when cancelled. */
  openPhotos(sender: WebContents): Promise<string[]>;
  /** Folders (multi-select); [] when cancelled. */
  openFolders(sender: WebContents): Promise<string[]>;
  /** One folder to export into (created if needed); null when cancelled. */
  chooseExportFolder(sender: WebContents): Promise<string | null>;
}

/** The desktop's side of Show in folder (Electron's shell in main.ts). */
export interface DesktopShell {
  /** Opens the file manager on `fullPath`, selecting it when it is a file. */
  showItemInFolder(fullPath: string): void;
}

/** The service the operations are forwarded to, plus what validation asks of it. */
export type IpcService = ServiceApi & {
  hasModel(id: string): boolean;
  photoRef(id: string): { width: number; height: number } | undefined;
  allowExportDir(dir: string): void;
  isExportDir(dir: string): boolean;
  /** The file of an opened photo. */
  photoFile(id: string): string | undefined;
};

export interface IpcDeps {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler' | 'on' | 'removeListener'>;
  service: IpcService;
  dialogs: Dialogs;
  shell: DesktopShell;
  /** The paths the user chose; the dialogs' answers, drops and recent items are added to it here. */
  chosen: ChosenPaths;
  /** Identities of the opened photos, recorded here as photos are opened (the photo protocol checks them). */
  identities: PhotoIdentities;
  /** Why the event's sender is refused, or undefined when it is one of our pages. */
  senderRefusal(event: IpcMainInvokeEvent | IpcMainEvent): string | undefined;
  log?(line: string): void;
}

export interface IpcRegistration {
  /** Cancels the loadModel, computeScores and runBatch jobs `sender` started and that still run (its page reloads or closes). */
  endJobsOf(sender: WebContents): void;
  /** Removes every handler. */
  unregister(): void;
}

type Handler<M extends InvokeMethod> = (sender: WebContents, ...args: InvokeArgs<M>) => Promise<InvokeResult<M>>;
/** The operations the glue answers itself: the dialogs and the shell's. */
type GlueMethod = Exclude<InvokeMethod, ServiceMethod>;

/** Error whose message names the channel and the reason; what the renderer's promise rejects with. */
export class RefusedError extends Error {
  constructor(channel: string, reason: string) {
    super(`${channel} refused: ${reason}`);
    this.name = 'RefusedError';
  }
}

/**
 * V8's JSON.parse errors quote the text they failed on (`Unexpected token 'r', "root:x:0:0"... is
 * not valid JSON`): a file's content must never reach the renderer in an error.
 */
const QUOTED_JSON = /(?:Unexpected token '[\s\S]{1,2}', )?"[\s\S]*?"(?:\.\.\.)? is not valid JSON/g;

/** The error the renderer gets for a failed operation: same name (AbortError stays one), no file content. */
export function rendererError(err: unknown): Error {
  const raw = err instanceof Error ? err.message : String(err);
  const out = new Error(raw.replace(QUOTED_JSON, 'not valid JSON'));
  if (err instanceof Error) out.name = err.name;
  return out;
}

/** Registers every operation of the channel table, and the preload's drop message. */
export function registerIpc(deps: IpcDeps): IpcRegistration {
  const log = deps.log ?? ((line: string) => console.warn(line));
  const { service, dialogs, chosen, identities } = deps;
  /** Files the window's exports wrote (resolved): Show in folder may open them, nothing else may use them. */
  const written = new Set<string>();
  const jobs = new Map<WebContents, Set<string>>();
  let loads = 0;
  const track = async <R>(sender: WebContents, jobId: string, run: () => Promise<R>): Promise<R> => {
    let own = jobs.get(sender);
    if (!own) jobs.set(sender, (own = new Set()));
    own.add(jobId);
    try {
      return await run();
    } finally {
      own.delete(jobId);
    }
  };
  /** Records the identity of each photo opened; `before`: identities taken before the service read the files. */
  const opened = async <R extends { photos: { id: string }[] }>(r: R, before?: Map<string, FileIdentity | string>): Promise<R> => {
    await Promise.all(r.photos.map(async ({ id }) => {
      const file = service.photoFile(id);
      if (file !== undefined) await identities.record(id, file, before?.get(path.resolve(file)));
    }));
    return r;
  };
  const addPhotos = async (paths: string[]): Promise<AddPhotosResult> => {
    const before = new Map(await Promise.all(paths.map(async (p) => [path.resolve(p), await identityOf(p)] as const)));
    return opened(await service.addPhotos(paths), before);
  };
  const foldersOpened = async (r: AddFoldersResult): Promise<AddFoldersResult> => {
    // Folders main found holding a model are offered to the renderer to load: main chose them.
    chosen.grant(r.models, 'chosen folder');
    return opened(r);
  };
  const noPhotos: AddPhotosResult = { photos: [], failed: [] };
  const noFolders: AddFoldersResult = { photos: [], failed: [], skipped: 0, models: [] };

  const glueHandlers: { [M in GlueMethod]: Handler<M> } = {
    openModelDialog: async (sender) => {
      const p = await dialogs.openModel(sender);
      if (p !== null) chosen.grant([p], 'dialog');
      return p;
    },
    openLabelsDialog: async (sender) => {
      const p = await dialogs.openLabels(sender);
      if (p !== null) chosen.grant([p], 'dialog');
      return p;
    },
    openPhotosDialog: async (sender) => {
      const paths = await dialogs.openPhotos(sender);
      chosen.grant(paths, 'dialog');
      return paths.length === 0 ? noPhotos : addPhotos(paths);
    },
    openFoldersDialog: async (sender, recursive) => {
      const paths = await dialogs.openFolders(sender);
      chosen.grant(paths, 'dialog');
      return paths.length === 0 ? noFolders : foldersOpened(await service.addFolders({ paths, recursive }));
    },
    chooseExportFolder: async (sender) => {
      const dir = await dialogs.chooseExportFolder(sender);
      // Only folders the user picked here may be written to (validate.ts checks runBatch's outDir).
      if (dir !== null) service.allowExportDir(dir);
      return dir;
    },
    showInFolder: async (_sender, p) => {
      deps.shell.showItemInFolder(path.resolve(p));
    },
  };
  // Service operations are forwarded as they are; these few also record what they hand out.
  const serviceHandlers: Partial<{ [M in ServiceMethod]: Handler<M> }> = {
    recent: async () => {
      const r = await service.recent();
      chosen.grant([...r.models, ...r.photos], 'recent');
      return r;
    },
    addFolders: async (_s, req) => foldersOpened(await service.addFolders(req)),
    addPhotos: (_s, paths) => addPhotos(paths),
    demoScene: async () => {
      const ref = await service.demoScene();
      await opened({ photos: [ref] });
      return ref;
    },
    loadModel: (sender, req) => {
      // A conversion is one of the window's jobs even when the page named none.
      const jobId = req.jobId ?? `load-model:ipc-${++loads}`;
      return track(sender, jobId, () => service.loadModel({ ...req, jobId }));
    },
    computeScores: (sender, req) => track(sender, req.jobId, () => service.computeScores(req)),
    runBatch: (sender, req) => track(sender, req.batchId, async () => {
      const result = await service.runBatch(req);
      for (const f of result.outputs) written.add(path.resolve(f));
      return result;
    }),
  };
  const handlerOf = (method: InvokeMethod): ((sender: WebContents, ...a: unknown[]) => Promise<unknown>) => {
    const own = (glueHandlers as Record<string, unknown>)[method] ?? (serviceHandlers as Record<string, unknown>)[method];
    if (own) return own as (sender: WebContents, ...a: unknown[]) => Promise<unknown>;
    const forward = (service as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
    return (_sender, ...a) => forward.apply(service, a);
  };

  const ctx: ValidationContext = {
    hasModel: (id) => service.hasModel(id),
    photoSize: (id) => {
      const ref = service.photoRef(id);
      return ref ? [ref.height, ref.width] : undefined;
    },
    isExportDir: (dir) => service.isExportDir(dir),
    isChosen: (p) => chosen.has(p),
    isShowable: (p) => chosen.has(p) || service.isExportDir(p) || written.has(path.resolve(p)),
  };
  const methods = Object.keys(INVOKES) as InvokeMethod[];
  for (const method of methods) {
    const { channel } = INVOKES[method];
    const handler = handlerOf(method);
    deps.ipcMain.handle(channel, async (event: IpcMainInvokeEvent, ...args: unknown[]) => {
      const refusal = deps.senderRefusal(event);
      if (refusal !== undefined) {
        log(`[ipc] ${channel} refused: ${refusal}`);
        throw new RefusedError(channel, refusal);
      }
      const checked = checkInvokeArgs(method, args, ctx);
      if (!checked.ok) {
        log(`[ipc] ${channel} refused: ${checked.reason}`);
        throw new RefusedError(channel, checked.reason);
      }
      try {
        return await handler(event.sender, ...checked.value);
      } catch (err) {
        throw rendererError(err);
      }
    });
  }

  const onDropped = (event: IpcMainEvent, ...args: unknown[]): void => {
    const refusal = deps.senderRefusal(event);
    const p = refusal === undefined && args.length === 1 ? checkPath(args[0], 'dropped path') : undefined;
    if (!p?.ok) {
      log(`[ipc] ${DROPPED_CHANNEL} refused: ${refusal ?? (p ? p.reason : `takes one argument, got ${args.length}`)}`);
      return;
    }
    chosen.grant([p.value], 'drop');
  };
  deps.ipcMain.on(DROPPED_CHANNEL, onDropped);

  return {
    endJobsOf(sender) {
      const own = jobs.get(sender);
      if (!own) return;
      jobs.delete(sender);
      for (const jobId of own) {
        log(`[ipc] ending job ${jobId}: its window reloaded or closed`);
        void service.cancel(jobId).catch(() => undefined);
      }
    },
    unregister() {
      for (const method of methods) deps.ipcMain.removeHandler(INVOKES[method].channel);
      deps.ipcMain.removeListener(DROPPED_CHANNEL, onDropped);
    },
  };
}
