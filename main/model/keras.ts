import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import type { Dataset as H5Dataset, Group as H5Group } from 'h5wasm';
import { modelToArtifacts } from './artifacts';
import { ModelError } from './errors';
import { normalizeTopology } from './topology';

/**
 * Keras native model files read without Python:
 * - HDF5 full-model files (Keras 2, and Keras 3 `model.save('x.h5')`): the architecture is the root
 *   attribute `model_config`; the weights are in `model_weights/<layer>/`, listed in order by the
 *   group's `weight_names` attribute (a nested model's group holds all its sublayers' weights).
 * - Keras 3 `.keras` archives: a zip of `config.json` (the architecture) and `model.weights.h5`,
 *   whose variables sit at `layers/<snake_case class>[_k]/vars/<i>` (nested models:
 *   `layers/<model>/layers/<layer>/vars/<i>`), named by class and position, not by layer name.
 * The architecture goes through normalizeTopology and tfjs builds it; each tfjs layer then gets its
 * weights in Keras order (kernel, bias; BatchNormalization gamma, beta, moving mean, moving
 * variance), which is tfjs's own order, after a shape check.
 */

export const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
export const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** 'hdf5' or 'zip' when the bytes start like a Keras native file, else null. */
export function kerasFileKind(head: Uint8Array): 'hdf5' | 'zip' | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.subarray(0, 8).equals(HDF5_SIGNATURE)) return 'hdf5';
  if (b.subarray(0, 4).equals(ZIP_SIGNATURE)) return 'zip';
  return null;
}

