/**
 * The window's operations without Electron: everything behind core/api.ts's ConvmapApi except the
 * dialogs (main/electron shows those and then calls addPhotos / loadModel with the chosen paths).
 * This module composes the small services that do the work:
 * - ./photo-library: opened photos (read once, hashed once, decoded through the pipeline), served by id;
 * - ./settings-store: recents and the preprocessing remembered per model;
 * - ./scores-service: computeScores through the pipeline's cache-then-compute stage;
 * - ./batch-adapter: batches through the same queue as the CLI (./batch), pictures in worker threads.
 * Conversion runs in a worker thread (convert-thread.ts), inference in the engine's worker pool,
 * decoding in sharp's thread pool: nothing heavy runs on the calling thread. Exports go only into
 * folders the user chose in the export dialog (allowExportDir).
 *
 * State in `userDataDir`: recent.json, preprocess.json, demo/ (the generated demo scene), cache/
 * (score maps keyed by photo content, model, scale and preprocessing: services/storage/cache.ts).
 */
import path from 'node:path';
import type {
  AddFoldersResult, AddPhotosResult, BatchEvent as ApiBatchEvent, LoadModelRequest, ModelSummary, PhotoFailure, PhotoRef, ProgressEvent, RecentItems, ServiceApi,
} from '../../../core/api';
import { modelDisplayName } from '../../../core/defaults';
import { namedMessage } from '../../../core/errors';
import { isPreprocessMode, type PreprocessMode } from '../../../core/model-info';
import { preloadDigits } from '../../digits/mnist-data';
import { writeDemoScene } from '../../digits/demo-scene';
import { DEFAULT_MAX_PIXELS } from '../../io/decode';
import { createEngine, type Engine, type EngineOptions, type ModelHandle } from '../../engine/engine';
import { abortError } from '../../io/abort';
import { makeDirs } from '../../io/atomic';
import { createBatchAdapter, type QueueExportRunner } from './batch-adapter';
import { createDiskCache } from '../storage/cache';
import { prepareModelInWorker } from '../threads/convert-thread';
import { JobRegistry } from './jobs';
import { holdsModel, prepareModel, type PreparedModel } from '../models';
import { createPhotoLibrary, type PhotoBytes } from './photo-library';
import { createPictureRenderer, type PictureRenderer } from '../threads/picture-thread';
import { scanInputs } from '../scan';
import { createScoresService } from './scores-service';
import { openSession } from '../session';
import { createSettingsStore } from '../storage/settings-store';

export type { PhotoBytes } from './photo-library';

export interface AppServiceOptions {
  /** Folder for recents, remembered preprocessing and the demo scene (created when missing). */
  userDataDir: string;
  /** Options of the inference engine (backend, workers, tile budget). */
  engine?: EngineOptions;
  /** Folder of the built-in digit model (default: main/digits/model next to the sources). */
  builtinModelDir?: string;
  /** Run conversions in a worker thread (default true); false runs them on the calling thread. */
  convertInWorker?: boolean;
  /** Largest photo accepted, in pixels (default 100 MP). */
  maxPhotoPixels?: number;
  /** Entries kept per recent list (default 12). */
  recentLimit?: number;
  /** Render export overlays in worker threads (default true); false renders them on the calling thread. */
  exportInWorker?: boolean;
  /** Score cache folder (default `userDataDir`/cache); null: no cache. */
  cacheDir?: string | null;
  /** How long a queue batch waits for a worker to answer its path probe, ms (default 20 000; unanswered, the jobs wait for workers). */
  queueProbeTimeoutMs?: number;
  /** Runs exports that name a queue (main/queue/submit runQueueExport); absent: they are refused. */
  queueExport?: QueueExportRunner;
}

/** Photos opened (fully decoded, to refuse broken files early) at once by addPhotos: bounds memory. */
const OPEN_CONCURRENCY = 2;

