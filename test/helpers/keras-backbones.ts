import type { Json } from './keras';
import { Keras2Graph, type Shape } from './keras2-apps';

/**
 * Whole keras.applications backbones beyond keras2-apps.ts: ResNet50V2, DenseNet121, Xception,
 * InceptionV3, MobileNetV3Small, ConvNeXtTiny and EfficientNetV2B0, following keras/src/applications/*.py
 * of Keras 3 (layer names, order, paddings, epsilons; `form: 2` gives the names tf.keras 2.15 used where
 * they differ, e.g. DenseNet's `conv1/conv`). Every graph can be written as a Keras 2 `.h5` (its
 * `config()`) or a Keras 3 `.keras` (keras3-form.ts). Weights are synthesised (seeded).
 *
 * `width` scales filters; `repeats` caps the repeats of each stage (Infinity: the published depth), so
 * tests keep every distinct building block of a stage while staying small.
 */

export interface BackboneOptions {
  size: number;
  classes: number;
  seed: number;
  /** Multiplies every layer's filters (1: the published widths). */
  width?: number;
  /** The most blocks of one kind in a row (Infinity: the published depth). */
  repeats?: number;
  /** 2: names and operations as tf.keras 2.15 writes them; 3 (default): as Keras 3. */
  form?: 2 | 3;
  /** False: no GAP/Dropout/Dense top, the graph ends at the last feature map (a transfer model's base). */
  includeTop?: boolean;
  /** The last Dense's activation ('linear' for classifier_activation=None, keeps synthetic logits apart). */
  classifierActivation?: string;
}

/** Filters scaled by `width`, at least 4 and a multiple of 4. */
const scaled = (filters: number, width: number): number => Math.max(4, Math.round((filters * width) / 4) * 4);

/** Blocks per stage of resnet_v2.py's ResNet50V2, ResNet101V2 and ResNet152V2. */
export const RESNET_V2_DEPTHS = { resnet50v2: [3, 4, 6, 3], resnet101v2: [3, 4, 23, 3], resnet152v2: [3, 8, 36, 3] } as const;

/** ResNet50V2 (resnet_v2.py → resnet.ResNet(preact=True, use_bias=True)): pre-activation bottlenecks, post_bn. */
export function resNet50V2(o: BackboneOptions): Keras2Graph {
  return resNetV2(o, 'resnet50v2');
}

/** ResNet50V2, 101V2 or 152V2: the same pre-activation bottlenecks, `RESNET_V2_DEPTHS` blocks a stage. */
export function resNetV2(o: BackboneOptions, name: keyof typeof RESNET_V2_DEPTHS): Keras2Graph {
  const width = o.width ?? 1;
  const depths = RESNET_V2_DEPTHS[name];
  const g = new Keras2Graph(name, o.seed);
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  x = g.zeroPad(x, 'conv1_pad', [[3, 3], [3, 3]]);
  x = g.conv(x, 'conv1_conv', scaled(64, width), 7, { strides: 2 });
  x = g.zeroPad(x, 'pool1_pad', [[1, 1], [1, 1]]);
  x = g.pool('MaxPooling2D', x, 'pool1_pool', 3, 2);
  const block2 = (input: string, filters: number, stride: number, convShortcut: boolean, name: string): string => {
    let preact = g.bn(input, `${name}_preact_bn`, 1.001e-5);
    preact = g.activation(preact, `${name}_preact_relu`, 'relu');
    const shortcut = convShortcut
      ? g.conv(preact, `${name}_0_conv`, 4 * filters, 1, { strides: stride })
      : stride > 1 ? g.pool('MaxPooling2D', input, g.auto('max_pooling2d'), 1, stride) : input;
    let y = g.conv(preact, `${name}_1_conv`, filters, 1, { useBias: false });
    y = g.bn(y, `${name}_1_bn`, 1.001e-5);
    y = g.activation(y, `${name}_1_relu`, 'relu');
    y = g.zeroPad(y, `${name}_2_pad`, [[1, 1], [1, 1]]);
    y = g.conv(y, `${name}_2_conv`, filters, 3, { strides: stride, useBias: false });
    y = g.bn(y, `${name}_2_bn`, 1.001e-5);
    y = g.activation(y, `${name}_2_relu`, 'relu');
    y = g.conv(y, `${name}_3_conv`, 4 * filters, 1);
    return g.merge('Add', `${name}_out`, [shortcut, y]);
  };
  const stack2 = (input: string, filters: number, blocks: number, stride1: number, name: string): string => {
    const n = Math.min(blocks, Math.max(2, o.repeats ?? Infinity));
    let y = block2(input, filters, 1, true, `${name}_block1`);
    for (let i = 2; i < n; i++) y = block2(y, filters, 1, false, `${name}_block${i}`);
    return block2(y, filters, stride1, false, `${name}_block${n}`);
  };
  x = stack2(x, scaled(64, width), depths[0], 2, 'conv2');
  x = stack2(x, scaled(128, width), depths[1], 2, 'conv3');
  x = stack2(x, scaled(256, width), depths[2], 2, 'conv4');
  x = stack2(x, scaled(512, width), depths[3], 1, 'conv5');
  x = g.bn(x, 'post_bn', 1.001e-5);
  x = g.activation(x, 'post_relu', 'relu');
  x = g.gap(x, 'avg_pool');
  g.output = g.dense(x, 'predictions', o.classes, o.classifierActivation ?? 'softmax');
  return g;
}

