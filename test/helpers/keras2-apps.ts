import { seededRandom } from '../../core/random';
import type { H5Weight, Json } from './keras';

/**
 * keras.applications backbones in the form Keras 2 (tf.keras 2.x) writes them into an `.h5` file's
 * `model_config`: `{"class_name": "Functional", "config": {"layers": [...], "input_layers", "output_layers"}}`,
 * each layer `{"class_name", "config", "name", "inbound_nodes": [[[layer, node, tensor, kwargs], ...]]}`
 * with Keras 2's get_config() fields, and its weights at `model_weights/<layer>/<layer>/<weight>:0`.
 * The architectures follow keras/applications/{resnet,mobilenet_v2,efficientnet}.py of Keras 2.15
 * (layer names, order, paddings); weights are synthesised (seeded), so only structure is tested.
 * `width` scales every layer's filters (1 = the published widths) to keep tests small.
 */

export type Shape = [number, number, number];

const init = (cls: string, config: Record<string, Json> = {}): Json => ({ class_name: cls, config });
const GLOROT = init('GlorotUniform', { seed: null });
const ZEROS = init('Zeros');
const ONES = init('Ones');

/** Collects a Keras 2 Functional config and its weights while tracking every tensor's [h, w, c]. */
export class Keras2Graph {
  readonly layers: Json[] = [];
  readonly weights: { name: string; weights: H5Weight[] }[] = [];
  private readonly shapes = new Map<string, Shape>();
  private readonly random: () => number;
  private readonly counts = new Map<string, number>();
  private inputName = '';
  /** The tensor the model ends in, once built. */
  output = '';

  constructor(readonly name: string, seed: number) {
    this.random = seededRandom(seed);
  }

  shape(t: string): Shape {
    const s = this.shapes.get(t);
    if (!s) throw new Error(`no tensor ${t}`);
    return s;
  }

  /** Keras's automatic layer name: `conv2d`, `conv2d_1`, … per class. */
  auto(base: string): string {
    const k = this.counts.get(base);
    this.counts.set(base, (k ?? -1) + 1);
    return k === undefined ? base : `${base}_${k + 1}`;
  }

  input(name: string, [h, w, c]: Shape): string {
    this.inputName = name;
    this.layers.push({ class_name: 'InputLayer', config: { batch_input_shape: [null, h, w, c], dtype: 'float32', sparse: false, ragged: false, name }, name, inbound_nodes: [] });
    this.shapes.set(name, [h, w, c]);
    return name;
  }

  private uniform(n: number, lo: number, hi: number): Float32Array {
    return Float32Array.from({ length: n }, () => lo + (hi - lo) * this.random());
  }

  /** Adds a layer entry; `inputs` are tensor (= layer) names, `node` the inbound node index of each (0 unless a nested model). */
  layer(className: string, name: string, config: Record<string, Json>, inputs: string[], out: Shape, weights: H5Weight[] = [], node = 0): string {
    this.layers.push({
      class_name: className,
      config: { name, trainable: true, dtype: 'float32', ...config },
      name,
      inbound_nodes: [inputs.map((i) => [i, node, 0, {}])],
    });
    this.shapes.set(name, out);
    if (weights.length > 0) this.weights.push({ name, weights });
    return name;
  }

  /** A weight with values of about unit gain: uniform ±√(3 / fanIn). */
  kernel(layer: string, weight: string, shape: number[], fanIn: number): H5Weight {
    const a = Math.sqrt(3 / fanIn);
    return { name: `${layer}/${weight}:0`, shape, values: this.uniform(shape.reduce((x, y) => x * y, 1), -a, a) };
  }

  small(layer: string, weight: string, n: number, lo = -0.05, hi = 0.05): H5Weight {
    return { name: `${layer}/${weight}:0`, shape: [n], values: this.uniform(n, lo, hi) };
  }

