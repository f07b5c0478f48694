/**
 * The window's operations without Electron: everything behind core/api.ts's ConvmapApi except the
 * dialogs (main/electron shows those and then calls addPhotos / loadModel with the chosen paths).
 * Conversion runs in a worker thread (convert-thread.ts), inference in the engine's worker pool,
 * decoding in sharp's thread pool: nothing heavy runs on the calling thread.
 *
 * Batches (runBatch) reuse services/batch.ts: several photos in flight, pause/resume, cancel keeping
 * what is done; their overlay PNGs are rendered in worker threads (export-thread.ts) and written by
 * services/export.ts (atomic, never overwriting). Exports go only into folders the user chose in the
 * export dialog (allowExportDir).
 *
 * State in `userDataDir`: recent.json (recent models and photos), preprocess.json (the preprocessing
 * chosen per model path), demo/ (the generated demo scene), cache/ (score maps keyed by photo content,
 * model, scale and preprocessing: services/cache.ts). JSON files are written atomically.
 */
import { modelDisplayName } from '../../core/defaults';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {
  PHOTO_SCHEME,
  type AddFoldersResult, type AddPhotosResult, type BatchEvent as ApiBatchEvent, type BatchPhotoStatus, type BatchResult,
  type ModelSummary, type PhotoFailure, type PhotoRef, type ProgressEvent, type RecentItems, type ServiceApi,
} from '../../core/api';
import type { ScoreMap } from '../../core/scoremap';
import { isPreprocessMode, type PreprocessMode } from '../../core/model-info';
import { preloadDigits } from '../digits/mnist-data';
import { makeDigitScene } from '../digits/scene';
import { decodeImage, DEFAULT_MAX_PIXELS, type RgbImage } from '../engine/decode';
import { createEngine, type Engine, type EngineOptions, type ModelHandle } from '../engine/engine';
import { abortError } from '../engine/pool';
import { writeFileAtomic } from './atomic';
import { BatchController, runBatch as runBatchJob, type BatchEvent } from './batch';
import { decodeBmp, isBmp } from './bmp';
import { createDiskCache, modelHash, photoHash } from './cache';
import { prepareModelInWorker } from './convert-thread';
import { createExportRenderer, type ExportRenderer } from './export-thread';
import { prepareModel, type PreparedModel } from './models';
import { scanInputs } from './scan';

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
}

/** The upright photo as served to the renderer. */
export interface PhotoBytes {
  bytes: Uint8Array;
  mimeType: 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif' | 'image/avif';
}

/** Formats a browser shows as they are: served byte for byte when no EXIF rotation is needed. */
const AS_IS: Record<string, PhotoBytes['mimeType']> = {
  jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', avif: 'image/avif',
};
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
  /** Cancels running jobs and stops the engine's workers. */
  close(): Promise<void>;
}

/** The scene shown on first launch: held-out digits at three sizes, as in `convmap demo`. */
export const DEMO_SCENE = { width: 640, height: 480, count: 14, sizes: [28, 42, 56], seed: 7 } as const;
const BUILTIN_KEY = '<built-in>';
const RECENT_FILE = 'recent.json';
const PREPROCESS_FILE = 'preprocess.json';

interface LoadedModel {
  summary: ModelSummary;
  handle: ModelHandle;
  /** Score-cache key of the model (modelHash of its artifacts and geometry). */
  modelKey: string;
}

/** Folders opened (header probe) at once by addFolders. */
const PROBE_CONCURRENCY = 4;

