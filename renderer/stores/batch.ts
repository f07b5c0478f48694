/**
 * The batch queue: folders of photos opened (dialog or drop), processed in main in the background
 * (score cache, all cores) with a status per photo, overall progress, pause/resume and cancel; and
 * exports of overlay PNGs for the photo on screen or the whole list. Everything runs through
 * api.runBatch; its events ('convmap:batch') update the state here.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch, type Ref } from 'vue';
import type { AddFoldersResult, BatchEvent, BatchPhotoStatus, BatchProgress, BatchResult, ConvmapApi } from '../../core/api';
import { DEFAULT_RECIPE, PICTURE_EXTENSIONS, type Recipe } from '../../core/recipe';
import { remoteErrorMessage, useApi } from '../api';
import { AUTO_PRESET_ID } from '../scales';
import { newJobId } from './jobs';
import { useModelStore } from './model';
import { usePhotosStore } from './photos';
import { useScoresStore } from './scores';
import { useViewStore } from './view';

export interface PhotoBatchState {
  status: BatchPhotoStatus;
  /** Why it failed or was skipped. */
  reason?: string;
  /** Every scale came from the score cache. */
  cached?: boolean;
  /** Strongest class (label). */
  classLabel?: string;
  /** Per class (label order), the highest score of the photo's averaged map; 'done' photos only. */
  maxima?: readonly number[];
}


export interface RunState {
  batchId: string;
  photoIds: string[];
  paused: boolean;
  cancelling: boolean;
  progress: BatchProgress;
}

export interface ExportState extends RunState {
  outDir: string;
  /** PNGs written so far. */
  outputs: string[];
  failed: { photoId: string; reason: string }[];
}

/** Which class an export draws: the one chosen in the heatmap panel, each photo's top class, or any. */
export type ExportClassMode = 'view' | 'top' | 'any';

const emptyProgress = (total: number): BatchProgress => ({ total, done: 0, failed: 0, skipped: 0, running: 0, elapsedMs: 0, etaMs: null, photosPerMinute: 0 });

/** Whether a file an export wrote is its picture (of any format), not a scores or CSV file. */
const isPicture = (file: string): boolean => Object.values(PICTURE_EXTENSIONS).some((ext) => file.toLowerCase().endsWith(ext));

/** '1m05s', '42s', '1h02m'. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

type PhotoEvent = Extract<BatchEvent, { type: 'photo' }>;
type Statuses = ReadonlyMap<string, PhotoBatchState>;

/** A queue photo's state from its event. */
function photoStateOf(e: PhotoEvent): PhotoBatchState {
  const st: PhotoBatchState = { status: e.status };
  if (e.reason !== undefined) st.reason = e.reason;
  if (e.cached !== undefined) st.cached = e.cached;
  if (e.classLabel !== undefined) st.classLabel = e.classLabel;
  if (e.maxima !== undefined) st.maxima = e.maxima;
  return st;
}

/**
 * What a 'done' event that came after its batch's result adds to a photo the result already marked
 * done (its maxima; for a queue run its class and cache flag too); undefined: nothing to add.
 */
function lateState(now: PhotoBatchState | undefined, e: BatchEvent, kind: 'queue' | 'export' | undefined): PhotoBatchState | undefined {
  if (!kind || e.type !== 'photo' || e.status !== 'done' || now?.status !== 'done') return undefined;
  const st: PhotoBatchState = { ...now };
  if (e.maxima !== undefined) st.maxima = e.maxima;
  if (kind === 'queue' && e.classLabel !== undefined) st.classLabel = e.classLabel;
  if (kind === 'queue' && e.cached !== undefined) st.cached = e.cached;
  return st;
}

/** The result is authoritative: the photos whose state it changes (events may come after it, or never). */
function reconciled(photoIds: readonly string[], result: BatchResult, now: Statuses): [string, PhotoBatchState][] {
  const reasons = new Map(result.failed.map((f) => [f.photoId, f.reason]));
  const updates: [string, PhotoBatchState][] = [];
  photoIds.forEach((id, i) => {
    const final = result.statuses[i];
    if (!final || now.get(id)?.status === final) return;
    const st: PhotoBatchState = { status: final };
    if (final === 'failed') st.reason = reasons.get(id) ?? 'failed';
    if (final === 'skipped') st.reason = 'cancelled';
    updates.push([id, st]);
  });
  return updates;
}

