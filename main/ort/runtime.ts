/**
 * ONNX Runtime sessions: loading `onnxruntime-node`, choosing the execution provider (a GPU one where
 * it loads, else the CPU) and running Convmap's NHWC model.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import type { InferenceSession as Session } from 'onnxruntime-node';
import { gpuProviders, type DeviceName, type DeviceRequest } from './devices';
import { ONNX_INPUT, ONNX_OUTPUT } from './names';

export { DEVICE_REQUESTS, gpuProviders, isDeviceRequest, type DeviceName, type DeviceRequest } from './devices';

type Ort = typeof import('onnxruntime-node');

/**
 * The first line of an error, without ONNX Runtime's source location and failed assertion in front
 * of its own words ("/onnxruntime_src/…/webgpu_context.cc:136 …::Initialize(…) x == y was false.
 * Failed to get a WebGPU adapter: …" → "Failed to get a WebGPU adapter: …").
 */
function message(err: unknown): string {
  const line = err instanceof Error ? err.message.split('\n')[0] : String(err);
  const m = /^\S*onnxruntime\S*\.(?:cc|cpp|h):\d+ .*? was false\. (.+)$/.exec(line);
  return m ? m[1] : line;
}

let ortModule: Promise<Ort> | undefined;

/**
 * The onnxruntime-node module.
 * @throws when the package or its native binding cannot be loaded (the message says which).
 */
export function loadOrt(): Promise<Ort> {
  // Through require: Node loads the CommonJS package in about 60 % of the CPU time the ES module loader takes to wrap it.
  ortModule ??= Promise.resolve().then(() => createRequire(import.meta.url)('onnxruntime-node') as Ort).then(
    (m) => {
      // Failures come back as exceptions (and into the report); ONNX Runtime's own stderr lines would only repeat them.
      m.env.logLevel = 'fatal';
      return m as Ort;
    },
    (err: unknown) => {
      ortModule = undefined;
      throw new Error(`onnxruntime-node could not be loaded: ${message(err)}`);
    },
  );
  return ortModule;
}

export interface SessionOptions {
  device?: DeviceRequest;
  /** Threads of one run (default: every core). */
  threads?: number;
  /** Test hook: providers to try instead of the platform's GPU providers when device is `auto`. */
  gpuProviders?: readonly string[];
  /**
   * Also write the model as ONNX Runtime optimised it to this path. Reopening that file with
   * `optimized` skips the optimisation, which is most of a big model's opening time (VGG16: 0.5 s
   * instead of 2.1 s, the same scores). Its layout is specific to this machine's CPU.
   */
  saveOptimizedTo?: string;
  /** The model was written by `saveOptimizedTo`: open it without optimising it again. */
  optimized?: boolean;
  /**
   * Whether ONNX Runtime's idle pool threads spin waiting for work (default true). Off, they sleep:
   * while a batch keeps requests in flight, spinning took a quarter of all CPU for nothing; a lone
   * pass is 4–6 % slower without it.
   */
  spinning?: boolean;
}

/** A session and how it was chosen. */
export interface OnnxSession {
  session: Session;
  device: DeviceName;
  threads: number;
  /** Why each provider tried before the one that runs did not load. */
  fallbacks: string[];
}

/**
 * Creates one ONNX Runtime session for a model. With device `auto` each GPU provider of the platform
 * is tried in turn and the CPU is the last resort; each failure is kept in `fallbacks`.
 * @param model ONNX bytes, or the path of an ONNX file (ONNX Runtime then reads it itself, without the
 *   copy of the bytes it makes from a buffer)
 * @throws when the requested device (or, for `auto`, even the CPU) cannot run the model
 */
export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<OnnxSession> {
  const ort = await loadOrt();
  const threads = opts.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  const device = opts.device ?? 'auto';
  const base: Session.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: opts.optimized ? 'disabled' : 'all',
    executionMode: 'sequential',
    // The arena grows by doubling and never gives memory back: on VGG16 at 1.4 MP it held 1.6 GB
    // for a pass that needs 0.7 GB. Without it each pass allocates its planned buffers and frees
    // them, at the same CPU time (10.9 s against 11.3 s, measured side by side).
    enableCpuMemArena: false,
    ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    // Saving warns on every load that the layout is this machine's, which is why it is kept only here.
    ...(opts.saveOptimizedTo !== undefined ? { optimizedModelFilePath: opts.saveOptimizedTo, logSeverityLevel: 3 as const } : {}),
  };
  // A provider that does not load is an expected outcome here (reported in `fallbacks`), not a log line.
  const options = (provider: string): Session.SessionOptions =>
    ({ ...base, executionProviders: [provider], ...(provider === 'cpu' ? {} : { logSeverityLevel: 4 as const }) });
  // Two calls, not one: the overloads for a path and for bytes do not merge into one signature.
  const attempt = (provider: string): Promise<Session> =>
    (typeof model === 'string' ? ort.InferenceSession.create(model, options(provider)) : ort.InferenceSession.create(model, options(provider)));
  if (device !== 'auto') {
    try {
      return { session: await attempt(device), device, threads, fallbacks: [] };
    } catch (err) {
      throw new Error(`ONNX Runtime device '${device}' could not run the model: ${message(err)}`);
    }
  }
  const fallbacks: string[] = [];
  for (const provider of opts.gpuProviders ?? gpuProviders()) {
    try {
      return { session: await attempt(provider), device: provider as DeviceName, threads, fallbacks };
    } catch (err) {
      fallbacks.push(`${provider}: ${message(err)}`);
    }
  }
  try {
    return { session: await attempt('cpu'), device: 'cpu', threads, fallbacks };
  } catch (err) {
    throw new Error(`ONNX Runtime could not run the model on the CPU: ${message(err)}${fallbacks.length ? ` (also tried ${fallbacks.join('; ')})` : ''}`);
  }
}

/**
 * Runs a model once on its one float32 input ({@link ONNX_INPUT}) to its {@link ONNX_OUTPUT}.
 * @param input row-major, of `dims`
 * @returns the output, row-major, and its dims
 */
export async function runTensor(session: Session, input: Float32Array, dims: readonly number[]): Promise<{ output: Float32Array; dims: number[] }> {
  const ort = await loadOrt();
  const result = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', input, [...dims]) }, [ONNX_OUTPUT]);
  const y = result[ONNX_OUTPUT];
  return { output: y.data as Float32Array, dims: [...y.dims] };
}

/**
 * Runs Convmap's model once.
 * @param input [height, width, channels] float32, row-major (one image)
 * @returns scores [rows, cols, classes] row-major
 */
export async function runNhwc(session: Session, input: Float32Array, shape: [number, number, number]): Promise<{ output: Float32Array; shape: [number, number, number] }> {
  const { output, dims } = await runTensor(session, input, [1, ...shape]);
  if (dims.length !== 4) throw new Error(`the ONNX model gave scores of shape [${dims.join(', ')}], expected [1, rows, cols, classes]`);
  return { output, shape: [dims[1], dims[2], dims[3]] };
}
