/**
 * Finer score maps: the "à trous" rewrite of a fully convolutional model (OverFeat's offset pooling,
 * DeepLab's atrous convolution, CS231n's shifted passes done in one pass).
 *
 * A network of total stride s gives one cell every s pixels. To get one every S = s/k pixels, the
 * last strided layers (pooling or strided convolutions) lose the factor k from their strides, and
 * every window after them (convolutions, pooling, the k×k convolution the Dense head became) is
 * dilated by the factor removed before it. Cell (i, j) of the rewritten model is then the
 * classifier on the crop at (i·S, j·S), exactly for valid-padding networks.
 *
 * In tensor terms: a tensor at cumulative stride P in the original model sits at stride
 * P' = min(P, S) in the rewritten one, and is D = P / P' times denser. A layer keeps its stride
 * while its input is at P < S, takes the stride that lands its output on S when it crosses S, and
 * runs at stride 1 with its window dilated by D once its input is at S. No layer is both strided and
 * dilated, which tfjs convolutions do not allow.
 *
 * tfjs has no dilated pooling layer and its DepthwiseConv2D layer ignores `dilationRate`, so windows
 * that must be dilated are built from standard layers that tfjs, its serialisation and ONNX all
 * know: pooling is separable, so a dilated p×q pool becomes, per axis, a Maximum (or Average) of the
 * p shifted crops (Cropping2D) that are its taps — no arithmetic on the values for max pooling; a
 * dilated DepthwiseConv2D becomes a SeparableConv2D (which honours `dilationRate`) with the same
 * depthwise kernel and an identity pointwise kernel.
 */
import '../model/keras-layers';
import * as tf from '@tensorflow/tfjs';
import type { ConvertedModelInfo } from '../../core/model-info';
import { cellCount } from '../../core/scoremap';
import { modelToArtifacts } from '../model/artifacts';
import { ModelError } from '../model/errors';
import { pair } from '../model/layer-config';
import type { Conversion } from './convert';
import { flattenModel, type FlatNode } from './graph';
import { LayerFactory } from './layer-factory';
import { CONVS, cumulativeStrides, ownStride, POOLS } from './strides';

type Config = Record<string, unknown>;
type Pair = [number, number];

/** A conversion whose cells are `stride` apart while the network's own stride is `networkStride`. */
export interface FineConversion extends Conversion {
  /** Total stride of the network before the rewrite [sy, sx]; `stride` is the cells' spacing. */
  networkStride: Pair;
  /** One line per rewritten layer: what changed. Empty when the stride was the network's. */
  rewrite: string[];
}

/** Layers that see one location at a time or merge equal-sized maps: any density passes through. */
const POINTWISE = new Set([
  'Dropout', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'SpatialDropout2D', 'ActivityRegularization',
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'PReLU', 'Rescaling', 'Softmax', 'BatchNormalization',
  'LayerNormalization', 'Dense', 'Add', 'Multiply', 'Concatenate', 'Average', 'Maximum', 'Minimum', 'Subtract', 'InputLayer', 'ConvmapLRN', 'ConvmapPow', 'ConvmapChannelReduce',
  // Global pooling reads the whole map whatever its density; a trunk holding one is not exact anyway.
  'GlobalAveragePooling2D', 'GlobalMaxPooling2D',
]);

function layerRef(node: FlatNode): { name: string; className: string } {
  return { name: node.layer.name, className: node.className };
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = n; d >= 1; d--) if (n % d === 0) out.push(d);
  return out;
}

/** The model's flattened graph and the cumulative stride of its every tensor (strides.ts). */
function graphStrides(fcn: tf.LayersModel): { graph: ReturnType<typeof flattenModel>; strides: Map<number, Pair> } {
  const graph = flattenModel(fcn);
  return { graph, strides: cumulativeStrides(graph) };
}

/**
 * Spatial size [h, w] of every tensor when the model runs on one window (a crop), by tensor id:
 * what a 'same'-padded layer's padding depends on (tfjs pads a strided layer by its input's parity).
 */