/** DenseNet121 (densenet.py): dense blocks of BN-ReLU-1×1-BN-ReLU-3×3 + Concatenate, transitions with 2×2 average pools. */
export function denseNet121(o: BackboneOptions): Keras2Graph {
  const width = o.width ?? 1;
  const growth = scaled(32, width);
  const g = new Keras2Graph('densenet121', o.seed);
  // tf.keras 2 named the stem conv1/conv, conv1/bn, conv1/relu; Keras 3 conv1_conv, conv1_bn, conv1_relu.
  const stem = (part: string): string => (o.form === 2 ? `conv1/${part}` : `conv1_${part}`);
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  x = g.zeroPad(x, g.auto('zero_padding2d'), [[3, 3], [3, 3]]);
  x = g.conv(x, stem('conv'), scaled(64, width), 7, { strides: 2, useBias: false });
  x = g.bn(x, stem('bn'), 1.001e-5);
  x = g.activation(x, stem('relu'), 'relu');
  x = g.zeroPad(x, g.auto('zero_padding2d'), [[1, 1], [1, 1]]);
  x = g.pool('MaxPooling2D', x, 'pool1', 3, 2);
  const denseBlock = (input: string, blocks: number, name: string): string => {
    let y = input;
    for (let i = 1; i <= Math.min(blocks, o.repeats ?? Infinity); i++) {
      const n = `${name}_block${i}`;
      let z = g.bn(y, `${n}_0_bn`, 1.001e-5);
      z = g.activation(z, `${n}_0_relu`, 'relu');
      z = g.conv(z, `${n}_1_conv`, 4 * growth, 1, { useBias: false });
      z = g.bn(z, `${n}_1_bn`, 1.001e-5);
      z = g.activation(z, `${n}_1_relu`, 'relu');
      z = g.conv(z, `${n}_2_conv`, growth, 3, { padding: 'same', useBias: false });
      y = g.concat(`${n}_concat`, [y, z]);
    }
    return y;
  };
  const transition = (input: string, name: string): string => {
    let y = g.bn(input, `${name}_bn`, 1.001e-5);
    y = g.activation(y, `${name}_relu`, 'relu');
    y = g.conv(y, `${name}_conv`, Math.trunc(g.shape(y)[2] * 0.5), 1, { useBias: false });
    return g.pool('AveragePooling2D', y, `${name}_pool`, 2, 2);
  };
  x = transition(denseBlock(x, 6, 'conv2'), 'pool2');
  x = transition(denseBlock(x, 12, 'conv3'), 'pool3');
  x = transition(denseBlock(x, 24, 'conv4'), 'pool4');
  x = denseBlock(x, 16, 'conv5');
  x = g.bn(x, 'bn', 1.001e-5);
  x = g.activation(x, 'relu', 'relu');
  x = g.gap(x, 'avg_pool');
  g.output = g.dense(x, 'predictions', o.classes, o.classifierActivation ?? 'softmax');
  return g;
}

/** Xception (xception.py): entry flow with strided 1×1 residuals, middle flow of 3 separable convs, exit flow. */
export function xception(o: BackboneOptions): Keras2Graph {
  const width = o.width ?? 1;
  const f = (n: number): number => scaled(n, width);
  const g = new Keras2Graph('xception', o.seed);
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  x = g.conv(x, 'block1_conv1', f(32), 3, { strides: 2, useBias: false });
  x = g.bn(x, 'block1_conv1_bn', 1e-3);
  x = g.activation(x, 'block1_conv1_act', 'relu');
  x = g.conv(x, 'block1_conv2', f(64), 3, { useBias: false });
  x = g.bn(x, 'block1_conv2_bn', 1e-3);
  x = g.activation(x, 'block1_conv2_act', 'relu');
  const entry = (input: string, filters: number, block: number, firstAct: boolean): string => {
    let residual = g.conv(input, g.auto('conv2d'), filters, 1, { strides: 2, padding: 'same', useBias: false });
    residual = g.bn(residual, g.auto('batch_normalization'), 1e-3);
    let y = input;
    if (firstAct) y = g.activation(y, `block${block}_sepconv1_act`, 'relu');
    y = g.separable(y, `block${block}_sepconv1`, filters, 3, { padding: 'same', useBias: false });
    y = g.bn(y, `block${block}_sepconv1_bn`, 1e-3);
    y = g.activation(y, `block${block}_sepconv2_act`, 'relu');
    y = g.separable(y, `block${block}_sepconv2`, filters, 3, { padding: 'same', useBias: false });
    y = g.bn(y, `block${block}_sepconv2_bn`, 1e-3);
    y = g.pool('MaxPooling2D', y, `block${block}_pool`, 3, 2, 'same');
    return g.merge('Add', g.auto('add'), [y, residual]);
  };
  x = entry(x, f(128), 2, false);
  x = entry(x, f(256), 3, true);
  x = entry(x, f(728), 4, true);
  for (let i = 0; i < Math.min(8, o.repeats ?? Infinity); i++) {
    const p = `block${i + 5}`;
    const residual = x;
    let y = x;
    for (const k of [1, 2, 3]) {
      y = g.activation(y, `${p}_sepconv${k}_act`, 'relu');
      y = g.separable(y, `${p}_sepconv${k}`, f(728), 3, { padding: 'same', useBias: false });
      y = g.bn(y, `${p}_sepconv${k}_bn`, 1e-3);
    }
    x = g.merge('Add', g.auto('add'), [y, residual]);
  }
  let residual = g.conv(x, g.auto('conv2d'), f(1024), 1, { strides: 2, padding: 'same', useBias: false });
  residual = g.bn(residual, g.auto('batch_normalization'), 1e-3);
  x = g.activation(x, 'block13_sepconv1_act', 'relu');
  x = g.separable(x, 'block13_sepconv1', f(728), 3, { padding: 'same', useBias: false });
  x = g.bn(x, 'block13_sepconv1_bn', 1e-3);
  x = g.activation(x, 'block13_sepconv2_act', 'relu');
  x = g.separable(x, 'block13_sepconv2', f(1024), 3, { padding: 'same', useBias: false });
  x = g.bn(x, 'block13_sepconv2_bn', 1e-3);
  x = g.pool('MaxPooling2D', x, 'block13_pool', 3, 2, 'same');
  x = g.merge('Add', g.auto('add'), [x, residual]);
  x = g.separable(x, 'block14_sepconv1', f(1536), 3, { padding: 'same', useBias: false });
  x = g.bn(x, 'block14_sepconv1_bn', 1e-3);
  x = g.activation(x, 'block14_sepconv1_act', 'relu');
  x = g.separable(x, 'block14_sepconv2', f(2048), 3, { padding: 'same', useBias: false });
  x = g.bn(x, 'block14_sepconv2_bn', 1e-3);
  x = g.activation(x, 'block14_sepconv2_act', 'relu');
  x = g.gap(x, 'avg_pool');
  g.output = g.dense(x, 'predictions', o.classes, o.classifierActivation ?? 'softmax');
  return g;
}

