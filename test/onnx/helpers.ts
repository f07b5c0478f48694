import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { exportOnnx } from '../../main/onnx/export';
import { randomImage } from '../helpers/models';

/** Scores of `image` [1, h, w, c] through a bare ONNX Runtime session on the bytes (no Convmap code). */
export async function ortRun(bytes: Uint8Array, image: tf.Tensor4D): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const input = new ort.Tensor('float32', Float32Array.from(image.dataSync()), image.shape);
    const out = await session.run({ [session.inputNames[0]]: input });
    const y = out[session.outputNames[0]];
    return { data: y.data as Float32Array, dims: y.dims };
  } finally {
    await session.release();
  }
}

/**
 * Largest |ONNX − tfjs| over the largest |tfjs| on a seeded random image of each size; also checks
 * that both give the same output shape.
 */
export async function relativeDiffs(model: tf.LayersModel, bytes: Uint8Array, sizes: [number, number][], seed = 5): Promise<number[]> {
  const c = model.inputs[0].shape[3] as number;
  const out: number[] = [];
  for (const [h, w] of sizes) {
    const image = randomImage(h, w, c, seed + h * 7 + w);
    const want = tf.tidy(() => model.predict(image) as tf.Tensor);
    const got = await ortRun(bytes, image);
    const expected = want.dataSync();
    if (got.dims.join() !== want.shape.join()) throw new Error(`ONNX gives [${got.dims.join(', ')}], tfjs [${want.shape.join(', ')}] on ${h}×${w}`);
    let maxAbs = 0;
    let scale = 0;
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(got.data[i] - expected[i]);
      maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    tf.dispose([image, want]);
    out.push(maxAbs / Math.max(scale, 1e-12));
  }
  return out;
}

/** A seeded uniform random input: shape [1, h, w, c], values in [0, max). */
export interface RandomInput {
  shape: [number, number, number, number];
  max: number;
  seed: number;
}

/**
 * Expects the ONNX export of a converted model, run by ONNX Runtime on a seeded random image, to give
 * tfjs's prediction: the same shape, every score within `tolerance` × max(1, largest |score|).
 */
export async function expectOnnxMatchesTfjs(fcn: tf.LayersModel, file: string, input: RandomInput, tolerance = 1e-4): Promise<void> {
  const image = tf.randomUniform(input.shape, 0, input.max, 'float32', input.seed) as tf.Tensor4D;
  try {
    const want = tf.tidy(() => fcn.predict(image) as tf.Tensor);
    const shape = want.shape;
    const w = want.dataSync();
    want.dispose();
    const got = await ortRun(exportOnnx(fcn, file).bytes, image);
    expect(got.dims).toEqual(shape);
    let scale = 1;
    for (const v of w) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - w[i]) / scale);
    expect(worst).toBeLessThanOrEqual(tolerance);
  } finally {
    image.dispose();
  }
}
