/**
 * The preprocessing guessed for a Keras model that scales its own input in its first layer: the range
 * its scale fits (a standardised span of about 3), worked from each case's constants.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadClassifier } from '../../main/model/load';
import { prepareModel } from '../../main/services/models';
import { type Json, k3Dense, k3Layer, k3Sequential, writeKerasArchive, writeLegacyH5 } from '../helpers/keras';
import { Keras2Graph, mobileNetV2 } from '../helpers/keras2-apps';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';

beforeAll(useWasm);
const root = tempDir('convmap-scaling-guess-');
const [H, W, C, CLASSES] = [4, 4, 3, 2];
const PYTHON = '/usr/bin/python3';
const noPython = ((): string | null => {
  try {
    execFileSync(PYTHON, ['-c', 'import marshal'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} is not installed`;
  }
})();
if (noPython) console.log(`skipped: the Keras 2 Lambda's marshalled function (${noPython})`);

/** A .keras file: `first`, Flatten, Dense; its weights seeded (the guess reads only the first layer). */
async function model(name: string, first: Json, vars: Record<string, { shape: number[]; values: Float32Array }[]> = {}): Promise<string> {
  const file = path.join(root.path, `${name}.keras`);
  const config = k3Sequential(name, [null, H, W, C], [first, k3Layer('Flatten', 'flat', { data_format: 'channels_last' }), k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear'))]);
  const kernel = Float32Array.from({ length: H * W * C * CLASSES }, (_, i) => Math.sin(i));
  await writeKerasArchive(file, config, { ...vars, 'layers/dense': [{ shape: [H * W * C, CLASSES], values: kernel }, { shape: [CLASSES], values: new Float32Array(CLASSES) }] });
  return file;
}

describe('a Keras model that scales its own input', () => {
  it('Normalization adapted on 0–255 pixels (std ≈ 60: scale 1/60, span 4.3 on 0–255) → raw', async () => {
    const file = await model('norm255', k3Layer('Normalization', 'n', { axis: -1, mean: null, variance: null, invert: false }), {
      'layers/normalization': [{ shape: [C], values: Float32Array.from([124, 116, 104]) }, { shape: [C], values: Float32Array.from([3600, 3500, 3700]) }],
    });
    const prepared = await prepareModel(file);
    expect(prepared.info.preprocess).toBe('raw');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed: the model normalises its input itself');
  }, 60_000);

  it('Normalization adapted on 0–1 pixels (std ≈ 0.23: scale 4.4) → unit', async () => {
    const file = await model('norm1', k3Layer('Normalization', 'n', { axis: -1, mean: [0.485, 0.456, 0.406], variance: [0.052, 0.05, 0.051], invert: false }));
    const prepared = await prepareModel(file);
    expect(prepared.info.preprocess).toBe('unit');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed: the model normalises its input itself, from pixel values in 0–1');
  }, 60_000);

  it('an augmentation layer first (read as Rescaling(1, 0)) scales nothing: the default guess, not raw', async () => {
    const prepared = await prepareModel(await model('flip', k3Layer('RandomFlip', 'flip', { mode: 'horizontal', seed: null })));
    expect(prepared.info.preprocess).toBe('unit');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed: the default, nothing in the model says otherwise');
  }, 60_000);

  it('Rescaling by 1/255 → raw; Rescaling by 2, offset −1 ([0, 1] to [−1, 1]) → unit', async () => {
    expect((await prepareModel(await model('r255', k3Layer('Rescaling', 'rs', { scale: 1 / 255, offset: 0 })))).info.preprocess).toBe('raw');
    expect((await prepareModel(await model('r2', k3Layer('Rescaling', 'rs', { scale: 2, offset: -1 })))).info.preprocess).toBe('unit');
  }, 60_000);
});

describe('a transfer model that calls its trunk\'s preprocess_input itself, as TensorFlow\'s transfer-learning tutorial does', () => {
  /**
   * Input → [`ops`] → a nested keras.applications MobileNetV2 (named as Keras names it) → GAP → Dense,
   * tf.keras 2.15 `.h5`: its trunk alone would say [−1, 1] ('signed').
   */
  async function transfer(name: string, ops: (g: Keras2Graph, x: string) => string): Promise<string> {
    const size = 32;
    const base = mobileNetV2(size, 0.35, 0, 4, 'mobilenetv2_0.35_32');
    const outer = new Keras2Graph('transfer', 5);
    const x0 = ops(outer, outer.input('input_2', [size, size, 3]));
    const baseConfig = base.config(base.output) as { config: Record<string, Json> };
    outer.layers.push({ class_name: 'Functional', config: baseConfig.config, name: base.name, inbound_nodes: [[[x0, 0, 0, { training: false }]]] });
    const pooled = outer.layer('GlobalAveragePooling2D', 'global_average_pooling2d', { data_format: 'channels_last', keepdims: false }, [base.name], [1, 1, base.shape(base.output)[2]], [], 1);
    const file = path.join(root.path, `${name}.h5`);
    await writeLegacyH5(file, outer.config(outer.dense(pooled, 'dense', 2, 'softmax')), [{ name: base.name, weights: base.weights.flatMap((l) => l.weights) }, ...outer.weights], { kerasVersion: '2.15.0' });
    return file;
  }

  it('x / 127.5 − 1 (TFOpLambda truediv, subtract) before the trunk maps 0–255 onto [−1, 1]: raw, not the trunk\'s signed a second time', async () => {
    const file = await transfer('tutorial', (g, x) => g.tfOp(g.tfOp(x, 'math.truediv', 127.5), 'math.subtract', 1));
    const prepared = await prepareModel(file);
    expect(prepared.info.preprocess).toBe('raw');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed: the model rescales its input itself');
  }, 120_000);

  it('without it, the trunk\'s own preprocessing: signed', async () => {
    const prepared = await prepareModel(await transfer('trunk-only', (_g, x) => x));
    expect(prepared.info.preprocess).toBe('signed');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed from the nested keras.applications trunk \'mobilenetv2_0.35_32\'');
  }, 120_000);

  it('augmentation first (a nested Sequential of RandomFlip and RandomRotation), then Rescaling(1/127.5, −1): raw', async () => {
    const file = await transfer('augmented', (g, x) => {
      g.layers.push({
        class_name: 'Sequential', name: 'data_augmentation', inbound_nodes: [[[x, 0, 0, {}]]],
        config: {
          name: 'data_augmentation', layers: [
            { class_name: 'InputLayer', config: { batch_input_shape: [null, 32, 32, 3], dtype: 'float32', sparse: false, ragged: false, name: 'aug_input' } },
            { class_name: 'RandomFlip', config: { name: 'random_flip', trainable: true, dtype: 'float32', mode: 'horizontal', seed: null } },
            { class_name: 'RandomRotation', config: { name: 'random_rotation', trainable: true, dtype: 'float32', factor: 0.2, fill_mode: 'reflect', interpolation: 'bilinear', seed: null, fill_value: 0 } },
          ],
        },
      });
      g.setShape('data_augmentation', [32, 32, 3]);
      return g.layer('Rescaling', 'rescaling', { scale: 1 / 127.5, offset: -1 }, ['data_augmentation'], [32, 32, 3], [], 1);
    });
    expect((await prepareModel(file)).info.preprocess).toBe('raw');
  }, 120_000);
});

describe('a Lambda of a keras.applications preprocess_input (Lambda(preprocess_input) before a trunk)', () => {
  /** The model's scores, and the same worked here: Flatten, then the Dense `model` writes (kernel sin(i), bias 0) over f(x). */
  async function scores(file: string, f: (v: number, channel: number) => number): Promise<{ got: number[]; want: number[] }> {
    const x = Float32Array.from({ length: H * W * C }, (_, i) => (i * 37) % 256);
    const loaded = await loadClassifier(file);
    try {
      const got = Array.from(tf.tidy(() => (loaded.model.predict(tf.tensor4d(x, [1, H, W, C])) as tf.Tensor).dataSync()));
      const want = Array.from({ length: CLASSES }, (_, j) => x.reduce((sum, v, i) => sum + Math.sin(i * CLASSES + j) * f(v, i % C), 0));
      return { got, want };
    } finally {
      loaded.model.dispose();
    }
  }
  const keras3 = (app: string): Json => k3Layer('Lambda', 'pre', {
    function: { module: `keras.src.applications.${app}`, class_name: 'function', config: 'preprocess_input', registered_name: 'preprocess_input' }, arguments: {},
  });

  it('Keras 3, MobileNetV2\'s (mode tf): x / 127.5 − 1, and the model is guessed to take raw pixels', async () => {
    const file = await model('lambda_mnv2', keras3('mobilenet_v2'));
    const { got, want } = await scores(file, (v) => v / 127.5 - 1);
    got.forEach((g, j) => expect(g).toBeCloseTo(want[j], 3));
    expect((await prepareModel(file)).info.preprocess).toBe('raw');
  }, 60_000);

  it('Keras 3, DenseNet\'s (mode torch): (x / 255 − ImageNet mean) / std per channel', async () => {
    const [mean, std] = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]];
    const { got, want } = await scores(await model('lambda_densenet', keras3('densenet')), (v, c) => (v / 255 - mean[c]) / std[c]);
    got.forEach((g, j) => expect(g).toBeCloseTo(want[j], 3));
  }, 60_000);

  it.skipIf(noPython !== null)('Keras 2 (the function marshalled, its module beside it): the same x / 127.5 − 1', async () => {
    // As Keras 2's Lambda.get_config writes a function: base64 of marshal.dumps(code), its defaults, its closure.
    const code = execFileSync(PYTHON, ['-c', 'import base64, marshal\ndef preprocess_input(x, data_format=None):\n    return x\nprint(base64.b64encode(marshal.dumps(preprocess_input.__code__)).decode())'], { encoding: 'utf8' }).trim();
    const file = path.join(root.path, 'lambda_keras2.h5');
    const config: Json = {
      class_name: 'Sequential',
      config: {
        name: 'k2', layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, H, W, C], dtype: 'float32', name: 'in' } },
          { class_name: 'Lambda', config: { name: 'lambda', trainable: true, dtype: 'float32', function: [code, [null], null], function_type: 'lambda', module: 'keras.applications.mobilenet_v2', output_shape: null, output_shape_type: 'raw', output_shape_module: null, arguments: {} } },
          { class_name: 'Flatten', config: { name: 'flat', dtype: 'float32' } },
          { class_name: 'Dense', config: { name: 'out', units: CLASSES, activation: 'linear', use_bias: true, dtype: 'float32' } },
        ],
      },
    };
    const kernel = Float32Array.from({ length: H * W * C * CLASSES }, (_, i) => Math.sin(i));
    await writeLegacyH5(file, config, [{ name: 'lambda', weights: [] }, { name: 'out', weights: [{ name: 'out/kernel:0', shape: [H * W * C, CLASSES], values: kernel }, { name: 'out/bias:0', shape: [CLASSES], values: new Float32Array(CLASSES) }] }], { kerasVersion: '2.15.0' });
    const { got, want } = await scores(file, (v) => v / 127.5 - 1);
    got.forEach((g, j) => expect(g).toBeCloseTo(want[j], 3));
  }, 60_000);

  it('ResNet50\'s (Caffe\'s BGR, mean subtracted) is refused saying to open the model without it with --preprocess caffe; any other Lambda keeps its refusal', async () => {
    const resnet = await prepareModel(await model('lambda_resnet', keras3('resnet50'))).then(() => null, (e: unknown) => e as Error);
    expect(resnet?.message).toMatch(/layer "pre" \(Lambda\): a Lambda of keras\.applications\.resnet50's preprocess_input \(Caffe's BGR with the ImageNet mean subtracted\), which Convmap does not rebuild: export the model without the Lambda and open it with --preprocess caffe$/);
    const lambda = k3Layer('Lambda', 'pre', { function: { class_name: '__lambda__', config: { code: 'YWJj', defaults: null, closure: null } }, arguments: {} });
    const other = await prepareModel(await model('lambda_other', lambda)).then(() => null, (e: unknown) => e as Error);
    expect(other?.message).toMatch(/layer "pre" \(Lambda\): a Lambda layer holds Python code/);
  }, 60_000);
});
