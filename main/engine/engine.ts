/**
 * The inference engine: runs a fully convolutional model over a photo at several scales and returns
 * one {@link ScoreMap} per scale. Resizing runs in sharp's thread pool; this thread only cuts tiles
 * out of the resized photo; preprocessing and the forward passes run on a pool of worker threads,
 * tiles of one photo spread across them.
 */
import { randomUUID } from 'node:crypto';
import type { io } from '@tensorflow/tfjs';
import type { PreprocessMode } from '../../core/model-info';
import type { ScoreMap } from '../../core/scoremap';
import { BACKEND_ENV, ENGINE_BACKEND_REQUESTS, isEngineBackendRequest, type BackendName, type EngineBackendRequest } from './backend';
import type { DeviceRequest } from '../ort/runtime';
import { createOnnxEngine } from './onnx-engine';
import type { SpawnOnnxHost } from './onnx-host';
import type { RgbImage } from '../io/decode';
import { WorkerPool } from './pool';
import { cropRgb } from './preprocess';
import { checkGeometry, scoreTiled, type Engine, type LoadOptions, type ModelGeometry, type ModelHandle, type ScoreOptions } from './engine-api';
import { DEFAULT_MAX_TILE_PIXELS } from './tiling';

export { ENGINE_BACKEND_REQUESTS, isEngineBackendRequest, type EngineBackendRequest } from './backend';
export { checkGeometry, loadModelOf, scoreTiled, type Engine, type LoadOptions, type LoadReport, type ModelGeometry, type ModelHandle, type OnnxModelFile, type ScoreOptions, type TileJob, type TileRunner } from './engine-api';

export interface EngineOptions {
  /** Engine to run (default 'auto': onnx, then the tfjs backends; the CONVMAP_BACKEND variable overrides it). */
  backend?: EngineBackendRequest;
  /** ONNX Runtime execution provider (default 'auto': a GPU provider where one loads, else the CPU). */
  device?: DeviceRequest;
  /** tfjs: worker threads; onnx: threads of the session (default os.availableParallelism()). */
  workers?: number;
  /** onnx: bytes of activations one tile may take (default: a quarter of the memory, at most 2 GiB). */
  memoryBudget?: number;
  /** Test hook: GPU providers the onnx engine tries with device 'auto', instead of the platform's. */
  gpuProviders?: readonly string[];
  /** Input-pixel budget of one tile (default {@link DEFAULT_MAX_TILE_PIXELS}); bounds peak memory per worker. */
  maxTilePixels?: number;
  /** onnx: how its process is started (default child_process.fork; Electron's main passes utilityProcess). */
  spawnOnnxHost?: SpawnOnnxHost;
  /** onnx: model cache folder where ONNX Runtime's optimised models are kept by content (main/io/model-cache); none by default. */
  modelCache?: { dir: string; maxBytes?: number };
}

class PoolEngine implements Engine {
  readonly backend: BackendName;
  readonly device = 'cpu';
  readonly notes: readonly string[];
  readonly workers: number;
  private readonly handles = new Set<string>();

  constructor(private readonly pool: WorkerPool, private readonly maxTilePixels: number, notes: readonly string[]) {
    this.backend = pool.backend;
    this.workers = pool.size;
    this.notes = [...notes, ...pool.backendFailures];
  }

  liveModels(): number {
    return this.handles.size;
  }

  async loadModel(artifacts: io.ModelArtifacts, geometry: ModelGeometry, _opts?: LoadOptions): Promise<ModelHandle> {
    checkGeometry(geometry);
    const id = randomUUID();
    this.pool.addModel(id, artifacts);
    try {
      const { inputShape, outputShape } = await this.pool.inspectModel(id);
      if (inputShape.length !== 4) throw new Error(`the model input has shape [${inputShape.join(', ')}], expected [batch, height, width, channels]`);
      if (inputShape[3] !== geometry.channels) throw new Error(`the model takes ${String(inputShape[3])} channels, the geometry says ${geometry.channels}`);
      const classes = outputShape[3];
      if (outputShape.length !== 4 || typeof classes !== 'number') {
        throw new Error(`the model output has shape [${outputShape.join(', ')}], expected [batch, rows, cols, classes]`);
      }
      this.handles.add(id);
      const g: ModelGeometry = {
        window: [...geometry.window], stride: [...geometry.stride], offset: [...geometry.offset],
        channels: geometry.channels, preprocess: geometry.preprocess, ...(geometry.padding ? { padding: geometry.padding } : {}),
      };
      return { id, geometry: g, classes, loaded: { from: 'tfjs', optimizedFromCache: false } };
    } catch (err) {
      this.pool.removeModel(id);
      throw err;
    }
  }

