/**
 * What an engine is (its model handles, load and score options) and the tiled scoring both engines
 * share: the tfjs worker pool (./engine) and ONNX Runtime (./onnx-engine) each run tiles their way and
 * hand them to {@link scoreTiled}.
 */
import type { io } from '@tensorflow/tfjs';
import type { PaddingKind, PreprocessMode } from '../../core/model-info';
import { isPreprocessMode } from '../../core/model-info';
import { photoPreprocess } from '../../core/preprocess';
import type { CellGeometry, ScoreMap } from '../../core/scoremap';
import type { EngineBackend } from './backend';
import { resizeRgb, type RgbImage } from '../io/decode';
import type { TileResult } from './pool';
import { abortError } from '../io/abort';
import { pasteTile, planTiles, type Tile, type TilePlan } from './tiling';

/** What the engine needs to know about a converted model (a ConvertedModelInfo satisfies it). */
export interface ModelGeometry extends CellGeometry {
  /** Input channels the model takes: 1 (grey) or 3 (RGB). */
  channels: number;
  /** Default preprocessing of photo pixels for this model. */
  preprocess: PreprocessMode;
  /**
   * Padding kind of the trunk. Tile borders change the scores of 'same'/'mixed' models (each tile
   * sees zeros at its border), so their photos are split only when over the pixel budget, never
   * just to share work between workers.
   */
  padding?: PaddingKind;
}

/** A model loaded into the engine. */
export interface ModelHandle {
  readonly id: string;
  readonly geometry: Readonly<ModelGeometry>;
  /** Number of classes (last axis of the model output). */
  readonly classes: number;
  /** How it was loaded. */
  readonly loaded?: LoadReport;
}

/**
 * {@link Engine.loadModel} with a failure named after the model's file (the engine's own message
 * says what, not which model): `file: the model could not be loaded: …`.
 */
