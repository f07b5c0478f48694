/**
 * In ONNX Runtime's process (./onnx-process): a tfjs FCN in its model folder (topology in the
 * message, weights in MODEL_FILES.weights) exported to MODEL_FILES.onnx. Only a first load needs
 * tfjs; reopening after a restart does not, so this module is imported on demand.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { exportOnnxGraph } from '../onnx/export';
import { encodeModel } from '../onnx/proto';
import { quiet } from './backend';
import { activationBytesPerPixel } from './onnx-memory';
import { MODEL_FILES, type ToOnnxHost } from './onnx-protocol';
import { collectGarbage } from './worker-loop';

quiet(tf);

/** The weights file as one ArrayBuffer (without a copy where Node read it into a buffer of its own). */
async function readWeights(dir: string): Promise<ArrayBuffer> {
  const b = await fs.readFile(path.join(dir, MODEL_FILES.weights));
  if (b.byteOffset === 0 && b.buffer.byteLength === b.byteLength) return b.buffer as ArrayBuffer;
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * Writes the exported model next to its weights, atomically (a process killed while writing leaves
 * no half file that a restart would open). ONNX Runtime opening a file instead of a buffer also
 * holds one copy less at its peak (measured on VGG16: 2.3 GB instead of 3.3 GB).
 */
async function writeModel(dir: string, bytes: Uint8Array): Promise<void> {
  const part = path.join(dir, `${MODEL_FILES.onnx}.part`);
  await fs.writeFile(part, bytes, { mode: 0o600 });
  await fs.rename(part, path.join(dir, MODEL_FILES.onnx));
}

/**
 * Exports the model of a `load` message to `dir/model.onnx`.
 * @returns tfjs's input and output shapes (null for free dimensions) and the activations' bytes per
 *   input pixel at their peak; a model whose shapes are not rank 4 is not exported (bytesPerPixel 0).
 * @throws when tfjs cannot build the model from its files, or a layer has no ONNX mapping
 */
export async function exportModelFile(msg: ToOnnxHost & { type: 'load' }): Promise<{ inputShape: (number | null)[]; outputShape: (number | null)[]; bytesPerPixel: number }> {
  let fcn: tf.LayersModel;
  try {
    // This process's copy of the weights must not outlive tfjs's own.
    fcn = await tf.loadLayersModel(tf.io.fromMemory({ ...msg.artifacts, weightData: await readWeights(msg.dir) }));
  } catch (err) {
    throw new Error(`the model could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
  let graph: ReturnType<typeof exportOnnxGraph> | undefined;
  let bytesPerPixel: number;
  const inputShape = fcn.inputs[0].shape;
  const outputShape = fcn.outputs[0].shape;
  try {
    if (inputShape.length !== 4 || outputShape.length !== 4) return { inputShape, outputShape, bytesPerPixel: 0 };
    bytesPerPixel = activationBytesPerPixel(fcn, msg.window);
    graph = exportOnnxGraph(fcn, 'the model');
  } finally {
    fcn.dispose();
  }
  // For VGG-sized models each copy of the weights is half a gigabyte: free each one before the next
  // is made (tfjs's, then the graph's as it is serialised, then the bytes once on disk).
  collectGarbage();
  let bytes: Uint8Array | undefined = encodeModel(graph.model, { release: true });
  graph = undefined;
  await writeModel(msg.dir, bytes);
  bytes = undefined;
  collectGarbage();
  return { inputShape, outputShape, bytesPerPixel };
}
