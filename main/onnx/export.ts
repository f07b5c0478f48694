/**
 * tfjs fully convolutional model → ONNX. The graph takes `image` [batch, height, width, channels]
 * (NHWC, free height and width, like the tfjs FCN) and gives `scores` [batch, rows, cols, classes];
 * inside, every tensor is NCHW, the layout ONNX Runtime's convolutions run in, so there is one
 * Transpose after the input and one before the output and none in between.
 *
 * A logical [batch, C] vector (after a global pooling inside the trunk) is carried as [batch, C, 1, 1],
 * which broadcasts against [batch, C, H, W] the way Keras broadcasts [batch, 1, 1, C].
 */
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../model/errors';
import { KerasLayerScale, KerasNormalization, KerasUpSampling2D } from '../model/keras-layers';
import { OnnxLRN } from '../model/lrn-layer';
import { OnnxPow } from '../model/pow-layer';
import { OnnxChannelReduce } from '../model/channel-reduce-layer';
import { pair } from '../model/layer-config';
import { flattenModel, type FlatNode } from '../convert/graph';
import { ONNX_INPUT, ONNX_OUTPUT } from '../ort/names';
import { foldPads } from './fold-pads';
import { writeFileAtomic } from '../io/atomic';
import { AttributeType, DataType, encodeModel, materialize, modelChunks, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto';

type Config = Record<string, unknown>;

export { ONNX_INPUT, ONNX_OUTPUT } from '../ort/names';

/** Where one tfjs layer's output is in the ONNX graph. */
export interface LayerOutput {
  layer: string;
  className: string;
  /** ONNX tensor name (NCHW physical layout). */
  tensor: string;
  /** Rank of the tfjs tensor: 4 for [batch, h, w, c], 2 for [batch, c]. */
  rank: 2 | 4;
}

export interface OnnxModel {
  /** ONNX protobuf bytes (opset 17). */
  bytes: Uint8Array;
  /** Every mapped layer's output, in topological order. */
  layers: LayerOutput[];
  /** Channels of the input and classes of the output. */
  channels: number;
  classes: number;
}

export interface ExportOptions {
  /** Stored as the model's metadata_props. */
  metadata?: Record<string, string>;
  /** producer_version written into the file. */
  producerVersion?: string;
  /** Largest kernel one Conv node holds, bytes (default {@link MAX_CONV_WEIGHT_BYTES}). */
  maxConvWeightBytes?: number;
}

/**
 * Largest kernel written as one Conv node; bigger ones (VGG16's first Dense head as a 7×7×512×4096
 * convolution: 392 MiB) become Convs over groups of output channels joined by a Concat, which
 * computes the same thing. ONNX Runtime's NCHWc layout pass holds about four copies of each kernel it
 * reorders while the session is built, so one huge kernel set the whole model's peak: splitting
 * VGG16's took that peak from 2.2 GB to 1.4 GB at the same CPU time per pass.
 */
export const MAX_CONV_WEIGHT_BYTES = 64 * 2 ** 20;

interface Val {
  name: string;
  rank: 2 | 4;
}

interface Weight {
  /** The values (read from tfjs when first asked for). */
  readonly data: Float32Array;
  shape: number[];
  /** Forgets the values read so far (a later `data` reads them again). */
  release?: () => void;
  /** OIHW kernels: writes output channels [o0, o1) into `out` without making the whole kernel. */
  rows?: (o0: number, o1: number, out: Float32Array) => void;
  /** The values without a copy where tfjs's backend can show them ({@link heapView}), to be used at once. */
  heap?: () => Float32Array | undefined;
}

/**
 * A float32 tensor's values as a view of tfjs's WebAssembly heap, without the copy dataSync makes
 * (VGG's head kernel: 411 MB), or undefined on another backend. Valid only until tfjs next
 * allocates: read at once, never kept.
 */
function heapView(t: tf.Tensor): Float32Array | undefined {
  if (t.dtype !== 'float32' || tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as { typedArrayFromHeap?: (info: tf.TensorInfo) => unknown };
  try {
    const view = backend.typedArrayFromHeap?.(t);
    return view instanceof Float32Array && view.length === t.size ? view : undefined;
  } catch {
    return undefined;
  }
}

/** A weight whose values are read from tfjs when first needed, and can be let go of again. */
function lazyWeight(shape: number[], read: () => Float32Array, extra: Pick<Weight, 'rows' | 'heap'> = {}): Weight {
  // No object spread of a Weight anywhere: it would call the `data` getter, reading the values at once.
  let data: Float32Array | undefined;
  return {
    shape,
    get data(): Float32Array {
      data ??= read();
      return data;
    },
    release: () => {
      data = undefined;
    },
    ...extra,
  };
}

function padPairs(x: unknown): [[number, number], [number, number]] {
  if (typeof x === 'number') return [[x, x], [x, x]];
  if (Array.isArray(x) && x.length === 2) {
    const p = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)]);
    return [p(x[0]), p(x[1])];
  }
  return [[0, 0], [0, 0]];
}

