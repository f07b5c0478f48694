import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { Conversion } from '../../main/convert/convert';

/** The wasm backend runs convolutions ~20× faster than the plain CPU one; tests use it. */
export async function useWasm(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
}

/**
 * VGG16's layout with few filters: blocks of 2, 2, 3, 3, 3 ReLU convs 3×3 (4, 6, 8, 8, 8 filters), each
 * block followed by a 2×2 max-pool; then Flatten → Dense 16 ReLU → Dropout 0.5 → `extraDense` more
 * Dense 16 ReLU → Dense 5 softmax. Input [inputSize, inputSize, 3]; tfjs's default initial weights
 * (randomizeWeights for seeded ones). The caller disposes it.
 */
export function vgg16Shaped(inputSize: number, padding: 'valid' | 'same', extraDense = 0): tf.Sequential {
  const model = tf.sequential({ name: `vgg16_${padding}` });
  const blocks: [number, number][] = [[2, 4], [2, 6], [3, 8], [3, 8], [3, 8]];
  let first = true;
  for (const [n, filters] of blocks) {
    for (let k = 0; k < n; k++) {
      model.add(tf.layers.conv2d({ filters, kernelSize: 3, padding, activation: 'relu', ...(first ? { inputShape: [inputSize, inputSize, 3] } : {}) }));
      first = false;
    }
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 16, activation: 'relu' }));
  model.add(tf.layers.dropout({ rate: 0.5 }));
  for (let k = 0; k < extraDense; k++) model.add(tf.layers.dense({ units: 16, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 5, activation: 'softmax' }));
  return model;
}

/**
 * A head that keeps BatchNormalization, for a trunk ending in a 2-D map: Flatten → Dense 8 (no bias) →
 * BatchNorm → ReLU → Dense 3 → BatchNorm (axis 1, no centre) → Softmax. Fresh layers on each call.
 */
export function batchNormHead(): tf.layers.Layer[] {
  return [
    tf.layers.flatten(),
    tf.layers.dense({ units: 8, useBias: false }),
    tf.layers.batchNormalization({}),
    tf.layers.activation({ activation: 'relu' }),
    tf.layers.dense({ units: 3 }),
    tf.layers.batchNormalization({ axis: 1, center: false }),
    tf.layers.softmax(),
  ];
}

/** Max |a − b| of two models' predictions on the same input. */
export function maxPredictionDiff(a: tf.LayersModel, b: tf.LayersModel, input: tf.Tensor): number {
  return tf.tidy(() => tf.abs(tf.sub(a.predict(input) as tf.Tensor, b.predict(input) as tf.Tensor)).max().dataSync()[0]);
}

/**
 * Replaces every weight of `model` (nested models included) with seeded random values:
 * He-normal kernels, small random biases/betas/moving means, gammas and moving variances in [0.5, 1.5].
 */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  model.weights.forEach((w, i) => {
    const shape = w.shape as number[];
    const name = w.originalName;
    tf.tidy(() => {
      let value: tf.Tensor;
      if (/moving_variance|gamma/.test(name)) value = tf.randomUniform(shape, 0.5, 1.5, 'float32', seed + i);
      else if (/bias|beta|moving_mean/.test(name)) value = tf.randomNormal(shape, 0, 0.3, 'float32', seed + i);
      else {
        const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        value = tf.randomNormal(shape, 0, Math.sqrt(2 / Math.max(fanIn, 1)), 'float32', seed + i);
      }
      w.write(value);
    });
  });
}

/** A seeded random image [1, h, w, c] in [0, 1]. */
export function randomImage(h: number, w: number, c: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([1, h, w, c], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/**
 * Independently of checkEquivalence: runs the fully convolutional model once on `image` and the
 * classifier on the crop of each listed cell, and returns the largest |cell − crop| and the largest
 * |crop| over those cells. Also checks the map has `expectedCells` rows × cols when given.
 */
export function compareCells(
  classifier: tf.LayersModel,
  conv: Conversion,
  image: tf.Tensor4D,
  cells: [number, number][],
  expectedCells?: [number, number],
): { maxAbs: number; scale: number; rows: number; cols: number } {
  const [wy, wx] = conv.window;
  const [sy, sx] = conv.stride;
  const c = image.shape[3];
  const rank3 = classifier.inputs[0].shape.length === 3;
  const out = tf.tidy(() => {
    const map = conv.fcn.predict(image) as tf.Tensor4D;
    const crops = tf.concat(cells.map(([i, j]) => image.slice([0, i * sy, j * sx, 0], [1, wy, wx, c])), 0);
    const scores = classifier.predict(rank3 ? crops.reshape([cells.length, wy, wx]) : crops) as tf.Tensor2D;
    const picked = tf.stack(cells.map(([i, j]) => map.slice([0, i, j, 0], [1, 1, 1, conv.classes]).reshape([conv.classes])));
    return { shape: map.shape, diff: tf.abs(tf.sub(picked, scores)).max(), scale: tf.abs(scores).max() };
  });
  const result = { maxAbs: out.diff.dataSync()[0], scale: out.scale.dataSync()[0], rows: out.shape[1], cols: out.shape[2] };
  tf.dispose([out.diff, out.scale]);
  if (expectedCells && (result.rows !== expectedCells[0] || result.cols !== expectedCells[1])) {
    throw new Error(`map is ${result.rows}×${result.cols}, expected ${expectedCells[0]}×${expectedCells[1]}`);
  }
  return result;
}

/** Every cell (i, j) of a rows × cols grid. */
export function allCells(rows: number, cols: number): [number, number][] {
  const cells: [number, number][] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) cells.push([i, j]);
  return cells;
}

/** Disposes a model's weights (nested models included). */
export function disposeModel(model: tf.LayersModel): void {
  model.dispose();
}
