/**
 * The one contract between the renderer and main. Every request, response and event is a type here,
 * and every operation is one entry of the channel table {@link INVOKES} (electron/fiddle's `as const`
 * table): the preload's methods, main's IPC registration, the argument validators and the service
 * interface derive from it. The preload exposes exactly {@link ConvmapApi} (one method per
 * operation, never ipcRenderer itself); main validates every argument at run time
 * (main/electron/validate.ts) before use.
 */
import type { ConvertedModelInfo, PreprocessMode } from './model-info';
import type { Recipe } from './recipe';
import type { ScoreMap } from './scoremap';

/** What runs inference (ONNX Runtime or a tfjs backend), where, and the worker pool or thread count. */
export interface BackendInfo {
  backend: 'onnx' | 'node' | 'wasm' | 'cpu';
  workers: number;
  /** ONNX Runtime's execution provider ('cpu', 'cuda', 'dml', 'coreml', 'webgpu'); 'cpu' for tfjs. */
  device?: string;
  /** Why faster backends or devices did not load, one line each. */
  notes?: string[];
  /** Models the device failed on, which run on the CPU since: one line each, with the device's reason. */
  deviceFallbacks?: string[];
}

/** A model opened in this session: its conversion report, under an id main assigned. */
export interface ModelSummary {
  id: string;
  /** The file or folder the user opened; null for the built-in digit model. */
  path: string | null;
  name: string;
  info: ConvertedModelInfo;
}

/** A photo the user opened. The renderer shows it through `url` (a convmap-photo: URL), never a path. */
export interface PhotoRef {
  id: string;
  name: string;
  /** Absolute path, for display only. */
  path: string;
  /** Upright size (EXIF orientation applied), pixels. */
  width: number;
  height: number;
  /** URL served by main's protocol: the upright photo as PNG/JPEG; only photos the user opened. */
  url: string;
}

/** A photo that could not be opened, with the reason (the file is named in it). */
export interface PhotoFailure {
  path: string;
  reason: string;
}

export interface AddPhotosResult {
  photos: PhotoRef[];
  failed: PhotoFailure[];
}

export interface LoadModelRequest {
  /**
   * Chosen by the caller; pass it to cancel(). Progress events of the conversion carry it. A window's
   * conversions end when it reloads or closes. Absent: main chooses one (`load-model:N`).
   */
  jobId?: string;
  /** Model file or folder; null for the built-in digit model. */
  path: string | null;
  preprocess?: PreprocessMode;
  /** Cells this many pixels apart: a divisor of the network's stride (à trous rewrite); default the network's own. */
  stride?: number;
  /** Output of a multi-output classifier to convert (a name from info.outputs); default: its first class-score output. */
  output?: string;
  /** A label file (one label a line, or a JSON array) the user chose, replacing the model's labels. */
  labelsFile?: string;
  /** Size in pixels (square) a classifier saved without a fixed input size was trained at. */
  window?: number;
}

export interface SetPreprocessRequest {
  modelId: string;
  preprocess: PreprocessMode;
}

export interface ComputeScoresRequest {
  /** Chosen by the renderer; pass it to cancel(). */
  jobId: string;
  modelId: string;
  photoId: string;
  /** Positive scale factors; each is computed once and returned separately. */
  scales: number[];
}

/** Per-scale score maps of one photo; the renderer averages them itself (core/average). */
export interface ScoresResult {
  jobId: string;
  photoId: string;
  modelId: string;
  maps: ScoreMap[];
  /** Milliseconds of compute. */
  elapsedMs: number;
}

/** Progress of a conversion or computeScores job, on the 'convmap:progress' channel (a batch's is a BatchEvent). */
export interface ProgressEvent {
  jobId: string;
  /** What is being done, for display: 'converting', 'verifying', 'scale 1.5', … */
  stage: string;
  done: number;
  total: number;
}

/**
 * A file dropped onto the window, as the renderer holds it (a DOM `File` fits this shape). Only the
 * preload can turn it into a path (Electron's webUtils.getPathForFile); core has no DOM types.
 */
export interface DroppedFile {
  readonly name: string;
  readonly size: number;
  readonly type: string;
}

/** Folders to open as lists of photos. */
export interface AddFoldersRequest {
  /** Absolute folder paths (a file given here is opened as a photo). */
  paths: string[];
  /** Descend into sub-folders. */
  recursive: boolean;
}

export interface AddFoldersResult extends AddPhotosResult {
  /**
   * Entries of the folders left out: files that are not images, hidden files, sub-folders without
   * `recursive`. Counted, never opened.
   */
  skipped: number;
  /** Given folders that hold a model (model.json or convmap.json): not scanned; open them as models. */
  models: string[];
}

