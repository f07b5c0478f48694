import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import type { Group as H5Group } from 'h5wasm';

/**
 * Writers for Keras native files following the layouts Keras documents and writes (see
 * keras/src/saving/saving_lib.py and keras/src/legacy/saving/legacy_h5_format.py), so that tests
 * can make .keras and .h5 files without Python; and the numpy reference of keras_reference.py.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One weight as Keras stores it: a name (Keras 2/legacy layout only) and a float32 array. */
export interface H5Weight {
  name: string;
  shape: number[];
  values: Float32Array;
}

type H5Module = typeof import('h5wasm/node');
let h5: Promise<H5Module> | null = null;

async function h5wasm(): Promise<H5Module> {
  h5 ??= (async () => {
    const mod = await import('h5wasm/node');
    (await mod.ready).activate_throwing_error_handler();
    return mod;
  })();
  return h5;
}

/** Creates `a/b/c` under `group`, making the groups on the way (h5wasm does not). */
function ensureGroup(group: H5Group, rel: string): H5Group {
  let g = group;
  for (const part of rel.split('/').filter((p) => p.length > 0)) {
    g = g.keys().includes(part) ? (g.get(part) as H5Group) : g.create_group(part);
  }
  return g;
}

function writeDataset(group: H5Group, rel: string, w: { shape: number[]; values: Float32Array }): void {
  const parts = rel.split('/');
  const leaf = parts.pop() as string;
  ensureGroup(group, parts.join('/')).create_dataset({ name: leaf, data: w.values, shape: w.shape, dtype: '<f' });
}

/** A list-of-strings attribute as Keras writes it: fixed-length bytes, or an empty float64 array. */
function stringsAttr(group: H5Group, name: string, values: string[]): void {
  if (values.length === 0) group.create_attribute(name, new Float64Array(0), [0], '<d');
  else group.create_attribute(name, values, [values.length], `S${Math.max(...values.map((v) => Buffer.byteLength(v)))}`);
}

/** Writes an HDF5 file with h5wasm: `build` fills the root group. */
export async function writeH5(file: string, build: (root: H5Group) => void): Promise<void> {
  const mod = await h5wasm();
  const f = new mod.File(file, 'w');
  try {
    build(f);
  } finally {
    f.close();
  }
}

/**
 * A full-model HDF5 file in the Keras 2 / Keras 3 legacy layout: root attributes `model_config`,
 * `keras_version`, `backend`; group `model_weights` with `layer_names`, one group per layer with
 * `weight_names` and the datasets at those (slash-separated) names.
 */
export async function writeLegacyH5(
  file: string,
  modelConfig: Json | null,
  layers: { name: string; weights: H5Weight[] }[],
  opts: { kerasVersion?: string; weightsOnly?: boolean } = {},
): Promise<void> {
  await writeH5(file, (root) => {
    const version = opts.kerasVersion ?? '3.5.0';
    const target = opts.weightsOnly ? root : root.create_group('model_weights');
    if (!opts.weightsOnly) {
      root.create_attribute('model_config', JSON.stringify(modelConfig));
      root.create_attribute('keras_version', version);
      root.create_attribute('backend', 'tensorflow');
    }
    stringsAttr(target, 'layer_names', layers.map((l) => l.name));
    target.create_attribute('keras_version', version);
    target.create_attribute('backend', 'tensorflow');
    for (const layer of [...layers].sort((a, b) => a.name.localeCompare(b.name))) {
      // h5py makes the intermediate groups of a name with slashes (tf.keras 2's DenseNet `conv1/conv`).
      const g = ensureGroup(target, layer.name);
      stringsAttr(g, 'weight_names', layer.weights.map((w) => w.name));
      for (const w of layer.weights) writeDataset(g, w.name, w);
    }
  });
}

/**
 * A Keras 3 `model.weights.h5`: each entry of `vars` is a path such as `layers/sequential/layers/conv2d`
 * whose `vars` group gets datasets `0`, `1`, … in Keras order. Also writes the empty `vars` groups
 * Keras writes for weightless objects when listed with no weights.
 */
export async function writeKeras3Weights(file: string, vars: Record<string, { shape: number[]; values: Float32Array }[]>): Promise<void> {
  await writeH5(file, (root) => {
    ensureGroup(root, 'vars');
    for (const [at, weights] of Object.entries(vars)) {
      const g = ensureGroup(root, `${at}/vars`);
      weights.forEach((w, i) => writeDataset(g, String(i), w));
    }
    ensureGroup(root, 'optimizer/vars');
  });
}

/**
 * A Keras 3 `.keras` archive from its members (config.json etc. as JSON, model.weights.h5 as bytes),
 * deflated at `level` (0: stored, as Keras's saving_lib writes it, and much quicker for big weights).
 */
export function kerasZip(members: Record<string, Json | Uint8Array>, level: 0 | 6 = 6): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(members)) {
    files[name] = value instanceof Uint8Array ? value : Buffer.from(JSON.stringify(value));
  }
  return zipSync(files, { level });
}

