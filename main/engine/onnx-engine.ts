/**
 * The ONNX Runtime engine: each loaded model is exported to ONNX once and held in one
 * InferenceSession on one ONNX Runtime thread (./onnx-worker), shared by all photos in flight, so
 * the weights exist once in memory; ONNX Runtime runs each pass on every core (or a GPU provider).
 * One tile runs at a time while the next is cut; tiles stay stride-aligned and are sized from a
 * memory budget and the model's activations per input pixel.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import type { PreprocessMode } from '../../core/model-info';
import type { ScoreMap } from '../../core/scoremap';
import { DataType, encodeModel } from '../onnx/proto';
import type { DeviceName, DeviceRequest } from '../onnx/runtime';
import type { RgbImage } from './decode';
import { checkGeometry, scoreTiled, type Engine, type LoadOptions, type ModelGeometry, type ModelHandle, type ScoreOptions } from './engine';
import { defaultMemoryBudget } from './onnx-memory';
import type { FromOnnxWorker, OnnxWorkerInit, ToOnnxWorker } from './onnx-protocol';
import { abortError, type TileResult } from './pool';
import { startWorker } from './start-worker';
import { cropRgb } from './preprocess';

/** The ArrayBuffers behind a model's weights (tfjs keeps one buffer or a list of shards' buffers). */
function weightBuffers(artifacts: tf.io.ModelArtifacts): ArrayBuffer[] {
  const data = artifacts.weightData;
  const list = data === undefined ? [] : Array.isArray(data) ? data : [data];
  return [...new Set(list.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer))];
}

export { activationBytesPerPixel, defaultMemoryBudget } from './onnx-memory';

export interface OnnxEngineOptions {
  device?: DeviceRequest;
  /** Threads of ONNX Runtime's intra-op pool (default: every core). */
  threads?: number;
  /** Bytes of activations one tile may take (default {@link defaultMemoryBudget}). */
  memoryBudget?: number;
  /** A fixed input-pixel budget per tile instead of the memory-derived one. */
  maxTilePixels?: number;
  /** Test hook: the GPU providers `auto` tries, instead of the platform's. */
  gpuProviders?: readonly string[];
  /** Why other backends were passed over, kept in {@link Engine.notes}. */
  notes?: readonly string[];
}

/** A one-node model (Relu over [1]) that tells whether a provider loads at all. */
function probeModel(): Uint8Array {
  return encodeModel({
    producerName: 'Convmap', producerVersion: '0', graph: {
      name: 'probe',
      node: [{ name: 'relu', opType: 'Relu', input: ['x'], output: ['y'], attribute: [] }],
      initializer: [],
      input: [{ name: 'x', elemType: DataType.FLOAT, shape: [1] }],
      output: [{ name: 'y', elemType: DataType.FLOAT, shape: [1] }],
    },
  });
}

type Reply = FromOnnxWorker & { jobId: number };

interface Pending {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

/** Runs at most one tile at a time; a tile whose caller gave up no longer holds its turn. */
class RunQueue {
  private tail: Promise<void> = Promise.resolve();

  run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const turn = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        release();
        f();
      };
      // Cancelled: the caller goes on at once; a tile already sent finishes on the thread, unused.
      // Nothing can stop it earlier: onnxruntime-node 1.30 runs it synchronously on that thread and
      // ignores RunOptions.terminate (its binding reads only logSeverityLevel and tag), and stopping the
      // thread mid-run aborts the process (see close).
      const onAbort = (): void => settle(() => reject(abortError(signal)));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      void turn.then(async () => {
        if (settled) return;
        try {
          const value = await fn();
          settle(() => resolve(value));
        } catch (err) {
          settle(() => reject(err instanceof Error ? err : new Error(String(err))));
        }
      });
    });
  }
}