/** The service operations of core/api.ts's channel table (ServiceApi: every invoke but the dialogs), plus what the Electron glue needs. */
export interface AppService extends ServiceApi {
  /** Allows exports into `dir` (the glue calls it with the folder the user chose in the dialog). */
  allowExportDir(dir: string): void;
  isExportDir(dir: string): boolean;
  onBatch(listener: (e: ApiBatchEvent) => void): () => void;
  /** The score cache folder, or null. */
  readonly cacheDir: string | null;
  /** The file of a photo opened through this service; undefined for any other id. */
  photoFile(id: string): string | undefined;
  /** The photo upright (EXIF orientation applied), re-encoded; undefined for ids never issued. */
  photoBytes(id: string): Promise<PhotoBytes | undefined>;
  hasModel(id: string): boolean;
  hasPhoto(id: string): boolean;
  /** The PhotoRef of an opened photo; undefined for ids never issued. */
  photoRef(id: string): PhotoRef | undefined;
  /** Subscribes to progress of conversions ('load-model:…' job ids) and computeScores jobs; returns unsubscribe. */
  onProgress(listener: (e: ProgressEvent) => void): () => void;
  /** Subscribes to changes of the recent list (a model loaded, photos opened), with the new list; returns unsubscribe. */
  onRecent(listener: (recent: RecentItems) => void): () => void;
  /** Cancels running jobs and stops the engine's workers. */
  close(): Promise<void>;
}

const BUILTIN_KEY = '<built-in>';
interface LoadedModel {
  summary: ModelSummary;
  handle: ModelHandle;
  /** Score-cache key of the model (modelHash of its artifacts and geometry). */
  modelKey: string;
  /** How it was opened (what a queue worker converts it with again; its stride joins the batches' recipes). */
  opened: Pick<LoadModelRequest, 'stride' | 'output' | 'labelsFile' | 'window'>;
}

/** Folder photos read (header probe and hash) at once by addFolders. */
const PROBE_CONCURRENCY = 4;

/** Runs `fn` over `items` with at most `lanes` at once; results in input order, failures as rejected entries. */
async function inLanes<T, R>(items: readonly T[], lanes: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const settled: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      settled[i] = await fn(items[i]).then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason: unknown) => ({ status: 'rejected', reason }) as const,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
  return settled;
}

function failure(file: string, err: unknown): PhotoFailure {
  return { path: path.resolve(file), reason: namedMessage(path.basename(file), err) };
}

