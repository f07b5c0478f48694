import * as tf from '@tensorflow/tfjs';
import { gradeEquivalence, type EquivalenceReport, type PreprocessMode } from '../../core/model-info';
import { cellCount } from '../../core/scoremap';
import { preprocessValue } from '../../core/preprocess';
import { ModelError } from '../model/errors';
import type { Conversion } from './convert';

/** Tolerance, as a share of the output's scale ({@link outputScale}), below which a network without zero padding counts as exactly converted. */
export const EXACT_TOLERANCE = 1e-4;

/** Activations whose outputs lie in a range of width about 1 or 2 whatever the input. */
const BOUNDED = new Set(['sigmoid', 'softmax', 'hardSigmoid', 'keras3HardSigmoid', 'tanh', 'softsign', 'hardTanh']);

/** Whether the model's (first) output comes out of a bounded activation: sigmoid, softmax, tanh… */
export function boundedOutput(model: tf.LayersModel): boolean {
  let layer: tf.layers.Layer | undefined = (model.outputs[0] as tf.SymbolicTensor | undefined)?.sourceLayer as tf.layers.Layer | undefined;
  // A trailing Reshape/Flatten/Dropout keeps the range of what it reshapes.
  while (layer && ['Reshape', 'Flatten', 'Dropout'].includes(layer.getClassName())) {
    const inbound: { inputTensors: tf.SymbolicTensor[] } | undefined = (layer as unknown as { inboundNodes: { inputTensors: tf.SymbolicTensor[] }[] }).inboundNodes[0];
    layer = inbound?.inputTensors[0]?.sourceLayer as tf.layers.Layer | undefined;
  }
  if (!layer) return false;
  if (layer instanceof tf.LayersModel) return boundedOutput(layer);
  if (layer.getClassName() === 'Softmax') return true;
  const activation = (layer.getConfig() as { activation?: unknown }).activation;
  return typeof activation === 'string' && BOUNDED.has(activation);
}

/**
 * The scale differences are measured against: the largest |output| seen, and at least 1 for an
 * output of a bounded activation (a sigmoid's probabilities near 0 must not make float error look
 * big: 1.7e-6 absolute on outputs of at most 0.01 is not a 1.7e-4 error).
 */
export function outputScale(model: tf.LayersModel, largestSeen: number): number {
  return Math.max(largestSeen, boundedOutput(model) ? 1 : 1e-12);
}

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

/** Fewest cells per axis of the check; a model is checked on at least this many squared. */
export const MIN_CELLS_PER_AXIS = 3;
/** Most cells per axis: 6 × 6 = 36 cells for a model small enough to afford them. */
export const MAX_CELLS_PER_AXIS = 6;
/**
 * Multiply-adds all crops of the check may cost together: 36 cells of a MobileNetV2 at 224 × 224
 * (0.3 G each) fit, a VGG16 (15.5 G a crop) gets the minimum. Deterministic, unlike a timed budget.
 */
export const CHECK_MAC_BUDGET = 12e9;

/**
 * Multiply-adds of one classifier pass on one window, estimated from each layer's weights times
 * its output's spatial size (exact for convolutions and Dense; a lower bound otherwise).
 */
export function macsPerWindow(classifier: tf.LayersModel): number {
  let total = 0;
  const visit = (layers: tf.layers.Layer[]): void => {
    for (const layer of layers) {
      const inner = (layer as Partial<tf.LayersModel>).layers;
      if (Array.isArray(inner)) {
        visit(inner);
        continue;
      }
      const params = layer.countParams();
      if (params === 0) continue;
      const shape = layer.outputShape;
      const out = (Array.isArray(shape[0]) ? shape[0] : shape) as (number | null)[];
      const spatial = out.length === 4 ? Number(out[1] ?? 1) * Number(out[2] ?? 1) : 1;
      total += params * spatial;
    }
  };
  visit(classifier.layers);
  return total;
}

/**
 * Cells per axis of the check: as many as {@link CHECK_MAC_BUDGET} allows, between
 * {@link MIN_CELLS_PER_AXIS} and {@link MAX_CELLS_PER_AXIS}.
 */
