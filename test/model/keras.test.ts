import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { ModelError } from '../../main/model/errors';
import { kerasSnakeCase } from '../../main/model/keras';
import { loadClassifier, readModelArtifacts, resolveModelJson } from '../../main/model/load';
import {
  DTYPE,
  type H5Weight,
  type Json,
  k3BatchNorm,
  k3Conv,
  k3Dense,
  k3Input,
  k3Layer,
  k3MaxPool,
  k3Sequential,
  kerasZip,
  kt,
  layerArrays,
  referenceForward,
  referenceUnavailable,
  writeKeras3Weights,
  writeKerasArchive,
  writeLegacyH5,
} from '../helpers/keras';
import { maxPredictionDiff, randomImage, randomizeWeights, useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { trackModels } from '../helpers/tracked';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const corpusH5 = path.resolve(repoRoot, '../shared/corpus/models/quickdraw100_aniketdogra.h5');

beforeAll(useWasm);
const root = tempDir('convmap-keras-test-');
const { track } = trackModels();

async function refusal(target: string): Promise<ModelError> {
  try {
    const loaded = await loadClassifier(target);
    loaded.model.dispose();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    const message = (e as ModelError).message;
    // One readable line that names the file first.
    expect(message.startsWith(`${target}: `)).toBe(true);
    expect(message).toMatch(/^[\x20-\x7e×→…]+$/);
    return e as ModelError;
  }
  throw new Error(`${target} loaded but should have been refused`);
}

// ---- (1) the real Keras 2.2.5 file against an independent numpy forward pass ------------------------------

/** Seeded inputs in [0, 1]: noise, and stroke-like images (lines on a blank canvas) as QuickDraw has. */
function quickdrawInputs(): tf.Tensor4D {
  return tf.tidy(() => {
    const noise = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 7);
    const strokes = Array.from({ length: 3 }, (_, k) => {
      const px = new Float32Array(28 * 28);
      for (let t = 0; t < 28; t++) {
        px[(4 + ((t * (k + 1)) % 20)) * 28 + t] = 1;
        px[t * 28 + ((7 * k + 10) % 28)] = 1;
      }
      return tf.tensor4d(px, [1, 28, 28, 1]);
    });
    return tf.concat([noise, ...strokes], 0) as tf.Tensor4D;
  });
}

const whyNoReference = referenceUnavailable();
if (whyNoReference) console.warn(`Keras HDF5 numpy reference skipped: ${whyNoReference}`);
if (!existsSync(corpusH5)) console.warn(`Keras HDF5 corpus test skipped: ${corpusH5} is absent`);

describe.skipIf(!existsSync(corpusH5))('a real Keras 2.2.5 HDF5 file (quickdraw100_aniketdogra.h5)', () => {
  it.skipIf(whyNoReference !== null)('loads, predicts like a numpy forward pass read with h5py, and its fully convolutional form matches on 28×28 inputs', async () => {
    const loaded = await loadClassifier(corpusH5);
    track(loaded.model);
    expect(loaded.file).toBe(corpusH5);
    expect(loaded.model.inputs[0].shape).toEqual([null, 28, 28, 1]);
    const x = quickdrawInputs();
    const reference = referenceForward(corpusH5, { shape: x.shape, data: x.dataSync() as Float32Array });
    expect(reference.shape).toEqual([6, 100]);
    const ours = tf.tidy(() => (loaded.model.predict(x) as tf.Tensor).dataSync() as Float32Array);
    let maxAbs = 0;
    for (let i = 0; i < ours.length; i++) maxAbs = Math.max(maxAbs, Math.abs(ours[i] - reference.data[i]));
    expect(maxAbs).toBeLessThan(1e-5);
    // The inputs are not all classified alike (the check is not passing on a constant output).
    const argmax = (row: number, data: ArrayLike<number>): number => {
      let best = 0;
      for (let j = 1; j < 100; j++) if (data[row * 100 + j] > data[row * 100 + best]) best = j;
      return best;
    };
    expect(new Set([0, 1, 2, 3, 4, 5].map((r) => argmax(r, reference.data))).size).toBeGreaterThan(1);

    const c = convertClassifier(loaded.model, loaded.file);
    track(c.fcn);
    expect({ window: c.window, stride: c.stride, padding: c.padding, classes: c.classes }).toEqual({ window: [28, 28], stride: [8, 8], padding: 'mixed', classes: 100 });
    // On a window-sized input the one cell is the whole crop: 'same' padding sees the same zeros.
    const cells = tf.tidy(() => (c.fcn.predict(x) as tf.Tensor).dataSync() as Float32Array);
    let cellDiff = 0;
    for (let i = 0; i < cells.length; i++) cellDiff = Math.max(cellDiff, Math.abs(cells[i] - reference.data[i]));
    expect(cellDiff).toBeLessThan(1e-5);
    const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 2 });
    expect(report.exact).toBe(false);
    expect(report.note).toMatch(/pad with zeros/);
    x.dispose();
  });

  it('reads into tfjs ModelArtifacts that tfjs loads back to the same model', async () => {
    const loaded = await loadClassifier(corpusH5);
    track(loaded.model);
    const artifacts = await readModelArtifacts(corpusH5);
    const again = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    track(again);
    const x = quickdrawInputs();
    expect(maxPredictionDiff(loaded.model, again, x)).toBe(0);
    x.dispose();
  });
});