/** Per photo id its state, replaced (never mutated) on every change, and the counts per status. */
function statusTable() {
  const status = shallowRef<Statuses>(new Map());
  const setStatus = (updates: Iterable<[string, PhotoBatchState]>): void => {
    const next = new Map(status.value);
    for (const [id, st] of updates) next.set(id, st);
    status.value = next;
  };
  const statusOf = (photoId: string): PhotoBatchState | undefined => status.value.get(photoId);
  const counts = computed(() => {
    const c: Record<BatchPhotoStatus, number> = { queued: 0, running: 0, done: 0, 'no cells': 0, failed: 0, skipped: 0 };
    for (const s of status.value.values()) c[s.status]++;
    return c;
  });
  return { status, setStatus, statusOf, counts };
}

/**
 * The Batch tab's export choices. An export sends the view's recipe (what is on screen) with the
 * scales switched on and three choices of its own: the class, the legend and the boxes. The files
 * it writes (name, JSON, CSV) are recipe fields: they live in the view's recipe.
 */
function exportChoices(view: ReturnType<typeof useViewStore>) {
  const exportClass = ref<ExportClassMode>('view');
  const legend = ref(DEFAULT_RECIPE.legend);
  /** Boxes on exported pictures: the export's own choice, not the view's (the view may show boxes to inspect, the export not, and the other way). */
  const exportBoxes = ref(DEFAULT_RECIPE.boxes);
  const namePattern = computed<string>({
    get: () => view.recipe.namePattern,
    set: (v) => {
      view.recipe.namePattern = v;
    },
  });
  /** Write <name>.scores.json next to each picture (the recipe's scores 'summary', else 'none'). */
  const scoresJson = computed<boolean>({
    get: () => view.recipe.scores !== 'none',
    set: (v) => {
      view.recipe.scores = v ? 'summary' : 'none';
    },
  });
  const csv = computed<boolean>({
    get: () => view.recipe.csv,
    set: (v) => {
      view.recipe.csv = v;
    },
  });
  /** A Convmap queue (redis:// URL) that exports go to, run by its workers; empty: exports run here. */
  const queueUrl = ref('');
  /** What an export sends: the view's recipe with `scales`, and the Batch tab's class, legend and boxes. */
  const exportRecipe = (scales: Recipe['scales']): Recipe => {
    const classChoice = exportClass.value === 'view' ? view.recipe.classChoice : exportClass.value;
    return { ...view.recipe, scales, classChoice, legend: legend.value, boxes: exportBoxes.value };
  };
  return { exportClass, legend, exportBoxes, namePattern, scoresJson, csv, queueUrl, exportRecipe };
}

/** Batches whose result came already, with what they were: a few are kept (the oldest dropped) for their late events. */
function finishedBatches() {
  const finished = new Map<string, 'queue' | 'export'>();
  return {
    kindOf: (batchId: string) => finished.get(batchId),
    mark(batchId: string, kind: 'queue' | 'export'): void {
      finished.set(batchId, kind);
      for (const id of finished.keys()) if (finished.size > 8) finished.delete(id);
    },
  };
}

/** What the batch's steps share: main's API, the stores they read, and the state several steps write. */
interface BatchContext {
  api: ConvmapApi;
  photosStore: ReturnType<typeof usePhotosStore>;
  modelStore: ReturnType<typeof useModelStore>;
  scores: ReturnType<typeof useScoresStore>;
  view: ReturnType<typeof useViewStore>;
  table: ReturnType<typeof statusTable>;
  /**
   * A photo's last event may come after its batch's result (the bridge of the browser tests sends
   * them on another connection), and its class and maxima are still wanted.
   */
  finished: ReturnType<typeof finishedBatches>;
  /** The last refused or failed call to main, in one line. */
  error: Ref<string | null>;
}