/** Where an export batch writes (what it draws and writes is the batch's recipe). */
export interface ExportSettings {
  /** An output folder chosen through chooseExportFolder in this session (others are refused). Existing files are never replaced: a "-2" suffix is added. */
  outDir: string;
}

export interface RunBatchRequest {
  /** Chosen by the renderer; pass it to pauseBatch / resumeBatch / cancel. */
  batchId: string;
  modelId: string;
  /** Opened photos, processed in this order. */
  photoIds: string[];
  /**
   * Every setting of the run (core/recipe; main checks it with checkRecipe): its scales are those
   * switched on, or 'auto' (each photo its own core/defaults scalePlan); `model` and `preprocess`
   * are the opened model's whatever is sent.
   */
  recipe: Recipe;
  /** Export each photo as it is done; absent: compute (and cache) the score maps only. */
  export?: ExportSettings;
  /**
   * A Convmap queue, `redis://[user:password@]host[:port][/db]` or `rediss://…`: the export is run
   * by the `convmap worker` processes serving it instead of here (the same events, statuses and
   * files; photos, model and export folder must be on a mount every worker sees). Exports only;
   * absent: the batch runs here. Main never puts its password in a message.
   */
  queue?: string;
}

/** 'no cells': the photo is smaller than the model's window at every scale. */
export type BatchPhotoStatus = 'queued' | 'running' | 'done' | 'no cells' | 'failed' | 'skipped';

/** Counts of a running batch; the CLI's progress bar and the window's both show these. */
export interface BatchProgress {
  total: number;
  done: number;
  failed: number;
  skipped: number;
  running: number;
  /** Time spent not paused, ms. */
  elapsedMs: number;
  /** Estimated time left (ms) at the rate so far; null before the first photo finishes. */
  etaMs: number | null;
  photosPerMinute: number;
}

/** Events of a running batch, on the 'convmap:batch' channel (main/services/batch's RunEvent with photo ids). */
export type BatchEvent =
  | {
    type: 'photo';
    batchId: string;
    photoId: string;
    status: BatchPhotoStatus;
    /** Why it failed or was skipped. */
    reason?: string;
    /** Every scale came from the score cache. */
    cached?: boolean;
    /** The exported PNG (export batches). */
    output?: string;
    /** The class drawn / strongest class. */
    classLabel?: string;
    /**
     * Per class (the model's label order), the highest score of the photo's averaged map (scales
     * combined with the batch's mode) over its covered cells: one float32 value a class, what ranks
     * a folder by a class. With 'done' photos only.
     */
    maxima?: number[];
  }
  | ({ type: 'progress'; batchId: string } & BatchProgress)
  | { type: 'paused' | 'resumed'; batchId: string }
  | { type: 'warning'; batchId: string; message: string };

/** What a finished (or cancelled) batch did. */
export interface BatchResult {
  batchId: string;
  total: number;
  done: number;
  failed: { photoId: string; reason: string }[];
  /**
   * Final status of each photo, in photoIds order ('done', 'failed' or 'skipped'): authoritative
   * even if the last events arrive after this result.
   */
  statuses: BatchPhotoStatus[];
  /** Photos not processed because the batch was cancelled. */
  skipped: number;
  cancelled: boolean;
  /** Photos whose every scale came from the score cache. */
  cacheHits: number;
  elapsedMs: number;
  /** Files written (export batches). */
  outputs: string[];
  csv?: { summary: string; detections: string };
}

export interface RecentItems {
  models: string[];
  photos: string[];
}

/**
 * What an application-menu item asks the window to do, sent on 'convmap:menu' (main/electron/menu.ts):
 * 'export-photo' and 'export-all' are the export buttons (the photo on screen, every photo into a
 * folder), 'shortcuts' opens the keyboard-shortcut sheet, 'open-model' loads a model (File → Built-in
 * digits model: path null; File → Open Recent: a recent model, which main has accepted as chosen).
 */
export type MenuCommand =
  | { command: 'export-photo' | 'export-all' | 'shortcuts' }
  | { command: 'open-model'; path: string | null };

/**
 * A type the channel table carries without a run-time value: `{}` at run time, `T` to the compiler.
 * It lets one `as const` table state each operation's channel, arguments and result together.
 */
export interface Carries<T> {
  readonly carried?: () => T;
}
const carries = <T>(): Carries<T> => ({});

/**
 * The argument kinds an operation may take, and their shapes. Main checks each kind at run time
 * (one checker per kind in main/electron/validate.ts), so a new operation over existing kinds needs
 * no new validation code.
 */