  /** Conv2D; `groups` splits the input channels as Keras does (kernel [kh, kw, c / groups, filters]). */
  conv(x: string, name: string, filters: number, k: number | [number, number], opts: { strides?: number; padding?: string; useBias?: boolean; activation?: string; groups?: number } = {}): string {
    const [kh, kw] = typeof k === 'number' ? [k, k] : k;
    const s = opts.strides ?? 1;
    const [h, w, c] = this.shape(x);
    const padding = opts.padding ?? 'valid';
    const out: Shape = padding === 'same' ? [Math.ceil(h / s), Math.ceil(w / s), filters] : [Math.floor((h - kh) / s) + 1, Math.floor((w - kw) / s) + 1, filters];
    const useBias = opts.useBias ?? true;
    const groups = opts.groups ?? 1;
    const weights = [this.kernel(name, 'kernel', [kh, kw, c / groups, filters], (kh * kw * c) / groups), ...(useBias ? [this.small(name, 'bias', filters)] : [])];
    return this.layer('Conv2D', name, {
      filters, kernel_size: [kh, kw], strides: [s, s], padding, data_format: 'channels_last', dilation_rate: [1, 1], groups,
      activation: opts.activation ?? 'linear', use_bias: useBias, kernel_initializer: GLOROT, bias_initializer: ZEROS,
      kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
    }, [x], out, weights);
  }

  depthwise(x: string, name: string, k: number, opts: { strides?: number; padding?: string; useBias?: boolean } = {}): string {
    const s = opts.strides ?? 1;
    const [h, w, c] = this.shape(x);
    const padding = opts.padding ?? 'valid';
    const out: Shape = padding === 'same' ? [Math.ceil(h / s), Math.ceil(w / s), c] : [Math.floor((h - k) / s) + 1, Math.floor((w - k) / s) + 1, c];
    const useBias = opts.useBias ?? false;
    const weights = [this.kernel(name, 'depthwise_kernel', [k, k, c, 1], k * k), ...(useBias ? [this.small(name, 'bias', c)] : [])];
    return this.layer('DepthwiseConv2D', name, {
      kernel_size: [k, k], strides: [s, s], padding, data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear',
      use_bias: useBias, bias_initializer: ZEROS, bias_regularizer: null, activity_regularizer: null, bias_constraint: null,
      depth_multiplier: 1, depthwise_initializer: GLOROT, depthwise_regularizer: null, depthwise_constraint: null,
    }, [x], out, weights);
  }

  /** SeparableConv2D (depth multiplier 1): weights depthwise_kernel [k, k, c, 1], pointwise_kernel [1, 1, c, filters], bias. */
  separable(x: string, name: string, filters: number, k: number, opts: { padding?: string; useBias?: boolean } = {}): string {
    const [h, w, c] = this.shape(x);
    const padding = opts.padding ?? 'valid';
    const out: Shape = padding === 'same' ? [h, w, filters] : [h - k + 1, w - k + 1, filters];
    const useBias = opts.useBias ?? true;
    const weights = [
      this.kernel(name, 'depthwise_kernel', [k, k, c, 1], k * k), this.kernel(name, 'pointwise_kernel', [1, 1, c, filters], c),
      ...(useBias ? [this.small(name, 'bias', filters)] : []),
    ];
    return this.layer('SeparableConv2D', name, {
      filters, kernel_size: [k, k], strides: [1, 1], padding, data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear',
      use_bias: useBias, kernel_initializer: GLOROT, bias_initializer: ZEROS, kernel_regularizer: null, bias_regularizer: null,
      activity_regularizer: null, kernel_constraint: null, bias_constraint: null, depth_multiplier: 1, depthwise_initializer: GLOROT,
      pointwise_initializer: GLOROT, depthwise_regularizer: null, pointwise_regularizer: null, depthwise_constraint: null, pointwise_constraint: null,
    }, [x], out, weights);
  }

