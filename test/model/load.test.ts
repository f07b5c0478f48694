import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { ModelError } from '../../main/model/errors';
import { loadClassifier, resolveModelJson } from '../../main/model/load';
import { modelToArtifacts } from '../../main/model/artifacts';
import { maxPredictionDiff, randomImage, randomizeWeights, useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { trackModels } from '../helpers/tracked';

beforeAll(useWasm);
const root = tempDir('convmap-load-');
const { track } = trackModels();

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function weightBytes(artifacts: tf.io.ModelArtifacts): Buffer {
  const data = artifacts.weightData;
  if (data === undefined) return Buffer.alloc(0);
  const parts = Array.isArray(data) ? data : [data];
  return Buffer.concat(parts.map((b) => Buffer.from(b)));
}

async function refusal(target: string): Promise<ModelError> {
  try {
    await loadClassifier(target);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    return e as ModelError;
  }
  throw new Error(`${target} loaded but should have been refused`);
}

/** A small tfjs model and its artifacts, to be written to disk in various layouts. */
async function smallModel(seed: number): Promise<{ model: tf.LayersModel; artifacts: tf.io.ModelArtifacts; bytes: Buffer }> {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [8, 8, 1], activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 5, activation: 'relu' }),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
  randomizeWeights(model, seed);
  track(model);
  const artifacts = await modelToArtifacts(model);
  return { model, artifacts, bytes: weightBytes(artifacts) };
}

/** The loaded copy of smallModel computes exactly what the original does, on an 8×8 image drawn from `seed`. */
function expectSamePredictions(loaded: tf.LayersModel, model: tf.LayersModel, seed: number): void {
  const x = randomImage(8, 8, 1, seed);
  expect(maxPredictionDiff(loaded, model, x)).toBe(0);
  x.dispose();
}

function modelJson(artifacts: tf.io.ModelArtifacts, weightsManifest: Json): string {
  return JSON.stringify({ format: 'layers-model', modelTopology: artifacts.modelTopology as Json, weightsManifest });
}

// ---- Keras 3 topology, as tensorflowjs_converter writes it from a Keras 3 model --------------------

const DTYPE: Json = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const init = (cls: string, config: Json = {}): Json => ({ module: 'keras.initializers', class_name: cls, config, registered_name: null });
const kt = (layer: string, shape: (number | null)[]): Json => ({
  class_name: '__keras_tensor__',
  config: { shape, dtype: 'float32', keras_history: [layer, 0, 0] },
});

function keras3Layer(className: string, name: string, config: Record<string, Json>, args: Json[] | null, kwargs: Json = {}): Json {
  return {
    module: 'keras.layers',
    class_name: className,
    config: { name, trainable: true, dtype: DTYPE, ...config },
    registered_name: null,
    build_config: { input_shape: [null, 16, 16, 3] },
    name,
    inbound_nodes: args === null ? [] : [{ args, kwargs }],
  };
}

function keras3Conv(name: string, filters: number, activation: string): Record<string, Json> {
  return {
    filters, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1,
    activation, use_bias: true, kernel_initializer: init('GlorotUniform', { seed: null }), bias_initializer: init('Zeros'),
    kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
  };
}