function windowSizes(graph: ReturnType<typeof flattenModel>, window: Pair, channels: number): Map<number, Pair> {
  const shapes = new Map<number, tf.Shape>(graph.inputs.map((i) => [i, [1, window[0], window[1], channels]]));
  const sizes = new Map<number, Pair>(graph.inputs.map((i) => [i, [...window] as Pair]));
  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => shapes.get(i) as tf.Shape);
    const out = node.layer.computeOutputShape(ins.length === 1 ? ins[0] : ins) as tf.Shape | tf.Shape[];
    const shape = (Array.isArray(out[0]) ? out[0] : out) as tf.Shape;
    node.outputs.forEach((o) => {
      shapes.set(o, shape);
      if (shape.length === 4) sizes.set(o, [Number(shape[1]), Number(shape[2])]);
    });
  }
  return sizes;
}

/**
 * The zero padding [[top, bottom], [left, right]] that makes a layer run with `valid` padding at its
 * new stride and dilation see what the original 'same' layer saw on a crop. tfjs pads a 'same' layer
 * by total = max((ceil(n/s) − 1)·s + extent − n, 0), top = floor(total / 2): for k = 3, s = 2 that is
 * (0, 1) on an even input and (1, 1) on an odd one, (1, 1) at stride 1. The crop's top/left pad
 * (n = the layer's input size on one window; the engine feeds window + k·stride pixels, which keeps
 * every strided layer's parity) is kept, times the input's density `din`; the bottom/right pad fills
 * the new extent so the output is as long as 'same' would make it.
 */
function alignedPadding(n: Pair, size: Pair, dil: Pair, stride: Pair, din: Pair, newExtent: Pair): [Pair, Pair] {
  const axis = (a: 0 | 1): Pair => {
    const extent = (size[a] - 1) * dil[a] + 1;
    const total = Math.max((Math.ceil(n[a] / stride[a]) - 1) * stride[a] + extent - n[a], 0);
    const top = Math.floor(total / 2) * din[a];
    return [top, Math.max(newExtent[a] - 1 - top, 0)];
  };
  return [axis(0), axis(1)];
}

/** Whether cells `target` apart along one axis can be reached: see the module comment. */
function reachable(graph: ReturnType<typeof flattenModel>, strides: Map<number, Pair>, axis: 0 | 1, target: number): boolean {
  for (const node of graph.nodes) {
    const pin = (strides.get(node.inputs[0]) ?? [1, 1])[axis];
    const pout = (strides.get(node.outputs[0]) ?? [1, 1])[axis];
    if (pin >= target && pin % target !== 0) return false;
    if (pin < target && pout > target && (target % pin !== 0 || pout % target !== 0)) return false;
  }
  return true;
}

/**
 * Cell spacings (pixels, same on both axes) the rewrite can give for this fully convolutional
 * model, largest first: divisors S of the network stride such that a layer's stride can be split
 * where the cumulative stride crosses S (a stride-3 pool cannot give half of its factor).
 * @param fcn the converted model, input [batch, null, null, channels]
 */
export function possibleStrides(fcn: tf.LayersModel): number[] {
  const { graph, strides } = graphStrides(fcn);
  const [sy, sx] = strides.get(graph.outputs[0]) ?? [1, 1];
  return divisors(sy).filter((d) => sx % d === 0 && reachable(graph, strides, 0, d) && reachable(graph, strides, 1, d));
}


/**
 * Rewrites a converted model so its cells are `target` pixels apart instead of the network's stride.
 * The input conversion is left untouched (its model is not disposed); the result owns a new model.
 * @param conv output of convertClassifier (or a saved FCN wrapped as a Conversion)
 * @param target cell spacing in input pixels, on both axes; must be in {@link possibleStrides}
 * @param file used in error messages
 * @throws ModelError when `target` is not a possible stride (the message lists those that are)
 */
export function refineStride(conv: Conversion, target: number, file: string): FineConversion {
  const { graph, strides } = graphStrides(conv.fcn);
  const up = graph.nodes.find((n) => n.className === 'UpSampling2D');
  if (up && !(target === conv.stride[0] && target === conv.stride[1])) {
    throw new ModelError(file, `stride ${target} is not possible: the map is upsampled inside the network, and only its own cell spacing ${conv.stride.join('×')} matches crops`, layerRef(up));
  }
  const network = strides.get(graph.outputs[0]) ?? [1, 1];
  const possible = possibleStrides(conv.fcn);
  if (!Number.isInteger(target) || !possible.includes(target)) {
    const why = network[0] % target === 0 && network[1] % target === 0 && Number.isInteger(target)
      ? `a layer's stride cannot be split there`
      : `it does not divide the network's stride ${network[0] === network[1] ? network[0] : network.join('×')}`;
    throw new ModelError(file, `stride ${target} is not possible (${why}); possible strides: ${possible.join(', ')}`);
  }
  if (network[0] !== conv.stride[0] || network[1] !== conv.stride[1]) {
    throw new ModelError(file, `the model's layers give stride ${network.join('×')} but the conversion says ${conv.stride.join('×')}`);
  }
  if (target === network[0] && target === network[1]) return { ...conv, networkStride: [...network], rewrite: [] };

  const builder = new LayerFactory(conv.fcn.layers.map((l) => l.name), false);
  try {
    return build(conv, target, file, builder, graph, strides, network);
  } catch (e) {
    builder.discard();
    throw e;
  }
}

