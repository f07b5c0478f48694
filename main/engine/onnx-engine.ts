/**
 * The ONNX Runtime engine: each loaded model is exported to ONNX once and held in one
 * InferenceSession in one ONNX Runtime process (./onnx-process), shared by all photos in flight, so
 * the weights exist once in memory; ONNX Runtime runs each pass on every core (or a GPU provider).
 * One tile runs at a time while the next is cut; tiles stay stride-aligned and are sized from a
 * memory budget and the model's activations per input pixel. Cancelling a photo whose tile is
 * running kills that process when the tile's rest would take longer than a restart, starts another
 * and reopens every model from its file (see ./onnx-host).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type * as tf from '@tensorflow/tfjs';
import type { PreprocessMode } from '../../core/model-info';
import type { ScoreMap } from '../../core/scoremap';
import type { DeviceName, DeviceRequest } from '../ort/runtime';
import type { RgbImage } from '../io/decode';
import { checkGeometry, scoreTiled, type Engine, type LoadOptions, type LoadReport, type ModelGeometry, type ModelHandle, type ScoreOptions } from './engine-api';
import { forkOnnxHost, type OnnxHost, type OnnxHostEvents, type SpawnOnnxHost } from './onnx-host';
import { defaultMemoryBudget } from './onnx-memory';
import { MODEL_FILES, type FromOnnxHost, type OnnxHostInit, type ToOnnxHost } from './onnx-protocol';
import type { TileResult } from './pool';
import { abortError } from '../io/abort';
import { processEntry } from '../io/start-worker';
import { collectGarbage } from './worker-loop';
import { cropRgb } from './preprocess';
import { removeFoldersOfEndedProcesses } from '../io/pid';

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
  /** How the ONNX Runtime process is started (default child_process.fork; Electron passes utilityProcess). */
  spawnHost?: SpawnOnnxHost;
  /** Model cache (main/io/model-cache) where ONNX Runtime's optimised models are kept by content; none by default. */
  modelCache?: { dir: string; maxBytes?: number };
}

/**
 * A one-node model (Relu over float [1] → [1], graph "probe", producer Convmap 0) that tells whether
 * a provider loads at all, as main/onnx/proto encodeModel writes it: kept as bytes so that starting
 * the engine does not load the protobuf library.
 */
export const PROBE_MODEL = 'CAgSB0NvbnZtYXAaATBCAhAROj0KEgoBeBIBeRoEcmVsdSIEUmVsdRIFcHJvYmVaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggB';

type Reply = FromOnnxHost & { jobId: number };

interface Pending {
  msg: ToOnnxHost & { jobId: number };
  /** The caller's signal: a request whose caller gave up is not sent again after a restart. */
  signal?: AbortSignal;
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

/**
 * Whether Cancel should kill the process to stop the tile it runs: when the tile's expected rest
 * is longer than starting a process and reopening every model. Where either is not known yet (a
 * model never timed, or never reopened: its first opening, which also optimises it, says little
 * about reopening) the tile is stopped.
 * @param expectedMs the tile's expected duration (pixels × the model's last ms per pixel), or undefined.
 * @param elapsedMs how long it has run.
 * @param restartMs what a start of the process and the reopening of its models take, or undefined.
 */
export function shouldStopRunningTile(expectedMs: number | undefined, elapsedMs: number, restartMs: number | undefined): boolean {
  return expectedMs === undefined || restartMs === undefined || expectedMs - elapsedMs > restartMs;
}

/** Runs at most one tile at a time; a tile whose caller gave up no longer holds its turn. */
class RunQueue {
  private tail: Promise<void> = Promise.resolve();

