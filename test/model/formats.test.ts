import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatReport } from '../../main/cli/report';
import { ModelError } from '../../main/model/errors';
import { readLabelsFile } from '../../main/model/labels';
import { loadClassifier } from '../../main/model/load';
import { prepareModel } from '../../main/services/models';
import { k3Conv, k3Dense, k3Layer, k3Sequential, type Json, writeLegacyH5 } from '../helpers/keras';
import { modelToArtifacts } from '../../main/model/artifacts';
import { maxPredictionDiff, randomImage, randomizeWeights, useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { trackModels } from '../helpers/tracked';

/** Issue 9's loading classes: Keras 3 prefixed weight names (1), Keras 3 config objects (2), quantised weights (5), refusals (7), --labels. */

beforeAll(useWasm);
const root = tempDir('convmap-formats-');
const { track } = trackModels();

async function refusal(target: string): Promise<ModelError> {
  const e = await loadClassifier(target).then((l) => {
    track(l.model);
    return null;
  }, (err: unknown) => err);
  expect(e).toBeInstanceOf(ModelError);
  return e as ModelError;
}

/** A tfjs twin with a nested model, as Keras 3 nests a trunk: weights named `<layer>/<weight>` by tfjs. */
function nestedTwin(seed: number): tf.LayersModel {
  const inner = tf.sequential({
    name: 'trunk_model',
    layers: [
      tf.layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [8, 8, 1], activation: 'relu', name: 'conv2d_33' }),
      tf.layers.batchNormalization({ name: 'batch_normalization_44' }),
    ],
  });
  const model = tf.sequential({
    name: 'sequential_11',
    layers: [inner, tf.layers.flatten({ name: 'flatten' }), tf.layers.dense({ units: 4, activation: 'softmax', name: 'dense_35' })],
  });
  randomizeWeights(model, seed);
  track(model);
  return model;
}

/** The twin's weights under new names (in a new order), as one shard and its manifest entries. */
async function renamedWeights(model: tf.LayersModel, rename: (name: string) => string | null, order: 'same' | 'reversed'): Promise<{ data: Uint8Array; specs: tf.io.WeightsManifestEntry[]; topology: Json }> {
  const artifacts = await modelToArtifacts(model);
  const decoded = tf.io.decodeWeights(artifacts.weightData as ArrayBuffer, artifacts.weightSpecs ?? []);
  let entries = Object.entries(decoded);
  if (order === 'reversed') entries = entries.reverse();
  const named: tf.NamedTensorMap = {};
  for (const [k, v] of entries) {
    const n = rename(k);
    if (n !== null) named[n] = v;
  }
  const { data, specs } = await tf.io.encodeWeights(named);
  tf.dispose(Object.values(decoded));
  return { data: new Uint8Array(data), specs, topology: artifacts.modelTopology as Json };
}

function modelJson(topology: Json, specs: tf.io.WeightsManifestEntry[]): string {
  return JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs as unknown as Json }] });
}