const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f }),
  string: (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) }),
};

/** Accumulates nodes and initializers with unique tensor names. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();

  unique(base: string): string {
    let n = base;
    for (let k = 2; this.used.has(n); k++) n = `${base}_${k}`;
    this.used.add(n);
    return n;
  }

  /**
   * An initializer whose bytes are written only when the model is encoded (see TensorProto.deferred):
   * a big kernel is then never held as a whole transposed copy beside the file's bytes.
   */
  deferredFloats(base: string, dims: number[], write: (out: Float32Array) => void): string {
    const name = this.unique(base);
    const count = dims.reduce((a, b) => a * b, 1);
    this.initializers.push({
      name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(0),
      deferred: {
        byteLength: count * 4,
        write: (out) => {
          // Straight into the file's bytes where they are 4-byte aligned (little-endian, as the copy below); else through a copy.
          if (out.byteOffset % 4 === 0) {
            write(new Float32Array(out.buffer, out.byteOffset, count));
            return;
          }
          const values = new Float32Array(count);
          write(values);
          out.set(new Uint8Array(values.buffer));
        },
      },
    });
    return name;
  }

  floats(base: string, data: Float32Array, dims: number[]): string {
    const name = this.unique(base);
    // A view, not a copy: kernels are the exporter's own transposed arrays (see layerWeights for the rest).
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  int64s(base: string, values: (number | bigint)[]): string {
    const name = this.unique(base);
    const arr = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(arr.buffer) });
    return name;
  }

  scalar(base: string, value: number): string {
    return this.floats(base, Float32Array.of(value), []);
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: string[], base: string, attribute: AttributeProto[] = []): string {
    const output = this.unique(`${base}/${opType}`);
    this.nodes.push({ name: output, opType, input: inputs, output: [output], attribute });
    return output;
  }
}

/** A 4-D row-major array with its axes reordered: out axis a is in axis perm[a]. */
function permute4(data: Float32Array, shape: number[], perm: [number, number, number, number]): Float32Array {
  const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  const [n0, n1, n2, n3] = perm.map((p) => shape[p]);
  const [t0, t1, t2, t3] = perm.map((p) => strides[p]);
  const out = new Float32Array(data.length);
  let at = 0;
  for (let a = 0; a < n0; a++) {
    for (let b = 0; b < n1; b++) {
      for (let c = 0; c < n2; c++) {
        for (let d = 0; d < n3; d++) out[at++] = data[a * t0 + b * t1 + c * t2 + d * t3];
      }
    }
  }
  return out;
}

/** Side of the square tiles {@link oihwRows} transposes in, so that reads and writes stay in cache. */
const TILE = 32;

/**
 * Output channels [o0, o1) of a kernel HWIO [kh, kw, cin, cout] in OIHW order ([o1 − o0, cin, kh,
 * kw]) into `out`: the [kh·kw·cin, cout] matrix transposed tile by tile. An element by element
 * permutation reads VGG's 400 MB Dense-as-convolution kernel a cache miss per value (20 s of CPU);
 * this takes about a second.
 */
function oihwRows(data: Float32Array, [kh, kw, cin, cout]: number[], o0: number, o1: number, out: Float32Array): void {
  const rows = kh * kw * cin;
  const khw = kh * kw;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let b0 = o0; b0 < o1; b0 += TILE) {
      const b1 = Math.min(o1, b0 + TILE);
      for (let o = b0; o < b1; o++) {
        const d = (o - o0) * rows;
        // Row r of the HWIO matrix is kernel position p = ⌊r / cin⌋, input channel c = r mod cin.
        let p = Math.floor(r0 / cin);
        let c = r0 - p * cin;
        for (let r = r0; r < r1; r++) {
          out[d + c * khw + p] = data[r * cout + o];
          if (++c === cin) {
            c = 0;
            p++;
          }
        }
      }
    }
  }
}

/** Keras NHWC layout → ONNX NCHW: conv kernels [kh, kw, cin, cout] → OIHW [cout, cin, kh, kw]. */
function convKernel(k: Weight): Weight {
  const [kh, kw, cin, cout] = k.shape;
  const oihw = lazyWeight([cout, cin, kh, kw], () => {
    const out = new Float32Array(k.data.length);
    oihwRows(k.data, k.shape, 0, cout, out);
    return out;
  }, { rows: (o0, o1, out) => oihwRows(k.heap?.() ?? k.data, k.shape, o0, o1, out) });
  const forget = oihw.release;
  oihw.release = () => {
    forget?.();
    k.release?.();
  };
  return oihw;
}

/** Depthwise kernel [kh, kw, cin, m] → [cin·m, 1, kh, kw]: output channel c·m + j, as TensorFlow orders it. */
function depthwiseKernel(k: Weight): Weight {
  const [kh, kw, cin, m] = k.shape;
  return { data: permute4(k.data, k.shape, [2, 3, 0, 1]), shape: [cin * m, 1, kh, kw] };
}