/** Reads the first bytes of a file to tell whether it is a Keras native file. */
export async function sniffKerasFile(file: string): Promise<'hdf5' | 'zip' | null> {
  let handle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    return kerasFileKind(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

// ---- HDF5 through h5wasm ----------------------------------------------------------------------------

type H5Module = typeof import('h5wasm/node');
let h5Promise: Promise<H5Module> | null = null;

/** Loads h5wasm's Node build once; HDF5 errors become JS exceptions instead of stderr noise. */
async function h5wasm(): Promise<H5Module> {
  h5Promise ??= (async () => {
    const mod = await import('h5wasm/node');
    const module = await mod.ready;
    module.activate_throwing_error_handler();
    return mod;
  })();
  return h5Promise;
}

/** The useful line of an HDF5 error stack: its innermost message ("truncated file: eof = …"). */
function hdf5Reason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const lines = [...text.matchAll(/#\d+: .*? in [\w_]+\(\): (.*)$/gm)].map((m) => m[1].trim());
  const last = lines.length > 0 ? lines[lines.length - 1] : text.split('\n')[0];
  return last.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}

interface H5File {
  root: H5Group;
  mod: H5Module;
  close(): void;
}

function openHdf5(mod: H5Module, diskPath: string, file: string, what: string): H5File {
  let f;
  try {
    f = new mod.File(diskPath, 'r');
  } catch (e) {
    const reason = hdf5Reason(e);
    const truncated = /truncated file/.test(reason);
    throw new ModelError(file, `${what} cannot be read as HDF5${truncated ? ' (the file is truncated: an interrupted download or copy?)' : ''}: ${reason}`);
  }
  const handle = f;
  return { root: handle, mod, close: () => void handle.close() };
}

function isGroup(h5: H5File, x: unknown): x is H5Group {
  return x instanceof h5.mod.Group;
}

function isDataset(h5: H5File, x: unknown): x is H5Dataset {
  return x instanceof h5.mod.Dataset;
}

function getEntity(group: H5Group, name: string): unknown {
  try {
    return group.get(name);
  } catch {
    return null;
  }
}

/** A string attribute (Keras writes JSON configs as one string, sometimes as bytes). */
function attrText(obj: H5Group, name: string): string | null {
  const attr = obj.attrs[name];
  if (!attr) return null;
  const v = attr.value;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return null;
}

/**
 * A list-of-strings attribute (`layer_names`, `weight_names`). Keras splits long ones into
 * `name0`, `name1`, … and writes an empty float array for an empty list.
 */
function attrStrings(obj: H5Group, name: string): string[] | null {
  const one = (n: string): string[] | null => {
    const attr = obj.attrs[n];
    if (!attr) return null;
    const v = attr.value;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v)) return v.map((s) => (s instanceof Uint8Array ? Buffer.from(s).toString('utf8') : String(s)));
    if (ArrayBuffer.isView(v) && (v as unknown as { length: number }).length === 0) return [];
    return null;
  };
  const whole = one(name);
  if (whole !== null) return whole;
  const parts: string[] = [];
  let found = false;
  for (let i = 0; ; i++) {
    const chunk = one(`${name}${i}`);
    if (chunk === null) break;
    found = true;
    parts.push(...chunk);
  }
  return found ? parts : null;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

interface Weight {
  shape: number[];
  values: Float32Array;
}

/** A dataset as float32, whatever float or integer type the file stores. */
function readWeight(h5: H5File, group: H5Group, name: string, file: string, layer: LayerRef, where: string): Weight {
  const ds = getEntity(group, name);
  if (!isDataset(h5, ds)) throw new ModelError(file, `weight "${where}" is missing from the file`, layer);
  let raw;
  try {
    raw = ds.value;
  } catch (e) {
    throw new ModelError(file, `weight "${where}" cannot be read: ${hdf5Reason(e)}`, layer);
  }
  const shape = ds.shape ?? [];
  const meta = ds.metadata;
  let values: Float32Array;
  if (raw instanceof Float32Array) values = raw;
  else if (raw instanceof Float64Array || raw instanceof Int32Array || raw instanceof Int16Array || raw instanceof Int8Array || raw instanceof Uint8Array) {
    values = Float32Array.from(raw);
  } else if (raw instanceof Uint16Array && meta.type === 1 && meta.size === 2) values = Float32Array.from(raw, halfToFloat);
  else if (raw instanceof Uint16Array) values = Float32Array.from(raw);
  else if (typeof raw === 'number') values = Float32Array.of(raw);
  else throw new ModelError(file, `weight "${where}" has a data type Convmap cannot read (${JSON.stringify(ds.dtype)})`, layer);
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new ModelError(file, `weight "${where}" holds ${values.length} values for shape [${shape.join(', ')}]`, layer);
  return { shape, values };
}

// ---- Config walking and weight assignment ------------------------------------------------------------

interface LayerRef {
  name: string;
  className: string;
}

interface RawLayer {
  class_name: string;
  config: { name?: string; layers?: unknown } | unknown[];
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The layer list of a Sequential/Functional config (old Keras Sequential configs are the list itself). */
function sublayers(layer: RawLayer): RawLayer[] | null {
  const c = layer.config;
  const list = Array.isArray(c) ? c : isRecord(c) && Array.isArray(c.layers) ? c.layers : null;
  return list ? list.filter((l): l is RawLayer => isRecord(l) && typeof l.class_name === 'string') : null;
}

function layerName(layer: RawLayer): string {
  return isRecord(layer.config) && typeof layer.config.name === 'string' ? layer.config.name : '?';
}

/** Keras' `naming.to_snake_case` of a class name: Conv2D → conv2d, BatchNormalization → batch_normalization. */
export function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function shapeText(s: readonly (number | null)[]): string {
  return `[${s.join(', ')}]`;
}

/** Sets a tfjs layer's weights from Keras-ordered arrays after checking count and shapes. */
function setLayerWeights(layer: tf.layers.Layer, weights: Weight[], file: string, ref: LayerRef, source: string): void {
  const targets = layer.weights;
  if (weights.length !== targets.length) {
    throw new ModelError(file, `the file holds ${weights.length} weight(s) for it (${source}), the layer needs ${targets.length}`, ref);
  }
  targets.forEach((t, i) => {
    const want = t.shape;
    const got = weights[i].shape;
    if (want.length !== got.length || want.some((d, k) => d !== got[k])) {
      throw new ModelError(file, `weight ${i} (${t.originalName}) has shape ${shapeText(got)} in the file, the layer needs ${shapeText(want)}`, ref);
    }
  });
  const tensors = weights.map((w) => tf.tensor(w.values, w.shape, 'float32'));
  try {
    layer.setWeights(tensors);
  } finally {
    tensors.forEach((t) => t.dispose());
  }
}

function tfjsLayer(container: tf.LayersModel, name: string): tf.layers.Layer | null {
  try {
    return container.getLayer(name);
  } catch {
    return null;
  }
}

/** Keras 2 / legacy HDF5 layout: `model_weights/<top-level layer>/` + its `weight_names`. */
function assignLegacyWeights(h5: H5File, model: tf.LayersModel, weightsRoot: H5Group, file: string): void {
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const ref = { name: layer.name, className: layer.getClassName() };
    const group = getEntity(weightsRoot, layer.name);
    if (!isGroup(h5, group)) throw new ModelError(file, `has no weights in the file (no group model_weights/${layer.name})`, ref);
    const names = attrStrings(group, 'weight_names');
    if (names === null) throw new ModelError(file, `group model_weights/${layer.name} has no weight_names attribute`, ref);
    const weights = names.map((n) => readWeight(h5, group, n, file, ref, `model_weights/${layer.name}/${n}`));
    if (layer instanceof tf.LayersModel && assignNestedByName(layer, names, weights)) continue;
    setLayerWeights(layer, weights, file, ref, `model_weights/${layer.name}`);
  }
}

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/**
 * A nested model's group lists all its sublayers' weights as `[outer/]sublayer/weight[:0]`.
 * When every sublayer with weights finds its own there (count and shapes), they are set by
 * sublayer name, which does not depend on the order Keras and tfjs walk a branched graph in;
 * otherwise (doubly nested models, unusual names) the caller falls back to the flat order.
 */
function assignNestedByName(model: tf.LayersModel, names: string[], weights: Weight[]): boolean {
  const bySublayer = new Map<string, Weight[]>();
  for (let i = 0; i < names.length; i++) {
    const parts = names[i].replace(/:\d+$/, '').split('/');
    if (parts.length < 2) return false;
    const sub = parts[parts.length - 2];
    bySublayer.set(sub, [...(bySublayer.get(sub) ?? []), weights[i]]);
  }
  const leaves = model.layers.filter((l) => l.weights.length > 0);
  if (leaves.some((l) => l instanceof tf.LayersModel) || leaves.length !== bySublayer.size) return false;
  for (const leaf of leaves) {
    const mine = bySublayer.get(leaf.name);
    if (!mine || mine.length !== leaf.weights.length || mine.some((w, i) => !sameShape(leaf.weights[i].shape, w.shape))) return false;
  }
  for (const leaf of leaves) {
    const tensors = (bySublayer.get(leaf.name) as Weight[]).map((w) => tf.tensor(w.values, w.shape, 'float32'));
    try {
      leaf.setWeights(tensors);
    } finally {
      tensors.forEach((t) => t.dispose());
    }
  }
  return true;
}

/** Keras 3 `model.weights.h5` layout: `layers/<snake_case class>[_k]/vars/<i>`, recursing into nested models. */
function assignKeras3Weights(h5: H5File, container: tf.LayersModel, config: RawLayer, prefix: string, file: string): void {
  const layers = sublayers(config) ?? [];
  const seen = new Map<string, number>();
  for (const raw of layers) {
    const snake = kerasSnakeCase(raw.class_name);
    const k = seen.get(snake);
    seen.set(snake, k === undefined ? 0 : k + 1);
    const slot = k === undefined ? snake : `${snake}_${k + 1}`;
    const name = layerName(raw);
    const ref = { name, className: raw.class_name };
    const layer = tfjsLayer(container, name);
    if (raw.class_name === 'InputLayer') continue;
    if (layer === null) throw new ModelError(file, 'is in config.json but not in the model TensorFlow.js built', ref);
    const at = `${prefix}layers/${slot}`;
    if (sublayers(raw) !== null && layer instanceof tf.LayersModel) {
      assignKeras3Weights(h5, layer, raw, `${at}/`, file);
      continue;
    }
    if (layer.weights.length === 0) continue;
    let vars = getEntity(h5.root, `${at}/vars`);
    // .keras files written by Keras 2.13–2.15 name the layer list `_layer_checkpoint_dependencies`.
    if (!isGroup(h5, vars)) vars = getEntity(h5.root, `${at.replace(/(^|\/)layers\//g, '$1_layer_checkpoint_dependencies/')}/vars`);
    if (!isGroup(h5, vars)) throw new ModelError(file, `has no weights in model.weights.h5 (expected at ${at}/vars)`, ref);
    const group = vars;
    const keys = group.keys().filter((key) => /^\d+$/.test(key)).sort((a, b) => Number(a) - Number(b));
    const weights = keys.map((key) => readWeight(h5, group, key, file, ref, `${at}/vars/${key}`));
    setLayerWeights(layer, weights, file, ref, `${at}/vars`);
  }
}

// ---- Building the model --------------------------------------------------------------------------------

/** Names the first layer whose class tfjs does not know, before tfjs fails with a generic error. */
function checkClasses(layer: Record<string, unknown>, file: string, known: Set<string>): void {
  const className = layer.class_name;
  if (typeof className !== 'string') return;
  const cfg = layer.config;
  const name = isRecord(cfg) && typeof cfg.name === 'string' ? cfg.name : typeof layer.name === 'string' ? layer.name : '?';
  if (!known.has(className)) {
    throw new ModelError(file, `unknown layer class "${className}": TensorFlow.js has no such layer, so Convmap cannot run this model`, { name, className });
  }
  const list = Array.isArray(cfg) ? cfg : isRecord(cfg) && Array.isArray(cfg.layers) ? cfg.layers : [];
  for (const l of list) if (isRecord(l)) checkClasses(l, file, known);
}

/**
 * Keras 3 writes a Sequential's input as a leading InputLayer entry. tfjs builds that at the top
 * level but not inside a Functional model ("Graph disconnected"), so every Sequential gets the
 * Keras 2 form: the InputLayer's shape and dtype moved onto its first layer.
 */
function foldSequentialInputs(layer: unknown): unknown {
  if (Array.isArray(layer)) return layer.map(foldSequentialInputs);
  if (!isRecord(layer)) return layer;
  const cfg = layer.config;
  if (!isRecord(cfg) || !Array.isArray(cfg.layers)) return layer;
  let layers = cfg.layers.map(foldSequentialInputs);
  const [first, second] = layers;
  if (
    layer.class_name === 'Sequential' && layers.length > 1 && isRecord(first) && first.class_name === 'InputLayer' &&
    isRecord(first.config) && isRecord(second) && isRecord(second.config) && !Array.isArray(second.config.layers)
  ) {
    const shape = first.config.batch_shape ?? first.config.batch_input_shape;
    const moved: Record<string, unknown> = { ...second.config };
    if (shape !== undefined && !('batch_input_shape' in moved) && !('batch_shape' in moved)) moved.batch_input_shape = shape;
    if (typeof first.config.dtype === 'string' && !('dtype' in moved)) moved.dtype = first.config.dtype;
    layers = [{ ...second, config: moved }, ...layers.slice(2)];
  }
  return { ...layer, config: { ...cfg, layers } };
}

/** A Sequential that tfjs builds with its own input node (node 0), so calls on it start at node 1. */
function hasOwnInputNode(layer: Record<string, unknown>): boolean {
  if (layer.class_name !== 'Sequential' || !isRecord(layer.config) || !Array.isArray(layer.config.layers)) return false;
  const first: unknown = layer.config.layers[0];
  return isRecord(first) && isRecord(first.config) && (Array.isArray(first.config.batch_input_shape) || first.class_name === 'InputLayer');
}

/**
 * Keras 3 numbers the calls of a nested Sequential from 0 (it has no node of its own), while tfjs
 * (like Keras 2) gives a Sequential built with an input shape a node 0 of its own: references to
 * such a layer in a Keras 3 Functional config move up by one. Nested Functional models are
 * numbered from 1 by Keras 3 already.
 */
function shiftSequentialNodes(layer: Record<string, unknown>): void {
  const cfg = layer.config;
  if (!isRecord(cfg) || !Array.isArray(cfg.layers)) return;
  const layers = cfg.layers.filter(isRecord);
  layers.forEach(shiftSequentialNodes);
  const shifted = new Set(layers.filter(hasOwnInputNode).map((l) => (isRecord(l.config) ? l.config.name : undefined)));
  if (shifted.size === 0) return;
  const bump = (ref: unknown): void => {
    if (Array.isArray(ref) && typeof ref[0] === 'string' && typeof ref[1] === 'number' && shifted.has(ref[0])) ref[1] += 1;
  };
  for (const l of layers) {
    if (!Array.isArray(l.inbound_nodes)) continue;
    for (const node of l.inbound_nodes) if (Array.isArray(node)) node.forEach(bump);
  }
  if (Array.isArray(cfg.output_layers)) cfg.output_layers.forEach(bump);
}

function kerasMajor(version: string | null): number {
  const m = /^(\d+)\./.exec(version ?? '');
  return m ? Number(m[1]) : 0;
}

async function buildModel(config: Record<string, unknown>, file: string, kerasVersion: string | null): Promise<tf.LayersModel> {
  const normalized = normalizeTopology(foldSequentialInputs(config), file);
  if (kerasMajor(kerasVersion) >= 3) shiftSequentialNodes(normalized);
  const known = new Set(Object.keys(tf.serialization.SerializationMap.getMap().classNameMap));
  checkClasses(normalized, file, known);
  try {
    return await tf.models.modelFromJSON({ modelTopology: normalized as tf.io.ModelArtifacts['modelTopology'] } as tf.io.ModelJSON);
  } catch (e) {
    throw new ModelError(file, `TensorFlow.js could not build the model: ${(e as Error).message.split('\n')[0]}`);
  }
}

function parseConfig(text: string, file: string, where: string): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new ModelError(file, `${where} is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(config) || typeof config.class_name !== 'string') {
    throw new ModelError(file, `${where} is not a Keras model config (no class_name)`);
  }
  return config;
}

/** Builds the model from a Keras HDF5 full-model file (Keras 2, or Keras 3's legacy `.h5`). */
async function loadHdf5(file: string): Promise<tf.LayersModel> {
  const mod = await h5wasm();
  const h5 = openHdf5(mod, path.resolve(file), file, 'the file');
  try {
    const text = attrText(h5.root, 'model_config');
    if (text === null) {
      const keys = h5.root.keys();
      const weightsOnly =
        attrStrings(h5.root, 'layer_names') !== null || keys.includes('layers') || keys.includes('vars') || keys.includes('_layer_checkpoint_dependencies');
      if (weightsOnly) {
        throw new ModelError(
          file,
          'holds weights only (written by save_weights: no model_config attribute, so no architecture); ' +
            "save the whole model with model.save('model.keras') or model.save('model.h5') and open that",
        );
      }
      throw new ModelError(file, 'is an HDF5 file but not a Keras model (no model_config attribute)');
    }
    const config = parseConfig(text, file, 'the model_config attribute');
    const model = await buildModel(config, file, attrText(h5.root, 'keras_version'));
    try {
      const root = getEntity(h5.root, 'model_weights');
      if (!isGroup(h5, root)) throw new ModelError(file, 'has a model_config but no model_weights group: the weights are missing');
      assignLegacyWeights(h5, model, root, file);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  } finally {
    h5.close();
  }
}

/** The keras_version in a .keras archive's metadata.json; .keras files are Keras 3 unless it says otherwise. */
function archiveKerasVersion(metadata: Uint8Array | undefined): string {
  if (metadata) {
    try {
      const m: unknown = JSON.parse(Buffer.from(metadata).toString('utf8'));
      if (isRecord(m) && typeof m.keras_version === 'string') return m.keras_version;
    } catch {
      /* a damaged metadata.json does not stop the model from loading */
    }
  }
  return '3';
}

/** Builds the model from a Keras 3 `.keras` archive (config.json + model.weights.h5). */
async function loadKerasArchive(file: string, bytes: Uint8Array): Promise<tf.LayersModel> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new ModelError(file, `is not a readable zip archive (${(e as Error).message}): a truncated .keras file?`);
  }
  const configBytes = entries['config.json'];
  if (!configBytes) {
    throw new ModelError(file, `is a zip archive without config.json: not a Keras 3 .keras model (it holds ${Object.keys(entries).slice(0, 5).join(', ') || 'nothing'})`);
  }
  const config = parseConfig(Buffer.from(configBytes).toString('utf8'), file, 'config.json');
  const weightsBytes = entries['model.weights.h5'];
  if (!weightsBytes) {
    const npz = 'model.weights.npz' in entries;
    throw new ModelError(file, npz ? 'stores its weights as model.weights.npz, which Convmap does not read (only model.weights.h5)' : 'has no model.weights.h5: the weights are missing');
  }
  const model = await buildModel(config, file, archiveKerasVersion(entries['metadata.json']));
  const mod = await h5wasm();
  // h5wasm's Node build reads from the host file system: the inner HDF5 file goes to a temp folder.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-keras-'));
  try {
    const inner = path.join(dir, 'model.weights.h5');
    await fs.writeFile(inner, weightsBytes);
    const h5 = openHdf5(mod, inner, file, 'its model.weights.h5');
    try {
      assignKeras3Weights(h5, model, config as unknown as RawLayer, '', file);
    } finally {
      h5.close();
    }
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return model;
}

/**
 * Opens a Keras native file (HDF5 `.h5`/`.hdf5` or a `.keras` zip, told apart by content) as a tfjs
 * model with its weights. Every failure is a one-line ModelError naming the file (and the layer).
 */
export async function loadKerasModel(file: string): Promise<tf.LayersModel> {
  try {
    return await loadKerasModelUnguarded(file);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    // An HDF5 error deep in a damaged file: its innermost reason, on one line.
    throw new ModelError(file, `cannot be read as a Keras model: ${hdf5Reason(e)}`);
  }
}

async function loadKerasModelUnguarded(file: string): Promise<tf.LayersModel> {
  const kind = await sniffKerasFile(file);
  if (kind === 'hdf5') return loadHdf5(file);
  if (kind === 'zip') {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (e) {
      throw new ModelError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return loadKerasArchive(file, bytes);
  }
  throw new ModelError(file, 'is not a Keras file (neither HDF5 nor a .keras zip)');
}

/** A Keras native file as tfjs ModelArtifacts (topology + weights), as tfjs itself would save it. */
export async function readKerasArtifacts(file: string): Promise<tf.io.ModelArtifacts> {
  const model = await loadKerasModel(file);
  try {
    return await modelToArtifacts(model);
  } finally {
    model.dispose();
  }
}