function build(
  conv: Conversion, target: number, file: string, builder: LayerFactory,
  graph: ReturnType<typeof flattenModel>, strides: Map<number, Pair>, network: Pair,
): FineConversion {
  const fine = (p: Pair): Pair => [Math.min(p[0], target), Math.min(p[1], target)];
  const input = tf.input({ shape: [null, null, conv.channels], name: builder.unique('image') });
  const env = new Map<number, tf.SymbolicTensor>([[graph.inputs[0], input]]);
  const rewrite: string[] = [];
  const crop = windowSizes(graph, conv.window, conv.channels);
  /** A 'same' layer whose stride or dilation changes runs `valid` after the crop's own padding, made explicit. */
  const aligned = (node: FlatNode, x: tf.SymbolicTensor, size: Pair, dil: Pair, din: Pair, newExtent: Pair): tf.SymbolicTensor => {
    const n = crop.get(node.inputs[0]);
    if (n === undefined) throw new ModelError(file, `its input size on one window is not known: cannot keep its 'same' padding at stride ${target}`, layerRef(node));
    const padding = alignedPadding(n, size, dil, ownStride(node), din, newExtent);
    return builder.make(tf.layers.zeroPadding2d({ padding, name: builder.unique(`${node.layer.name}_same`) })).apply(x) as tf.SymbolicTensor;
  };

  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => env.get(i) as tf.SymbolicTensor);
    const pin = strides.get(node.inputs[0]) ?? [1, 1];
    const pout = strides.get(node.outputs[0]) ?? [1, 1];
    const din: Pair = [pin[0] / fine(pin)[0], pin[1] / fine(pin)[1]];
    const newStride: Pair = [fine(pout)[0] / fine(pin)[0], fine(pout)[1] / fine(pin)[1]];
    const dense = din[0] > 1 || din[1] > 1;
    const restrided = newStride[0] !== ownStride(node)[0] || newStride[1] !== ownStride(node)[1];
    const cfg = node.layer.getConfig() as Config;
    const what = `${node.layer.name} (${node.className})`;
    let out: tf.SymbolicTensor;

    const same = cfg.padding === 'same' && (dense || restrided);
    if (node.className === 'DepthwiseConv2D' && dense) {
      const kernel = pair(cfg.kernelSize, 1);
      const x = same ? aligned(node, ins[0], kernel, [1, 1], din, [(kernel[0] - 1) * din[0] + 1, (kernel[1] - 1) * din[1] + 1]) : ins[0];
      out = dilatedDepthwise(node, x, din, builder, same ? 'valid' : undefined);
      rewrite.push(`${what}: dilation 1×1 → ${din.join('×')} (as SeparableConv2D with an identity pointwise kernel)`);
    } else if (CONVS.has(node.className)) {
      // tfjs computes a DepthwiseConv2D without its dilation: keep what the classifier computed.
      const dil: Pair = node.className === 'DepthwiseConv2D' ? [1, 1] : pair(cfg.dilationRate, 1);
      const kernel = pair(cfg.kernelSize, 1);
      // A 1×1 kernel has no window to dilate.
      const dilation: Pair = [kernel[0] > 1 ? dil[0] * din[0] : dil[0], kernel[1] > 1 ? dil[1] * din[1] : dil[1]];
      const x = same ? aligned(node, ins[0], kernel, dil, din, [(kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1]) : ins[0];
      out = builder.clone(node, { strides: newStride, dilationRate: dilation, ...(same ? { padding: 'valid' } : {}) }).apply(x) as tf.SymbolicTensor;
      if (restrided) rewrite.push(`${what}: stride ${ownStride(node).join('×')} → ${newStride.join('×')}`);
      if (dilation[0] !== dil[0] || dilation[1] !== dil[1]) rewrite.push(`${what}: dilation ${dil.join('×')} → ${dilation.join('×')}`);
    } else if (POOLS.has(node.className)) {
      const size = pair(cfg.poolSize, 1);
      if (!dense) {
        const x = same ? aligned(node, ins[0], size, [1, 1], din, size) : ins[0];
        out = builder.clone(node, { strides: newStride, poolSize: size, ...(same ? { padding: 'valid' } : {}) }).apply(x) as tf.SymbolicTensor;
        if (restrided) rewrite.push(`${what}: stride ${ownStride(node).join('×')} → ${newStride.join('×')}`);
      } else {
        const x = same ? aligned(node, ins[0], size, [1, 1], din, [(size[0] - 1) * din[0] + 1, (size[1] - 1) * din[1] + 1]) : ins[0];
        out = dilatedPool(node, x, size, din, builder);
        rewrite.push(`${what} ${size.join('×')}: stride ${ownStride(node).join('×')} → 1×1, window dilated ${din.join('×')} `
          + `(${node.className === 'MaxPooling2D' ? 'Maximum' : 'Average'} of shifted crops, per axis)`);
      }
    } else if (node.className === 'ZeroPadding2D' || node.className === 'Cropping2D') {
      const key = node.className === 'ZeroPadding2D' ? 'padding' : 'cropping';
      const amounts = cfg[key] as [Pair, Pair];
      const scaled = [[amounts[0][0] * din[0], amounts[0][1] * din[0]], [amounts[1][0] * din[1], amounts[1][1] * din[1]]];
      out = builder.clone(node, { [key]: scaled }).apply(ins[0]) as tf.SymbolicTensor;
      if (dense) rewrite.push(`${what}: ${key} ×${din.join('×')}`);
    } else if (POINTWISE.has(node.className) || !dense) {
      const o = builder.clone(node).apply(ins.length === 1 ? ins[0] : ins);
      out = (Array.isArray(o) ? o[0] : o) as tf.SymbolicTensor;
    } else {
      throw new ModelError(file, `cannot run on a map ${din.join('×')} times denser than the network's (needed for stride ${target})`, layerRef(node));
    }
    if (node.outputs.length !== 1) throw new ModelError(file, 'has several outputs; the stride rewrite handles one per layer', layerRef(node));
    env.set(node.outputs[0], out);
  }

  let output = env.get(graph.outputs[0]) as tf.SymbolicTensor;
  const name = builder.unique(`${conv.fcn.name}_s${target}`);
  // Where the original drops trailing pixels (a pool that floors), the dense map keeps positions whose
  // used pixels fit but whose full crop would not. On the inputs the engine and the check feed,
  // window + k·S pixels, that excess is the same for every k: trim it so there are exactly k + 1 cells.
  const probe = tf.model({ inputs: input, outputs: output, name });
  const [, ry, rx] = probe.computeOutputShape([1, conv.window[0], conv.window[1], conv.channels]) as number[];
  if (!(ry >= 1 && rx >= 1)) throw new ModelError(file, `the rewrite for stride ${target} gives ${ry}×${rx} cells on one window: not understood`);
  if (ry > 1 || rx > 1) {
    const cropping = [[0, ry - 1], [0, rx - 1]] as [Pair, Pair];
    output = builder.make(tf.layers.cropping2D({ cropping, name: builder.unique('trailing_cells') })).apply(output) as tf.SymbolicTensor;
    rewrite.push(`output: the last ${ry - 1} row(s) and ${rx - 1} column(s) of cells trimmed (their crops would pass the input's edge)`);
  }
  const fcn = ry > 1 || rx > 1 ? tf.model({ inputs: input, outputs: output, name: builder.unique(name) }) : probe;
  builder.setWeights();
  return { ...conv, fcn, stride: [target, target], networkStride: [...network], rewrite };
}