/**
 * InceptionV3 (inception_v3.py): conv2d_bn (Conv2D without bias → BatchNormalization(scale=False) → relu,
 * automatic names), mixed0–10 with 1×7/7×1 and 1×3/3×1 factorised kernels, average-pool branches.
 * `repeats` 1 keeps one of each kind of mixed block (mixed0, 3, 4, 8, 9).
 */
export function inceptionV3(o: BackboneOptions): Keras2Graph {
  const width = o.width ?? 1;
  const f = (n: number): number => scaled(n, width);
  const g = new Keras2Graph('inception_v3', o.seed);
  const cbr = (input: string, filters: number, kh: number, kw: number, strides = 1, padding = 'same'): string => {
    let y = g.conv(input, g.auto('conv2d'), f(filters), [kh, kw], { strides, padding, useBias: false });
    const c = g.shape(y)[2];
    const name = g.auto('batch_normalization');
    y = g.layer('BatchNormalization', name, {
      axis: [3], momentum: 0.99, epsilon: 1e-3, center: true, scale: false, beta_initializer: { class_name: 'Zeros', config: {} },
      gamma_initializer: { class_name: 'Ones', config: {} }, moving_mean_initializer: { class_name: 'Zeros', config: {} },
      moving_variance_initializer: { class_name: 'Ones', config: {} }, beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null,
    }, [y], g.shape(y), [g.small(name, 'beta', c), g.small(name, 'moving_mean', c), g.small(name, 'moving_variance', c, 0.5, 1.5)]);
    return g.activation(y, g.auto('activation'), 'relu');
  };
  const avgBranch = (input: string, filters: number): string => cbr(g.pool('AveragePooling2D', input, g.auto('average_pooling2d'), 3, 1, 'same'), filters, 1, 1);
  const keep = (o.repeats ?? Infinity) >= 3;
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  x = cbr(x, 32, 3, 3, 2, 'valid');
  x = cbr(x, 32, 3, 3, 1, 'valid');
  x = cbr(x, 64, 3, 3);
  x = g.pool('MaxPooling2D', x, g.auto('max_pooling2d'), 3, 2);
  x = cbr(x, 80, 1, 1, 1, 'valid');
  x = cbr(x, 192, 3, 3, 1, 'valid');
  x = g.pool('MaxPooling2D', x, g.auto('max_pooling2d'), 3, 2);
  for (const [i, poolFilters] of (keep ? [[0, 32], [1, 64], [2, 64]] : [[0, 32]]) as [number, number][]) {
    const b1 = cbr(x, 64, 1, 1);
    const b5 = cbr(cbr(x, 48, 1, 1), 64, 5, 5);
    const b3 = cbr(cbr(cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3);
    x = g.concat(`mixed${i}`, [b1, b5, b3, avgBranch(x, poolFilters)]);
  }
  {
    const b3 = cbr(x, 384, 3, 3, 2, 'valid');
    const bd = cbr(cbr(cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, 2, 'valid');
    x = g.concat('mixed3', [b3, bd, g.pool('MaxPooling2D', x, g.auto('max_pooling2d'), 3, 2)]);
  }
  for (const [i, c7] of (keep ? [[4, 128], [5, 160], [6, 160], [7, 192]] : [[4, 128]]) as [number, number][]) {
    const b1 = cbr(x, 192, 1, 1);
    const b7 = cbr(cbr(cbr(x, c7, 1, 1), c7, 1, 7), 192, 7, 1);
    const bd = cbr(cbr(cbr(cbr(cbr(x, c7, 1, 1), c7, 7, 1), c7, 1, 7), c7, 7, 1), 192, 1, 7);
    x = g.concat(`mixed${i}`, [b1, b7, bd, avgBranch(x, 192)]);
  }
  {
    const b3 = cbr(cbr(x, 192, 1, 1), 320, 3, 3, 2, 'valid');
    const b7 = cbr(cbr(cbr(cbr(x, 192, 1, 1), 192, 1, 7), 192, 7, 1), 192, 3, 3, 2, 'valid');
    x = g.concat('mixed8', [b3, b7, g.pool('MaxPooling2D', x, g.auto('max_pooling2d'), 3, 2)]);
  }
  for (const i of keep ? [0, 1] : [0]) {
    const b1 = cbr(x, 320, 1, 1);
    const b3 = cbr(x, 384, 1, 1);
    const b3cat = g.concat(`mixed9_${i}`, [cbr(b3, 384, 1, 3), cbr(b3, 384, 3, 1)]);
    const bd = cbr(cbr(x, 448, 1, 1), 384, 3, 3);
    const bdcat = g.concat(g.auto('concatenate'), [cbr(bd, 384, 1, 3), cbr(bd, 384, 3, 1)]);
    x = g.concat(`mixed${9 + i}`, [b1, b3cat, bdcat, avgBranch(x, 192)]);
  }
  x = g.gap(x, 'avg_pool');
  g.output = g.dense(x, 'predictions', o.classes, o.classifierActivation ?? 'softmax');
  return g;
}

/** _depth of mobilenet_v3.py. */
function depth8(v: number): number {
  let n = Math.max(8, Math.trunc(v + 4) - (Math.trunc(v + 4) % 8));
  if (n < 0.9 * v) n += 8;
  return n;
}

/**
 * MobileNetV3Small (mobilenet_v3.py, not minimalistic): Rescaling(1/127.5, −1), hard-swish and
 * squeeze-excite blocks whose hard sigmoid is ReLU(6)(x + 3) · (1/6) — recorded as TFOpLambda by
 * Keras 2, as keras.ops Add/Multiply operations by Keras 3 — and the convolutional head
 * (GAP keepdims → conv_2 → hard-swish → Dropout → logits 1×1 → Flatten → Activation predictions).
 * Keras 3 writes hard-swish as Activation('hard_swish'); Keras 2 as x · hard_sigmoid(x) (Multiply).
 */
export function mobileNetV3Small(o: BackboneOptions & { alpha?: number }): Keras2Graph {
  const alpha = o.alpha ?? 1;
  const g = new Keras2Graph('MobileNetV3Small', o.seed);
  const relu = (x: string): string => g.layer('ReLU', g.auto('re_lu'), { max_value: null, negative_slope: 0.0, threshold: 0.0 }, [x], g.shape(x));
  const hardSigmoid = (x: string): string => {
    const y = g.layer('ReLU', g.auto('re_lu'), { max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, [g.tfOp(x, '__operators__.add', 3.0)], g.shape(x));
    return g.tfOp(y, 'math.multiply', 1.0 / 6.0);
  };
  const hardSwish = (x: string): string =>
    o.form === 2 ? g.merge('Multiply', g.auto('multiply'), [x, hardSigmoid(x)]) : g.activation(x, g.auto('activation'), 'hard_swish');
  const bn = (x: string, name: string): string => g.bn(x, name, 1e-3, 0.999);
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  x = g.layer('Rescaling', g.auto('rescaling'), { scale: 1 / 127.5, offset: -1.0 }, [x], g.shape(x));
  x = g.conv(x, 'conv', 16, 3, { strides: 2, padding: 'same', useBias: false });
  x = hardSwish(bn(x, 'conv_bn'));
  const block = (input: string, expansion: number, filters: number, k: number, stride: number, se: boolean, act: (t: string) => string, id: number): string => {
    const inFilters = g.shape(input)[2];
    let prefix = 'expanded_conv_';
    let y = input;
    if (id > 0) {
      prefix = `expanded_conv_${id}_`;
      y = act(bn(g.conv(y, `${prefix}expand`, depth8(inFilters * expansion), 1, { padding: 'same', useBias: false }), `${prefix}expand_bn`));
    }
    if (stride === 2) {
      const [h, w] = g.shape(y);
      const c = Math.floor(k / 2);
      y = g.zeroPad(y, `${prefix}depthwise_pad`, [[c - (1 - (h % 2)), c], [c - (1 - (w % 2)), c]]);
    }
    y = act(bn(g.depthwise(y, `${prefix}depthwise`, k, { strides: stride, padding: stride === 1 ? 'same' : 'valid' }), `${prefix}depthwise_bn`));
    if (se) {
      const filtersSe = depth8(inFilters * expansion);
      let s = g.gap(y, `${prefix}squeeze_excite_avg_pool`, true);
      s = g.conv(s, `${prefix}squeeze_excite_conv`, depth8(filtersSe * 0.25), 1, { padding: 'same' });
      s = g.layer('ReLU', `${prefix}squeeze_excite_relu`, { max_value: null, negative_slope: 0.0, threshold: 0.0 }, [s], g.shape(s));
      s = g.conv(s, `${prefix}squeeze_excite_conv_1`, filtersSe, 1, { padding: 'same' });
      s = hardSigmoid(s);
      y = g.layer('Multiply', `${prefix}squeeze_excite_mul`, {}, [y, s], g.shape(y));
    }
    y = bn(g.conv(y, `${prefix}project`, filters, 1, { padding: 'same', useBias: false }), `${prefix}project_bn`);
    return stride === 1 && inFilters === filters ? g.merge('Add', `${prefix}add`, [input, y]) : y;
  };
  const d = (v: number): number => depth8(v * alpha);
  const plan: [number, number, number, number, boolean, boolean][] = [
    [1, d(16), 3, 2, true, false], [72 / 16, d(24), 3, 2, false, false], [88 / 24, d(24), 3, 1, false, false],
    [4, d(40), 5, 2, true, true], [6, d(40), 5, 1, true, true], [6, d(40), 5, 1, true, true], [3, d(48), 5, 1, true, true],
    [3, d(48), 5, 1, true, true], [6, d(96), 5, 2, true, true], [6, d(96), 5, 1, true, true], [6, d(96), 5, 1, true, true],
  ];
  plan.forEach(([e, filters, k, s, se, hs], id) => {
    x = block(x, e, filters, k, s, se, hs ? hardSwish : relu, id);
  });
  x = hardSwish(bn(g.conv(x, 'conv_1', depth8(g.shape(x)[2] * 6), 1, { padding: 'same', useBias: false }), 'conv_1_bn'));
  x = g.gap(x, g.auto('global_average_pooling2d'), true);
  x = hardSwish(g.conv(x, 'conv_2', 1024, 1, { padding: 'same' }));
  x = g.layer('Dropout', g.auto('dropout'), { rate: 0.2, noise_shape: null, seed: null }, [x], g.shape(x));
  x = g.conv(x, 'logits', o.classes, 1, { padding: 'same' });
  x = g.layer('Flatten', g.auto('flatten'), { data_format: 'channels_last' }, [x], [1, 1, o.classes]);
  g.output = g.activation(x, 'predictions', o.classifierActivation ?? 'softmax');
  return g;
}

/** One layer of a nested Sequential: the entry (Keras 2 form, no inbound nodes) and its output shape. */
interface Inner {
  entry: Json;
  out: Shape;
}

/**
 * ConvNeXtTiny (convnext.py, Keras 3): Normalization prestem (ImageNet mean/variance ×255 in its config),
 * the stem and each downsampling as a nested Sequential (Conv2D 4×4/4 + LayerNormalization;
 * LayerNormalization + Conv2D 2×2/2), blocks of a 7×7 Conv2D with groups = channels (depthwise),
 * LayerNormalization, Dense 4C → gelu → Dense C, LayerScale, Activation('linear') and `inputs + x`
 * (a keras.ops Add); head GAP → LayerNormalization → Dense.
 *
 * `form: 2` is what tf.keras 2.10–2.15 writes to an `.h5` (keras/applications/convnext.py of Keras 2):
 * input `input_1`; Normalization `axis: [-1]` as given; each nested Sequential's config starts with the
 * InputLayer Keras made for it (`<first layer>_input`), its output is read at node 1 (node 0 is its own
 * graph), and its weights sit in one group under its name; LayerScale's gamma from `add_weight` without a
 * name (`Variable:0`); the residual `inputs + x` a TFOpLambda `tf.__operators__.add` naming x in its
 * kwargs `y`; the head LayerNormalization on the pooled vector has `axis: [1]`.
 */
export function convNeXtTiny(o: BackboneOptions): Keras2Graph {
  return convNeXt(o, 'convnext_tiny');
}

/** Depths and widths of convnext.py's MODEL_CONFIGS. */
export const CONVNEXT = {
  convnext_tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] },
  convnext_small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768] },
  convnext_base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024] },
  convnext_large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536] },
} as const;