function keras3Functional(): Json {
  const input: Json = {
    module: 'keras.layers', class_name: 'InputLayer', registered_name: null, name: 'input_layer', inbound_nodes: [],
    config: { batch_shape: [null, 16, 16, 3], dtype: 'float32', sparse: false, name: 'input_layer' },
  };
  return {
    class_name: 'Functional',
    config: {
      name: 'functional',
      trainable: true,
      layers: [
        input,
        keras3Layer('RandomFlip', 'random_flip', { mode: 'horizontal', seed: null, data_format: 'channels_last' }, [kt('input_layer', [null, 16, 16, 3])], { training: false }),
        keras3Layer('Rescaling', 'rescaling', { scale: 1 / 255, offset: 0 }, [kt('random_flip', [null, 16, 16, 3])]),
        keras3Layer('Conv2D', 'conv', keras3Conv('conv', 4, 'relu'), [kt('rescaling', [null, 16, 16, 3])]),
        keras3Layer('Conv2D', 'conv_b', keras3Conv('conv_b', 4, 'linear'), [kt('conv', [null, 14, 14, 4])]),
        keras3Layer('Cropping2D', 'crop', { cropping: [[1, 1], [1, 1]], data_format: 'channels_last' }, [kt('conv', [null, 14, 14, 4])]),
        keras3Layer('Add', 'add', {}, [[kt('conv_b', [null, 12, 12, 4]), kt('crop', [null, 12, 12, 4])]]),
        keras3Layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }, [kt('add', [null, 12, 12, 4])]),
        keras3Layer('Dense', 'dense', {
          units: 3, activation: 'softmax', use_bias: true, kernel_initializer: init('GlorotUniform', { seed: null }), bias_initializer: init('Zeros'),
          kernel_regularizer: null, bias_regularizer: null, kernel_constraint: null, bias_constraint: null,
        }, [kt('gap', [null, 4])]),
      ],
      input_layers: ['input_layer', 0, 0],
      output_layers: [['dense', 0, 0]],
    },
  };
}

/** The same network built with tfjs, layer names matching the Keras 3 file (weights are matched by name). */
function tfjsTwin(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  const scaled = tf.layers.rescaling({ scale: 1 / 255, offset: 0, name: 'rescaling' }).apply(input) as tf.SymbolicTensor;
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'conv' }).apply(scaled) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv_b' }).apply(a) as tf.SymbolicTensor;
  const crop = tf.layers.cropping2D({ cropping: [[1, 1], [1, 1]], name: 'crop' }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'add' }).apply([b, crop]) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(sum) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'dense' }).apply(gap) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('loadClassifier: Keras 3 topologies', () => {
  it('loads a Keras 3 Functional model (batch_shape, DTypePolicy, __keras_tensor__ nodes, RandomFlip) and predicts like its tfjs twin', async () => {
    const twin = tfjsTwin();
    track(twin);
    randomizeWeights(twin, 100);
    const artifacts = await modelToArtifacts(twin);
    const dir = await root.folder('keras3_functional', {
      'model.json': JSON.stringify({
        format: 'layers-model',
        generatedBy: 'keras v3.5.0',
        convertedBy: 'TensorFlow.js Converter v4.22.0',
        modelTopology: { class_name: 'Functional', config: (keras3Functional() as { config: Json }).config, keras_version: '3.5.0', backend: 'tensorflow' },
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs as unknown as Json }],
      }),
      'group1-shard1of1.bin': weightBytes(artifacts),
    });
    const loaded = await loadClassifier(dir);
    track(loaded.model);
    expect(loaded.file).toBe(path.join(dir, 'model.json'));
    expect(loaded.labels).toBeNull();
    expect(loaded.model.layers.map((l) => l.getClassName())).toContain('Rescaling');
    const x = tf.mul(randomImage(16, 16, 3, 101), 255);
    expect(maxPredictionDiff(loaded.model, twin, x)).toBeLessThan(1e-6);
    x.dispose();

    const c = convertClassifier(loaded.model, loaded.file);
    track(c.fcn);
    expect(c.stride).toEqual([1, 1]);
    expect(c.padding).toBe('valid');
    expect((await checkEquivalence(loaded.model, c, loaded.file)).exact).toBe(true);
  });

  it('loads a Keras 3 Sequential model with an InputLayer entry and model_config wrapper', async () => {
    const twin = tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [6, 6, 1], name: 'c' }),
        tf.layers.flatten({ name: 'f' }),
        tf.layers.dense({ units: 3, name: 'd' }),
      ],
    });
    track(twin);
    randomizeWeights(twin, 110);
    const artifacts = await modelToArtifacts(twin);
    const layer = (cls: string, name: string, config: Record<string, Json>): Json => ({
      module: 'keras.layers', class_name: cls, registered_name: null, build_config: { input_shape: null },
      config: { name, trainable: true, dtype: DTYPE, ...config },
    });
    const topology: Json = {
      model_config: {
        class_name: 'Sequential',
        config: {
          name: 'sequential', trainable: true, dtype: DTYPE,
          layers: [
            { module: 'keras.layers', class_name: 'InputLayer', registered_name: null, config: { batch_shape: [null, 6, 6, 1], dtype: 'float32', sparse: false, name: 'input_layer' } },
            layer('Conv2D', 'c', keras3Conv('c', 2, 'linear')),
            layer('Flatten', 'f', { data_format: 'channels_last' }),
            layer('Dense', 'd', { units: 3, activation: 'linear', use_bias: true, kernel_initializer: init('GlorotUniform', { seed: null }), bias_initializer: init('Zeros') }),
          ],
          build_input_shape: [null, 6, 6, 1],
        },
      },
      training_config: { loss: 'categorical_crossentropy' },
    };
    const dir = await root.folder('keras3_sequential', {
      'model.json': JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [{ paths: ['w.bin'], weights: artifacts.weightSpecs as unknown as Json }] }),
      'w.bin': weightBytes(artifacts),
    });
    const loaded = await loadClassifier(dir);
    track(loaded.model);
    const x = randomImage(6, 6, 1, 111);
    expect(maxPredictionDiff(loaded.model, twin, x)).toBeLessThan(1e-6);
    x.dispose();
  });
});