describe('class 1: Keras 3 exports whose weight names carry model-name prefixes', () => {
  it('matches weights prefixed by the model and nested-model names, in any manifest order, and predicts like the twin', async () => {
    const twin = nestedTwin(400);
    const inner = new Set(['conv2d_33', 'batch_normalization_44']);
    const { data, specs, topology } = await renamedWeights(
      twin, (n) => (inner.has(n.split('/')[0]) ? `sequential_11/trunk_model/${n}` : `sequential_11/${n}`), 'reversed',
    );
    expect(specs[0].name).not.toBe(`sequential_11/trunk_model/${twin.weights[0].originalName}`);
    expect(specs.every((sp) => sp.name.startsWith('sequential_11/'))).toBe(true);
    const dir = await root.folder('prefixed', { 'model.json': modelJson(topology, specs), 'group1-shard1of1.bin': data });
    const loaded = await loadClassifier(dir);
    track(loaded.model);
    const x = randomImage(8, 8, 1, 401);
    expect(maxPredictionDiff(loaded.model, twin, x)).toBeLessThan(1e-6);
    x.dispose();
  });

  it('refuses naming the first weight that matches nothing, a weight of the wrong shape, and a weight left unfilled', async () => {
    const twin = nestedTwin(410);
    const extra = await renamedWeights(twin, (n) => (n === 'dense_35/bias' ? 'sequential_11/ghost/bias' : `sequential_11/${n}`), 'same');
    const d1 = await root.folder('unmatched', { 'model.json': modelJson(extra.topology, extra.specs), 'group1-shard1of1.bin': extra.data });
    expect((await refusal(d1)).message).toBe(
      `${path.join(d1, 'model.json')}: weight "sequential_11/ghost/bias" in the weight files matches no weight of the model (model weights are named like "conv2d_33/kernel")`,
    );

    // Two same-shaped BN vectors swapped would pass; a kernel under a bias's name must not.
    const swapped = await renamedWeights(twin, (n) => (n === 'dense_35/bias' ? 'x/conv2d_33/bias_old' : n === 'conv2d_33/bias' ? 'sequential_11/dense_35/bias' : n), 'same');
    const d2 = await root.folder('wrong_shape', { 'model.json': modelJson(swapped.topology, swapped.specs), 'group1-shard1of1.bin': swapped.data });
    expect((await refusal(d2)).message).toBe(
      `${path.join(d2, 'model.json')}: layer "dense_35" (Dense): weight "sequential_11/dense_35/bias" in the weight files has shape [3], but the model's weight "dense_35/bias" has shape [4]`,
    );

    const missing = await renamedWeights(twin, (n) => (n === 'batch_normalization_44/moving_variance' ? null : n), 'same');
    const d3 = await root.folder('missing', { 'model.json': modelJson(missing.topology, missing.specs), 'group1-shard1of1.bin': missing.data });
    expect((await refusal(d3)).message).toBe(
      `${path.join(d3, 'model.json')}: layer "batch_normalization_44" (BatchNormalization): weight "batch_normalization_44/moving_variance" [3] is not in the weight files`,
    );
  });
});

describe('class 2: regularizers, constraints and initializers are dropped while loading', () => {
  const L2: Json = { module: 'keras.regularizers', class_name: 'L2', config: { l2: 0.01 }, registered_name: null };
  const unitNorm: Json = { module: 'keras.constraints', class_name: 'UnitNorm', config: { axis: 0 }, registered_name: null };
  const orthogonal: Json = { module: 'keras.initializers', class_name: 'OrthogonalInitializer', config: { gain: 1, seed: null }, registered_name: null };
  const extras = { kernel_regularizer: L2, bias_regularizer: L2, activity_regularizer: L2, kernel_constraint: unitNorm, kernel_initializer: orthogonal };

  function twin(seed: number): tf.LayersModel {
    const m = tf.sequential({
      name: 'seq',
      layers: [
        tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [6, 6, 1], activation: 'relu', name: 'c' }),
        tf.layers.flatten({ name: 'f' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'd' }),
      ],
    });
    randomizeWeights(m, seed);
    track(m);
    return m;
  }
  const config = (): Json => k3Sequential('seq', [null, 6, 6, 1], [
    k3Layer('Conv2D', 'c', { ...k3Conv(2, 3, 'relu'), ...extras }),
    k3Layer('Flatten', 'f', { data_format: 'channels_last' }),
    k3Layer('Dense', 'd', { ...k3Dense(3, 'softmax'), ...extras }),
  ]);

  it('in a tfjs model.json (stock tfjs: "Unknown regularizer: L2")', async () => {
    const t = twin(420);
    const artifacts = await modelToArtifacts(t);
    const dir = await root.folder('k3_regularized', {
      'model.json': modelJson({ class_name: 'Sequential', config: (config() as { config: Json }).config, keras_version: '3.8.0' }, artifacts.weightSpecs ?? []),
      'group1-shard1of1.bin': new Uint8Array(artifacts.weightData as ArrayBuffer),
    });
    const loaded = await loadClassifier(dir);
    track(loaded.model);
    const x = randomImage(6, 6, 1, 421);
    expect(maxPredictionDiff(loaded.model, t, x)).toBeLessThan(1e-6);
    x.dispose();
    expect(JSON.stringify(loaded.model.layers[0].getConfig())).not.toMatch(/L2|UnitNorm|Orthogonal/);
  });

  it('in a Keras .h5 file', async () => {
    const t = twin(430);
    const file = path.join(root.path, 'regularized.h5');
    const w = (l: tf.layers.Layer, names: string[]): { name: string; weights: { name: string; shape: number[]; values: Float32Array }[] } => ({
      name: l.name,
      weights: l.getWeights().map((v, i) => ({ name: `${l.name}/${names[i]}:0`, shape: v.shape, values: v.dataSync() as Float32Array })),
    });
    await writeLegacyH5(file, config(), [w(t.layers[0], ['kernel', 'bias']), { name: 'f', weights: [] }, w(t.layers[2], ['kernel', 'bias'])], { kerasVersion: '3.8.0' });
    const loaded = await loadClassifier(file);
    track(loaded.model);
    const x = randomImage(6, 6, 1, 431);
    expect(maxPredictionDiff(loaded.model, t, x)).toBeLessThan(1e-6);
    x.dispose();
  });
});