/** The recipes runs send: the view's recipe with the queue's scales, or an export's (the Batch tab's choices, the scales on screen). */
function batchRecipes({ scores, view }: BatchContext, choices: ReturnType<typeof exportChoices>) {
  const auto = (): boolean => scores.presetId === AUTO_PRESET_ID;
  /** The 'auto' preset gives each photo of a batch its own default scales (main applies core/defaults per photo), not the selected photo's. */
  const queueRecipe = (): Recipe => ({ ...view.recipe, scales: auto() ? 'auto' : [...scores.requested] });
  /**
   * The scales an export computes: what the picture on screen averages. The photo on screen gets
   * exactly the scales switched on. Every photo gets 'auto' under the auto preset (each its own plan:
   * the auto scales switched off are the selected photo's, which other photos do not have), else the
   * preset's scales switched on.
   */
  const exportScales = (scope: 'current' | 'all'): Recipe['scales'] => (scope === 'all' && auto() ? 'auto' : [...scores.enabledScales]);
  /** What an export of `scope` sends. */
  const exportRecipe = (scope: 'current' | 'all'): Recipe => choices.exportRecipe(exportScales(scope));
  return { queueRecipe, exportRecipe };
}

/** The queue: photos computed (and cached) with the view's recipe and the queue's scales, one run at a time. */
function queueRuns(ctx: BatchContext, queueRecipe: () => Recipe) {
  const { api, photosStore, modelStore, table: { status, setStatus, statusOf }, finished, error } = ctx;
  /** Photos waiting for the next run (a run is going, or no model yet). */
  const pending = ref<string[]>([]);
  const run = ref<RunState | null>(null);
  const lastRun = shallowRef<BatchResult | null>(null);

  /** Starts the next run of the queue when none is going and a model is loaded. */
  async function pump(): Promise<void> {
    const model = modelStore.model;
    if (run.value || !model || pending.value.length === 0) return;
    const photoIds = pending.value;
    pending.value = [];
    const batchId = newJobId('batch');
    run.value = { batchId, photoIds, paused: false, cancelling: false, progress: emptyProgress(photoIds.length) };
    error.value = null;
    try {
      const result = await api.runBatch({ batchId, modelId: model.id, photoIds, recipe: queueRecipe() });
      setStatus(reconciled(photoIds, result, status.value));
      finished.mark(batchId, 'queue');
      lastRun.value = result;
    } catch (err) {
      error.value = remoteErrorMessage(err);
      // Refused before it started: the photos are not queued any more.
      setStatus(photoIds.filter((id) => statusOf(id)?.status === 'queued').map((id) => [id, { status: 'skipped', reason: error.value ?? 'not run' }]));
    } finally {
      run.value = null;
    }
    if (pending.value.length > 0) await pump();
  }

  /** Queues photos (already done ones too: they come from the cache at once). */
  function enqueue(photoIds: readonly string[]): Promise<void> {
    const fresh = photoIds.filter((id) => !pending.value.includes(id));
    if (fresh.length === 0) return pump();
    pending.value = [...pending.value, ...fresh];
    setStatus(fresh.map((id) => [id, { status: 'queued' }]));
    return pump();
  }

  /** Queues every listed photo not done yet with the current model and scales. */
  function processAll(): Promise<void> {
    return enqueue(photosStore.photos.filter((p) => statusOf(p.id)?.status !== 'done' && statusOf(p.id)?.status !== 'no cells').map((p) => p.id));
  }

  return { pending, run, lastRun, pump, enqueue, processAll };
}

/** Pause, resume and cancel of the queue's run. */
function queueControls({ api, table: { setStatus } }: BatchContext, { pending, run }: Pick<ReturnType<typeof queueRuns>, 'pending' | 'run'>) {
  async function pause(): Promise<void> {
    if (run.value) await api.pauseBatch(run.value.batchId);
  }

  async function resume(): Promise<void> {
    if (run.value) await api.resumeBatch(run.value.batchId);
  }

  /** Stops the queue: photos in flight stop, finished ones stay done, the rest are skipped. */
  async function cancel(): Promise<void> {
    const queued = pending.value;
    pending.value = [];
    setStatus(queued.map((id) => [id, { status: 'skipped', reason: 'cancelled' }]));
    if (run.value) {
      run.value.cancelling = true;
      await api.cancel(run.value.batchId);
    }
  }

  return { pause, resume, cancel };
}

/** The queue run's overall fraction finished (done, failed or skipped; 0–1) and its time left ('1m05s'; null: not known). */
function queueProgress(run: Ref<RunState | null>) {
  const fraction = computed(() => {
    const p = run.value?.progress;
    if (!p || p.total === 0) return 0;
    return (p.done + p.failed + p.skipped) / p.total;
  });
  const timeLeft = computed(() => {
    const eta = run.value?.progress.etaMs;
    return eta === null || eta === undefined ? null : formatDuration(eta);
  });
  return { fraction, timeLeft };
}

