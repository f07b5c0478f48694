/**
 * A pool of inference worker threads (./worker). Tiles queue here and go to whichever worker is
 * idle; each worker is sent a model the first time it runs a tile of it. A worker that dies is
 * replaced and the job it was running rejects with the reason.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { io } from '@tensorflow/tfjs';
import type { BackendName, BackendRequest } from './backend';
import { CRASH_EXIT_CODE, type FromWorker, type TileInput, type ToWorker, type WorkerInit } from './protocol';
import { errorMessage } from '../../core/errors';
import { startWorker } from '../io/start-worker';
import { abortError } from '../io/abort';

export type { TileInput } from './protocol';

export interface PoolOptions {
  /** Number of worker threads (default os.availableParallelism()). */
  size?: number;
  /** Backend each worker selects (default 'auto'; CONVMAP_BACKEND overrides it in the workers). */
  backend?: BackendRequest;
}

/** Scores of one tile: [rows, cols, classes] row-major. */
export interface TileResult {
  output: Float32Array;
  shape: [number, number, number];
}

/** Shapes of a loaded model, null for free dimensions ([batch, height, width, channels] input). */
export interface ModelShapes {
  inputShape: (number | null)[];
  outputShape: (number | null)[];
}

type Reply = FromWorker & { jobId: number };

interface Job {
  id: number;
  /** Model the worker must hold before the message is sent. */
  modelId?: string;
  msg: ToWorker;
  transfer: ArrayBuffer[];
  resolve(reply: Reply): void;
  reject(err: Error): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  index: number;
  worker: Worker;
  ready: boolean;
  models: Set<string>;
  /** The queued job this worker runs (one at a time, so queued work balances across workers). */
  current?: Job;
  /** Out-of-band requests (memory) waiting for a reply. */
  direct: Map<number, Job>;
  lastError?: Error;
}

function startPoolWorker(init: WorkerInit): Worker {
  return startWorker(import.meta.url, 'worker', { workerData: init });
}

export class WorkerPool {
  /** Number of worker threads. */
  readonly size: number;
  private backendName: BackendName = 'cpu';
  private failures: string[] = [];
  private readonly requested: BackendRequest;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly artifacts = new Map<string, io.ModelArtifacts>();
  private nextJob = 1;
  private closed = false;
  private broken: Error | undefined;

