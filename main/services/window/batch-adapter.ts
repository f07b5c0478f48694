/**
 * The window's batches: a RunBatchRequest of photo ids becomes a runBatch over their files (the same
 * queue the CLI runs), with the batch's events turned into the API's (photo ids instead of indexes),
 * pictures rendered in worker threads, and exports only into folders the user chose.
 */
import path from 'node:path';
import type { BatchEvent as ApiBatchEvent, BatchPhotoStatus, BatchResult, LoadModelRequest, RunBatchRequest } from '../../../core/api';
import { errorMessage } from '../../../core/errors';
import type { ConvertedModelInfo } from '../../../core/model-info';
import type { BoundRecipe } from '../../../core/pipeline';
import type { Recipe } from '../../../core/recipe';
import type { Engine, ModelHandle } from '../../engine/engine';
import { BatchController, journalRecipe, runBatch, type BatchSummary, type RunEvent, type RunOptions } from '../batch';
import { distinctSubfolders } from '../export';
import type { ScoreCache } from '../storage/cache';
import type { JobRegistry } from './jobs';
import type { PhotoLibrary } from './photo-library';
import type { PictureRenderer } from '../threads/picture-thread';

export interface BatchModel {
  handle: ModelHandle;
  info: ConvertedModelInfo;
  modelKey: string;
  /** The model's file or folder (null: the built-in model) and how it was converted: what queue workers open. */
  path?: string | null;
  /** How it was opened: its stride joins the batch's recipe; output, labels and window are what a queue worker needs. */
  opened?: Pick<LoadModelRequest, 'stride' | 'output' | 'labelsFile' | 'window'>;
}

/** An export run on a queue's workers instead of here (main/queue's runQueueExport; services sit below the queue). */
export interface QueueExportRequest {
  /** redis:// or rediss:// URL (may hold a password: never put it in a message). */
  url: string;
  /** Absolute paths, in the batch's order, and each one's sub-folder under outDir. */
  photos: string[];
  subfolders: string[];
  outDir: string;
  /** Where every worker opens the model again (its hash, preprocessing and stride are the recipe's). */
  model: { path: string | null; output?: string; labels?: string };
  labels: readonly string[];
  /** The batch's recipe bound to the model (./batch journalRecipe): `model` is its modelHash, which a worker checks. */
  recipe: BoundRecipe;
  run: Required<Pick<RunOptions, 'overwrite' | 'resume'>>;
  probeTimeoutMs: number;
  /** Aborted: the jobs no worker started are removed (skipped, 'cancelled'), following stops. */
  signal: AbortSignal;
  onEvent(e: RunEvent): void;
  onNote(line: string): void;
}

/** Runs a QueueExportRequest to its end (or its cancellation) and returns the batch's summary. */
export type QueueExportRunner = (req: QueueExportRequest) => Promise<BatchSummary>;

/** How long a queue batch waits for a worker to answer its path probe, ms (as `convmap heatmap --queue`). */
const PROBE_TIMEOUT_MS = 20_000;

/** `message` with the queue URL's password (as given and URL-encoded) replaced by "***". */
function withoutPassword(message: string, url: string): string {
  let pw = '';
  try {
    pw = new URL(url).password;
  } catch {
    return message;
  }
  if (!pw) return message;
  let decoded = pw;
  try {
    decoded = decodeURIComponent(pw);
  } catch {
    // Not valid percent-encoding: ioredis gets it as written.
  }
  const secrets = [...new Set([pw, decoded])].filter((x) => x.length > 0);
  return secrets.reduce((m, x) => m.split(x).join('***'), message);
}

export interface BatchAdapterDeps {
  library: PhotoLibrary;
  engine(): Promise<Engine>;
  cache: ScoreCache | null;
  /** Warnings of the cache so far (those added during a batch are sent as its warnings). */
  cacheWarnings: readonly string[];
  jobs: JobRegistry;
  /** Folders chosen in the export dialog. */
  isExportDir(dir: string): boolean;
  /** The picture renderer in worker threads; undefined renders on the calling thread. */
  renderer(): PictureRenderer | undefined;
  maxPixels: number;
  emit(e: ApiBatchEvent): void;
  /**
   * The folders between an opened folder and the photo ('' for a photo opened by itself), so that
   * an export mirrors them as `heatmap --recursive` does.
   */
  subfolderOf(photoId: string): string;
  /** How long a queue batch waits for a worker to answer its path probe, ms (default 20 000). */
  queueProbeTimeoutMs?: number;
  /** Runs exports that name a queue; absent: they are refused. */
  queueExport?: QueueExportRunner;
}

export interface BatchAdapter {
  run(req: RunBatchRequest, model: BatchModel): Promise<BatchResult>;
  pause(batchId: string): void;
  resume(batchId: string): void;
}