// ---- (2) Keras 3 files built from the documented layouts -------------------------------------------------

/**
 * The test network in tfjs: Rescaling → nested Sequential (Conv2D, BatchNormalization, MaxPooling2D,
 * Conv2D, BatchNormalization without beta, ReLU) → GlobalAveragePooling2D → Dense → Dense softmax.
 */
function functionalTwin(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [20, 20, 3], name: 'image' });
  const scaled = tf.layers.rescaling({ scale: 1 / 255, offset: 0, name: 'rescaling' }).apply(input) as tf.SymbolicTensor;
  const trunk = tf.sequential({
    name: 'trunk',
    layers: [
      tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', inputShape: [20, 20, 3], name: 'c1' }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, name: 'c2' }),
      tf.layers.batchNormalization({ center: false, name: 'bn2' }),
      tf.layers.activation({ activation: 'relu', name: 'act' }),
    ],
  });
  const features = trunk.apply(scaled) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(features) as tf.SymbolicTensor;
  const hidden = tf.layers.dense({ units: 8, activation: 'relu', name: 'fc' }).apply(pooled) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, activation: 'softmax', name: 'logits' }).apply(hidden) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: 'functional' });
  randomizeWeights(model, seed);
  track(model);
  return model;
}

/** The same network's config.json as Keras 3 writes it (module/registered_name, DTypePolicy, batch_shape, keras tensors). */
function functionalConfig(extra: Json[] = []): Json {
  const trunk = k3Sequential('trunk', [null, 20, 20, 3], [
    k3Layer('Conv2D', 'c1', k3Conv(6, 3, 'relu')),
    k3Layer('BatchNormalization', 'bn1', k3BatchNorm()),
    k3Layer('MaxPooling2D', 'pool', k3MaxPool(2)),
    k3Layer('Conv2D', 'c2', k3Conv(8, 3, 'linear')),
    k3Layer('BatchNormalization', 'bn2', k3BatchNorm({ center: false })),
    k3Layer('Activation', 'act', { activation: 'relu' }),
    ...extra,
  ], [kt('rescaling', [null, 20, 20, 3])]);
  return {
    module: 'keras',
    class_name: 'Functional',
    config: {
      name: 'functional',
      trainable: true,
      layers: [
        k3Input('image', [null, 20, 20, 3]),
        k3Layer('RandomFlip', 'flip', { mode: 'horizontal', seed: null, data_format: 'channels_last' }, [kt('image', [null, 20, 20, 3])]),
        k3Layer('Rescaling', 'rescaling', { scale: 1 / 255, offset: 0 }, [kt('flip', [null, 20, 20, 3])]),
        trunk,
        k3Layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }, [kt('trunk', [null, 7, 7, 8])]),
        k3Layer('Dense', 'fc', k3Dense(8, 'relu'), [kt('gap', [null, 8])]),
        k3Layer('Dense', 'logits', k3Dense(5, 'softmax'), [kt('fc', [null, 8])]),
      ],
      input_layers: ['image', 0, 0],
      output_layers: ['logits', 0, 0],
    },
    registered_name: 'Functional',
    build_config: { input_shape: null },
    compile_config: { optimizer: 'adam', loss: 'categorical_crossentropy' },
  };
}

function trunkOf(model: tf.LayersModel): tf.LayersModel {
  return model.getLayer('trunk') as tf.LayersModel;
}

