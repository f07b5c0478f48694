/**
 * Runtime check of an exported model: ONNX Runtime against the tfjs FCN on the same random image.
 */
import * as tf from '@tensorflow/tfjs';
import { boundedOutput } from '../convert/equivalence';
import { ModelError } from '../model/errors';
import { exportOnnx, type LayerOutput } from './export';
import { DataType, decodeModel, encodeModel } from './proto';
import { createSession, loadOrt } from '../ort/runtime';
import { oneOffSession } from './one-off-session';
import { scoreDifference } from '../model/onnx/original';

/**
 * Tolerance of the ONNX check: largest |ONNX − tfjs| over the output's scale (the largest |tfjs|,
 * at least 1 for sigmoid/softmax/tanh outputs: see outputScale).
 */
export const ONNX_TOLERANCE = 1e-4;

/** Measured agreement of the ONNX model with the tfjs FCN. */
export interface OnnxCheck {
  maxAbsDiff: number;
  maxRelDiff: number;
  /** Size of the random test image [height, width]. */
  inputSize: [number, number];
}


/** NCHW (or [N, C, 1, 1]) data of an ONNX tensor as tfjs's NHWC order. */
function toNhwc(data: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims;
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) out[((b * h + y) * w + x) * c + k] = data[((b * c + k) * h + y) * w + x];
      }
    }
  }
  return out;
}

/**
 * Runs every layer in both runtimes on `image` and returns the first (in topological order) whose
 * outputs differ by more than the tolerance.
 */
async function firstDifferingLayer(fcn: tf.LayersModel, onnx: Uint8Array, file: string, image: tf.Tensor4D): Promise<{ layer: LayerOutput; maxRel: number } | undefined> {
  const ort = await loadOrt();
  // The tensors each layer writes, by the exporter's (deterministic) naming, exposed as outputs of the model under test.
  const byName = new Map(fcn.layers.map((l) => [l.name, l]));
  const checked = exportOnnx(fcn, file).layers.filter((l) => byName.get(l.layer)?.inboundNodes.length === 1);
  const proto = decodeModel(onnx);
  const known = new Set(proto.graph.node.flatMap((n) => n.output));
  const probed = checked.filter((l) => known.has(l.tensor));
  for (const l of probed) proto.graph.output.push({ name: l.tensor, elemType: DataType.FLOAT, shape: l.rank === 4 ? [null, null, null, null] : [null, null, 1, 1] });
  const { session } = await createSession(encodeModel(proto), { device: 'cpu' });
  try {
    const feeds = { image: new ort.Tensor('float32', image.dataSync() as Float32Array, image.shape) };
    const result = await session.run(feeds, probed.map((l) => l.tensor));
    const probe = tf.model({ inputs: fcn.inputs, outputs: probed.map((l) => byName.get(l.layer)?.output as tf.SymbolicTensor) });
    const outs = tf.tidy(() => {
      const y = probe.predict(image);
      return Array.isArray(y) ? y : [y];
    });
    try {
      for (let i = 0; i < probed.length; i++) {
        const o = result[probed[i].tensor];
        const dims = o.dims.length === 4 ? o.dims : [o.dims[0], o.dims[1], 1, 1];
        const { maxRel } = scoreDifference(toNhwc(o.data as Float32Array, dims), outs[i].dataSync() as Float32Array);
        if (!(maxRel <= ONNX_TOLERANCE)) return { layer: probed[i], maxRel };
      }
      return undefined;
    } finally {
      tf.dispose(outs);
    }
  } finally {
    await session.release();
  }
}

/**
 * Compares the ONNX model with the tfjs FCN on one seeded random image, every cell and class.
 * @param size test image [height, width]; callers pass at least twice the window
 * @throws ModelError naming the first layer whose outputs differ when the scores differ by more
 *   than {@link ONNX_TOLERANCE} relative
 */
export async function checkOnnx(fcn: tf.LayersModel, onnx: Uint8Array, file: string, size: [number, number], seed = 11): Promise<OnnxCheck> {
  const ort = await loadOrt();
  const channels = fcn.inputs[0].shape[3] as number;
  const image = tf.randomUniform([1, size[0], size[1], channels], 0, 1, 'float32', seed) as tf.Tensor4D;
  try {
    const expected = tf.tidy(() => (fcn.predict(image) as tf.Tensor).dataSync() as Float32Array);
    let actual: Float32Array;
    try {
      const { session } = await oneOffSession(onnx, { device: 'cpu' });
      try {
        const out = await session.run({ image: new ort.Tensor('float32', image.dataSync() as Float32Array, image.shape) });
        actual = out.scores.data as Float32Array;
      } finally {
        await session.release();
      }
    } catch (e) {
      if (e instanceof ModelError) throw e;
      // ONNX Runtime's own text can span lines and names no file: its first line, after ours.
      throw new ModelError(file, `ONNX Runtime could not run the exported model: ${String((e as Error).message ?? e).split('\n')[0]}`);
    }
    if (actual.length !== expected.length) {
      throw new ModelError(file, `the ONNX model gives ${actual.length} scores on a ${size[0]}×${size[1]} image, the tfjs model ${expected.length}`);
    }
    const { maxAbs, maxRel } = scoreDifference(actual, expected, boundedOutput(fcn));
    if (!(maxRel <= ONNX_TOLERANCE)) {
      const first = await firstDifferingLayer(fcn, onnx, file, image);
      const where = first
        ? { name: first.layer.layer, className: first.layer.className }
        : undefined;
      throw new ModelError(
        file,
        `the ONNX model differs from the tfjs model by ${maxRel.toExponential(2)} of the output's scale (> ${ONNX_TOLERANCE}) on a ${size[0]}×${size[1]} image`
          + (first ? `; this layer is the first whose outputs differ (${first.maxRel.toExponential(2)})` : ''),
        where,
      );
    }
    return { maxAbsDiff: maxAbs, maxRelDiff: maxRel, inputSize: size };
  } finally {
    image.dispose();
  }
}
