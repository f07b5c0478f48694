import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EquivalenceReport } from '../../core/model-info';
import { convertClassifier, type Conversion } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { loadClassifier } from '../../main/model/load';
import { exportOnnx } from '../../main/onnx/export';
import { type Json, k3Conv, k3Input, k3Layer, kt, writeKerasArchive, writeLegacyH5 } from '../helpers/keras';
import { convNeXtTiny, denseNet121, efficientNetV2B0, inceptionV3, mobileNetV1, mobileNetV3Small, resNet50V2, vgg16, xception } from '../helpers/keras-backbones';
import type { Keras2Graph } from '../helpers/keras2-apps';
import { keras3Model, keras3Transfer } from '../helpers/keras3-form';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { expectOnnxMatchesTfjs, ortRun } from '../onnx/helpers';

/**
 * Whole keras.applications backbones (issue 23 item 3) as the files Keras writes: Keras 3 `.keras`
 * archives (config.json in Keras 3's serialised form + model.weights.h5, test/helpers/keras3-form.ts)
 * and tf.keras 2.15 `.h5`, built from keras/src/applications/*.py (test/helpers/keras-backbones.ts)
 * with synthetic weights. To stay quick they are narrower and shallower than published (each
 * stage keeps every kind of block it has) and take small inputs. Each file goes the way a user's
 * does: loadClassifier → convertClassifier → checkEquivalence against crops through the original
 * model (the oracle), and the ONNX export of the map equals the tfjs map. Logit heads: synthetic
 * weights drive a softmax to one-hot, which would agree trivially.
 */

beforeAll(useWasm);
const root = tempDir('convmap-backbones-k3-');

interface Expect {
  window: number[];
  stride: number[];
  classes: number;
}

async function convertFile(file: string, want: Expect, check: (c: Conversion, report: EquivalenceReport) => void): Promise<void> {
  const loaded = await loadClassifier(file);
  try {
    const c = convertClassifier(loaded.model, loaded.file);
    try {
      expect({ window: c.window, stride: c.stride, classes: c.classes }).toEqual(want);
      const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 2, preprocess: 'raw' });
      expect(report.cellsChecked).toBe(4);
      check(c, report);
      const [wy, wx] = c.window;
      // Values in [0, 1) as the conversion's own ONNX check draws them: small enough that biases and signs matter.
      await expectOnnxMatchesTfjs(c.fcn, loaded.file, { shape: [1, wy + c.stride[0], wx + 2 * c.stride[1], 3], max: 1, seed: 7 });
    } finally {
      c.fcn.dispose();
    }
  } finally {
    loaded.model.dispose();
  }
}

async function keras3File(name: string, g: Keras2Graph): Promise<string> {
  const file = path.join(root.path, `${name}.keras`);
  const { config, vars } = keras3Model(g);
  await writeKerasArchive(file, config, vars, 0);
  return file;
}

async function keras2File(name: string, g: Keras2Graph): Promise<string> {
  const file = path.join(root.path, `${name}.h5`);
  await writeLegacyH5(file, g.config(g.output), g.weights, { kerasVersion: '2.15.0' });
  return file;
}

/** The grade is one of the graded words, never 'exact' (every one of these pads with zeros inside the window). */
function graded(report: EquivalenceReport): void {
  expect(report.exact).toBe(false);
  expect(['close', 'approximate', 'not representative']).toContain(report.grade);
}

const linear = { classifierActivation: 'linear' };