class OnnxEngine implements Engine {
  readonly backend = 'onnx' as const;
  readonly workers: number;
  private readonly models = new Map<string, { handle: ModelHandle; maxTilePixels: number }>();
  private readonly queue = new RunQueue();
  private readonly pending = new Map<number, Pending>();
  private nextJob = 1;
  private closed = false;
  private broken: Error | undefined;

  constructor(
    private readonly worker: Worker,
    readonly device: DeviceName,
    readonly notes: readonly string[],
    private readonly opts: OnnxEngineOptions & { threads: number },
  ) {
    this.workers = opts.threads;
    worker.on('message', (msg: FromOnnxWorker) => {
      if (!('jobId' in msg)) return;
      const p = this.pending.get(msg.jobId);
      this.pending.delete(msg.jobId);
      if (msg.type === 'error') p?.reject(new Error(msg.message));
      else p?.resolve(msg);
    });
    worker.on('error', (err) => {
      this.broken = err;
    });
    worker.on('exit', (code) => {
      const err = this.closed ? new Error('the ONNX Runtime engine was closed') : (this.broken ?? new Error(`the ONNX Runtime thread stopped (exit code ${code})`));
      this.broken = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  private request(msg: ToOnnxWorker & { jobId: number }, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('the ONNX Runtime engine is closed'));
    if (this.broken !== undefined) return Promise.reject(this.broken);
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(msg.jobId, { resolve, reject });
      this.worker.postMessage(msg, transfer);
    });
  }

  async loadModel(artifacts: tf.io.ModelArtifacts, geometry: ModelGeometry, opts: LoadOptions = {}): Promise<ModelHandle> {
    checkGeometry(geometry);
    const id = randomUUID();
    const moved = opts.transfer ? weightBuffers(artifacts) : [];
    const reply = await this.request({ type: 'load', jobId: this.nextJob++, modelId: id, artifacts, window: [...geometry.window] }, moved);
    if (reply.type !== 'loaded') throw new Error(`unexpected reply ${reply.type}`);
    const { inputShape, outputShape } = reply;
    const classes = outputShape[3];
    const refuse = (why: string): never => {
      this.worker.postMessage({ type: 'release', modelId: id } satisfies ToOnnxWorker);
      throw new Error(why);
    };
    if (inputShape.length !== 4) refuse(`the model input has shape [${inputShape.join(', ')}], expected [batch, height, width, channels]`);
    if (inputShape[3] !== geometry.channels) refuse(`the model takes ${String(inputShape[3])} channels, the geometry says ${geometry.channels}`);
    if (outputShape.length !== 4 || typeof classes !== 'number') refuse(`the model output has shape [${outputShape.join(', ')}], expected [batch, rows, cols, classes]`);
    const g: ModelGeometry = {
      window: [...geometry.window], stride: [...geometry.stride], offset: [...geometry.offset],
      channels: geometry.channels, preprocess: geometry.preprocess, ...(geometry.padding ? { padding: geometry.padding } : {}),
    };
    const budget = this.opts.memoryBudget ?? defaultMemoryBudget();
    const maxTilePixels = this.opts.maxTilePixels ?? Math.max(1, Math.floor(budget / Math.max(reply.bytesPerPixel, 1)));
    const handle: ModelHandle = { id, geometry: g, classes: classes as number };
    this.models.set(id, { handle, maxTilePixels });
    return handle;
  }

  releaseModel(handle: ModelHandle): void {
    if (!this.models.delete(handle.id) || this.closed) return;
    this.worker.postMessage({ type: 'release', modelId: handle.id } satisfies ToOnnxWorker);
  }