  /** MaxPooling2D / AveragePooling2D with a square pool. */
  pool(className: 'MaxPooling2D' | 'AveragePooling2D', x: string, name: string, size: number, strides: number, padding = 'valid'): string {
    const [h, w, c] = this.shape(x);
    const out: Shape = padding === 'same' ? [Math.ceil(h / strides), Math.ceil(w / strides), c] : [Math.floor((h - size) / strides) + 1, Math.floor((w - size) / strides) + 1, c];
    return this.layer(className, name, { pool_size: [size, size], padding, strides: [strides, strides], data_format: 'channels_last' }, [x], out);
  }

  concat(name: string, inputs: string[]): string {
    const [h, w] = this.shape(inputs[0]);
    return this.layer('Concatenate', name, { axis: -1 }, inputs, [h, w, inputs.reduce((n, i) => n + this.shape(i)[2], 0)]);
  }

  /** LayerNormalization over the channels (gamma, beta); `axis` as Keras writes it once built (1 on a vector). */
  layerNorm(x: string, name: string, epsilon: number, axis = 3): string {
    const c = this.shape(x)[2];
    return this.layer('LayerNormalization', name, {
      axis: [axis], epsilon, center: true, scale: true, beta_initializer: ZEROS, gamma_initializer: ONES, beta_regularizer: null,
      gamma_regularizer: null, beta_constraint: null, gamma_constraint: null,
    }, [x], this.shape(x), [this.small(name, 'gamma', c, 0.8, 1.2), this.small(name, 'beta', c)]);
  }

  /**
   * A TensorFlow operation with a number, as Keras 2 records `x + 3.0` (TFOpLambda `__operators__.add`,
   * the number in the call's kwargs `y`); Keras 3 records the same call as an operation of keras.ops.
   */
  tfOp(x: string, fn: '__operators__.add' | 'math.multiply' | 'math.truediv' | 'math.subtract', y: number): string {
    const name = this.auto(`tf.${fn}`);
    this.layers.push({
      class_name: 'TFOpLambda', config: { name, trainable: true, dtype: 'float32', function: fn }, name,
      inbound_nodes: [[[x, 0, 0, { y, name: null }]]],
    });
    this.shapes.set(name, this.shape(x));
    return name;
  }

  /** Records a tensor's shape for an entry added by hand (a nested model). */
  setShape(t: string, s: Shape): void {
    this.shapes.set(t, s);
  }

  /** BatchNormalization as Keras 2 writes it once built (`axis: [3]`); weights gamma, beta, moving mean, moving variance. */
  bn(x: string, name: string, epsilon: number, momentum = 0.99): string {
    const c = this.shape(x)[2];
    return this.layer('BatchNormalization', name, {
      axis: [3], momentum, epsilon, center: true, scale: true, beta_initializer: ZEROS, gamma_initializer: ONES,
      moving_mean_initializer: ZEROS, moving_variance_initializer: ONES, beta_regularizer: null, gamma_regularizer: null,
      beta_constraint: null, gamma_constraint: null,
    }, [x], this.shape(x), [this.small(name, 'gamma', c, 0.8, 1.2), this.small(name, 'beta', c), this.small(name, 'moving_mean', c), this.small(name, 'moving_variance', c, 0.5, 1.5)]);
  }

  activation(x: string, name: string, activation: string): string {
    return this.layer('Activation', name, { activation }, [x], this.shape(x));
  }