function denseKernel(k: Weight): Weight {
  const [cin, units] = k.shape;
  const asConv = lazyWeight([1, 1, cin, units], () => k.data, { heap: k.heap });
  asConv.release = k.release;
  return convKernel(asConv);
}

/** The layer's weights by Keras name (kernel, bias, gamma, moving_mean, …). */
function layerWeights(layer: tf.layers.Layer): Map<string, Weight> {
  const out = new Map<string, Weight>();
  const values = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const short = (w.originalName ?? w.name).split('/').pop() ?? '';
    const key = short.replace(/_\d+$/, '');
    // Read when first needed: a deferred kernel is read while the model is encoded (exportOnnx) or
    // before exportOnnxGraph returns. dataSync's array stays valid after the model is disposed.
    const value = values[i];
    out.set(key, lazyWeight(value.shape.slice(), () => value.dataSync() as Float32Array, { heap: () => heapView(value) }));
  });
  return out;
}

/** Keras activations that are one ONNX op of `x` alone, by name. */
const UNARY_ACTIVATIONS: ReadonlyMap<string, string> = new Map([
  ['relu', 'Relu'], ['selu', 'Selu'], ['sigmoid', 'Sigmoid'], ['tanh', 'Tanh'], ['softplus', 'Softplus'], ['softsign', 'Softsign'],
]);

/** Maps one tfjs graph onto ONNX nodes. */
class Exporter {
  readonly g = new GraphBuilder();
  readonly layers: LayerOutput[] = [];
  /** Shapes of the graph's tensors by id (FlatGraph.shapes). */
  shapes: (number | null)[][] = [];
  private node!: FlatNode;

  constructor(private readonly file: string, private readonly maxConvWeightBytes = MAX_CONV_WEIGHT_BYTES) {}

  fail(detail: string): never {
    throw new ModelError(this.file, detail, { name: this.node.layer.name, className: this.node.className });
  }

  private get base(): string {
    return this.node.layer.name;
  }

  private op(opType: string, inputs: string[], attribute: AttributeProto[] = []): string {
    return this.g.op(opType, inputs, this.base, attribute);
  }

  private channelVector(data: Float32Array, tag: string): string {
    return this.g.floats(`${this.base}/${tag}`, data, [data.length, 1, 1]);
  }

  /** A Keras activation by name (tfjs or Keras spelling), applied to NCHW `x`. */
  activation(x: string, name: unknown): string {
    const a = typeof name === 'string' ? name : 'linear';
    const unary = UNARY_ACTIVATIONS.get(a);
    if (unary !== undefined) return this.op(unary, [x]);
    switch (a) {
      case 'linear':
        return x;
      case 'relu6':
        return this.op('Clip', [x, this.g.scalar(`${this.base}/zero`, 0), this.g.scalar(`${this.base}/six`, 6)]);
      case 'elu':
        return this.op('Elu', [x], [attr.float('alpha', 1)]);
      case 'hardSigmoid':
      case 'hard_sigmoid':
        // Keras 2's (and tfjs's) clip(0.2·x + 0.5, 0, 1); topology.ts renames Keras 3's to keras3HardSigmoid.
        return this.op('HardSigmoid', [x], [attr.float('alpha', 0.2), attr.float('beta', 0.5)]);
      case 'keras3HardSigmoid':
        // Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1).
        return this.op('HardSigmoid', [x], [attr.float('alpha', 1 / 6), attr.float('beta', 0.5)]);
      case 'hardSilu':
      case 'hardSwish':
        return this.op('HardSwish', [x]);
      case 'leakyRelu':
        return this.op('LeakyRelu', [x], [attr.float('alpha', 0.2)]);
      case 'exponential':
        return this.op('Exp', [x]);
      case 'hardTanh':
        return this.op('Clip', [x, this.g.scalar(`${this.base}/minus_one`, -1), this.g.scalar(`${this.base}/one`, 1)]);
      case 'logSigmoid':
        return this.op('Neg', [this.op('Softplus', [this.op('Neg', [x])])]);
      case 'celu':
        return this.op('Celu', [x], [attr.float('alpha', 1)]);
      case 'swish':
      case 'silu':
        return this.op('Mul', [x, this.op('Sigmoid', [x])]);
      case 'mish':
        return this.op('Mul', [x, this.op('Tanh', [this.op('Softplus', [x])])]);
      case 'gelu': {
        const erf = this.op('Erf', [this.op('Div', [x, this.g.scalar(`${this.base}/sqrt2`, Math.SQRT2)])]);
        const cdf = this.op('Mul', [this.op('Add', [erf, this.g.scalar(`${this.base}/one`, 1)]), this.g.scalar(`${this.base}/half`, 0.5)]);
        return this.op('Mul', [x, cdf]);
      }
      case 'gelu_new':
      case 'geluNew': {
        const cube = this.op('Mul', [this.op('Mul', [x, x]), x]);
        const inner = this.op('Add', [x, this.op('Mul', [cube, this.g.scalar(`${this.base}/c`, 0.044715)])]);
        const t = this.op('Tanh', [this.op('Mul', [inner, this.g.scalar(`${this.base}/k`, Math.sqrt(2 / Math.PI))])]);
        const half = this.op('Mul', [this.op('Add', [t, this.g.scalar(`${this.base}/one`, 1)]), this.g.scalar(`${this.base}/half`, 0.5)]);
        return this.op('Mul', [x, half]);
      }
      case 'softmax':
        return this.op('Softmax', [x], [attr.int('axis', 1)]);
      case 'logSoftmax':
      case 'log_softmax':
        return this.op('LogSoftmax', [x], [attr.int('axis', 1)]);
      default:
        return this.fail(`activation '${a}' has no ONNX mapping`);
    }
  }

