import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { ModelError } from '../../main/model/errors';
import { withFixedInputSize } from '../../main/model/input-size';
import { loadClassifier } from '../../main/model/load';
import { exportOnnx } from '../../main/onnx/export';
import { type Json, k3Conv, k3Dense, k3Layer, k3Sequential, writeKerasArchive, writeLegacyH5 } from '../helpers/keras';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { ortRun } from '../onnx/helpers';
import { seededRandom } from '../../core/random';

/**
 * docs/models.md's catalog, tested through the path a file takes: each layer or activation is
 * written into a Keras 3 `.keras` file (InputLayer [4, 4, 2] → the layer → Flatten → Dense 3),
 * opened with loadClassifier, converted and exported to ONNX; the classifier's scores and the ONNX
 * model's one cell are compared with Keras's documented formula computed here in float64.
 */

beforeAll(useWasm);
const root = tempDir('convmap-catalog-');

const H = 4;
const W = 4;
const C = 2;
const CLASSES = 3;


function values(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0);
const relu6 = (x: number): number => Math.min(Math.max(x, 0), 6);
/** erf: its Maclaurin series below 2 (float64-exact there), Abramowitz–Stegun 7.1.26 above (error < 1.5e-7). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  let y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  if (a < 2) {
    let sum = 0;
    let term = a;
    for (let n = 0; n < 60; n++) {
      sum += term / (2 * n + 1);
      term *= (-a * a) / (n + 1);
    }
    y = (2 / Math.sqrt(Math.PI)) * sum;
  }
  return s * y;
}

/** Keras 3's formula for each activation name (keras/src/activations/activations.py). */
const FORMULAS: Record<string, (x: number) => number> = {
  linear: (x) => x,
  relu: (x) => Math.max(x, 0),
  relu6,
  elu: (x) => (x > 0 ? x : Math.exp(x) - 1),
  selu: (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1)),
  sigmoid,
  hard_sigmoid: (x) => relu6(x + 3) / 6,
  tanh: Math.tanh,
  softplus,
  softsign: (x) => x / (1 + Math.abs(x)),
  silu: (x) => x * sigmoid(x),
  swish: (x) => x * sigmoid(x),
  hard_silu: (x) => (x * relu6(x + 3)) / 6,
  hard_swish: (x) => (x * relu6(x + 3)) / 6,
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  mish: (x) => x * Math.tanh(softplus(x)),
  leaky_relu: (x) => (x > 0 ? x : 0.2 * x),
  exponential: Math.exp,
  hard_tanh: (x) => Math.min(Math.max(x, -1), 1),
  log_sigmoid: (x) => -softplus(-x),
  celu: (x) => (x > 0 ? x : Math.exp(x) - 1),
};

/** x [H, W, C] (HWC, float64) through a per-location function of the channel vector. */
type PerLocation = (v: number[]) => number[];

const elementwise = (f: (x: number) => number): PerLocation => (v) => v.map(f);

