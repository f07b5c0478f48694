/**
 * Messages between the inference pool (main thread) and its workers. Arrays of scores and pixels
 * are transferred, not copied.
 */
import type { io } from '@tensorflow/tfjs';
import type { PreprocessMode } from '../../core/model-info';
import type { BackendName, BackendRequest } from './backend';
import type { PixelRegion } from './preprocess';

/**
 * One tile's input, either ready for the model or as photo pixels the worker preprocesses (so the
 * per-pixel work stays off the caller's thread and 3 bytes a pixel travel instead of 12).
 */
export type TileInput =
  /** Model input [height, width, channels] float32, row-major. */
  | { kind: 'float'; data: Float32Array; shape: [number, number, number] }
  /**
   * RGB pixels [image.height, image.width, 3] uint8 and the region of them to feed the model (it may
   * reach outside; see preprocessRegion), with the preprocessing and channel count to apply.
   */
  | { kind: 'rgb'; data: Uint8Array; height: number; width: number; region: PixelRegion; preprocess: PreprocessMode; channels: 1 | 3 };

/** Data the pool hands each worker at start. */
export interface WorkerInit {
  backend: BackendRequest;
}

/** Main → worker. Every message with a jobId gets exactly one reply carrying that id. */
export type ToWorker =
  /** Load a model (once per worker); replies `loaded` (or `error`) when jobId is given. */
  | { type: 'load'; modelId: string; artifacts: io.ModelArtifacts; jobId?: number }
  | { type: 'unload'; modelId: string }
  /** Run one tile; replies `result`. */
  | { type: 'run'; jobId: number; modelId: string; input: TileInput }
  /** Live tensors in the worker's tfjs engine; replies `memory`. */
  | { type: 'memory'; jobId: number }
  /** Test only: the worker exits at once with code {@link CRASH_EXIT_CODE}. */
  | { type: 'crash'; jobId: number };

/** Exit code of a worker told to crash. */
export const CRASH_EXIT_CODE = 70;

/** Worker → main. */
export type FromWorker =
  /** `failures`: why backends tried before it did not load (auto only). */
  | { type: 'ready'; backend: BackendName; failures: string[] }
  /** The worker could not start (e.g. the requested backend does not load); it exits after this. */
  | { type: 'fatal'; message: string }
  /** Model shapes with null for free dimensions, e.g. input [null, null, null, 3]. */
  | { type: 'loaded'; jobId: number; inputShape: (number | null)[]; outputShape: (number | null)[] }
  /** Scores [rows, cols, classes] row-major (the batch dimension of 1 dropped). */
  | { type: 'result'; jobId: number; output: Float32Array; shape: [number, number, number] }
  | { type: 'memory'; jobId: number; numTensors: number; numBytes: number }
  | { type: 'error'; jobId: number; message: string };