  relu6(x: string, name: string): string {
    return this.layer('ReLU', name, { max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, [x], this.shape(x));
  }

  zeroPad(x: string, name: string, pad: [[number, number], [number, number]]): string {
    const [h, w, c] = this.shape(x);
    return this.layer('ZeroPadding2D', name, { padding: pad, data_format: 'channels_last' }, [x], [h + pad[0][0] + pad[0][1], w + pad[1][0] + pad[1][1], c]);
  }

  merge(className: 'Add' | 'Multiply', name: string, inputs: string[]): string {
    return this.layer(className, name, {}, inputs, this.shape(inputs[0]));
  }

  /** GlobalAveragePooling2D: [1, 1, c] (a vector of c unless `keepdims`). */
  gap(x: string, name: string, keepdims = false): string {
    return this.layer('GlobalAveragePooling2D', name, { data_format: 'channels_last', keepdims }, [x], [1, 1, this.shape(x)[2]]);
  }

  /** Dense on the last axis (on a map: per position, as ConvNeXt's pointwise layers). */
  dense(x: string, name: string, units: number, activation: string): string {
    const [h, w, c] = this.shape(x);
    return this.layer('Dense', name, {
      units, activation, use_bias: true, kernel_initializer: GLOROT, bias_initializer: ZEROS, kernel_regularizer: null,
      bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
    }, [x], [h, w, units], [this.kernel(name, 'kernel', [c, units], c), this.small(name, 'bias', units)]);
  }

  /** The Functional config as the `.h5` file's `model_config` holds it. */
  config(output: string): Json {
    return {
      class_name: 'Functional',
      config: { name: this.name, trainable: true, layers: this.layers, input_layers: [[this.inputName, 0, 0]], output_layers: [[output, 0, 0]] },
    };
  }
}

/** imagenet_utils.correct_pad: ((k//2 − adjust, k//2), …) with adjust 1 on an even side. */
function correctPad([h, w]: Shape, k: number): [[number, number], [number, number]] {
  const c = Math.floor(k / 2);
  return [[c - (1 - (h % 2)), c], [c - (1 - (w % 2)), c]];
}

/** Filters scaled by `width`, at least 4 and a multiple of 4 (keeps depthwise and SE widths whole). */
const scaled = (filters: number, width: number): number => Math.max(4, Math.round((filters * width) / 4) * 4);

/**
 * ResNet50 v1 (resnet.py: stack1/block1, conv1_pad 3, pool1_pad 1, GlobalAveragePooling2D avg_pool →
 * Dense predictions with `classifierActivation`, 'linear' for keras.applications' classifier_activation=None).
 * ResNet101 and ResNet152 are the same with `depths` [3, 4, 23, 3] and [3, 8, 36, 3].
 */
export function resnet50(size: number, classes: number, width: number, seed: number, classifierActivation = 'softmax', depths: readonly number[] = [3, 4, 6, 3], name = 'resnet50'): Keras2Graph {
  const g = new Keras2Graph(name, seed);
  let x = g.input('input_1', [size, size, 3]);
  x = g.zeroPad(x, 'conv1_pad', [[3, 3], [3, 3]]);
  x = g.conv(x, 'conv1_conv', scaled(64, width), 7, { strides: 2 });
  x = g.bn(x, 'conv1_bn', 1.001e-5);
  x = g.activation(x, 'conv1_relu', 'relu');
  x = g.zeroPad(x, 'pool1_pad', [[1, 1], [1, 1]]);
  const [h, w, c] = g.shape(x);
  x = g.layer('MaxPooling2D', 'pool1_pool', { pool_size: [3, 3], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }, [x], [Math.floor((h - 3) / 2) + 1, Math.floor((w - 3) / 2) + 1, c]);
  const block1 = (input: string, filters: number, stride: number, convShortcut: boolean, name: string): string => {
    let shortcut = input;
    if (convShortcut) {
      shortcut = g.conv(input, `${name}_0_conv`, 4 * filters, 1, { strides: stride });
      shortcut = g.bn(shortcut, `${name}_0_bn`, 1.001e-5);
    }
    let y = g.conv(input, `${name}_1_conv`, filters, 1, { strides: stride });
    y = g.bn(y, `${name}_1_bn`, 1.001e-5);
    y = g.activation(y, `${name}_1_relu`, 'relu');
    y = g.conv(y, `${name}_2_conv`, filters, 3, { padding: 'same' });
    y = g.bn(y, `${name}_2_bn`, 1.001e-5);
    y = g.activation(y, `${name}_2_relu`, 'relu');
    y = g.conv(y, `${name}_3_conv`, 4 * filters, 1);
    y = g.bn(y, `${name}_3_bn`, 1.001e-5);
    y = g.merge('Add', `${name}_add`, [shortcut, y]);
    return g.activation(y, `${name}_out`, 'relu');
  };
  const stack1 = (input: string, filters: number, blocks: number, stride1: number, name: string): string => {
    let y = block1(input, filters, stride1, true, `${name}_block1`);
    for (let i = 2; i <= blocks; i++) y = block1(y, filters, 1, false, `${name}_block${i}`);
    return y;
  };
  x = stack1(x, scaled(64, width), depths[0], 1, 'conv2');
  x = stack1(x, scaled(128, width), depths[1], 2, 'conv3');
  x = stack1(x, scaled(256, width), depths[2], 2, 'conv4');
  x = stack1(x, scaled(512, width), depths[3], 2, 'conv5');
  x = g.gap(x, 'avg_pool');
  x = g.dense(x, 'predictions', classes, classifierActivation);
  g.output = x;
  return g;
}

/** _make_divisible of mobilenet_v2.py. */
function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  if (n < 0.9 * v) n += divisor;
  return n;
}