/** float32 → IEEE half (round to nearest even), normal range only: enough for weights of a few units. */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  let half = sign | (exp << 10) | (mant >>> 13);
  mant &= 0x1fff;
  if (mant > 0x1000 || (mant === 0x1000 && (half & 1) === 1)) half++;
  return half;
}
function fromHalf(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  return e === 0 ? s * 2 ** -14 * (m / 1024) : s * 2 ** (e - 15) * (1 + m / 1024);
}

describe('class 5: quantised tfjs weights (tensorflowjs_converter --quantize_uint8/uint16/float16)', () => {
  it('dequantises uint8, uint16 (q · scale + min) and float16 entries per the manifest; the report says the weights were quantised', async () => {
    const build = (): tf.LayersModel => tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [7, 7, 1], activation: 'relu', name: 'conv' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 4, activation: 'softmax', name: 'dense' }),
      ],
    });
    const t = build();
    randomizeWeights(t, 440);
    track(t);
    const kinds: Record<string, 'uint8' | 'uint16' | 'float16'> = { 'conv/kernel': 'uint8', 'conv/bias': 'float16', 'dense/kernel': 'uint16', 'dense/bias': 'uint8' };
    const chunks: Uint8Array[] = [];
    const specs: tf.io.WeightsManifestEntry[] = [];
    const dequantised: tf.Tensor[] = [];
    for (const v of t.weights) {
      const values = Array.from(v.read().dataSync());
      const kind = kinds[v.originalName];
      if (kind === 'float16') {
        const q = Uint16Array.from(values, toHalf);
        chunks.push(new Uint8Array(q.buffer));
        specs.push({ name: v.originalName, shape: v.shape as number[], dtype: 'float32', quantization: { dtype: 'float16' } });
        dequantised.push(tf.tensor(Array.from(q, fromHalf), v.shape as number[]));
        continue;
      }
      const levels = kind === 'uint8' ? 255 : 65535;
      const min = Math.min(...values);
      const scale = (Math.max(...values) - min) / levels;
      const q = values.map((x) => Math.round((x - min) / scale));
      chunks.push(kind === 'uint8' ? Uint8Array.from(q) : new Uint8Array(Uint16Array.from(q).buffer));
      specs.push({ name: v.originalName, shape: v.shape as number[], dtype: 'float32', quantization: { dtype: kind, min, scale } });
      dequantised.push(tf.tensor(q.map((x) => x * scale + min), v.shape as number[]));
    }
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
    const artifacts = await modelToArtifacts(t);
    const dir = await root.folder('quantised', { 'model.json': modelJson(artifacts.modelTopology as Json, specs), 'group1-shard1of1.bin': bytes });

    const loaded = await loadClassifier(dir);
    track(loaded.model);
    expect(loaded.quantization).toEqual({ dtypes: ['float16', 'uint16', 'uint8'], weights: 4, total: 4 });
    // The oracle: the same network with the dequantised values computed above.
    const expected = build();
    track(expected);
    expected.setWeights(dequantised);
    const x = randomImage(7, 7, 1, 441);
    expect(maxPredictionDiff(loaded.model, expected, x)).toBeLessThan(1e-6);
    expect(maxPredictionDiff(loaded.model, t, x)).toBeGreaterThan(0);
    x.dispose();
    tf.dispose(dequantised);

    const prepared = await prepareModel(dir);
    expect(prepared.info.quantization).toEqual({ dtypes: ['float16', 'uint16', 'uint8'], weights: 4, total: 4 });
    expect(formatReport(prepared.info, 'wasm')).toMatch(/^weights {5}quantised \(float16, uint16, uint8: 4 of 4 weights\), dequantised on load/m);
  });
});