/** ConvNeXt Tiny, Small, Base or Large: the blocks of `convNeXtTiny` at `CONVNEXT`'s depths and widths. */
export function convNeXt(o: BackboneOptions, name: keyof typeof CONVNEXT): Keras2Graph {
  const width = o.width ?? 1;
  const k2 = o.form === 2;
  const g = new Keras2Graph(name, o.seed);
  const dims = CONVNEXT[name].dims.map((d) => scaled(d, width));
  const depths = CONVNEXT[name].depths.map((d) => Math.min(d, o.repeats ?? Infinity));
  let x = g.input(k2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  const mean = [0.485 * 255, 0.456 * 255, 0.406 * 255];
  const variance = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2];
  x = g.layer('Normalization', `${name}_prestem_normalization`, { axis: [k2 ? -1 : 3], invert: false, mean, variance }, [x], g.shape(x));
  const nested = new Set<string>();
  // A nested Sequential: its layers are built in a scratch graph (for their configs, shapes and weights), then folded in.
  const sequential = (input: string, seqName: string, build: (s: Keras2Graph, t: string) => void): string => {
    const s = new Keras2Graph(seqName, o.seed + g.layers.length);
    const t = s.input(`${seqName}_input`, g.shape(input));
    build(s, t);
    const inner: Inner[] = s.layers.slice(1).map((l) => {
      const { inbound_nodes: _n, ...entry } = l as Record<string, Json>;
      return { entry, out: s.shape(String((l as { name: string }).name)) };
    });
    for (const i of inner) g.setShape(String((i.entry as { name: string }).name), i.out);
    const out = inner[inner.length - 1].out;
    let layers = inner.map((i) => i.entry);
    if (k2) {
      const first = String((inner[0].entry as { name: string }).name);
      const [h, w, c] = g.shape(input);
      const inputLayer: Json = { class_name: 'InputLayer', config: { batch_input_shape: [null, h, w, c], dtype: 'float32', sparse: false, ragged: false, name: `${first}_input` } };
      layers = [inputLayer, ...layers.map((l) => ({ class_name: (l as { class_name: Json }).class_name, config: (l as { config: Json }).config }))];
      nested.add(seqName);
    }
    g.layers.push({ class_name: 'Sequential', config: { name: seqName, trainable: true, layers }, name: seqName, inbound_nodes: [[[input, 0, 0, {}]]] });
    g.setShape(seqName, out);
    if (k2) g.weights.push({ name: seqName, weights: s.weights.flatMap((l) => l.weights) });
    else g.weights.push(...s.weights);
    return seqName;
  };
  x = sequential(x, `${name}_stem`, (s, t) => {
    s.layerNorm(s.conv(t, `${name}_stem_conv`, dims[0], 4, { strides: 4 }), `${name}_stem_layernorm`, 1e-6);
  });
  for (let i = 0; i < 4; i++) {
    if (i > 0) {
      x = sequential(x, `${name}_downsampling_block_${i - 1}`, (s, t) => {
        s.conv(s.layerNorm(t, `${name}_downsampling_layernorm_${i - 1}`, 1e-6), `${name}_downsampling_conv_${i - 1}`, dims[i], 2, { strides: 2 });
      });
    }
    for (let j = 0; j < depths[i]; j++) {
      const b = `${name}_stage_${i}_block_${j}`;
      const input = x;
      let y = g.conv(x, `${b}_depthwise_conv`, dims[i], 7, { padding: 'same', groups: dims[i] });
      y = g.layerNorm(y, `${b}_layernorm`, 1e-6);
      y = g.dense(y, `${b}_pointwise_conv_1`, 4 * dims[i], 'linear');
      y = g.activation(y, `${b}_gelu`, 'gelu');
      y = g.dense(y, `${b}_pointwise_conv_2`, dims[i], 'linear');
      const ls = `${b}_layer_scale`;
      const gamma = g.small(ls, k2 ? 'Variable' : 'gamma', dims[i], 0.2, 0.6);
      y = g.layer('LayerScale', ls, { init_values: 1e-6, projection_dim: dims[i] }, [y], g.shape(y), [gamma]);
      y = g.activation(y, `${b}_identity`, 'linear');
      if (k2) {
        const add = g.auto('tf.__operators__.add');
        g.layers.push({
          class_name: 'TFOpLambda', config: { name: add, trainable: true, dtype: 'float32', function: '__operators__.add' }, name: add,
          inbound_nodes: [[[input, 0, 0, { y: [y, 0, 0], name: null }]]],
        });
        g.setShape(add, g.shape(y));
        x = add;
      } else {
        x = g.layer('OpAdd', g.auto('add'), {}, [input, y], g.shape(y));
      }
    }
  }
  x = g.gap(x, `${name}_head_gap`);
  x = g.layerNorm(x, `${name}_head_layernorm`, 1e-6, k2 ? 1 : 3);
  g.output = g.dense(x, `${name}_head_dense`, o.classes, o.classifierActivation ?? 'softmax');
  if (k2) {
    // Every reference to a nested Sequential's output names its node 1.
    const refs = (refList: Json): void => {
      if (!Array.isArray(refList)) return;
      for (const ref of refList) {
        if (!Array.isArray(ref)) continue;
        if (typeof ref[0] === 'string' && nested.has(ref[0])) ref[1] = 1;
        const kw = ref[3] as { y?: Json } | undefined;
        if (kw && Array.isArray(kw.y) && typeof kw.y[0] === 'string' && nested.has(kw.y[0])) kw.y[1] = 1;
      }
    };
    for (const l of g.layers) for (const node of ((l as { inbound_nodes?: Json[] }).inbound_nodes ?? [])) refs(node);
  }
  return g;
}