/**
 * The `.keras` weights of the functional network, written by hand from Keras 3's saving_lib rule:
 * a container's layers are addressed by snake_case class name, numbered per class (`conv2d`,
 * `conv2d_1`), each with vars/0, 1, … in the layer's own order (trainable first).
 */
function functionalVars(twin: tf.LayersModel): Record<string, { shape: number[]; values: Float32Array }[]> {
  const trunk = trunkOf(twin);
  const s = (name: string) => layerArrays(trunk.getLayer(name));
  return {
    'layers/input_layer': [],
    'layers/random_flip': [],
    'layers/random_flip/seed_generator': [{ shape: [2], values: new Float32Array([0, 1337]) }],
    'layers/rescaling': [],
    'layers/sequential': [],
    'layers/sequential/layers/conv2d': s('c1'),
    'layers/sequential/layers/batch_normalization': s('bn1'),
    'layers/sequential/layers/max_pooling2d': [],
    'layers/sequential/layers/conv2d_1': s('c2'),
    'layers/sequential/layers/batch_normalization_1': s('bn2'),
    'layers/sequential/layers/activation': [],
    'layers/global_average_pooling2d': [],
    'layers/dense': layerArrays(twin.getLayer('fc')),
    'layers/dense_1': layerArrays(twin.getLayer('logits')),
  };
}

/**
 * The legacy-.h5 weights of the functional network: one group per top-level layer; a nested
 * model's group lists all its sublayers' trainable weights, then all their non-trainable ones.
 */
function functionalLegacyWeights(twin: tf.LayersModel): { name: string; weights: H5Weight[] }[] {
  const trunk = trunkOf(twin);
  const named = (layer: string, names: string[], prefix = ''): H5Weight[] =>
    layerArrays(trunk.getLayer(layer)).map((w, i) => ({ ...w, name: `${prefix}${layer}/${names[i]}` }));
  const [c1k, c1b] = named('c1', ['kernel', 'bias'], 'trunk/');
  const [g1, b1, m1, v1] = named('bn1', ['gamma', 'beta', 'moving_mean', 'moving_variance'], 'trunk/');
  const [c2k, c2b] = named('c2', ['kernel', 'bias'], 'trunk/');
  const [g2, m2, v2] = named('bn2', ['gamma', 'moving_mean', 'moving_variance'], 'trunk/');
  const dense = (name: string): H5Weight[] => layerArrays(twin.getLayer(name)).map((w, i) => ({ ...w, name: `${name}/${['kernel', 'bias'][i]}` }));
  return [
    { name: 'image', weights: [] },
    { name: 'flip', weights: [] },
    { name: 'rescaling', weights: [] },
    { name: 'trunk', weights: [c1k, c1b, g1, b1, c2k, c2b, g2, m1, v1, m2, v2] },
    { name: 'gap', weights: [] },
    { name: 'fc', weights: dense('fc') },
    { name: 'logits', weights: dense('logits') },
  ];
}

/** Checks a loaded Keras file against its tfjs twin and that it converts with exact equivalence. */
async function expectTwinAndExact(file: string, twin: tf.LayersModel, inputShape: [number, number, number], expected: { window: number[]; stride: number[] }): Promise<void> {
  const loaded = await loadClassifier(file);
  track(loaded.model);
  expect(loaded.file).toBe(file);
  const x = tf.mul(randomImage(...inputShape, 301), 255) as tf.Tensor4D;
  const scale = tf.tidy(() => tf.abs(twin.predict(x) as tf.Tensor).max().dataSync()[0]);
  expect(scale).toBeGreaterThan(0);
  expect(maxPredictionDiff(loaded.model, twin, x)).toBeLessThan(1e-6);
  x.dispose();
  const c = convertClassifier(loaded.model, loaded.file);
  track(c.fcn);
  expect({ window: c.window, stride: c.stride, padding: c.padding }).toEqual({ ...expected, padding: 'valid' });
  const report = await checkEquivalence(loaded.model, c, loaded.file);
  expect(report.exact).toBe(true);
  expect(report.maxRelDiff).toBeLessThanOrEqual(1e-4);
}