  /** Pads of a `same` window op: explicit when they do not depend on the input size, else SAME_UPPER. */
  private padding(cfg: Config, kernel: [number, number], strides: [number, number], dil: [number, number]): AttributeProto[] {
    if (cfg.padding === 'valid' || cfg.padding === undefined) return [];
    if (cfg.padding !== 'same') this.fail(`padding '${String(cfg.padding)}' has no ONNX mapping`);
    const eff = [0, 1].map((i) => (kernel[i] - 1) * dil[i] + 1);
    if ([0, 1].some((i) => strides[i] > 1 && eff[i] > 1)) {
      // TensorFlow's total pad then depends on the input size mod stride; SAME_UPPER puts the odd pixel
      // at the end exactly as TensorFlow does, for every size.
      return [attr.string('auto_pad', 'SAME_UPPER')];
    }
    const begin = eff.map((e) => Math.floor((e - 1) / 2));
    const end = eff.map((e, i) => e - 1 - begin[i]);
    return [attr.ints('pads', [begin[0], begin[1], end[0], end[1]])];
  }

  private conv(x: string, kernel: Weight, bias: Weight | undefined, cfg: Config, group: number): string {
    const k: [number, number] = [kernel.shape[2], kernel.shape[3]];
    const strides = pair(cfg.strides, 1);
    const dil = pair(cfg.dilationRate, 1);
    const attributes = [
      attr.ints('kernel_shape', k), attr.ints('strides', strides), attr.ints('dilations', dil), attr.int('group', group),
      ...this.padding(cfg, k, strides, dil),
    ];
    const [out, ...rest] = kernel.shape;
    const perOutput = rest.reduce((a, b) => a * b, 1);
    // Grouped kernels are small (one input channel per group); splitting them would split the groups too.
    const parts = group === 1 ? Math.min(out, Math.ceil((out * perOutput * 4) / this.maxConvWeightBytes)) : 1;
    const pieces: string[] = [];
    const rows = kernel.rows;
    let left = parts;
    for (let p = 0; p < parts; p++) {
      const o0 = Math.floor((p * out) / parts);
      const o1 = Math.floor(((p + 1) * out) / parts);
      const tag = parts === 1 ? '' : `_${o0}-${o1}`;
      // OIHW: a range of output channels is a contiguous block. Deferred, each part is transposed from
      // tfjs's kernel as it is written, and the kernel let go of after its last part.
      const weight = rows
        ? this.g.deferredFloats(`${this.base}/W${tag}`, [o1 - o0, ...rest], (values) => {
          rows(o0, o1, values);
          if (--left === 0) kernel.release?.();
        })
        : this.g.floats(`${this.base}/W${tag}`, kernel.data.subarray(o0 * perOutput, o1 * perOutput), [o1 - o0, ...rest]);
      const inputs = [x, weight];
      if (bias !== undefined) inputs.push(this.g.floats(`${this.base}/B${tag}`, bias.data.subarray(o0, o1), [o1 - o0]));
      pieces.push(this.op('Conv', inputs, attributes));
    }
    return parts === 1 ? pieces[0] : this.op('Concat', pieces, [attr.int('axis', 1)]);
  }

  private checkChannelsLast(cfg: Config): void {
    const f = cfg.dataFormat;
    if (f !== undefined && f !== 'channelsLast' && f !== 'channels_last') this.fail(`data format '${String(f)}' has no ONNX mapping (channels-last only)`);
  }

  private channelAxis(v: Val, axis: unknown): void {
    const a = Array.isArray(axis) ? (axis.length === 1 ? Number(axis[0]) : NaN) : Number(axis ?? -1);
    if (!(a === -1 || a === v.rank - 1)) this.fail(`works over axis ${JSON.stringify(axis)}; only the channel axis has an ONNX mapping`);
  }

  /** NHWC axis (1 = height, 2 = width, 3 = channels, negative from the end) → NCHW axis. */
  private physicalAxis(v: Val, axis: number): number {
    const a = axis < 0 ? axis + v.rank : axis;
    if (v.rank === 2) {
      if (a !== 1) this.fail(`axis ${axis} of a [batch, channels] tensor has no ONNX mapping`);
      return 1;
    }
    if (a < 1 || a > 3) this.fail(`axis ${axis} has no ONNX mapping`);
    return [0, 2, 3, 1][a];
  }