export async function loadModelOf(engine: Engine, file: string, artifacts: io.ModelArtifacts, geometry: ModelGeometry, opts?: LoadOptions): Promise<ModelHandle> {
  try {
    return await engine.loadModel(artifacts, geometry, opts);
  } catch (err) {
    throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** How {@link Engine.loadModel} may treat the artifacts it is given. */
export interface LoadOptions {
  /**
   * Hand the weight buffers to the engine instead of keeping them: the caller's
   * `artifacts.weightData` is detached (zero bytes) afterwards. A VGG16-sized model is half a
   * gigabyte per copy; the onnx engine frees them once they are in the model's file, the tfjs pool
   * ignores this.
   */
  transfer?: boolean;
  /**
   * onnx: the model's ONNX export (a converted folder's model.onnx) with its activations' bytes per
   * input pixel, opened as is instead of exporting the artifacts again; the tfjs pool ignores it.
   */
  onnx?: OnnxModelFile;
  /**
   * onnx: false lets ONNX Runtime's idle threads sleep instead of spinning between passes: for a
   * batch that keeps several photos in flight (CPU spent spinning is taken from decoding and
   * encoding); a lone pass is 4–6 % faster with spinning (the default).
   */
  spinning?: boolean;
  /**
   * onnx: called once the request that opens the model has gone to ONNX Runtime's process, whose
   * reply takes a while: the caller's own work on this thread can start then without delaying the
   * request (the CLI loads its fonts there). The tfjs pool never calls it.
   */
  onRequested?: () => void;
}

/** A model's ONNX file as Convmap exports it (input [batch, height, width, channels], output [batch, rows, cols, classes]). */
export interface OnnxModelFile {
  file: string;
  /** Bytes of activations per input pixel at the peak of a pass (sizes the tiles). */
  bytesPerPixel: number;
}

/** How a model came into the engine, for reports and tests. */
export interface LoadReport {
  /** 'onnx-file': opened from its ONNX file; 'export': exported from its tfjs artifacts; 'tfjs': run by tfjs. */
  from: 'onnx-file' | 'export' | 'tfjs';
  /** ONNX Runtime's optimised form came from the model cache. */
  optimizedFromCache: boolean;
}

export interface ScoreOptions {
  /** Cancels the call: queued tiles are dropped and the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Called after each finished tile, with tiles done and tiles in total over all scales. */
  onProgress?(done: number, total: number): void;
}

export interface Engine {
  /** What runs the model: 'onnx' (ONNX Runtime) or the workers' tfjs backend ('node', 'wasm', 'cpu'). */
  readonly backend: EngineBackend;
  /** Where: ONNX Runtime's execution provider ('cpu', 'cuda', 'dml', 'coreml', 'webgpu'); 'cpu' for tfjs. */
  readonly device: string;
  /** Why faster backends or devices were passed over, one line each ('onnx: …', 'node: …'). */
  readonly notes: readonly string[];
  /**
   * onnx: models the device (a GPU provider that loaded) failed on, opening them or on a pass, and
   * that run on the CPU since: one line each, with the provider's reason. Absent for tfjs.
   */
  readonly deviceFallbacks?: readonly string[];
  /** Number of worker threads (tfjs) or of ONNX Runtime's threads (onnx). */
  readonly workers: number;
  /** Models loaded and not released (for onnx: live InferenceSessions). */
  liveModels(): number;
  /**
   * Register a fully convolutional model: input [batch, height, width, channels] with free height
   * and width, output [batch, rows, cols, classes] with cells laid out by `geometry`.
   * @throws when tfjs cannot build the model, the geometry is invalid, or the model's input channels
   *   or output rank disagree with it.
   */
  loadModel(artifacts: io.ModelArtifacts, geometry: ModelGeometry, opts?: LoadOptions): Promise<ModelHandle>;
  /** Free a model in the workers; its handle must not be used afterwards. */
  releaseModel(handle: ModelHandle): void;
  /**
   * onnx: whether ONNX Runtime's idle threads spin between passes (LoadOptions.spinning) from now on,
   * for a model already loaded: its session is reopened from its optimised file (a file open) and
   * the old one released, after the passes already asked for. Absent for tfjs (nothing spins).
   */
  setSpinning?(handle: ModelHandle, spinning: boolean): Promise<void>;
  /**
   * Score maps of one photo, one per scale in the order given. Scale s resizes the photo to
   * round(s·H) × round(s·W); a scale at which the photo is smaller than the window gives a map with
   * 0 rows or columns.
   * @param image the upright photo, [height, width, 3] uint8 RGB (see decodePhoto).
   * @param scales positive factors, original → scaled pixels.
   * @param preprocess pixel preprocessing (default: the model's; `ink` is settled on `image`, core/preprocess photoPreprocess).
   * @throws AbortError when cancelled; an error naming the problem when a tile fails.
   */
  scoreMaps(handle: ModelHandle, image: RgbImage, scales: readonly number[], preprocess?: PreprocessMode, opts?: ScoreOptions): Promise<ScoreMap[]>;
  /** Live tfjs tensors in each worker (model weights included): a leak check; [] for onnx. */
  workerTensors(): Promise<number[]>;
  /** Terminate the workers; pending calls reject. */
  close(): Promise<void>;
}

function positiveIntPair(name: string, v: unknown, allowZero: boolean): void {
  const ok = Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && (allowZero ? true : x > 0));
  if (!ok) throw new Error(`model geometry: ${name} must be a pair of ${allowZero ? 'integers' : 'positive integers'} [y, x], got ${JSON.stringify(v)}`);
}

/** @throws when the geometry is not usable (window, stride, offset, channels, preprocess). */
export function checkGeometry(g: ModelGeometry): void {
  positiveIntPair('window', g.window, false);
  positiveIntPair('stride', g.stride, false);
  positiveIntPair('offset', g.offset, true);
  if (g.channels !== 1 && g.channels !== 3) throw new Error(`model geometry: channels must be 1 or 3, got ${String(g.channels)}`);
  if (!isPreprocessMode(g.preprocess)) throw new Error(`model geometry: unknown preprocess mode ${String(g.preprocess)}`);
}

// A function, so TypeScript does not keep the narrowing of the early check: the signal may abort meanwhile.
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** What {@link scoreTiled} hands an engine for one tile. */
export interface TileJob {
  /** The photo resized to this scale. */
  scaled: RgbImage;
  mode: PreprocessMode;
  channels: 1 | 3;
}

/** How an engine runs tiles: its tile budget and the forward pass of one tile. */
export interface TileRunner {
  maxTilePixels: number;
  minTiles: number;
  /** Tiles prepared or running at once. */
  maxInFlight: number;
  /** Scores [rows, cols, classes] of the tile's cells; rejects with an AbortError when `signal` aborts. */
  run(tile: Tile, job: TileJob, signal: AbortSignal): Promise<TileResult>;
}

/**
 * Score maps of one photo through an engine's tile runner: validates the call, plans stride-aligned
 * tiles per scale, resizes once per scale, runs tiles (at most `maxInFlight` at once), checks each
 * tile's grid against the geometry and pastes it. One failing tile cancels the rest of the call.
 */
export async function scoreTiled(
  handle: ModelHandle, image: RgbImage, scales: readonly number[], preprocess: PreprocessMode | undefined, opts: ScoreOptions, runner: TileRunner,
): Promise<ScoreMap[]> {
  const asked = preprocess ?? handle.geometry.preprocess;
  if (!isPreprocessMode(asked)) throw new Error(`scoreMaps: unknown preprocess mode ${String(asked)}`);
  for (const s of scales) {
    if (!(typeof s === 'number' && Number.isFinite(s) && s > 0)) throw new Error(`scoreMaps: scales must be positive numbers, got ${String(s)}`);
  }
  if (image.data.length !== image.width * image.height * 3) {
    throw new Error(`scoreMaps: image data has ${image.data.length} bytes, ${image.height}×${image.width} RGB needs ${image.width * image.height * 3}`);
  }
  const mode = photoPreprocess(asked, image);
  const { signal, onProgress } = opts;
  if (signal?.aborted === true) throw abortError(signal);
  const g = handle.geometry;
  const channels = g.channels as 1 | 3;
  const geometry: CellGeometry = { window: [...g.window], stride: [...g.stride], offset: [...g.offset] };

  const plans = scales.map((scale) => {
    const scaledSize: [number, number] = [Math.round(scale * image.height), Math.round(scale * image.width)];
    const plan: TilePlan = planTiles(scaledSize[0], scaledSize[1], geometry, { maxTilePixels: runner.maxTilePixels, minTiles: runner.minTiles });
    return { scale, scaledSize, plan };
  });
  const maps: ScoreMap[] = plans.map(({ scale, scaledSize, plan }) => ({
    scale, imageSize: [image.height, image.width], scaledSize,
    rows: plan.rows, cols: plan.cols, classes: handle.classes,
    scores: new Float32Array(plan.rows * plan.cols * handle.classes),
    geometry: { window: [...geometry.window], stride: [...geometry.stride], offset: [...geometry.offset] },
  }));
  const total = plans.reduce((n, p) => n + p.plan.tiles.length, 0);
  if (total === 0) return maps;

  const stop = new AbortController();
  const tileSignal = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]);
  let failure: unknown;
  const fail = (err: unknown): void => {
    if (failure === undefined) failure = err;
    stop.abort(err);
  };
  let done = 0;
  const inFlight = new Set<Promise<void>>();

  outer: for (let k = 0; k < plans.length; k++) {
    const { scaledSize, plan } = plans[k];
    const map = maps[k];
    if (plan.tiles.length === 0) continue;
    let scaled: RgbImage;
    try {
      scaled = await resizeRgb(image, scaledSize[0], scaledSize[1]);
    } catch (err) {
      fail(err);
      break;
    }
    for (const tile of plan.tiles) {
      while (inFlight.size >= runner.maxInFlight && !tileSignal.aborted) await Promise.race(inFlight);
      if (tileSignal.aborted) break outer;
      const p: Promise<void> = runner.run(tile, { scaled, mode, channels }, tileSignal).then((res) => {
        const [rows, cols, classes] = res.shape;
        const wantRows = tile.r1 - tile.r0;
        const wantCols = tile.c1 - tile.c0;
        if (rows !== wantRows || cols !== wantCols || classes !== handle.classes) {
          throw new Error(`the model gave ${rows}×${cols}×${classes} scores for a ${tile.y1 - tile.y0}×${tile.x1 - tile.x0} input where window ${g.window.join('×')}, `
            + `stride ${g.stride.join('×')} and offset ${g.offset.join(',')} predict ${wantRows}×${wantCols}×${handle.classes}: the geometry does not match the model`);
        }
        pasteTile(map.scores, map.cols, classes, tile, res.output);
        done++;
        onProgress?.(done, total);
      }).catch(fail).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }
  await Promise.all(inFlight);
  if (isAborted(signal)) throw abortError(signal);
  if (failure !== undefined) throw failure;
  return maps;
}
