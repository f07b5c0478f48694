/**
 * The ONNX Runtime thread. onnxruntime-node's `run` computes on the thread that calls it (its
 * promise only defers the call), so the sessions live here, one per model, and the caller's thread
 * (Electron's main thread, the CLI) stays free. ONNX Runtime's own pool runs each pass on every core.
 * Messages are handled one at a time, in order (see ./onnx-protocol).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { exportOnnxGraph } from '../onnx/export';
import { encodeModel } from '../onnx/proto';
import { createSession, runNhwc, type OnnxSession } from '../onnx/runtime';
import { quiet } from './backend';
import { activationBytesPerPixel } from './onnx-memory';
import type { FromOnnxWorker, OnnxWorkerInit, ToOnnxWorker } from './onnx-protocol';
import { preprocessRegion } from './preprocess';
import { collectGarbage, serveInOrder } from './worker-loop';

if (parentPort === null) throw new Error('main/engine/onnx-worker must run as a worker thread');
const port = parentPort;
const init = workerData as OnnxWorkerInit;
quiet(tf);
const sessions = new Map<string, OnnxSession>();

function post(msg: FromOnnxWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const TEMP_PREFIX = 'convmap-onnx-';
/** A model file is needed for the seconds a session takes to build; older ones were left by a killed process. */
const STALE_MS = 10 * 60 * 1000;

/** Removes model files that killed processes left in the temporary folder (ours only, older than {@link STALE_MS}). */
async function removeStaleModelFiles(): Promise<void> {
  const tmp = os.tmpdir();
  const names = await fs.readdir(tmp).catch(() => [] as string[]);
  const uid = process.getuid?.();
  await Promise.all(names.filter((n) => n.startsWith(TEMP_PREFIX)).map(async (n) => {
    const dir = path.join(tmp, n);
    const st = await fs.lstat(dir).catch(() => null);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid) || Date.now() - st.mtimeMs < STALE_MS) return;
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }));
}

/**
 * ONNX Runtime builds a session from a buffer by first copying the buffer, and its layout pass then
 * holds more copies while it runs: from a file it reads the model itself and one copy less is alive
 * at that peak (measured on VGG16: 2.3 GB instead of 3.3 GB). So the bytes go to a private temporary
 * file, are dropped, and the file is removed once the session has it; where the file cannot be
 * written (no space), the buffer is used.
 */
async function sessionFromFile(take: () => Uint8Array): Promise<OnnxSession> {
  await removeStaleModelFiles();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), TEMP_PREFIX));
  try {
    const file = path.join(dir, 'model.onnx');
    let bytes: Uint8Array | undefined = take();
    try {
      await fs.writeFile(file, bytes, { mode: 0o600 });
    } catch {
      return await createSession(bytes, { device: init.device, threads: init.threads });
    }
    bytes = undefined;
    collectGarbage();
    return await createSession(file, { device: init.device, threads: init.threads });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function load(msg: ToOnnxWorker & { type: 'load' }): Promise<FromOnnxWorker> {
  let fcn: tf.LayersModel;
  // Neither the message nor this function may keep this thread's copy of the weights alive once tfjs has its own.
  let artifacts: tf.io.ModelArtifacts | undefined = msg.artifacts;
  (msg as { artifacts?: unknown }).artifacts = undefined;
  try {
    fcn = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    artifacts = undefined;
  } catch (err) {
    throw new Error(`the model could not be loaded: ${message(err)}`);
  }
  let graph: ReturnType<typeof exportOnnxGraph> | undefined;
  let perPixel: number;
  const inputShape = fcn.inputs[0].shape;
  const outputShape = fcn.outputs[0].shape;
  try {
    if (inputShape.length !== 4 || outputShape.length !== 4) return { type: 'loaded', jobId: msg.jobId, inputShape, outputShape, bytesPerPixel: 0 };
    perPixel = activationBytesPerPixel(fcn, msg.window);
    graph = exportOnnxGraph(fcn, 'the model');
  } finally {
    fcn.dispose();
  }
  // For VGG-sized models each copy of the weights is half a gigabyte: free each one before the next
  // is made (tfjs's, then the graph's as it is serialised, then the bytes once on disk).
  collectGarbage();
  let bytes: Uint8Array | undefined = encodeModel(graph.model, { release: true });
  graph = undefined;
  const session = await sessionFromFile(() => {
    const b = bytes as Uint8Array;
    bytes = undefined;
    return b;
  });
  collectGarbage();
  sessions.set(msg.modelId, session);
  return { type: 'loaded', jobId: msg.jobId, inputShape, outputShape, bytesPerPixel: perPixel };
}

async function handle(msg: ToOnnxWorker): Promise<void> {
  switch (msg.type) {
    case 'load': {
      try {
        post(await load(msg));
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: message(err) });
      }
      return;
    }
    case 'release': {
      const s = sessions.get(msg.modelId);
      sessions.delete(msg.modelId);
      await s?.session.release().catch(() => undefined);
      return;
    }
    case 'run': {
      try {
        const s = sessions.get(msg.modelId);
        if (s === undefined) throw new Error('the model was released');
        const { region } = msg;
        const image = { data: msg.data, width: msg.width, height: msg.height, channels: 3 as const };
        const input = preprocessRegion(image, region, msg.preprocess, msg.channels);
        const res = await runNhwc(s.session, input, [region.y1 - region.y0, region.x1 - region.x0, msg.channels]);
        // A copy this thread owns, so its buffer can be transferred.
        const output = Float32Array.from(res.output);
        post({ type: 'result', jobId: msg.jobId, output, shape: res.shape }, [output.buffer as ArrayBuffer]);
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: message(err) });
      }
      return;
    }
    case 'sessions':
      post({ type: 'sessions', jobId: msg.jobId, count: sessions.size });
  }
}

const started: Promise<true | undefined> = (async () => {
  try {
    const probe = await createSession(init.probe, { device: init.device, threads: 1, gpuProviders: init.gpuProviders });
    await probe.session.release();
    // Every model's session uses the provider that loaded for the probe.
    init.device = probe.device;
    post({ type: 'ready', device: probe.device, fallbacks: probe.fallbacks });
    return true as const;
  } catch (err) {
    post({ type: 'fatal', message: message(err) });
    port.close();
    return undefined;
  }
})();

serveInOrder<true, ToOnnxWorker>(port, started, (_ready, msg) => handle(msg));