describe('class 7: one-line refusals naming the file, the layer, its class and what to do', () => {
  async function withClass(name: string, className: string, config: Record<string, Json>): Promise<ModelError> {
    const topology: Json = {
      class_name: 'Sequential',
      config: {
        name: 'seq',
        layers: [
          { class_name: 'Conv2D', config: { name: 'c', filters: 2, kernel_size: [3, 3], batch_input_shape: [null, 6, 6, 1], padding: 'valid' } },
          { class_name: className, config: { name: 'odd', ...config } },
          { class_name: 'Flatten', config: { name: 'f' } },
          { class_name: 'Dense', config: { name: 'd', units: 2 } },
        ],
      },
    };
    const dir = await root.folder(name, { 'model.json': JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [] }) });
    const err = await refusal(dir);
    expect(err.message.startsWith(`${path.join(dir, 'model.json')}: layer "odd" (${className}): `)).toBe(true);
    expect(err.message).not.toContain('\n');
    return err;
  }

  it('Lambda, a custom layer, a quantisation-aware layer, and recurrent/TimeDistributed layers', async () => {
    expect((await withClass('lambda', 'Lambda', { function: ['4wEAAAAAAAAA', null, null] })).detail).toMatch(/^a Lambda layer holds Python code .*: rebuild the model with built-in layers/);
    expect((await withClass('custom', 'PatchEncoder', {})).detail).toMatch(/^unknown layer class "PatchEncoder": a custom layer from the training code.*export a model made only of built-in Keras layers$/);
    // A built-in Keras layer that tfjs lacks is not called a custom layer.
    expect((await withClass('groupnorm', 'GroupNormalization', { groups: 2 })).detail).toBe('Keras\'s GroupNormalization layer, which TensorFlow.js does not have, so Convmap cannot convert this model; export a model without it');
    expect((await withClass('qat', 'QuantConv2D', { filters: 2 })).detail).toMatch(/^a quantisation-aware training layer .*export the model's float version/);
    expect((await withClass('qwrap', 'QuantizeWrapperV2', {})).detail).toMatch(/^a quantisation-aware training layer/);
    expect((await withClass('lstm', 'LSTM', { units: 2 })).detail).toMatch(/^a recurrent or per-frame layer \(sequence or video model\): Convmap converts classifiers of one image/);
    expect((await withClass('td', 'TimeDistributed', { layer: { class_name: 'Dense', config: { units: 2 } } })).detail).toMatch(/^a recurrent or per-frame layer/);
  });
});

describe('--labels FILE', () => {
  it('reads one label a line (blank lines, spaces, CRLF and a BOM ignored) or a JSON array, non-ASCII kept', async () => {
    const text = path.join(root.path, 'labels.txt');
    await fs.writeFile(text, '\uFEFFcat\r\n  dog \n\n노마스크\n');
    expect(await readLabelsFile(text, 3)).toEqual(['cat', 'dog', '노마스크']);
    const json = path.join(root.path, 'labels.json');
    await fs.writeFile(json, JSON.stringify(['a b', 'c']));
    expect(await readLabelsFile(json, 2)).toEqual(['a b', 'c']);
  });

  it('refuses a count that is not the model\'s class count, a JSON value that is not a list of strings, and a missing file', async () => {
    const text = path.join(root.path, 'two.txt');
    await fs.writeFile(text, 'a\nb\n');
    await expect(readLabelsFile(text, 3)).rejects.toThrow(`${text}: holds 2 label(s), but the model's output has 3 class(es): one label per class, in class order`);
    const json = path.join(root.path, 'bad.json');
    await fs.writeFile(json, '[1, 2]');
    await expect(readLabelsFile(json, 2)).rejects.toThrow(`${json}: is a JSON value but not an array of strings`);
    await expect(readLabelsFile(path.join(root.path, 'none.txt'), 2)).rejects.toBeInstanceOf(ModelError);
  });
});