export function defaultCellsPerAxis(classifier: tf.LayersModel): number {
  const macs = Math.max(macsPerWindow(classifier), 1);
  const n = Math.floor(Math.sqrt(CHECK_MAC_BUDGET / macs));
  return Math.min(MAX_CELLS_PER_AXIS, Math.max(MIN_CELLS_PER_AXIS, n));
}

/**
 * A deterministic image that looks more like a photo than white noise does: per channel, smooth
 * random fields at two scales (a few and a dozen bumps across the image, bilinearly interpolated),
 * a gradient and a little fine noise, in [0, 1]. Classifiers respond to such structure; on white
 * noise most give one flat answer everywhere and every cell "agrees".
 * @param preprocess how the model's input values come from pixels (default 'unit': the [0, 1] image as is);
 *   the pixels are the image × 255, mapped as the engine maps a photo's
 * @returns [1, height, width, channels] model input values
 */
export function smoothRandomImage(height: number, width: number, channels: number, seed: number, preprocess: PreprocessMode = 'unit'): tf.Tensor4D {
  return tf.tidy(() => {
    const field = (cells: number, s: number): tf.Tensor4D => {
      const coarse = tf.randomUniform([1, Math.max(2, Math.round(height / cells)), Math.max(2, Math.round(width / cells)), channels], 0, 1, 'float32', s) as tf.Tensor4D;
      return tf.image.resizeBilinear(coarse, [height, width], true);
    };
    const ramp = tf.linspace(0, 1, height).reshape([1, height, 1, 1]).mul(tf.linspace(0, 1, width).reshape([1, 1, width, 1]))
      .mul(tf.randomUniform([1, 1, 1, channels], -1, 1, 'float32', seed + 3));
    const noise = tf.randomUniform([1, height, width, channels], -1, 1, 'float32', seed + 4);
    const image = field(48, seed).mul(0.55).add(field(12, seed + 1).mul(0.3)).add(ramp.mul(0.1)).add(noise.mul(0.05)).add(0.05);
    // Every mode is affine in the pixel value: per channel, value = a·pixel + b.
    const ch = (c: number): 0 | 1 | 2 | 'luma' => (channels === 1 ? 'luma' : (Math.min(c, 2) as 0 | 1 | 2));
    const b = Array.from({ length: channels }, (_, c) => preprocessValue(0, preprocess, ch(c)));
    const a = Array.from({ length: channels }, (_, c) => preprocessValue(255, preprocess, ch(c)) - b[c]);
    return image.clipByValue(0, 1).mul(tf.tensor1d(a)).add(tf.tensor1d(b)) as tf.Tensor4D;
  });
}

/**
 * The classifier's scores of crops [n, wy, wx, c] in tfjs: output `outputIndex` of a multi-output
 * model, [n, classes]; a rank-3 input ([batch, h, w]) gets the crops without their channel axis.
 */
export function tfjsCrops(classifier: tf.LayersModel, outputIndex: number, batch: tf.Tensor4D): tf.Tensor {
  return tf.tidy(() => {
    const [n, wy, wx] = batch.shape;
    const predicted = classifier.predict(classifier.inputs[0].shape.length === 3 ? batch.reshape([n, wy, wx]) : batch);
    return Array.isArray(predicted) ? predicted[outputIndex] : predicted;
  });
}

/**
 * Runs the classifier on every crop of a smooth random image ({@link smoothRandomImage}) and the
 * converted model once on the whole image, and compares each cell with its crop.
 * The image is window + k·stride pixels per axis, so there are (k + 1)² cells (`cellsChecked`).
 * @param classifier original model, input [batch, wy, wx(, c)]
 * @param cellsPerAxis k + 1, default {@link defaultCellsPerAxis} (3 to 6, by the model's cost)
 * @param preprocess the model's input mapping, so the image is in the range its photos are (default 'unit')
 */