/**
 * Statuses belong to the model, preprocessing and scales they were computed with: a change of one
 * clears them when the queue is idle, else the queue goes on.
 */
function clearOnNewCompute({ modelStore, scores, table }: BatchContext, queue: Pick<ReturnType<typeof queueRuns>, 'pending' | 'run' | 'pump'>): void {
  watch(
    () => [modelStore.model?.id, modelStore.model?.info.preprocess, scores.presetId === AUTO_PRESET_ID ? AUTO_PRESET_ID : scores.requested.join(',')],
    () => {
      if (!queue.run.value && queue.pending.value.length === 0) table.status.value = new Map();
      else void queue.pump();
    },
  );
}

/** Folders opened (dialog or drop): photos join the list and the queue; folders holding a model load as models. */
function folderOpening({ api, photosStore, modelStore }: BatchContext, enqueue: (photoIds: readonly string[]) => Promise<void>) {
  /** Open folders with their sub-folders. */
  const recursive = ref(false);
  /** Entries of opened folders that are not images (counted, never opened). */
  const skippedFiles = ref(0);
  /** Images of opened folders that could not be read (header), with reasons. */
  const unreadable = ref(0);

  async function take(result: AddFoldersResult): Promise<void> {
    photosStore.take(result);
    skippedFiles.value += result.skipped;
    unreadable.value += result.failed.length;
    const jobs: Promise<unknown>[] = [];
    if (result.models.length > 0) jobs.push(modelStore.load(result.models[result.models.length - 1]));
    if (result.photos.length > 0) jobs.push(enqueue(result.photos.map((p) => p.id)));
    await Promise.all(jobs);
  }

  /** Folders by path (a drop). */
  const addFolders = (paths: string[]): Promise<void> => photosStore.run(async () => {
    if (paths.length > 0) await take(await api.addFolders({ paths, recursive: recursive.value }));
  });
  const openFoldersDialog = (): Promise<void> => photosStore.run(async () => take(await api.openFoldersDialog(recursive.value)));

  return { recursive, skippedFiles, unreadable, addFolders, openFoldersDialog };
}

/** Exports: into a folder chosen in main's dialog, here or on a queue's workers; and their cancel. */
function exportRuns(ctx: BatchContext, queueUrl: Ref<string>, exportRecipe: (scope: 'current' | 'all') => Recipe) {
  const { api, photosStore, modelStore, table: { statusOf }, finished, error } = ctx;
  const exporting = ref<ExportState | null>(null);
  const lastExport = shallowRef<BatchResult | null>(null);
  /** The folder the last export wrote into. */
  const lastExportDir = ref<string | null>(null);

  /** The photo on screen ('current') or every photo the user opened not failed ('all'; photos.exportPhotos). */
  const photosOf = (scope: 'current' | 'all'): string[] => (scope === 'current'
    ? (photosStore.selected ? [photosStore.selected.id] : [])
    : photosStore.exportPhotos.filter((p) => statusOf(p.id)?.status !== 'failed').map((p) => p.id));

  /** Exports the photos of `scope` into a folder chosen in the dialog; null: nothing to export, no folder chosen, or it failed (`error`). */
  async function exportPhotos(scope: 'current' | 'all'): Promise<BatchResult | null> {
    const model = modelStore.model;
    const photoIds = photosOf(scope);
    if (!model || photoIds.length === 0 || exporting.value) return null;
    error.value = null;
    try {
      const outDir = await api.chooseExportFolder();
      if (outDir === null) return null;
      const batchId = newJobId('export');
      lastExportDir.value = outDir;
      exporting.value = { batchId, photoIds, paused: false, cancelling: false, progress: emptyProgress(photoIds.length), outDir, outputs: [], failed: [] };
      const queue = queueUrl.value.trim();
      const result = await api.runBatch({
        batchId, modelId: model.id, photoIds, recipe: exportRecipe(scope), export: { outDir }, ...(queue ? { queue } : {}),
      });
      finished.mark(batchId, 'export');
      lastExport.value = result;
      return result;
    } catch (err) {
      error.value = remoteErrorMessage(err);
      return null;
    } finally {
      exporting.value = null;
    }
  }

  async function cancelExport(): Promise<void> {
    if (exporting.value) {
      exporting.value.cancelling = true;
      await api.cancel(exporting.value.batchId);
    }
  }

  return { exporting, lastExport, lastExportDir, exportPhotos, cancelExport };
}

