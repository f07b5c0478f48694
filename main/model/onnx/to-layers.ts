/**
 * An ONNX classifier (PyTorch, tf2onnx, keras2onnx, CNTK exports) rebuilt as a tfjs Layers model at
 * its window size, so it goes through the one head rewrite, stride rewrite, equivalence check and
 * ONNX export that Keras and tfjs models go through (main/convert, main/onnx/export.ts).
 *
 * Every ONNX tensor is tracked in its logical ONNX layout while the tfjs tensor is channels-last:
 * a feature map read as NCHW (PyTorch) or NHWC (tf2onnx, after its Transposes), or a vector whose
 * elements tfjs holds in another order than ONNX (a Flatten of an NCHW map flattens C·H·W in ONNX
 * and H·W·C in tfjs): the Dense that reads it gets its kernel rows in the order tfjs holds.
 */
import * as tf from '@tensorflow/tfjs';
// Registers the activations tfjs lacks (hardSwish, Keras 3's hard sigmoid) under the names used below.
import '../activations';
import { OnnxLRN } from '../lrn-layer';
import { OnnxPow } from '../pow-layer';
import { OnnxChannelReduce } from '../channel-reduce-layer';
import { KerasELU } from '../keras-layers';
import { IMAGE_CHAIN_OPS } from './input-scaling';
import { ModelError } from '../errors';
import { MAX_INPUT_PIXELS } from '../guards';
import { OnnxType, typeName, type OnnxAttribute, type OnnxModelFile, type OnnxNode, type OnnxTensor } from './read';

type Layout = 'nchw' | 'nhwc';

/** A constant (initializer, Constant node, or a shape computation folded at the window size). */
interface ConstVal {
  kind: 'const';
  dims: number[];
  values: Float32Array | number[];
}

/** A feature map [batch, h, w, c] in tfjs; `layout` is how the ONNX graph orders it. */
interface MapVal {
  kind: 'map';
  t: tf.SymbolicTensor;
  layout: Layout;
  /** Every value is ≥ 0 (after a Relu): zero padding then equals −∞ padding for a max pool. */
  nonNeg: boolean;
  /**
   * ONNX holds this NCHW map as [batch, g, C/g, h, w] (a channel shuffle's first Reshape), or as
   * [batch, C/g, g, h, w] once transposed; only the shuffle's Transpose and Reshape may read it.
   */
  groups?: { g: number; transposed: boolean };
}

/**
 * A vector [batch, n] in tfjs. `rank` 4 is ONNX's [batch, n, 1, 1] (after a global pooling), 3 its
 * [batch, n, 1] (one of those ones squeezed); `order[j]` is the ONNX element that tfjs holds at j
 * (null: the same order).
 */
interface VecVal {
  kind: 'vec';
  t: tf.SymbolicTensor;
  rank: 2 | 3 | 4;
  order: Int32Array | null;
  nonNeg: boolean;
  /** A rank-4 vector transposed to [batch, 1, 1, n] (channels-last), else [batch, n, 1, 1]. */
  channelsLast?: boolean;
}

type Val = ConstVal | MapVal | VecVal;

/** What the import gives the converter. */
export interface ImportedClassifier {
  /** Input [batch, h, w, c] at the window size; output [batch, classes]. */
  model: tf.LayersModel;
  window: [number, number];
  channels: number;
  classes: number;
  /** The ONNX graph input and its element type and layout. */
  input: { name: string; elemType: number; dims: number[]; layout: Layout | 'flat' };
  /** The ONNX tensor whose values the tfjs output reproduces (a trailing ArgMax/Cast stripped). */
  scores: string;
  /** The graph output chosen (may differ from `scores` when an ArgMax was stripped). */
  output: string;
  /** The tfjs output is softmax of the ONNX scores' LogSoftmax (compare exp of ONNX's). */
  logSoftmax: boolean;
  /** One line per thing the import decided that a user should know. */
  notes: string[];
}

export interface ImportOptions {
  /** Name of the graph output to convert (default: the first that gives class scores). */
  output?: string;
  /** Window [h, w] for an input whose height and width are free (default 224×224, said in the notes); refused for a fixed one that differs. */
  window?: [number, number];
}

/** Operators that mean the model is not an image classifier that can slide. */
const SEQUENCE_OPS = new Set(['LSTM', 'GRU', 'RNN', 'Scan', 'Loop', 'If']);

/** Why a graph holding a SEQUENCE_OPS node is refused: If is a branch, not a sequence (PyTorch writes one in nn.LocalResponseNorm). */
function sequenceReason(op: string): string {
  return op === 'If'
    ? 'If chooses a branch while the graph runs (PyTorch writes one in nn.LocalResponseNorm and in checks of a shape): Convmap rewrites graphs without control flow'
    : `${op} is a recurrent or control-flow operator: a sequence model, not an image classifier that can slide`;
}
const UPSAMPLING_OPS = new Set(['ConvTranspose', 'Resize', 'Upsample', 'DepthToSpace']);
/** Normalisations by statistics over a map's height and width (PyTorch exports GroupNorm as InstanceNormalization between Reshapes). */
const WHOLE_MAP_NORMS = new Set(['InstanceNormalization', 'GroupNormalization', 'MeanVarianceNormalization']);
/** Operators of an integer-quantised graph (the model zoo's `-int8` files, onnxruntime's quantize_static). */
const QUANTISED_OPS = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger', 'QLinearAdd', 'QLinearMul', 'QLinearGlobalAveragePool']);
const PASS_OPS = new Set(['Identity', 'Dropout']);
const STRIPPED_TAIL = new Set(['ArgMax', 'Cast', 'Identity', 'TopK']);

/** A folded shape computation (ConstantOfShape, a Slice of a constant) holds at most this many values. */
const MAX_FOLDED_VALUES = 1 << 20;

/** A grouped convolution's block-diagonal kernel is written out in full up to this many bytes. */
export const MAX_GROUPED_KERNEL_BYTES = 64 * 2 ** 20;

function attr(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attribute.get(name);
}

function ints(node: OnnxNode, name: string, fallback: number[]): number[] {
  return attr(node, name)?.ints ?? fallback;
}

function int(node: OnnxNode, name: string, fallback: number): number {
  return attr(node, name)?.i ?? fallback;
}

function float(node: OnnxNode, name: string, fallback: number): number {
  return attr(node, name)?.f ?? fallback;
}

function str(node: OnnxNode, name: string, fallback: string): string {
  return attr(node, name)?.s ?? fallback;
}

