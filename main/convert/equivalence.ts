import * as tf from '@tensorflow/tfjs';
import { gradeEquivalence, type EquivalenceReport } from '../../core/model-info';
import { cellCount } from '../../core/scoremap';
import { ModelError } from '../model/errors';
import type { Conversion } from './convert';

/** Relative tolerance below which a network without zero padding counts as exactly converted. */
export const EXACT_TOLERANCE = 1e-4;

/** Share of cells whose highest-scoring class differs; `a` and `b` are [cells, classes] row-major. */
export function topClassMismatch(a: Float32Array, b: Float32Array, classes: number): number {
  const cells = Math.floor(b.length / classes);
  if (cells === 0) return 0;
  const argmax = (v: Float32Array, at: number): number => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (v[at + k] > v[at + best]) best = k;
    return best;
  };
  let differ = 0;
  for (let c = 0; c < cells; c++) if (argmax(a, c * classes) !== argmax(b, c * classes)) differ++;
  return differ / cells;
}

/**
 * Runs the classifier on every crop of a random image and the converted model once on the whole
 * image, and compares each cell with its crop.
 * The image is window + k·stride pixels per axis, so there are (k + 1)² cells.
 * @param classifier original model, input [batch, wy, wx(, c)]
 * @param cellsPerAxis k + 1, default 3
 */
export async function checkEquivalence(
  classifier: tf.LayersModel,
  conv: Conversion,
  file: string,
  opts: { cellsPerAxis?: number; seed?: number } = {},
): Promise<EquivalenceReport> {
  const k = (opts.cellsPerAxis ?? 3) - 1;
  const [wy, wx] = conv.window;
  const [sy, sx] = conv.stride;
  const ny = wy + k * sy;
  const nx = wx + k * sx;
  const rows = cellCount(ny, wy, sy);
  const cols = cellCount(nx, wx, sx);
  const inputShape = classifier.inputs[0].shape;

  const [fcnOut, cropOut] = tf.tidy(() => {
    const image = tf.randomUniform([1, ny, nx, conv.channels], 0, 1, 'float32', opts.seed ?? 42);
    const whole = conv.fcn.predict(image) as tf.Tensor;
    const crops: tf.Tensor[] = [];
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) crops.push(image.slice([0, i * sy, j * sx, 0], [1, wy, wx, conv.channels]));
    }
    let batch = tf.concat(crops, 0);
    if (inputShape.length === 3) batch = batch.reshape([rows * cols, wy, wx]);
    const predicted = classifier.predict(batch);
    return [whole, Array.isArray(predicted) ? predicted[conv.outputIndex] : predicted];
  });
  try {
    const [, r, c, classes] = fcnOut.shape;
    if (r !== rows || c !== cols || classes !== conv.classes) {
      throw new ModelError(file, `converted model gives ${r}×${c}×${classes} cells on a ${ny}×${nx} input, expected ${rows}×${cols}×${conv.classes}: stride or padding not understood`);
    }
    const a = (await fcnOut.data()) as Float32Array;
    const b = (await cropOut.data()) as Float32Array;
    let maxAbs = 0;
    let sumAbs = 0;
    let scale = 0;
    for (let i = 0; i < b.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      maxAbs = Math.max(maxAbs, d);
      sumAbs += d;
      scale = Math.max(scale, Math.abs(b[i]));
    }
    const maxRel = maxAbs / Math.max(scale, 1e-12);
    const meanAbs = b.length > 0 ? sumAbs / b.length : 0;
    const meanRel = meanAbs / Math.max(scale, 1e-12);
    const mismatch = topClassMismatch(a, b, classes);
    const padded = conv.paddedLayers.length > 0;
    const exact = !padded && maxRel <= EXACT_TOLERANCE;
    let note: string | undefined;
    if (padded) {
      note = `${conv.paddedLayers.length} layer(s) pad with zeros or pool globally (${conv.paddedLayers.slice(0, 4).join(', ')}${conv.paddedLayers.length > 4 ? ', …' : ''}): ` +
        'a crop sees zeros at its border where the whole image has real pixels, so cells differ from crops near window borders';
    } else if (!exact) {
      note = `no zero padding, but the difference exceeds ${EXACT_TOLERANCE}: the conversion is wrong for this model`;
    }
    return {
      maxAbsDiff: maxAbs, maxRelDiff: maxRel, cellsChecked: rows * cols, inputSize: [ny, nx], exact, ...(note ? { note } : {}),
      meanAbsDiff: meanAbs, meanRelDiff: meanRel, topClassMismatch: mismatch,
      grade: gradeEquivalence({ exact, topClassMismatch: mismatch, meanRelDiff: meanRel }),
    };
  } finally {
    tf.dispose([fcnOut, cropOut]);
  }
}