/**
 * Show in folder: opens the file manager on the last export, its first picture selected, or its
 * folder when it wrote none. Main shows only what an export wrote or the user chose.
 */
function showLastExport({ api, error }: BatchContext, { lastExport, lastExportDir }: Pick<ReturnType<typeof exportRuns>, 'lastExport' | 'lastExportDir'>) {
  return async function showInFolder(): Promise<void> {
    const target = lastExport.value?.outputs.find(isPicture) ?? lastExportDir.value;
    if (target === null) return;
    try {
      await api.showInFolder(target);
    } catch (err) {
      error.value = remoteErrorMessage(err);
    }
  };
}

/** Events ('convmap:batch'): to the queue run's photos, the export's, or (late) to a finished batch's. */
function batchEvents({ table: { setStatus, statusOf }, finished }: BatchContext, run: Ref<RunState | null>, exporting: Ref<ExportState | null>) {
  /** The last warning of a run (e.g. memory), shown until the next. */
  const warning = ref<string | null>(null);

  function onPhoto(e: PhotoEvent, isQueue: boolean): void {
    if (isQueue) {
      setStatus([[e.photoId, photoStateOf(e)]]);
    } else if (exporting.value) {
      if (e.status === 'done' && e.output) exporting.value.outputs.push(e.output);
      // An export computes with the queue's model and scales: its maxima rank the grid too (the class it drew may not be the top one, so the top class is left as it was).
      if (e.status === 'done' && e.maxima !== undefined) setStatus([[e.photoId, { ...statusOf(e.photoId), status: 'done', maxima: e.maxima }]]);
      if (e.status === 'failed') exporting.value.failed.push({ photoId: e.photoId, reason: e.reason ?? 'failed' });
    }
  }

  function onEvent(e: BatchEvent): void {
    const r = run.value?.batchId === e.batchId ? run.value : exporting.value?.batchId === e.batchId ? exporting.value : null;
    if (!r) {
      const late = lateState(e.type === 'photo' ? statusOf(e.photoId) : undefined, e, finished.kindOf(e.batchId));
      if (late && e.type === 'photo') setStatus([[e.photoId, late]]);
      return;
    }
    switch (e.type) {
      case 'photo':
        onPhoto(e, r === run.value);
        break;
      case 'progress': {
        const { type: _t, batchId: _b, ...p } = e;
        r.progress = p;
        break;
      }
      case 'paused':
        r.paused = true;
        break;
      case 'resumed':
        r.paused = false;
        break;
      case 'warning':
        warning.value = e.message;
        break;
    }
  }

  return { warning, onEvent };
}

export const useBatchStore = defineStore('batch', () => {
  const api = useApi();
  const table = statusTable();
  const ctx: BatchContext = {
    api, photosStore: usePhotosStore(), modelStore: useModelStore(), scores: useScoresStore(), view: useViewStore(),
    table, finished: finishedBatches(), error: ref<string | null>(null),
  };
  const choices = exportChoices(ctx.view);
  const { queueRecipe, exportRecipe } = batchRecipes(ctx, choices);
  const queue = queueRuns(ctx, queueRecipe);
  clearOnNewCompute(ctx, queue);
  const exports = exportRuns(ctx, choices.queueUrl, exportRecipe);
  const { warning, onEvent } = batchEvents(ctx, queue.run, exports.exporting);
  const unsubscribe = api.onBatch(onEvent);

  return {
    ...folderOpening(ctx, queue.enqueue),
    status: table.status, counts: table.counts, statusOf: table.statusOf, error: ctx.error, warning, onEvent, unsubscribe,
    pending: queue.pending, run: queue.run, lastRun: queue.lastRun, enqueue: queue.enqueue, processAll: queue.processAll,
    ...queueControls(ctx, queue), ...queueProgress(queue.run),
    ...choices, exportRecipe, ...exports, showInFolder: showLastExport(ctx, exports),
  };
});