describe('loadClassifier: files on disk', () => {
  it('finds a browser-saved my-model.json in a folder, skipping other JSON files', async () => {
    const { model, artifacts, bytes } = await smallModel(120);
    const dir = await root.folder('browser', {
      'a-settings.json': JSON.stringify({ theme: 'dark' }),
      'my-model.json': modelJson(artifacts, [{ paths: ['./my-model.weights.bin'], weights: artifacts.weightSpecs as unknown as Json }]),
      'my-model.weights.bin': bytes,
    });
    expect(await resolveModelJson(dir)).toBe(path.join(dir, 'my-model.json'));
    const loaded = await loadClassifier(dir);
    track(loaded.model);
    expectSamePredictions(loaded.model, model, 121);
  });

  it('reads several weight groups whose shards have no .bin and split weights mid-tensor', async () => {
    const { model, artifacts, bytes } = await smallModel(130);
    const specs = artifacts.weightSpecs ?? [];
    const size = (s: tf.io.WeightsManifestEntry): number => s.shape.reduce((a, b) => a * b, 1) * 4;
    const firstBytes = size(specs[0]) + size(specs[1]);
    const g1 = bytes.subarray(0, firstBytes);
    const g2 = bytes.subarray(firstBytes);
    const cut = Math.floor(g2.length / 3) + 1; // not on a 4-byte boundary
    const dir = await root.folder('multigroup', {
      'model.json': modelJson(artifacts, [
        { paths: ['group1-shard1of1'], weights: specs.slice(0, 2) as unknown as Json },
        { paths: ['group2-shard1of2', 'group2-shard2of2'], weights: specs.slice(2) as unknown as Json },
      ]),
      'group1-shard1of1': g1,
      'group2-shard1of2': g2.subarray(0, cut),
      'group2-shard2of2': g2.subarray(cut),
      'labels.txt': 'cat\r\ndog\n\n',
    });
    const loaded = await loadClassifier(path.join(dir, 'model.json'));
    track(loaded.model);
    expect(loaded.labels).toEqual(['cat', 'dog']);
    expect(loaded.teachableMachine).toBe(false);
    expectSamePredictions(loaded.model, model, 131);
  });

  it('reads Teachable Machine labels from metadata.json', async () => {
    const { artifacts, bytes } = await smallModel(140);
    const dir = await root.folder('tm', {
      'model.json': modelJson(artifacts, [{ paths: ['weights.bin'], weights: artifacts.weightSpecs as unknown as Json }]),
      'weights.bin': bytes,
      'metadata.json': JSON.stringify({ tfjsVersion: '1.3.1', tmVersion: '2.4.4', labels: ['paper', 'glass'] }),
    });
    const loaded = await loadClassifier(dir);
    track(loaded.model);
    expect(loaded.labels).toEqual(['paper', 'glass']);
    expect(loaded.teachableMachine).toBe(true);
  });

  it('loads a pre-1.0 tfjs file: no format key, Sequential config as a plain list', async () => {
    const { model, artifacts, bytes } = await smallModel(150);
    const topo = artifacts.modelTopology as { class_name: string; config: { layers: Json[] } };
    const dir = await root.folder('old', {
      'model.json': JSON.stringify({
        modelTopology: { keras_version: '2.1.4', backend: 'tensorflow', model_config: { class_name: 'Sequential', config: topo.config.layers } },
        weightsManifest: [{ paths: ['group1-shard1of1'], weights: artifacts.weightSpecs as unknown as Json }],
      }),
      'group1-shard1of1': bytes,
    });
    const loaded = await loadClassifier(dir);
    track(loaded.model);
    expectSamePredictions(loaded.model, model, 151);
  });

  it('names the missing shard and the model.json when a weight file is absent', async () => {
    const { artifacts } = await smallModel(160);
    const dir = await root.folder('missing', {
      'model.json': modelJson(artifacts, [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs as unknown as Json }]),
    });
    const err = await refusal(dir);
    expect(err.file).toBe(path.join(dir, 'model.json'));
    expect(err.message).toContain('weight file "group1-shard1of1.bin" is missing');
    expect(err.message).toContain(path.join(dir, 'group1-shard1of1.bin'));
  });

  it('names the shard when it is truncated', async () => {
    const { artifacts, bytes } = await smallModel(170);
    const dir = await root.folder('truncated', {
      'model.json': modelJson(artifacts, [{ paths: ['weights.bin'], weights: artifacts.weightSpecs as unknown as Json }]),
      'weights.bin': bytes.subarray(0, bytes.length - 10),
    });
    const err = await refusal(dir);
    expect(err.message).toContain(`${path.join(dir, 'model.json')}: weight files weights.bin hold ${bytes.length - 10} bytes`);
    expect(err.message).toContain(`needs ${bytes.length}`);
    expect(err.message).toContain('truncated');
  });

  it('refuses a graph model, saying what is accepted', async () => {
    const dir = await root.folder('graph', {
      'model.json': JSON.stringify({ format: 'graph-model', modelTopology: { node: [{ name: 'x', op: 'Placeholder' }], versions: {} }, weightsManifest: [] }),
    });
    const err = await refusal(dir);
    expect(err.message).toContain('graph model');
    expect(err.message).toContain('layers-model');
  });

  it('refuses damaged Keras HDF5 and .keras files with a clear message, not binary garbage (good ones: keras.test.ts)', async () => {
    const dir = await root.folder('keras_native', {
      'model.h5': Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 0xff)]),
      'model.keras': Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(32, 0xfe)]),
    });
    const h5 = await refusal(path.join(dir, 'model.h5'));
    expect(h5.message.startsWith(`${path.join(dir, 'model.h5')}: the file cannot be read as HDF5`)).toBe(true);
    expect(h5.message).not.toContain('\n');
    const zip = await refusal(path.join(dir, 'model.keras'));
    expect(zip.message).toContain('is not a readable zip archive');
  });

  it('refuses a missing path, a folder without a model and a broken JSON, naming them', async () => {
    const nowhere = path.join(root.path, 'nowhere');
    expect((await refusal(nowhere)).message).toBe(`${nowhere}: no such file or folder`);
    const empty = await root.folder('empty', { 'notes.json': '{"a": 1}' });
    expect((await refusal(empty)).message).toContain(`${empty}: folder holds no model.json`);
    const broken = await root.folder('broken', { 'model.json': '{"modelTopology": ' });
    expect((await refusal(broken)).message).toContain(`${path.join(broken, 'model.json')}: is not valid JSON`);
    const notLayers = await root.folder('not_layers', { 'model.json': '{"weightsManifest": []}' });
    expect((await refusal(notLayers)).message).toContain('has no "modelTopology"');
  });
});
