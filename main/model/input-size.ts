/**
 * Classifiers saved without a fixed input size (`[null, null, 3]`: a ResNet50 transfer model built
 * with `input_shape=(None, None, 3)`) are given the size they were trained at: the window the user
 * names (`--window N`, or `window` in the load request: the window's "Trained at" field), else the size of a Resizing right after the input.
 */
import * as tf from '@tensorflow/tfjs';
import { FREE_INPUT_SIZE } from '../../core/model-info';
import { buildUntrusted } from './build';
import { ModelError } from './errors';

type Shape = (number | null)[];

/** The input's spatial size [h, w] (null where unknown) of a model with an image input. */
function spatial(model: tf.LayersModel): [number | null, number | null] {
  const s = model.inputs[0].shape;
  return [s[1] ?? null, s[2] ?? null];
}

/** The size of a Resizing that reads the input directly (also as the first layer of a nested model). */
function resizingAtInput(model: tf.LayersModel): [number, number] | null {
  let layer: tf.layers.Layer | undefined = model.layers.find((l) => l.getClassName() !== 'InputLayer');
  if (layer instanceof tf.LayersModel) layer = layer.layers.find((l) => l.getClassName() !== 'InputLayer');
  if (layer?.getClassName() !== 'Resizing') return null;
  const cfg = layer.getConfig() as { height?: unknown; width?: unknown };
  return [Number(cfg.height), Number(cfg.width)];
}

/** Every `batchInputShape` of rank 4 with unknown height or width, in a topology (nested models too), set to [h, w]. */
function fixShapes(node: unknown, h: number, w: number): void {
  if (Array.isArray(node)) {
    node.forEach((n) => fixShapes(n, h, w));
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  for (const key of ['batch_input_shape', 'batchInputShape']) {
    const s = obj[key] as Shape | undefined;
    if (Array.isArray(s) && s.length === 4 && (s[1] === null || s[2] === null)) obj[key] = [s[0], h, w, s[3]];
  }
  for (const v of Object.values(obj)) fixShapes(v, h, w);
}

/**
 * The classifier with a fixed input size: `model` itself when its input size is known (a `window`
 * that disagrees with it is refused); otherwise rebuilt at `window` (or a Resizing's size right after
 * the input) with the same weights, and `model` is disposed.
 * @param window the size the model was trained at, pixels (square), when the user gave one
 * @throws ModelError naming the file when the size is unknown and none is given
 */
export async function withFixedInputSize(model: tf.LayersModel, file: string, window?: number): Promise<tf.LayersModel> {
  const [h, w] = spatial(model);
  if (model.inputs.length !== 1 || model.inputs[0].shape.length !== 4) return model;
  if (h !== null && w !== null) {
    if (window !== undefined && (window !== h || window !== w)) {
      throw new ModelError(file, `has a fixed ${h}×${w} input, so a window of ${window} px cannot be given to it (leave the window size out)`);
    }
    return model;
  }
  const size = window !== undefined ? [window, window] : resizingAtInput(model);
  if (size === null) {
    throw new ModelError(
      file,
      `${FREE_INPUT_SIZE} ([${model.inputs[0].shape.map((d) => d ?? 'null').join(', ')}]): give the size it was trained at (--window N)`,
    );
  }
  // The topology only (toJSON without weights), with the size written into every unknown input shape.
  const topology = model.toJSON(undefined, false) as unknown;
  fixShapes(topology, size[0], size[1]);
  let fixed: tf.LayersModel;
  try {
    fixed = await buildUntrusted(topology);
  } catch (e) {
    throw new ModelError(file, `cannot be built at ${size[0]}×${size[1]}: ${(e as Error).message.split('\n')[0]}`);
  }
  const weights = model.getWeights();
  try {
    fixed.setWeights(weights);
  } catch (e) {
    fixed.dispose();
    throw new ModelError(file, `weights do not fit the model rebuilt at ${size[0]}×${size[1]}: ${(e as Error).message.split('\n')[0]}`);
  }
  model.dispose();
  return fixed;
}
