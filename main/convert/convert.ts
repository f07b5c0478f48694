import * as tf from '@tensorflow/tfjs';
import type { ModelOutput, PaddingKind } from '../../core/model-info';
import { ModelError } from '../model/errors';
import { pair } from '../model/layer-config';
import { unsupportedLayerReason } from '../model/unsupported';
import { flattenModel, nodesUpTo, type FlatGraph, type FlatNode } from './graph';
import { LayerFactory } from './layer-factory';
import { cellSpacing, CONVS, cumulativeStrides, ownStride, POOLS } from './strides';

type Layer = tf.layers.Layer;
type Config = Record<string, unknown>;

/** The classifier rewritten as a fully convolutional model, with the geometry of its cells. */
export interface Conversion {
  /** Input [batch, null, null, channels]; output [batch, rows, cols, classes]. */
  fcn: tf.LayersModel;
  /** Classifier input size [height, width] in pixels. */
  window: [number, number];
  /** Total stride [sy, sx] in input pixels. */
  stride: [number, number];
  /** Cell (0, 0) is the crop at the input's top-left corner. */
  offset: [number, number];
  channels: number;
  classes: number;
  /** One line per head layer: what it was and what it became. */
  head: string[];
  boundary: { layer: string; shape: number[] };
  padding: PaddingKind;
  /** Layers whose zero padding (or global pooling) crops see differently from the whole image. */
  paddedLayers: string[];
  /** Every output of the classifier, with what it gives per window. */
  outputs: ModelOutput[];
  /** The converted output: its name and its index in the classifier's outputs (its predict() order). */
  output: string;
  outputIndex: number;
}

/** Options of convertClassifier. */
export interface ConvertOptions {
  /** Name of the output to convert (a multi-output model's layer name); default: its first class-score output. */
  output?: string;
}

