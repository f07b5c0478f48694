import * as tf from '@tensorflow/tfjs';
import { buildUntrusted } from './build';
import { ModelError } from './errors';
import { parseJsonText } from './guards';
import { normalizeTopology } from './topology';
import { unsupportedLayerReason } from './unsupported';

/**
 * Keras model configs rewritten so tfjs builds them: Keras 3 Sequential inputs folded onto the first
 * layer, node indices of nested Sequentials shifted, unknown classes named before tfjs fails.
 */
export interface RawLayer {
  class_name: string;
  config: { name?: string; layers?: unknown } | unknown[];
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The layer list of a Sequential/Functional config (old Keras Sequential configs are the list itself). */
export function sublayers(layer: RawLayer): RawLayer[] | null {
  const c = layer.config;
  const list = Array.isArray(c) ? c : isRecord(c) && Array.isArray(c.layers) ? c.layers : null;
  return list ? list.filter((l): l is RawLayer => isRecord(l) && typeof l.class_name === 'string') : null;
}

export function layerName(layer: RawLayer): string {
  return isRecord(layer.config) && typeof layer.config.name === 'string' ? layer.config.name : '?';
}



/**
 * Names the first layer whose class tfjs does not know (a custom layer, Lambda) or that Convmap
 * cannot convert (quantisation-aware, recurrent, TimeDistributed), before tfjs fails with a generic error.
 */
export function checkClasses(layer: Record<string, unknown>, file: string, known: Set<string>): void {
  const className = layer.class_name;
  if (typeof className !== 'string') return;
  const cfg = layer.config;
  const name = isRecord(cfg) && typeof cfg.name === 'string' ? cfg.name : typeof layer.name === 'string' ? layer.name : '?';
  const reason = unsupportedLayerReason(className, known.has(className));
  if (reason !== null) throw new ModelError(file, reason, { name, className });
  if (isRecord(cfg) && 'activation' in cfg) {
    const why = activationProblem(cfg.activation, known);
    if (why !== null) throw new ModelError(file, why, { name, className });
  }
  const list = Array.isArray(cfg) ? cfg : isRecord(cfg) && Array.isArray(cfg.layers) ? cfg.layers : [];
  for (const l of list) if (isRecord(l)) checkClasses(l, file, known);
}

/**
 * Keras 3 writes a Sequential's input as a leading InputLayer entry. tfjs builds that at the top
 * level but not inside a Functional model ("Graph disconnected"), so every Sequential gets the
 * Keras 2 form: the InputLayer's shape and dtype moved onto its first layer.
 */
export function foldSequentialInputs(layer: unknown): unknown {
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
export function shiftSequentialNodes(layer: Record<string, unknown>): void {
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

/** tfjs's spelling of a config string (it camel-cases them: `hard_silu` → `hardSilu`). */
function tfjsName(name: string): string {
  return name.includes('_') ? name.replace(/_+(\w|$)/g, (_m, c: string) => c.toUpperCase()) : name;
}

/**
 * Why a layer's `activation` cannot be computed, or null when it can: a name neither tfjs nor
 * main/model/activations.ts has, or a custom activation function (an object naming Python code).
 */
function activationProblem(activation: unknown, known: Set<string>): string | null {
  if (activation === null || activation === undefined) return null;
  if (typeof activation === 'string') {
    if (known.has(activation) || known.has(tfjsName(activation))) return null;
    return `activation "${activation}" is not one Convmap can compute (see docs/models.md for the activations it converts): ` +
      'a custom activation from the training code; export the model with a built-in Keras activation';
  }
  const named = isRecord(activation) ? (activation.registered_name ?? activation.config ?? activation.class_name) : undefined;
  return `activation ${typeof named === 'string' ? `"${named}" ` : ''}is a custom function from the training code, which only Python can run: ` +
    'export the model with a built-in Keras activation';
}

/**
 * One line from a tfjs build error: its first line, without tfjs's boilerplate ("This may be due to
 * one of the following reasons: …").
 */
export function tfjsBuildReason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].replace(/\s*This may be due to one of the following reasons:.*$/, '').trim();
}

/** Class names tfjs can build (its serialisation registry). */
export function knownLayerClasses(): Set<string> {
  return new Set(Object.keys(tf.serialization.SerializationMap.getMap().classNameMap));
}

export function kerasMajor(version: string | null): number {
  const m = /^(\d+)(\.|$)/.exec(version ?? '');
  return m ? Number(m[1]) : 0;
}

export async function buildModel(config: Record<string, unknown>, file: string, kerasVersion: string | null): Promise<tf.LayersModel> {
  const normalized = normalizeTopology(foldSequentialInputs(config), file, kerasVersion);
  if (kerasMajor(kerasVersion) >= 3) shiftSequentialNodes(normalized);
  checkClasses(normalized, file, knownLayerClasses());
  try {
    return await buildUntrusted(normalized);
  } catch (e) {
    throw new ModelError(file, `TensorFlow.js could not build the model: ${tfjsBuildReason(e)}`);
  }
}

export function parseConfig(text: string, file: string, where: string): Record<string, unknown> {
  const config = parseJsonText(text, file, where);
  if (!isRecord(config) || typeof config.class_name !== 'string') {
    throw new ModelError(file, `${where} is not a Keras model config (no class_name)`);
  }
  return config;
}