/**
 * MobileNetV2 (mobilenet_v2.py) at width multiplier `alpha`, without its top when `classes` is 0
 * (ending in out_relu), else GlobalAveragePooling2D → Dense predictions.
 */
export function mobileNetV2(size: number, alpha: number, classes: number, seed: number, name = `mobilenetv2_${alpha.toFixed(2)}_${size}`): Keras2Graph {
  const g = new Keras2Graph(name, seed);
  let x = g.input(classes === 0 ? `input_${seed}` : 'input_1', [size, size, 3]);
  x = g.conv(x, 'Conv1', makeDivisible(32 * alpha), 3, { strides: 2, padding: 'same', useBias: false });
  x = g.bn(x, 'bn_Conv1', 1e-3, 0.999);
  x = g.relu6(x, 'Conv1_relu');
  const block = (input: string, filters: number, stride: number, expansion: number, id: number): string => {
    const inChannels = g.shape(input)[2];
    const pointwise = makeDivisible(Math.trunc(filters * alpha));
    let y = input;
    let prefix = `block_${id}_`;
    if (id > 0) {
      y = g.conv(y, `${prefix}expand`, expansion * inChannels, 1, { padding: 'same', useBias: false });
      y = g.bn(y, `${prefix}expand_BN`, 1e-3, 0.999);
      y = g.relu6(y, `${prefix}expand_relu`);
    } else {
      prefix = 'expanded_conv_';
    }
    if (stride === 2) y = g.zeroPad(y, `${prefix}pad`, correctPad(g.shape(y), 3));
    y = g.depthwise(y, `${prefix}depthwise`, 3, { strides: stride, padding: stride === 1 ? 'same' : 'valid' });
    y = g.bn(y, `${prefix}depthwise_BN`, 1e-3, 0.999);
    y = g.relu6(y, `${prefix}depthwise_relu`);
    y = g.conv(y, `${prefix}project`, pointwise, 1, { padding: 'same', useBias: false });
    y = g.bn(y, `${prefix}project_BN`, 1e-3, 0.999);
    return inChannels === pointwise && stride === 1 ? g.merge('Add', `${prefix}add`, [input, y]) : y;
  };
  const plan: [number, number, number][] = [
    [16, 1, 1], [24, 2, 6], [24, 1, 6], [32, 2, 6], [32, 1, 6], [32, 1, 6], [64, 2, 6], [64, 1, 6], [64, 1, 6], [64, 1, 6],
    [96, 1, 6], [96, 1, 6], [96, 1, 6], [160, 2, 6], [160, 1, 6], [160, 1, 6], [320, 1, 6],
  ];
  plan.forEach(([filters, stride, expansion], id) => {
    x = block(x, filters, stride, expansion, id);
  });
  x = g.conv(x, 'Conv_1', alpha > 1 ? makeDivisible(1280 * alpha) : 1280, 1, { useBias: false });
  x = g.bn(x, 'Conv_1_bn', 1e-3, 0.999);
  x = g.relu6(x, 'out_relu');
  if (classes > 0) {
    x = g.gap(x, 'global_average_pooling2d');
    x = g.dense(x, 'predictions', classes, 'softmax');
  }
  g.output = x;
  return g;
}