/** round_filters of efficientnet_v2.py (divisor 8). */
function roundFiltersV2(filters: number, width: number): number {
  const f = filters * width;
  return Math.max(8, Math.trunc(f + 4) - (Math.trunc(f + 4) % 8));
}

/**
 * EfficientNetV2B0 (efficientnet_v2.py): Rescaling(1/255) → Normalization (mean/variance in its config,
 * axis 3) → stem 3×3/2 'same' → Fused-MBConv stages (expand Conv2D k×k, project 1×1; project k×k with
 * its activation when expand ratio is 1) → MBConv stages (1×1 expand, 'same' DepthwiseConv2D,
 * squeeze-excite with se_reshape, project) with Dropout + Add skips → top_conv → GAP → Dropout → Dense.
 */
export function efficientNetV2B0(o: BackboneOptions): Keras2Graph {
  return efficientNetV2(o, 'b0');
}

type V2Block = { k: number; n: number; fin: number; fout: number; e: number; se: number; s: number; fused: boolean };
const v2 = (k: number, n: number, fin: number, fout: number, e: number, se: number, s: number, fused: boolean): V2Block => ({ k, n, fin, fout, e, se, s, fused });
const V2_BASE = [v2(3, 1, 32, 16, 1, 0, 1, true), v2(3, 2, 16, 32, 4, 0, 2, true), v2(3, 2, 32, 48, 4, 0, 2, true),
  v2(3, 3, 48, 96, 4, 0.25, 2, false), v2(3, 5, 96, 112, 6, 0.25, 1, false), v2(3, 8, 112, 192, 6, 0.25, 2, false)];