describe('Keras 3 files built from the documented layouts', () => {
  it("names layers in model.weights.h5 the way Keras' to_snake_case does", () => {
    expect(['Conv2D', 'BatchNormalization', 'GlobalAveragePooling2D', 'DepthwiseConv2D', 'ReLU', 'Dense', 'Sequential', 'InputLayer'].map(kerasSnakeCase))
      .toEqual(['conv2d', 'batch_normalization', 'global_average_pooling2d', 'depthwise_conv2d', 're_lu', 'dense', 'sequential', 'input_layer']);
  });

  it('.keras (Functional, nested Sequential, BatchNormalization with and without beta, Rescaling, RandomFlip, GAP head) loads, predicts like its twin and converts exactly', async () => {
    const twin = functionalTwin(200);
    const file = path.join(root.path, 'functional.keras');
    await writeKerasArchive(file, functionalConfig(), functionalVars(twin));
    await expectTwinAndExact(file, twin, [20, 20, 3], { window: [20, 20], stride: [2, 2] });
  });

  it('Keras-3-legacy .h5 of the same network (model_config with batch_shape and DTypePolicy, model_weights groups) loads and converts exactly', async () => {
    const twin = functionalTwin(210);
    const file = path.join(root.path, 'functional_legacy.h5');
    await writeLegacyH5(file, functionalConfig(), functionalLegacyWeights(twin));
    await expectTwinAndExact(file, twin, [20, 20, 3], { window: [20, 20], stride: [2, 2] });

    // Nested weights whose names do not say their sublayer are taken in Keras' flat order.
    const plain = path.join(root.path, 'functional_legacy_plain.h5');
    const layers = functionalLegacyWeights(twin).map((l) => (l.name === 'trunk' ? { ...l, weights: l.weights.map((w, i) => ({ ...w, name: `w${i}` })) } : l));
    await writeLegacyH5(plain, functionalConfig(), layers);
    await expectTwinAndExact(plain, twin, [20, 20, 3], { window: [20, 20], stride: [2, 2] });
  });

  it('.keras with a top-level Sequential (InputLayer entry, Flatten → Dense → Dropout → Dense) loads and converts exactly', async () => {
    const twin = tf.sequential({
      name: 'seq',
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [10, 10, 1], name: 'conv' }),
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 6, activation: 'relu', name: 'hidden' }),
        tf.layers.dropout({ rate: 0.5, name: 'drop' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
      ],
    });
    randomizeWeights(twin, 220);
    track(twin);
    const config = k3Sequential('seq', [null, 10, 10, 1], [
      k3Layer('Conv2D', 'conv', k3Conv(4, 3, 'relu')),
      k3Layer('BatchNormalization', 'bn', k3BatchNorm()),
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'hidden', k3Dense(6, 'relu')),
      k3Layer('Dropout', 'drop', { rate: 0.5, seed: null, noise_shape: null }),
      k3Layer('Dense', 'out', k3Dense(3, 'softmax')),
    ]);
    const file = path.join(root.path, 'sequential.keras');
    await writeKerasArchive(file, config, {
      'layers/conv2d': layerArrays(twin.getLayer('conv')),
      'layers/batch_normalization': layerArrays(twin.getLayer('bn')),
      'layers/dense': layerArrays(twin.getLayer('hidden')),
      'layers/dense_1': layerArrays(twin.getLayer('out')),
    });
    await expectTwinAndExact(file, twin, [10, 10, 1], { window: [10, 10], stride: [1, 1] });

    // A folder holding just this file opens too.
    const dir = path.join(root.path, 'only_keras');
    await fs.mkdir(dir);
    await fs.copyFile(file, path.join(dir, 'model.keras'));
    expect(await resolveModelJson(dir)).toBe(path.join(dir, 'model.keras'));
  });
});

// ---- (3) bad input: one line naming the file and the problem -----------------------------------------------