export function createBatchAdapter(deps: BatchAdapterDeps): BatchAdapter {
  const controllers = new Map<string, BatchController>();
  return {
    async run(req, model) {
      const list = req.photoIds.map((id) => {
        const photo = deps.library.get(id);
        if (!photo) throw new Error(`runBatch: no photo with id ${id} was opened`);
        return photo;
      });
      const ex = req.export;
      // The model's stride is the one it was opened with (a recipe's stride is applied when a model is opened).
      const recipe: Recipe = { ...req.recipe, stride: model.opened?.stride ?? null };
      if (ex && !deps.isExportDir(ex.outDir)) throw new Error(`runBatch: ${ex.outDir} was not chosen as an export folder`);
      const controller = deps.jobs.start(req.batchId, 'runBatch');
      const pause = new BatchController();
      controllers.set(req.batchId, pause);
      const { batchId } = req;
      const outputs: string[] = [];
      const statuses = req.photoIds.map((): BatchPhotoStatus => 'queued');
      const warned = deps.cacheWarnings.length;
      const onEvent = (e: RunEvent): void => {
        if (e.type === 'photo') {
          statuses[e.index] = e.status;
          const out: ApiBatchEvent = { type: 'photo', batchId, photoId: req.photoIds[e.index], status: e.status };
          if (e.reason !== undefined) out.reason = e.reason;
          if (e.outcome) {
            out.cached = e.outcome.cachedScales === e.outcome.cells.length;
            out.classLabel = e.outcome.classLabel;
            if (e.outcome.maxima) out.maxima = e.outcome.maxima;
            if (e.outcome.png) {
              out.output = e.outcome.png;
              outputs.push(e.outcome.png);
              for (const f of [e.outcome.json, e.outcome.npy]) if (f) outputs.push(f);
            }
          }
          deps.emit(out);
        } else if (e.type === 'progress') {
          const { type: _t, ...rest } = e;
          deps.emit({ type: 'progress', batchId, ...rest });
        } else if (e.type === 'warning') {
          deps.emit({ type: 'warning', batchId, message: e.message });
        } else {
          deps.emit({ type: e.type, batchId });
        }
      };
      const subfolders = distinctSubfolders(list.map((p) => p.file), req.photoIds.map((id) => deps.subfolderOf(id)));
      const queued = async (url: string): Promise<BatchSummary> => {
        if (!ex) throw new Error('runBatch: a queue batch needs an export folder (the workers write the files)');
        if (model.opened?.window !== undefined) throw new Error('runBatch: a model opened at a chosen window size cannot go to a queue: convert it at that size first (convmap convert MODEL --window N -o DIR) and open DIR');
        if (!deps.queueExport) throw new Error('runBatch: this app was started without queue support');
        const { opened } = model;
        const summary = await deps.queueExport({
          url, photos: list.map((p) => p.file), subfolders, outDir: path.resolve(ex.outDir),
          model: {
            path: model.path ?? null,
            ...(opened?.output !== undefined ? { output: opened.output } : {}),
            ...(opened?.labelsFile !== undefined ? { labels: opened.labelsFile } : {}),
          },
          labels: model.info.labels,
          recipe: journalRecipe({ modelKey: model.modelKey, info: model.info, options: { recipe } }),
          run: { overwrite: false, resume: false },
          probeTimeoutMs: deps.queueProbeTimeoutMs ?? PROBE_TIMEOUT_MS, signal: controller.signal, onEvent,
          onNote: (line) => deps.emit({ type: 'warning', batchId, message: withoutPassword(line, url) }),
        });
        // Photos still on the workers when following stopped: this batch no longer reports them.
        statuses.forEach((s, i) => {
          if (s === 'queued' || s === 'running') statuses[i] = 'skipped';
        });
        return summary;
      };
      try {
        if (req.queue !== undefined) {
          const url = req.queue;
          const summary = await queued(url).catch((err: unknown) => {
            throw new Error(withoutPassword(errorMessage(err), url));
          });
          return resultOf(summary);
        }
        const engine = await deps.engine();
        const renderer = ex ? deps.renderer() : undefined;
        const summary = await runBatch({
          engine, handle: model.handle, info: model.info, photos: list.map((p) => p.file),
          subfolders,
          outDir: ex?.outDir, signal: controller.signal, cache: deps.cache, modelKey: model.modelKey, controller: pause, onEvent,
          render: renderer ? (input, labels, style) => renderer.render(input, labels, style) : undefined,
          options: {
            recipe, maxPixels: deps.maxPixels,
            // An export the user asks for in the window is written (under a new name when taken), not resumed.
            resume: false,
          },
        });
        for (const w of deps.cacheWarnings.slice(warned)) deps.emit({ type: 'warning', batchId, message: w });
        return resultOf(summary);
      } finally {
        deps.jobs.end(req.batchId);
        controllers.delete(req.batchId);
      }
      function resultOf(summary: BatchSummary): BatchResult {
        const index = new Map(list.map((p, i) => [p.file, req.photoIds[i]]));
        const result: BatchResult = {
          batchId, total: summary.total, done: summary.done,
          failed: summary.failed.map((f) => ({ photoId: index.get(path.resolve(f.photo)) ?? f.photo, reason: f.reason })),
          statuses, skipped: summary.skipped.length, cancelled: summary.cancelled, cacheHits: summary.cacheHits, elapsedMs: summary.elapsedMs, outputs,
        };
        if (summary.csv) {
          result.csv = summary.csv;
          outputs.push(summary.csv.summary, summary.csv.detections);
        }
        return result;
      }
    },
    pause(batchId) {
      controllers.get(batchId)?.pause();
    },
    resume(batchId) {
      controllers.get(batchId)?.resume();
    },
  };
}
