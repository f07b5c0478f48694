/**
 * A fake ConvmapApi for the renderer's unit tests (component and store tests only; the end-to-end
 * test drives the real services). Score maps are small synthetic grids whose values are chosen per
 * scale and class, so averages and rankings are known in advance.
 */
import { vi } from 'vitest';
import { createApp } from 'vue';
import { createPinia, setActivePinia, type Pinia } from 'pinia';
import type {
  AddFoldersRequest, BatchEvent, BatchResult, ComputeScoresRequest, ConvmapApi, MenuCommand, ModelSummary, PhotoRef, ProgressEvent, RunBatchRequest, ScoresResult,
} from '../../core/api';
import type { ConvertedModelInfo } from '../../core/model-info';
import { cellCount, type ScoreMap } from '../../core/scoremap';
import { API_KEY } from '../../renderer/api';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';

export const LABELS = ['cat', 'dog', 'background'];

export function modelInfo(over: Partial<ConvertedModelInfo> = {}): ConvertedModelInfo {
  return Object.freeze({
    format: 'convmap-fcn', version: 1, source: '/models/pets/model.json',
    window: [8, 8], stride: [4, 4], offset: [0, 0], channels: 3, labels: LABELS,
    head: ['fc (Dense) 3 units, softmax → Conv2D 2×2×16 → 3, valid, softmax'],
    boundary: { layer: 'pool', shape: [2, 2, 16] }, padding: 'valid', preprocess: 'unit',
    equivalence: { maxAbsDiff: 2.4e-7, maxRelDiff: 3e-7, cellsChecked: 9, inputSize: [16, 16], exact: true },
    ...over,
  }) as ConvertedModelInfo;
}

export const MODEL: ModelSummary = Object.freeze({ id: 'm1', path: null, name: 'Built-in digits', info: modelInfo() });
export const PHOTO: PhotoRef = Object.freeze({ id: 'p1', name: 'scene.png', path: '/photos/scene.png', width: 40, height: 40, url: 'convmap-photo://photo/p1' });

/** Class scores per scale: every cell of scale s scores SCORES[s] (falls back to [0.2, 0.2, 0.6]). */
export const SCORES: Record<string, number[]> = {
  '0.5': [0.1, 0.7, 0.2],
  '1': [0.9, 0.3, 0.1],
  '2': [0.5, 0.2, 0.3],
};

export function fakeMap(scale: number, size: [number, number] = [PHOTO.height, PHOTO.width]): ScoreMap {
  const scaledSize: [number, number] = [Math.round(size[0] * scale), Math.round(size[1] * scale)];
  const rows = cellCount(scaledSize[0], 8, 4);
  const cols = cellCount(scaledSize[1], 8, 4);
  const per = SCORES[String(scale)] ?? [0.2, 0.2, 0.6];
  const scores = new Float32Array(rows * cols * 3);
  for (let c = 0; c < rows * cols; c++) scores.set(per, c * 3);
  return { scale, imageSize: size, scaledSize, rows, cols, classes: 3, scores, geometry: { window: [8, 8], stride: [4, 4], offset: [0, 0] } };
}

export interface FakeApi extends ConvmapApi {
  /** Sends a progress event to the subscribers. */
  progress(e: ProgressEvent): void;
  openFiles(paths: string[]): void;
  /** Sends what a menu item asks (as main does on convmap:menu) to the subscribers. */
  menu(m: MenuCommand): void;
  /** Sends a batch event to the subscribers. */
  batch(e: BatchEvent): void;
  /** Settles the runBatch call of `batchId` (default: every photo done, or cancelled when cancel(batchId) was called). */
  finishBatch(batchId: string, over?: Partial<BatchResult>): void;
  /** How many listeners each of main's event channels has now. */
  listeners(): { progress: number; openFiles: number; menu: number; batch: number };
}

export interface FakeOptions {
  /** computeScores waits for this before answering (to test a job in flight). */
  hold?: Promise<void>;
}