describe('Keras files that cannot be opened', () => {
  it('a truncated .h5', async () => {
    const twin = functionalTwin(300);
    const whole = path.join(root.path, 'whole.h5');
    await writeLegacyH5(whole, functionalConfig(), functionalLegacyWeights(twin));
    const bytes = await fs.readFile(whole);
    const file = path.join(root.path, 'truncated.h5');
    await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const err = await refusal(file);
    expect(err.message).toContain('truncated');
  });

  it('a .keras zip without config.json, and a .keras that is not a zip at all', async () => {
    const file = path.join(root.path, 'noconfig.keras');
    await fs.writeFile(file, kerasZip({ 'metadata.json': { keras_version: '3.5.0' }, 'model.weights.h5': new Uint8Array(16) }));
    expect((await refusal(file)).message).toContain('without config.json');
    const broken = path.join(root.path, 'broken.keras');
    await fs.writeFile(broken, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(40, 0xfe)]));
    expect((await refusal(broken)).message).toContain('not a readable zip archive');
  });

  it('a weights-only .h5 (Keras 2 save_weights and Keras 3 .weights.h5)', async () => {
    const twin = functionalTwin(310);
    const k2 = path.join(root.path, 'weights_only.h5');
    await writeLegacyH5(k2, null, functionalLegacyWeights(twin), { weightsOnly: true, kerasVersion: '2.15.0' });
    expect((await refusal(k2)).message).toContain('holds weights only');
    const k3 = path.join(root.path, 'model.weights.h5');
    await writeKeras3Weights(k3, functionalVars(twin));
    expect((await refusal(k3)).message).toContain('holds weights only');
  });

  it('a Keras architecture JSON (model.to_json()) with the weights save_weights wrote beside it opens as one model, by either file or the folder (Keras 2 layout, Keras 3 .weights.h5)', async () => {
    const twin = functionalTwin(320);
    const legacy = await root.folder('split-legacy', { 'model.json': JSON.stringify(functionalConfig()) });
    await writeLegacyH5(path.join(legacy, 'model.h5'), null, functionalLegacyWeights(twin), { weightsOnly: true });
    await expectTwinAndExact(path.join(legacy, 'model.h5'), twin, [20, 20, 3], { window: [20, 20], stride: [2, 2] });
    await expectTwinAndExact(path.join(legacy, 'model.json'), twin, [20, 20, 3], { window: [20, 20], stride: [2, 2] });
    const keras3 = await root.folder('split-keras3', { 'architecture.json': JSON.stringify(functionalConfig()) });
    await writeKeras3Weights(path.join(keras3, 'model.weights.h5'), functionalVars(twin));
    await expectTwinAndExact(path.join(keras3, 'model.weights.h5'), twin, [20, 20, 3], { window: [20, 20], stride: [2, 2] });
    const byFolder = await loadClassifier(keras3);
    track(byFolder.model);
    expect(byFolder.model.countParams()).toBe(twin.countParams());
    // Without its weights, the architecture says what is missing.
    const alone = await root.folder('architecture-alone', { 'model.json': JSON.stringify(functionalConfig()) });
    expect((await refusal(path.join(alone, 'model.json'))).message).toBe(`${path.join(alone, 'model.json')}: is a Keras architecture (model.to_json()) without its weights: put the one .h5 file save_weights wrote beside it, or save the whole model with model.save('model.keras') and open that`);
  });

  it('an unknown layer class, named with its layer', async () => {
    const file = path.join(root.path, 'unknown.keras');
    const config = k3Sequential('seq', [null, 8, 8, 1], [
      k3Layer('Conv2D', 'conv', k3Conv(2, 3, 'relu')),
      { module: 'my_project.layers', class_name: 'FancyAttention', config: { name: 'attention', heads: 4, dtype: DTYPE }, registered_name: 'MyProject>FancyAttention' },
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'out', k3Dense(3, 'softmax')),
    ]);
    await writeKerasArchive(file, config, {});
    const err = await refusal(file);
    expect(err.message).toContain('layer "attention" (FancyAttention)');
    expect(err.message).toContain('unknown layer class "FancyAttention"');
  });

  it('weights whose shapes do not fit the architecture, or that are missing', async () => {
    const twin = functionalTwin(320);
    const vars = functionalVars(twin);
    const file = path.join(root.path, 'badshape.keras');
    await writeKerasArchive(file, functionalConfig(), { ...vars, 'layers/dense_1': [{ shape: [8, 4], values: new Float32Array(32) }, { shape: [4], values: new Float32Array(4) }] });
    const err = await refusal(file);
    expect(err.message).toContain('layer "logits" (Dense)');
    expect(err.message).toContain('shape [8, 4] in the file, the layer needs [8, 5]');

    const missing = path.join(root.path, 'missing.keras');
    const { 'layers/sequential/layers/conv2d_1': _dropped, ...rest } = vars;
    await writeKerasArchive(missing, functionalConfig(), rest);
    const err2 = await refusal(missing);
    expect(err2.message).toContain('layer "c2" (Conv2D)');
    expect(err2.message).toContain('layers/sequential/layers/conv2d_1/vars');
  });
});
