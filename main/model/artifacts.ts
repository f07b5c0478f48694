import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { buildUntrusted } from './build';
import { assignWeightsByName } from './weights';

const BYTES: Partial<Record<tf.DataType, number>> = { float32: 4, int32: 4, bool: 1 };
/** writeModelWeights writes through one buffer of this size by default. */
const PIECE_BYTES = 8 << 20;

/**
 * A tensor's values as a view of tfjs's WebAssembly heap, without the copy dataSync makes (VGG's head
 * kernel: 411 MB, left for the garbage collector beside the artifacts), or undefined on another
 * backend. Valid only until tfjs next allocates: read at once, never kept.
 */
function heapArray(t: tf.Tensor): Float32Array | Int32Array | Uint8Array | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as { typedArrayFromHeap?: (info: tf.TensorInfo) => unknown };
  try {
    const view = backend.typedArrayFromHeap?.(t);
    const ok = view instanceof Float32Array || view instanceof Int32Array || view instanceof Uint8Array;
    return ok && view.length === t.size ? view : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serialises a tfjs model to in-memory artifacts (topology + one weight buffer), as tfjs saves it
 * (`model.save`: the same topology, weight names, order and bytes). Each weight is copied straight
 * into the one buffer: tfjs's own encoder reads every weight into a copy first and then joins the
 * copies, twice the weights at once (a gigabyte for a VGG).
 */
export async function modelToArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  const values = model.getWeights();
  if (values.some((v) => BYTES[v.dtype] === undefined)) return modelToArtifactsByTfjs(model);
  const data = new Uint8Array(values.reduce((n, v) => n + v.size * (BYTES[v.dtype] as number), 0));
  let at = 0;
  for (const v of values) {
    const bytes = weightBytes(v);
    data.set(bytes, at);
    at += bytes.byteLength;
  }
  return { ...artifactsWithoutWeights(model, values), weightData: data.buffer };
}

/**
 * Writes the weights of {@link modelToArtifacts} (the same bytes, in the same order) to `file`, one
 * weight at a time straight from tfjs's heap, instead of joining them in memory first (a copy of
 * the weights beside tfjs's heap: half a gigabyte for a VGG), through one buffer of `pieceBytes`.
 * `file` is created or truncated.
 * @returns the artifacts without weightData (topology and weight specs)
 */
export async function writeModelWeights(model: tf.LayersModel, file: string, pieceBytes = PIECE_BYTES): Promise<tf.io.ModelArtifacts> {
  const values = model.getWeights();
  if (values.some((v) => BYTES[v.dtype] === undefined)) {
    const { weightData, ...rest } = await modelToArtifactsByTfjs(model);
    const data = weightData === undefined ? new ArrayBuffer(0) : Array.isArray(weightData) ? tf.io.concatenateArrayBuffers(weightData) : weightData;
    await fs.writeFile(file, new Uint8Array(data));
    return rest;
  }
  const handle = await fs.open(file, 'w');
  try {
    const piece = new Uint8Array(Math.min(pieceBytes, Math.max(1, ...values.map((v) => v.size * (BYTES[v.dtype] as number)))));
    for (const v of values) {
      const inHeap = heapArray(v) !== undefined;
      const copied = inHeap ? undefined : weightBytes(v);
      const length = v.size * (BYTES[v.dtype] as number);
      for (let at = 0; at < length; at += piece.byteLength) {
        // A view of the heap is valid only until tfjs next allocates: taken again for each piece, copied at once.
        const bytes = (copied ?? weightBytes(v)).subarray(at, Math.min(length, at + piece.byteLength));
        piece.set(bytes);
        for (let done = 0; done < bytes.byteLength;) done += (await handle.write(piece, done, bytes.byteLength - done)).bytesWritten;
      }
    }
  } finally {
    await handle.close();
  }
  return artifactsWithoutWeights(model, values);
}

/** A weight's bytes, a view of tfjs's heap where it can be (read at once, never kept). */
function weightBytes(v: tf.Tensor): Uint8Array {
  const array = heapArray(v) ?? v.dataSync();
  return new Uint8Array(array.buffer, array.byteOffset, v.size * (BYTES[v.dtype] as number));
}

/** The artifacts of {@link modelToArtifacts} without weightData (topology and weight specs), copying no weight. */
export function modelArtifactsWithoutWeights(model: tf.LayersModel): tf.io.ModelArtifacts {
  return artifactsWithoutWeights(model, model.getWeights());
}

function artifactsWithoutWeights(model: tf.LayersModel, values: tf.Tensor[]): tf.io.ModelArtifacts {
  const weights = model.weights;
  const weightSpecs: tf.io.WeightsManifestEntry[] = values.map((v, i) => ({ name: weights[i].originalName, shape: v.shape.slice(), dtype: v.dtype as 'float32' | 'int32' | 'bool' }));
  return {
    modelTopology: model.toJSON(null, false) as tf.io.ModelArtifacts['modelTopology'],
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    weightSpecs,
  };
}

async function modelToArtifactsByTfjs(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return saved as tf.io.ModelArtifacts;
}

/**
 * A tfjs model from artifacts, as `tf.loadLayersModel(tf.io.fromMemory(artifacts))` gives it, built
 * without initial weights (tfjs's own loader allocates zeros for every weight in the backend, then
 * a copy of each weight as it decodes them: three times the weights at once, for VGG a heap of
 * 1.5 GB that WebAssembly never gives back) and given the weights straight from `weightData`.
 * @param file named in error messages
 * @throws ModelError naming the file when a weight is missing or does not fit
 */
export async function modelFromArtifacts(artifacts: tf.io.ModelArtifacts, file: string): Promise<tf.LayersModel> {
  const data = artifacts.weightData;
  const buffer = Array.isArray(data) ? (tf.io.concatenateArrayBuffers(data)) : data;
  const model = await buildUntrusted(artifacts.modelTopology);
  try {
    assignWeightsByName(model, artifacts.weightSpecs ?? [], buffer ?? new ArrayBuffer(0), file);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