  async scoreMaps(handle: ModelHandle, image: RgbImage, scales: readonly number[], preprocess?: PreprocessMode, opts: ScoreOptions = {}): Promise<ScoreMap[]> {
    if (this.closed) throw new Error('the ONNX Runtime engine is closed');
    const m = this.models.get(handle.id);
    if (m === undefined) throw new Error('scoreMaps: the model is not loaded in this engine (released, or from another engine)');
    return scoreTiled(handle, image, scales, preprocess, opts, {
      maxTilePixels: m.maxTilePixels,
      // One session uses every core on one tile: photos are split only to bound memory.
      minTiles: 1,
      maxInFlight: 2,
      run: (tile, job, signal): Promise<TileResult> => this.queue.run(signal, async () => {
        if (!this.models.has(handle.id)) throw new Error(this.closed ? 'the ONNX Runtime engine was closed' : 'the model was released');
        const crop = cropRgb(job.scaled, tile);
        const reply = await this.request({
          type: 'run', jobId: this.nextJob++, modelId: handle.id,
          data: crop.image.data, height: crop.image.height, width: crop.image.width, region: crop.region, preprocess: job.mode, channels: job.channels,
        }, [crop.image.data.buffer as ArrayBuffer]);
        if (reply.type !== 'result') throw new Error(`unexpected reply ${reply.type}`);
        return { output: reply.output, shape: reply.shape };
      }),
    });
  }

  liveModels(): number {
    return this.models.size;
  }

  /** Sessions open on the ONNX Runtime thread (a leak check: one per loaded model). */
  async liveSessions(): Promise<number> {
    const reply = await this.request({ type: 'sessions', jobId: this.nextJob++ });
    if (reply.type !== 'sessions') throw new Error(`unexpected reply ${reply.type}`);
    return reply.count;
  }

  async workerTensors(): Promise<number[]> {
    return [];
  }

  crashWorkerForTest(): Promise<void> {
    return Promise.reject(new Error('the ONNX Runtime engine has no worker pool'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Stopping the thread while ONNX Runtime runs a tile aborts the whole process (onnxruntime-node's
    // synchronous run throws a C++ exception once it returns into a terminating thread), and cannot
    // interrupt the tile anyway: the thread answers messages in order, so this reply means it is idle.
    const idle = this.broken === undefined ? this.request({ type: 'sessions', jobId: this.nextJob++ }).catch(() => undefined) : undefined;
    this.closed = true;
    this.models.clear();
    await idle;
    await this.worker.terminate();
  }
}

/** The ONNX Runtime engine's extras beyond {@link Engine}. */
export interface OnnxRuntimeEngine extends Engine {
  readonly backend: 'onnx';
  liveSessions(): Promise<number>;
}

/**
 * Starts the ONNX Runtime engine: its thread loads onnxruntime-node and picks the execution
 * provider with a probe session (device `auto`: the platform's GPU providers, then the CPU).
 * @throws when onnxruntime-node does not load, or the requested device does not
 */
export async function createOnnxEngine(opts: OnnxEngineOptions = {}): Promise<OnnxRuntimeEngine> {
  const threads = opts.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`thread count must be a positive integer, got ${threads}`);
  const init: OnnxWorkerInit = { device: opts.device ?? 'auto', threads, probe: probeModel(), ...(opts.gpuProviders ? { gpuProviders: [...opts.gpuProviders] } : {}) };
  const worker = startWorker(import.meta.url, 'onnx-worker', { workerData: init });
  const ready = await new Promise<{ device: DeviceName; fallbacks: string[] }>((resolve, reject) => {
    let why: string | undefined;
    const onMessage = (msg: FromOnnxWorker): void => {
      if (msg.type === 'ready') {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        resolve(msg);
      } else if (msg.type === 'fatal') {
        why = msg.message;
      }
    };
    const onExit = (code: number): void => reject(new Error(why ?? `the ONNX Runtime thread failed to start (exit code ${code})`));
    worker.on('message', onMessage);
    worker.on('exit', onExit);
    worker.on('error', (err) => {
      why ??= err.message;
    });
  });
  const notes = [...(opts.notes ?? []), ...ready.fallbacks.map((f) => `onnx device ${f}`)];
  return new OnnxEngine(worker, ready.device, notes, { ...opts, threads });
}