describe('keras.applications backbones as Keras 3 .keras files load, convert and are graded against their crops', () => {
  it('ResNet50V2 (¼ width, 2 blocks a stage, 32 px): pre-activation BN-ReLU before each bottleneck, strided 1×1 max-pool shortcuts, post_bn → stride 32', async () => {
    const file = await keras3File('resnet50v2', resNet50V2({ size: 32, classes: 5, seed: 11, width: 0.25, repeats: 2, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 5 }, (c, report) => {
      expect(c.paddedLayers).toContain('conv1_pad (ZeroPadding2D)');
      graded(report);
    });
  });

  it('DenseNet121 (¼ width, 2 layers a dense block, 32 px): dense blocks of Concatenate, transitions with 1×1 conv and 2×2 average pool → stride 32', async () => {
    const file = await keras3File('densenet121', denseNet121({ size: 32, classes: 4, seed: 12, width: 0.25, repeats: 2, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 4 }, (_c, report) => graded(report));
  });

  it('Xception (⅛ width, 1 middle-flow block, 71 px): SeparableConv2D, same 3×3/2 max pools with strided 1×1 residuals, exit flow → stride 32', async () => {
    const file = await keras3File('xception', xception({ size: 71, classes: 3, seed: 13, width: 0.125, repeats: 1, ...linear }));
    await convertFile(file, { window: [71, 71], stride: [32, 32], classes: 3 }, (_c, report) => graded(report));
  });

  it('InceptionV3 (⅛ width, one mixed block of each kind, 75 px): 1×7/7×1 and 1×3/3×1 kernels, BatchNormalization without scale, average-pool branches, nested Concatenates → stride 32', async () => {
    const file = await keras3File('inception_v3', inceptionV3({ size: 75, classes: 3, seed: 14, width: 0.125, repeats: 1, ...linear }));
    await convertFile(file, { window: [75, 75], stride: [32, 32], classes: 3 }, (_c, report) => graded(report));
  });

  it('MobileNetV3Small (published widths, 32 px): Rescaling, hard_swish, squeeze-excite whose hard sigmoid is ReLU(6)(x + 3) · (1/6) as keras.ops operations, GAP keepdims → 1×1 conv head → Flatten', async () => {
    const file = await keras3File('mobilenetv3small', mobileNetV3Small({ size: 32, classes: 4, seed: 15, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 4 }, (_c, report) => graded(report));
  });

  it('ConvNeXtTiny (⅛ width, 1 block a stage, 32 px): Normalization prestem, nested Sequential stem and downsamplings, 7×7 Conv2D with groups = channels, LayerNormalization, gelu, LayerScale, keras.ops residual add → stride 32', async () => {
    const file = await keras3File('convnext_tiny', convNeXtTiny({ size: 32, classes: 4, seed: 16, width: 0.125, repeats: 1, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 4 }, (_c, report) => graded(report));
  });

  it('EfficientNetV2B0 (½ width, 1 block a stage, 32 px): Rescaling + Normalization from its config, Fused-MBConv and MBConv with squeeze-excite, \'same\' stride-2 convolutions → stride 32', async () => {
    const file = await keras3File('efficientnetv2b0', efficientNetV2B0({ size: 32, classes: 4, seed: 17, width: 0.5, repeats: 1, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 4 }, (_c, report) => graded(report));
  });

  it('VGG16 (1/16 width, 32 px): 3×3 \'same\' relu blocks and 2×2 pools, Flatten → fc1 → fc2 → predictions → stride 16 (block5_pool covers the whole 2×2 map, so it slides at stride 1), graded', async () => {
    const file = await keras3File('vgg16', vgg16({ size: 32, classes: 3, seed: 19, width: 1 / 16, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [16, 16], classes: 3 }, (_c, report) => graded(report));
  });

  it('MobileNet v1 α 0.25 (32 px): ZeroPadding2D ((0, 1), (0, 1)) before stride-2 DepthwiseConv2D, ReLU(6), head GAP keepdims → Dropout → conv_preds 1×1 → Reshape((classes,)) → Activation', async () => {
    const file = await keras3File('mobilenet_v1', mobileNetV1({ size: 32, classes: 4, seed: 20, alpha: 0.25, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 4 }, (_c, report) => graded(report));
  });

  it('EfficientNetV2B0 nested as a transfer model\'s sub-model (base(inputs, training=False) → GAP → Dropout → Dense; its weights under layers/functional/) → stride 32', async () => {
    const base = efficientNetV2B0({ size: 32, classes: 0, seed: 18, width: 0.5, repeats: 1, includeTop: false });
    const c = base.shape(base.output)[2];
    const kernel = Float32Array.from({ length: c * 3 }, (_, i) => Math.sin(i * 12.9898) * 0.2);
    const { config, vars } = keras3Transfer(base, 3, { kernel, bias: Float32Array.of(0.1, -0.1, 0) });
    const file = path.join(root.path, 'efficientnetv2b0_nested.keras');
    await writeKerasArchive(file, config, vars, 0);
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 3 }, (_c, report) => graded(report));
  });
});

describe('keras.applications backbones as Keras 2 .h5 files', () => {
  it('ResNet50V2 (tf.keras 2.15 .h5, ¼ width, 2 blocks a stage, 32 px) → stride 32, graded', async () => {
    const file = await keras2File('resnet50v2_k2', resNet50V2({ size: 32, classes: 5, seed: 21, width: 0.25, repeats: 2, form: 2, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 5 }, (_c, report) => graded(report));
  });

  it('MobileNetV3Small α 0.5 (tf.keras 2.15 .h5, 64 px): hard sigmoid as TFOpLambda x + 3 and x · (1/6), hard-swish as Multiply([x, hard_sigmoid(x)]) also in the head after GAP keepdims → conv_2 → stride 32, graded', async () => {
    const file = await keras2File('mobilenetv3small_k2', mobileNetV3Small({ size: 64, classes: 4, seed: 23, alpha: 0.5, form: 2, ...linear }));
    await convertFile(file, { window: [64, 64], stride: [32, 32], classes: 4 }, (c, report) => {
      expect(c.head.some((l) => /^multiply_\d+ \(Multiply\) of 2 branches of the head/.test(l))).toBe(true);
      graded(report);
    });
  });

  it('DenseNet121 (tf.keras 2.15 .h5, its stem named conv1/conv, conv1/bn, conv1/relu: nested HDF5 groups) → stride 32, graded', async () => {
    const file = await keras2File('densenet121_k2', denseNet121({ size: 32, classes: 4, seed: 22, width: 0.25, repeats: 2, form: 2, ...linear }));
    await convertFile(file, { window: [32, 32], stride: [32, 32], classes: 4 }, (_c, report) => graded(report));
  });
});

/** A Keras 3 operation entry as Functional.get_config writes `x + 3.0`: module keras.src.ops.numpy, the number among the args. */
function k3Op(className: string, name: string, args: Json[]): Json {
  return { module: 'keras.src.ops.numpy', class_name: className, config: { name }, registered_name: className, name, inbound_nodes: [{ args, kwargs: {} }] };
}

function k3Functional(layers: Json[], output: string): Json {
  return {
    module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional', build_config: { input_shape: null },
    config: { name: 'functional', trainable: true, layers, input_layers: [['input_layer', 0, 0]], output_layers: [[output, 0, 0]] },
  };
}

/** Seeded values in [lo, hi). */
function values(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(seed * 7919 + i * 104729.123)));
}

async function predictFile(file: string, input: Float32Array, shape: number[]): Promise<Float32Array> {
  const loaded = await loadClassifier(file);
  try {
    return tf.tidy(() => (loaded.model.predict(tf.tensor(input, shape)) as tf.Tensor).dataSync() as Float32Array);
  } finally {
    loaded.model.dispose();
  }
}

describe('a Keras head that concatenates the average and the max pool of the trunk (as fastai\'s AdaptiveConcatPool2d)', () => {
  it('converts; every cell of the fully convolutional model is the classifier on its crop', async () => {
    const t = (name: string, shape: (number | null)[]): Json => kt(name, shape);
    const file = path.join(root.path, 'concat_pool.keras');
    await writeKerasArchive(file, k3Functional([
      k3Input('input_layer', [null, 8, 8, 2]),
      k3Layer('Conv2D', 'conv', k3Conv(3, 3, 'relu'), [t('input_layer', [null, 8, 8, 2])]),
      k3Layer('GlobalAveragePooling2D', 'avg', { data_format: 'channels_last', keepdims: false }, [t('conv', [null, 6, 6, 3])]),
      k3Layer('GlobalMaxPooling2D', 'max', { data_format: 'channels_last', keepdims: false }, [t('conv', [null, 6, 6, 3])]),
      k3Layer('Concatenate', 'concat', { axis: -1 }, [[t('max', [null, 3]), t('avg', [null, 3])]]),
      k3Layer('Dense', 'out', { units: 2, activation: 'linear', use_bias: true }, [t('concat', [null, 6])]),
    ], 'out'), {
      'layers/conv2d': [{ shape: [3, 3, 2, 3], values: values(54, 1) }, { shape: [3], values: values(3, 2) }],
      'layers/dense': [{ shape: [6, 2], values: values(12, 3) }, { shape: [2], values: values(2, 4) }],
    }, 0);
    const loaded = await loadClassifier(file);
    const conv = convertClassifier(loaded.model, loaded.file);
    try {
      expect(conv.window).toEqual([8, 8]);
      // A 10×10 image: 3×3 cells at stride 1, each against the classifier on its 8×8 crop.
      const image = tf.tensor4d(values(200, 5), [1, 10, 10, 2]);
      const cells = tf.tidy(() => (conv.fcn.predict(image) as tf.Tensor).arraySync() as number[][][][]);
      for (let r = 0; r < 3; r++) {
        for (let q = 0; q < 3; q++) {
          const want = tf.tidy(() => (loaded.model.predict(image.slice([0, r, q, 0], [1, 8, 8, 2])) as tf.Tensor).dataSync());
          cells[0][r][q].forEach((v, j) => expect(v).toBeCloseTo(want[j], 5));
        }
      }
      image.dispose();
    } finally {
      conv.fcn.dispose();
      loaded.model.dispose();
    }
  });
});

describe('what these backbones added to the Keras 3 reader, against formulas worked here', () => {
  it('keras.ops operations with a number and between tensors (MobileNetV3\'s ReLU(6)(x + 3) · (1/6), ConvNeXt\'s inputs + x, x − 0.5, x / 2) and GlobalAveragePooling2D(keepdims=True) before a 1×1 Conv2D compute Keras\'s formulas', async () => {
    const t = (name: string, shape: (number | null)[]): Json => kt(name, shape);
    const S: (number | null)[] = [null, 4, 4, 2];
    const file = path.join(root.path, 'ops.keras');
    await writeKerasArchive(file, k3Functional([
      k3Input('input_layer', S),
      k3Op('Add', 'add', [t('input_layer', S), 3.0]),
      k3Layer('ReLU', 're_lu', { max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, [t('add', S)]),
      k3Op('Multiply', 'multiply', [t('re_lu', S), 1 / 6]),
      k3Layer('Multiply', 'hard_swish', {}, [t('input_layer', S), t('multiply', S)]),
      k3Op('Subtract', 'subtract', [t('hard_swish', S), 0.5]),
      k3Op('Add', 'add_1', [t('subtract', S), t('input_layer', S)]),
      k3Op('TrueDivide', 'true_divide', [t('add_1', S), 2.0]),
      k3Layer('GlobalAveragePooling2D', 'pool', { data_format: 'channels_last', keepdims: true }, [t('true_divide', S)]),
      k3Layer('Conv2D', 'conv', k3Conv(2, 1, 'linear', 'same'), [t('pool', [null, 1, 1, 2])]),
      k3Layer('Flatten', 'flatten', { data_format: 'channels_last' }, [t('conv', [null, 1, 1, 2])]),
    ], 'flatten'), { 'layers/conv2d': [{ shape: [1, 1, 2, 2], values: Float32Array.of(1, 2, -1, 0.5) }, { shape: [2], values: Float32Array.of(0.25, -0.25) }] }, 0);
    const input = values(32, 3, -5, 5);
    const got = await predictFile(file, input, [1, 4, 4, 2]);
    const mean = [0, 0];
    for (let i = 0; i < 32; i++) {
      const v = input[i];
      const hardSwish = v * (Math.min(Math.max(v + 3, 0), 6) / 6);
      mean[i % 2] += (hardSwish - 0.5 + v) / 2 / 16;
    }
    const want = [mean[0] * 1 + mean[1] * -1 + 0.25, mean[0] * 2 + mean[1] * 0.5 - 0.25];
    expect(Array.from(got)).toHaveLength(2);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 5));
  });

  it('Keras 2\'s `a + b`, `a − b` and `a * b` of two tensors (TFOpLambda naming the second tensor in its kwargs, tf.keras 2 ConvNeXt\'s residual) compute them', async () => {
    const file = path.join(root.path, 'tfop_merge.h5');
    const layer = (cls: string, name: string, config: Record<string, Json>, inbound: Json[]): Json =>
      ({ class_name: cls, config: { name, trainable: true, dtype: 'float32', ...config }, name, inbound_nodes: inbound.length ? [inbound] : [] });
    const config: Json = {
      class_name: 'Functional',
      config: {
        name: 'model', trainable: true,
        layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 3, 3, 2], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' }, name: 'input_1', inbound_nodes: [] },
          layer('Conv2D', 'conv', { filters: 2, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: true }, [['input_1', 0, 0, {}]]),
          layer('TFOpLambda', 'tf.__operators__.add', { function: '__operators__.add' }, [['input_1', 0, 0, { y: ['conv', 0, 0], name: null }]]),
          layer('TFOpLambda', 'tf.math.subtract', { function: 'math.subtract' }, [['tf.__operators__.add', 0, 0, { y: ['conv', 0, 0], name: null }]]),
          layer('TFOpLambda', 'tf.math.multiply', { function: 'math.multiply' }, [['tf.math.subtract', 0, 0, { y: ['conv', 0, 0], name: null }]]),
          layer('GlobalAveragePooling2D', 'pool', { data_format: 'channels_last', keepdims: false }, [['tf.math.multiply', 0, 0, {}]]),
        ],
        input_layers: [['input_1', 0, 0]], output_layers: [['pool', 0, 0]],
      },
    };
    const kernel = Float32Array.of(0.5, -1, 2, 0.25);
    const bias = Float32Array.of(0.1, -0.2);
    await writeLegacyH5(file, config, [{ name: 'conv', weights: [{ name: 'conv/kernel:0', shape: [1, 1, 2, 2], values: kernel }, { name: 'conv/bias:0', shape: [2], values: bias }] }], { kerasVersion: '2.15.0' });
    const input = values(18, 9, -1, 1);
    const got = await predictFile(file, input, [1, 3, 3, 2]);
    // ((x + conv(x)) − conv(x)) · conv(x), averaged over the 9 positions.
    const want = [0, 1].map((o) => {
      let sum = 0;
      for (let p = 0; p < 9; p++) {
        const conv = bias[o] + input[p * 2] * kernel[o] + input[p * 2 + 1] * kernel[2 + o];
        sum += (input[p * 2 + o] + conv - conv) * conv;
      }
      return sum / 9;
    });
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 5));
  });

  it('a keras.ops operation Convmap does not convert is refused in one line naming the file and the operation', async () => {
    const S: (number | null)[] = [null, 4, 4, 2];
    const file = path.join(root.path, 'power.keras');
    await writeKerasArchive(file, k3Functional([
      k3Input('input_layer', S),
      k3Op('Power', 'power', [kt('input_layer', S), 2.0]),
      k3Layer('GlobalAveragePooling2D', 'pool', { data_format: 'channels_last', keepdims: false }, [kt('power', S)]),
    ], 'pool'), {}, 0);
    const err = await loadClassifier(file).then(() => null, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/^\S*power\.keras: .*"power".*keras\.src\.ops\.numpy\.Power is not one Convmap converts/);
    expect(err?.message).not.toContain('\n');
  });

  it('zero padding before a max pool of signed values (ResNet50V2\'s conv1_conv → pool1_pad → pool1_pool) keeps its zeros in ONNX Runtime, whose PadFusion would fold them into the pool', async () => {
    const file = path.join(root.path, 'padpool.keras');
    const S: (number | null)[] = [null, 8, 8, 1];
    await writeKerasArchive(file, k3Functional([
      k3Input('input_layer', S),
      k3Layer('Conv2D', 'conv', k3Conv(2, 1, 'linear'), [kt('input_layer', S)]),
      k3Layer('ZeroPadding2D', 'pad', { padding: [[1, 1], [1, 1]], data_format: 'channels_last' }, [kt('conv', [null, 8, 8, 2])]),
      k3Layer('MaxPooling2D', 'pool', { pool_size: [3, 3], strides: [2, 2], padding: 'valid', data_format: 'channels_last' }, [kt('pad', [null, 10, 10, 2])]),
    ], 'pool'), { 'layers/conv2d': [{ shape: [1, 1, 1, 2], values: Float32Array.of(-1, 1) }, { shape: [2], values: Float32Array.of(-0.5, 0) }] }, 0);
    const loaded = await loadClassifier(file);
    try {
      const image = tf.randomUniform([1, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
      const got = await ortRun(exportOnnx(loaded.model, loaded.file).bytes, image);
      // Channel 0 is −x − 0.5 < 0 everywhere: every window touching the padding takes its zero.
      const x = image.dataSync();
      const want: number[] = [];
      for (let oy = 0; oy < 4; oy++) {
        for (let ox = 0; ox < 4; ox++) {
          for (let ch = 0; ch < 2; ch++) {
            let m = -Infinity;
            for (let dy = 0; dy < 3; dy++) {
              for (let dx = 0; dx < 3; dx++) {
                const y = 2 * oy + dy - 1;
                const xx = 2 * ox + dx - 1;
                const v = y < 0 || xx < 0 || y >= 8 || xx >= 8 ? 0 : ch === 0 ? -x[y * 8 + xx] - 0.5 : x[y * 8 + xx];
                m = Math.max(m, v);
              }
            }
            want.push(m);
          }
        }
      }
      image.dispose();
      expect(Array.from(got.data)).toHaveLength(want.length);
      got.data.forEach((g, i) => expect(g).toBeCloseTo(want[i], 6));
    } finally {
      loaded.model.dispose();
    }
  });

  it('a Conv2D with groups = input channels (ConvNeXt\'s depthwise 3×3, depth multiplier 2, Keras\'s kernel [3, 3, 1, 6]) computes the grouped convolution; fewer groups than channels are refused naming the layer', async () => {
    const file = path.join(root.path, 'grouped.keras');
    const kernel = values(3 * 3 * 1 * 6, 5);
    const bias = values(6, 6, -0.1, 0.1);
    await writeKerasArchive(file, k3Functional([
      k3Input('input_layer', [null, 5, 5, 3]),
      { ...(k3Layer('Conv2D', 'dw', { ...k3Conv(6, 3, 'linear'), groups: 3 }, [kt('input_layer', [null, 5, 5, 3])]) as Record<string, Json>), build_config: { input_shape: [null, 5, 5, 3] } },
      k3Layer('Flatten', 'flatten', { data_format: 'channels_last' }, [kt('dw', [null, 3, 3, 6])]),
    ], 'flatten'), { 'layers/conv2d': [{ shape: [3, 3, 1, 6], values: kernel }, { shape: [6], values: bias }] }, 0);
    const input = values(75, 7, 0, 1);
    const got = await predictFile(file, input, [1, 5, 5, 3]);
    // Keras's grouped convolution: output channel o reads input channel floor(o / (filters / groups)).
    const want: number[] = [];
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 3; x++) {
        for (let o = 0; o < 6; o++) {
          let s = bias[o];
          for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) s += input[((y + dy) * 5 + x + dx) * 3 + Math.floor(o / 2)] * kernel[(dy * 3 + dx) * 6 + o];
          want.push(s);
        }
      }
    }
    expect(got).toHaveLength(want.length);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 5));

    const grouped = path.join(root.path, 'grouped3of6.keras');
    await writeKerasArchive(grouped, k3Functional([
      k3Input('input_layer', [null, 5, 5, 6]),
      { ...(k3Layer('Conv2D', 'grouped_conv', { ...k3Conv(6, 3, 'linear'), groups: 3 }, [kt('input_layer', [null, 5, 5, 6])]) as Record<string, Json>), build_config: { input_shape: [null, 5, 5, 6] } },
      k3Layer('Flatten', 'flatten', { data_format: 'channels_last' }, [kt('grouped_conv', [null, 3, 3, 6])]),
    ], 'flatten'), { 'layers/conv2d': [{ shape: [3, 3, 2, 6], values: values(108, 8) }, { shape: [6], values: bias }] }, 0);
    const err = await loadClassifier(grouped).then(() => null, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/^\S*grouped3of6\.keras: .*"grouped_conv".*Conv2D in 3 groups over 6 channels is a grouped convolution/);
    expect(err?.message).not.toContain('\n');
  });
});