  /** Maps one layer call; returns its output. */
  layer(node: FlatNode, ins: Val[]): Val {
    this.node = node;
    const layer = node.layer;
    const cfg = layer.getConfig() as Config;
    const x = ins[0];
    const keep = (name: string, rank: 2 | 4 = x.rank): Val => ({ name, rank });
    const cls = node.className;
    const needMap = (): void => {
      if (x.rank !== 4) this.fail('needs a [batch, height, width, channels] input');
      this.checkChannelsLast(cfg);
    };
    switch (cls) {
      case 'Dropout': case 'SpatialDropout2D': case 'GaussianNoise': case 'GaussianDropout': case 'AlphaDropout':
      case 'ActivityRegularization': case 'InputLayer':
        return x;
      case 'Conv2D': {
        needMap();
        const w = layerWeights(layer);
        const kernel = w.get('kernel') ?? this.fail('has no kernel');
        const groups = Number(cfg.groups ?? 1);
        return keep(this.activation(this.conv(x.name, convKernel(kernel), w.get('bias'), cfg, groups), cfg.activation));
      }
      case 'DepthwiseConv2D': {
        needMap();
        const w = layerWeights(layer);
        const kernel = w.get('depthwise_kernel') ?? this.fail('has no depthwise kernel');
        // tfjs's DepthwiseConv2D layer ignores dilationRate (the converter's atrous rewrite uses
        // SeparableConv2D where it needs one); the ONNX model computes what the tfjs model does.
        const undilated = { ...cfg, dilationRate: 1 };
        return keep(this.activation(this.conv(x.name, depthwiseKernel(kernel), w.get('bias'), undilated, kernel.shape[2]), cfg.activation));
      }
      case 'SeparableConv2D': {
        needMap();
        const w = layerWeights(layer);
        const dk = w.get('depthwise_kernel') ?? this.fail('has no depthwise kernel');
        const pk = w.get('pointwise_kernel') ?? this.fail('has no pointwise kernel');
        const depthwise = this.conv(x.name, depthwiseKernel(dk), undefined, cfg, dk.shape[2]);
        const pointwise = this.conv(depthwise, convKernel(pk), w.get('bias'), { padding: 'valid' }, 1);
        return keep(this.activation(pointwise, cfg.activation));
      }
      case 'Dense': {
        // On a map or a vector Dense acts on the channel axis: a 1×1 convolution.
        const w = layerWeights(layer);
        const kernel = w.get('kernel') ?? this.fail('has no kernel');
        return keep(this.activation(this.conv(x.name, denseKernel(kernel), w.get('bias'), { padding: 'valid' }, 1), cfg.activation));
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        needMap();
        const k = pair(cfg.poolSize, 2);
        const strides = cfg.strides == null ? k : pair(cfg.strides, 1);
        const pool = (input: string, kernel: [number, number]): string => {
          const attrs = [attr.ints('kernel_shape', kernel), attr.ints('strides', strides), ...this.padding(cfg, kernel, strides, [1, 1])];
          // tfjs's 'same' average pooling divides by the pixels inside the image only.
          if (cls === 'AveragePooling2D') attrs.push(attr.int('count_include_pad', 0));
          return this.op(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [input], attrs);
        };
        // At stride 1 a k×k pool is a k×1 pool then a 1×k one, exactly (the pixels inside the image form
        // a rectangle, so the mean of column means is the mean): 2k reads a cell instead of k², which is
        // what the window-sized Squeeze-and-Excitation pools of early stages cost (EfficientNet's 120×120).
        if (strides[0] === 1 && strides[1] === 1 && k[0] > 1 && k[1] > 1) return keep(pool(pool(x.name, [k[0], 1]), [1, k[1]]));
        return keep(pool(x.name, k));
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        needMap();
        const y = this.op(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x.name]);
        return keep(y, cfg.keepDims === true ? 4 : 2);
      }
      case 'BatchNormalization': {
        this.channelAxis(x, cfg.axis);
        const w = layerWeights(layer);
        const mean = w.get('moving_mean') ?? this.fail('has no moving mean');
        const variance = w.get('moving_variance') ?? this.fail('has no moving variance');
        const c = mean.data.length;
        const gamma = w.get('gamma')?.data ?? new Float32Array(c).fill(1);
        const beta = w.get('beta')?.data ?? new Float32Array(c);
        const t = (tag: string, d: Float32Array): string => this.g.floats(`${this.base}/${tag}`, d, [c]);
        return keep(this.op('BatchNormalization', [x.name, t('scale', gamma), t('B', beta), t('mean', mean.data), t('var', variance.data)], [
          attr.float('epsilon', Number(cfg.epsilon ?? 1e-3)),
        ]));
      }
      case 'LayerNormalization': {
        this.channelAxis(x, cfg.axis);
        const w = layerWeights(layer);
        const axes = [attr.ints('axes', [1]), attr.int('keepdims', 1)];
        const d = this.op('Sub', [x.name, this.op('ReduceMean', [x.name], axes)]);
        const v = this.op('ReduceMean', [this.op('Mul', [d, d])], axes);
        let y = this.op('Div', [d, this.op('Sqrt', [this.op('Add', [v, this.g.scalar(`${this.base}/eps`, Number(cfg.epsilon ?? 1e-3))])])]);
        const gamma = w.get('gamma');
        const beta = w.get('beta');
        if (gamma !== undefined) y = this.op('Mul', [y, this.channelVector(gamma.data, 'gamma')]);
        if (beta !== undefined) y = this.op('Add', [y, this.channelVector(beta.data, 'beta')]);
        return keep(y);
      }
      case 'Activation':
        return keep(this.activation(x.name, cfg.activation));
      case 'ReLU': {
        const max = cfg.maxValue;
        if (max === undefined || max === null) return keep(this.op('Relu', [x.name]));
        return keep(this.op('Clip', [x.name, this.g.scalar(`${this.base}/zero`, 0), this.g.scalar(`${this.base}/max`, Number(max))]));
      }
      case 'LeakyReLU':
        return keep(this.op('LeakyRelu', [x.name], [attr.float('alpha', Number(cfg.alpha ?? 0.3))]));
      case 'ELU':
        return keep(this.op('Elu', [x.name], [attr.float('alpha', Number(cfg.alpha ?? 1))]));
      case 'ThresholdedReLU':
        return keep(this.op('ThresholdedRelu', [x.name], [attr.float('alpha', Number(cfg.theta ?? 1))]));
      case 'PReLU': {
        const alpha = layerWeights(layer).get('alpha') ?? this.fail('has no alpha');
        const c = alpha.shape[alpha.shape.length - 1];
        if (alpha.data.length !== c) this.fail(`alpha of shape [${alpha.shape.join(', ')}] varies over locations; only a per-channel alpha has an ONNX mapping`);
        return keep(this.op('PRelu', [x.name, this.channelVector(alpha.data, 'slope')]));
      }
      case 'Softmax': {
        this.channelAxis(x, cfg.axis);
        return keep(this.op('Softmax', [x.name], [attr.int('axis', 1)]));
      }
      case 'Rescaling': {
        const vec = (v: unknown, tag: string): string => (Array.isArray(v)
          ? this.channelVector(Float32Array.from(v.map(Number)), tag)
          : this.g.scalar(`${this.base}/${tag}`, Number(v)));
        let y = x.name;
        const scale = cfg.scale ?? 1;
        const offset = cfg.offset ?? 0;
        if (!(scale === 1)) y = this.op('Mul', [y, vec(scale, 'scale')]);
        if (!(offset === 0)) y = this.op('Add', [y, vec(offset, 'offset')]);
        return keep(y);
      }
      case 'LayerScale': {
        if (!(layer instanceof KerasLayerScale)) return this.fail('is not the LayerScale layer Convmap reads');
        return keep(this.op('Mul', [x.name, this.channelVector(layer.scale(), 'gamma')]));
      }
      case 'ConvmapLRN': {
        needMap();
        if (!(layer instanceof OnnxLRN)) return this.fail('is not the LRN layer Convmap reads');
        const { size, alpha, beta, bias } = layer.lrn;
        return keep(this.op('LRN', [x.name], [attr.int('size', size), attr.float('alpha', alpha), attr.float('beta', beta), attr.float('bias', bias)]));
      }
      case 'ConvmapChannelReduce': {
        // Axis 1 holds the channels of an NCHW map and of a [batch, channels] vector alike.
        if (!(layer instanceof OnnxChannelReduce)) return this.fail('is not the channel reduction Convmap reads');
        const opType = { mean: 'ReduceMean', max: 'ReduceMax', l2: 'ReduceL2' }[layer.op];
        return keep(this.op(opType, [x.name], [attr.ints('axes', [1]), attr.int('keepdims', 1)]));
      }
      case 'ConvmapPow': {
        if (!(layer instanceof OnnxPow)) return this.fail('is not the Pow layer Convmap reads');
        return keep(this.op('Pow', [x.name, this.g.scalar(`${this.base}/exponent`, layer.exponent)]));
      }
      case 'Normalization': {
        if (!(layer instanceof KerasNormalization)) return this.fail('is not the Normalization layer Convmap reads');
        const shape = layer.outputShape as (number | null)[];
        const { scale, offset } = layer.affine(Number(shape[shape.length - 1]));
        return keep(this.op('Add', [this.op('Mul', [x.name, this.channelVector(scale, 'scale')]), this.channelVector(offset, 'offset')]));
      }
      case 'Add': case 'Multiply': case 'Average': case 'Maximum': case 'Minimum': {
        const names = ins.map((v) => v.name);
        const rank = ins.some((v) => v.rank === 4) ? 4 : 2;
        if (cls === 'Multiply') return keep(names.slice(1).reduce((a, b) => this.op('Mul', [a, b]), names[0]), rank);
        const onnxOp = { Add: names.length === 2 ? 'Add' : 'Sum', Average: 'Mean', Maximum: 'Max', Minimum: 'Min' }[cls];
        return keep(this.op(onnxOp, names), rank);
      }
      case 'Subtract': {
        if (ins.length !== 2) this.fail(`subtracts ${ins.length} inputs; Keras's Subtract takes 2`);
        return keep(this.op('Sub', [ins[0].name, ins[1].name]), ins.some((v) => v.rank === 4) ? 4 : 2);
      }
      case 'UpSampling2D': {
        needMap();
        const [fy, fx] = pair(cfg.size, 2);
        const scales = this.g.floats(`${this.base}/scales`, Float32Array.of(1, 1, fy, fx), [4]);
        // Nearest repeats each value (floor(i / f)); bilinear is Keras's (TensorFlow 2's) half-pixel resize.
        const attrs = cfg.interpolation === 'bilinear'
          ? [attr.string('mode', 'linear'), attr.string('coordinate_transformation_mode', 'half_pixel')]
          : [attr.string('mode', 'nearest'), attr.string('coordinate_transformation_mode', 'asymmetric'), attr.string('nearest_mode', 'floor')];
        if (cfg.interpolation !== 'bilinear' && cfg.interpolation !== 'nearest' && cfg.interpolation !== undefined) {
          this.fail(`interpolation '${String(cfg.interpolation)}' has no ONNX mapping`);
        }
        // tfjs's own class (not the one Convmap registers) computes bilinear with TensorFlow 1's alignment.
        if (cfg.interpolation === 'bilinear' && !(layer instanceof KerasUpSampling2D)) this.fail('is TensorFlow.js\'s own bilinear UpSampling2D (TensorFlow 1\'s alignment): no ONNX mapping');
        return keep(this.op('Resize', [x.name, '', scales], attrs));
      }
      case 'Concatenate': {
        if (ins.some((v) => v.rank !== x.rank)) this.fail('concatenates tensors of different ranks');
        return keep(this.op('Concat', ins.map((v) => v.name), [attr.int('axis', this.physicalAxis(x, Number(cfg.axis ?? -1)))]));
      }
      case 'ZeroPadding2D': {
        needMap();
        const [[t, b], [l, r]] = padPairs(cfg.padding);
        return keep(this.op('Pad', [x.name, this.g.int64s(`${this.base}/pads`, [0, 0, t, l, 0, 0, b, r])], [attr.string('mode', 'constant')]));
      }
      case 'Cropping2D': {
        needMap();
        const [[t, b], [l, r]] = padPairs(cfg.cropping);
        const big = 2n ** 62n;
        const starts = this.g.int64s(`${this.base}/starts`, [t, l]);
        const ends = this.g.int64s(`${this.base}/ends`, [b > 0 ? -b : big, r > 0 ? -r : big]);
        return keep(this.op('Slice', [x.name, starts, ends, this.g.int64s(`${this.base}/axes`, [2, 3])]));
      }
      case 'Flatten': {
        if (x.rank === 2) return x;
        // A classifier's Flatten of a fixed H×W×C map (the crop check runs classifiers in ONNX Runtime):
        // Keras flattens in NHWC order, carried on as a [batch, H·W·C, 1, 1] vector.
        const [h, w, c] = (this.shapes[node.inputs[0]] ?? []).slice(1);
        if (![h, w, c].every((d) => typeof d === 'number' && d > 0)) this.fail('flattens a map of free size; only a map of fixed size has an ONNX mapping');
        const nhwc = this.op('Transpose', [x.name], [attr.ints('perm', [0, 2, 3, 1])]);
        return keep(this.op('Reshape', [nhwc, this.g.int64s(`${this.base}/shape`, [0, Number(h) * Number(w) * Number(c), 1, 1])]), 2);
      }
      case 'Reshape': {
        const target = Array.isArray(cfg.targetShape) ? cfg.targetShape.map(Number) : [];
        const perLocation = target.length > 0 && target.slice(0, -1).every((d) => d === 1);
        if (x.rank !== 2 || !perLocation || (target.length !== 1 && target.length !== 3)) {
          this.fail(`Reshape to [${target.join(', ')}] has no ONNX mapping (only a [channels] vector to [1, 1, channels] or [channels])`);
        }
        return keep(x.name, target.length === 3 ? 4 : 2);
      }
      case 'Permute': {
        needMap();
        const dims = Array.isArray(cfg.dims) ? cfg.dims.map(Number) : [];
        if (dims.length !== 3) this.fail(`Permute dims ${JSON.stringify(cfg.dims)} have no ONNX mapping`);
        const logical = [0, ...dims];
        const toNchw = [0, 3, 1, 2];
        const toNhwc = [0, 2, 3, 1];
        return keep(this.op('Transpose', [x.name], [attr.ints('perm', toNchw.map((i) => toNhwc[logical[i]]))]));
      }
      default:
        return this.fail('has no ONNX mapping');
    }
  }
}

