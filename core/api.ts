/**
 * The one contract between the renderer and main. Every request, response and event is a type here;
 * the preload exposes exactly {@link ConvmapApi} (one method per operation, never ipcRenderer
 * itself); main validates every argument at run time (see main/electron/validate.ts) before use.
 * The channel table is one `as const` list and the channel names derive from it (electron/fiddle).
 */
import type { CombineMode } from './average';
import type { ColormapName } from './colormap';
import type { ConvertedModelInfo, PreprocessMode } from './model-info';
import type { ScoreMap } from './scoremap';

/** Invoke channels: renderer → main, one per API method, each answered with a promise. */
export const INVOKE_CHANNELS = [
  'convmap:backend-info',
  'convmap:open-model-dialog',
  'convmap:load-model',
  'convmap:set-preprocess',
  'convmap:open-photos-dialog',
  'convmap:add-photos',
  'convmap:demo-scene',
  'convmap:compute-scores',
  'convmap:cancel',
  'convmap:recent',
  'convmap:open-folders-dialog',
  'convmap:add-folders',
  'convmap:choose-export-folder',
  'convmap:run-batch',
  'convmap:pause-batch',
  'convmap:resume-batch',
] as const;
export type InvokeChannel = (typeof INVOKE_CHANNELS)[number];

/** Event channels: main → renderer. */
export const EVENT_CHANNELS = ['convmap:progress', 'convmap:open-files', 'convmap:batch'] as const;
export type EventChannel = (typeof EVENT_CHANNELS)[number];

/** The tfjs backend that runs inference, and the worker pool size. */
export interface BackendInfo {
  backend: 'node' | 'wasm' | 'cpu';
  workers: number;
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
  /** Model file or folder; null for the built-in digit model. */
  path: string | null;
  preprocess?: PreprocessMode;
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

/** How overlay PNGs are exported (main/services/export.ts does the writing). */
export interface ExportSettings {
  /** An output folder chosen through chooseExportFolder in this session (others are refused). */
  outDir: string;
  /** A class label, 'top' (each photo's strongest class but background) or 'any' (per location). */
  classChoice: string;
  colormap: ColormapName;
  /** 0–1. */
  opacity: number;
  /** Scores below this are transparent, 0–1. */
  threshold: number;
  /** Draw detection boxes. */
  boxes: boolean;
  /** Peaks at or above this score become detections, 0–1. */
  detectThreshold: number;
  /** Draw the legend (class name, colormap scale). */
  legend: boolean;
  /** File name with {name} and {class}; '.png' is added when missing. Existing files are never replaced: a "-2" suffix is added. */
  namePattern: string;
  /** Write <name>.scores.json next to each PNG. */
  scoresJson: boolean;
  /** Write summary.csv (per-class maxima) and detections.csv. */
  csv: boolean;
}

export interface RunBatchRequest {
  /** Chosen by the renderer; pass it to pauseBatch / resumeBatch / cancel. */
  batchId: string;
  modelId: string;
  /** Opened photos, processed in this order. */
  photoIds: string[];
  scales: number[];
  mode: CombineMode;
  /** Export each photo as it is done; absent: compute (and cache) the score maps only. */
  export?: ExportSettings;
}

export type BatchPhotoStatus = 'queued' | 'running' | 'done' | 'failed' | 'skipped';

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

/** Events of a running batch, on the 'convmap:batch' channel. */
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

/** Window → main API, exposed by the preload as `window.convmap`. */
export interface ConvmapApi {
  backendInfo(): Promise<BackendInfo>;
  /** Shows the open dialog for a model; null when cancelled. */
  openModelDialog(): Promise<string | null>;
  /** Loads (and converts, verifying against crops) a model in the background. */
  loadModel(req: LoadModelRequest): Promise<ModelSummary>;
  setPreprocess(req: SetPreprocessRequest): Promise<ModelSummary>;
  /** Shows the open dialog for photos (multi-select) and opens them. */
  openPhotosDialog(): Promise<AddPhotosResult>;
  /** Opens photos by path (drag-and-drop, "Open with", second launch). */
  addPhotos(paths: string[]): Promise<AddPhotosResult>;
  /** A generated scene of held-out digits, opened like a photo (first launch). */
  demoScene(): Promise<PhotoRef>;
  computeScores(req: ComputeScoresRequest): Promise<ScoresResult>;
  /** Cancels a running computeScores (it then rejects with an AbortError) or runBatch (it resolves, cancelled). */
  cancel(jobId: string): Promise<void>;
  recent(): Promise<RecentItems>;
  /** Shows the open dialog for folders (multi-select) and opens their photos. */
  openFoldersDialog(recursive: boolean): Promise<AddFoldersResult>;
  /** Opens the photos of folders by path (drag-and-drop). */
  addFolders(req: AddFoldersRequest): Promise<AddFoldersResult>;
  /** Shows the folder dialog for exports; null when cancelled. Only folders chosen here can be exported to. */
  chooseExportFolder(): Promise<string | null>;
  /**
   * Processes photos in the background (score cache, all cores), exporting them when asked; progress
   * and per-photo status come as BatchEvents. Resolves when finished or cancelled (cancel(batchId)):
   * finished photos and exports are kept.
   */
  runBatch(req: RunBatchRequest): Promise<BatchResult>;
  /** No new photo of the batch starts until resumeBatch; photos in flight finish. */
  pauseBatch(batchId: string): Promise<void>;
  resumeBatch(batchId: string): Promise<void>;
  /** Subscribes to batch events; returns the unsubscribe function. */
  onBatch(listener: (e: BatchEvent) => void): () => void;
  /** Subscribes to progress; returns the unsubscribe function. */
  onProgress(listener: (e: ProgressEvent) => void): () => void;
  /** Files handed to the app by the OS (command line, "Open with", a second launch). */
  onOpenFiles(listener: (paths: string[]) => void): () => void;
  /**
   * The absolute path of a file or folder dropped onto the window (the preload answers with
   * webUtils.getPathForFile; synchronous, no IPC); '' when it has none (e.g. text dragged from a page).
   * Dropped items then go to addPhotos / loadModel by path like any other.
   */
  pathForFile(file: DroppedFile): string;
}

/** Request argument type of each invoke channel (what main validates). */
export interface InvokeArgs {
  'convmap:backend-info': [];
  'convmap:open-model-dialog': [];
  'convmap:load-model': [LoadModelRequest];
  'convmap:set-preprocess': [SetPreprocessRequest];
  'convmap:open-photos-dialog': [];
  'convmap:add-photos': [string[]];
  'convmap:demo-scene': [];
  'convmap:compute-scores': [ComputeScoresRequest];
  'convmap:cancel': [string];
  'convmap:recent': [];
  'convmap:open-folders-dialog': [boolean];
  'convmap:add-folders': [AddFoldersRequest];
  'convmap:choose-export-folder': [];
  'convmap:run-batch': [RunBatchRequest];
  'convmap:pause-batch': [string];
  'convmap:resume-batch': [string];
}

/** Scheme of the protocol that serves opened photos to the renderer. */
export const PHOTO_SCHEME = 'convmap-photo';