const COLLAPSE = new Set(['Flatten', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D']);
const DROPPED = new Set(['Dropout', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'SpatialDropout2D', 'ActivityRegularization']);
const ELEMENTWISE = new Set(['Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'PReLU', 'Rescaling', 'ConvmapPow']);
/** Layers a head may hold besides Dense; a backwards walk from the output passes them. */
const HEAD_KINDS = new Set([...COLLAPSE, ...DROPPED, ...ELEMENTWISE, 'Dense', 'Softmax', 'BatchNormalization', 'LayerNormalization', 'Reshape', 'Conv2D', 'ConvmapChannelReduce']);
const SPATIAL_NEUTRAL = new Set([
  ...DROPPED, ...ELEMENTWISE, 'Softmax', 'BatchNormalization', 'LayerNormalization', 'Dense', 'Add', 'Multiply', 'Concatenate',
  'Average', 'Maximum', 'Minimum', 'Subtract', 'ZeroPadding2D', 'Cropping2D', 'InputLayer', 'Permute', 'Normalization', 'LayerScale', 'ConvmapLRN', 'ConvmapChannelReduce',
]);

function layerRef(node: FlatNode): { name: string; className: string } {
  return { name: node.layer.name, className: node.className };
}

/** Spatial shape [h, w, c] of a tensor at the window size; a rank-3 input [h, w] is one channel. */
function hwc(shape: (number | null)[]): [number, number, number] {
  const s = shape.slice(1) as number[];
  return s.length === 2 ? [s[0], s[1], 1] : [s[0], s[1], s[2]];
}

/** Layers an SE branch may pass from its global pooling to the Multiply that applies it. */
const SE_PATH = new Set(['Dense', 'Conv2D', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'Rescaling', 'BatchNormalization', 'Reshape', 'Softmax', 'Add']);

/** True when a global pooling's result reaches a Multiply through SE_PATH layers only (a Squeeze-and-Excitation block). */
function feedsMultiply(graph: FlatGraph, pool: FlatNode): boolean {
  const stack = [...pool.outputs];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const t = stack.pop() as number;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const n of graph.nodes) {
      if (!n.inputs.includes(t)) continue;
      if (n.className === 'Multiply') return true;
      if (SE_PATH.has(n.className)) stack.push(...n.outputs);
    }
  }
  return false;
}

/**
 * An AveragePooling2D/MaxPooling2D (padding nothing) right before a Flatten head whose output is 1×1 at
 * the window (MobileNetV2 transfer heads `AvgPool(7) → Flatten`, CIFAR ResNets `AvgPool(8) → Flatten`):
 * it acts as the global pool, so it runs at stride 1 and the map keeps the trunk's stride.
 */
function poolActingGlobally(graph: FlatGraph, plan: HeadPlan): FlatNode | undefined {
  const node = graph.producer[plan.boundary];
  if (!node || plan.collapse.className !== 'Flatten') return undefined;
  if (node.className !== 'AveragePooling2D' && node.className !== 'MaxPooling2D') return undefined;
  const cfg = node.layer.getConfig() as Config;
  const [oh, ow] = hwc(graph.shapes[plan.boundary]);
  const [h, w] = hwc(graph.shapes[node.inputs[0]]);
  const k = pair(cfg.poolSize, 1);
  // With one output cell, 'same' pads max(0, k − n) per axis: none when the pool fits its input, so it is 'valid'.
  const pads = cfg.padding === 'same' && (k[0] > h || k[1] > w);
  return !pads && oh === 1 && ow === 1 ? node : undefined;
}

/**
 * A Rescaling by 1 with offset 0 (what topology.ts makes of RandomFlip and other inference no-ops),
 * or a Resizing/CenterCrop whose output is its input's size at the window (a preprocessing step the
 * sliding window already does by cutting window-sized cells). A CenterCrop to a smaller size is not
 * the identity (copyTrunk crops the map); a Resizing that changes the size, or a CenterCrop that
 * would enlarge (Keras resizes then), is refused.
 */
function isIdentity(node: FlatNode, graph: FlatGraph, file: string): boolean {
  if (node.inputs.length !== 1 || node.outputs.length !== 1) return false;
  if (node.className === 'Resizing' || node.className === 'CenterCrop') {
    const [h, w] = hwc(graph.shapes[node.inputs[0]]);
    const [oh, ow] = hwc(graph.shapes[node.outputs[0]]);
    if (h === oh && w === ow) return true;
    if (node.className === 'CenterCrop' && oh <= h && ow <= w) return false;
    throw new ModelError(
      file,
      `${node.className === 'Resizing' ? 'resizes' : 'crops'} its ${h}×${w} input to ${oh}×${ow}: the classifier does not look at a window of the photo pixel for pixel, ` +
        `so its map would not match its crops; export the model with an input of ${oh}×${ow} (the ${node.className} removed) and open that`,
      layerRef(node),
    );
  }
  if (node.className !== 'Rescaling') return false;
  const cfg = node.layer.getConfig() as Config;
  return Number(cfg.scale) === 1 && Number(cfg.offset ?? 0) === 0;
}


interface HeadPlan {
  /** Index in the backwards chain where the head starts (its collapse layer). */
  collapse: FlatNode;
  nodes: FlatNode[];
  boundary: number;
}

/** Merges of maps of one shape that a head may hold when all their inputs branch from one tensor of the head. */
const HEAD_MERGES = new Set(['Multiply', 'Add', 'Subtract', 'Average', 'Maximum', 'Minimum']);

/**
 * A merge whose inputs all come, through single-input head layers, from one tensor (Keras 2
 * MobileNetV3's head hard-swish `Multiply([x, ReLU(6)(x + 3) · (1/6)])`): that tensor and the block's
 * nodes in an order that computes them (each branch from the tensor, then the merge). Null otherwise.
 */
function mergeBlock(graph: FlatGraph, merge: FlatNode): { source: number; nodes: FlatNode[] } | null {
  if (!HEAD_MERGES.has(merge.className) || merge.inputs.length < 2) return null;
  // Each input's way back: the tensors it passes (itself first) and the single-input head layers making them.
  const ways = merge.inputs.map((input) => {
    const tensors = [input];
    const nodes: FlatNode[] = [];
    for (let node = graph.producer[input]; node && node.inputs.length === 1 && HEAD_KINDS.has(node.className) && !COLLAPSE.has(node.className); node = graph.producer[node.inputs[0]]) {
      nodes.push(node);
      tensors.push(node.inputs[0]);
    }
    return { tensors, nodes };
  });
  const source = ways[0].tensors.find((t) => ways.every((w) => w.tensors.includes(t)));
  if (source === undefined) return null;
  const nodes = ways.flatMap((w) => w.nodes.slice(0, w.tensors.indexOf(source)).reverse());
  return { source, nodes: [...nodes, merge] };
}

/**
 * A Concatenate of global poolings of one tensor (fastai's AdaptiveConcatPool2d: its max and average
 * pools side by side): that tensor and the block's nodes (the pools, then the Concatenate). Null otherwise.
 */
function pooledConcatBlock(graph: FlatGraph, concat: FlatNode): { source: number; nodes: FlatNode[] } | null {
  if (concat.className !== 'Concatenate' || concat.inputs.length < 2) return null;
  const axis = Number((concat.layer.getConfig() as Config).axis ?? -1);
  if (axis !== -1 && axis !== graph.shapes[concat.outputs[0]].length - 1) return null;
  const pools: FlatNode[] = [];
  for (const i of concat.inputs) {
    const p = graph.producer[i];
    if (p === undefined || p.inputs.length !== 1 || (p.className !== 'GlobalAveragePooling2D' && p.className !== 'GlobalMaxPooling2D')) return null;
    pools.push(p);
  }
  const source = pools[0].inputs[0];
  if (!pools.every((p) => p.inputs[0] === source)) return null;
  return { source, nodes: [...new Set(pools), concat] };
}

/** Finds the spatial→vector collapse (Flatten/GlobalPooling) and the head after it, for output tensor `outputId`. */
function findHead(graph: FlatGraph, file: string, outputId: number): HeadPlan {
  const chain: FlatNode[] = [];
  let t = outputId;
  for (;;) {
    const node = graph.producer[t];
    if (!node) break;
    if (node.inputs.length === 1 && HEAD_KINDS.has(node.className)) {
      chain.unshift(node);
      t = node.inputs[0];
      continue;
    }
    const block = mergeBlock(graph, node) ?? pooledConcatBlock(graph, node);
    if (!block) break;
    chain.unshift(...block.nodes);
    t = block.source;
  }
  const collapses = (n: FlatNode): boolean =>
    n.className === 'Flatten' ? graph.shapes[n.inputs[0]].length >= 3 : COLLAPSE.has(n.className);
  const collapseAt = chain.findIndex(collapses);
  if (collapseAt < 0) {
    const last = graph.producer[outputId];
    const blocker = graph.producer[t];
    // The blocker is in the head when a Dense follows it or a Flatten/GlobalPooling precedes it.
    const inHead = chain.some((n) => n.className === 'Dense') || nodesUpTo(graph, t).some(collapses);
    if (blocker && !HEAD_KINDS.has(blocker.className) && inHead) {
      throw new ModelError(file, 'cannot be part of a convertible head (accepted after Flatten/GlobalPooling: Dense, Dropout, Activation, Softmax, BatchNormalization, LayerNormalization, Reshape, 1×1 Conv2D)', layerRef(blocker));
    }
    throw new ModelError(
      file,
      'no Flatten, GlobalAveragePooling2D or GlobalMaxPooling2D found before the classifier output: nothing to rewrite as convolutions',
      last ? layerRef(last) : undefined,
    );
  }
  const nodes = chain.slice(collapseAt);
  return { collapse: nodes[0], nodes, boundary: nodes[0].inputs[0] };
}

type HeadState = { kind: 'flat'; hwc: [number, number, number] } | { kind: 'map'; channels: number };

/**
 * Rewrites a classifier's fully-connected head as convolutions (weights included) so the model runs
 * on inputs of any size. The trunk (everything before the Flatten/GlobalPooling) is copied layer by
 * layer with nested models expanded; the head becomes:
 * - Flatten of an H×W×C map → Dense(U): Conv2D(U, H×W, valid), kernel [H·W·C, U] reshaped to [H, W, C, U]
 * - later Dense: 1×1 Conv2D; GlobalAverage/MaxPooling2D: Average/MaxPooling2D(H×W, stride 1)
 * - Dropout dropped; activations, softmax (per location, channel axis), BatchNormalization kept
 * A model with several outputs has one converted (opts.output, else the first giving class scores);
 * all are listed in `outputs`.
 * @param model the classifier, input [batch, H, W, C] or [batch, H, W]
 * @param file used in error messages
 */
export function convertClassifier(model: tf.LayersModel, file: string, opts: ConvertOptions = {}): Conversion {
  const factory = new LayerFactory();
  try {
    return buildConversion(model, file, factory, opts);
  } catch (e) {
    // Trunk layers cloned before a refusal already own weights; nothing else would free them.
    factory.discard();
    throw e;
  }
}

/** What each output of the model gives per window, and its head when it is convertible. */
function describeOutputs(model: tf.LayersModel, graph: FlatGraph, file: string): { info: ModelOutput; plan: HeadPlan | Error }[] {
  return graph.outputs.map((id, i) => {
    const shape = graph.shapes[id];
    const name = model.outputNames[i] ?? graph.producer[id]?.layer.name ?? `output ${i}`;
    let plan: HeadPlan | Error;
    try {
      plan = findHead(graph, file, id);
    } catch (e) {
      plan = e as Error;
    }
    if (shape.length >= 4) {
      const dims = shape.slice(1).join('×');
      return { info: { name, shape, kind: 'spatial', note: `a ${dims} map (a mask or feature map), not scores over the whole window: not a classifier output` }, plan };
    }
    if (plan instanceof Error || shape.length !== 2) {
      return { info: { name, shape, kind: 'other', note: 'not reached through Flatten/GlobalPooling → Dense: no per-window scores to convert' }, plan };
    }
    if (shape[1] === 1) {
      return { info: { name, shape, kind: 'regression', note: 'one number per window (a regression), shown as a one-class heatmap' }, plan };
    }
    return { info: { name, shape, kind: 'classes' }, plan };
  });
}

function outputList(outputs: ModelOutput[]): string {
  return outputs.map((o) => `"${o.name}" [${o.shape.slice(1).join(', ')}] ${o.kind}`).join(', ');
}

/** The output to convert: the one named, else the first with class scores, else the first regression. */
function chooseOutput(model: tf.LayersModel, graph: FlatGraph, file: string, wanted: string | undefined): { index: number; plan: HeadPlan; outputs: ModelOutput[] } {
  const described = describeOutputs(model, graph, file);
  const outputs = described.map((d) => d.info);
  let index: number;
  if (wanted !== undefined) {
    index = outputs.findIndex((o) => o.name === wanted);
    if (index < 0) index = graph.outputs.findIndex((id) => graph.producer[id]?.layer.name === wanted);
    if (index < 0) throw new ModelError(file, `has no output named "${wanted}" (outputs: ${outputList(outputs)})`);
    const { info, plan } = described[index];
    if (info.kind === 'spatial') {
      throw new ModelError(file, `output "${wanted}" is ${info.note}; choose a class-score output with --output (outputs: ${outputList(outputs)})`);
    }
    if (plan instanceof Error) throw plan;
    return { index, plan, outputs };
  }
  if (graph.outputs.length === 1) {
    const plan = described[0].plan;
    if (plan instanceof Error) throw plan;
    return { index: 0, plan, outputs };
  }
  index = outputs.findIndex((o) => o.kind === 'classes');
  if (index < 0) index = outputs.findIndex((o) => o.kind === 'regression');
  if (index < 0) {
    throw new ModelError(file, `none of its ${outputs.length} outputs gives class scores over the whole window (outputs: ${outputList(outputs)}): Convmap converts classifiers`);
  }
  return { index, plan: described[index].plan as HeadPlan, outputs };
}

function buildConversion(model: tf.LayersModel, file: string, factory: LayerFactory, opts: ConvertOptions): Conversion {
  const graph = flattenModel(model);
  const { inShape, window, channels } = windowOf(model, graph, file);
  const chosen = chooseOutput(model, graph, file, opts.output);
  const plan = chosen.plan;
  const trunk = nodesUpTo(graph, plan.boundary);
  const channelReshape = channelReshapeOf(graph, trunk, inShape, file);
  const globalPool = poolActingGlobally(graph, plan);

  const input = tf.input({ shape: [null, null, channels], name: factory.unique('image') });
  const copied = copyTrunk(graph, trunk, input, factory, file, { channelReshape, globalPool });
  const [bh, bw, bc] = hwc(graph.shapes[plan.boundary]);
  const head = convertHead(graph, plan, copied.env.get(plan.boundary) as tf.SymbolicTensor, [bh, bw, bc], factory, file);

  // A pool acting as the global pool runs at stride 1 in the converted model: the map keeps the trunk's stride.
  const strides = cumulativeStrides(graph, (n) => (n === globalPool ? [1, 1] : ownStride(n)));
  const cells = cellsOfUpsampledMap(graph, strides, plan.boundary, head.output, factory, file);
  const fcn = tf.model({ inputs: input, outputs: cells.output, name: factory.unique(`${model.name}_fcn`) });
  factory.setWeights();
  const boundaryProducer = graph.producer[plan.boundary];
  return {
    fcn,
    window,
    stride: cells.stride,
    offset: [0, 0],
    channels,
    classes: head.classes,
    head: [...(copied.globalPoolLine ? [copied.globalPoolLine] : []), ...head.lines, ...(cells.line ? [cells.line] : [])],
    boundary: { layer: boundaryProducer ? boundaryProducer.layer.name : 'input', shape: [bh, bw, bc] },
    padding: copied.sameKernels === 0 ? 'valid' : copied.validKernels > 0 ? 'mixed' : 'same',
    paddedLayers: copied.padded,
    outputs: chosen.outputs,
    output: chosen.outputs[chosen.index].name,
    outputIndex: chosen.index,
  };
}

/**
 * The cells of the converted map and their spacing in input pixels. Normally every position of the
 * head's output is a cell, `strides` apart. After an UpSampling2D positions can be finer than the
 * input moves them (stride-2 conv → ×2 upsampling: 1 px apart, but only every second position is
 * a crop's: the others mix two crops' features), so only every (spacing / stride)-th position is
 * kept, by a 1×1 pool at that stride (a selection, no arithmetic).
 */
function cellsOfUpsampledMap(
  graph: FlatGraph, strides: Map<number, [number, number]>, boundary: number, output: tf.SymbolicTensor, factory: LayerFactory, file: string,
): { output: tf.SymbolicTensor; stride: [number, number]; line?: string } {
  const stride = strides.get(boundary) ?? [1, 1];
  const spacing = cellSpacing(graph, strides, boundary);
  if (!spacing.every(Number.isFinite)) {
    throw new ModelError(file, `its upsampling and strides give positions ${stride.map((s) => s.toFixed(3)).join('×')} px apart that no whole-pixel shift of the input matches`);
  }
  const every: [number, number] = [Math.round(spacing[0] / stride[0]), Math.round(spacing[1] / stride[1])];
  if (every[0] === 1 && every[1] === 1) return { output, stride: spacing };
  const pick = tf.layers.maxPooling2d({ poolSize: 1, strides: every, padding: 'valid', name: factory.unique('crop_positions') });
  return {
    output: factory.make(pick).apply(output) as tf.SymbolicTensor,
    stride: spacing,
    line: `upsampled map: positions ${stride.map((s) => +s.toFixed(4)).join('×')} px apart, every ${every.join('×')}th is a crop's → cells ${spacing.join('×')} px apart (1×1 pool, stride ${every.join('×')})`,
  };
}

/** The classifier's one image input, of fixed size: its shape, the window [height, width] and its channels. */
function windowOf(model: tf.LayersModel, graph: FlatGraph, file: string): { inShape: (number | null)[]; window: [number, number]; channels: number } {
  if (graph.inputs.length !== 1) {
    const names = model.inputNames.map((n) => `"${n}"`).join(', ');
    const second = model.inputLayers[1];
    throw new ModelError(
      file,
      `has ${graph.inputs.length} inputs (${names}); Convmap converts classifiers of one image: export a model whose only input is the image`,
      second ? { name: second.name, className: second.getClassName() } : undefined,
    );
  }
  const inShape = graph.shapes[graph.inputs[0]];
  if (inShape.length < 3 || inShape.length > 4 || inShape.slice(1).some((d) => d === null)) {
    throw new ModelError(file, `input shape [${inShape.join(', ')}] is not an image [height, width(, channels)] of fixed size: give the size it was trained at (--window N)`);
  }
  const [wy, wx, channels] = hwc(inShape);
  return { inShape, window: [wy, wx], channels };
}

/**
 * For an input without a channel axis, the first layer when it only adds one (Reshape((h, w, 1))):
 * the input is then a one-channel image and that layer is skipped.
 * @throws ModelError when the input has no channel axis and the trunk needs one
 */
function channelReshapeOf(graph: FlatGraph, trunk: FlatNode[], inShape: (number | null)[], file: string): FlatNode | undefined {
  if (inShape.length !== 3 || trunk.length === 0) return undefined;
  const first = trunk[0];
  const out = graph.shapes[first.outputs[0]];
  const addsChannel = first.className === 'Reshape' && first.inputs[0] === graph.inputs[0]
    && out.length === 4 && out[1] === inShape[1] && out[2] === inShape[2] && out[3] === 1;
  if (!addsChannel) throw new ModelError(file, 'input has no channel axis but layers before the head need one', layerRef(first));
  return first;
}

/** The trunk rewritten: each original tensor's counterpart, and how its layers pad (for the report and the padding kind). */
interface TrunkCopy {
  env: Map<number, tf.SymbolicTensor>;
  /** Layers whose zero padding (or global pooling) crops see differently from the whole image. */
  padded: string[];
  sameKernels: number;
  validKernels: number;
  /** The head's first line when a pool acts as the global pool. */
  globalPoolLine?: string;
}

/**
 * Copies the trunk (everything before the head) onto `input` layer by layer: identity layers and the
 * channel Reshape skipped, a Squeeze-and-Excitation global pool made local, a pool acting as the
 * global pool run at stride 1; every other layer cloned with its weights.
 * @throws ModelError for a layer that cannot run at any input size
 */
function copyTrunk(
  graph: FlatGraph, trunk: FlatNode[], input: tf.SymbolicTensor, factory: LayerFactory, file: string,
  skip: { channelReshape: FlatNode | undefined; globalPool: FlatNode | undefined },
): TrunkCopy {
  const copy: TrunkCopy = { env: new Map([[graph.inputs[0], input]]), padded: [], sameKernels: 0, validKernels: 0 };
  const env = copy.env;
  /** Tensors carrying a Squeeze-and-Excitation scale, rewritten from a vector into a map. */
  const seScales = new Set<number>();
  for (const node of trunk) {
    const ins = node.inputs.map((i) => env.get(i) as tf.SymbolicTensor);
    if (node === skip.channelReshape || isIdentity(node, graph, file)) {
      // Augmentation layers were read as identity Rescaling: no layer, so the first real one shows how inputs are scaled.
      env.set(node.outputs[0], ins[0]);
      continue;
    }
    if (seScales.has(node.inputs[0]) && node.className === 'Reshape') {
      // The SE vector is now a map: its Reshape to [1, 1, C] is the identity on it.
      env.set(node.outputs[0], ins[0]);
      seScales.add(node.outputs[0]);
      continue;
    }
    if (seScales.has(node.inputs[0]) && SE_PATH.has(node.className)) node.outputs.forEach((o) => seScales.add(o));
    if (node.className === 'CenterCrop') {
      env.set(node.outputs[0], centreCrop(graph, node, ins[0], factory));
      continue;
    }
    if (node.className === 'GlobalAveragePooling2D' || node.className === 'GlobalMaxPooling2D') {
      const se = squeezeExcitationPool(graph, node, ins[0], factory, file);
      env.set(node.outputs[0], se.output);
      seScales.add(node.outputs[0]);
      copy.padded.push(se.line);
      continue;
    }
    if (node === skip.globalPool) {
      const pool = poolAtStride1(graph, node, ins[0], factory);
      env.set(node.outputs[0], pool.output);
      copy.globalPoolLine = pool.line;
    } else {
      const out = factory.clone(node).apply(ins.length === 1 ? ins[0] : ins) as tf.SymbolicTensor | tf.SymbolicTensor[];
      const outs = Array.isArray(out) ? out : [out];
      node.outputs.forEach((o, i) => env.set(o, outs[i]));
    }
    const pads = paddingOf(graph, node, file);
    if (pads.line) copy.padded.push(pads.line);
    if (pads.kind === 'same') copy.sameKernels++;
    if (pads.kind === 'valid') copy.validKernels++;
  }
  return copy;
}

/**
 * A Squeeze-and-Excitation global pool inside the trunk: averaging over the window around each
 * location (not over the whole photo) keeps each cell close to its crop; the equivalence check measures how close.
 * @throws ModelError when the pool's result is not a channel scale (every cell would see the whole photo)
 */
function squeezeExcitationPool(graph: FlatGraph, node: FlatNode, x: tf.SymbolicTensor, factory: LayerFactory, file: string): { output: tf.SymbolicTensor; line: string } {
  const [h, w] = hwc(graph.shapes[node.inputs[0]]);
  if (!feedsMultiply(graph, node)) {
    throw new ModelError(
      file,
      `pools globally inside the trunk and its result is not a channel scale (Squeeze-and-Excitation → Multiply): every cell would see the whole photo, so the converted model cannot match its crops; ` +
        'only a global pooling that starts the head (followed by Dense layers to the output) can be converted',
      layerRef(node),
    );
  }
  const avg = node.className === 'GlobalAveragePooling2D';
  // An h×1 pool then a 1×w one: the same values (the pixels inside the image form a rectangle), h + w
  // reads a cell instead of h·w, which for a window-sized pool of an early stage (EfficientNet B1:
  // 120×120) is most of the model's work.
  const pooled = ([[h, 1], [1, w]] as [number, number][]).reduce((t, poolSize) => {
    const args = { poolSize, strides: [1, 1] as [number, number], padding: 'same' as const, name: factory.unique(node.layer.name) };
    return factory.make(avg ? tf.layers.averagePooling2d(args) : tf.layers.maxPooling2d(args)).apply(t) as tf.SymbolicTensor;
  }, x);
  return {
    output: pooled,
    line: `${node.layer.name} (Squeeze-and-Excitation ${node.className} → ${avg ? 'average' : 'max'} over the ${h}×${w} window around each location, stride 1: ` +
      'the channel scales come from the window around a location, not from the crop)',
  };
}

/**
 * A CenterCrop smaller than its input as the same crop of the whole map: at the window it keeps rows
 * from floor((h − oh) / 2) as Keras does, so on a photo each window's cut is its own centre and
 * every cell still equals its crop (window, stride and offset unchanged).
 */
function centreCrop(graph: FlatGraph, node: FlatNode, x: tf.SymbolicTensor, factory: LayerFactory): tf.SymbolicTensor {
  const [h, w] = hwc(graph.shapes[node.inputs[0]]);
  const [oh, ow] = hwc(graph.shapes[node.outputs[0]]);
  const top = Math.floor((h - oh) / 2);
  const left = Math.floor((w - ow) / 2);
  const crop = tf.layers.cropping2D({ cropping: [[top, h - oh - top], [left, w - ow - left]], name: factory.unique(node.layer.name) });
  return factory.make(crop).apply(x) as tf.SymbolicTensor;
}

/** A pool acting as the global pool (poolActingGlobally) at stride 1, cropped so every cell has its full window. */
function poolAtStride1(graph: FlatGraph, node: FlatNode, x: tf.SymbolicTensor, factory: LayerFactory): { output: tf.SymbolicTensor; line: string } {
  let output = factory.clone(node, { strides: [1, 1], padding: 'valid' }).apply(x) as tf.SymbolicTensor;
  const [h, w] = hwc(graph.shapes[node.inputs[0]]);
  const k = pair((node.layer.getConfig() as Config).poolSize, 1);
  // A pool smaller than its input reads the window's top-left k×k: the last cells would have no full window.
  if (h > k[0] || w > k[1]) {
    const crop = factory.make(tf.layers.cropping2D({ cropping: [[0, h - k[0]], [0, w - k[1]]], name: factory.unique(`${node.layer.name}_crop`) }));
    output = crop.apply(output) as tf.SymbolicTensor;
  }
  const line = `${node.layer.name} (${node.className} ${k[0]}×${k[1]}) gives 1×1 at the window: it is the global pool → ${node.className} ${k[0]}×${k[1]}, stride 1` +
    `${h > k[0] || w > k[1] ? `, last ${h - k[0]}×${w - k[1]} cropped` : ''}`;
  return { output, line };
}

/**
 * How a trunk layer pads, as the classifier saw it: `line` names a layer whose zero padding crops see
 * differently from the whole image; `kind` counts it as a 'same' or a 'valid' kernel for the model's padding kind.
 * @throws ModelError for a layer that cannot run at any input size
 */
function paddingOf(graph: FlatGraph, node: FlatNode, file: string): { line?: string; kind?: 'same' | 'valid' } {
  if (CONVS.has(node.className) || POOLS.has(node.className)) {
    const cfg = node.layer.getConfig() as Config;
    const pooling = POOLS.has(node.className);
    const kernel = pair(pooling ? cfg.poolSize : cfg.kernelSize, 1);
    const own = ownStride(node);
    const dil = pair(cfg.dilationRate, 1);
    const eff = [(kernel[0] - 1) * dil[0] + 1, (kernel[1] - 1) * dil[1] + 1];
    const big = eff[0] > 1 || eff[1] > 1;
    if (cfg.padding === 'same') {
      const [h, w] = hwc(graph.shapes[node.inputs[0]]);
      const pads = pooling
        ? [[h, eff[0], own[0]], [w, eff[1], own[1]]].some(([n, k, s]) => (Math.ceil(n / s) - 1) * s + k - n > 0)
        : big;
      return { line: pads ? `${node.layer.name} ('same' ${eff[0]}×${eff[1]})` : undefined, kind: (pooling ? pads : big) ? 'same' : undefined };
    }
    // A non-overlapping pool neither pads nor trims a border: VGG's 2×2 pools do not make a same-padded net 'mixed'.
    return { kind: big && !(pooling && kernel[0] === own[0] && kernel[1] === own[1]) ? 'valid' : undefined };
  }
  if (node.className === 'ZeroPadding2D') return { line: `${node.layer.name} (ZeroPadding2D)`, kind: 'same' };
  if (node.className === 'UpSampling2D') {
    // Bilinear: a crop's edge positions interpolate toward its own border, the whole map's toward their neighbours.
    const bilinear = (node.layer.getConfig() as Config).interpolation === 'bilinear';
    return bilinear ? { line: `${node.layer.name} (UpSampling2D bilinear: a crop's border is interpolated toward its own edge)` } : {};
  }
  if (SPATIAL_NEUTRAL.has(node.className)) return {};
  throw new ModelError(file, unsupportedLayerReason(node.className, true) ?? 'is not supported in a trunk that must run at any input size', layerRef(node));
}

/**
 * The head as convolutions, layer by layer from the boundary map [bh, bw, bc] (see convertClassifier).
 * @returns its output tensor, the number of classes (its channels) and one line per head layer
 */
function convertHead(
  graph: FlatGraph, plan: HeadPlan, boundary: tf.SymbolicTensor, [bh, bw, bc]: [number, number, number], factory: LayerFactory, file: string,
): { output: tf.SymbolicTensor; classes: number; lines: string[] } {
  let x = boundary;
  const lines: string[] = [];
  let state: HeadState = { kind: 'map', channels: bc };
  const apply = (layer: Layer): void => {
    x = layer.apply(x) as tf.SymbolicTensor;
  };
  // Tensors of the head by id: a merge block's branches read the tensor they start from.
  const env = new Map<number, tf.SymbolicTensor>([[plan.boundary, boundary]]);

  for (const node of plan.nodes) {
    const cfg = node.layer.getConfig() as Config;
    const what = `${node.layer.name} (${node.className})`;
    const inShape = graph.shapes[node.inputs[0]];
    x = env.get(node.inputs[0]) ?? x;
    if (HEAD_MERGES.has(node.className) && node.inputs.length > 1) {
      if (state.kind === 'flat') throw new ModelError(file, 'merges flattened maps; it cannot be applied per location', layerRef(node));
      x = factory.clone(node).apply(node.inputs.map((i) => env.get(i) as tf.SymbolicTensor)) as tf.SymbolicTensor;
      // A branch may have left the state at its own channels (a norm's one); the merge has the broadcast's.
      state = { kind: 'map', channels: x.shape[3] as number };
      lines.push(`${what} of ${node.inputs.length} branches of the head → kept, per location`);
      env.set(node.outputs[0], x);
      continue;
    }
    if (node.className === 'Concatenate' && node.inputs.length > 1) {
      // Only a pooledConcatBlock's: maps of one size (each pool slides over the same boundary), joined along the channels.
      if (state.kind === 'flat') throw new ModelError(file, 'joins flattened maps; it cannot be applied per location', layerRef(node));
      x = factory.clone(node, { axis: -1 }).apply(node.inputs.map((i) => env.get(i) as tf.SymbolicTensor)) as tf.SymbolicTensor;
      state = { kind: 'map', channels: x.shape[3] as number };
      lines.push(`${what} of ${node.inputs.length} pooled maps → kept, along the channels of every cell`);
      env.set(node.outputs[0], x);
      continue;
    }
    switch (node.className) {
      case 'Flatten': {
        if (node !== plan.collapse) {
          lines.push(`${what}: identity on a per-location vector`);
        } else if (bh === 1 && bw === 1) {
          lines.push(`${what} of ${bh}×${bw}×${bc}: identity (the map is already one cell)`);
        } else {
          state = { kind: 'flat', hwc: [bh, bw, bc] };
          lines.push(`${what} of ${bh}×${bw}×${bc}: folded into the next Dense`);
        }
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const avg = node.className === 'GlobalAveragePooling2D';
        const args = { poolSize: [bh, bw] as [number, number], strides: [1, 1] as [number, number], padding: 'valid' as const, name: factory.unique(node.layer.name) };
        apply(factory.make(avg ? tf.layers.averagePooling2d(args) : tf.layers.maxPooling2d(args)));
        lines.push(`${what} over ${bh}×${bw}×${bc} → ${avg ? 'AveragePooling2D' : 'MaxPooling2D'} ${bh}×${bw}, stride 1`);
        break;
      }
      case 'ConvmapChannelReduce': {
        if (state.kind === 'flat') throw new ModelError(file, 'reduces a flattened map; it cannot be applied per location', layerRef(node));
        apply(factory.clone(node));
        state = { kind: 'map', channels: 1 };
        lines.push(`${what} → kept, over the channels of every cell`);
        break;
      }
      case 'Dense': {
        const units = Number(cfg.units);
        apply(denseAsConv(node, state, factory, file));
        lines.push(`${what} ${units} units, ${String(cfg.activation)} → Conv2D ${denseKernel(state).join('×')} → ${units}, valid, ${String(cfg.activation)}`);
        state = { kind: 'map', channels: units };
        break;
      }
      case 'Conv2D': {
        const k = pair(cfg.kernelSize, 1);
        const s = pair(cfg.strides, 1);
        if (state.kind === 'flat' || k[0] !== 1 || k[1] !== 1 || s[0] !== 1 || s[1] !== 1) {
          throw new ModelError(file, 'only 1×1, stride-1 convolutions can follow the global pooling of a head', layerRef(node));
        }
        apply(factory.clone(node));
        lines.push(`${what} 1×1 → kept`);
        state = { kind: 'map', channels: Number(cfg.filters) };
        break;
      }
      case 'Reshape': {
        // The output's shape at the window, where a -1 in the target is resolved.
        const target = graph.shapes[node.outputs[0]].slice(1) as number[];
        const channels = state.kind === 'map' ? state.channels : -1;
        const ok = target.length > 0 && target[target.length - 1] === channels && target.slice(0, -1).every((d) => d === 1);
        if (!ok) throw new ModelError(file, `Reshape to [${target.join(', ')}] mixes locations and cannot run per location`, layerRef(node));
        lines.push(`${what} to [${target.join(', ')}]: identity on a per-location vector`);
        break;
      }
      case 'BatchNormalization':
      case 'LayerNormalization':
      case 'Softmax': {
        const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
        const lastAxis = inShape.length - 1;
        if (axis.length !== 1 || !(axis[0] === -1 || axis[0] === lastAxis)) {
          throw new ModelError(file, `normalises over axis ${String(cfg.axis)}, not the channel axis`, layerRef(node));
        }
        if (state.kind === 'flat') {
          throw new ModelError(file, 'normalises a flattened map; it cannot be applied per location', layerRef(node));
        }
        apply(factory.clone(node, { axis: -1 }));
        lines.push(`${what} → kept, over the channel axis of every cell`);
        break;
      }
      default: {
        if (DROPPED.has(node.className)) {
          lines.push(`${what} → dropped (no-op at inference)`);
        } else if (ELEMENTWISE.has(node.className)) {
          if (node.className === 'Activation' && cfg.activation === 'softmax' && state.kind === 'flat') {
            throw new ModelError(file, 'applies softmax to a flattened map; it cannot be applied per location', layerRef(node));
          }
          apply(factory.clone(node));
          lines.push(`${what}${cfg.activation ? ` ${String(cfg.activation)}` : ''} → kept, per location`);
        } else {
          throw new ModelError(file, 'cannot be part of a convertible head', layerRef(node));
        }
      }
    }
    env.set(node.outputs[0], x);
  }
  if (state.kind === 'flat') {
    throw new ModelError(file, 'the head ends without a Dense layer after Flatten', layerRef(plan.nodes[plan.nodes.length - 1]));
  }
  return { output: x, classes: state.channels, lines };
}

/** The kernel [kh, kw, cin] a Dense becomes: the flattened map's size after a Flatten, else 1×1 over the channels. */
function denseKernel(state: HeadState): [number, number, number] {
  return state.kind === 'flat' ? state.hwc : [1, 1, state.channels];
}

/** A Dense as a valid Conv2D whose kernel [kh·kw·cin, units] is reshaped to [kh, kw, cin, units]. */
function denseAsConv(node: FlatNode, state: HeadState, factory: LayerFactory, file: string): Layer {
  const cfg = node.layer.getConfig() as Config;
  const units = Number(cfg.units);
  const [kernel, bias] = node.layer.getWeights();
  const [kh, kw, cin] = denseKernel(state);
  if (kernel.shape[0] !== kh * kw * cin) {
    throw new ModelError(file, `kernel has ${kernel.shape[0]} rows, expected ${kh}×${kw}×${cin}`, layerRef(node));
  }
  const conv = tf.layers.conv2d({
    filters: units, kernelSize: [kh, kw], strides: 1, padding: 'valid',
    activation: cfg.activation as 'linear', useBias: cfg.useBias !== false, name: factory.unique(node.layer.name),
  });
  const reshaped = kernel.reshape([kh, kw, cin, units]);
  return factory.make(conv, [reshaped, ...(bias ? [bias] : [])], [reshaped]);
}