export interface ArgKinds {
  /** Absolute paths of files the user chose: main's dialogs, a drop, the command line, a recent item, the OS's open-file. */
  chosenPaths: string[];
  loadModelRequest: LoadModelRequest;
  setPreprocessRequest: SetPreprocessRequest;
  computeScoresRequest: ComputeScoresRequest;
  /** The id of a running loadModel, computeScores or runBatch job. */
  jobId: string;
  /** The id of a running runBatch. */
  batchId: string;
  /** Descend into sub-folders. */
  recursive: boolean;
  addFoldersRequest: AddFoldersRequest;
  runBatchRequest: RunBatchRequest;
  /**
   * An absolute path main may show in the file manager: one the user chose (chosenPaths), an export
   * folder chosen in its dialog, or a file an export of this window wrote. Never any other path.
   */
  shownPath: string;
}
export type ArgKind = keyof ArgKinds;

/** One renderer → main operation: its channel, its argument kinds, who answers it, its result type. */
export interface InvokeEntry {
  channel: `convmap:${string}`;
  args: readonly ArgKind[];
  /**
   * 'service': main's app service (main/services) answers; 'dialog': the Electron glue shows a dialog
   * first; 'shell': the Electron glue asks the desktop (Electron's shell).
   */
  by: 'service' | 'dialog' | 'shell';
  result: Carries<unknown>;
}

/**
 * The channel table: every renderer → main operation, keyed by its ConvmapApi method name. The
 * preload's methods, main's IPC registration, its argument validation and the service interface
 * are all derived from it: a new operation is one entry here plus its handler.
 */
export const INVOKES = {
  /** The inference backend and the worker pool size. */
  backendInfo: { channel: 'convmap:backend-info', args: [], by: 'service', result: carries<BackendInfo>() },
  /** Shows the open dialog for a model; null when cancelled. */
  openModelDialog: { channel: 'convmap:open-model-dialog', args: [], by: 'dialog', result: carries<string | null>() },
  /** Loads (and converts, verifying against crops) a model in the background. Its path must be one the user chose. */
  loadModel: { channel: 'convmap:load-model', args: ['loadModelRequest'], by: 'service', result: carries<ModelSummary>() },
  /** Shows the open dialog for a label file (text, one label a line, or a JSON array); null when cancelled. */
  openLabelsDialog: { channel: 'convmap:open-labels-dialog', args: [], by: 'dialog', result: carries<string | null>() },
  setPreprocess: { channel: 'convmap:set-preprocess', args: ['setPreprocessRequest'], by: 'service', result: carries<ModelSummary>() },
  /** Shows the open dialog for photos (multi-select) and opens them. */
  openPhotosDialog: { channel: 'convmap:open-photos-dialog', args: [], by: 'dialog', result: carries<AddPhotosResult>() },
  /** Opens photos by path (drag-and-drop, "Open with", second launch, recents): only paths the user chose. */
  addPhotos: { channel: 'convmap:add-photos', args: ['chosenPaths'], by: 'service', result: carries<AddPhotosResult>() },
  /** A generated scene of held-out digits, opened like a photo (first launch). */
  demoScene: { channel: 'convmap:demo-scene', args: [], by: 'service', result: carries<PhotoRef>() },
  computeScores: { channel: 'convmap:compute-scores', args: ['computeScoresRequest'], by: 'service', result: carries<ScoresResult>() },
  /**
   * Cancels a running loadModel or computeScores (it then rejects with an AbortError) or runBatch
   * (it resolves, cancelled).
   */
  cancel: { channel: 'convmap:cancel', args: ['jobId'], by: 'service', result: carries<void>() },
  recent: { channel: 'convmap:recent', args: [], by: 'service', result: carries<RecentItems>() },
  /** Shows the open dialog for folders (multi-select) and opens their photos. */
  openFoldersDialog: { channel: 'convmap:open-folders-dialog', args: ['recursive'], by: 'dialog', result: carries<AddFoldersResult>() },
  /** Opens the photos of folders by path (drag-and-drop): only folders the user chose. */
  addFolders: { channel: 'convmap:add-folders', args: ['addFoldersRequest'], by: 'service', result: carries<AddFoldersResult>() },
  /** Shows the folder dialog for exports; null when cancelled. Only folders chosen here can be exported to. */
  chooseExportFolder: { channel: 'convmap:choose-export-folder', args: [], by: 'dialog', result: carries<string | null>() },
  /**
   * Processes photos in the background (score cache, all cores), exporting them when asked; progress
   * and per-photo status come as BatchEvents. Resolves when finished or cancelled (cancel(batchId)):
   * finished photos and exports are kept.
   */
  runBatch: { channel: 'convmap:run-batch', args: ['runBatchRequest'], by: 'service', result: carries<BatchResult>() },
  /** No new photo of the batch starts until resumeBatch; photos in flight finish. */
  pauseBatch: { channel: 'convmap:pause-batch', args: ['batchId'], by: 'service', result: carries<void>() },
  resumeBatch: { channel: 'convmap:resume-batch', args: ['batchId'], by: 'service', result: carries<void>() },
  /**
   * Opens the desktop's file manager on a file (selected) or folder: an export's output, its
   * folder, or a path the user chose. Any other path is refused.
   */
  showInFolder: { channel: 'convmap:show-in-folder', args: ['shownPath'], by: 'shell', result: carries<void>() },
} as const satisfies Record<string, InvokeEntry>;