export async function createAppService(opts: AppServiceOptions): Promise<AppService> {
  const dataDir = path.resolve(opts.userDataDir);
  await makeDirs(dataDir);
  const maxPixels = opts.maxPhotoPixels ?? DEFAULT_MAX_PIXELS;

  const models = new Map<string, LoadedModel>();
  const jobs = new JobRegistry();
  const listeners = new Set<(e: ProgressEvent) => void>();
  const batchListeners = new Set<(e: ApiBatchEvent) => void>();
  const exportDirs = new Set<string>();
  /** Folder photos by id: the folders between the opened folder and the photo (an export mirrors them). */
  const subfolders = new Map<string, string>();
  const cacheDir = opts.cacheDir === null ? null : path.resolve(opts.cacheDir ?? path.join(dataDir, 'cache'));
  const cacheWarnings: string[] = [];
  const cache = cacheDir === null ? null : createDiskCache(cacheDir, { onWarning: (m) => cacheWarnings.push(m) });
  const recentListeners = new Set<(r: RecentItems) => void>();
  const settings = createSettingsStore(dataDir, opts.recentLimit ?? 12, (r) => emitTo(recentListeners)(r));
  const library = createPhotoLibrary({ maxPixels });
  let renderer: PictureRenderer | undefined;
  let closed = false;
  let loadCounter = 0;

  let enginePromise: Promise<Engine> | undefined;
  const engine = (): Promise<Engine> => {
    if (closed) return Promise.reject(new Error('the app service is closed'));
    // ONNX Runtime's optimised models are kept by content with the score maps (main/io/model-cache).
    enginePromise ??= createEngine({ ...(cacheDir === null ? {} : { modelCache: { dir: cacheDir } }), ...opts.engine });
    return enginePromise;
  };

  const emitTo = <E>(set: Set<(e: E) => void>) => (e: E): void => {
    for (const l of set) {
      try {
        l(e);
      } catch {
        // A listener's failure must not break the job.
      }
    }
  };
  const emit = emitTo(listeners);
  const emitBatch = emitTo(batchListeners);

  const scores = createScoresService({ library, engine, cache, jobs, emit });
  const batches = createBatchAdapter({
    library, engine, cache, cacheWarnings, jobs, maxPixels, emit: emitBatch, queueProbeTimeoutMs: opts.queueProbeTimeoutMs, queueExport: opts.queueExport,
    isExportDir: (dir) => exportDirs.has(path.resolve(dir)),
    subfolderOf: (id) => subfolders.get(id) ?? '',
    renderer: () => (opts.exportInWorker === false ? undefined : (renderer ??= createPictureRenderer())),
  });

  /** `choice`: the load request's stride, output and label file, as prepareModel takes them. */
  const prepare = (
    target: string | undefined, preprocess: PreprocessMode | undefined, choice: Pick<LoadModelRequest, 'stride' | 'output' | 'labelsFile' | 'window'>,
    jobId: string, signal: AbortSignal,
  ): Promise<PreparedModel> => {
    // A cancelled conversion reports nothing more: its window may already show another page.
    const onStage = (stage: string): void => {
      if (!signal.aborted) emit({ jobId, stage, done: 0, total: 1 });
    };
    const { stride, output, labelsFile, window } = choice;
    // The engine's tfjs backend where one is named; with onnx or auto, tfjs converts on the fastest that loads.
    const wanted = opts.engine?.backend;
    const backend = wanted === undefined || wanted === 'onnx' ? 'auto' : wanted;
    // Conversions are kept by content with the score maps: a model opened before opens without converting.
    const cache = cacheDir === null ? undefined : { dir: cacheDir };
    if (opts.convertInWorker === false) {
      return prepareModel(target, { preprocess, stride, output, labelsFile, window, builtinDir: opts.builtinModelDir, onStage, cache, backend, deferWeights: true });
    }
    return prepareModelInWorker({ target, preprocess, stride, output, labelsFile, window, builtinDir: opts.builtinModelDir, backend, cache }, { onStage, signal });
  };

  const modelOf = (what: string, id: string): LoadedModel => {
    const model = models.get(id);
    if (!model) throw new Error(`${what}: no model with id ${id} is loaded`);
    return model;
  };

  /** Local batches running per model: while any runs, its ONNX Runtime threads do not spin. */
  const batchesOf = new Map<string, number>();
  const batchSpinning = async (handle: ModelHandle, delta: 1 | -1): Promise<void> => {
    const n = (batchesOf.get(handle.id) ?? 0) + delta;
    if (n > 0) batchesOf.set(handle.id, n);
    else batchesOf.delete(handle.id);
    const e = await engine();
    // A lone pass is faster spinning; a failure here only costs speed, never the batch.
    if ((delta > 0 && n === 1) || n === 0) await e.setSpinning?.(handle, n === 0).catch(() => undefined);
  };

  const service: AppService = {
    async backendInfo() {
      const e = await engine();
      return { backend: e.backend, workers: e.workers, device: e.device, notes: [...e.notes], ...(e.deviceFallbacks?.length ? { deviceFallbacks: [...e.deviceFallbacks] } : {}) };
    },

    async loadModel(req) {
      const target = req.path === null ? undefined : path.resolve(req.path);
      const key = target ?? BUILTIN_KEY;
      const preprocess = req.preprocess ?? (await settings.preprocess())[key];
      const jobId = req.jobId ?? `load-model:${++loadCounter}`;
      const controller = jobs.start(jobId, 'loadModel');
      const { signal } = controller;
      const stopIfCancelled = (): void => {
        if (signal.aborted) throw abortError(signal);
      };
      try {
        // ONNX Runtime's process starts while the model is read (its failure is reported where the engine is awaited).
        engine().catch(() => undefined);
        const prepared = await prepare(target, preprocess, req, jobId, signal);
        stopIfCancelled();
        emit({ jobId, stage: 'starting workers', done: 0, total: 1 });
        const e = await engine();
        stopIfCancelled();
        const { handle, modelKey } = await openSession(e, target, prepared);
        // Cancelled while the engine opened it: the model in use stays, the new one leaves the engine.
        if (signal.aborted) {
          e.releaseModel(handle);
          throw abortError(signal);
        }
        // The newest load of a path replaces the previous one: its weights leave the workers.
        for (const [id, m] of models) {
          if (m.summary.path === (target ?? null)) {
            e.releaseModel(m.handle);
            models.delete(id);
          }
        }
        const summary: ModelSummary = {
          id: handle.id,
          path: target ?? null,
          name: modelDisplayName(target ?? null),
          info: prepared.info,
        };
        const opened = {
          ...(req.stride !== undefined ? { stride: req.stride } : {}), ...(req.output !== undefined ? { output: req.output } : {}),
          ...(req.labelsFile !== undefined ? { labelsFile: path.resolve(req.labelsFile) } : {}), ...(req.window !== undefined ? { window: req.window } : {}),
        };
        models.set(summary.id, { summary, handle, modelKey, opened });
        emit({ jobId, stage: 'ready', done: 1, total: 1 });
        if (req.preprocess) await settings.rememberPreprocess(key, req.preprocess);
        if (target !== undefined) await settings.remember('models', [target]);
        return summary;
      } finally {
        jobs.end(jobId);
      }
    },

    async setPreprocess(req) {
      const model = modelOf('setPreprocess', req.modelId);
      if (!isPreprocessMode(req.preprocess)) throw new Error(`setPreprocess: unknown preprocess mode ${String(req.preprocess)}`);
      model.summary = { ...model.summary, info: { ...model.summary.info, preprocess: req.preprocess } };
      await settings.rememberPreprocess(model.summary.path ?? BUILTIN_KEY, req.preprocess);
      return model.summary;
    },

    async addPhotos(paths) {
      const settled = await inLanes(paths, OPEN_CONCURRENCY, (p) => library.open(p));
      const result: AddPhotosResult = { photos: [], failed: [] };
      settled.forEach((s, i) => {
        if (s.status === 'fulfilled') result.photos.push(s.value.ref);
        else result.failed.push(failure(paths[i], s.reason));
      });
      await settings.remember('photos', result.photos.map((p) => p.path));
      return result;
    },

    async demoScene() {
      // The digits' 21 MB of JSON are parsed in a worker, not on the Electron main process.
      await preloadDigits();
      const dir = path.join(dataDir, 'demo');
      await makeDirs(dir);
      const file = path.join(dir, 'digit-scene.png');
      await writeDemoScene(file);
      // Not remembered in recents: it is regenerated on demand.
      return (await library.open(file)).ref;
    },

    async computeScores(req) {
      const model = modelOf('computeScores', req.modelId);
      return scores.computeScores(req, { handle: model.handle, preprocess: model.summary.info.preprocess, modelKey: model.modelKey });
    },

    async cancel(jobId) {
      jobs.cancel(jobId);
    },

    async addFolders(req) {
      const result: AddFoldersResult = { photos: [], failed: [], skipped: 0, models: [] };
      const scanned: string[] = [];
      for (const p of req.paths) {
        if (await holdsModel(p)) result.models.push(path.resolve(p));
        else scanned.push(p);
      }
      const scan = await scanInputs(scanned, { recursive: req.recursive, exclude: cacheDir === null ? [] : [cacheDir] });
      result.skipped = scan.skipped.length;
      const settled = await inLanes(scan.photos, PROBE_CONCURRENCY, (f) => library.list(f));
      settled.forEach((s, i) => {
        if (s.status === 'fulfilled') {
          result.photos.push(s.value.ref);
          if (scan.subfolders[i]) subfolders.set(s.value.ref.id, scan.subfolders[i]);
        }
        else result.failed.push(failure(scan.photos[i], s.reason));
      });
      // Folders are not remembered in recents: a recent photo is reopened with addPhotos, which takes files.
      return result;
    },

    async runBatch(req) {
      const model = modelOf('runBatch', req.modelId);
      // Several photos here keep requests in flight: ONNX Runtime's idle threads sleep meanwhile (as the CLI's batches).
      const local = req.photoIds.length > 1 && !req.queue;
      if (local) await batchSpinning(model.handle, +1);
      try {
        return await batches.run(req, { handle: model.handle, info: model.summary.info, modelKey: model.modelKey, path: model.summary.path, opened: model.opened });
      } finally {
        if (local) await batchSpinning(model.handle, -1);
      }
    },

    async pauseBatch(batchId) {
      batches.pause(batchId);
    },

    async resumeBatch(batchId) {
      batches.resume(batchId);
    },

    allowExportDir(dir) {
      exportDirs.add(path.resolve(dir));
    },

    isExportDir(dir) {
      return exportDirs.has(path.resolve(dir));
    },

    onBatch(listener) {
      batchListeners.add(listener);
      return () => batchListeners.delete(listener);
    },

    cacheDir,

    recent: () => settings.recent(),

    onRecent(listener) {
      recentListeners.add(listener);
      return () => recentListeners.delete(listener);
    },

    photoFile(id) {
      return library.get(id)?.file;
    },

    photoBytes: (id) => library.bytes(id),

    hasModel(id) {
      return models.has(id);
    },

    hasPhoto(id) {
      return library.get(id) !== undefined;
    },

    photoRef(id) {
      return library.get(id)?.ref;
    },

    onProgress(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async close() {
      if (closed) return;
      closed = true;
      jobs.abortAll('the app is closing');
      listeners.clear();
      batchListeners.clear();
      await settings.settled();
      await renderer?.close();
      if (enginePromise) {
        const e = await enginePromise.catch(() => undefined);
        await e?.close();
      }
    },
  };
  return service;
}