/**
 * Writes a tfjs fully convolutional model (Convmap's converted FCN, or any single-input single-output
 * Layers model built from the layers mapped here) as an ONNX model with free height and width.
 * @param fcn input [batch, height, width, channels] (height and width may be null), output
 *   [batch, rows, cols, classes]
 * @param file named in error messages
 * @throws ModelError naming the first layer (and its class) that has no ONNX mapping
 */
export function exportOnnx(fcn: tf.LayersModel, file: string, opts: ExportOptions = {}): OnnxModel {
  // Encoded while `fcn` lives: each kernel is transposed straight into the bytes (no second copy of the weights).
  const { model, ...rest } = graphOf(fcn, file, opts);
  return { bytes: encodeModel(model), ...rest };
}

/**
 * {@link exportOnnx} written to `dest` as it is encoded (to a temporary name, then renamed): the same
 * bytes, never whole in memory; each kernel is transposed from tfjs's heap into its part of the file.
 * @throws ModelError naming the first layer that has no ONNX mapping (before anything is written)
 */
export async function exportOnnxFile(fcn: tf.LayersModel, file: string, dest: string, opts: ExportOptions = {}): Promise<Omit<OnnxModel, 'bytes'>> {
  const { model, ...rest } = graphOf(fcn, file, opts);
  await writeFileAtomic(dest, () => modelChunks(model, { release: true }));
  return rest;
}