/**
 * A pooling window dilated by `d` at stride 1, from standard layers (see the module comment):
 * per axis, the p taps of the dilated window are crops of the input, combined by Maximum or Average.
 * A 'same' pool's input arrives zero-padded (see alignedPadding): equal to tfjs's pooling only where
 * the window stays inside the map (such models are reported as not exact anyway).
 */
function dilatedPool(node: FlatNode, x: tf.SymbolicTensor, size: Pair, d: Pair, builder: LayerFactory): tf.SymbolicTensor {
  const base = node.layer.name;
  const max = node.className === 'MaxPooling2D';
  for (const axis of [0, 1] as const) {
    const p = size[axis];
    if (p === 1) continue;
    const name = axis === 0 ? 'y' : 'x';
    const taps = Array.from({ length: p }, (_, t) => {
      const span: Pair = [t * d[axis], (p - 1 - t) * d[axis]];
      const cropping = (axis === 0 ? [span, [0, 0]] : [[0, 0], span]) as [Pair, Pair];
      return builder.make(tf.layers.cropping2D({ cropping, name: builder.unique(`${base}_${name}${t}`) })).apply(x) as tf.SymbolicTensor;
    });
    const args = { name: builder.unique(`${base}_${max ? 'max' : 'avg'}${name}`) };
    x = builder.make(max ? tf.layers.maximum(args) : tf.layers.average(args)).apply(taps) as tf.SymbolicTensor;
  }
  return x;
}