  /** @param onAbortRunning called when the signal fires while `fn` runs. */
  run<T>(signal: AbortSignal, fn: () => Promise<T>, onAbortRunning: () => void): Promise<T> {
    const turn = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let running = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        release();
        f();
      };
      // Cancelled: the caller goes on at once; the engine decides whether the tile already sent is stopped.
      const onAbort = (): void => {
        if (running && !settled) onAbortRunning();
        settle(() => reject(abortError(signal)));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      void turn.then(async () => {
        if (settled) return;
        running = true;
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

/** A started process, once it has said which provider loaded. */
export interface StartedHost {
  host: OnnxHost;
  device: DeviceName;
  fallbacks: string[];
  /** Resolves when the process has ended. */
  exited: Promise<void>;
}

/**
 * Starts the ONNX Runtime process and waits until its probe session tells which provider loads.
 * After that, its messages and its exit go to `events`.
 * @throws when it cannot start or the device does not load (the process's own reason).
 */
export function startHost(spawn: SpawnOnnxHost, init: OnnxHostInit, events: OnnxHostEvents): Promise<StartedHost> {
  const { file, execArgv } = processEntry(import.meta.url, 'onnx-process');
  let up = false;
  let why: string | undefined;
  let endedNow!: () => void;
  const exited = new Promise<void>((r) => (endedNow = r));
  return new Promise<StartedHost>((resolve, reject) => {
    const host = spawn(file, execArgv, {
      message: (msg) => {
        if (up) return events.message(msg);
        if (msg.type === 'ready') {
          up = true;
          resolve({ host, device: msg.device, fallbacks: msg.fallbacks, exited });
        } else if (msg.type === 'fatal') {
          why = msg.message;
          host.kill();
        }
      },
      exit: (code, signal) => {
        endedNow();
        if (up) return events.exit(code, signal);
        reject(new Error(why ?? `the ONNX Runtime process failed to start (exit code ${String(code)})`));
      },
    });
    host.post({ type: 'init', ...init });
  });
}

interface LiveModel {
  handle: ModelHandle;
  maxTilePixels: number;
  /** The model's private folder (its ONNX file, or ONNX Runtime's optimised form of `file`). */
  dir: string;
  /** A converted model's own ONNX file, opened where it is (LoadOptions.onnx). */
  file?: string;
  /** Milliseconds its session took to reopen after the last restart, the model's share of the next. */
  reopenMs?: number;
  /** The last tile's milliseconds per input pixel. */
  msPerPixel?: number;
  /** Why a restarted process could not reopen the model. */
  lost?: string;
  /** LoadOptions.spinning, kept for reopening. */
  spinning?: boolean;
}

/** The weight buffers as one file, in order (tfjs reads a list of buffers as their concatenation). */
async function writeWeights(file: string, buffers: readonly ArrayBuffer[]): Promise<void> {
  const fh = await fs.open(file, 'wx', 0o600);
  try {
    for (const b of buffers) await fh.writeFile(new Uint8Array(b));
  } finally {
    await fh.close();
  }
}

const FOLDER_PREFIX = 'convmap-onnx-';


/** Why the process ended, for a user: SIGKILL from outside is most often the system out of memory. */
export function stoppedMessage(code: number | null, signal?: NodeJS.Signals | null): string {
  if (signal === 'SIGKILL') return 'the ONNX Runtime process was killed (SIGKILL: the system may have run out of memory)';
  if (signal) return `the ONNX Runtime process was stopped by ${signal}`;
  return `the ONNX Runtime process stopped (exit code ${String(code)})`;
}

/** What OnnxRuntimeEngine.hostState reports. */
export interface HostState {
  pid: number;
  sessions: number;
  /** Per loaded model's id: whether its session's idle threads spin. */
  spinning: Record<string, boolean>;
  peakRssBytes: number;
}

class OnnxEngine implements Engine {
  readonly backend = 'onnx' as const;
  readonly workers: number;
  private readonly models = new Map<string, LiveModel>();
  private readonly queue = new RunQueue();
  private readonly pending = new Map<number, Pending>();
  private nextJob = 1;
  private closed = false;
  private broken: Error | undefined;
  /** Bumped on every restart: events of a process that was replaced are ignored. */
  private generation = 0;
  /** Settles once a restart has reopened the models (requests wait for it). */
  private up: Promise<void> = Promise.resolve();
  private restarting = false;
  private host: StartedHost;
  /** Milliseconds the last start of a process took, to its probe session. */
  private spawnMs: number;

  constructor(
    first: StartedHost,
    startMs: number,
    private readonly init: OnnxHostInit,
    private readonly root: string,
    readonly notes: readonly string[],
    private readonly opts: OnnxEngineOptions & { threads: number; spawnHost: SpawnOnnxHost },
  ) {
    this.workers = opts.threads;
    this.host = first;
    this.spawnMs = startMs;
  }

  get device(): DeviceName {
    return this.host.device;
  }

  readonly deviceFallbacks: string[] = [];

  /** Keeps what the process said, in any reply, of a device that failed on a model (once per reason). */
  private heard(reply: FromOnnxHost): void {
    const why = 'fallback' in reply ? reply.fallback : undefined;
    if (why !== undefined && !this.deviceFallbacks.includes(why)) this.deviceFallbacks.push(why);
  }

  /** The events of the process of this generation. */
  events(): OnnxHostEvents {
    const gen = this.generation;
    return {
      message: (msg) => {
        if (gen !== this.generation || !('jobId' in msg)) return;
        this.heard(msg);
        const p = this.pending.get(msg.jobId);
        this.pending.delete(msg.jobId);
        if (msg.type === 'error') p?.reject(new Error(msg.message));
        else p?.resolve(msg);
      },
      exit: (code, signal) => {
        if (gen !== this.generation || this.closed) return;
        // A crash: what was asked fails, later work gets a new process.
        this.restart(new Error(stoppedMessage(code, signal)));
      },
    };
  }

  /**
   * Posts to the current process without waiting for a restart (the restart itself uses this).
   * @param sent told which process the message went to.
   */
  private send(msg: ToOnnxHost & { jobId: number }, signal?: AbortSignal, sent?: (to: StartedHost) => void): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(msg.jobId, { msg, signal, resolve, reject });
      this.host.host.post(msg);
      sent?.(this.host);
    });
  }

  private async request(msg: ToOnnxHost & { jobId: number }, signal?: AbortSignal, sent?: (to: StartedHost) => void): Promise<Reply> {
    await this.up;
    if (this.closed) throw new Error('the ONNX Runtime engine is closed');
    if (this.broken !== undefined) throw this.broken;
    if (signal?.aborted) throw abortError(signal);
    return this.send(msg, signal, sent);
  }

  /** Ends the engine's work with `err`: every waiting request and every later one fails with it. */
  private fail(err: Error): void {
    this.broken ??= err;
    for (const p of this.pending.values()) p.reject(this.broken);
    this.pending.clear();
  }

  /**
   * Kills the process and starts another that reopens every model. After a cancel (`crash`
   * undefined) every request whose caller still waits is sent again; after a crash they fail with it.
   * One restart at a time: the process it starts is the only one whose end is heard meanwhile, and
   * if that one dies too the engine fails.
   */
  private restart(crash?: Error): void {
    if (this.restarting) {
      if (crash !== undefined) this.fail(crash);
      return;
    }
    this.restarting = true;
    const old = this.host;
    this.generation++;
    old.host.kill();
    const again: Pending[] = [];
    for (const p of this.pending.values()) {
      if (crash === undefined && p.signal?.aborted !== true) again.push(p);
      else p.reject(crash ?? abortError(p.signal));
    }
    this.pending.clear();
    // The new process starts while the kernel reclaims the old one (about 0.1 s for VGG16's): its
    // messages and its end are ignored from now on.
    this.up = (async () => {
      const t0 = performance.now();
      this.host = await startHost(this.opts.spawnHost, this.init, this.events());
      this.spawnMs = performance.now() - t0;
      // Closed meanwhile (a cancelled batch that ends the engine): close kills this process, nothing to reopen.
      if (this.closed) {
        for (const p of again.splice(0)) p.reject(new Error('the ONNX Runtime engine was closed'));
        return;
      }
      for (const m of this.models.values()) {
        try {
          const reply = await this.send({ type: 'open', jobId: this.nextJob++, modelId: m.handle.id, dir: m.dir, ...(m.file ? { file: m.file } : {}), spinning: m.spinning });
          if (reply.type === 'opened') m.reopenMs = reply.openMs;
        } catch (err) {
          m.lost = `the model could not be reopened after a restart: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
      if (this.broken !== undefined) throw this.broken;
      for (const p of again.splice(0)) {
        this.pending.set(p.msg.jobId, p);
        this.host.host.post(p.msg);
      }
    })().catch((err: unknown) => {
      for (const p of again) p.reject(err instanceof Error ? err : new Error(String(err)));
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }).finally(() => {
      this.restarting = false;
    });
  }

  async loadModel(artifacts: tf.io.ModelArtifacts, geometry: ModelGeometry, opts: LoadOptions = {}): Promise<ModelHandle> {
    checkGeometry(geometry);
    if (this.closed) throw new Error('the ONNX Runtime engine is closed');
    const id = randomUUID();
    const dir = path.join(this.root, id);
    await fs.mkdir(dir, { mode: 0o700 });
    try {
      const buffers = weightBuffers(artifacts);
      if (opts.onnx === undefined) await writeWeights(path.join(dir, MODEL_FILES.weights), buffers);
      // The caller gave them up: detached and collected now, before ONNX Runtime's process makes its copies.
      if (opts.transfer) {
        for (const b of buffers) structuredClone(b, { transfer: [b] });
        collectGarbage();
      }
      let shapes: { inputShape: (number | null)[]; outputShape: (number | null)[] };
      let bytesPerPixel: number;
      let loaded: LoadReport;
      if (opts.onnx !== undefined) {
        // The converted model's own export, opened where it is: no tfjs, no second export, and no link
        // to it (a link changes the file's change time, which would make its remembered digest stale).
        const reply = await this.request({ type: 'open', jobId: this.nextJob++, modelId: id, dir, file: opts.onnx.file, spinning: opts.spinning }, undefined, () => opts.onRequested?.());
        if (reply.type !== 'opened') throw new Error(`unexpected reply ${reply.type}`);
        shapes = reply;
        bytesPerPixel = opts.onnx.bytesPerPixel;
        loaded = { from: 'onnx-file', optimizedFromCache: reply.optimizedFromCache };
      } else {
        const { weightData: _weights, ...topology } = artifacts;
        const reply = await this.request({ type: 'load', jobId: this.nextJob++, modelId: id, dir, artifacts: topology, window: [...geometry.window], spinning: opts.spinning }, undefined, () => opts.onRequested?.());
        if (reply.type !== 'loaded') throw new Error(`unexpected reply ${reply.type}`);
        shapes = reply;
        bytesPerPixel = reply.bytesPerPixel;
        loaded = { from: 'export', optimizedFromCache: reply.optimizedFromCache };
      }
      const { inputShape, outputShape } = shapes;
      const classes = outputShape[3];
      if (inputShape.length !== 4) throw new Error(`the model input has shape [${inputShape.join(', ')}], expected [batch, height, width, channels]`);
      if (inputShape[3] !== geometry.channels) throw new Error(`the model takes ${String(inputShape[3])} channels, the geometry says ${geometry.channels}`);
      if (outputShape.length !== 4 || typeof classes !== 'number') throw new Error(`the model output has shape [${outputShape.join(', ')}], expected [batch, rows, cols, classes]`);
      const g: ModelGeometry = {
        window: [...geometry.window], stride: [...geometry.stride], offset: [...geometry.offset],
        channels: geometry.channels, preprocess: geometry.preprocess, ...(geometry.padding ? { padding: geometry.padding } : {}),
      };
      const budget = this.opts.memoryBudget ?? defaultMemoryBudget();
      const maxTilePixels = this.opts.maxTilePixels ?? Math.max(1, Math.floor(budget / Math.max(bytesPerPixel, 1)));
      const handle: ModelHandle = { id, geometry: g, classes, loaded };
      this.models.set(id, { handle, maxTilePixels, dir, spinning: opts.spinning, ...(opts.onnx !== undefined ? { file: opts.onnx.file } : {}) });
      await fs.rm(path.join(dir, MODEL_FILES.weights), { force: true });
      return handle;
    } catch (err) {
      if (!this.closed) this.host.host.post({ type: 'release', modelId: id });
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }

  async setSpinning(handle: ModelHandle, spinning: boolean): Promise<void> {
    const m = this.models.get(handle.id);
    if (m === undefined) throw new Error('setSpinning: the model is not loaded in this engine (released, or from another engine)');
    // ONNX Runtime spins unless told otherwise.
    if ((m.spinning ?? true) === spinning) return;
    m.spinning = spinning;
    const reply = await this.request({ type: 'open', jobId: this.nextJob++, modelId: handle.id, dir: m.dir, ...(m.file ? { file: m.file } : {}), spinning });
    if (reply.type !== 'opened') throw new Error(`unexpected reply ${reply.type}`);
  }

  releaseModel(handle: ModelHandle): void {
    const m = this.models.get(handle.id);
    if (m === undefined || !this.models.delete(handle.id) || this.closed) return;
    void this.up.then(() => {
      if (!this.closed) this.host.host.post({ type: 'release', modelId: handle.id });
      return fs.rm(m.dir, { recursive: true, force: true });
    }).catch(() => undefined);
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
      run: (tile, job, signal): Promise<TileResult> => {
        let startedAt = 0;
        let pixels = 0;
        // The process the tile was sent to: only a tile inside the current process is worth a kill.
        let inside: StartedHost | undefined;
        return this.queue.run(signal, async () => {
          if (!this.models.has(handle.id)) throw new Error(this.closed ? 'the ONNX Runtime engine was closed' : 'the model was released');
          if (m.lost !== undefined) throw new Error(m.lost);
          // The message to the process copies the pixels: a tile that is the whole scaled photo is not copied first.
          const crop = cropRgb(job.scaled, tile, { whole: 'as-is' });
          pixels = crop.image.width * crop.image.height;
          const reply = await this.request({
            type: 'run', jobId: this.nextJob++, modelId: handle.id,
            data: crop.image.data, height: crop.image.height, width: crop.image.width, region: crop.region, preprocess: job.mode, channels: job.channels,
          }, signal, (to) => {
            inside = to;
            startedAt = performance.now();
          });
          if (reply.type !== 'result') throw new Error(`unexpected reply ${reply.type}`);
          m.msPerPixel = (performance.now() - startedAt) / pixels;
          return { output: reply.output, shape: reply.shape };
        }, () => {
          if (inside === undefined || inside !== this.host || this.restarting) return;
          const expected = m.msPerPixel === undefined ? undefined : m.msPerPixel * pixels;
          if (shouldStopRunningTile(expected, performance.now() - startedAt, this.restartEstimate())) this.restart();
        });
      },
    });
  }

  /** What a restart would take: a start of the process plus every model's last reopening; undefined until each was reopened once. */
  private restartEstimate(): number | undefined {
    let ms = this.spawnMs;
    for (const m of this.models.values()) {
      if (m.reopenMs === undefined) return undefined;
      ms += m.reopenMs;
    }
    return ms;
  }

  liveModels(): number {
    return this.models.size;
  }

  /**
   * The ONNX Runtime process: its id, its open sessions (a leak check: one per loaded model), whether
   * each model's session was opened spinning (by model id) and its peak resident bytes.
   */
  async hostState(): Promise<HostState> {
    const reply = await this.request({ type: 'state', jobId: this.nextJob++ });
    if (reply.type !== 'state') throw new Error(`unexpected reply ${reply.type}`);
    return { pid: reply.pid, sessions: reply.sessions, spinning: reply.spinning, peakRssBytes: reply.peakRssBytes };
  }

  async workerTensors(): Promise<number[]> {
    return [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Killing the process is safe mid-run (unlike stopping a thread) and frees its cores at once.
    this.closed = true;
    this.models.clear();
    const closedErr = new Error('the ONNX Runtime engine was closed');
    const rejectPending = (): void => {
      for (const p of this.pending.values()) p.reject(closedErr);
      this.pending.clear();
    };
    rejectPending();
    // A restart under way ends first (it may send requests again); then its process is the one to kill.
    await this.up;
    this.generation++;
    rejectPending();
    this.host.host.kill();
    await this.host.exited;
    await fs.rm(this.root, { recursive: true, force: true });
  }
}

/** The ONNX Runtime engine's extras beyond {@link Engine}. */
export interface OnnxRuntimeEngine extends Engine {
  readonly backend: 'onnx';
  hostState(): Promise<HostState>;
}

/**
 * Starts the ONNX Runtime engine: its process loads onnxruntime-node and picks the execution
 * provider with a probe session (device `auto`: the platform's GPU providers, then the CPU).
 * Models live in a private folder under the system's temporary folder while they are loaded.
 * @throws when onnxruntime-node does not load, or the requested device does not
 */
export async function createOnnxEngine(opts: OnnxEngineOptions = {}): Promise<OnnxRuntimeEngine> {
  const threads = opts.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`thread count must be a positive integer, got ${threads}`);
  const spawnHost = opts.spawnHost ?? forkOnnxHost;
  const init: OnnxHostInit = { device: opts.device ?? 'auto', threads, probe: new Uint8Array(Buffer.from(PROBE_MODEL, 'base64')),
    ...(opts.gpuProviders ? { gpuProviders: [...opts.gpuProviders] } : {}), ...(opts.modelCache ? { modelCache: { ...opts.modelCache } } : {}) };
  // Model folders that killed engines left (`convmap-onnx-<pid>-…`); another running engine's stays.
  await removeFoldersOfEndedProcesses(os.tmpdir(), FOLDER_PREFIX);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), `${FOLDER_PREFIX}${process.pid}-`));
  const t0 = performance.now();
  // The first process's events go to the engine once it exists (none matter before).
  const relay: { to?: OnnxHostEvents } = {};
  let first: StartedHost;
  try {
    first = await startHost(spawnHost, init, { message: (msg) => relay.to?.message(msg), exit: (code, signal) => relay.to?.exit(code, signal) });
  } catch (err) {
    await fs.rm(root, { recursive: true, force: true });
    throw err;
  }
  const notes = [...(opts.notes ?? []), ...first.fallbacks.map((f) => `onnx device ${f}`)];
  // Restarts use the provider that loaded, without trying the others again.
  const { gpuProviders: _tried, ...chosen } = init;
  const engine = new OnnxEngine(first, performance.now() - t0, { ...chosen, device: first.device }, root, notes, { ...opts, threads, spawnHost });
  relay.to = engine.events();
  return engine;
}