function count(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function floats(v: ConstVal): Float32Array {
  return v.values instanceof Float32Array ? v.values : Float32Array.from(v.values);
}

/** TensorFlow's 'same' padding [before, after] of one axis of size n. */
function samePads(n: number, k: number, s: number): [number, number] {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * A row-major [rows, cols] matrix transposed to [cols, rows], in tiles: a VGG head's 4096 × 25088
 * matrix read column by column would miss the cache on nearly every element.
 */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  const T = 64;
  for (let r0 = 0; r0 < rows; r0 += T) {
    for (let c0 = 0; c0 < cols; c0 += T) {
      const r1 = Math.min(r0 + T, rows);
      const c1 = Math.min(c0 + T, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = m[r * cols + c];
    }
  }
  return out;
}

/** Initial weights of layers whose weights are set right after: tfjs's random ones would cost seconds on VGG. */
const ZEROS = { kernelInitializer: 'zeros', biasInitializer: 'zeros' } as const;

/** Builds the tfjs model node by node. */
class Importer {
  private readonly vals = new Map<string, Val>();
  private readonly producer = new Map<string, OnnxNode>();
  private readonly consumers = new Map<string, OnnxNode[]>();
  private readonly names = new Set<string>();
  /** The window taken for a free height and width when none was given (refusals then say so). */
  private guessedWindow: [number, number] | undefined;
  /** The image input's batch where the file fixes it above 1 (traced with a data loader's batch); null otherwise. */
  private fixedBatch: number | null = null;
  /** Nodes already accounted for by a neighbour (a bias Add folded into its MatMul). */
  private readonly done = new Set<OnnxNode>();
  readonly notes: string[] = [];
  logSoftmax = false;

  constructor(private readonly m: OnnxModelFile) {
    for (const n of m.nodes) {
      for (const o of n.output) this.producer.set(o, n);
      for (const i of n.input) {
        if (!this.consumers.has(i)) this.consumers.set(i, []);
        this.consumers.get(i)?.push(n);
      }
    }
    for (const [name, t] of m.initializers) this.vals.set(name, { kind: 'const', dims: t.dims, values: t.values });
  }

  fail(node: OnnxNode | undefined, detail: string): never {
    // Shapes computed from a free input size fold at the window: one taken as 224 may not be the size the graph was traced at.
    const hint = this.guessedWindow && node ? ` (the window was taken as ${this.guessedWindow[0]}×${this.guessedWindow[1]} for the free height and width: --window gives the size it was trained at)` : '';
    throw new ModelError(this.m.file, node ? `node "${node.name}" (${node.opType}): ${detail}${hint}` : detail);
  }

  private layerName(node: OnnxNode, suffix = ''): string {
    let base = `${node.name}${suffix}`.replace(/[^-A-Za-z0-9._/]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
    if (base === '') base = node.opType.toLowerCase();
    let name = base;
    for (let k = 2; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** Applies a layer to `x` and sets its weights (the layer is built by the call). */
  private apply(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[], weights?: { data: Float32Array; shape: number[] }[]): tf.SymbolicTensor {
    const y = layer.apply(x) as tf.SymbolicTensor;
    if (weights) {
      const ts = weights.map((w) => tf.tensor(w.data, w.shape, 'float32'));
      try {
        layer.setWeights(ts);
      } finally {
        tf.dispose(ts);
      }
    }
    return y;
  }

  private get(node: OnnxNode, i: number): Val {
    const name = node.input[i];
    const v = name ? this.vals.get(name) : undefined;
    if (!v) this.fail(node, `input ${i + 1} ("${name ?? ''}") is not available: the graph does not compute it before this node`);
    return v;
  }

  private optConst(node: OnnxNode, i: number): ConstVal | undefined {
    if (!node.input[i]) return undefined;
    const v = this.get(node, i);
    if (v.kind !== 'const') this.fail(node, `input ${i + 1} must be a constant, here it is computed from the image`);
    return v;
  }

  private map(node: OnnxNode, i = 0): MapVal {
    const v = this.get(node, i);
    if (v.kind !== 'map') this.fail(node, `expects a feature map, gets a ${v.kind === 'vec' ? 'vector' : 'constant'}`);
    return v;
  }

  private set(node: OnnxNode, v: Val, out = 0): void {
    this.vals.set(node.output[out], v);
  }

  private shapeOf(v: MapVal | VecVal): { h: number; w: number; c: number } {
    const s = v.t.shape;
    return v.kind === 'map' ? { h: s[1] as number, w: s[2] as number, c: s[3] as number } : { h: 1, w: 1, c: s[1] as number };
  }

  /** ONNX dims of a value at the window size (batch 1). */
  /**
   * The height × width a Resize or Upsample gives its map at the window size (from its constant
   * sizes, or scales), or undefined when they are not constants or the input is not a map.
   */
  private resizeTarget(node: OnnxNode): { from: number[]; to: number[]; same: boolean; larger: boolean } | undefined {
    const x = this.vals.get(node.input[0]);
    if (!x || x.kind !== 'map') return undefined;
    const dims = this.dimsOf(x);
    const [hy, hx] = x.layout === 'nchw' ? [2, 3] : [1, 2];
    // Resize (opset 11+): X, roi, scales, sizes; Resize-10 and Upsample-9: X, scales; Upsample-7: a scales attribute.
    const late = node.opType === 'Resize' && this.m.opset >= 11;
    const sizes = late ? this.optConstOrUndefined(node.input[3]) : undefined;
    const scalesConst = this.optConstOrUndefined(node.input[late ? 2 : 1]);
    const scales = scalesConst && scalesConst.values.length === dims.length ? Array.from(scalesConst.values, Number) : attr(node, 'scales')?.floats;
    let to: number[];
    if (sizes && sizes.values.length === dims.length) to = [Number(sizes.values[hy]), Number(sizes.values[hx])];
    else if (scales && scales.length === dims.length) to = [Math.floor(dims[hy] * scales[hy]), Math.floor(dims[hx] * scales[hx])];
    else return undefined;
    const from = [dims[hy], dims[hx]];
    return { from, to, same: to[0] === from[0] && to[1] === from[1], larger: to[0] >= from[0] && to[1] >= from[1] };
  }

  /**
   * The [h, w] a graph resizes its free-size input to first (a Resize with constant sizes, reached
   * through Cast, Transpose, Identity or arithmetic with constants), as Keras's Resizing after the input gives the window.
   */
  private resizeWindow(input: string): [number, number] | undefined {
    let name = input;
    for (let steps = 0; steps < 16; steps++) {
      const next = this.consumers.get(name) ?? [];
      if (next.length !== 1) return undefined;
      const n = next[0];
      if (n.opType === 'Resize') {
        const sizes = this.m.opset >= 11 ? this.optConstOrUndefined(n.input[3]) : undefined;
        const v = sizes && sizes.values.length === 4 ? Array.from(sizes.values, Number) : undefined;
        if (!v || !v.every((d) => Number.isInteger(d) && d > 0)) return undefined;
        // NCHW ([1, C, h, w]) or NHWC ([1, h, w, C]) by where the channels (1 or 3) are.
        if (v[1] === 1 || v[1] === 3) return [v[2], v[3]];
        if (v[3] === 1 || v[3] === 3) return [v[1], v[2]];
        return undefined;
      }
      if (!IMAGE_CHAIN_OPS.has(n.opType)) return undefined;
      if (n.input.filter((i) => i !== '' && !this.optConstOrUndefined(i)).length !== 1) return undefined;
      name = n.output[0];
    }
    return undefined;
  }

  /** True when `name` is the graph's input, or computed from it by Cast, Transpose, Identity or arithmetic with constants only. */
  private readsInput(name: string): boolean {
    for (let steps = 0; steps < 16; steps++) {
      if (this.m.inputs.some((i) => i.name === name)) return true;
      const p = this.producer.get(name);
      if (!p || !IMAGE_CHAIN_OPS.has(p.opType)) return false;
      const computed = p.input.filter((i) => i !== '' && !this.optConstOrUndefined(i));
      if (computed.length !== 1) return false;
      name = computed[0];
    }
    return false;
  }

  private dimsOf(v: Val): number[] {
    if (v.kind === 'const') return v.dims;
    const { h, w, c } = this.shapeOf(v);
    if (v.kind === 'vec') return v.rank === 4 ? (v.channelsLast ? [1, 1, 1, c] : [1, c, 1, 1]) : v.rank === 3 ? [1, c, 1] : [1, c];
    if (v.groups) return v.groups.transposed ? [1, c / v.groups.g, v.groups.g, h, w] : [1, v.groups.g, c / v.groups.g, h, w];
    return v.layout === 'nchw' ? [1, c, h, w] : [1, h, w, c];
  }

  /** The graph's image input as a tfjs input, and its value. */
  input(opts: ImportOptions): ImportedClassifier['input'] & { tensor: tf.SymbolicTensor; window: [number, number]; channels: number } {
    const inputs = this.m.inputs.filter((i) => !this.m.initializers.has(i.name));
    if (inputs.length !== 1) {
      this.fail(undefined, inputs.length === 0 ? 'the graph has no input' : `the graph has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}): an image classifier has one`);
    }
    const inp = inputs[0];
    if (![OnnxType.FLOAT, OnnxType.DOUBLE, OnnxType.UINT8, OnnxType.FLOAT16].includes(inp.elemType as 1)) {
      this.fail(undefined, `input "${inp.name}" holds ${typeName(inp.elemType)} values, not an image (float or uint8)`);
    }
    const dims = inp.dims;
    if (!dims) this.fail(undefined, `input "${inp.name}" has no shape in the file`);
    const fixed = (d: number | string | null): number | null => (typeof d === 'number' && d > 0 ? d : null);
    const batch = fixed(dims[0]);
    this.fixedBatch = dims.length >= 2 && batch !== null && batch > 1 ? batch : null;
    const first = this.consumers.get(inp.name) ?? [];
    const free = (): [number, number] => {
      const resized = opts.window ? undefined : this.resizeWindow(inp.name);
      const w = opts.window ?? resized ?? [224, 224];
      if (!opts.window && !resized) this.guessedWindow = w;
      this.notes.push(opts.window
        ? `input "${inp.name}" has a free height and width: the window is ${w[0]}×${w[1]}, as given`
        : resized
          ? `input "${inp.name}" has a free height and width: the window is ${w[0]}×${w[1]}, the size the graph resizes it to`
          : `input "${inp.name}" has a free height and width: the window is taken as ${w[0]}×${w[1]} (give the size it was trained at with --window)`);
      return w;
    };
    const given = (hw: number[]): number[] => {
      if (opts.window && (opts.window[0] !== hw[0] || opts.window[1] !== hw[1])) {
        this.fail(undefined, `input "${inp.name}" has a fixed ${hw[0]}×${hw[1]} size, so a window of ${opts.window[0]} px cannot be given to it (leave the window size out)`);
      }
      return hw;
    };
    let layout: Layout | 'flat';
    let hwc: [number, number, number];
    if (dims.length === 4) {
      const transposed = first.length > 0 && first.every((n) => n.opType === 'Transpose' && ints(n, 'perm', []).join() === '0,3,1,2');
      const chanFirst = [1, 3, 4].includes(fixed(dims[1]) ?? 0);
      const chanLast = [1, 3, 4].includes(fixed(dims[3]) ?? 0);
      layout = transposed || (chanLast && !chanFirst) || (chanLast && first.some((n) => n.opType === 'Flatten' || n.opType === 'Reshape')) ? 'nhwc' : 'nchw';
      const [c, h, w] = layout === 'nchw' ? [dims[1], dims[2], dims[3]] : [dims[3], dims[1], dims[2]];
      const ch = fixed(c);
      if (ch === null) this.fail(undefined, `input "${inp.name}" [${dims.join(', ')}] has no fixed number of channels`);
      const hw = fixed(h) !== null && fixed(w) !== null ? given([fixed(h) as number, fixed(w) as number]) : free();
      hwc = [hw[0], hw[1], ch];
    } else if (dims.length === 3) {
      layout = 'nhwc';
      const hw = fixed(dims[1]) !== null && fixed(dims[2]) !== null ? [fixed(dims[1]) as number, fixed(dims[2]) as number] : free();
      hwc = [hw[0], hw[1], 1];
      this.notes.push(`input "${inp.name}" [${dims.join(', ')}] has no channel axis: read as a one-channel image`);
    } else if (dims.length === 2 && fixed(dims[1]) !== null) {
      const k = fixed(dims[1]) as number;
      // Past a Cast (a float64 or uint8 input made float inside) to the Reshape that makes the image.
      const passed: OnnxNode[] = [];
      let next = first;
      while (next.length === 1 && (next[0].opType === 'Cast' || next[0].opType === 'Identity')) {
        passed.push(next[0]);
        next = this.consumers.get(next[0].output[0]) ?? [];
      }
      const reshape = next.length === 1 && next[0].opType === 'Reshape' ? next[0] : undefined;
      const shape = reshape ? this.optConstOrUndefined(reshape.input[1]) : undefined;
      if (reshape && shape && shape.values.length === 4) {
        const s = Array.from(shape.values, Number);
        const nhwc = [1, 3, 4].includes(s[3]) && ![1, 3, 4].includes(s[1]);
        layout = nhwc ? 'nhwc' : 'nchw';
        const [c, h, w] = nhwc ? [s[3], s[1], s[2]] : [s[1], s[2], s[3]];
        if (c * h * w !== k) this.fail(reshape, `reshapes the ${k} input values to [${s.join(', ')}]`);
        hwc = [h, w, c];
        this.notes.push(`input "${inp.name}" holds ${k} values that the graph reshapes to a ${h}×${w}×${c} image`);
        this.checkSize(inp.name, hwc);
        const tensor = tf.input({ shape: hwc, name: 'image' });
        this.vals.set(reshape.output[0], { kind: 'map', t: tensor, layout, nonNeg: false });
        for (const n of [...passed, reshape]) this.done.add(n);
        return { name: inp.name, elemType: inp.elemType, dims: [1, k], layout: 'flat', tensor, window: [h, w], channels: c };
      }
      const side = Math.round(Math.sqrt(k));
      if (side * side !== k) this.fail(undefined, `input "${inp.name}" is a vector of ${k} values, not an image`);
      layout = 'flat';
      hwc = [side, side, 1];
      this.notes.push(`input "${inp.name}" holds ${k} values: read as a ${side}×${side} one-channel image, row by row`);
    } else {
      this.fail(undefined, `input "${inp.name}" [${dims.join(', ')}] is not an image`);
    }
    this.checkSize(inp.name, hwc);
    const tensor = tf.input({ shape: hwc, name: 'image' });
    this.vals.set(inp.name, layout === 'flat'
      ? { kind: 'vec', t: this.apply(tf.layers.flatten({ name: 'image_flat' }), tensor), rank: 2, order: null, nonNeg: false }
      : { kind: 'map', t: tensor, layout, nonNeg: false });
    const d = layout === 'nchw' ? [1, hwc[2], hwc[0], hwc[1]] : layout === 'flat' ? [1, hwc[0] * hwc[1]] : [1, ...hwc];
    return { name: inp.name, elemType: inp.elemType, dims: d, layout, tensor, window: [hwc[0], hwc[1]], channels: hwc[2] };
  }

  /** Refuses an input too big to run (a small file may declare a huge one): before anything is allocated for it. */
  private checkSize(name: string, hwc: [number, number, number]): void {
    if (hwc[0] * hwc[1] > MAX_INPUT_PIXELS || hwc[2] > 4) {
      this.fail(undefined, `input "${name}" is ${hwc.join('×')}, over the limit of ${MAX_INPUT_PIXELS} pixels (4096×4096) and 4 channels that Convmap runs a classifier on`);
    }
  }

  private optConstOrUndefined(name: string | undefined): ConstVal | undefined {
    if (!name) return undefined;
    const v = this.vals.get(name);
    if (v?.kind === 'const') return v;
    const p = this.producer.get(name);
    if (p?.opType === 'Constant') {
      const t = attr(p, 'value')?.t;
      if (t) return { kind: 'const', dims: t.dims, values: t.values };
    }
    return undefined;
  }

  /** The nodes the output depends on, in an order where each comes after its inputs' producers. */
  order(output: string): OnnxNode[] {
    const out: OnnxNode[] = [];
    const state = new Map<OnnxNode, 1 | 2>();
    const stack: { node: OnnxNode; next: number }[] = [];
    const visit = (name: string): void => {
      const start = this.producer.get(name);
      if (!start || state.has(start)) return;
      state.set(start, 1);
      stack.push({ node: start, next: 0 });
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.next < top.node.input.length) {
          const p = this.producer.get(top.node.input[top.next++]);
          if (p && !state.has(p)) {
            state.set(p, 1);
            stack.push({ node: p, next: 0 });
          } else if (p && state.get(p) === 1) {
            this.fail(p, 'the graph has a cycle through this node');
          }
        } else {
          state.set(top.node, 2);
          out.push(top.node);
          stack.pop();
        }
      }
    };
    visit(output);
    return out;
  }

  run(nodes: OnnxNode[]): void {
    for (const node of nodes) {
      if (SEQUENCE_OPS.has(node.opType)) {
        this.fail(node, sequenceReason(node.opType));
      }
      if (UPSAMPLING_OPS.has(node.opType)) {
        const resized = node.opType === 'Resize' || node.opType === 'Upsample' ? this.resizeTarget(node) : undefined;
        if (resized?.same) {
          // A model that resizes its input to the size it trained at does nothing at that window.
          this.set(node, this.get(node, 0));
          continue;
        }
        if (resized && (!resized.larger || this.readsInput(node.input[0]))) {
          this.fail(node, `resizes the image from ${resized.from.join('×')} to ${resized.to.join('×')}: the classifier does not look at the photo pixel for pixel, so its cells could not be its crops`);
        }
        this.fail(node, `${node.opType} scales a feature map up: a segmenter or generator, not an image classifier`);
      }
      if (QUANTISED_OPS.has(node.opType)) {
        this.fail(node, `${node.opType}: an integer-quantised model; Convmap rewrites float models, so open the float32 export of this classifier`);
      }
      if (node.domain !== '' && node.domain !== 'ai.onnx') this.fail(node, `operator of domain "${node.domain}" is not standard ONNX`);
      if (this.done.has(node)) continue;
      if (node.input.every((i) => i === '' || this.vals.get(i)?.kind === 'const' || (!this.vals.has(i) && this.optConstOrUndefined(i)))) {
        if (this.fold(node)) continue;
      }
      try {
        this.node(node);
      } catch (e) {
        if (e instanceof ModelError) throw e;
        this.fail(node, `TensorFlow.js could not rebuild it: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }

  /** Evaluates a node whose inputs are all constant. Returns false when it is not one this folds. */
  private fold(node: OnnxNode): boolean {
    const c = (i: number): ConstVal => {
      const v = this.vals.get(node.input[i]) ?? this.optConstOrUndefined(node.input[i]);
      if (!v || v.kind !== 'const') this.fail(node, `input ${i + 1} is missing`);
      return v;
    };
    const num = (v: ConstVal): number[] => Array.from(v.values, Number);
    const out = (dims: number[], values: Float32Array | number[]): true => {
      this.set(node, { kind: 'const', dims, values });
      return true;
    };
    switch (node.opType) {
      case 'Constant': {
        const a = attr(node, 'value');
        if (a?.t) return out(a.t.dims, a.t.values);
        const vf = attr(node, 'value_float') ?? attr(node, 'value_int');
        if (vf?.f !== undefined) return out([], [vf.f]);
        if (vf?.i !== undefined) return out([], [vf.i]);
        const vs = attr(node, 'value_floats') ?? attr(node, 'value_ints');
        if (vs?.floats) return out([vs.floats.length], Float32Array.from(vs.floats));
        if (vs?.ints) return out([vs.ints.length], vs.ints);
        return this.fail(node, 'holds no value this reader knows');
      }
      case 'Identity': case 'Dropout':
        return out(c(0).dims, c(0).values);
      case 'Cast': {
        // To an integer type a value is truncated toward zero (as ONNX Runtime casts), to BOOL it is 0 or 1.
        const x = c(0);
        const to = int(node, 'to', OnnxType.FLOAT);
        if (to === OnnxType.FLOAT || to === OnnxType.DOUBLE || to === OnnxType.FLOAT16) return out(x.dims, floats(x));
        return out(x.dims, num(x).map((v) => (to === OnnxType.BOOL ? Number(v !== 0) : Math.trunc(v))));
      }
      case 'ConstantOfShape': {
        // timm's Conv2dSame and F.pad with computed pads build their pads from it.
        const shape = node.input[0] ? num(c(0)) : [];
        const n = count(shape);
        if (!(n <= MAX_FOLDED_VALUES)) this.fail(node, `would fill ${n} values, more than a shape computation holds (${MAX_FOLDED_VALUES})`);
        const v = attr(node, 'value')?.t;
        const fill = v && v.values.length > 0 ? Number(v.values[0]) : 0;
        const floatFill = v === undefined || v.dataType === OnnxType.FLOAT || v.dataType === OnnxType.DOUBLE || v.dataType === OnnxType.FLOAT16;
        return out(shape, floatFill ? new Float32Array(n).fill(fill) : new Array<number>(n).fill(fill));
      }
      case 'Reshape': {
        const x = c(0);
        return out(this.reshapeDims(node, x.dims, num(c(1))), x.values);
      }
      case 'Flatten': {
        const x = c(0);
        const axis = int(node, 'axis', 1);
        return out([count(x.dims.slice(0, axis)), count(x.dims.slice(axis))], x.values);
      }
      case 'Unsqueeze': {
        const x = c(0);
        const axes = node.input[1] ? num(c(1)) : ints(node, 'axes', []);
        const dims = [...x.dims];
        const rank = dims.length + axes.length;
        for (const a of axes.map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q)) dims.splice(a, 0, 1);
        return out(dims, x.values);
      }
      case 'Squeeze': {
        const x = c(0);
        const axes = (node.input[1] ? num(c(1)) : ints(node, 'axes', [])).map((a) => (a < 0 ? a + x.dims.length : a));
        return out(x.dims.filter((d, i) => (axes.length ? !axes.includes(i) : d !== 1)), x.values);
      }
      case 'Gather': {
        const x = c(0);
        const idx = c(1);
        if (x.dims.length !== 1 || int(node, 'axis', 0) !== 0) return false;
        const at = num(idx).map((i) => (i < 0 ? i + x.dims[0] : i));
        return out(idx.dims, at.map((i) => Number(x.values[i])));
      }
      case 'Concat': {
        const parts = node.input.map((_, i) => c(i));
        if (parts.some((p) => p.dims.length > 1)) return false;
        return out([parts.reduce((n, p) => n + count(p.dims), 0)], parts.flatMap(num));
      }
      case 'Slice': {
        // Of a constant of any rank: PyTorch's F.pad with computed pads reverses a [n, 2] table by [::-1].
        const x = c(0);
        // Shape tables are small; a large constant (a weight) is left to the rebuild, which names the node.
        if (count(x.dims) > MAX_FOLDED_VALUES) return false;
        const rank = x.dims.length;
        const starts = node.input[1] ? num(c(1)) : ints(node, 'starts', []);
        const ends = node.input[2] ? num(c(2)) : ints(node, 'ends', []);
        const axes = (node.input[3] ? num(c(3)) : ints(node, 'axes', starts.map((_, i) => i))).map((a) => (a < 0 ? a + rank : a));
        const steps = node.input[4] ? num(c(4)) : starts.map(() => 1);
        const picks = x.dims.map((d) => Array.from({ length: d }, (_, i) => i));
        for (const [k, axis] of axes.entries()) {
          const n = x.dims[axis];
          const step = steps[k];
          if (n === undefined || !Number.isInteger(step) || step === 0) return false;
          const at = (v: number): number => (v < 0 ? v + n : v);
          const list: number[] = [];
          if (step > 0) {
            for (let i = Math.min(Math.max(at(starts[k]), 0), n); i < Math.min(Math.max(at(ends[k]), 0), n); i += step) list.push(i);
          } else {
            // A negative step starts at most at n − 1 and stops above −1.
            for (let i = Math.min(Math.max(at(starts[k]), -1), n - 1); i > Math.min(Math.max(at(ends[k]), -1), n - 1); i += step) list.push(i);
          }
          picks[axis] = list;
        }
        const all = num(x);
        const strides = x.dims.map((_, i) => count(x.dims.slice(i + 1)));
        const vals: number[] = [];
        const walk = (axis: number, offset: number): void => {
          if (axis === rank) {
            vals.push(all[offset]);
            return;
          }
          for (const i of picks[axis]) walk(axis + 1, offset + i * strides[axis]);
        };
        walk(0, 0);
        return out(picks.map((p) => p.length), x.values instanceof Float32Array ? Float32Array.from(vals) : vals);
      }
      case 'Add': case 'Sub': case 'Mul': case 'Div': {
        const a = c(0);
        const b = c(1);
        if (count(b.dims) !== 1 && count(a.dims) !== count(b.dims)) return false;
        const f = { Add: (p: number, q: number) => p + q, Sub: (p: number, q: number) => p - q, Mul: (p: number, q: number) => p * q, Div: (p: number, q: number) => p / q }[node.opType as 'Add'];
        const intDiv = node.opType === 'Div' && !(a.values instanceof Float32Array);
        const bv = num(b);
        const vals = num(a).map((p, i) => f(p, bv[count(b.dims) === 1 ? 0 : i]));
        return out(a.dims, intDiv ? vals.map(Math.trunc) : a.values instanceof Float32Array ? Float32Array.from(vals) : vals);
      }
      case 'Reciprocal': case 'Neg': case 'Sqrt': {
        // Of a learned constant (GeM pooling's 1 / p).
        const x = c(0);
        const f = { Reciprocal: (v: number) => 1 / v, Neg: (v: number) => -v, Sqrt: (v: number) => Math.sqrt(v) }[node.opType as 'Neg'];
        return out(x.dims, Float32Array.from(num(x).map(f)));
      }
      case 'Pow': {
        const [a, b] = [c(0), c(1)];
        if (count(b.dims) !== 1) return false;
        const e = num(b)[0];
        return out(a.dims, Float32Array.from(num(a).map((v) => v ** e)));
      }
      case 'Transpose': {
        const x = c(0);
        const perm = ints(node, 'perm', x.dims.map((_, i) => x.dims.length - 1 - i));
        if (x.dims.length !== 2 || perm.join() !== '1,0') return false;
        const [r, k] = x.dims;
        const v = floats(x);
        const t = new Float32Array(v.length);
        for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) t[j * r + i] = v[i * k + j];
        return out([k, r], t);
      }
      default:
        return false;
    }
  }

  /** Target dims of a Reshape: 0 copies the input's dim (unless allowzero), −1 takes the rest. */
  private reshapeDims(node: OnnxNode, from: number[], to: number[]): number[] {
    // A file traced with a fixed batch of B images reshapes to [B, …] (x.view(x.size(0), -1) folded by the exporter): here that axis holds the one image.
    const batchAxis = (d: number, i: number): boolean => i === 0 && this.fixedBatch !== null && d === this.fixedBatch && from[0] === 1;
    const dims = to.map((d, i) => (batchAxis(d, i) ? 1 : d === 0 && int(node, 'allowzero', 0) === 0 ? from[i] : d));
    const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const free = dims.indexOf(-1);
    if (free >= 0) dims[free] = known === 0 ? 0 : count(from) / known;
    if (count(dims) !== count(from) || !dims.every(Number.isInteger)) this.fail(node, `cannot reshape [${from.join(', ')}] to [${to.join(', ')}]`);
    return dims;
  }

  /** Applies a per-channel (or scalar) y = x·scale + offset as a BatchNormalization with mean 0, variance 1, ε 0. */
  private affine(node: OnnxNode, x: MapVal | VecVal, scale: Float32Array, offset: Float32Array, suffix = ''): tf.SymbolicTensor {
    const n = this.shapeOf(x).c;
    const at = (a: Float32Array, i: number): number => (a.length === 1 ? a[0] : a[x.kind === 'vec' && x.order ? x.order[i] : i]);
    const gamma = Float32Array.from({ length: n }, (_, i) => at(scale, i));
    const beta = Float32Array.from({ length: n }, (_, i) => at(offset, i));
    const layer = tf.layers.batchNormalization({ name: this.layerName(node, suffix), epsilon: 0, axis: -1 });
    return this.apply(layer, x.t, [{ data: gamma, shape: [n] }, { data: beta, shape: [n] }, { data: new Float32Array(n), shape: [n] }, { data: new Float32Array(n).fill(1), shape: [n] }]);
  }

  /** A constant broadcast against x as a per-channel vector (or a scalar), else undefined. */
  private channelConst(x: MapVal | VecVal, k: ConstVal): Float32Array | undefined {
    const v = floats(k);
    if (v.length === 1) return v;
    const n = this.shapeOf(x).c;
    if (v.length !== n) return undefined;
    const d = k.dims.filter((_, i, a) => i >= a.length - 4);
    const axis = x.kind === 'vec' ? (x.rank === 4 && x.channelsLast ? 3 : 1) : x.layout === 'nchw' ? 1 : 3;
    const rank = x.kind === 'vec' ? x.rank : 4;
    // Broadcast aligns trailing axes: the channel axis of a rank-r tensor is axis − r from the end.
    const fromEnd = rank - axis;
    const ok = d.every((s, i) => (d.length - i === fromEnd ? s === n : s === 1));
    return ok && d.length >= fromEnd ? v : undefined;
  }

  private elementwise(node: OnnxNode): void {
    const a = this.get(node, 0);
    const b = this.get(node, 1);
    const op = node.opType;
    if (a.kind !== 'const' && b.kind !== 'const') {
      // A tensor with itself (x · x in GELU's tanh form before opset 20): tfjs's merge layers fail on one tensor given twice.
      if (node.input[0] === node.input[1] && (op === 'Mul' || op === 'Add' || op === 'Sub')) {
        if (op === 'Mul') {
          this.set(node, { ...a, t: this.apply(new OnnxPow({ exponent: 2, name: this.layerName(node) }), a.t), nonNeg: true });
        } else {
          this.set(node, { ...a, t: this.affine(node, a, new Float32Array([op === 'Add' ? 2 : 0]), new Float32Array([0])), nonNeg: op === 'Add' ? a.nonNeg : true });
        }
        return;
      }
      // x · sigmoid(x) (PyTorch's SiLU) is one activation: a head or a Squeeze-and-Excitation branch may hold it, not a Multiply.
      // x · hardsigmoid(x) with PyTorch's constants (1/6, 0.5) is its Hardswish as exported before opset 14.
      const gateOf = (p: OnnxNode | undefined): 'swish' | 'hardSwish' | undefined =>
        p?.opType === 'Sigmoid' ? 'swish'
          : p?.opType === 'HardSigmoid' && Math.abs(float(p, 'alpha', 0.2) - 1 / 6) < 1e-7 && float(p, 'beta', 0.5) === 0.5 ? 'hardSwish' : undefined;
      const gate = [0, 1].map((i) => this.producer.get(node.input[i])).findIndex((p, i) => gateOf(p) !== undefined && p?.input[0] === node.input[1 - i]);
      if (op === 'Mul' && gate >= 0) {
        const x = gate === 0 ? b : a;
        const activation = gateOf(this.producer.get(node.input[gate])) as string;
        const t = this.apply(tf.layers.activation({ activation: activation as Parameters<typeof tf.layers.activation>[0]['activation'], name: this.layerName(node) }), x.t);
        this.set(node, { ...x, t, nonNeg: false });
        return;
      }
      // a − b is a + (−1)·b (Tanhshrink's x − tanh(x)); a / b is a · b^−1 (F.normalize's x / ‖x‖).
      const [p, q] = op === 'Sub' ? [a, { ...b, t: this.affine(node, b, new Float32Array([-1]), new Float32Array([0]), '_negate'), nonNeg: false }]
        : op === 'Div' ? [a, { ...b, t: this.apply(new OnnxPow({ exponent: -1, name: this.layerName(node, '_reciprocal') }), b.t) }]
          : [a, b];
      const spread = (v: MapVal | VecVal, other: MapVal | VecVal): tf.SymbolicTensor => {
        if (v.kind === 'vec' && other.kind === 'map') {
          if (v.order) this.fail(node, 'broadcasts a reordered vector over a feature map');
          // ONNX aligns trailing axes: only [N, C, 1, 1] (or [N, 1, 1, C] against NHWC) scales channels.
          if (v.rank !== 4 || (v.channelsLast === true) !== (other.layout === 'nhwc')) this.fail(node, 'broadcasts a vector over a feature map\'s other axes, not its channels');
          return this.apply(tf.layers.reshape({ targetShape: [1, 1, this.shapeOf(v).c], name: this.layerName(node, '_reshape') }), v.t);
        }
        return v.t;
      };
      if (p.kind === 'vec' && q.kind === 'vec' && (p.order !== null || q.order !== null)) this.fail(node, 'combines vectors held in different orders');
      if (p.kind === 'map' && q.kind === 'map' && p.layout !== q.layout) this.fail(node, 'combines feature maps of different layouts');
      const layer = op === 'Mul' || op === 'Div' ? tf.layers.multiply({ name: this.layerName(node) }) : tf.layers.add({ name: this.layerName(node) });
      const t = this.apply(layer, [spread(p, q), spread(q, p)]);
      const nonNeg = p.nonNeg && q.nonNeg;
      const like = p.kind === 'map' ? p : q.kind === 'map' ? q : p;
      this.set(node, like.kind === 'map' ? { ...like, t, nonNeg } : { ...like, t, nonNeg });
      return;
    }
    const [x, k, constFirst] = a.kind === 'const' ? [b as MapVal | VecVal, a, true] : [a, b as ConstVal, false];
    const c = this.channelConst(x, k);
    if (!c) this.fail(node, `${op} with a constant of shape [${k.dims.join(', ')}] that is not one value per channel`);
    const one = new Float32Array([1]);
    const zero = new Float32Array([0]);
    let scale: Float32Array;
    let offset: Float32Array;
    switch (op) {
      case 'Add': scale = one; offset = c; break;
      case 'Sub': scale = constFirst ? new Float32Array([-1]) : one; offset = constFirst ? c : c.map((v) => -v); break;
      case 'Mul': scale = c; offset = zero; break;
      default:
        if (constFirst) this.fail(node, 'divides a constant by the image\'s features');
        scale = c.map((v) => 1 / v); offset = zero;
    }
    const t = this.affine(node, x, scale, offset);
    const nonNeg = x.nonNeg && scale.every((s) => s >= 0) && offset.every((o) => o >= 0);
    this.set(node, { ...x, t, nonNeg });
  }

  /**
   * Sum, Mean, Max and Min of any number of inputs (Caffe2's residual Sum; tf2onnx's ReLU6 as
   * Max(Min(x, 6), 0)). One input passes; Sum of two is Add. Of computed tensors: one merge layer.
   * Max or Min of one tensor and a constant (a scalar or one value per channel): a ReLU where the
   * constant is 0 (Max) or caps a non-negative map (Min), else c + relu(x − c) and c − relu(c − x).
   */
  private variadic(node: OnnxNode): void {
    const op = node.opType as 'Sum' | 'Mean' | 'Max' | 'Min';
    const inputs = node.input.map((_, i) => i).filter((i) => node.input[i] !== '');
    if (inputs.length === 0) this.fail(node, 'has no inputs');
    if (inputs.length === 1) {
      const only = this.get(node, inputs[0]);
      if (only.kind === 'const') this.fail(node, `${op} of a constant`);
      this.set(node, only);
      return;
    }
    if (op === 'Sum' && inputs.length === 2) return this.elementwise({ ...node, opType: 'Add' });
    const vals = inputs.map((i) => this.get(node, i));
    const computed = vals.filter((v): v is MapVal | VecVal => v.kind !== 'const');
    const consts = vals.filter((v): v is ConstVal => v.kind === 'const');
    if (computed.length === 0) this.fail(node, `${op} of constants only`);
    if (consts.length > 0) {
      if ((op !== 'Max' && op !== 'Min') || computed.length !== 1 || consts.length !== 1) this.fail(node, `${op} of ${computed.length} computed tensor(s) and ${consts.length} constant(s) at once: only a Sum or Mean of computed tensors, or a Max or Min of one tensor and one constant, is rewritten`);
      return this.clamp(node, op, computed[0], consts[0]);
    }
    const first = computed[0];
    for (const v of computed) {
      if (v.kind !== first.kind) this.fail(node, `${op} of a feature map and a vector`);
      if (v.kind === 'map' && first.kind === 'map' && v.layout !== first.layout) this.fail(node, 'combines feature maps of different layouts');
      if (v.kind === 'vec' && v.order !== null) this.fail(node, 'combines vectors held in another order than ONNX\'s');
    }
    const name = this.layerName(node);
    const layer = op === 'Sum' ? tf.layers.add({ name }) : op === 'Mean' ? tf.layers.average({ name }) : op === 'Max' ? tf.layers.maximum({ name }) : tf.layers.minimum({ name });
    const t = this.apply(layer, computed.map((v) => v.t));
    const nonNeg = op === 'Max' ? computed.some((v) => v.nonNeg) : computed.every((v) => v.nonNeg);
    this.set(node, { ...first, t, nonNeg });
  }

  /** Max(x, c) or Min(x, c) for a constant c: a scalar, or one value per channel of x. */
  private clamp(node: OnnxNode, op: 'Max' | 'Min', x: MapVal | VecVal, k: ConstVal): void {
    const c = this.channelConst(x, k);
    if (!c) this.fail(node, `${op} with a constant of shape [${k.dims.join(', ')}] that is not one value per channel`);
    const name = this.layerName(node);
    if (op === 'Max' && c.every((v) => v === 0)) {
      this.set(node, { ...x, t: this.apply(tf.layers.reLU({ name }), x.t), nonNeg: true });
      return;
    }
    if (op === 'Min' && x.nonNeg && c.length === 1 && c[0] > 0) {
      this.set(node, { ...x, t: this.apply(tf.layers.reLU({ maxValue: c[0], name }), x.t), nonNeg: true });
      return;
    }
    // max(x, c) = c + relu(x − c); min(x, c) = c − relu(c − x).
    const sign = new Float32Array([op === 'Max' ? 1 : -1]);
    const inner = this.affine(node, x, sign, op === 'Max' ? c.map((v) => -v) : c, '_shift');
    const r = this.apply(tf.layers.reLU({ name: this.layerName(node, '_relu') }), inner);
    const t = this.affine(node, { ...x, t: r }, sign, c);
    this.set(node, { ...x, t, nonNeg: op === 'Max' ? c.every((v) => v >= 0) || x.nonNeg : false });
  }

  /** ONNX LRN across the channels of a feature map (Caffe's AlexNet, GoogLeNet). */
  private lrn(node: OnnxNode): void {
    const x = this.map(node);
    if (x.layout !== 'nchw') this.fail(node, 'normalises a channels-last map');
    const size = int(node, 'size', 0);
    if (!(size >= 1)) this.fail(node, `has size ${size}; LRN sums over at least one channel`);
    const layer = new OnnxLRN({ size, alpha: float(node, 'alpha', 1e-4), beta: float(node, 'beta', 0.75), bias: float(node, 'bias', 1), name: this.layerName(node) });
    this.set(node, { ...x, t: this.apply(layer, x.t), nonNeg: x.nonNeg });
  }

  /** A Dense from a vector: kernel [k, units] as ONNX reads it (rows in ONNX's element order). */
  private dense(node: OnnxNode, x: VecVal, kernel: Float32Array, k: number, units: number, bias: Float32Array | null): VecVal {
    if (this.shapeOf(x).c !== k) this.fail(node, `reads ${k} values from a vector of ${this.shapeOf(x).c}`);
    let w = kernel;
    if (x.order) {
      const order = x.order;
      w = new Float32Array(kernel.length);
      for (let j = 0; j < k; j++) w.set(kernel.subarray(order[j] * units, (order[j] + 1) * units), j * units);
      this.notes.push(`node "${node.name}" reads a map flattened channels-first (C·H·W): its kernel rows are reordered for the channels-last map`);
    }
    const layer = tf.layers.dense({ units, useBias: bias !== null, name: this.layerName(node), ...ZEROS });
    const weights = [{ data: w, shape: [k, units] }, ...(bias ? [{ data: bias, shape: [units] }] : [])];
    return { kind: 'vec', t: this.apply(layer, x.t, weights), rank: 2, order: null, nonNeg: false };
  }

  /** The bias of a MatMul/Conv when its one consumer is an Add of a constant that broadcasts per unit. */
  private foldedBias(node: OnnxNode, units: number): { bias: Float32Array; add: OnnxNode } | undefined {
    const next = this.consumers.get(node.output[0]) ?? [];
    if (next.length !== 1 || next[0].opType !== 'Add') return undefined;
    const add = next[0];
    const other = add.input[0] === node.output[0] ? add.input[1] : add.input[0];
    const k = this.optConstOrUndefined(other);
    if (!k || count(k.dims) !== units || k.dims.filter((d) => d !== 1).length > 1) return undefined;
    return { bias: floats(k), add };
  }

  private vecOf(node: OnnxNode, i = 0): VecVal {
    const v = this.get(node, i);
    if (v.kind === 'vec') return v;
    if (v.kind === 'map') this.fail(node, 'reads a feature map that the graph did not flatten');
    return this.fail(node, `input ${i + 1} is a constant`);
  }

  private flatten(node: OnnxNode, x: MapVal): VecVal {
    const { h, w, c } = this.shapeOf(x);
    const t = this.apply(tf.layers.flatten({ name: this.layerName(node) }), x.t);
    let order: Int32Array | null = null;
    if (x.layout === 'nchw' && (h > 1 || w > 1) && c > 1) {
      order = new Int32Array(h * w * c);
      for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let k = 0; k < c; k++) order[(y * w + xx) * c + k] = (k * h + y) * w + xx;
    }
    return { kind: 'vec', t, rank: 2, order, nonNeg: x.nonNeg };
  }

  private conv(node: OnnxNode): void {
    const x = this.get(node, 0);
    const wv = this.optConst(node, 1);
    if (!wv || wv.dims.length !== 4) this.fail(node, 'is not a 2-D convolution with a constant kernel');
    const [o, ig, kh, kw] = wv.dims;
    let bias = this.optConst(node, 2) ? floats(this.optConst(node, 2) as ConstVal) : null;
    const group = int(node, 'group', 1);
    const strides = ints(node, 'strides', [1, 1]);
    const dil = ints(node, 'dilations', [1, 1]);
    const W = floats(wv);
    const fused = bias === null ? this.foldedBias(node, o) : undefined;
    if (fused) {
      bias = fused.bias;
      this.done.add(fused.add);
    }
    const outName = fused ? fused.add.output[0] : node.output[0];
    if (x.kind === 'vec') {
      if (kh !== 1 || kw !== 1 || group !== 1 || x.channelsLast) this.fail(node, 'convolves a 1×1 vector with a kernel bigger than 1×1, or channels-last');
      const kernel = new Float32Array(ig * o);
      for (let oo = 0; oo < o; oo++) for (let i = 0; i < ig; i++) kernel[i * o + oo] = W[oo * ig + i];
      const v = this.dense(node, x, kernel, ig, o, bias);
      this.vals.set(outName, { ...v, rank: x.rank });
      return;
    }
    if (x.kind !== 'map') this.fail(node, 'convolves a constant');
    if (x.layout !== 'nchw') this.fail(node, 'convolves a channels-last map (an NHWC graph without its Transpose)');
    const cin = this.shapeOf(x).c;
    if (cin !== ig * group) this.fail(node, `kernel expects ${ig * group} input channels, the map has ${cin}`);
    const { input, padding } = this.padded(node, x, [kh, kw], strides, dil);
    let layer: tf.layers.Layer;
    let weights: { data: Float32Array; shape: number[] }[];
    const name = this.layerName(node);
    const base = { kernelSize: [kh, kw] as [number, number], strides: strides as [number, number], padding, dilationRate: dil as [number, number], useBias: bias !== null, name, ...ZEROS };
    if (group === 1) {
      const k = new Float32Array(W.length);
      for (let oo = 0; oo < o; oo++) for (let i = 0; i < ig; i++) for (let y = 0; y < kh; y++) for (let xx = 0; xx < kw; xx++) k[((y * kw + xx) * ig + i) * o + oo] = W[((oo * ig + i) * kh + y) * kw + xx];
      layer = tf.layers.conv2d({ ...base, filters: o });
      weights = [{ data: k, shape: [kh, kw, ig, o] }];
    } else if (ig === 1 && group === cin) {
      const mult = o / cin;
      const k = new Float32Array(W.length);
      for (let ch = 0; ch < cin; ch++) for (let j = 0; j < mult; j++) for (let y = 0; y < kh; y++) for (let xx = 0; xx < kw; xx++) k[((y * kw + xx) * cin + ch) * mult + j] = W[((ch * mult + j) * kh + y) * kw + xx];
      layer = tf.layers.depthwiseConv2d({ ...base, depthMultiplier: mult, depthwiseInitializer: 'zeros' });
      weights = [{ data: k, shape: [kh, kw, cin, mult] }];
    } else {
      const bytes = kh * kw * cin * o * 4;
      if (bytes > MAX_GROUPED_KERNEL_BYTES) this.fail(node, `a convolution in ${group} groups whose full kernel would take ${Math.round(bytes / 2 ** 20)} MiB`);
      const og = o / group;
      const k = new Float32Array(kh * kw * cin * o);
      for (let oo = 0; oo < o; oo++) {
        const g = Math.floor(oo / og);
        for (let i = 0; i < ig; i++) for (let y = 0; y < kh; y++) for (let xx = 0; xx < kw; xx++) k[((y * kw + xx) * cin + g * ig + i) * o + oo] = W[((oo * ig + i) * kh + y) * kw + xx];
      }
      layer = tf.layers.conv2d({ ...base, filters: o });
      weights = [{ data: k, shape: [kh, kw, cin, o] }];
      this.notes.push(`node "${node.name}": a convolution in ${group} groups runs as one convolution with a block-diagonal kernel (${group}× its arithmetic)`);
    }
    if (bias) weights.push({ data: bias, shape: [o] });
    const t = this.apply(layer, input, weights);
    this.vals.set(outName, { kind: 'map', t, layout: 'nchw', nonNeg: false });
  }

  /**
   * The explicit pads of a convolution or pooling as tfjs padding: 'same' when they are TensorFlow's
   * at every input size (stride 1), else a ZeroPadding2D before a 'valid' layer.
   * @param extraEnd padding added after the last row/column (ceil_mode pools)
   */
  private padded(node: OnnxNode, x: MapVal, k: number[], strides: number[], dil: number[], extraEnd: [number, number] = [0, 0], allowSame = true): { input: tf.SymbolicTensor; padding: 'same' | 'valid'; pads: number[] } {
    const { h, w } = this.shapeOf(x);
    const keff = [(k[0] - 1) * dil[0] + 1, (k[1] - 1) * dil[1] + 1];
    const auto = str(node, 'auto_pad', 'NOTSET');
    let pads: number[];
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      const [py, px] = [samePads(h, keff[0], strides[0]), samePads(w, keff[1], strides[1])];
      pads = auto === 'SAME_UPPER' ? [py[0], px[0], py[1], px[1]] : [py[1], px[1], py[0], px[0]];
      if (allowSame && auto === 'SAME_UPPER' && extraEnd[0] === 0 && extraEnd[1] === 0) return { input: x.t, padding: 'same', pads };
    } else if (auto === 'VALID') {
      pads = [0, 0, 0, 0];
    } else {
      pads = ints(node, 'pads', [0, 0, 0, 0]);
    }
    pads = [pads[0], pads[1], pads[2] + extraEnd[0], pads[3] + extraEnd[1]];
    if (pads.every((p) => p === 0)) return { input: x.t, padding: 'valid', pads };
    const same = [samePads(h, keff[0], 1), samePads(w, keff[1], 1)];
    if (allowSame && strides[0] === 1 && strides[1] === 1 && pads[0] === same[0][0] && pads[2] === same[0][1] && pads[1] === same[1][0] && pads[3] === same[1][1]) {
      return { input: x.t, padding: 'same', pads };
    }
    const zp = tf.layers.zeroPadding2d({ padding: [[pads[0], pads[2]], [pads[1], pads[3]]], name: this.layerName(node, '_pad') });
    return { input: this.apply(zp, x.t), padding: 'valid', pads };
  }

  private pool(node: OnnxNode): void {
    const x = this.map(node);
    if (x.layout !== 'nchw') this.fail(node, 'pools a channels-last map');
    const k = ints(node, 'kernel_shape', []);
    const strides = ints(node, 'strides', [1, 1]);
    const dil = ints(node, 'dilations', [1, 1]);
    if (k.length !== 2) this.fail(node, 'is not a 2-D pooling');
    if (dil.some((d) => d !== 1)) this.fail(node, 'a dilated pooling has no TensorFlow.js layer');
    const { h, w } = this.shapeOf(x);
    const max = node.opType === 'MaxPool';
    if (k[0] === 1 && k[1] === 1 && strides[0] === 1 && strides[1] === 1) {
      this.notes.push(`node "${node.name}": a 1×1 pooling at stride 1 (an adaptive pooling at the training size) is the identity and is dropped`);
      this.set(node, x);
      return;
    }
    const pads0 = ints(node, 'pads', [0, 0, 0, 0]);
    // A pool over the whole map at the window is its global pool (PyTorch's adaptive max pool to 1×1; F.avg_pool2d(x, x.size()[2:])),
    // so it joins a GlobalAveragePool beside it (fastai's AdaptiveConcatPool2d) as the same kind of value.
    if (k[0] === h && k[1] === w && pads0.every((p) => p === 0) && !str(node, 'auto_pad', 'NOTSET').startsWith('SAME')) {
      this.globalPool(node, true, max);
      return;
    }
    let extra: [number, number] = [0, 0];
    if (int(node, 'ceil_mode', 0) === 1) {
      const ext = (n: number, kk: number, s: number, p: number): number => {
        const floorOut = Math.floor((n + p - kk) / s) + 1;
        const ceilOut = Math.ceil((n + p - kk) / s) + 1;
        return ceilOut > floorOut ? (ceilOut - 1) * s + kk - (n + p) : 0;
      };
      extra = [ext(h, k[0], strides[0], pads0[0] + pads0[2]), ext(w, k[1], strides[1], pads0[1] + pads0[3])];
    }
    const anyPad = pads0.some((p) => p !== 0) || extra.some((p) => p !== 0) || str(node, 'auto_pad', 'NOTSET').startsWith('SAME');
    const includePad = int(node, 'count_include_pad', 0) === 1;
    if (anyPad && !max && !includePad) {
      const { padding, pads } = this.padded(node, x, k, strides, dil, extra);
      if (padding !== 'same') this.fail(node, `an average pooling padded by [${pads.join(', ')}] that leaves the padding out of its count`);
      const t = this.apply(tf.layers.averagePooling2d({ poolSize: k as [number, number], strides: strides as [number, number], padding: 'same', name: this.layerName(node) }), x.t);
      this.set(node, { ...x, t });
      return;
    }
    if (!max && extra.some((p) => p !== 0)) this.fail(node, 'an average pooling in ceil mode whose last window hangs over the map');
    // An average that counts the padding is a zero padding, then a 'valid' pooling (TensorFlow's 'same' would not count it).
    const { input, padding } = this.padded(node, x, k, strides, dil, extra, max);
    // TensorFlow's 'same' max pooling leaves the padding out; explicit zero padding equals it only on a map without negative values.
    if (max && padding === 'valid' && anyPad && !x.nonNeg) this.fail(node, 'pads a map that may hold negative values: zero padding would change its maxima');
    const args = { poolSize: k as [number, number], strides: strides as [number, number], padding, name: this.layerName(node) };
    const t = this.apply(max ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args), input);
    this.set(node, { ...x, t });
  }

  private globalPool(node: OnnxNode, keep: boolean, max: boolean): void {
    const x = this.map(node);
    const layer = max ? tf.layers.globalMaxPooling2d({ name: this.layerName(node) }) : tf.layers.globalAveragePooling2d({ name: this.layerName(node) });
    this.set(node, { kind: 'vec', t: this.apply(layer, x.t), rank: keep ? 4 : 2, order: null, nonNeg: x.nonNeg });
  }

  private reshape(node: OnnxNode): void {
    const x = this.get(node, 0);
    if (x.kind === 'const') this.fail(node, 'reshapes a constant it cannot fold');
    let target: number[];
    if (node.opType === 'Reshape') {
      const s = this.optConst(node, 1);
      if (!s) this.fail(node, 'has no target shape');
      target = this.reshapeDims(node, this.dimsOf(x), Array.from(s.values, Number));
    } else if (node.opType === 'Flatten') {
      const axis = int(node, 'axis', 1);
      if (axis !== 1 && !(axis === -3 && x.kind === 'map')) this.fail(node, `flattens from axis ${axis}, not after the batch`);
      target = [1, count(this.dimsOf(x).slice(1))];
    } else {
      const d = this.dimsOf(x);
      const axesIn = node.input[1] ? this.optConst(node, 1) : undefined;
      const axes = (axesIn ? Array.from(axesIn.values, Number) : ints(node, 'axes', [])).map((a) => (a < 0 ? a + (node.opType === 'Squeeze' ? d.length : d.length + 1) : a));
      // Squeeze without axes (PyTorch's x.squeeze()) drops the batch of one too; here the batch stays.
      if (node.opType === 'Squeeze') target = d.filter((s, i) => (axes.length ? !axes.includes(i) : i === 0 || s !== 1));
      else {
        target = [...d];
        for (const a of [...axes].sort((p, q) => p - q)) target.splice(a, 0, 1);
      }
    }
    if (x.kind === 'map' && this.shuffle(node, x, target)) return;
    const spatial = target.length >= 2 ? count(target.slice(1)) : 0;
    const n = count(this.dimsOf(x).slice(1));
    // [batch, n], [batch, n, 1] or [batch, n, 1, 1]: the same vector (Squeeze of a pooled map's last axes one at a time passes [batch, n, 1]).
    const vecLike = target.length >= 2 && target.length <= 4 && target.slice(2).every((d) => d === 1);
    const vecRank = target.length as 2 | 3 | 4;
    if (x.kind === 'vec') {
      if (vecLike && target[1] === n) {
        this.set(node, { ...x, rank: vecRank, channelsLast: false });
        return;
      }
      if (target.length === 4 && target[1] === 1 && target[2] === 1 && target[3] === n) {
        this.set(node, { ...x, rank: 4, channelsLast: true });
        return;
      }
      this.fail(node, `reshapes a vector of ${n} to [${target.join(', ')}]`);
    }
    const { h, w } = this.shapeOf(x);
    if (target.length === 2 && target[1] === spatial && spatial === n) {
      this.set(node, this.flatten(node, x));
      return;
    }
    if (h === 1 && w === 1 && vecLike && target[1] === n) {
      const v = this.flatten(node, x);
      this.set(node, { ...v, rank: vecRank, channelsLast: false });
      return;
    }
    const dims = this.dimsOf(x);
    if (target.length === 4 && target.every((d, i) => d === dims[i])) {
      this.set(node, x);
      return;
    }
    this.fail(node, `reshapes the ${dims.slice(1).join('×')} feature map to [${target.slice(1).join(', ')}]: a shape fixed for the training size (a channel shuffle or a non-classifier reshape) that cannot follow the image's size`);
  }

  /**
   * A channel shuffle (ShuffleNet): Reshape [N, C, h, w] → [N, g, C/g, h, w], Transpose [0, 2, 1, 3, 4],
   * Reshape back. The channels' new order does not depend on h and w, so it becomes a 1×1
   * convolution by a permutation matrix (exact: each output is one input times 1).
   * @returns true when `node` was one of the shuffle's reshapes
   */
  private shuffle(node: OnnxNode, x: MapVal, target: number[]): boolean {
    const { h, w, c } = this.shapeOf(x);
    if (!x.groups && x.layout === 'nchw' && target.length === 5 && target[1] * target[2] === c && target[3] === h && target[4] === w && target[1] > 1) {
      this.set(node, { ...x, groups: { g: target[1], transposed: false } });
      return true;
    }
    if (!x.groups || target.length !== 4 || target[1] !== c || target[2] !== h || target[3] !== w) return false;
    if (!x.groups.transposed) {
      this.set(node, { ...x, groups: undefined });
      return true;
    }
    const g = x.groups.g;
    const per = c / g;
    // Output channel j = k·g + i reads input channel i·per + k.
    const order = Int32Array.from({ length: c }, (_, j) => (j % g) * per + Math.floor(j / g));
    this.set(node, { ...x, groups: undefined, t: this.select(node, x, order) });
    this.notes.push(`node "${node.name}": a channel shuffle in ${g} groups runs as a 1×1 convolution by a permutation`);
    return true;
  }

  /**
   * Split of a feature map along its channels (ShuffleNet v2's `x.chunk(2, dim=1)`, which PyTorch
   * exports as Split at every opset): each output a 1×1 convolution that picks its channels. The sizes
   * are the `split` attribute (opsets before 13), the second input (13 on), or equal parts.
   */
  private split(node: OnnxNode): void {
    const x = this.map(node);
    const c = this.shapeOf(x).c;
    const axis = int(node, 'axis', 0);
    const channel = x.layout === 'nchw' ? 1 : 3;
    if ((axis < 0 ? axis + 4 : axis) !== channel) this.fail(node, 'splits a feature map other than along its channels');
    const outputs = node.output.length;
    const given = node.input[1] ? this.optConst(node, 1) : undefined;
    if (node.input[1] && !given) this.fail(node, 'splits by sizes that are not constants');
    // Without sizes: equal parts; opset 18's num_outputs lets the last part be smaller (parts of ⌈c / n⌉).
    const part = Math.ceil(c / outputs);
    const sizes = given ? Array.from(given.values, Number) : (attr(node, 'split')?.ints ?? Array.from({ length: outputs }, (_, i) => Math.max(0, Math.min(part, c - i * part))));
    if (!given && !attr(node, 'split') && c % outputs !== 0 && attr(node, 'num_outputs') === undefined) this.fail(node, `splits ${c} channels into ${outputs} equal parts`);
    if (sizes.length !== outputs || sizes.some((n) => !Number.isInteger(n) || n < 0) || sizes.reduce((a, b) => a + b, 0) !== c) {
      this.fail(node, `splits ${c} channels into parts of ${sizes.join(', ')} for ${outputs} outputs`);
    }
    let from = 0;
    sizes.forEach((n, i) => {
      const part = Int32Array.from({ length: n }, (_, j) => from + j);
      from += n;
      if (node.output[i] === '') return;
      if (n === 0) this.fail(node, `output ${i} holds no channels`);
      const t = n === c ? x.t : this.select({ ...node, name: `${node.name}_${i}` }, x, part);
      this.set(node, { ...x, t }, i);
    });
  }

  /**
   * The mean or maximum over a map's channels at each location (CBAM's spatial attention). With
   * keepdims 0 the channel axis must come back at once: the one reader an Unsqueeze of that axis,
   * whose output the map of one channel then is.
   */
  private channelReduce(node: OnnxNode, x: MapVal, op: 'mean' | 'max' | 'l2'): void {
    const channel = x.layout === 'nchw' ? 1 : 3;
    let out = node;
    if (int(node, 'keepdims', 1) !== 1) {
      const readers = this.consumers.get(node.output[0]) ?? [];
      const back = readers.length === 1 && readers[0].opType === 'Unsqueeze' ? readers[0] : undefined;
      const axesIn = back?.input[1] ? this.optConstOrUndefined(back.input[1]) : undefined;
      const axes = back ? (axesIn ? Array.from(axesIn.values, Number) : ints(back, 'axes', [])) : [];
      if (!back || axes.length !== 1 || (axes[0] < 0 ? axes[0] + 4 : axes[0]) !== channel) {
        this.fail(node, `${{ mean: 'averages', max: 'takes the maximum', l2: 'takes the L2 norm' }[op]} over the channels without keeping their axis, and does not put it back at once: not rewritten by Convmap`);
      }
      this.done.add(back);
      out = back;
    }
    const t = this.apply(new OnnxChannelReduce({ op, name: this.layerName(node) }), x.t);
    this.set(out, { kind: 'map', t, layout: x.layout, nonNeg: x.nonNeg });
  }

  /**
   * Expand of a computed tensor. To its own shape it is the identity; a pooled vector [N, C, 1, 1]
   * expanded to a map's shape (the classic squeeze-and-excitation's `x * y.expand_as(x)`) stays the vector
   * where every reader broadcasts it against a map anyway (Mul, Add): ONNX's broadcast gives the same values.
   */
  private expand(node: OnnxNode): void {
    const x = this.get(node, 0);
    if (x.kind === 'const') this.fail(node, 'expands a constant it cannot fold');
    const shape = this.optConst(node, 1);
    if (!shape) this.fail(node, 'expands to a shape that is not a constant at the window size');
    const to = Array.from(shape.values, Number);
    const from = this.dimsOf(x);
    const broadcast = to.length === from.length && to.every((d, i) => d === from[i] || d === 1 || from[i] === 1);
    if (broadcast && to.every((d, i) => d === 1 || d === from[i])) {
      this.set(node, x);
      return;
    }
    const readers = this.consumers.get(node.output[0]) ?? [];
    if (x.kind === 'vec' && broadcast && readers.length > 0 && readers.every((r) => r.opType === 'Mul' || r.opType === 'Add' || r.opType === 'Div')) {
      this.set(node, x);
      return;
    }
    this.fail(node, `expands [${from.join(', ')}] to [${to.join(', ')}]: only to its own shape, or a pooled vector over a map that a Mul or Add reads`);
  }

  /** A 1×1 convolution whose output channel j is input channel `from[j]` (a shuffle, or a Slice of channels). */
  private select(node: OnnxNode, x: MapVal, from: Int32Array): tf.SymbolicTensor {
    const c = this.shapeOf(x).c;
    const k = new Float32Array(c * from.length);
    from.forEach((i, j) => (k[i * from.length + j] = 1));
    const layer = tf.layers.conv2d({ filters: from.length, kernelSize: 1, useBias: false, name: this.layerName(node), ...ZEROS });
    return this.apply(layer, x.t, [{ data: k, shape: [1, 1, c, from.length] }]);
  }

  private activation(node: OnnxNode, x: MapVal | VecVal): void {
    const name = this.layerName(node);
    const act = (a: 'relu' | 'sigmoid' | 'tanh' | 'selu' | 'softplus' | 'softsign' | 'elu' | 'hardSigmoid' | 'swish' | 'mish' | 'gelu' | 'gelu_new'): tf.SymbolicTensor =>
      this.apply(tf.layers.activation({ activation: a as Parameters<typeof tf.layers.activation>[0]['activation'], name }), x.t);
    let t: tf.SymbolicTensor;
    let nonNeg = false;
    switch (node.opType) {
      case 'Relu': t = act('relu'); nonNeg = true; break;
      case 'Sigmoid': t = act('sigmoid'); nonNeg = true; break;
      case 'Tanh': t = act('tanh'); break;
      case 'Softplus': t = act('softplus'); nonNeg = true; break;
      case 'Softsign': t = act('softsign'); break;
      case 'Selu': {
        if (Math.abs(float(node, 'alpha', 1.67326) - 1.6732632) > 1e-5 || Math.abs(float(node, 'gamma', 1.0507) - 1.0507009) > 1e-5) this.fail(node, 'a SELU with other than its standard constants');
        t = act('selu');
        break;
      }
      // Convmap's ELU: tfjs's refuses an alpha other than 1 (PyTorch's nn.ELU(0.5)).
      case 'Elu': t = this.apply(new KerasELU({ alpha: float(node, 'alpha', 1), name }), x.t); break;
      case 'Celu': {
        // CELU(x) = α · ELU(x / α).
        const alpha = float(node, 'alpha', 1);
        if (!(alpha > 0)) this.fail(node, `a CELU with alpha ${alpha}`);
        const scaled = this.affine(node, x, new Float32Array([1 / alpha]), new Float32Array([0]), '_in');
        const elu = this.apply(new KerasELU({ alpha: 1, name: this.layerName(node, '_elu') }), scaled);
        t = this.affine(node, { ...x, t: elu }, new Float32Array([alpha]), new Float32Array([0]));
        break;
      }
      // Opset 18's Mish and opset 20's Gelu (PyTorch 2's exports at those opsets): tfjs's own activations of the same formulas.
      case 'Mish': t = act('mish'); break;
      case 'Gelu': {
        const approximate = str(node, 'approximate', 'none');
        if (approximate !== 'none' && approximate !== 'tanh') this.fail(node, `a GELU with approximate "${approximate}"`);
        t = act(approximate === 'tanh' ? 'gelu_new' : 'gelu');
        break;
      }
      case 'LeakyRelu': t = this.apply(tf.layers.leakyReLU({ alpha: float(node, 'alpha', 0.01), name }), x.t); break;
      case 'Clip': {
        if ((node.input[1] && !this.optConst(node, 1)) || (node.input[2] && !this.optConst(node, 2))) this.fail(node, 'clips to bounds that are not constants');
        let lo = node.input[1] ? Number(this.optConst(node, 1)?.values[0] ?? -Infinity) : float(node, 'min', -Infinity);
        const hi = node.input[2] ? Number(this.optConst(node, 2)?.values[0] ?? Infinity) : float(node, 'max', Infinity);
        const bounded = (v: number): boolean => Math.abs(v) < 3e38;
        if (Number.isNaN(lo) || Number.isNaN(hi) || (bounded(lo) && bounded(hi) && lo > hi)) this.fail(node, `a Clip to [${lo}, ${hi}]`);
        // A lower bound at or below 0 clips nothing of a non-negative map: PyTorch's ReLU6 before opset 11 is Relu, then Clip with only a max.
        if (x.nonNeg && lo <= 0) lo = 0;
        if (lo === 0) {
          t = this.apply(tf.layers.reLU({ ...(bounded(hi) ? { maxValue: hi } : {}), name }), x.t);
          nonNeg = true;
          break;
        }
        if (!bounded(lo) || !bounded(hi)) {
          if (!bounded(lo) && !bounded(hi)) {
            this.set(node, x);
            return;
          }
          return this.clamp(node, bounded(lo) ? 'Max' : 'Min', x, { kind: 'const', dims: [], values: [bounded(lo) ? lo : hi] });
        }
        // clip(x, lo, hi) = lo + min(relu(x − lo), hi − lo).
        const inner = this.affine(node, x, new Float32Array([1]), new Float32Array([-lo]), '_shift');
        const r = this.apply(tf.layers.reLU({ maxValue: hi - lo, name: this.layerName(node, '_relu') }), inner);
        t = this.affine(node, { ...x, t: r }, new Float32Array([1]), new Float32Array([lo]));
        nonNeg = lo >= 0;
        break;
      }
      case 'HardSigmoid': case 'HardSwish': {
        const a = node.opType === 'HardSwish' ? 1 / 6 : float(node, 'alpha', 0.2);
        const b = node.opType === 'HardSwish' ? 0.5 : float(node, 'beta', 0.5);
        // One Activation layer where tfjs (or main/model/activations) has the formula: a head may hold it, not a Multiply.
        const named = b !== 0.5 ? undefined : Math.abs(a - 1 / 6) < 1e-7 ? (node.opType === 'HardSwish' ? 'hardSwish' : 'keras3HardSigmoid') : a === 0.2 && node.opType === 'HardSigmoid' ? 'hardSigmoid' : undefined;
        if (named) {
          t = this.apply(tf.layers.activation({ activation: named as Parameters<typeof tf.layers.activation>[0]['activation'], name }), x.t);
          nonNeg = node.opType === 'HardSigmoid';
          break;
        }
        const lin = this.affine(node, x, new Float32Array([a]), new Float32Array([b]), '_affine');
        const hs = this.apply(tf.layers.reLU({ maxValue: 1, name: node.opType === 'HardSwish' ? this.layerName(node, '_gate') : name }), lin);
        t = node.opType === 'HardSwish' ? this.apply(tf.layers.multiply({ name }), [x.t, hs]) : hs;
        nonNeg = node.opType === 'HardSigmoid';
        break;
      }
      case 'PRelu': {
        const slope = this.optConst(node, 1);
        const s = slope ? this.channelConst(x, slope) : undefined;
        if (!s) this.fail(node, 'a PReLU whose slope is not one value per channel');
        const n = this.shapeOf(x).c;
        const alpha = Float32Array.from({ length: n }, (_, i) => (s.length === 1 ? s[0] : s[x.kind === 'vec' && x.order ? x.order[i] : i]));
        const layer = tf.layers.prelu({ sharedAxes: x.kind === 'map' ? [1, 2] : undefined, name });
        t = this.apply(layer, x.t, [{ data: alpha, shape: x.kind === 'map' ? [1, 1, n] : [n] }]);
        break;
      }
      default:
        return this.fail(node, `${node.opType} has no TensorFlow.js layer here`);
    }
    this.set(node, { ...x, t, nonNeg });
  }

  private softmax(node: OnnxNode): void {
    const x = this.get(node, 0);
    if (x.kind === 'const') this.fail(node, 'a softmax of a constant');
    const rank = x.kind === 'vec' ? x.rank : 4;
    const def = this.m.opset >= 13 ? -1 : 1;
    let axis = int(node, 'axis', def);
    if (axis < 0) axis += rank;
    const channel = x.kind === 'vec' ? (x.rank === 4 && x.channelsLast ? 3 : 1) : x.layout === 'nchw' ? 1 : 3;
    if (axis !== channel) this.fail(node, `a softmax over axis ${axis}, not over the classes`);
    if (x.kind === 'vec' && x.order) this.fail(node, 'a softmax over a vector held in another order');
    if (node.opType === 'LogSoftmax') {
      this.logSoftmax = true;
      this.notes.push(`node "${node.name}": LogSoftmax is shown as Softmax (its exponential: the same ranking, scores in [0, 1])`);
    }
    const t = this.apply(tf.layers.softmax({ axis: -1, name: this.layerName(node) }), x.t);
    this.set(node, { ...x, t, nonNeg: true });
  }

  /** The axis holding the channels of a map or vector, in ONNX's dims, and the rank of those dims. */
  private channelAxis(x: MapVal | VecVal): { axis: number; rank: number } {
    if (x.kind === 'map') return { axis: x.layout === 'nchw' ? 1 : 3, rank: 4 };
    return { axis: x.rank === 4 && x.channelsLast ? 3 : 1, rank: x.rank };
  }

  /** A constant's single value, or undefined when `name` is not a one-value constant. */
  private scalar(name: string | undefined): number | undefined {
    const k = this.optConstOrUndefined(name);
    return k && count(k.dims) === 1 ? Number(k.values[0]) : undefined;
  }

  /** A layer normalisation over the channels of each cell (tfjs LayerNormalization on the last axis), written for `out`. */
  private normaliseChannels(node: OnnxNode, out: OnnxNode, x: MapVal | VecVal, epsilon: number, gamma?: Float32Array, beta?: Float32Array): void {
    if (x.kind === 'vec' && x.order) this.fail(node, 'normalises a flattened feature map: its values mix cells');
    const c = this.shapeOf(x).c;
    for (const [name, v] of [['scale', gamma], ['bias', beta]] as const) {
      if (v && v.length !== c) this.fail(node, `a layer normalisation ${name} of ${v.length} values for ${c} channels`);
    }
    const layer = tf.layers.layerNormalization({ axis: -1, epsilon, name: this.layerName(node) });
    const t = this.apply(layer, x.t, [{ data: gamma ?? new Float32Array(c).fill(1), shape: [c] }, { data: beta ?? new Float32Array(c), shape: [c] }]);
    this.set(out, { ...x, t, nonNeg: false });
  }

  /**
   * LayerNormalization (opset 17): per cell only when it normalises the last axis and that axis holds
   * the channels (a channels-last map, as ConvNeXt's blocks permute to, or a vector).
   */
  private layerNormalization(node: OnnxNode): void {
    const x = this.get(node, 0);
    if (x.kind === 'const') this.fail(node, 'normalises a constant');
    const { axis: channel, rank } = this.channelAxis(x);
    let axis = int(node, 'axis', -1);
    if (axis < 0) axis += rank;
    if (axis !== rank - 1 || channel !== rank - 1) {
      this.fail(node, `normalises axes ${axis}–${rank - 1} of a ${x.kind === 'map' ? `${x.layout.toUpperCase()} map` : 'vector'}, not its channels alone: a cell's value would depend on the whole window, which cannot slide`);
    }
    const scale = this.optConst(node, 1);
    const bias = node.input[2] ? this.optConst(node, 2) : undefined;
    this.normaliseChannels(node, node, x, float(node, 'epsilon', 1e-5), scale ? floats(scale) : undefined, bias ? floats(bias) : undefined);
  }

  /**
   * A layer normalisation over the channels as exporters write it below opset 17 (PyTorch's
   * F.layer_norm at opset 11, ConvNeXt's channels-first LayerNorm): mean = ReduceMean(x);
   * d = x − mean; (d / √(ReduceMean(d²) + ε)), the mean reading `node`. The scale and bias that
   * follow are ordinary per-channel Mul and Add. Returns false where the nodes do not match.
   */
  private decomposedLayerNorm(node: OnnxNode, x: MapVal | VecVal): boolean {
    const { axis: channel, rank } = this.channelAxis(x);
    const axesOf = (n: OnnxNode): string => {
      const k = n.input[1] ? this.optConstOrUndefined(n.input[1]) : undefined;
      return (k ? Array.from(k.values, Number) : ints(n, 'axes', [])).map((a) => (a < 0 ? a + rank : a)).sort().join();
    };
    const only = (name: string): OnnxNode | undefined => {
      const c = this.consumers.get(name) ?? [];
      return c.length === 1 ? c[0] : undefined;
    };
    if (axesOf(node) !== String(channel) || int(node, 'keepdims', 1) !== 1) return false;
    const sub = only(node.output[0]);
    if (sub?.opType !== 'Sub' || sub.input[0] !== node.input[0] || sub.input[1] !== node.output[0]) return false;
    const users = this.consumers.get(sub.output[0]) ?? [];
    const square = users.find((u) => (u.opType === 'Pow' && this.scalar(u.input[1]) === 2) || (u.opType === 'Mul' && u.input[0] === u.input[1]));
    const div = users.find((u) => u.opType === 'Div' && u.input[0] === sub.output[0]);
    if (users.length !== 2 || !square || !div) return false;
    const variance = only(square.output[0]);
    if (variance?.opType !== 'ReduceMean' || axesOf(variance) !== String(channel) || int(variance, 'keepdims', 1) !== 1) return false;
    const add = only(variance.output[0]);
    const epsilon = add?.opType === 'Add' ? this.scalar(add.input[0] === variance.output[0] ? add.input[1] : add.input[0]) : undefined;
    const sqrt = add ? only(add.output[0]) : undefined;
    if (!add || epsilon === undefined || sqrt?.opType !== 'Sqrt' || div.input[1] !== sqrt.output[0]) return false;
    for (const n of [sub, square, variance, add, sqrt, div]) this.done.add(n);
    this.normaliseChannels(node, div, x, epsilon);
    return true;
  }

  /**
   * Erf inside PyTorch's exact GELU, x · 0.5 · (1 + erf(x / √2)) (Div → Erf → Add 1 → Mul x → Mul 0.5),
   * written as one gelu activation; Erf anywhere else is refused.
   */
  private gelu(node: OnnxNode): void {
    const only = (name: string): OnnxNode | undefined => {
      const c = this.consumers.get(name) ?? [];
      return c.length === 1 ? c[0] : undefined;
    };
    const pre = this.producer.get(node.input[0]);
    const k = pre ? this.scalar(pre.input[1]) : undefined;
    const scaled = pre !== undefined && k !== undefined && ((pre.opType === 'Div' && Math.abs(k - Math.SQRT2) < 1e-6) || (pre.opType === 'Mul' && Math.abs(k - Math.SQRT1_2) < 1e-6));
    const source = pre?.input[0] ?? '';
    const plus = only(node.output[0]);
    const one = plus?.opType === 'Add' ? this.scalar(plus.input[0] === node.output[0] ? plus.input[1] : plus.input[0]) : undefined;
    const times = plus ? only(plus.output[0]) : undefined;
    const half = times ? only(times.output[0]) : undefined;
    const halfValue = half?.opType === 'Mul' ? this.scalar(half.input[0] === times?.output[0] ? half.input[1] : half.input[0]) : undefined;
    const x = this.vals.get(source);
    if (!scaled || one !== 1 || times?.opType !== 'Mul' || !times.input.includes(source) || halfValue !== 0.5 || !half || !x || x.kind === 'const') {
      this.fail(node, 'Erf outside the exact GELU x · 0.5 · (1 + erf(x / √2)) has no TensorFlow.js layer here');
    }
    for (const n of [plus, times, half]) if (n) this.done.add(n);
    const t = this.apply(tf.layers.activation({ activation: 'gelu' as Parameters<typeof tf.layers.activation>[0]['activation'], name: this.layerName(node) }), x.t);
    this.set(half, { ...x, t, nonNeg: false });
  }

  /** MatMul of a channels-last map by constant weights [C, units] (a Linear on permuted maps, ConvNeXt): a 1×1 convolution. */
  private pointwise(node: OnnxNode): void {
    const x = this.map(node);
    const B = this.optConst(node, 1);
    if (!B || B.dims.length !== 2) this.fail(node, 'multiplies a feature map by a computed matrix (attention), not by constant weights');
    if (x.layout !== 'nhwc') this.fail(node, 'multiplies an NCHW feature map along its width, not its channels');
    const [k, units] = B.dims;
    if (this.shapeOf(x).c !== k) this.fail(node, `reads ${k} values per cell from a map of ${this.shapeOf(x).c} channels`);
    const fused = this.foldedBias(node, units);
    const layer = tf.layers.conv2d({ filters: units, kernelSize: 1, useBias: fused !== undefined, name: this.layerName(node), ...ZEROS });
    const t = this.apply(layer, x.t, [{ data: floats(B), shape: [1, 1, k, units] }, ...(fused ? [{ data: fused.bias, shape: [units] }] : [])]);
    const v: MapVal = { ...x, t, nonNeg: false };
    if (fused) {
      this.done.add(fused.add);
      this.vals.set(fused.add.output[0], v);
    } else {
      this.set(node, v);
    }
  }

  private node(node: OnnxNode): void {
    const op = node.opType;
    if (op !== 'Transpose' && op !== 'Reshape' && node.input.some((i) => { const v = this.vals.get(i); return v?.kind === 'map' && v.groups !== undefined; })) {
      this.fail(node, 'reads a feature map reshaped into channel groups other than through a channel shuffle');
    }
    if (PASS_OPS.has(op) || (op === 'Cast' && this.vals.get(node.input[0])?.kind !== 'const')) {
      this.set(node, this.get(node, 0));
      return;
    }
    switch (op) {
      case 'Conv':
        return this.conv(node);
      case 'BatchNormalization': {
        const x = this.get(node, 0);
        if (x.kind === 'const') this.fail(node, 'normalises a constant');
        const [g, b, mean, v] = [1, 2, 3, 4].map((i) => this.optConst(node, i));
        if (!g || !b || !mean || !v) this.fail(node, 'lacks a constant scale, bias, mean or variance');
        const eps = float(node, 'epsilon', 1e-5);
        const gv = floats(g); const bv = floats(b); const mv = floats(mean); const vv = floats(v);
        const scale = gv.map((s, i) => s / Math.sqrt(vv[i] + eps));
        const offset = bv.map((s, i) => s - mv[i] * scale[i]);
        if (x.kind === 'map' && x.layout !== 'nchw') this.fail(node, 'normalises a channels-last map');
        const t = this.affine(node, x, scale, offset);
        this.set(node, { ...x, t, nonNeg: false });
        return;
      }
      case 'Relu': case 'Sigmoid': case 'Tanh': case 'Softplus': case 'Softsign': case 'Selu': case 'Elu': case 'Celu': case 'LeakyRelu':
      case 'Clip': case 'HardSigmoid': case 'HardSwish': case 'PRelu': case 'Gelu': case 'Mish': {
        const x = this.get(node, 0);
        if (x.kind === 'const') this.fail(node, 'an activation of a constant');
        return this.activation(node, x);
      }
      case 'Add': case 'Sub': case 'Mul': case 'Div':
        return this.elementwise(node);
      case 'Sum': case 'Mean': case 'Max': case 'Min':
        return this.variadic(node);
      case 'Gemm': {
        const x = this.vecOf(node);
        const B = this.optConst(node, 1);
        if (!B || B.dims.length !== 2) this.fail(node, 'multiplies by a computed matrix (attention), not by constant weights');
        if (int(node, 'transA', 0) !== 0) this.fail(node, 'transposes its input');
        const alpha = float(node, 'alpha', 1);
        const beta = float(node, 'beta', 1);
        const transB = int(node, 'transB', 0) === 1;
        const [k, units] = transB ? [B.dims[1], B.dims[0]] : B.dims;
        const bv = floats(B);
        const kernel = transB ? transpose(bv, units, k) : bv.slice();
        if (alpha !== 1) for (let i = 0; i < kernel.length; i++) kernel[i] *= alpha;
        const C = this.optConst(node, 2);
        let bias: Float32Array | null = null;
        if (C) {
          const cv = floats(C);
          if (cv.length !== 1 && cv.length !== units) this.fail(node, `a bias of shape [${C.dims.join(', ')}] for ${units} units`);
          bias = Float32Array.from({ length: units }, (_, j) => beta * (cv.length === 1 ? cv[0] : cv[j]));
        }
        this.set(node, this.dense(node, x, kernel, k, units, bias));
        return;
      }
      case 'MatMul': {
        if (this.get(node, 0).kind === 'map') return this.pointwise(node);
        const x = this.vecOf(node);
        const B = this.optConst(node, 1);
        if (!B || B.dims.length !== 2) this.fail(node, 'multiplies by a computed matrix (attention), not by constant weights');
        const [k, units] = B.dims;
        const fused = this.foldedBias(node, units);
        const v = this.dense(node, x, floats(B), k, units, fused?.bias ?? null);
        if (fused) {
          this.done.add(fused.add);
          this.vals.set(fused.add.output[0], v);
        } else {
          this.set(node, v);
        }
        return;
      }
      case 'MaxPool': case 'AveragePool':
        return this.pool(node);
      case 'GlobalAveragePool': case 'GlobalMaxPool':
        if (this.map(node).layout !== 'nchw') this.fail(node, 'pools a channels-last map over its last two axes');
        return this.globalPool(node, true, op === 'GlobalMaxPool');
      case 'ReduceL2': {
        // The norm of a cosine classifier's F.normalize, over the channels of a vector or a map.
        const v = this.get(node, 0);
        if (v.kind === 'const') this.fail(node, 'reduces a constant it cannot fold');
        const { axis, rank } = this.channelAxis(v);
        const axesIn = node.input[1] ? this.optConst(node, 1) : undefined;
        const axes = (axesIn ? Array.from(axesIn.values, Number) : ints(node, 'axes', [])).map((a) => (a < 0 ? a + rank : a));
        if (axes.length !== 1 || axes[0] !== axis) this.fail(node, `takes the L2 norm over axes [${axes.join(', ')}], not over the channels alone`);
        if (v.kind === 'map') return this.channelReduce(node, v, 'l2');
        if (int(node, 'keepdims', 1) !== 1) this.fail(node, 'takes the L2 norm of a vector without keeping its axis');
        const t = this.apply(new OnnxChannelReduce({ op: 'l2', name: this.layerName(node) }), v.t);
        this.set(node, { ...v, t, order: null, nonNeg: true });
        return;
      }
      case 'ReduceMean': case 'ReduceMax': {
        const v = this.get(node, 0);
        // A layer normalisation of a pooled vector (ConvNeXt's head), decomposed as at opset 11.
        if (v.kind === 'vec' && op === 'ReduceMean' && this.decomposedLayerNorm(node, v)) return;
        const x = this.map(node);
        const axesIn = node.input[1] ? this.optConst(node, 1) : undefined;
        const axes = (axesIn ? Array.from(axesIn.values, Number) : ints(node, 'axes', [])).map((a) => (a < 0 ? a + 4 : a)).sort().join();
        const spatial = x.layout === 'nchw' ? '2,3' : '1,2';
        const channel = x.layout === 'nchw' ? '1' : '3';
        if (axes === channel) {
          if (op === 'ReduceMean' && this.decomposedLayerNorm(node, x)) return;
          return this.channelReduce(node, x, op === 'ReduceMean' ? 'mean' : 'max');
        }
        if (axes !== spatial) this.fail(node, `reduces axes [${axes}], not the map's height and width`);
        return this.globalPool(node, int(node, 'keepdims', 1) === 1, op === 'ReduceMax');
      }
      case 'Flatten': case 'Reshape': case 'Squeeze': case 'Unsqueeze':
        return this.reshape(node);
      case 'Transpose': {
        const x = this.get(node, 0);
        const perm = ints(node, 'perm', []).join();
        if (x.kind === 'map' && ((perm === '0,3,1,2' && x.layout === 'nhwc') || (perm === '0,2,3,1' && x.layout === 'nchw'))) {
          this.set(node, { ...x, layout: x.layout === 'nhwc' ? 'nchw' : 'nhwc' });
          return;
        }
        if (x.kind === 'vec' && x.rank === 4 && perm.startsWith('0,')) {
          // The other axes hold one value each: only where the channel axis goes matters (PyTorch's softmax over
          // dim 1 before opset 13 is Transpose [0, 3, 2, 1], Softmax over the last axis, and the Transpose back).
          const to = ints(node, 'perm', []).indexOf(x.channelsLast ? 3 : 1);
          if (to === 1 || to === 3) {
            this.set(node, { ...x, rank: 4, channelsLast: to === 3 });
            return;
          }
        }
        if (x.kind === 'map' && x.groups && perm === '0,2,1,3,4') {
          this.set(node, { ...x, groups: { ...x.groups, transposed: !x.groups.transposed } });
          return;
        }
        return this.fail(node, `transposes a ${x.kind === 'map' ? `${x.layout.toUpperCase()} map` : x.kind} by [${perm}]`);
      }
      case 'Concat': {
        const parts = node.input.map((_, i) => this.get(node, i));
        if (parts.length === 1) {
          this.set(node, parts[0]);
          return;
        }
        const rank = parts[0].kind === 'vec' ? parts[0].rank : 4;
        let axis = int(node, 'axis', 1);
        if (axis < 0) axis += rank;
        if (parts.every((p): p is MapVal => p.kind === 'map' && p.layout === (parts[0] as MapVal).layout)) {
          const channel = parts[0].layout === 'nchw' ? 1 : 3;
          if (axis !== channel) this.fail(node, `joins maps along axis ${axis}, not their channels`);
          const t = this.apply(tf.layers.concatenate({ axis: -1, name: this.layerName(node) }), parts.map((p) => p.t));
          this.set(node, { kind: 'map', t, layout: parts[0].layout, nonNeg: parts.every((p) => p.nonNeg) });
          return;
        }
        if (parts.every((p): p is VecVal => p.kind === 'vec' && p.order === null) && axis === 1) {
          const t = this.apply(tf.layers.concatenate({ axis: -1, name: this.layerName(node) }), parts.map((p) => p.t));
          this.set(node, { kind: 'vec', t, rank: parts[0].rank, order: null, nonNeg: parts.every((p) => p.nonNeg) });
          return;
        }
        return this.fail(node, 'joins tensors of different kinds');
      }
      case 'Softmax': case 'LogSoftmax':
        return this.softmax(node);
      case 'Pad': {
        const x = this.map(node);
        const mode = str(node, 'mode', 'constant');
        const padsC = node.input[1] ? this.optConst(node, 1) : undefined;
        const pads = padsC ? Array.from(padsC.values, Number) : ints(node, 'pads', []);
        const value = node.input[2] ? Number(this.optConst(node, 2)?.values[0] ?? 0) : float(node, 'value', 0);
        if (mode !== 'constant' || value !== 0) this.fail(node, `pads with mode ${mode} value ${value}: only zero padding has a TensorFlow.js layer`);
        const [hy, hx] = x.layout === 'nchw' ? [2, 3] : [1, 2];
        if (pads.length !== 8 || pads.some((p, i) => p !== 0 && i % 4 !== hy && i % 4 !== hx) || pads.some((p) => p < 0)) this.fail(node, `pads [${pads.join(', ')}] beyond height and width`);
        const t = this.apply(tf.layers.zeroPadding2d({ padding: [[pads[hy], pads[hy + 4]], [pads[hx], pads[hx + 4]]], name: this.layerName(node) }), x.t);
        this.set(node, { ...x, t });
        return;
      }
      case 'Slice': {
        const x = this.map(node);
        const c = this.shapeOf(x).c;
        const num = (i: number, attrName: string): number[] | undefined => (node.input[i] ? Array.from(this.optConst(node, i)?.values ?? [], Number) : attr(node, attrName)?.ints);
        const starts = num(1, 'starts') ?? [];
        const ends = num(2, 'ends') ?? [];
        const axes = (num(3, 'axes') ?? starts.map((_, i) => i)).map((a) => (a < 0 ? a + 4 : a));
        const steps = num(4, 'steps') ?? starts.map(() => 1);
        const channel = x.layout === 'nchw' ? 1 : 3;
        if (axes.length !== 1 || axes[0] !== channel || steps[0] !== 1) this.fail(node, 'slices a feature map other than along its channels');
        const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + c : v, 0), c);
        const [from, to] = [clamp(starts[0]), clamp(ends[0])];
        if (to <= from) this.fail(node, `slices channels ${from}–${to} of ${c}: nothing`);
        if (from === 0 && to === c) {
          this.set(node, x);
          return;
        }
        this.set(node, { ...x, t: this.select(node, x, Int32Array.from({ length: to - from }, (_, j) => from + j)) });
        return;
      }
      case 'Split':
        return this.split(node);
      case 'Expand':
        return this.expand(node);
      case 'Pow': {
        // GeM pooling: clamp, x^p, average pool, the p-th root.
        const x = this.get(node, 0);
        if (x.kind === 'const') this.fail(node, 'a Pow of a constant it cannot fold');
        const e = this.optConst(node, 1);
        const p = e && e.values.length === 1 ? Number(e.values[0]) : NaN;
        if (!Number.isFinite(p)) this.fail(node, 'a Pow whose exponent is not one constant');
        if (p === 1) {
          this.set(node, x);
          return;
        }
        const t = this.apply(new OnnxPow({ exponent: p, name: this.layerName(node) }), x.t);
        this.set(node, { ...x, t, nonNeg: x.nonNeg || (Number.isInteger(p) && p % 2 === 0) });
        return;
      }
      case 'LayerNormalization':
        return this.layerNormalization(node);
      case 'Erf':
        return this.gelu(node);
      case 'LRN':
        return this.lrn(node);
      case 'Shape':
        return this.fail(node, 'a shape computation that does not fold to constants at the window size');
      default:
        return this.fail(node, `${op} is not an operator Convmap can rewrite`);
    }
  }

  value(name: string): Val | undefined {
    return this.vals.get(name);
  }

  shapeNode(node: OnnxNode): void {
    const x = this.vals.get(node.input[0]);
    if (!x) this.fail(node, 'reads a tensor the graph has not computed');
    let dims = this.dimsOf(x);
    const start = attr(node, 'start')?.i;
    const end = attr(node, 'end')?.i;
    if (start !== undefined || end !== undefined) {
      const n = dims.length;
      const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
      dims = dims.slice(clamp(start ?? 0), clamp(end ?? n));
    }
    this.set(node, { kind: 'const', dims: [dims.length], values: dims });
  }

  /** Runs the nodes, folding Shape nodes of computed tensors to their dims at the window size. */
  runAll(nodes: OnnxNode[]): void {
    for (const node of nodes) {
      if (node.opType === 'Shape' && !this.done.has(node)) {
        this.shapeNode(node);
        continue;
      }
      this.run([node]);
    }
  }

  producerOf(name: string): OnnxNode | undefined {
    return this.producer.get(name);
  }
}

/** The tensor a graph output reads its scores from: past a trailing ArgMax/Cast/Identity/TopK. */
function scoresTensor(imp: Importer, output: string, notes: string[]): string {
  let name = output;
  for (;;) {
    const p = imp.producerOf(name);
    if (!p || !STRIPPED_TAIL.has(p.opType)) return name;
    if (p.opType === 'ArgMax' || p.opType === 'TopK') notes.push(`output "${output}" is the class index (${p.opType} "${p.name}"): the scores it reads are used instead`);
    name = p.input[0];
  }
}

/**
 * The first MatMul or Einsum (in `order`) both of whose inputs are computed from the image: a
 * transformer's attention (queries by keys, weights by values). Tensors of initializers, Constant
 * nodes and Shape nodes (fixed at the window), and of nodes reading only those, are not computed from it.
 */
function attentionNode(m: OnnxModelFile, order: readonly OnnxNode[]): OnnxNode | undefined {
  const fixed = new Set<string>(m.initializers.keys());
  for (const node of order) {
    const inputs = node.input.filter((i) => i !== '');
    if (node.opType === 'Constant' || node.opType === 'Shape' || inputs.every((i) => fixed.has(i))) {
      for (const o of node.output) fixed.add(o);
      continue;
    }
    if ((node.opType === 'MatMul' || node.opType === 'Einsum') && inputs.filter((i) => !fixed.has(i)).length >= 2) return node;
  }
  return undefined;
}

/**
 * Rebuilds an ONNX classifier as a tfjs Layers model at its window size.
 * @throws ModelError naming the node (and why) for what is not an image classifier Convmap can rewrite
 */
export function importOnnx(m: OnnxModelFile, opts: ImportOptions = {}): ImportedClassifier {
  const imp: Importer = new Importer(m);
  const all = m.outputs.filter((o) => !m.initializers.has(o.name));
  if (all.length === 0) imp.fail(undefined, 'the graph has no output');
  const shapeText = (o: (typeof all)[number]): string => `"${o.name}" [${(o.dims ?? []).map((d) => d ?? '?').join(', ')}]`;
  let chosen = all[0];
  if (opts.output !== undefined) {
    const found = all.find((o) => o.name === opts.output);
    if (!found) imp.fail(undefined, `has no output "${opts.output}" (outputs: ${all.map((o) => o.name).join(', ')})`);
    chosen = found;
  } else {
    const scoreLike = (o: (typeof all)[number]): boolean => {
      const d = o.dims;
      return d === null || d.length <= 2 || (d.length === 4 && d[2] === 1 && d[3] === 1);
    };
    const candidates = all.filter(scoreLike);
    if (candidates.length === 0) {
      const what = all.length > 1 && all.some((o) => (o.dims ?? []).at(-1) === 4)
        ? 'a detector (outputs per anchor, one of them boxes), not a classifier'
        : 'per-position outputs (a detector or a segmenter), not class scores';
      const up = m.nodes.find((n) => UPSAMPLING_OPS.has(n.opType));
      if (up && !what.startsWith('a detector')) imp.fail(up, `scales a feature map up to per-pixel outputs ${all.map(shapeText).join(', ')}: a segmenter, not an image classifier`);
      imp.fail(undefined, `outputs ${all.map(shapeText).join(', ')}: ${what}`);
    }
    chosen = candidates[0];
  }
  const notes: string[] = [];
  const order = imp.order(scoresTensor(imp, chosen.name, []));
  // What kind of model this is matters more than the first operator that cannot be rewritten.
  const sequence = order.find((n) => SEQUENCE_OPS.has(n.opType));
  if (sequence) imp.fail(sequence, sequenceReason(sequence.opType));
  const norm = order.find((n) => WHOLE_MAP_NORMS.has(n.opType));
  if (norm) {
    imp.fail(norm, `${norm.opType} normalises each channel group over the whole feature map (PyTorch's GroupNorm, InstanceNorm): a window of a photo would be normalised by the statistics of every other window, so the classifier cannot slide`);
  }
  const attention = attentionNode(m, order);
  if (attention) {
    imp.fail(attention, `${attention.opType} of two tensors computed from the image (attention): a vision transformer, not a convolutional classifier that can slide (Convmap rewrites convolutional networks)`);
  }
  if (all.length > 1) notes.push(`the graph has ${all.length} outputs (${all.map((o) => o.name).join(', ')}): "${chosen.name}" is converted`);
  const scores = scoresTensor(imp, chosen.name, notes);
  const input = imp.input(opts);
  imp.runAll(order);
  const out = imp.value(scores);
  if (!out || out.kind === 'const') imp.fail(imp.producerOf(scores), `output "${chosen.name}" does not depend on the image`);
  if (out.kind === 'map') {
    imp.fail(imp.producerOf(scores), `output "${chosen.name}" is a feature map (${out.t.shape.slice(1).join('×')}): a segmenter or detector, not class scores`);
  }
  if (out.order) imp.fail(imp.producerOf(scores), `output "${chosen.name}" is a flattened feature map, not class scores`);
  let model: tf.LayersModel;
  try {
    model = tf.model({ inputs: input.tensor, outputs: out.t, name: 'onnx_import' });
  } catch (e) {
    throw new ModelError(m.file, `TensorFlow.js could not build the imported graph: ${(e as Error).message.split('\n')[0]}`);
  }
  return {
    model,
    window: input.window,
    channels: input.channels,
    classes: out.t.shape[1] as number,
    input: { name: input.name, elemType: input.elemType, dims: input.dims, layout: input.layout },
    scores,
    output: chosen.name,
    logSoftmax: imp.logSoftmax,
    notes: [...notes, ...imp.notes],
  };
}

export type { OnnxTensor };