function softmaxVec(v: number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** The reference scores: f per location, then Flatten (HWC order) → Dense. */
function reference(x: Float32Array, f: PerLocation, kernel: Float32Array, bias: Float32Array): number[] {
  const flat: number[] = [];
  for (let p = 0; p < H * W; p++) flat.push(...f(Array.from(x.subarray(p * C, p * C + C))));
  return Array.from({ length: CLASSES }, (_, j) => flat.reduce((s, v, i) => s + v * kernel[i * CLASSES + j], bias[j]));
}

interface Case {
  /** What the catalog calls it. */
  name: string;
  /** Keras 3 entries between the input and the Flatten (conv layers must keep H×W×C). */
  layers: Json[];
  vars?: Record<string, { shape: number[]; values: Float32Array }[]>;
  f: PerLocation;
  /** Input range, default [−4, 4]. */
  range?: [number, number];
}

const dense = { kernel: values(H * W * C * CLASSES, 11, -0.5, 0.5), bias: values(CLASSES, 12, -0.1, 0.1) };

async function runCase(c: Case, seed: number): Promise<void> {
  const file = path.join(root.path, `${c.name.replace(/\W+/g, '_')}.keras`);
  const config = k3Sequential('catalog', [null, H, W, C], [
    ...c.layers,
    k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
    k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear')),
  ]);
  const slot = (c.layers as { class_name: string }[]).some((l) => l.class_name === 'Dense') ? 'layers/dense_1' : 'layers/dense';
  await writeKerasArchive(file, config, {
    ...(c.vars ?? {}),
    [slot]: [{ shape: [H * W * C, CLASSES], values: dense.kernel }, { shape: [CLASSES], values: dense.bias }],
  });
  const [lo, hi] = c.range ?? [-4, 4];
  const x = values(H * W * C, seed, lo, hi);
  const want = reference(x, c.f, dense.kernel, dense.bias);
  const scale = Math.max(1, ...want.map(Math.abs));
  const loaded = await loadClassifier(file);
  try {
    const image = tf.tensor4d(x, [1, H, W, C]);
    const got = tf.tidy(() => (loaded.model.predict(image) as tf.Tensor).dataSync());
    const conv = convertClassifier(loaded.model, loaded.file);
    try {
      const onnx = exportOnnx(conv.fcn, loaded.file);
      const cell = await ortRun(onnx.bytes, image);
      expect(cell.dims).toEqual([1, 1, 1, CLASSES]);
      for (let j = 0; j < CLASSES; j++) {
        expect({ name: c.name, j, tfjs: Math.abs(got[j] - want[j]) / scale <= 2e-5 }).toEqual({ name: c.name, j, tfjs: true });
        expect({ name: c.name, j, onnx: Math.abs(cell.data[j] - want[j]) / scale <= 2e-5 }).toEqual({ name: c.name, j, onnx: true });
      }
    } finally {
      conv.fcn.dispose();
      image.dispose();
    }
  } finally {
    loaded.model.dispose();
  }
}

const act = (name: string): Json => k3Layer('Activation', `act_${name}`, { activation: name });

describe('catalog: Keras 3 activations (as Activation layers) equal Keras\'s formulas through load, convert and ONNX', () => {
  const names = Object.keys(FORMULAS);
  it(`${names.join(', ')}`, async () => {
    let seed = 100;
    for (const name of names) await runCase({ name, layers: [act(name)], f: elementwise(FORMULAS[name]) }, seed++);
  });

  it('softmax over the channels of every location', async () => {
    await runCase({ name: 'softmax', layers: [act('softmax')], f: softmaxVec }, 200);
  });

  it('an activation field of Conv2D and Dense (hard_swish, silu, gelu, leaky_relu, mish): the layer, then the formula', async () => {
    const k = values(C * C, 31, -1, 1);
    const b = values(C, 32, -0.2, 0.2);
    /** 1×1 convolution (or Dense on the channel axis) with kernel [C, C]. */
    const lin = (v: number[]): number[] => Array.from({ length: C }, (_, o) => v.reduce((s, xi, i) => s + xi * k[i * C + o], b[o]));
    let seed = 300;
    for (const name of ['hard_swish', 'silu', 'gelu', 'leaky_relu', 'mish']) {
      const f = FORMULAS[name];
      await runCase({
        name: `conv_${name}`, layers: [k3Layer('Conv2D', 'c', k3Conv(C, 1, name))],
        vars: { 'layers/conv2d': [{ shape: [1, 1, C, C], values: k }, { shape: [C], values: b }] }, f: (v) => lin(v).map(f),
      }, seed++);
      await runCase({
        name: `dense_${name}`, layers: [k3Layer('Dense', 'd', k3Dense(C, name))],
        vars: { 'layers/dense': [{ shape: [C, C], values: k }, { shape: [C], values: b }] }, f: (v) => lin(v).map(f),
      }, seed++);
    }
  });
});

describe('catalog: activation layers and preprocessing layers equal Keras\'s formulas through load, convert and ONNX', () => {
  const mean = Float32Array.of(0.5, -1);
  const variance = Float32Array.of(4, 0.25);
  const cases: Case[] = [
    { name: 'LeakyReLU negative_slope 0.3 (Keras 3 name)', layers: [k3Layer('LeakyReLU', 'lr', { negative_slope: 0.3 })], f: elementwise((x) => (x > 0 ? x : 0.3 * x)) },
    { name: 'ReLU negative_slope 0.1', layers: [k3Layer('ReLU', 'r', { max_value: null, negative_slope: 0.1, threshold: 0 })], f: elementwise((x) => (x > 0 ? x : 0.1 * x)) },
    { name: 'ReLU max_value 2', layers: [k3Layer('ReLU', 'r', { max_value: 2, negative_slope: 0, threshold: 0 })], f: elementwise((x) => Math.min(Math.max(x, 0), 2)) },
    { name: 'ELU alpha 0.5', layers: [k3Layer('ELU', 'e', { alpha: 0.5 })], f: elementwise((x) => (x > 0 ? x : 0.5 * (Math.exp(x) - 1))) },
    { name: 'Softmax axis -1', layers: [k3Layer('Softmax', 's', { axis: -1 })], f: softmaxVec },
    { name: 'Rescaling 1/127.5 - 1', layers: [k3Layer('Rescaling', 'rs', { scale: 1 / 127.5, offset: -1 })], f: elementwise((x) => x / 127.5 - 1), range: [0, 255] },
    {
      name: 'Rescaling per channel (EfficientNet: 1/√stddev per channel)', layers: [k3Layer('Rescaling', 'rs', { scale: [1 / Math.sqrt(0.052), 1 / Math.sqrt(0.05)], offset: 0 })],
      f: (v) => v.map((x, i) => x * [1 / Math.sqrt(0.052), 1 / Math.sqrt(0.05)][i]), range: [0, 1],
    },
    {
      name: 'Normalization (adapted: mean and variance weights)', layers: [k3Layer('Normalization', 'n', { axis: -1, mean: null, variance: null, invert: false })],
      vars: { 'layers/normalization': [{ shape: [C], values: mean }, { shape: [C], values: variance }] },
      f: (v) => v.map((x, i) => (x - mean[i]) / Math.max(Math.sqrt(variance[i]), 1e-7)),
    },
    {
      name: 'Normalization (mean and variance in the config)', layers: [k3Layer('Normalization', 'n', { axis: -1, mean: [0.485, 0.456], variance: [0.052, 0.05], invert: false })],
      f: (v) => v.map((x, i) => (x - [0.485, 0.456][i]) / Math.sqrt([0.052, 0.05][i])), range: [0, 1],
    },
    { name: 'Resizing to the input size (identity)', layers: [k3Layer('Resizing', 'rz', { height: H, width: W, interpolation: 'bilinear', crop_to_aspect_ratio: false })], f: (v) => v },
    { name: 'CenterCrop to the input size (identity)', layers: [k3Layer('CenterCrop', 'cc', { height: H, width: W })], f: (v) => v },
    {
      name: 'every Random* augmentation layer and noise layer (identity at inference), and Keras 3\'s Identity',
      layers: [
        'Identity', 'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness', 'RandomCrop', 'RandomHeight',
        'RandomWidth', 'RandomGrayscale', 'RandomHue', 'RandomSaturation', 'RandomColorJitter', 'RandomShear', 'RandomPerspective', 'RandomErasing',
        'RandomGaussianBlur', 'RandomSharpness', 'RandomPosterization', 'RandomInvert', 'RandomElasticTransform', 'RandomColorDegeneration', 'MixUp', 'CutMix', 'RandAugment', 'AugMix',
        'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'SpatialDropout2D', 'Dropout', 'ActivityRegularization',
      ].map((cls, i) => k3Layer(cls, `aug_${i}`, { seed: null, rate: 0.5, stddev: 0.1, factor: 0.2 })),
      f: (v) => v,
    },
  ];
  for (const [i, c] of cases.entries()) it(c.name, async () => runCase(c, 400 + i));

  it('Keras 2 hard_sigmoid is clip(0.2·x + 0.5, 0, 1) (a .h5 written by Keras 2.15), Keras 3\'s relu6(x + 3) / 6 (above)', async () => {
    const file = path.join(root.path, 'hard_sigmoid_keras2.h5');
    const config: Json = {
      class_name: 'Sequential',
      config: {
        name: 'k2', layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, H, W, C], dtype: 'float32', name: 'in' } },
          { class_name: 'Activation', config: { name: 'hs', activation: 'hard_sigmoid', dtype: 'float32' } },
          { class_name: 'Flatten', config: { name: 'flat', dtype: 'float32' } },
          { class_name: 'Dense', config: { name: 'out', units: CLASSES, activation: 'linear', use_bias: true, dtype: 'float32' } },
        ],
      },
    };
    await writeLegacyH5(file, config, [
      { name: 'out', weights: [{ name: 'out/kernel:0', shape: [H * W * C, CLASSES], values: dense.kernel }, { name: 'out/bias:0', shape: [CLASSES], values: dense.bias }] },
    ], { kerasVersion: '2.15.0' });
    const x = values(H * W * C, 500, -4, 4);
    const want = reference(x, elementwise((v) => Math.min(Math.max(0.2 * v + 0.5, 0), 1)), dense.kernel, dense.bias);
    const loaded = await loadClassifier(file);
    try {
      const got = tf.tidy(() => (loaded.model.predict(tf.tensor4d(x, [1, H, W, C])) as tf.Tensor).dataSync());
      for (let j = 0; j < CLASSES; j++) expect(Math.abs(got[j] - want[j])).toBeLessThanOrEqual(2e-5);
    } finally {
      loaded.model.dispose();
    }
  });
});