/** round_filters of efficientnet.py (divisor 8). */
function roundFilters(filters: number, width: number): number {
  const f = filters * width;
  let n = Math.max(8, Math.floor((f + 4) / 8) * 8);
  if (n < 0.9 * f) n += 8;
  return n;
}

/**
 * EfficientNetB0 (efficientnet.py, Keras 2.10+): Rescaling(1/255) → Normalization(axis 3, with
 * mean/variance/count weights) → Rescaling(1/√stddev per channel) → stem_conv_pad + stem_conv 3×3/2 →
 * 16 MBConv blocks (expand, dwconv_pad on stride 2, DepthwiseConv2D, squeeze-excite with
 * se_squeeze/se_reshape/se_reduce/se_expand/se_excite, project, Dropout `drop` + `add` on identity
 * blocks) → top_conv → avg_pool → top_dropout → predictions. B1–B7 are the same with their `width` and
 * `depth` coefficients (⌈depth · repeats⌉ blocks a stage), `name` and `topDropout`; `classifierActivation`
 * 'linear' for classifier_activation=None.
 */
export function efficientNetB0(size: number, classes: number, width: number, seed: number, depth = 1, name = 'efficientnetb0', topDropout = 0.2, classifierActivation = 'softmax'): Keras2Graph {
  const g = new Keras2Graph(name, seed);
  let x = g.input('input_1', [size, size, 3]);
  x = g.layer('Rescaling', g.auto('rescaling'), { scale: 1 / 255, offset: 0.0 }, [x], g.shape(x));
  x = g.layer('Normalization', g.auto('normalization'), { axis: [3], invert: false, mean: null, variance: null }, [x], g.shape(x));
  const norm = x;
  g.weights.push({ name: norm, weights: [
    { name: `${norm}/mean:0`, shape: [3], values: Float32Array.of(0.485, 0.456, 0.406) },
    { name: `${norm}/variance:0`, shape: [3], values: Float32Array.of(0.229 ** 2, 0.224 ** 2, 0.225 ** 2) },
    { name: `${norm}/count:0`, shape: [], values: Float32Array.of(0) },
  ] });
  x = g.layer('Rescaling', g.auto('rescaling'), { scale: [0.229, 0.224, 0.225].map((s) => 1 / Math.sqrt(s)), offset: 0.0 }, [x], g.shape(x));
  x = g.zeroPad(x, 'stem_conv_pad', correctPad(g.shape(x), 3));
  x = g.conv(x, 'stem_conv', roundFilters(32, width), 3, { strides: 2, useBias: false });
  x = g.bn(x, 'stem_bn', 1e-3);
  x = g.activation(x, 'stem_activation', 'swish');
  const blocks: { k: number; repeats: number; fin: number; fout: number; expand: number; stride: number }[] = [
    { k: 3, repeats: 1, fin: 32, fout: 16, expand: 1, stride: 1 }, { k: 3, repeats: 2, fin: 16, fout: 24, expand: 6, stride: 2 },
    { k: 5, repeats: 2, fin: 24, fout: 40, expand: 6, stride: 2 }, { k: 3, repeats: 3, fin: 40, fout: 80, expand: 6, stride: 2 },
    { k: 5, repeats: 3, fin: 80, fout: 112, expand: 6, stride: 1 }, { k: 5, repeats: 4, fin: 112, fout: 192, expand: 6, stride: 2 },
    { k: 3, repeats: 1, fin: 192, fout: 320, expand: 6, stride: 1 },
  ];
  const repeats = (n: number): number => Math.ceil(depth * n);
  const total = blocks.reduce((n, b) => n + repeats(b.repeats), 0);
  let b = 0;
  blocks.forEach((args, i) => {
    let fin = roundFilters(args.fin, width);
    const fout = roundFilters(args.fout, width);
    for (let j = 0; j < repeats(args.repeats); j++) {
      const stride = j > 0 ? 1 : args.stride;
      if (j > 0) fin = fout;
      const name = `block${i + 1}${String.fromCharCode(97 + j)}_`;
      const dropRate = (0.2 * b) / total;
      const input = x;
      const filters = fin * args.expand;
      let y = input;
      if (args.expand !== 1) {
        y = g.conv(y, `${name}expand_conv`, filters, 1, { padding: 'same', useBias: false });
        y = g.bn(y, `${name}expand_bn`, 1e-3);
        y = g.activation(y, `${name}expand_activation`, 'swish');
      }
      if (stride === 2) y = g.zeroPad(y, `${name}dwconv_pad`, correctPad(g.shape(y), args.k));
      y = g.depthwise(y, `${name}dwconv`, args.k, { strides: stride, padding: stride === 2 ? 'valid' : 'same' });
      y = g.bn(y, `${name}bn`, 1e-3);
      y = g.activation(y, `${name}activation`, 'swish');
      const filtersSe = Math.max(1, Math.trunc(fin * 0.25));
      let se = g.gap(y, `${name}se_squeeze`);
      se = g.layer('Reshape', `${name}se_reshape`, { target_shape: [1, 1, filters] }, [se], [1, 1, filters]);
      se = g.conv(se, `${name}se_reduce`, filtersSe, 1, { padding: 'same', activation: 'swish' });
      se = g.conv(se, `${name}se_expand`, filters, 1, { padding: 'same', activation: 'sigmoid' });
      y = g.layer('Multiply', `${name}se_excite`, {}, [y, se], g.shape(y));
      y = g.conv(y, `${name}project_conv`, fout, 1, { padding: 'same', useBias: false });
      y = g.bn(y, `${name}project_bn`, 1e-3);
      if (stride === 1 && fin === fout) {
        if (dropRate > 0) y = g.layer('Dropout', `${name}drop`, { rate: dropRate, noise_shape: [null, 1, 1, 1], seed: null }, [y], g.shape(y));
        y = g.merge('Add', `${name}add`, [y, input]);
      }
      x = y;
      b++;
    }
  });
  x = g.conv(x, 'top_conv', roundFilters(1280, width), 1, { padding: 'same', useBias: false });
  x = g.bn(x, 'top_bn', 1e-3);
  x = g.activation(x, 'top_activation', 'swish');
  x = g.gap(x, 'avg_pool');
  x = g.layer('Dropout', 'top_dropout', { rate: topDropout, noise_shape: null, seed: null }, [x], g.shape(x));
  x = g.dense(x, 'predictions', classes, classifierActivation);
  g.output = x;
  return g;
}