/**
 * efficientnet_v2.py's variants: DEFAULT_BLOCKS_ARGS (B0–B3 share the base table), width and depth
 * coefficients, default input size.
 */
export const EFFICIENTNET_V2 = {
  b0: { blocks: V2_BASE, width: 1.0, depth: 1.0, size: 224 },
  b1: { blocks: V2_BASE, width: 1.0, depth: 1.1, size: 240 },
  b2: { blocks: V2_BASE, width: 1.1, depth: 1.2, size: 260 },
  b3: { blocks: V2_BASE, width: 1.2, depth: 1.4, size: 300 },
  s: { width: 1.0, depth: 1.0, size: 384, blocks: [v2(3, 2, 24, 24, 1, 0, 1, true), v2(3, 4, 24, 48, 4, 0, 2, true), v2(3, 4, 48, 64, 4, 0, 2, true),
    v2(3, 6, 64, 128, 4, 0.25, 2, false), v2(3, 9, 128, 160, 6, 0.25, 1, false), v2(3, 15, 160, 256, 6, 0.25, 2, false)] },
  m: { width: 1.0, depth: 1.0, size: 480, blocks: [v2(3, 3, 24, 24, 1, 0, 1, true), v2(3, 5, 24, 48, 4, 0, 2, true), v2(3, 5, 48, 80, 4, 0, 2, true),
    v2(3, 7, 80, 160, 4, 0.25, 2, false), v2(3, 14, 160, 176, 6, 0.25, 1, false), v2(3, 18, 176, 304, 6, 0.25, 2, false), v2(3, 5, 304, 512, 6, 0.25, 1, false)] },
  l: { width: 1.0, depth: 1.0, size: 480, blocks: [v2(3, 4, 32, 32, 1, 0, 1, true), v2(3, 7, 32, 64, 4, 0, 2, true), v2(3, 7, 64, 96, 4, 0, 2, true),
    v2(3, 10, 96, 192, 4, 0.25, 2, false), v2(3, 19, 192, 224, 6, 0.25, 1, false), v2(3, 25, 224, 384, 6, 0.25, 2, false), v2(3, 7, 384, 640, 6, 0.25, 1, false)] },
} as const;

