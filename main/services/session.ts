/**
 * A prepared model opened in an engine: what the window, `convmap heatmap` and `convmap demo` score
 * photos with. One assembly, so the three agree on the score-cache key, on handing the weights over
 * and on opening a converted folder's ONNX file as is.
 */
import { loadModelOf, type Engine, type ModelHandle } from '../engine/engine';
import { modelHash } from './storage/cache';
import { readConvertedWeights } from './converted-folder';
import type { PreparedModel } from './prepared-model';

/** The model in the engine and its score-cache key. */
export interface ModelSession {
  handle: ModelHandle;
  /** cache.ts modelHash of the prepared model: the key of its score maps and of batch journals. */
  modelKey: string;
}

/**
 * The score-cache key of a prepared model, computed once and kept on it: it hashes the weights,
 * which {@link openSession} hands to the engine (their buffers are empty afterwards).
 */
export function modelKeyOf(prepared: PreparedModel): string {
  prepared.modelKey ??= modelHash(prepared.artifacts, prepared.info);
  return prepared.modelKey;
}

/**
 * Loads a prepared model into `engine`: its key taken first, its weight buffers then handed over
 * (`prepared.artifacts` is spent), a converted folder's model.onnx opened as is.
 * @param target the model's path, naming it in a failure; undefined: the built-in model
 * @param opts.spinning onnx: false for a batch that keeps several photos in flight (engine LoadOptions)
 * @param opts.onRequested onnx: called once the model's opening is under way in ONNX Runtime's process (engine LoadOptions)
 * @throws `<target>: the model could not be loaded: …`
 */
export async function openSession(engine: Engine, target: string | undefined, prepared: PreparedModel, opts: { spinning?: boolean; onRequested?: () => void } = {}): Promise<ModelSession> {
  const modelKey = modelKeyOf(prepared);
  // ONNX Runtime opens the folder's model.onnx; any other engine gets the weights, read (and checked) now.
  if (prepared.weightsFrom !== undefined && !(engine.backend === 'onnx' && prepared.onnx !== undefined)) {
    prepared.artifacts = await readConvertedWeights(prepared.weightsFrom);
    delete prepared.weightsFrom;
  }
  const handle = await loadModelOf(engine, target ?? 'the built-in model', prepared.artifacts, prepared.info, {
    transfer: true, onnx: prepared.onnx, ...(opts.spinning !== undefined ? { spinning: opts.spinning } : {}), onRequested: opts.onRequested,
  });
  return { handle, modelKey };
}
