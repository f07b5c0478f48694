/**
 * The window's operations without Electron: everything behind core/api.ts's ConvmapApi except the
 * dialogs (main/electron shows those and then calls addPhotos / loadModel with the chosen paths).
 * Conversion runs in a worker thread (convert-thread.ts), inference in the engine's worker pool,
 * decoding in sharp's thread pool: nothing heavy runs on the calling thread.
 *
 * State in `userDataDir`: recent.json (recent models and photos), preprocess.json (the preprocessing
 * chosen per model path), demo/ (the generated demo scene). JSON files are written atomically.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {
  PHOTO_SCHEME,
  type AddPhotosResult, type BackendInfo, type ComputeScoresRequest, type LoadModelRequest, type ModelSummary,
  type PhotoFailure, type PhotoRef, type ProgressEvent, type RecentItems, type ScoresResult, type SetPreprocessRequest,
} from '../../core/api';
import { isPreprocessMode, type PreprocessMode } from '../../core/model-info';
import { makeDigitScene } from '../digits/scene';
import { decodeImage, DEFAULT_MAX_PIXELS, type RgbImage } from '../engine/decode';
import { createEngine, type Engine, type EngineOptions, type ModelHandle } from '../engine/engine';
import { abortError } from '../engine/pool';
import { writeFileAtomic } from './atomic';
import { prepareModelInWorker } from './convert-thread';
import { prepareModel, type PreparedModel } from './models';

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

/** One method per ConvmapApi invoke operation (dialogs excepted), plus what the Electron glue needs. */
export interface AppService {
  backendInfo(): Promise<BackendInfo>;
  loadModel(req: LoadModelRequest): Promise<ModelSummary>;
  setPreprocess(req: SetPreprocessRequest): Promise<ModelSummary>;
  addPhotos(paths: string[]): Promise<AddPhotosResult>;
  demoScene(): Promise<PhotoRef>;
  computeScores(req: ComputeScoresRequest): Promise<ScoresResult>;
  cancel(jobId: string): Promise<void>;
  recent(): Promise<RecentItems>;
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
          name: target === undefined ? 'Built-in digits' : path.basename(target),
          info: prepared.info,
        };
        models.set(summary.id, { summary, handle });
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
        emit({ jobId: req.jobId, stage: 'decoding', done: 0, total: 1 });
        const image = await decodePhoto(photo);
        if (controller.signal.aborted) throw abortError(controller.signal);
        const e = await engine();
        const maps = await e.scoreMaps(model.handle, image, req.scales, model.summary.info.preprocess, {
          signal: controller.signal,
          onProgress: (done, total) => emit({ jobId: req.jobId, stage: `scales ${req.scales.join(', ')}`, done, total }),
        });
        return { jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, maps, elapsedMs: performance.now() - start };
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
      await stateQueue;
      if (enginePromise) {
        const e = await enginePromise.catch(() => undefined);
        await e?.close();
      }
    },
  };
  return service;
}