/** Upright size of an image file from its header only (BMP parsed here, the rest by sharp). */
async function probeImage(file: string, maxPixels: number): Promise<{ width: number; height: number }> {
  const name = path.basename(file);
  const fh = await fs.open(file, 'r').catch((err: unknown) => {
    throw new Error(`${name}: cannot read file (${message(err)})`);
  });
  let head: Buffer;
  try {
    const { size } = await fh.stat();
    if (size === 0) throw new Error(`${name}: empty file (0 bytes), not an image`);
    head = Buffer.alloc(Math.min(size, 64));
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  let width: number | undefined;
  let height: number | undefined;
  if (isBmp(head)) {
    const raw = decodeBmp(await fs.readFile(file), name, maxPixels);
    return { width: raw.width, height: raw.height };
  }
  try {
    const meta = await sharp(file, { limitInputPixels: false }).metadata();
    const turned = (meta.orientation ?? 1) >= 5;
    width = turned ? meta.height : meta.width;
    height = turned ? meta.width : meta.height;
  } catch (err) {
    throw new Error(`${name}: not a supported image (${message(err).trim().replace(/\s+/g, ' ')})`);
  }
  if (!width || !height) throw new Error(`${name}: not a supported image (no pixel size in its header)`);
  if (width * height > maxPixels) throw new Error(`${name}: image is ${width}×${height} (${(width * height / 1e6).toFixed(1)} MP), over the limit of ${(maxPixels / 1e6).toFixed(1)} MP`);
  return { width, height };
}

/** True for a folder holding a model (model.json or convmap.json), as `convmap heatmap` decides. */
async function holdsModel(dir: string): Promise<boolean> {
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  return entries.includes('model.json') || entries.includes('convmap.json');
}

interface OpenedPhoto {
  ref: PhotoRef;
  file: string;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export async function createAppService(opts: AppServiceOptions): Promise<AppService> {
  const dataDir = path.resolve(opts.userDataDir);
  await fs.mkdir(dataDir, { recursive: true });
  const recentLimit = opts.recentLimit ?? 12;
  const maxPixels = opts.maxPhotoPixels ?? DEFAULT_MAX_PIXELS;

  const models = new Map<string, LoadedModel>();
  const photos = new Map<string, OpenedPhoto>();
  const jobs = new Map<string, AbortController>();
  const listeners = new Set<(e: ProgressEvent) => void>();
  const batchListeners = new Set<(e: ApiBatchEvent) => void>();
  const batches = new Map<string, BatchController>();
  const exportDirs = new Set<string>();
  const cacheDir = opts.cacheDir === null ? null : path.resolve(opts.cacheDir ?? path.join(dataDir, 'cache'));
  const cacheWarnings: string[] = [];
  const cache = cacheDir === null ? null : createDiskCache(cacheDir, { onWarning: (m) => cacheWarnings.push(m) });
  let renderer: ExportRenderer | undefined;
  // Decoded photos, most recent last: recomputing at other scales must not decode a big photo again.
  const decoded = new Map<string, RgbImage>();
  const DECODED_KEEP = 2;
  let closed = false;
  let loadCounter = 0;

  let enginePromise: Promise<Engine> | undefined;
  const engine = (): Promise<Engine> => {
    if (closed) return Promise.reject(new Error('the app service is closed'));
    enginePromise ??= createEngine(opts.engine ?? {});
    return enginePromise;
  };

  // Serialise read-modify-write of the JSON state files.
  let stateQueue: Promise<unknown> = Promise.resolve();
  const withState = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = stateQueue.then(fn, fn);
    stateQueue = next.catch(() => undefined);
    return next;
  };

  const emit = (e: ProgressEvent): void => {
    for (const l of listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure must not break the job.
      }
    }
  };

  const readRecent = async (): Promise<RecentItems> => {
    const raw = (await readJson(path.join(dataDir, RECENT_FILE))) as { models?: unknown; photos?: unknown } | undefined;
    return { models: stringList(raw?.models), photos: stringList(raw?.photos) };
  };
  const remember = (kind: keyof RecentItems, files: string[]): Promise<void> => withState(async () => {
    if (files.length === 0) return;
    const recent = await readRecent();
    const list = [...files.slice().reverse(), ...recent[kind].filter((f) => !files.includes(f))];
    recent[kind] = list.slice(0, recentLimit);
    await writeFileAtomic(path.join(dataDir, RECENT_FILE), `${JSON.stringify(recent, null, 2)}\n`);
  });

  const readPreprocess = async (): Promise<Record<string, PreprocessMode>> => {
    const raw = await readJson(path.join(dataDir, PREPROCESS_FILE));
    const out: Record<string, PreprocessMode> = {};
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const [k, v] of Object.entries(raw)) if (isPreprocessMode(v)) out[k] = v;
    }
    return out;
  };
  const rememberPreprocess = (key: string, mode: PreprocessMode): Promise<void> => withState(async () => {
    const all = await readPreprocess();
    all[key] = mode;
    await writeFileAtomic(path.join(dataDir, PREPROCESS_FILE), `${JSON.stringify(all, null, 2)}\n`);
  });

  const prepare = (target: string | undefined, preprocess: PreprocessMode | undefined, jobId: string, signal: AbortSignal): Promise<PreparedModel> => {
    const onStage = (stage: string): void => emit({ jobId, stage, done: 0, total: 1 });
    if (opts.convertInWorker === false) {
      return prepareModel(target, { preprocess, builtinDir: opts.builtinModelDir, onStage });
    }
    return prepareModelInWorker({ target, preprocess, builtinDir: opts.builtinModelDir }, { onStage, signal });
  };

  const decodePhoto = async (photo: OpenedPhoto): Promise<RgbImage> => {
    const hit = decoded.get(photo.ref.id);
    if (hit) {
      decoded.delete(photo.ref.id);
      decoded.set(photo.ref.id, hit);
      return hit;
    }
    const image = await decodeImage(photo.file, { maxPixels });
    decoded.set(photo.ref.id, image);
    while (decoded.size > DECODED_KEEP) decoded.delete(decoded.keys().next().value as string);
    return image;
  };

  const emitBatch = (e: ApiBatchEvent): void => {
    for (const l of batchListeners) {
      try {
        l(e);
      } catch {
        // A listener's failure must not break the batch.
      }
    }
  };

  /** Registers a photo known by its header only (folders): decoded when its scores are asked for. */
  const listPhoto = async (file: string): Promise<OpenedPhoto> => {
    const abs = path.resolve(file);
    const { width, height } = await probeImage(abs, maxPixels);
    const id = randomUUID();
    const ref: PhotoRef = { id, name: path.basename(abs), path: abs, width, height, url: `${PHOTO_SCHEME}://photo/${id}` };
    const photo = { ref, file: abs };
    photos.set(id, photo);
    return photo;
  };

  const openPhoto = async (file: string): Promise<OpenedPhoto> => {
    const abs = path.resolve(file);
    const stat = await fs.stat(abs).catch((err: unknown) => {
      throw new Error(`${path.basename(abs)}: cannot read file (${message(err)})`);
    });
    if (!stat.isFile()) throw new Error(`${path.basename(abs)}: not a file`);
    // Full decode: a truncated or corrupt photo is refused now, not when scores are asked for.
    const image = await decodeImage(abs, { maxPixels });
    const id = randomUUID();
    const ref: PhotoRef = {
      id, name: path.basename(abs), path: abs, width: image.width, height: image.height,
      url: `${PHOTO_SCHEME}://photo/${id}`,
    };
    const photo = { ref, file: abs };
    photos.set(id, photo);
    decoded.set(id, image);
    while (decoded.size > DECODED_KEEP) decoded.delete(decoded.keys().next().value as string);
    return photo;
  };

  const service: AppService = {
    async backendInfo() {
      const e = await engine();
      return { backend: e.backend, workers: e.workers };
    },

    async loadModel(req) {
      const target = req.path === null ? undefined : path.resolve(req.path);
      const key = target ?? BUILTIN_KEY;
      const preprocess = req.preprocess ?? (await readPreprocess())[key];
      const jobId = `load-model:${++loadCounter}`;
      const controller = new AbortController();
      jobs.set(jobId, controller);
      try {
        const prepared = await prepare(target, preprocess, jobId, controller.signal);
        const modelKey = prepared.modelKey ?? modelHash(prepared.artifacts, prepared.info);
        emit({ jobId, stage: 'starting workers', done: 0, total: 1 });
        const e = await engine();
        const handle = await e.loadModel(prepared.artifacts, prepared.info);
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
        models.set(summary.id, { summary, handle, modelKey });
        emit({ jobId, stage: 'ready', done: 1, total: 1 });
        if (req.preprocess) await rememberPreprocess(key, req.preprocess);
        if (target !== undefined) await remember('models', [target]);
        return summary;
      } finally {
        jobs.delete(jobId);
      }
    },

    async setPreprocess(req) {
      const model = models.get(req.modelId);
      if (!model) throw new Error(`setPreprocess: no model with id ${req.modelId} is loaded`);
      if (!isPreprocessMode(req.preprocess)) throw new Error(`setPreprocess: unknown preprocess mode ${String(req.preprocess)}`);
      model.summary = { ...model.summary, info: { ...model.summary.info, preprocess: req.preprocess } };
      await rememberPreprocess(model.summary.path ?? BUILTIN_KEY, req.preprocess);
      return model.summary;
    },

    async addPhotos(paths) {
      const settled: PromiseSettledResult<OpenedPhoto>[] = new Array(paths.length);
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < paths.length) {
          const i = next++;
          settled[i] = await openPhoto(paths[i]).then(
            (value) => ({ status: 'fulfilled', value }) as const,
            (reason: unknown) => ({ status: 'rejected', reason }) as const,
          );
        }
      };
      await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, paths.length) }, lane));
      const result: AddPhotosResult = { photos: [], failed: [] };
      settled.forEach((s, i) => {
        if (s.status === 'fulfilled') result.photos.push(s.value.ref);
        else {
          const reason = message(s.reason);
          const name = path.basename(paths[i]);
          const failure: PhotoFailure = { path: path.resolve(paths[i]), reason: reason.includes(name) ? reason : `${name}: ${reason}` };
          result.failed.push(failure);
        }
      });
      await remember('photos', result.photos.map((p) => p.path));
      return result;
    },

    async demoScene() {
      // The digits' 21 MB of JSON are parsed in a worker, not on the Electron main process.
      await preloadDigits();
      const scene = makeDigitScene({ ...DEMO_SCENE, sizes: [...DEMO_SCENE.sizes] });
      const dir = path.join(dataDir, 'demo');
      await fs.mkdir(dir, { recursive: true });
      const file = path.join(dir, 'digit-scene.png');
      const png = await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } }).png().toBuffer();
      await writeFileAtomic(file, png);
      // Not remembered in recents: it is regenerated on demand.
      return (await openPhoto(file)).ref;
    },

    async computeScores(req) {
      const model = models.get(req.modelId);
      if (!model) throw new Error(`computeScores: no model with id ${req.modelId} is loaded`);
      const photo = photos.get(req.photoId);
      if (!photo) throw new Error(`computeScores: no photo with id ${req.photoId} was opened`);
      if (jobs.has(req.jobId)) throw new Error(`computeScores: job ${req.jobId} is already running`);
      const controller = new AbortController();
      jobs.set(req.jobId, controller);
      const start = performance.now();
      try {
        const preprocess = model.summary.info.preprocess;
        const maps: (ScoreMap | undefined)[] = req.scales.map(() => undefined);
        let keyPhoto = '';
        if (cache) {
          keyPhoto = photoHash(await fs.readFile(photo.file));
          const got = await Promise.all(req.scales.map((scale) => cache.get({ photo: keyPhoto, model: model.modelKey, scale, preprocess })));
          got.forEach((m, k) => {
            if (m && m.classes === model.handle.classes && m.imageSize[0] === photo.ref.height && m.imageSize[1] === photo.ref.width) maps[k] = m;
          });
        }
        // Cancelled while the cache was read: an AbortError, as when cancelled mid-inference.
        if (controller.signal.aborted) throw abortError(controller.signal);
        const missing = req.scales.filter((_, k) => maps[k] === undefined);
        if (missing.length > 0) {
          emit({ jobId: req.jobId, stage: 'decoding', done: 0, total: 1 });
          const image = await decodePhoto(photo);
          if (controller.signal.aborted) throw abortError(controller.signal);
          const e = await engine();
          const computed = await e.scoreMaps(model.handle, image, missing, preprocess, {
            signal: controller.signal,
            onProgress: (done, total) => emit({ jobId: req.jobId, stage: `scales ${missing.join(', ')}`, done, total }),
          });
          let j = 0;
          for (let k = 0; k < maps.length; k++) if (maps[k] === undefined) maps[k] = computed[j++];
          if (cache) await Promise.all(computed.map((m, q) => cache.put({ photo: keyPhoto, model: model.modelKey, scale: missing[q], preprocess }, m)));
        }
        return { jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, maps: maps as ScoreMap[], elapsedMs: performance.now() - start };
      } catch (err) {
        if (controller.signal.aborted) throw abortError(controller.signal);
        throw new Error(`${photo.ref.name}: ${message(err)}`, { cause: err });
      } finally {
        jobs.delete(req.jobId);
      }
    },

    async cancel(jobId) {
      jobs.get(jobId)?.abort(new Error(`job ${jobId} cancelled`));
    },

    async addFolders(req) {
      const result: AddFoldersResult = { photos: [], failed: [], skipped: 0, models: [] };
      const scanned: string[] = [];
      for (const p of req.paths) {
        const st = await fs.stat(p).catch(() => null);
        if (st?.isDirectory() && (await holdsModel(p))) result.models.push(path.resolve(p));
        else scanned.push(p);
      }
      const scan = await scanInputs(scanned, { recursive: req.recursive, exclude: cacheDir === null ? [] : [cacheDir] });
      result.skipped = scan.skipped.length;
      const settled: (OpenedPhoto | PhotoFailure)[] = new Array(scan.photos.length);
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < scan.photos.length) {
          const i = next++;
          const file = scan.photos[i];
          settled[i] = await listPhoto(file).catch((err: unknown) => {
            const reason = message(err);
            const name = path.basename(file);
            return { path: path.resolve(file), reason: reason.includes(name) ? reason : `${name}: ${reason}` };
          });
        }
      };
      await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, scan.photos.length) }, lane));
      for (const s of settled) {
        if ('ref' in s) result.photos.push(s.ref);
        else result.failed.push(s);
      }
      // Folders are not remembered in recents: a recent photo is reopened with addPhotos, which takes files.
      return result;
    },

    async runBatch(req) {
      const model = models.get(req.modelId);
      if (!model) throw new Error(`runBatch: no model with id ${req.modelId} is loaded`);
      const list = req.photoIds.map((id) => {
        const photo = photos.get(id);
        if (!photo) throw new Error(`runBatch: no photo with id ${id} was opened`);
        return photo;
      });
      if (jobs.has(req.batchId)) throw new Error(`runBatch: job ${req.batchId} is already running`);
      const ex = req.export;
      if (ex && !exportDirs.has(path.resolve(ex.outDir))) throw new Error(`runBatch: ${ex.outDir} was not chosen as an export folder`);
      const controller = new AbortController();
      const pause = new BatchController();
      jobs.set(req.batchId, controller);
      batches.set(req.batchId, pause);
      const { batchId } = req;
      const outputs: string[] = [];
      const statuses = req.photoIds.map((): BatchPhotoStatus => 'queued');
      const warned = cacheWarnings.length;
      const onEvent = (e: BatchEvent): void => {
        if (e.type === 'photo') {
          const photoId = req.photoIds[e.index];
          statuses[e.index] = e.status;
          const out: ApiBatchEvent = { type: 'photo', batchId, photoId, status: e.status };
          if (e.reason !== undefined) out.reason = e.reason;
          if (e.outcome) {
            out.cached = e.outcome.cachedScales === req.scales.length;
            out.classLabel = e.outcome.classLabel;
            if (e.outcome.png) {
              out.output = e.outcome.png;
              outputs.push(e.outcome.png);
              if (e.outcome.json) outputs.push(e.outcome.json);
            }
          }
          emitBatch(out);
        } else if (e.type === 'progress') {
          const { type: _t, ...rest } = e;
          emitBatch({ type: 'progress', batchId, ...rest });
        } else if (e.type === 'warning') {
          emitBatch({ type: 'warning', batchId, message: e.message });
        } else {
          emitBatch({ type: e.type, batchId });
        }
      };
      try {
        const e = await engine();
        const summary = await runBatchJob({
          engine: e, handle: model.handle, info: model.summary.info, photos: list.map((p) => p.file), scales: req.scales,
          outDir: ex?.outDir, signal: controller.signal, cache, modelKey: model.modelKey, controller: pause, onEvent,
          render: ex && opts.exportInWorker !== false
            ? (result, info, style, detections) => (renderer ??= createExportRenderer()).render(result, info.labels, style, detections)
            : undefined,
          options: {
            mode: req.mode, maxPixels,
            colormap: ex?.colormap ?? 'turbo', opacity: ex?.opacity ?? 0.5, threshold: ex?.threshold ?? 0,
            boxes: ex?.boxes ?? false, legend: ex?.legend ?? false, detectThreshold: ex?.detectThreshold ?? 0.5,
            classChoice: ex?.classChoice ?? 'top', namePattern: ex?.namePattern, scoresJson: ex?.scoresJson ?? false, csv: ex?.csv ?? false,
          },
        });
        for (const w of cacheWarnings.slice(warned)) emitBatch({ type: 'warning', batchId, message: w });
        const index = new Map(list.map((p, i) => [p.file, req.photoIds[i]]));
        const result: BatchResult = {
          batchId, total: summary.total, done: summary.done,
          failed: summary.failed.map((f) => ({ photoId: index.get(f.photo) ?? f.photo, reason: f.reason })),
          statuses, skipped: summary.skipped.length, cancelled: summary.cancelled, cacheHits: summary.cacheHits, elapsedMs: summary.elapsedMs, outputs,
        };
        if (summary.csv) {
          result.csv = summary.csv;
          outputs.push(summary.csv.summary, summary.csv.detections);
        }
        return result;
      } finally {
        jobs.delete(req.batchId);
        batches.delete(req.batchId);
      }
    },

    async pauseBatch(batchId) {
      batches.get(batchId)?.pause();
    },

    async resumeBatch(batchId) {
      batches.get(batchId)?.resume();
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

    async recent() {
      await stateQueue;
      return readRecent();
    },

    photoFile(id) {
      return photos.get(id)?.file;
    },

    async photoBytes(id) {
      const photo = photos.get(id);
      if (!photo) return undefined;
      const meta = await sharp(photo.file, { limitInputPixels: maxPixels }).metadata();
      const asIs = meta.format ? AS_IS[meta.format] : undefined;
      // Upright already and a format the renderer shows: the file itself, no re-encoding of a big photo.
      if (asIs && (meta.orientation ?? 1) === 1 && (meta.pages ?? 1) === 1) {
        return { bytes: new Uint8Array(await fs.readFile(photo.file)), mimeType: asIs };
      }
      const img = sharp(photo.file, { limitInputPixels: maxPixels }).rotate();
      // JPEG stays JPEG (smaller, and photos have no alpha); everything else becomes PNG.
      if (meta.format === 'jpeg') return { bytes: new Uint8Array(await img.jpeg({ quality: 92 }).toBuffer()), mimeType: 'image/jpeg' };
      return { bytes: new Uint8Array(await img.png().toBuffer()), mimeType: 'image/png' };
    },

    hasModel(id) {
      return models.has(id);
    },

    hasPhoto(id) {
      return photos.has(id);
    },

    photoRef(id) {
      return photos.get(id)?.ref;
    },

    onProgress(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const c of jobs.values()) c.abort(new Error('the app is closing'));
      listeners.clear();
      batchListeners.clear();
      await stateQueue;
      await renderer?.close();
      if (enginePromise) {
        const e = await enginePromise.catch(() => undefined);
        await e?.close();
      }
    },
  };
  return service;
}
