/**
 * The window's score computations: computeScores runs the pipeline's cache-then-compute stage
 * (scoreMapsFor) on a photo of the library, as a cancellable job with progress events.
 */
import type { ComputeScoresRequest, ProgressEvent, ScoresResult } from '../../../core/api';
import { namedMessage } from '../../../core/errors';
import type { Engine, ModelHandle } from '../../engine/engine';
import { abortError } from '../../io/abort';
import type { PreprocessMode } from '../../../core/model-info';
import type { ScoreCache } from '../storage/cache';
import type { JobRegistry } from './jobs';
import type { PhotoLibrary } from './photo-library';
import { scoreMapsFor } from '../pipeline';

/** A loaded model as the scores service needs it. */
export interface ScoringModel {
  handle: ModelHandle;
  preprocess: PreprocessMode;
  /** The model's cache key. */
  modelKey: string;
}

export interface ScoresServiceDeps {
  library: PhotoLibrary;
  engine(): Promise<Engine>;
  cache: ScoreCache | null;
  jobs: JobRegistry;
  emit(e: ProgressEvent): void;
}

/** computeScores for one loaded model: maps in the order of req.scales. */
export function createScoresService(deps: ScoresServiceDeps): { computeScores(req: ComputeScoresRequest, model: ScoringModel): Promise<ScoresResult> } {
  return {
    async computeScores(req, model) {
      const photo = deps.library.get(req.photoId);
      if (!photo) throw new Error(`computeScores: no photo with id ${req.photoId} was opened`);
      const controller = deps.jobs.start(req.jobId, 'computeScores');
      const start = performance.now();
      try {
        const loaded = await deps.library.loaded(req.photoId);
        const engine = await deps.engine();
        const { maps } = await scoreMapsFor(loaded, () => {
          deps.emit({ jobId: req.jobId, stage: 'decoding', done: 0, total: 1 });
          return deps.library.decode(loaded, controller.signal);
        }, {
          engine, handle: model.handle, preprocess: model.preprocess, scales: req.scales, cache: deps.cache, modelKey: model.modelKey,
          signal: controller.signal,
          onProgress: (done, total, missing) => deps.emit({ jobId: req.jobId, stage: `scales ${missing.join(', ')}`, done, total }),
        });
        return { jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, maps, elapsedMs: performance.now() - start };
      } catch (err) {
        if (controller.signal.aborted) throw abortError(controller.signal);
        throw new Error(namedMessage(photo.ref.name, err), { cause: err });
      } finally {
        deps.jobs.end(req.jobId);
      }
    },
  };
}