/**
 * EfficientNetV2 B0–B3, S, M, L (EfficientNetV2 of efficientnet_v2.py): B variants preprocess with
 * Rescaling(1/255) + Normalization, S/M/L with Rescaling(1/128, offset −1); `o.width` multiplies the
 * variant's own width coefficient; repeats are ⌈depth coefficient · n⌉ (capped by `o.repeats`).
 */
export function efficientNetV2(o: BackboneOptions, variant: keyof typeof EFFICIENTNET_V2): Keras2Graph {
  const v = EFFICIENTNET_V2[variant];
  const width = (o.width ?? 1) * v.width;
  const g = new Keras2Graph(`efficientnetv2-${variant}`, o.seed);
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  if (variant.startsWith('b')) {
    x = g.layer('Rescaling', g.auto('rescaling'), { scale: 1 / 255, offset: 0.0 }, [x], g.shape(x));
    x = g.layer('Normalization', g.auto('normalization'), {
      axis: [3], invert: false, mean: [0.485, 0.456, 0.406], variance: [0.229 ** 2, 0.224 ** 2, 0.225 ** 2],
    }, [x], g.shape(x));
  } else {
    x = g.layer('Rescaling', g.auto('rescaling'), { scale: 1 / 128, offset: -1.0 }, [x], g.shape(x));
  }
  const bn = (t: string, name: string): string => g.bn(t, name, 1e-3, 0.9);
  x = g.activation(bn(g.conv(x, 'stem_conv', roundFiltersV2(v.blocks[0].fin, width), 3, { strides: 2, padding: 'same', useBias: false }), 'stem_bn'), 'stem_activation', 'swish');
  const blocks = v.blocks.map((a) => ({ ...a, n: Math.ceil(v.depth * a.n) }));
  const total = blocks.reduce((n, a) => n + a.n, 0);
  let b = 0;
  blocks.forEach((a, i) => {
    const fout = roundFiltersV2(a.fout, width);
    let fin = roundFiltersV2(a.fin, width);
    for (let j = 0; j < Math.min(a.n, o.repeats ?? Infinity); j++) {
      const stride = j > 0 ? 1 : a.s;
      if (j > 0) fin = fout;
      const p = `block${i + 1}${String.fromCharCode(97 + j)}_`;
      const rate = (0.2 * b) / total;
      const input = x;
      const filters = fin * a.e;
      let y = input;
      if (a.fused) {
        if (a.e !== 1) y = g.activation(bn(g.conv(y, `${p}expand_conv`, filters, a.k, { strides: stride, padding: 'same', useBias: false }), `${p}expand_bn`), `${p}expand_activation`, 'swish');
        y = bn(g.conv(y, `${p}project_conv`, fout, a.e !== 1 ? 1 : a.k, { strides: a.e !== 1 ? 1 : stride, padding: 'same', useBias: false }), `${p}project_bn`);
        if (a.e === 1) y = g.activation(y, `${p}project_activation`, 'swish');
      } else {
        if (a.e !== 1) y = g.activation(bn(g.conv(y, `${p}expand_conv`, filters, 1, { padding: 'same', useBias: false }), `${p}expand_bn`), `${p}expand_activation`, 'swish');
        y = g.activation(bn(g.depthwise(y, `${p}dwconv2`, a.k, { strides: stride, padding: 'same' }), `${p}bn`), `${p}activation`, 'swish');
        const filtersSe = Math.max(1, Math.trunc(fin * a.se));
        let se = g.gap(y, `${p}se_squeeze`);
        se = g.layer('Reshape', `${p}se_reshape`, { target_shape: [1, 1, filters] }, [se], [1, 1, filters]);
        se = g.conv(se, `${p}se_reduce`, filtersSe, 1, { padding: 'same', activation: 'swish' });
        se = g.conv(se, `${p}se_expand`, filters, 1, { padding: 'same', activation: 'sigmoid' });
        y = g.layer('Multiply', `${p}se_excite`, {}, [y, se], g.shape(y));
        y = bn(g.conv(y, `${p}project_conv`, fout, 1, { padding: 'same', useBias: false }), `${p}project_bn`);
      }
      if (stride === 1 && fin === fout) {
        if (rate > 0) y = g.layer('Dropout', `${p}drop`, { rate, noise_shape: [null, 1, 1, 1], seed: null }, [y], g.shape(y));
        y = g.merge('Add', `${p}add`, [y, input]);
      }
      x = y;
      b++;
    }
  });
  x = g.activation(bn(g.conv(x, 'top_conv', roundFiltersV2(1280, width), 1, { padding: 'same', useBias: false }), 'top_bn'), 'top_activation', 'swish');
  if (o.includeTop === false) {
    g.output = x;
    return g;
  }
  x = g.gap(x, 'avg_pool');
  x = g.layer('Dropout', 'top_dropout', { rate: 0.2, noise_shape: null, seed: null }, [x], g.shape(x));
  g.output = g.dense(x, 'predictions', o.classes, o.classifierActivation ?? 'softmax');
  return g;
}