  releaseModel(handle: ModelHandle): void {
    this.handles.delete(handle.id);
    this.pool.removeModel(handle.id);
  }

  async scoreMaps(handle: ModelHandle, image: RgbImage, scales: readonly number[], preprocess?: PreprocessMode, opts: ScoreOptions = {}): Promise<ScoreMap[]> {
    if (!this.handles.has(handle.id)) throw new Error('scoreMaps: the model is not loaded in this engine (released, or from another engine)');
    const minTiles = (handle.geometry.padding ?? 'valid') === 'valid' ? this.workers : 1;
    return scoreTiled(handle, image, scales, preprocess, opts, {
      maxTilePixels: this.maxTilePixels,
      minTiles,
      // At most two tiles per worker are prepared at once, so memory stays bounded on huge photos.
      maxInFlight: 2 * this.workers,
      run: (tile, input, signal) => {
        // Only the tile's pixels travel; the worker preprocesses them off this thread.
        const crop = cropRgb(input.scaled, tile);
        const msg = { kind: 'rgb', data: crop.image.data, height: crop.image.height, width: crop.image.width, region: crop.region, preprocess: input.mode, channels: input.channels } as const;
        return this.pool.run(handle.id, msg, signal);
      },
    });
  }

  workerTensors(): Promise<number[]> {
    return this.pool.memory();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * Start an engine. `auto` (the default) starts ONNX Runtime and, where it does not load, a pool of
 * worker threads with the best tfjs backend that loads (node, wasm, cpu); `notes` says why the
 * faster ones were passed over. `onnx`, `node`, `wasm` and `cpu` start exactly that or fail; so
 * does an explicit `device` (not `auto`): ONNX Runtime on that provider, or an error.
 * @throws when the requested backend cannot be loaded (the message says why), or CONVMAP_BACKEND
 *   names no backend
 */
export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  const maxTilePixels = opts.maxTilePixels ?? DEFAULT_MAX_TILE_PIXELS;
  if (!(Number.isFinite(maxTilePixels) && maxTilePixels > 0)) throw new RangeError(`maxTilePixels must be positive, got ${maxTilePixels}`);
  const fromEnv = process.env[BACKEND_ENV];
  let want: EngineBackendRequest = opts.backend ?? 'auto';
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isEngineBackendRequest(fromEnv)) throw new Error(`${BACKEND_ENV}=${fromEnv} is not a backend; use one of ${ENGINE_BACKEND_REQUESTS.join(', ')}`);
    want = fromEnv;
  }
  const notes: string[] = [];
  if (want === 'onnx' || want === 'auto') {
    try {
      return await createOnnxEngine({
        device: opts.device, threads: opts.workers, memoryBudget: opts.memoryBudget, gpuProviders: opts.gpuProviders, spawnHost: opts.spawnOnnxHost, modelCache: opts.modelCache,
        ...(opts.maxTilePixels !== undefined ? { maxTilePixels: opts.maxTilePixels } : {}),
      });
    } catch (err) {
      if (want === 'onnx') throw err;
      // An explicit --device names an ONNX Runtime provider: a tfjs backend is not what was asked for.
      if (opts.device !== undefined && opts.device !== 'auto') {
        throw new Error(`${err instanceof Error ? err.message : String(err)} (--device auto falls back to ONNX Runtime's CPU)`);
      }
      notes.push(`onnx: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const pool = await WorkerPool.create({ size: opts.workers, backend: want === 'auto' ? 'auto' : want });
  return new PoolEngine(pool, maxTilePixels, notes);
}
