import * as tf from '@tensorflow/tfjs';
import type { Group as H5Group } from 'h5wasm';
import { ModelError } from './errors';
import { attrStrings, getEntity, isGroup, readWeight, type H5File, type LayerRef, type Weight, type WeightLimits } from './hdf5';
import { layerName, sublayers, type RawLayer } from './keras-config';

/**
 * Weight assignment from Keras files to the tfjs layers built from their config: the legacy HDF5
 * layout (`model_weights/<layer>/` + `weight_names`) and Keras 3's `model.weights.h5`
 * (`layers/<snake_case class>[_k]/vars/<i>`), every weight's count and shape checked.
 */
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

/**
 * The kernel shape Keras writes for a Conv2D with groups = its input channels, which topology.ts
 * builds as a DepthwiseConv2D: [kh, kw, 1, c · m] for the depthwise [kh, kw, c, m], the same values
 * in the same order (output channel c · m + j reads input channel c).
 */
function groupedKernelShape(layer: tf.layers.Layer, i: number): number[] | undefined {
  if (layer.getClassName() !== 'DepthwiseConv2D' || i !== 0 || layer.weights[0]?.shape.length !== 4) return undefined;
  const [kh, kw, c, m] = layer.weights[0].shape as number[];
  return [kh, kw, 1, c * m];
}

/** Sets a tfjs layer's weights from Keras-ordered arrays after checking count and shapes. */
export function setLayerWeights(layer: tf.layers.Layer, stored: Weight[], file: string, ref: LayerRef, source: string): void {
  const targets = layer.weights;
  const weights = stored.map((w, i) => {
    const grouped = groupedKernelShape(layer, i);
    return grouped !== undefined && sameShape(grouped, w.shape) ? { ...w, shape: targets[0].shape as number[] } : w;
  });
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

/** Limits for the i-th dataset read for `layer`: its shape by position (plain layers) and the layer's size. */
function weightLimits(layer: tf.layers.Layer, budget: { left: number }, i: number): WeightLimits {
  return layer instanceof tf.LayersModel ? { budget } : { want: layer.weights[i]?.shape, orWant: groupedKernelShape(layer, i), budget };
}

/** A layer's number of weight values (a nested model's: all its sublayers'), the most its datasets may declare. */
function weightBudget(layer: tf.layers.Layer): { left: number } {
  return { left: layer.weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0) };
}

/** Whether `layer` is, or (a nested model) holds, a Keras Normalization layer. */
function holdsNormalization(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() === 'Normalization') return true;
  return layer instanceof tf.LayersModel && layer.layers.some(holdsNormalization);
}

/**
 * Keras 2's Normalization stores mean, variance and an int64 `count` that inference does not use
 * (tfjs's layer has no such weight): the count is left unread.
 */
function withoutNormalizationCounts(layer: tf.layers.Layer, names: string[]): string[] {
  return holdsNormalization(layer) ? names.filter((n) => !/(^|\/)count(:\d+)?$/.test(n)) : names;
}

/** Keras 2 / legacy HDF5 layout: `model_weights/<top-level layer>/` + its `weight_names`. */
export function assignLegacyWeights(h5: H5File, model: tf.LayersModel, weightsRoot: H5Group, file: string): void {
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const ref = { name: layer.name, className: layer.getClassName() };
    const group = getEntity(weightsRoot, layer.name);
    if (!isGroup(h5, group)) throw new ModelError(file, `has no weights in the file (no group model_weights/${layer.name})`, ref);
    const listed = attrStrings(group, 'weight_names');
    if (listed === null) throw new ModelError(file, `group model_weights/${layer.name} has no weight_names attribute`, ref);
    const names = withoutNormalizationCounts(layer, listed);
    const budget = weightBudget(layer);
    const weights = names.map((n, i) => readWeight(h5, group, n, file, ref, `model_weights/${layer.name}/${n}`, weightLimits(layer, budget, i)));
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
export function assignKeras3Weights(h5: H5File, container: tf.LayersModel, config: RawLayer, prefix: string, file: string): void {
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
    let keys = group.keys().filter((key) => /^\d+$/.test(key)).sort((a, b) => Number(a) - Number(b));
    // Keras 2's Normalization stores mean, variance and an int64 count (vars/2) that inference does not use.
    if (layer.getClassName() === 'Normalization') keys = keys.slice(0, layer.weights.length);
    const budget = weightBudget(layer);
    const weights = keys.map((key, i) => readWeight(h5, group, key, file, ref, `${at}/vars/${key}`, weightLimits(layer, budget, i)));
    setLayerWeights(layer, weights, file, ref, `${at}/vars`);
  }
}