/** VGG16 (vgg16.py): five blocks of 3×3 'same' relu convolutions and 2×2 max pools, Flatten → fc1 → fc2 → predictions. */
export function vgg16(o: BackboneOptions): Keras2Graph {
  const width = o.width ?? 1;
  const g = new Keras2Graph('vgg16', o.seed);
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  const blocks: [number, number][] = [[64, 2], [128, 2], [256, 3], [512, 3], [512, 3]];
  blocks.forEach(([filters, n], b) => {
    for (let i = 1; i <= n; i++) x = g.conv(x, `block${b + 1}_conv${i}`, scaled(filters, width), 3, { padding: 'same', activation: 'relu' });
    x = g.pool('MaxPooling2D', x, `block${b + 1}_pool`, 2, 2);
  });
  const [h, w, c] = g.shape(x);
  x = g.layer('Flatten', 'flatten', { data_format: 'channels_last' }, [x], [1, 1, h * w * c]);
  x = g.dense(x, 'fc1', scaled(4096, width), 'relu');
  x = g.dense(x, 'fc2', scaled(4096, width), 'relu');
  g.output = g.dense(x, 'predictions', o.classes, o.classifierActivation ?? 'softmax');
  return g;
}

/**
 * MobileNet v1 (mobilenet.py, Keras 3) at width `alpha`: conv1 3×3/2 → 13 depthwise-separable blocks
 * (ZeroPadding2D ((0, 1), (0, 1)) before each stride-2 DepthwiseConv2D, ReLU(6)) → head
 * GlobalAveragePooling2D(keepdims=True) → Dropout → conv_preds 1×1 → Reshape((classes,)) → Activation.
 */
export function mobileNetV1(o: BackboneOptions & { alpha?: number }): Keras2Graph {
  const alpha = o.alpha ?? 1;
  const g = new Keras2Graph(`mobilenet_${alpha.toFixed(2)}_${o.size}`, o.seed);
  const relu6 = (t: string, name: string): string => g.layer('ReLU', name, { max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, [t], g.shape(t));
  let x = g.input(o.form === 2 ? 'input_1' : 'input_layer', [o.size, o.size, 3]);
  x = relu6(g.bn(g.conv(x, 'conv1', Math.trunc(32 * alpha), 3, { strides: 2, padding: 'same', useBias: false }), 'conv1_bn', 1e-3), 'conv1_relu');
  const plan: [number, number][] = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];
  plan.forEach(([filters, stride], i) => {
    const id = i + 1;
    if (stride === 2) x = g.zeroPad(x, `conv_pad_${id}`, [[0, 1], [0, 1]]);
    x = relu6(g.bn(g.depthwise(x, `conv_dw_${id}`, 3, { strides: stride, padding: stride === 1 ? 'same' : 'valid' }), `conv_dw_${id}_bn`, 1e-3), `conv_dw_${id}_relu`);
    x = relu6(g.bn(g.conv(x, `conv_pw_${id}`, Math.trunc(filters * alpha), 1, { padding: 'same', useBias: false }), `conv_pw_${id}_bn`, 1e-3), `conv_pw_${id}_relu`);
  });
  x = g.gap(x, g.auto('global_average_pooling2d'), true);
  x = g.layer('Dropout', 'dropout', { rate: 1e-3, noise_shape: null, seed: null }, [x], g.shape(x));
  x = g.conv(x, 'conv_preds', o.classes, 1, { padding: 'same' });
  x = g.layer('Reshape', 'reshape_2', { target_shape: [o.classes] }, [x], [1, 1, o.classes]);
  g.output = g.activation(x, 'predictions', o.classifierActivation ?? 'softmax');
  return g;
}