/** Writes a Keras 3 `.keras` file: config.json, metadata.json and model.weights.h5 in a zip (see {@link kerasZip} for `level`). */
export async function writeKerasArchive(file: string, config: Json, vars: Record<string, { shape: number[]; values: Float32Array }[]>, level: 0 | 6 = 6): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-kerasw-'));
  try {
    const weights = path.join(dir, 'model.weights.h5');
    await writeKeras3Weights(weights, vars);
    const zip = kerasZip({
      'metadata.json': { keras_version: '3.5.0', date_saved: '2025-01-01@00:00:00' },
      'config.json': config,
      'model.weights.h5': new Uint8Array(await fs.readFile(weights)),
    }, level);
    await fs.writeFile(file, zip);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** A tfjs layer's weights as plain arrays, in its own order. */
export function layerArrays(layer: tf.layers.Layer): { shape: number[]; values: Float32Array }[] {
  return layer.getWeights().map((t) => ({ shape: t.shape, values: t.dataSync() as Float32Array }));
}

// ---- Keras 3 config JSON, as Keras 3 writes it ----------------------------------------------------------

export const DTYPE: Json = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

export const init = (cls: string, config: Json = {}): Json => ({ module: 'keras.initializers', class_name: cls, config, registered_name: null });

/** A Keras 3 symbolic tensor reference in an inbound node. */
export const kt = (layer: string, shape: (number | null)[]): Json => ({
  class_name: '__keras_tensor__',
  config: { shape, dtype: 'float32', keras_history: [layer, 0, 0] },
});

/** A Keras 3 layer entry; `inputs` given → a Functional entry with one inbound node. */
export function k3Layer(className: string, name: string, config: Record<string, Json>, inputs?: Json[]): Json {
  const entry: { [k: string]: Json } = {
    module: 'keras.layers',
    class_name: className,
    config: { name, trainable: true, dtype: DTYPE, ...config },
    registered_name: null,
    build_config: { input_shape: null },
  };
  if (inputs !== undefined) {
    entry.name = name;
    entry.inbound_nodes = [{ args: inputs.length === 1 ? inputs : [inputs], kwargs: {} }];
  }
  return entry;
}

export function k3Input(name: string, batchShape: (number | null)[]): Json {
  return {
    module: 'keras.layers', class_name: 'InputLayer', registered_name: null, name, inbound_nodes: [],
    config: { batch_shape: batchShape, dtype: 'float32', sparse: false, ragged: false, name },
  };
}

export function k3Conv(filters: number, kernel: number, activation: string, padding = 'valid'): Record<string, Json> {
  return {
    filters, kernel_size: [kernel, kernel], strides: [1, 1], padding, data_format: 'channels_last', dilation_rate: [1, 1], groups: 1,
    activation, use_bias: true, kernel_initializer: init('GlorotUniform', { seed: null }), bias_initializer: init('Zeros'),
    kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
  };
}

export function k3Dense(units: number, activation: string): Record<string, Json> {
  return {
    units, activation, use_bias: true, kernel_initializer: init('GlorotUniform', { seed: null }), bias_initializer: init('Zeros'),
    kernel_regularizer: null, bias_regularizer: null, kernel_constraint: null, bias_constraint: null, lora_rank: null,
  };
}

export function k3BatchNorm(opts: { center?: boolean; scale?: boolean } = {}): Record<string, Json> {
  return {
    axis: -1, momentum: 0.99, epsilon: 0.001, center: opts.center ?? true, scale: opts.scale ?? true,
    beta_initializer: init('Zeros'), gamma_initializer: init('Ones'), moving_mean_initializer: init('Zeros'),
    moving_variance_initializer: init('Ones'), beta_regularizer: null, gamma_regularizer: null, beta_constraint: null,
    gamma_constraint: null, synchronized: false,
  };
}

export function k3MaxPool(size: number): Record<string, Json> {
  return { pool_size: [size, size], padding: 'valid', strides: [size, size], data_format: 'channels_last' };
}

/** A Keras 3 Sequential config (top level, or nested when `inputs` is given). */
export function k3Sequential(name: string, batchShape: (number | null)[], layers: Json[], inputs?: Json[]): Json {
  const entry: { [k: string]: Json } = {
    module: 'keras',
    class_name: 'Sequential',
    config: { name, trainable: true, dtype: DTYPE, layers: [k3Input(`${name}_input`, batchShape), ...layers], build_input_shape: batchShape },
    registered_name: null,
    build_config: { input_shape: batchShape },
  };
  if (inputs !== undefined) {
    entry.name = name;
    entry.inbound_nodes = [{ args: inputs, kwargs: {} }];
  }
  return entry;
}

// ---- The numpy reference --------------------------------------------------------------------------------

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

/** Null when Debian's python3 with h5py and numpy is usable, else why not (the tests print it and skip). */
export function referenceUnavailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} is absent (apt-get install python3-h5py python3-numpy)`;
  const probe = spawnSync(PYTHON, ['-c', 'import h5py, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} lacks h5py or numpy (apt-get install python3-h5py python3-numpy)`;
  return null;
}

/** Runs keras_reference.py (h5py + numpy forward pass) on `input`; returns [n, classes] as float64 values. */
export function referenceForward(modelFile: string, input: { shape: number[]; data: Float32Array }): { shape: number[]; data: number[] } {
  const run = spawnSync(PYTHON, [path.join(here, 'keras_reference.py'), modelFile], {
    input: JSON.stringify({ shape: input.shape, data: Array.from(input.data) }),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`keras_reference.py failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as { shape: number[]; data: number[] };
}