/**
 * A transfer model as Keras 2 users build it: `base = MobileNetV2(include_top=False)`, then
 * Input → base(inputs) → GlobalAveragePooling2D → Dropout → Dense softmax, the base nested as one
 * Functional layer (called at node 1: its node 0 is its own input), whose weights sit in one group
 * `model_weights/<base>/` listing `<layer>/<weight>:0` of every sublayer.
 */
export function nestedMobileNetV2(size: number, alpha: number, classes: number, seed: number): { config: Json; weights: { name: string; weights: H5Weight[] }[] } {
  const base = mobileNetV2(size, alpha, 0, seed);
  const outer = new Keras2Graph('transfer', seed + 1);
  const input = outer.input('input_2', [size, size, 3]);
  const baseConfig = base.config(base.output) as { config: Record<string, Json> };
  outer.layers.push({ class_name: 'Functional', config: baseConfig.config, name: base.name, inbound_nodes: [[[input, 0, 0, { training: false }]]] });
  let x = outer.layer('GlobalAveragePooling2D', 'global_average_pooling2d', { data_format: 'channels_last', keepdims: false }, [base.name], [1, 1, base.shape(base.output)[2]], [], 1);
  x = outer.layer('Dropout', 'dropout', { rate: 0.2, noise_shape: null, seed: null }, [x], outer.shape(x));
  x = outer.dense(x, 'dense', classes, 'softmax');
  return { config: outer.config(x), weights: [{ name: base.name, weights: base.weights.flatMap((l) => l.weights) }, ...outer.weights] };
}