export async function checkEquivalence(
  classifier: tf.LayersModel,
  conv: Conversion,
  file: string,
  opts: {
    cellsPerAxis?: number; seed?: number; preprocess?: PreprocessMode;
    /**
     * Runs the classifier on a batch of crops [n, wy, wx, c] in place of tfjs (ONNX Runtime, see
     * main/onnx/crops.ts), giving the converted output's scores [n, classes].
     */
    predictCrops?: (batch: tf.Tensor4D) => Promise<tf.Tensor>;
    /** The model reads whole pixel values (a uint8 input): the image is rounded, as photos' pixels are. */
    integerInput?: boolean;
    /**
     * Runs the converted model on the whole image [1, height, width, c] in place of tfjs (ONNX
     * Runtime on the converted model's ONNX file), giving its scores [1, rows, cols, classes]; called
     * once, before the first crop.
     */
    predictWhole?: (image: tf.Tensor4D) => Promise<tf.Tensor>;
  } = {},
): Promise<EquivalenceReport> {
  const k = (opts.cellsPerAxis ?? defaultCellsPerAxis(classifier)) - 1;
  const [wy, wx] = conv.window;
  const [sy, sx] = conv.stride;
  const ny = wy + k * sy;
  const nx = wx + k * sx;
  const rows = cellCount(ny, wy, sy);
  const cols = cellCount(nx, wx, sx);
  const smooth = smoothRandomImage(ny, nx, conv.channels, opts.seed ?? 42, opts.preprocess);
  const image = opts.integerInput ? tf.tidy(() => smooth.round() as tf.Tensor4D) : smooth;
  if (image !== smooth) smooth.dispose();

  let fcnOut: tf.Tensor | undefined;
  const outs: tf.Tensor[] = [];
  try {
    fcnOut = opts.predictWhole ? await opts.predictWhole(image) : tf.tidy(() => conv.fcn.predict(image) as tf.Tensor);
    // Crops in batches of one row of cells: 36 windows of a big model at once would need GBs.
    for (let i = 0; i < rows; i++) {
      const batch = tf.tidy(() => tf.concat(Array.from({ length: cols }, (_, j) => image.slice([0, i * sy, j * sx, 0], [1, wy, wx, conv.channels])), 0) as tf.Tensor4D);
      try {
        outs.push(opts.predictCrops ? await opts.predictCrops(batch) : tfjsCrops(classifier, conv.outputIndex, batch));
      } finally {
        batch.dispose();
      }
    }
  } catch (err) {
    tf.dispose([...(fcnOut ? [fcnOut] : []), image, ...outs]);
    throw err;
  }
  const whole = fcnOut;
  const cropOut = tf.concat(outs, 0);
  tf.dispose([image, ...outs]);
  try {
    const [, r, c, classes] = whole.shape;
    if (r !== rows || c !== cols || classes !== conv.classes) {
      throw new ModelError(file, `converted model gives ${r}×${c}×${classes} cells on a ${ny}×${nx} input, expected ${rows}×${cols}×${conv.classes}: stride or padding not understood`);
    }
    const a = (await whole.data()) as Float32Array;
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
    const range = outputScale(conv.fcn, scale);
    const maxRel = maxAbs / range;
    const meanAbs = b.length > 0 ? sumAbs / b.length : 0;
    const meanRel = meanAbs / range;
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
    const strideExceedsWindow = sy > wy || sx > wx;
    const grade = gradeEquivalence({ exact, topClassMismatch: mismatch, meanRelDiff: meanRel, strideExceedsWindow });
    let notRepresentative: string | undefined;
    if (strideExceedsWindow) {
      notRepresentative = `the network's stride (${sy}×${sx} px) exceeds its window (${wy}×${wx} px): cells do not overlap and some pixels lie in no cell`;
    } else if (grade === 'not representative') {
      notRepresentative = `the top class differs from the crop's in ${(mismatch * 100).toFixed(1)}% of the cells checked (more than half)`;
    }
    return {
      maxAbsDiff: maxAbs, maxRelDiff: maxRel, cellsChecked: rows * cols, inputSize: [ny, nx], exact, ...(note ? { note } : {}),
      meanAbsDiff: meanAbs, meanRelDiff: meanRel, topClassMismatch: mismatch, ...(notRepresentative ? { notRepresentative } : {}),
      grade,
    };
  } finally {
    tf.dispose([whole, cropOut]);
  }
}