/** A DepthwiseConv2D at stride 1 with its window dilated by `d`: SeparableConv2D, pointwise identity. */
function dilatedDepthwise(node: FlatNode, x: tf.SymbolicTensor, d: Pair, builder: LayerFactory, padding?: 'valid'): tf.SymbolicTensor {
  const cfg = node.layer.getConfig() as Config;
  const [kernel, bias] = node.layer.getWeights();
  const out = (kernel.shape[2] ?? 1) * (kernel.shape[3] ?? 1);
  const layer = tf.layers.separableConv2d({
    filters: out, kernelSize: pair(cfg.kernelSize, 1), depthMultiplier: Number(cfg.depthMultiplier ?? 1), strides: 1,
    dilationRate: d, padding: padding ?? (cfg.padding as 'valid' | 'same'), activation: cfg.activation as 'linear',
    useBias: cfg.useBias !== false, name: builder.unique(node.layer.name),
  });
  const identity = tf.eye(out).reshape([1, 1, out, out]);
  builder.make(layer, [kernel, identity, ...(bias ? [bias] : [])], [identity]);
  return layer.apply(x) as tf.SymbolicTensor;
}

/**
 * The other way to a finer map (CS231n): the network at its own stride run k² times on the image
 * shifted by multiples of S, the outputs interleaved. Shares no work between passes.
 * @param fcn model at the network's stride s, input [1, h, w, c] → [1, rows, cols, classes]
 * @param image [1, height, width, channels]
 * @param window classifier input size [wy, wx]
 * @param networkStride s [sy, sx]; `target` S must divide both
 * @returns scores row-major [rows, cols, classes] with rows = cellCount(height, wy, S), likewise cols
 */
export function shiftedPasses(
  fcn: tf.LayersModel, image: tf.Tensor4D, window: Pair, networkStride: Pair, target: number,
): { rows: number; cols: number; classes: number; scores: Float32Array } {
  const [, h, w, c] = image.shape;
  const ky = networkStride[0] / target;
  const kx = networkStride[1] / target;
  if (!Number.isInteger(ky) || !Number.isInteger(kx)) throw new RangeError(`shiftedPasses: ${target} does not divide the stride ${networkStride.join('×')}`);
  const rows = cellCount(h, window[0], target);
  const cols = cellCount(w, window[1], target);
  let classes = 0;
  let scores = new Float32Array(0);
  for (let a = 0; a < ky && a * target < h; a++) {
    for (let b = 0; b < kx && b * target < w; b++) {
      const pr = cellCount(h - a * target, window[0], networkStride[0]);
      const pc = cellCount(w - b * target, window[1], networkStride[1]);
      if (pr === 0 || pc === 0) continue;
      const out = tf.tidy(() => fcn.predict(image.slice([0, a * target, b * target, 0], [1, h - a * target, w - b * target, c])) as tf.Tensor4D);
      const data = out.dataSync() as Float32Array;
      const [, or, oc, k] = out.shape;
      out.dispose();
      if (classes === 0) {
        classes = k;
        scores = new Float32Array(rows * cols * classes);
      }
      for (let i = 0; i < Math.min(or, pr); i++) {
        for (let j = 0; j < Math.min(oc, pc); j++) {
          const r = i * ky + a;
          const q = j * kx + b;
          if (r < rows && q < cols) scores.set(data.subarray((i * oc + j) * k, (i * oc + j + 1) * k), (r * cols + q) * classes);
        }
      }
    }
  }
  return { rows, cols, classes, scores };
}