  private constructor(opts: PoolOptions) {
    const size = opts.size ?? os.availableParallelism();
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`worker count must be a positive integer, got ${size}`);
    this.size = size;
    this.requested = opts.backend ?? 'auto';
  }

  /**
   * Start the workers and wait until each has selected its backend.
   * @throws when the backend cannot be loaded (the workers' message) or a worker fails to start.
   */
  static async create(opts: PoolOptions = {}): Promise<WorkerPool> {
    const pool = new WorkerPool(opts);
    try {
      const started = await Promise.all(Array.from({ length: pool.size }, (_, i) => pool.spawn(i)));
      pool.backendName = started[0]?.backend ?? 'cpu';
      pool.failures = started[0]?.failures ?? [];
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Backend the workers run. */
  get backend(): BackendName {
    return this.backendName;
  }

  /** Why the backends tried before it did not load in the workers ('node: …'). */
  get backendFailures(): readonly string[] {
    return this.failures;
  }

  private spawn(index: number): Promise<{ backend: BackendName; failures: string[] }> {
    const init: WorkerInit = { backend: this.requested };
    const worker = startPoolWorker(init);
    const slot: Slot = { index, worker, ready: false, models: new Set(), direct: new Map() };
    this.slots[index] = slot;
    return new Promise<{ backend: BackendName; failures: string[] }>((resolve, reject) => {
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          slot.ready = true;
          resolve({ backend: msg.backend, failures: msg.failures });
          this.pump();
        } else if (msg.type === 'fatal') {
          slot.lastError = new Error(msg.message);
          void worker.terminate();
        } else {
          this.onReply(slot, msg);
        }
      });
      worker.on('error', (err) => {
        slot.lastError = err;
      });
      worker.on('exit', (code) => {
        const why = slot.lastError !== undefined ? slot.lastError.message
          : code === CRASH_EXIT_CODE ? `worker was told to crash (exit code ${code})` : `exit code ${code}`;
        if (!slot.ready) reject(new Error(`inference worker failed to start: ${why}`));
        this.onExit(slot, new Error(`inference worker ${index} stopped: ${why}`));
      });
    });
  }

  private onExit(slot: Slot, err: Error): void {
    if (this.slots[slot.index] !== slot) return;
    const jobs = [...slot.direct.values()];
    if (slot.current !== undefined) jobs.push(slot.current);
    slot.current = undefined;
    slot.direct.clear();
    for (const job of jobs) this.settle(job, () => job.reject(err));
    if (this.closed) return;
    if (!slot.ready) {
      // Never started: respawning would fail the same way.
      this.broken = err;
      for (const job of this.queue.splice(0)) this.settle(job, () => job.reject(err));
      return;
    }
    this.spawn(slot.index).catch((startErr: unknown) => {
      this.broken = startErr instanceof Error ? startErr : new Error(errorMessage(startErr));
    });
  }

  private onReply(slot: Slot, msg: FromWorker): void {
    if (!('jobId' in msg)) return;
    let job: Job | undefined;
    if (slot.current?.id === msg.jobId) {
      job = slot.current;
      slot.current = undefined;
    } else {
      job = slot.direct.get(msg.jobId);
      slot.direct.delete(msg.jobId);
    }
    if (job !== undefined) {
      const done = job;
      this.settle(done, () => (msg.type === 'error' ? done.reject(new Error(msg.message)) : done.resolve(msg)));
    }
    this.pump();
  }

  private settle(job: Job, fn: () => void): void {
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort);
    fn();
  }

  /** Hand queued jobs to idle workers. */
  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.current !== undefined) continue;
      const job = this.queue.shift();
      if (job === undefined) return;
      slot.current = job;
      if (job.modelId !== undefined && !slot.models.has(job.modelId)) {
        const artifacts = this.artifacts.get(job.modelId);
        if (artifacts === undefined) {
          slot.current = undefined;
          this.settle(job, () => job.reject(new Error(`model ${String(job.modelId)} is not loaded in the engine`)));
          continue;
        }
        slot.models.add(job.modelId);
        if (job.msg.type !== 'load') this.send(slot, { type: 'load', modelId: job.modelId, artifacts });
      }
      this.send(slot, job.msg, job.transfer);
    }
  }

  private send(slot: Slot, msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    slot.worker.postMessage(msg, transfer);
  }

  private enqueue(msg: ToWorker, opts: { modelId?: string; transfer?: ArrayBuffer[]; signal?: AbortSignal }): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.closed) return reject(new Error('the inference pool is closed'));
      if (this.broken !== undefined) return reject(this.broken);
      if (opts.signal?.aborted === true) return reject(abortError(opts.signal));
      const job: Job = { id: (msg as { jobId: number }).jobId, modelId: opts.modelId, msg, transfer: opts.transfer ?? [], resolve, reject, signal: opts.signal };
      if (opts.signal !== undefined) {
        const signal = opts.signal;
        job.onAbort = () => {
          // Queued: dropped. Running: its result will be ignored (the worker finishes the tile).
          const at = this.queue.indexOf(job);
          if (at >= 0) this.queue.splice(at, 1);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.pump();
    });
  }

  /** Make a model available to the workers; each gets the artifacts before its first tile of it. */
  addModel(modelId: string, artifacts: io.ModelArtifacts): void {
    this.artifacts.set(modelId, artifacts);
  }

  /** Forget a model and free it in the workers that hold it. */
  removeModel(modelId: string): void {
    this.artifacts.delete(modelId);
    for (const slot of this.slots) {
      if (slot.models.delete(modelId)) this.send(slot, { type: 'unload', modelId });
    }
  }

  /**
   * Load a model on one worker and report its shapes (checks that it loads at all).
   * @throws when tfjs cannot build the model from its artifacts.
   */
  async inspectModel(modelId: string): Promise<ModelShapes> {
    const jobId = this.nextJob++;
    const artifacts = this.artifacts.get(modelId);
    if (artifacts === undefined) throw new Error(`model ${modelId} is not loaded in the engine`);
    // This load carries a jobId, so the worker replies; pump() records the model as sent.
    const reply = await this.enqueue({ type: 'load', modelId, artifacts, jobId }, { modelId });
    if (reply.type !== 'loaded') throw new Error(`unexpected reply ${reply.type}`);
    return { inputShape: reply.inputShape, outputShape: reply.outputShape };
  }

  /**
   * Run one tile on some worker.
   * @param input model input [height, width, channels] float32, or RGB pixels the worker preprocesses;
   *   its buffer is transferred when the tile is sent (unusable after).
   * @returns the tile's scores [rows, cols, classes].
   * @throws AbortError when `signal` aborts first; the worker's error; or why the worker died.
   */
  async run(modelId: string, input: TileInput, signal?: AbortSignal): Promise<TileResult> {
    const jobId = this.nextJob++;
    const transfer = [input.data.buffer as ArrayBuffer];
    const reply = await this.enqueue({ type: 'run', jobId, modelId, input }, { modelId, transfer, signal });
    if (reply.type !== 'result') throw new Error(`unexpected reply ${reply.type}`);
    return { output: reply.output, shape: reply.shape };
  }

  /** Live tfjs tensors in each worker (model weights included), in worker order. */
  async memory(): Promise<number[]> {
    if (this.closed) throw new Error('the inference pool is closed');
    return Promise.all(this.slots.map((slot) => new Promise<number>((resolve, reject) => {
      const id = this.nextJob++;
      const job: Job = {
        id, msg: { type: 'memory', jobId: id }, transfer: [], reject,
        resolve: (reply) => (reply.type === 'memory' ? resolve(reply.numTensors) : reject(new Error(`unexpected reply ${reply.type}`))),
      };
      slot.direct.set(id, job);
      this.send(slot, job.msg);
    })));
  }

  /** Test only: queue a job that makes its worker exit; it rejects with the reason and the worker is replaced. */
  crashForTest(): Promise<void> {
    const jobId = this.nextJob++;
    return this.enqueue({ type: 'crash', jobId }, {}).then(() => undefined);
  }

  /** Terminate all workers; queued and running jobs reject. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('the inference pool was closed');
    for (const job of this.queue.splice(0)) this.settle(job, () => job.reject(err));
    await Promise.all(this.slots.map(async (slot) => {
      const jobs = [...slot.direct.values()];
      if (slot.current !== undefined) jobs.push(slot.current);
      slot.current = undefined;
      slot.direct.clear();
      for (const job of jobs) this.settle(job, () => job.reject(err));
      await slot.worker.terminate();
    }));
  }
}