/**
 * {@link exportOnnx} before serialisation: the graph holds its own copies of the weights, so the
 * tfjs model can be freed before the bytes are written (one copy of a big model less at the peak).
 */
export function exportOnnxGraph(fcn: tf.LayersModel, file: string, opts: ExportOptions = {}): Omit<OnnxModel, 'bytes'> & { model: ModelProto } {
  const graph = graphOf(fcn, file, opts);
  materialize(graph.model.graph.initializer);
  return graph;
}

/** {@link exportOnnxGraph} with its kernels deferred: they read `fcn` when encoded. */
function graphOf(fcn: tf.LayersModel, file: string, opts: ExportOptions): Omit<OnnxModel, 'bytes'> & { model: ModelProto } {
  const graph = flattenModel(fcn);
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
    throw new ModelError(file, `has ${graph.inputs.length} inputs and ${graph.outputs.length} outputs; the ONNX export takes one of each`);
  }
  const inShape = graph.shapes[graph.inputs[0]];
  const outShape = graph.shapes[graph.outputs[0]];
  if (inShape.length !== 4 || typeof inShape[3] !== 'number') throw new ModelError(file, `input shape [${inShape.join(', ')}] is not [batch, height, width, channels]`);
  if (outShape.length !== 4 || typeof outShape[3] !== 'number') throw new ModelError(file, `output shape [${outShape.join(', ')}] is not [batch, rows, cols, classes]`);
  const channels = inShape[3];
  const classes = outShape[3];

  const ex = new Exporter(file, opts.maxConvWeightBytes);
  ex.shapes = graph.shapes;
  const g = ex.g;
  g.unique(ONNX_INPUT);
  g.unique(ONNX_OUTPUT);
  const nchw = g.op('Transpose', [ONNX_INPUT], 'input', [attr.ints('perm', [0, 3, 1, 2])]);
  const env = new Map<number, Val>([[graph.inputs[0], { name: nchw, rank: 4 }]]);
  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => env.get(i) as Val);
    const out = ex.layer(node, ins);
    if (node.outputs.length !== 1) ex.fail(`has ${node.outputs.length} outputs`);
    env.set(node.outputs[0], out);
    if (out.name !== nchw) ex.layers.push({ layer: node.layer.name, className: node.className, tensor: out.name, rank: out.rank });
  }
  const last = env.get(graph.outputs[0]) as Val;
  if (last.rank !== 4) throw new ModelError(file, 'the model ends in a [batch, classes] vector, not a map of cells');
  g.nodes.push({ name: 'output/Transpose', opType: 'Transpose', input: [last.name], output: [ONNX_OUTPUT], attribute: [attr.ints('perm', [0, 2, 3, 1])] });
  foldPads(g.nodes, g.initializers);

  const output: ValueInfoProto[] = [{ name: ONNX_OUTPUT, elemType: DataType.FLOAT, shape: ['batch', 'rows', 'cols', classes] }];
  const model: ModelProto = {
    producerName: 'Convmap',
    producerVersion: opts.producerVersion ?? '0.1.0',
    docString: `${fcn.name}: fully convolutional model, NHWC in and out, free height and width`,
    metadata: opts.metadata,
    graph: {
      name: fcn.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [{ name: ONNX_INPUT, elemType: DataType.FLOAT, shape: ['batch', 'height', 'width', channels] }],
      output,
    },
  };
  return { model, layers: ex.layers, channels, classes };
}