describe('catalog: Keras 2 files', () => {
  it('Normalization with its count weight (Keras 2 stores mean, variance, count) in a .h5: (x − mean) / √variance', async () => {
    const file = path.join(root.path, 'normalization_keras2.h5');
    const mean = Float32Array.of(0.25, -0.5);
    const variance = Float32Array.of(2, 0.5);
    const config: Json = {
      class_name: 'Sequential',
      config: {
        name: 'k2n', layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, H, W, C], dtype: 'float32', name: 'in' } },
          { class_name: 'Normalization', config: { name: 'norm', axis: -1, mean: null, variance: null, dtype: 'float32' } },
          { class_name: 'Flatten', config: { name: 'flat', dtype: 'float32' } },
          { class_name: 'Dense', config: { name: 'out', units: CLASSES, activation: 'linear', use_bias: true, dtype: 'float32' } },
        ],
      },
    };
    await writeLegacyH5(file, config, [
      { name: 'norm', weights: [{ name: 'norm/mean:0', shape: [C], values: mean }, { name: 'norm/variance:0', shape: [C], values: variance }, { name: 'norm/count:0', shape: [], values: Float32Array.of(1000) }] },
      { name: 'out', weights: [{ name: 'out/kernel:0', shape: [H * W * C, CLASSES], values: dense.kernel }, { name: 'out/bias:0', shape: [CLASSES], values: dense.bias }] },
    ], { kerasVersion: '2.15.0' });
    const x = values(H * W * C, 510, -4, 4);
    const want = reference(x, (v) => v.map((e, i) => (e - mean[i]) / Math.sqrt(variance[i])), dense.kernel, dense.bias);
    const loaded = await loadClassifier(file);
    try {
      const got = tf.tidy(() => (loaded.model.predict(tf.tensor4d(x, [1, H, W, C])) as tf.Tensor).dataSync());
      for (let j = 0; j < CLASSES; j++) expect(Math.abs(got[j] - want[j])).toBeLessThanOrEqual(2e-5);
    } finally {
      loaded.model.dispose();
    }
  });
});