/**
 * Rewrites a saved fully convolutional model (model.json of saveConverted) to a finer stride.
 * Only strides that divide the saved one are reachable: a coarser stride needs the classifier.
 * @param artifacts topology + weights, input [batch, null, null, channels]
 * @param info the sidecar; its `stride` is the saved model's cell spacing
 * @returns new artifacts and the sidecar with `stride` = target, or the inputs when already there
 */
export async function refineSaved(
  artifacts: tf.io.ModelArtifacts, info: ConvertedModelInfo, target: number, file: string,
): Promise<{ artifacts: tf.io.ModelArtifacts; info: ConvertedModelInfo }> {
  if (info.stride[0] === target && info.stride[1] === target) return { artifacts, info };
  const fcn = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    const conv: Conversion = {
      fcn, window: info.window, stride: info.stride, offset: info.offset, channels: info.channels, classes: info.labels.length,
      head: info.head, boundary: info.boundary, padding: info.padding, paddedLayers: [],
      outputs: info.outputs ?? [], output: info.output ?? '', outputIndex: 0,
    };
    const saved = info.networkStride && (info.networkStride[0] !== info.stride[0] || info.networkStride[1] !== info.stride[1])
      ? ` (saved at stride ${info.stride.join('×')} of a network of stride ${info.networkStride.join('×')}; convert the classifier again for a coarser one)` : '';
    let fine: FineConversion;
    try {
      fine = refineStride(conv, target, file);
    } catch (e) {
      if (e instanceof ModelError && saved) throw new ModelError(e.file, `${e.detail}${saved}`, e.layer);
      throw e;
    }
    try {
      const equivalence = againstShiftedPasses(conv, fine, info, file);
      return { artifacts: await modelToArtifacts(fine.fcn), info: { ...info, ...strideInfo(fine, info), equivalence } };
    } finally {
      fine.fcn.dispose();
    }
  } finally {
    fcn.dispose();
  }
}

/**
 * A saved model has no classifier to crop for: its rewrite is checked against the k² shifted passes
 * of the saved model (measured against crops when it was converted) on a random image of
 * window + 2·S pixels. For a model that was exact this must agree to float error, or it is refused.
 */
function againstShiftedPasses(conv: Conversion, fine: FineConversion, info: ConvertedModelInfo, file: string): ConvertedModelInfo['equivalence'] {
  const [wy, wx] = info.window;
  const S = fine.stride[0];
  const image = tf.randomUniform([1, wy + 2 * S, wx + 2 * S, info.channels], 0, 1, 'float32', 42) as tf.Tensor4D;
  try {
    const want = shiftedPasses(conv.fcn, image, info.window, info.stride, S);
    const got = tf.tidy(() => (fine.fcn.predict(image) as tf.Tensor).dataSync());
    if (got.length !== want.scores.length) throw new ModelError(file, `the stride-${S} rewrite gives ${got.length} scores where the shifted passes give ${want.scores.length}: not understood`);
    let maxAbs = 0;
    let scale = 0;
    for (let i = 0; i < got.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(got[i] - want.scores[i]));
      scale = Math.max(scale, Math.abs(want.scores[i]));
    }
    const rel = maxAbs / Math.max(scale, 1e-12);
    const saved = info.equivalence;
    if (saved.exact && rel > 1e-4) throw new ModelError(file, `the stride-${S} rewrite differs from shifted passes of the saved model by ${rel.toExponential(2)} (relative): not understood`);
    const note = `measured against crops at stride ${info.stride.join('×')} when converted; the stride-${S} rewrite matches `
      + `${want.rows * want.cols} cells of shifted passes of the saved model to ${rel.toExponential(2)} (relative)`;
    return { ...saved, note: saved.note ? `${saved.note}; ${note}` : note };
  } finally {
    image.dispose();
  }
}

/**
 * The sidecar fields a stride rewrite changes: `stride` becomes the cells' spacing, `networkStride`
 * keeps the network's own, `strideRewrite` says what changed (kept from earlier rewrites of a saved model).
 */
export function strideInfo(fine: FineConversion, before?: Pick<ConvertedModelInfo, 'networkStride' | 'strideRewrite'>): Pick<ConvertedModelInfo, 'stride' | 'networkStride' | 'strideRewrite'> {
  return {
    stride: [...fine.stride],
    networkStride: before?.networkStride ? [...before.networkStride] : [...fine.networkStride],
    strideRewrite: [...(before?.strideRewrite ?? []), ...fine.rewrite],
  };
}
