/**
 * The window's batches: a RunBatchRequest of photo ids becomes a runBatch over their files (the same
 * queue the CLI runs), with the batch's events turned into the API's (photo ids instead of indexes),
 * pictures rendered in worker threads, and exports only into folders the user chose.
 */
import path from 'node:path';
import type { BatchEvent as ApiBatchEvent, BatchPhotoStatus, BatchResult, RunBatchRequest } from '../../core/api';
import { scalePlan } from '../../core/defaults';
import type { ConvertedModelInfo } from '../../core/model-info';
import type { Engine, ModelHandle } from '../engine/engine';
import { BatchController, runBatch, type BatchEvent } from './batch';
import { distinctSubfolders } from './export';
import type { ScoreCache } from './cache';
import type { JobRegistry } from './jobs';
import type { PhotoLibrary } from './photo-library';
import type { PictureRenderer } from './picture-thread';

export interface BatchModel {
  handle: ModelHandle;
  info: ConvertedModelInfo;
  modelKey: string;
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
      if (ex && !deps.isExportDir(ex.outDir)) throw new Error(`runBatch: ${ex.outDir} was not chosen as an export folder`);
      const controller = deps.jobs.start(req.batchId, 'runBatch');
      const pause = new BatchController();
      controllers.set(req.batchId, pause);
      const { batchId } = req;
      const outputs: string[] = [];
      const statuses = req.photoIds.map((): BatchPhotoStatus => 'queued');
      const warned = deps.cacheWarnings.length;
      const onEvent = (e: BatchEvent): void => {
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
      try {
        const engine = await deps.engine();
        const renderer = ex ? deps.renderer() : undefined;
        const summary = await runBatch({
          engine, handle: model.handle, info: model.info, photos: list.map((p) => p.file),
          subfolders: distinctSubfolders(list.map((p) => p.file), req.photoIds.map((id) => deps.subfolderOf(id))),
          scales: req.scales === 'auto' ? (size) => scalePlan(model.info.window, size) : req.scales,
          outDir: ex?.outDir, signal: controller.signal, cache: deps.cache, modelKey: model.modelKey, controller: pause, onEvent,
          render: renderer ? (input, labels, style) => renderer.render(input, labels, style) : undefined,
          options: {
            mode: req.mode, maxPixels: deps.maxPixels,
            view: ex?.view, colormap: ex?.colormap ?? 'turbo', opacity: ex?.opacity ?? 0.5, threshold: ex?.threshold ?? 0,
            boxes: ex?.boxes ?? false, legend: ex?.legend ?? false, detectThreshold: ex?.detectThreshold ?? 0.5,
            classChoice: ex?.classChoice ?? 'top', namePattern: ex?.namePattern, scores: ex?.scoresJson === false ? 'none' : 'summary', csv: ex?.csv ?? false,
            // An export the user asks for in the window is written (under a new name when taken), not resumed.
            resume: false,
          },
        });
        for (const w of deps.cacheWarnings.slice(warned)) deps.emit({ type: 'warning', batchId, message: w });
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
      } finally {
        deps.jobs.end(req.batchId);
        controllers.delete(req.batchId);
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
