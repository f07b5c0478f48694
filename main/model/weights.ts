import * as tf from '@tensorflow/tfjs';
import type { WeightQuantization } from '../../core/model-info';
import { ModelError } from './errors';

/** Quantised weights found in a manifest (tensorflowjs_converter --quantize_uint8/uint16/float16). */
export type QuantizationInfo = WeightQuantization;

/** Which manifest entries are quantised, or null when none is. */
export function quantizationOf(specs: readonly tf.io.WeightsManifestEntry[]): QuantizationInfo | null {
  const quantized = specs.filter((s) => s.quantization !== undefined);
  if (quantized.length === 0) return null;
  const dtypes = [...new Set(quantized.map((s) => s.quantization?.dtype as 'uint8' | 'uint16' | 'float16'))].sort();
  return { dtypes, weights: quantized.length, total: specs.length };
}

function shapeText(s: readonly (number | null)[]): string {
  return `[${s.join(', ')}]`;
}

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/** The layer a tfjs variable belongs to, for error messages. */
function owner(model: tf.LayersModel, v: tf.LayerVariable): { name: string; className: string } | undefined {
  const visit = (layers: tf.layers.Layer[]): { name: string; className: string } | undefined => {
    for (const l of layers) {
      if (l instanceof tf.LayersModel) {
        const inner = visit(l.layers);
        if (inner) return inner;
      } else if (l.weights.includes(v)) {
        return { name: l.name, className: l.getClassName() };
      }
    }
    return undefined;
  };
  return visit(model.layers);
}

/**
 * tfjs names of a Keras 3 weight name: Keras 3's DepthwiseConv2D calls its kernel `kernel`, tfjs
 * (like Keras 2) `depthwise_kernel`.
 */
function keras3Aliases(name: string): string[] {
  return name.endsWith('/kernel') ? [`${name.slice(0, -'kernel'.length)}depthwise_kernel`] : [];
}

const PLAIN_BYTES: Partial<Record<string, number>> = { float32: 4, int32: 4, bool: 1 };
const QUANTIZED_BYTES: Partial<Record<string, number>> = { uint8: 1, uint16: 2, float16: 2 };

/**
 * tfjs's decodeWeights, one entry at a time: a float32 entry becomes a tensor straight from a view of
 * the shards' buffer (tfjs copies each entry out of it first: the weights twice over, half a
 * gigabyte more for a VGG); other entries are decoded by tfjs from their own bytes.
 */
function decodeEach(weightData: ArrayBuffer, specs: readonly tf.io.WeightsManifestEntry[]): tf.NamedTensorMap {
  const width = (s: tf.io.WeightsManifestEntry): number | undefined => (s.quantization ? QUANTIZED_BYTES[s.quantization.dtype] : PLAIN_BYTES[s.dtype ?? 'float32']);
  if (specs.some((s) => width(s) === undefined)) return tf.io.decodeWeights(weightData, specs as tf.io.WeightsManifestEntry[]);
  const out: tf.NamedTensorMap = {};
  let offset = 0;
  try {
    for (const spec of specs) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const bytes = n * (width(spec) as number);
      if (offset + bytes > weightData.byteLength) throw new RangeError(`weight "${spec.name}" needs bytes ${offset}–${offset + bytes}, the weights hold ${weightData.byteLength}`);
      out[spec.name] = !spec.quantization && (spec.dtype ?? 'float32') === 'float32' && offset % 4 === 0
        ? tf.tensor(new Float32Array(weightData, offset, n), spec.shape, 'float32')
        : tf.io.decodeWeights(weightData.slice(offset, offset + bytes), [spec])[spec.name];
      offset += bytes;
    }
  } catch (e) {
    tf.dispose(Object.values(out));
    throw e;
  }
  return out;
}

/**
 * Decodes a manifest's weights (quantised uint8/uint16 entries become `q · scale + min`, float16
 * entries float32, per the manifest) and sets them on `model`, matching each entry to a model weight
 * by name. Keras 3 exports prefix names with the model's name and nested models' names
 * (`sequential_11/batch_normalization_44/gamma` for the weight `batch_normalization_44/gamma`):
 * an entry matches the model weight named by the longest tail of its path (at least layer/weight)
 * whose shape agrees (Keras 3's DepthwiseConv2D `kernel` is tfjs's `depthwise_kernel`). Refuses, naming it, the first entry that matches nothing, and the first model
 * weight that no entry fills.
 * @param weightData the shards joined, in manifest order
 */
export function assignWeightsByName(
  model: tf.LayersModel,
  specs: readonly tf.io.WeightsManifestEntry[],
  weightData: ArrayBuffer,
  file: string,
): void {
  let decoded: tf.NamedTensorMap;
  try {
    decoded = decodeEach(weightData, specs);
  } catch (e) {
    throw new ModelError(file, `weights cannot be decoded: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    const byName = new Map<string, tf.LayerVariable[]>();
    for (const v of model.weights) byName.set(v.originalName, [...(byName.get(v.originalName) ?? []), v]);
    const filled = new Map<tf.LayerVariable, tf.Tensor>();
    for (const spec of specs) {
      const value = decoded[spec.name];
      const parts = spec.name.replace(/:\d+$/, '').split('/');
      let target: tf.LayerVariable | undefined;
      let mismatch: tf.LayerVariable | undefined;
      for (let k = 0; k <= Math.max(0, parts.length - 2) && target === undefined; k++) {
        const tail = parts.slice(k).join('/');
        const candidates = [tail, ...keras3Aliases(tail)].flatMap((n) => byName.get(n) ?? []);
        target = candidates.find((v) => !filled.has(v) && sameShape(v.shape, value.shape));
        mismatch ??= candidates.find((v) => !filled.has(v));
      }
      if (target === undefined) {
        const why = mismatch
          ? `has shape ${shapeText(value.shape)}, but the model's weight "${mismatch.originalName}" has shape ${shapeText(mismatch.shape)}`
          : `matches no weight of the model (model weights are named like "${model.weights[0]?.originalName ?? '?'}")`;
        throw new ModelError(file, `weight "${spec.name}" in the weight files ${why}`, mismatch ? owner(model, mismatch) : undefined);
      }
      filled.set(target, value);
    }
    const missing = model.weights.find((v) => !filled.has(v));
    if (missing) {
      throw new ModelError(file, `weight "${missing.originalName}" ${shapeText(missing.shape)} is not in the weight files`, owner(model, missing));
    }
    for (const [v, t] of filled) v.write(t);
  } finally {
    tf.dispose(Object.values(decoded));
  }
}
