/**
 * Inference worker thread: selects the tfjs backend, keeps the models it was sent, and runs tiles
 * through them. Messages are handled one at a time in arrival order (see ./protocol).
 */
import { parentPort, workerData } from 'node:worker_threads';
// Converted models may hold Keras activations and layers tfjs lacks (silu, Normalization…): registered before any model is built.
import '../model/keras-layers';
import type { LayersModel, Tensor, io } from '@tensorflow/tfjs';

type ModelArtifacts = io.ModelArtifacts;
type IOHandler = io.IOHandler;
import { backendFailures, getTf, isBackendRequest, selectBackend, type Tf } from './backend';
import { failOnBackendErrors, installBackendErrorCapture } from './backend-errors';
import { preprocessRegion } from './preprocess';
import { collectGarbage, serveInOrder } from './worker-loop';
import { CRASH_EXIT_CODE, type FromWorker, type TileInput, type ToWorker, type WorkerInit } from './protocol';
import { errorMessage } from '../../core/errors';

if (parentPort === null) throw new Error('main/engine/worker must run as a worker thread');
const port = parentPort;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Loaded models, or why they failed to load (reported on use). */
const models = new Map<string, Promise<LayersModel>>();

/** The tile as model input [height, width, channels]. */
function modelInput(tile: TileInput): { input: Float32Array; shape: [number, number, number] } {
  if (tile.kind === 'float') return { input: tile.data, shape: tile.shape };
  const { region } = tile;
  const image = { data: tile.data, width: tile.width, height: tile.height, channels: 3 as const };
  if (tile.data.length !== tile.width * tile.height * 3) throw new Error(`tile has ${tile.data.length} bytes, ${tile.height}×${tile.width} RGB needs ${tile.width * tile.height * 3}`);
  return {
    input: preprocessRegion(image, region, tile.preprocess, tile.channels),
    shape: [region.y1 - region.y0, region.x1 - region.x0, tile.channels],
  };
}

async function runTile(tf: Tf, model: LayersModel, tile: TileInput): Promise<FromWorker & { type: 'result' }> {
  const { input, shape } = modelInput(tile);
  const [h, w, c] = shape;
  if (input.length !== h * w * c) throw new Error(`tile input has ${input.length} values, shape ${h}×${w}×${c} needs ${h * w * c}`);
  const y = tf.tidy(() => {
    const out = model.predict(tf.tensor4d(input, [1, h, w, c]));
    if (Array.isArray(out)) throw new Error(`the model has ${out.length} outputs; Convmap needs one`);
    return out as Tensor;
  });
  try {
    if (y.rank !== 4) throw new Error(`the model output has shape [${y.shape.join(', ')}], expected [batch, rows, cols, classes]`);
    const [, rows, cols, classes] = y.shape as [number, number, number, number];
    // A fresh array the worker owns, so its buffer can be transferred (backend storage cannot).
    const output = Float32Array.from(await y.data());
    return { type: 'result', jobId: 0, output, shape: [rows, cols, classes] };
  } finally {
    y.dispose();
  }
}

/**
 * The weights arrive as this worker's own copy and tfjs decodes them into another before moving them
 * into the backend; for VGG-sized models that is a gigabyte of garbage, collected here right after
 * the load instead of whenever V8 gets to it, so it never adds to the activations of the first tiles.
 */
/** Builds a model from its artifacts, then lets go of them: the message must not keep a copy alive. */
async function loadModel(tf: Tf, msg: { artifacts?: ModelArtifacts }): Promise<LayersModel> {
  let handler: IOHandler | undefined = tf.io.fromMemory(msg.artifacts as ModelArtifacts);
  msg.artifacts = undefined;
  const loading = tf.loadLayersModel(handler);
  handler = undefined;
  const model = await loading;
  collectGarbage();
  return model;
}

async function handle(tf: Tf, msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'load': {
      let loading = models.get(msg.modelId);
      if (loading === undefined) {
        loading = loadModel(tf, msg);
        loading.catch(() => undefined); // reported when used
        models.set(msg.modelId, loading);
      }
      if (msg.jobId === undefined) return;
      try {
        const model = await loading;
        post({ type: 'loaded', jobId: msg.jobId, inputShape: model.inputs[0]?.shape ?? [], outputShape: model.outputs[0]?.shape ?? [] });
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: `the model could not be loaded: ${errorMessage(err)}` });
      }
      return;
    }
    case 'unload': {
      const loading = models.get(msg.modelId);
      models.delete(msg.modelId);
      if (loading !== undefined) {
        try {
          (await loading).dispose();
        } catch {
          // never loaded: nothing to free
        }
      }
      return;
    }
    case 'run': {
      try {
        const loading = models.get(msg.modelId);
        if (loading === undefined) throw new Error(`model ${msg.modelId} was not sent to this worker`);
        let model: LayersModel;
        try {
          model = await loading;
        } catch (err) {
          throw new Error(`the model could not be loaded: ${errorMessage(err)}`);
        }
        const result = await failOnBackendErrors(() => runTile(tf, model, msg.input));
        result.jobId = msg.jobId;
        post(result, [result.output.buffer as ArrayBuffer]);
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: errorMessage(err) });
      }
      return;
    }
    case 'memory': {
      const m = tf.memory();
      post({ type: 'memory', jobId: msg.jobId, numTensors: m.numTensors, numBytes: m.numBytes });
      return;
    }
    case 'crash':
      process.exit(CRASH_EXIT_CODE);
  }
}

const init = workerData as WorkerInit;
// Before the backend starts: Emscripten binds console.warn when the wasm module is created.
installBackendErrorCapture();
const started: Promise<Tf | undefined> = (async () => {
  try {
    if (!isBackendRequest(init.backend)) throw new Error(`unknown backend ${String(init.backend)}`);
    const backend = await selectBackend(init.backend);
    post({ type: 'ready', backend, failures: [...backendFailures()] });
    return getTf();
  } catch (err) {
    post({ type: 'fatal', message: errorMessage(err) });
    port.close();
    return undefined;
  }
})();

serveInOrder<Tf, ToWorker>((listener) => port.on('message', listener), started, handle);
