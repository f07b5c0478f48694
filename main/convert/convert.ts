import * as tf from '@tensorflow/tfjs';
import type { PaddingKind } from '../../core/model-info';
import { ModelError } from '../model/errors';
import { flattenModel, nodesUpTo, type FlatGraph, type FlatNode } from './graph';

type Layer = tf.layers.Layer;
type Config = Record<string, unknown>;
type LayerClass = new (config: Config) => Layer;

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
}

const COLLAPSE = new Set(['Flatten', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D']);
const DROPPED = new Set(['Dropout', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'SpatialDropout2D', 'ActivityRegularization']);
const ELEMENTWISE = new Set(['Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'PReLU', 'Rescaling']);
/** Layers a head may hold besides Dense; a backwards walk from the output passes them. */
const HEAD_KINDS = new Set([...COLLAPSE, ...DROPPED, ...ELEMENTWISE, 'Dense', 'Softmax', 'BatchNormalization', 'Reshape', 'Conv2D']);
const STRIDED = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'MaxPooling2D', 'AveragePooling2D']);
const SPATIAL_NEUTRAL = new Set([
  ...DROPPED, ...ELEMENTWISE, 'Softmax', 'BatchNormalization', 'LayerNormalization', 'Dense', 'Add', 'Multiply', 'Concatenate',
  'Average', 'Maximum', 'Minimum', 'Subtract', 'ZeroPadding2D', 'Cropping2D', 'InputLayer', 'Permute',
]);

function pair(x: unknown, fallback: number): [number, number] {
  if (Array.isArray(x)) return [Number(x[0]), Number(x[1] ?? x[0])];
  if (typeof x === 'number') return [x, x];
  return [fallback, fallback];
}

function layerRef(node: FlatNode): { name: string; className: string } {
  return { name: node.layer.name, className: node.className };
}

/** Spatial shape [h, w, c] of a tensor at the window size; a rank-3 input [h, w] is one channel. */
function hwc(shape: (number | null)[]): [number, number, number] {
  const s = shape.slice(1) as number[];
  return s.length === 2 ? [s[0], s[1], 1] : [s[0], s[1], s[2]];
}

/** Builds fresh layers with unique names, copying weights from the classifier's layers. */
class LayerFactory {
  private readonly used = new Set<string>();
  private readonly pending: { layer: Layer; weights: tf.Tensor[]; owned: tf.Tensor[] }[] = [];

  unique(name: string): string {
    let n = name;
    for (let k = 2; this.used.has(n); k++) n = `${name}_${k}`;
    this.used.add(n);
    return n;
  }

  clone(node: FlatNode, overrides: Config = {}): Layer {
    const config = { ...(node.layer.getConfig() as Config), ...overrides };
    for (const k of ['batchInputShape', 'inputShape', 'inputDim', 'batchSize']) delete config[k];
    config.name = this.unique(node.layer.name);
    const Cls = node.layer.constructor as LayerClass;
    const layer = new Cls(config);
    this.pending.push({ layer, weights: node.layer.getWeights(), owned: [] });
    return layer;
  }

  /** `owned` are temporaries made for `weights` (reshaped kernels), disposed once copied in. */
  make(layer: Layer, weights: tf.Tensor[] = [], owned: tf.Tensor[] = []): Layer {
    this.pending.push({ layer, weights, owned });
    return layer;
  }

  /** Frees the weights of every layer made so far: the conversion failed and the model is not returned. */
  discard(): void {
    for (const { layer, owned } of this.pending) {
      for (const w of layer.weights) w.dispose();
      tf.dispose(owned);
    }
  }

  /** Layers are built by apply(); weights can only be set after that. */
  setWeights(): void {
    for (const { layer, weights, owned } of this.pending) {
      if (weights.length > 0) layer.setWeights(weights);
      tf.dispose(owned);
    }
  }
}

interface HeadPlan {
  /** Index in the backwards chain where the head starts (its collapse layer). */
  collapse: FlatNode;
  nodes: FlatNode[];
  boundary: number;
}

/** Finds the spatial→vector collapse (Flatten/GlobalPooling) and the head after it. */
function findHead(graph: FlatGraph, file: string): HeadPlan {
  const chain: FlatNode[] = [];
  let t = graph.outputs[0];
  for (;;) {
    const node = graph.producer[t];
    if (!node || node.inputs.length !== 1 || !HEAD_KINDS.has(node.className)) break;
    chain.unshift(node);
    t = node.inputs[0];
  }
  const collapses = (n: FlatNode): boolean =>
    n.className === 'Flatten' ? graph.shapes[n.inputs[0]].length >= 3 : COLLAPSE.has(n.className);
  const collapseAt = chain.findIndex(collapses);
  if (collapseAt < 0) {
    const last = graph.producer[graph.outputs[0]];
    const blocker = graph.producer[t];
    // The blocker is in the head when a Dense follows it or a Flatten/GlobalPooling precedes it.
    const inHead = chain.some((n) => n.className === 'Dense') || nodesUpTo(graph, t).some(collapses);
    if (blocker && !HEAD_KINDS.has(blocker.className) && inHead) {
      throw new ModelError(file, 'cannot be part of a convertible head (accepted after Flatten/GlobalPooling: Dense, Dropout, Activation, Softmax, BatchNormalization, Reshape, 1×1 Conv2D)', layerRef(blocker));
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
 * @param model the classifier, input [batch, H, W, C] or [batch, H, W]
 * @param file used in error messages
 */
export function convertClassifier(model: tf.LayersModel, file: string): Conversion {
  const factory = new LayerFactory();
  try {
    return buildConversion(model, file, factory);
  } catch (e) {
    // Trunk layers cloned before a refusal already own weights; nothing else would free them.
    factory.discard();
    throw e;
  }
}

function buildConversion(model: tf.LayersModel, file: string, factory: LayerFactory): Conversion {
  const graph = flattenModel(model);
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
    throw new ModelError(file, `has ${graph.inputs.length} inputs and ${graph.outputs.length} outputs; Convmap converts single-input, single-output classifiers`);
  }
  const inShape = graph.shapes[graph.inputs[0]];
  if (inShape.length < 3 || inShape.length > 4 || inShape.slice(1).some((d) => d === null)) {
    throw new ModelError(file, `input shape [${inShape.join(', ')}] is not an image [height, width(, channels)] of fixed size`);
  }
  const [wy, wx, channels] = hwc(inShape);
  const plan = findHead(graph, file);
  const trunk = nodesUpTo(graph, plan.boundary);
  if (inShape.length === 3 && trunk.length > 0) {
    throw new ModelError(file, 'input has no channel axis but layers before the head need one', layerRef(trunk[0]));
  }

  const input = tf.input({ shape: [null, null, channels], name: factory.unique('image') });
  const env = new Map<number, tf.SymbolicTensor>([[graph.inputs[0], input]]);
  const stride = new Map<number, [number, number]>([[graph.inputs[0], [1, 1]]]);
  const padded: string[] = [];
  let validKernels = 0;
  let sameKernels = 0;

  for (const node of trunk) {
    const ins = node.inputs.map((i) => env.get(i) as tf.SymbolicTensor);
    const layer = factory.clone(node);
    const out = layer.apply(ins.length === 1 ? ins[0] : ins) as tf.SymbolicTensor | tf.SymbolicTensor[];
    const outs = Array.isArray(out) ? out : [out];
    node.outputs.forEach((o, i) => env.set(o, outs[i]));

    const inStride = node.inputs.map((i) => stride.get(i)).find((s) => s !== undefined) ?? [1, 1];
    const cfg = node.layer.getConfig() as Config;
    let own: [number, number] = [1, 1];
    if (STRIDED.has(node.className)) {
      const pooling = node.className.endsWith('Pooling2D');
      const kernel = pair(pooling ? cfg.poolSize : cfg.kernelSize, 1);
      own = pair(cfg.strides, 1);
      if (pooling && cfg.strides == null) own = kernel;
      const dil = pair(cfg.dilationRate, 1);
      const eff = [(kernel[0] - 1) * dil[0] + 1, (kernel[1] - 1) * dil[1] + 1];
      const big = eff[0] > 1 || eff[1] > 1;
      if (cfg.padding === 'same') {
        const [h, w] = hwc(graph.shapes[node.inputs[0]]);
        const pads = pooling
          ? [[h, eff[0], own[0]], [w, eff[1], own[1]]].some(([n, k, s]) => (Math.ceil(n / s) - 1) * s + k - n > 0)
          : big;
        if (pads) padded.push(`${node.layer.name} ('same' ${eff[0]}×${eff[1]})`);
        if (pooling ? pads : big) sameKernels++;
      } else if (big && !(pooling && kernel[0] === own[0] && kernel[1] === own[1])) {
        // A non-overlapping pool neither pads nor trims a border: VGG's 2×2 pools do not make a same-padded net 'mixed'.
        validKernels++;
      }
    } else if (node.className === 'ZeroPadding2D') {
      padded.push(`${node.layer.name} (ZeroPadding2D)`);
      sameKernels++;
    } else if (node.className === 'GlobalAveragePooling2D' || node.className === 'GlobalMaxPooling2D') {
      padded.push(`${node.layer.name} (${node.className} inside the trunk: cells see the whole image)`);
    } else if (!SPATIAL_NEUTRAL.has(node.className)) {
      throw new ModelError(file, 'is not supported in a trunk that must run at any input size', layerRef(node));
    }
    node.outputs.forEach((o) => stride.set(o, [inStride[0] * own[0], inStride[1] * own[1]]));
  }

  const boundaryShape = graph.shapes[plan.boundary];
  const [bh, bw, bc] = hwc(boundaryShape);
  let x = env.get(plan.boundary) as tf.SymbolicTensor;
  const head: string[] = [];
  let state: HeadState = { kind: 'map', channels: bc };
  const apply = (layer: Layer): void => {
    x = layer.apply(x) as tf.SymbolicTensor;
  };

  for (const node of plan.nodes) {
    const cfg = node.layer.getConfig() as Config;
    const what = `${node.layer.name} (${node.className})`;
    const inShape = graph.shapes[node.inputs[0]];
    switch (node.className) {
      case 'Flatten': {
        if (node !== plan.collapse) {
          head.push(`${what}: identity on a per-location vector`);
        } else if (bh === 1 && bw === 1) {
          head.push(`${what} of ${bh}×${bw}×${bc}: identity (the map is already one cell)`);
        } else {
          state = { kind: 'flat', hwc: [bh, bw, bc] };
          head.push(`${what} of ${bh}×${bw}×${bc}: folded into the next Dense`);
        }
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const avg = node.className === 'GlobalAveragePooling2D';
        const args = { poolSize: [bh, bw] as [number, number], strides: [1, 1] as [number, number], padding: 'valid' as const, name: factory.unique(node.layer.name) };
        apply(factory.make(avg ? tf.layers.averagePooling2d(args) : tf.layers.maxPooling2d(args)));
        head.push(`${what} over ${bh}×${bw}×${bc} → ${avg ? 'AveragePooling2D' : 'MaxPooling2D'} ${bh}×${bw}, stride 1`);
        break;
      }
      case 'Dense': {
        const units = Number(cfg.units);
        const [kernel, bias] = node.layer.getWeights();
        const kh = state.kind === 'flat' ? state.hwc[0] : 1;
        const kw = state.kind === 'flat' ? state.hwc[1] : 1;
        const cin = state.kind === 'flat' ? state.hwc[2] : state.channels;
        if (kernel.shape[0] !== kh * kw * cin) {
          throw new ModelError(file, `kernel has ${kernel.shape[0]} rows, expected ${kh}×${kw}×${cin}`, layerRef(node));
        }
        const conv = tf.layers.conv2d({
          filters: units, kernelSize: [kh, kw], strides: 1, padding: 'valid',
          activation: cfg.activation as 'linear', useBias: cfg.useBias !== false, name: factory.unique(node.layer.name),
        });
        const reshaped = kernel.reshape([kh, kw, cin, units]);
        apply(factory.make(conv, [reshaped, ...(bias ? [bias] : [])], [reshaped]));
        head.push(`${what} ${units} units, ${String(cfg.activation)} → Conv2D ${kh}×${kw}×${cin} → ${units}, valid, ${String(cfg.activation)}`);
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
        head.push(`${what} 1×1 → kept`);
        state = { kind: 'map', channels: Number(cfg.filters) };
        break;
      }
      case 'Reshape': {
        const target = (cfg.targetShape as number[]) ?? [];
        const channels = state.kind === 'map' ? state.channels : -1;
        const ok = target.length > 0 && target[target.length - 1] === channels && target.slice(0, -1).every((d) => d === 1);
        if (!ok) throw new ModelError(file, `Reshape to [${target.join(', ')}] mixes locations and cannot run per location`, layerRef(node));
        head.push(`${what} to [${target.join(', ')}]: identity on a per-location vector`);
        break;
      }
      case 'BatchNormalization':
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
        head.push(`${what} → kept, over the channel axis of every cell`);
        break;
      }
      default: {
        if (DROPPED.has(node.className)) {
          head.push(`${what} → dropped (no-op at inference)`);
        } else if (ELEMENTWISE.has(node.className)) {
          if (node.className === 'Activation' && cfg.activation === 'softmax' && state.kind === 'flat') {
            throw new ModelError(file, 'applies softmax to a flattened map; it cannot be applied per location', layerRef(node));
          }
          apply(factory.clone(node));
          head.push(`${what}${cfg.activation ? ` ${String(cfg.activation)}` : ''} → kept, per location`);
        } else {
          throw new ModelError(file, 'cannot be part of a convertible head', layerRef(node));
        }
      }
    }
  }
  if (state.kind === 'flat') {
    throw new ModelError(file, 'the head ends without a Dense layer after Flatten', layerRef(plan.nodes[plan.nodes.length - 1]));
  }

  const fcn = tf.model({ inputs: input, outputs: x, name: factory.unique(`${model.name}_fcn`) });
  factory.setWeights();
  const s = stride.get(plan.boundary) ?? [1, 1];
  let padding: PaddingKind = 'valid';
  if (sameKernels > 0) padding = validKernels > 0 ? 'mixed' : 'same';
  const boundaryProducer = graph.producer[plan.boundary];
  return {
    fcn,
    window: [wy, wx],
    stride: s,
    offset: [0, 0],
    channels,
    classes: state.channels,
    head,
    boundary: { layer: boundaryProducer ? boundaryProducer.layer.name : 'input', shape: [bh, bw, bc] },
    padding,
    paddedLayers: padded,
  };
}
