import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { expect, it } from 'vitest';
import { exportConverted } from '../../main/onnx/convert';
import { exportOnnx } from '../../main/onnx/export';
import { prepareModel } from '../../main/services/models';
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

/** How an ONNX file's input holds an image. */
export type Layout = 'nchw' | 'nhwc' | 'flat';

/** Scores of the original file for each NHWC crop, fed in the file's own layout and element type. */
export async function originalScores(file: string, crops: Float32Array[], hwc: [number, number, number], layout: Layout, type: 'float32' | 'float64' | 'uint8' = 'float32', output?: string): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const [h, w, c] = hwc;
    const out: Float32Array[] = [];
    for (const crop of crops) {
      let data = crop;
      if (layout === 'nchw') {
        data = new Float32Array(crop.length);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) data[(k * h + y) * w + x] = crop[(y * w + x) * c + k];
      }
      const dims = layout === 'nchw' ? [1, c, h, w] : layout === 'flat' ? [1, h * w * c] : [1, h, w, c];
      const values = type === 'uint8' ? Uint8Array.from(data) : type === 'float64' ? Float64Array.from(data) : data;
      const name = output ?? session.outputNames[0];
      const y = await session.run({ [session.inputNames[0]]: new ort.Tensor(type, values, dims) }, [name]);
      out.push(Float32Array.from(y[name].data as ArrayLike<number>));
    }
    return out;
  } finally {
    await session.release();
  }
}

export function crop(image: Float32Array, width: number, c: number, top: number, left: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) out.set(image.subarray(((top + y) * width + left) * c, ((top + y) * width + left + w) * c), y * w * c);
  return out;
}

/** Largest |a − b| over the largest |b|. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return maxAbs / Math.max(scale, 1e-12);
}

/** Converts `target` (file or folder) and returns the converted ONNX bytes with the geometry. */
export async function convert(target: string, opts: { preprocess?: 'unit' | 'raw'; stride?: number; window?: number } = {}) {
  const prepared = await prepareModel(target, { preprocess: opts.preprocess ?? 'unit', ...(opts.stride ? { stride: opts.stride } : {}), ...(opts.window ? { window: opts.window } : {}) });
  const { bytes } = await exportConverted(prepared.artifacts, prepared.info, target);
  return { bytes, info: prepared.info };
}

/**
 * Every cell of the converted model (a bare ONNX Runtime session on its bytes) on a random image of
 * `cells` per axis, against the original file on the crop of that cell.
 */
export async function cellsAgainstCrops(target: string, file: string, layout: Layout, cells: number, type?: 'float32' | 'float64' | 'uint8', stride?: number, window?: number) {
  const { bytes, info } = await convert(target, { preprocess: type === 'uint8' ? 'raw' : 'unit', stride, window });
  const [wh, ww] = info.window;
  const [sy, sx] = info.stride;
  const c = info.channels;
  const [H, W] = [wh + (cells - 1) * sy, ww + (cells - 1) * sx];
  const image = tf.tidy(() => (type === 'uint8' ? tf.randomUniform([1, H, W, c], 0, 256, 'int32', 3).toFloat() : tf.randomUniform([1, H, W, c], 0, 1, 'float32', 3)) as tf.Tensor4D);
  const pixels = image.dataSync() as Float32Array;
  const got = await ortRun(bytes, image);
  image.dispose();
  expect(got.dims.slice(1, 3)).toEqual([cells, cells]);
  const classes = got.dims[3];
  const crops: Float32Array[] = [];
  for (let r = 0; r < cells; r++) for (let q = 0; q < cells; q++) crops.push(crop(pixels, W, c, r * sy, q * sx, wh, ww));
  const want = await originalScores(file, crops, [wh, ww, c], layout, type);
  const cellScores = crops.map((_, i) => got.data.subarray(i * classes, (i + 1) * classes));
  return { info, diffs: want.map((w, i) => relDiff(cellScores[i], w)) };
}

/**
 * One test per fixture: every cell of its conversion (3×3 cells) within 1e-4 of ONNX Runtime running
 * the fixture on that cell's crop.
 * @param cases [fixture file name in `dir` without ".onnx", what it holds (the test's name)]
 */
export function itMatchesCropsEach(dir: string, cases: readonly (readonly [string, string])[]): void {
  for (const [name, what] of cases) {
    it(`${what}: every cell equals the original file on its crop`, async () => {
      const file = path.join(dir, `${name}.onnx`);
      const { diffs } = await cellsAgainstCrops(file, file, 'nchw', 3);
      expect(diffs).toHaveLength(9);
      expect(Math.max(...diffs)).toBeLessThan(1e-4);
    }, 60_000);
  }
}