export function fakeApi(opts: FakeOptions = {}): FakeApi & { [K in keyof ConvmapApi]: ReturnType<typeof vi.fn> & ConvmapApi[K] } {
  const progress = new Set<(e: ProgressEvent) => void>();
  const openFiles = new Set<(p: string[]) => void>();
  const menus = new Set<(m: MenuCommand) => void>();
  const pending = new Map<string, (err: Error) => void>();
  const batchListeners = new Set<(e: BatchEvent) => void>();
  const batches = new Map<string, { req: RunBatchRequest; resolve: (r: BatchResult) => void; cancelled: boolean }>();
  const api = {
    backendInfo: vi.fn(async () => ({ backend: 'wasm' as const, workers: 2 })),
    openModelDialog: vi.fn(async () => null),
    openLabelsDialog: vi.fn(async (): Promise<string | null> => null),
    loadModel: vi.fn(async (req: { path: string | null }) => (req.path === null ? MODEL : { ...MODEL, id: 'm2', path: req.path, name: 'model.json' })),
    setPreprocess: vi.fn(async (req: { preprocess: ConvertedModelInfo['preprocess'] }) => ({ ...MODEL, info: modelInfo({ preprocess: req.preprocess }) })),
    openPhotosDialog: vi.fn(async () => ({ photos: [], failed: [] })),
    addPhotos: vi.fn(async (paths: string[]) => ({ photos: paths.map((p, i) => ({ ...PHOTO, id: `added-${i}`, path: p, name: p.split('/').pop() ?? p })), failed: [] })),
    demoScene: vi.fn(async () => PHOTO),
    computeScores: vi.fn((req: ComputeScoresRequest) => new Promise<ScoresResult>((resolve, reject) => {
      pending.set(req.jobId, reject);
      void (opts.hold ?? Promise.resolve()).then(() => {
        pending.delete(req.jobId);
        resolve({ jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, maps: req.scales.map((s) => fakeMap(s)), elapsedMs: 12 });
      });
    })),
    cancel: vi.fn(async (jobId: string) => {
      const b = batches.get(jobId);
      if (b) b.cancelled = true;
      const reject = pending.get(jobId);
      pending.delete(jobId);
      if (reject) {
        const err = new Error('the operation was cancelled');
        err.name = 'AbortError';
        reject(err);
      }
    }),
    recent: vi.fn(async () => ({ models: ['/models/pets/model.json'], photos: ['/photos/a.jpg'] })),
    onProgress: vi.fn((l: (e: ProgressEvent) => void) => {
      progress.add(l);
      return () => progress.delete(l);
    }),
    onOpenFiles: vi.fn((l: (p: string[]) => void) => {
      openFiles.add(l);
      return () => openFiles.delete(l);
    }),
    onMenu: vi.fn((l: (m: MenuCommand) => void) => {
      menus.add(l);
      return () => menus.delete(l);
    }),
    pathForFile: vi.fn((file: { name: string }) => `/dropped/${file.name}`),
    openFoldersDialog: vi.fn(async () => ({ photos: [], failed: [], skipped: 0, models: [] })),
    // Folders named like a model ("pets", "*-model") hold one; others list photos a.jpg, b.jpg and a text file.
    addFolders: vi.fn(async (req: AddFoldersRequest) => {
      const models = req.paths.filter((p) => /(pets|-model)$/.test(p));
      const dirs = req.paths.filter((p) => !models.includes(p));
      return {
        photos: dirs.flatMap((d) => ['a.jpg', 'b.jpg'].map((n) => ({ ...PHOTO, id: `${d}/${n}`, path: `${d}/${n}`, name: n }))),
        failed: dirs.map((d) => ({ path: `${d}/notes.png`, reason: 'notes.png: not a supported image' })),
        skipped: dirs.length,
        models,
      };
    }),
    chooseExportFolder: vi.fn(async () => '/exports'),
    runBatch: vi.fn((req: RunBatchRequest) => new Promise<BatchResult>((resolve) => {
      batches.set(req.batchId, { req, resolve, cancelled: false });
    })),
    pauseBatch: vi.fn(async () => undefined),
    resumeBatch: vi.fn(async () => undefined),
    showInFolder: vi.fn(async () => undefined),
    onBatch: vi.fn((l: (e: BatchEvent) => void) => {
      batchListeners.add(l);
      return () => batchListeners.delete(l);
    }),
    batch: (e: BatchEvent) => batchListeners.forEach((l) => l(e)),
    finishBatch: (batchId: string, over: Partial<BatchResult> = {}) => {
      const b = batches.get(batchId);
      if (!b) throw new Error(`no batch ${batchId} is running`);
      batches.delete(batchId);
      const n = b.req.photoIds.length;
      b.resolve({
        batchId, total: n, done: b.cancelled ? 0 : n, failed: [], statuses: b.req.photoIds.map(() => (b.cancelled ? 'skipped' : 'done')), skipped: b.cancelled ? n : 0, cancelled: b.cancelled, cacheHits: 0, elapsedMs: 1000,
        outputs: b.req.export ? b.req.photoIds.map((id) => `${b.req.export?.outDir}/${id.split('/').pop()}.heatmap.png`) : [],
        ...over,
      });
    },
    progress: (e: ProgressEvent) => progress.forEach((l) => l(e)),
    openFiles: (p: string[]) => openFiles.forEach((l) => l(p)),
    menu: (m: MenuCommand) => menus.forEach((l) => l(m)),
    listeners: () => ({ progress: progress.size, openFiles: openFiles.size, menu: menus.size, batch: batchListeners.size }),
  };
  return api as unknown as ReturnType<typeof fakeApi>;
}

/** A Pinia whose stores get `api` (as main.ts gives them window.convmap), made active. */
export function piniaWith(api: ConvmapApi): Pinia {
  // Settings the window remembers must not leak from one test into the next.
  if (typeof localStorage !== 'undefined') localStorage.clear();
  const app = createApp({});
  app.provide(API_KEY, api);
  const pinia = createPinia();
  app.use(pinia);
  setActivePinia(pinia);
  return pinia;
}

/** Lets pending promises and watchers run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Sets the custom scales (`scales` as a user types them), starts the session and lets it settle. */
export async function startAtScales(scales: string): Promise<void> {
  const refused = useScoresStore().setCustom(scales);
  if (refused) throw new Error(refused);
  await useSessionStore().start();
  await settle();
}