export type InvokeMethod = keyof typeof INVOKES;
export type InvokeChannel = (typeof INVOKES)[InvokeMethod]['channel'];
type KindsToArgs<A extends readonly ArgKind[]> = { -readonly [I in keyof A]: A[I] extends ArgKind ? ArgKinds[A[I]] : never };
/** The arguments of an operation, in order. */
export type InvokeArgs<M extends InvokeMethod> = KindsToArgs<(typeof INVOKES)[M]['args']>;
/** What an operation's promise resolves with. */
export type InvokeResult<M extends InvokeMethod> = (typeof INVOKES)[M]['result'] extends Carries<infer R> ? R : never;
/** Every invoke operation as a method (docs come from the table). */
export type InvokeApi = { [M in InvokeMethod]: (...args: InvokeArgs<M>) => Promise<InvokeResult<M>> };
/** The operations main's app service answers: all but the dialogs and the shell's, which the Electron glue answers. */
export type ServiceMethod = { [M in InvokeMethod]: (typeof INVOKES)[M]['by'] extends 'service' ? M : never }[InvokeMethod];
export type ServiceApi = Pick<InvokeApi, ServiceMethod>;

/** One main → renderer event: its channel and payload type. */
export interface EventEntry {
  channel: `convmap:${string}`;
  payload: Carries<unknown>;
}

/** Main → renderer events, keyed by the ConvmapApi method that subscribes to them. */
export const EVENTS = {
  /** Subscribes to progress of conversions and computeScores jobs; returns the unsubscribe function. */
  onProgress: { channel: 'convmap:progress', payload: carries<ProgressEvent>() },
  /** Files handed to the app by the OS (command line, "Open with", a second launch) or chosen from the menu. */
  onOpenFiles: { channel: 'convmap:open-files', payload: carries<string[]>() },
  /** Subscribes to batch events; returns the unsubscribe function. */
  onBatch: { channel: 'convmap:batch', payload: carries<BatchEvent>() },
  /** Subscribes to what the application menu asks the window to do; returns the unsubscribe function. */
  onMenu: { channel: 'convmap:menu', payload: carries<MenuCommand>() },
} as const satisfies Record<string, EventEntry>;

export type EventMethod = keyof typeof EVENTS;
export type EventChannel = (typeof EVENTS)[EventMethod]['channel'];
type PayloadOf<M extends EventMethod> = (typeof EVENTS)[M]['payload'] extends Carries<infer P> ? P : never;
/** The payload sent on an event channel. */
export type EventPayload<C extends EventChannel> = { [M in EventMethod]: (typeof EVENTS)[M]['channel'] extends C ? PayloadOf<M> : never }[EventMethod];
export type EventApi = { [M in EventMethod]: (listener: (payload: PayloadOf<M>) => void) => () => void };

/** All invoke channels, in table order. */
export const INVOKE_CHANNELS: readonly InvokeChannel[] = Object.values(INVOKES).map((e) => e.channel);

/**
 * Sent by the preload alone (never exposed to the page) when it resolves a dropped file's path:
 * main then accepts that path as chosen by the user. A page cannot make a File with a path of its
 * own choosing, so this cannot widen what the page reaches.
 */
export const DROPPED_CHANNEL = 'convmap:dropped';

/** Window → main API, exposed by the preload as `window.convmap`. */
export interface ConvmapApi extends InvokeApi, EventApi {
  /**
   * The absolute path of a file or folder dropped onto the window (the preload answers with
   * webUtils.getPathForFile; synchronous); '' when it has none (e.g. text dragged from a page).
   * Main then accepts that path in addPhotos / addFolders / loadModel like any other chosen path.
   */
  pathForFile(file: DroppedFile): string;
}

/** Scheme of the protocol that serves opened photos to the renderer. */
export const PHOTO_SCHEME = 'convmap-photo';