describe('catalog: Keras 2 TFOpLambda (keras.applications MobileNetV3\'s hard-swish as Keras 2 writes it)', () => {
  /** A Keras 2 Functional: conv 1×1 → x·relu6(x + 3)·(1/6) from TFOpLambda add/multiply, ReLU(6) and Multiply → Flatten → Dense. */
  function config(addFn: string): Json {
    const layer = (cls: string, name: string, cfg: Record<string, Json>, inbound: Json[]): Json =>
      ({ class_name: cls, config: { name, dtype: 'float32', trainable: true, ...cfg }, name, inbound_nodes: inbound.length ? [inbound] : [] });
    return {
      class_name: 'Functional',
      config: {
        name: 'mnv3ish',
        layers: [
          layer('InputLayer', 'in', { batch_input_shape: [null, H, W, C] }, []),
          layer('Conv2D', 'conv', { filters: C, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', activation: 'linear', use_bias: true }, [['in', 0, 0, {}]]),
          layer('TFOpLambda', 'tf.__operators__.add', { function: addFn }, [['conv', 0, 0, { y: 3.0, name: null }]]),
          layer('ReLU', 're_lu', { max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, [['tf.__operators__.add', 0, 0, {}]]),
          layer('TFOpLambda', 'tf.math.multiply', { function: 'math.multiply' }, [['re_lu', 0, 0, { y: 1 / 6, name: null }]]),
          layer('Multiply', 'hard_swish', {}, [['conv', 0, 0, {}], ['tf.math.multiply', 0, 0, {}]]),
          layer('Flatten', 'flat', {}, [['hard_swish', 0, 0, {}]]),
          layer('Dense', 'out', { units: CLASSES, activation: 'linear', use_bias: true }, [['flat', 0, 0, {}]]),
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['out', 0, 0]],
      },
    };
  }
  const k = values(C * C, 900, -1, 1);
  const b = values(C, 901, -0.2, 0.2);
  const weights = [
    { name: 'conv', weights: [{ name: 'conv/kernel:0', shape: [1, 1, C, C], values: k }, { name: 'conv/bias:0', shape: [C], values: b }] },
    { name: 'out', weights: [{ name: 'out/kernel:0', shape: [H * W * C, CLASSES], values: dense.kernel }, { name: 'out/bias:0', shape: [CLASSES], values: dense.bias }] },
  ];

  it('x + 3 and x · (1/6) become Rescaling: the model equals x·relu6(x + 3)/6 of the convolution, through ONNX too', async () => {
    const file = path.join(root.path, 'tfoplambda.h5');
    await writeLegacyH5(file, config('__operators__.add'), weights, { kerasVersion: '2.15.0' });
    const x = values(H * W * C, 902, -4, 4);
    const lin = (v: number[]): number[] => Array.from({ length: C }, (_, o) => v.reduce((acc, xi, i) => acc + xi * k[i * C + o], b[o]));
    const want = reference(x, (v) => lin(v).map(FORMULAS.hard_swish), dense.kernel, dense.bias);
    const loaded = await loadClassifier(file);
    try {
      const image = tf.tensor4d(x, [1, H, W, C]);
      const got = tf.tidy(() => (loaded.model.predict(image) as tf.Tensor).dataSync());
      const conv = convertClassifier(loaded.model, loaded.file);
      try {
        const cell = await ortRun(exportOnnx(conv.fcn, loaded.file).bytes, image);
        for (let j = 0; j < CLASSES; j++) {
          expect(Math.abs(got[j] - want[j])).toBeLessThanOrEqual(2e-5);
          expect(Math.abs(cell.data[j] - want[j])).toBeLessThanOrEqual(2e-5);
        }
      } finally {
        conv.fcn.dispose();
        image.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });

  it('a TensorFlow operation it cannot convert is refused in one line naming the layer', async () => {
    const file = path.join(root.path, 'tfoplambda_resize.h5');
    await writeLegacyH5(file, config('image.resize'), weights, { kerasVersion: '2.15.0' });
    await expect(loadClassifier(file)).rejects.toThrow(`${file}: layer "tf.__operators__.add" (TFOpLambda): a TensorFlow operation recorded by Keras 2's functional API that Convmap cannot convert`);
  });
});

describe('catalog: dtype policies compute in float32', () => {
  it('a mixed_float16 model (DTypePolicy on every layer, a float16 InputLayer, Keras 2\'s Policy object and a bare string) loads and gives the float32 formula', async () => {
    const policy = (name: string, cls = 'DTypePolicy'): Json => ({ module: 'keras', class_name: cls, config: { name }, registered_name: null });
    const withDtype = (entry: Json, dtype: Json): Json => {
      const e = entry as { config: Record<string, Json> };
      return { ...e, config: { ...e.config, dtype } };
    };
    const config = k3Sequential('mixed', [null, H, W, C], [
      withDtype(act('silu'), policy('mixed_float16')),
      withDtype(k3Layer('Flatten', 'flat', { data_format: 'channels_last' }), policy('mixed_bfloat16', 'Policy')),
      withDtype(k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear')), 'float16'),
    ]) as { config: { layers: { config: Record<string, Json> }[] } };
    config.config.layers[0].config.dtype = 'float16';
    const file = path.join(root.path, 'mixed_float16.keras');
    await writeKerasArchive(file, config as unknown as Json, { 'layers/dense': [{ shape: [H * W * C, CLASSES], values: dense.kernel }, { shape: [CLASSES], values: dense.bias }] });
    const x = values(H * W * C, 600, -4, 4);
    const want = reference(x, elementwise(FORMULAS.silu), dense.kernel, dense.bias);
    const loaded = await loadClassifier(file);
    try {
      expect(loaded.model.inputs[0].dtype).toBe('float32');
      const got = tf.tidy(() => (loaded.model.predict(tf.tensor4d(x, [1, H, W, C])) as tf.Tensor).dataSync());
      for (let j = 0; j < CLASSES; j++) expect(Math.abs(got[j] - want[j])).toBeLessThanOrEqual(2e-5);
    } finally {
      loaded.model.dispose();
    }
  });
});

describe('catalog: an input Reshape that only adds the channel axis', () => {
  it('[8, 8] input → Reshape((8, 8, 1)) → Conv2D → Flatten → Dense converts as a one-channel image, every cell equal to its crop', async () => {
    const file = path.join(root.path, 'reshape_channel.keras');
    const config = k3Sequential('gray', [null, 8, 8], [
      k3Layer('Reshape', 'add_channel', { target_shape: [8, 8, 1] }),
      k3Layer('Conv2D', 'c', k3Conv(2, 3, 'relu')),
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'out', k3Dense(CLASSES, 'softmax')),
    ]);
    await writeKerasArchive(file, config, {
      'layers/conv2d': [{ shape: [3, 3, 1, 2], values: values(18, 700, -1, 1) }, { shape: [2], values: values(2, 701, -0.1, 0.1) }],
      'layers/dense': [{ shape: [6 * 6 * 2, CLASSES], values: values(72 * CLASSES, 702, -0.5, 0.5) }, { shape: [CLASSES], values: values(CLASSES, 703, -0.1, 0.1) }],
    });
    const loaded = await loadClassifier(file);
    try {
      const conv = convertClassifier(loaded.model, loaded.file);
      try {
        expect({ window: conv.window, channels: conv.channels, stride: conv.stride }).toEqual({ window: [8, 8], channels: 1, stride: [1, 1] });
        const report = await checkEquivalence(loaded.model, conv, loaded.file, { cellsPerAxis: 3 });
        expect(report.exact).toBe(true);
      } finally {
        conv.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });
});

describe('catalog: inputs without a fixed size ([null, null, 3])', () => {
  /** Conv2D 3×3 → GlobalAveragePooling2D → Dense 3 on a free-size input, optionally behind Resizing(12, 12). */
  async function freeSize(name: string, resizing: boolean): Promise<string> {
    const file = path.join(root.path, `${name}.keras`);
    await writeKerasArchive(file, k3Sequential('free', [null, null, null, 3], [
      ...(resizing ? [k3Layer('Resizing', 'rz', { height: 12, width: 12, interpolation: 'bilinear', crop_to_aspect_ratio: false })] : []),
      k3Layer('Conv2D', 'c', k3Conv(4, 3, 'relu')),
      k3Layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }),
      k3Layer('Dense', 'out', k3Dense(CLASSES, 'softmax')),
    ]), {
      'layers/conv2d': [{ shape: [3, 3, 3, 4], values: values(108, 800, -1, 1) }, { shape: [4], values: values(4, 801, -0.1, 0.1) }],
      'layers/dense': [{ shape: [4, CLASSES], values: values(4 * CLASSES, 802, -1, 1) }, { shape: [CLASSES], values: values(CLASSES, 803, -0.1, 0.1) }],
    });
    return file;
  }

  it('is given the size the user names (--window 16): converted at a 16×16 window, every cell equal to its crop', async () => {
    const loaded = await loadClassifier(await freeSize('free', false));
    const model = await withFixedInputSize(loaded.model, loaded.file, 16);
    try {
      expect(model.inputs[0].shape).toEqual([null, 16, 16, 3]);
      const conv = convertClassifier(model, loaded.file);
      try {
        expect(conv.window).toEqual([16, 16]);
        const report = await checkEquivalence(model, conv, loaded.file, { cellsPerAxis: 3 });
        expect(report.exact).toBe(true);
      } finally {
        conv.fcn.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('takes the size of a Resizing right after the input when none is named; refuses in one line, saying what to give, when there is neither', async () => {
    const resized = await loadClassifier(await freeSize('free_resizing', true));
    const model = await withFixedInputSize(resized.model, resized.file);
    expect(model.inputs[0].shape).toEqual([null, 12, 12, 3]);
    model.dispose();
    const bare = await loadClassifier(await freeSize('free_bare', false));
    try {
      await expect(withFixedInputSize(bare.model, bare.file)).rejects.toThrow(
        `${bare.file}: input size is not fixed ([null, null, null, 3]): give the size it was trained at (--window N)`,
      );
    } finally {
      bare.model.dispose();
    }
  });
});

describe('catalog: refusals name the file and the layer in one line', () => {
  /** A model whose `layers` turn its 8×8 input into 4×4. */
  async function refused(name: string, layers: Json[], message: string): Promise<void> {
    const file = path.join(root.path, `${name}.keras`);
    await writeKerasArchive(file, k3Sequential('refused', [null, 8, 8, C], [
      ...layers,
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear')),
    ]), { 'layers/dense': [{ shape: [16 * C, CLASSES], values: values(16 * C * CLASSES, 1, -1, 1) }, { shape: [CLASSES], values: new Float32Array(CLASSES) }] });
    let err: unknown = null;
    try {
      const loaded = await loadClassifier(file);
      try {
        convertClassifier(loaded.model, loaded.file).fcn.dispose();
      } finally {
        loaded.model.dispose();
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    const text = (err as ModelError).message;
    expect(text.startsWith(`${file}: layer "`)).toBe(true);
    expect(text).toContain(message);
    expect(text).not.toContain('\n');
  }

  it('an activation Convmap cannot compute: a name from the training code, or a custom function object', async () => {
    await refused('custom_act', [k3Layer('Activation', 'act_custom', { activation: 'my_swish' })],
      'layer "act_custom" (Activation): activation "my_swish" is not one Convmap can compute');
    const fn: Json = { module: 'builtins', class_name: 'function', config: 'scaled_tanh', registered_name: 'function' };
    await refused('custom_fn', [k3Layer('Conv2D', 'conv_custom', { ...k3Conv(C, 1, 'linear'), activation: fn })],
      'layer "conv_custom" (Conv2D): activation "scaled_tanh" is not one Convmap can compute');
  });

  it('AutoContrast and Equalization (they act at inference from whole-image statistics)', async () => {
    await refused('autocontrast', [k3Layer('AutoContrast', 'ac', { value_range: [0, 255] })], 'layer "ac" (AutoContrast): AutoContrast changes each image from statistics of the whole image');
    await refused('equalization', [k3Layer('Equalization', 'eq', { value_range: [0, 255], bins: 256 })], 'layer "eq" (Equalization): Equalization changes each image');
  });

  it('a Resizing that changes the window\'s size (a smaller CenterCrop converts: catalog-geometry.test.ts)', async () => {
    await refused('resize_down', [k3Layer('Resizing', 'rz', { height: 4, width: 4, interpolation: 'bilinear', crop_to_aspect_ratio: false })], 'layer "rz" (Resizing): resizes its 8×8 input to 4×4');
  });
});
