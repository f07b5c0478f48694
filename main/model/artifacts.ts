import * as tf from '@tensorflow/tfjs';
import { buildUntrusted } from './build';
import { assignWeightsByName } from './weights';

const BYTES: Partial<Record<tf.DataType, number>> = { float32: 4, int32: 4, bool: 1 };

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
  const weights = model.weights;
  const values = model.getWeights();
  if (values.some((v) => BYTES[v.dtype] === undefined)) return modelToArtifactsByTfjs(model);
  const weightSpecs: tf.io.WeightsManifestEntry[] = values.map((v, i) => ({ name: weights[i].originalName, shape: v.shape.slice(), dtype: v.dtype as 'float32' | 'int32' | 'bool' }));
  const data = new Uint8Array(values.reduce((n, v) => n + v.size * (BYTES[v.dtype] as number), 0));
  let at = 0;
  for (const v of values) {
    const array = heapArray(v) ?? v.dataSync();
    const bytes = new Uint8Array(array.buffer, array.byteOffset, v.size * (BYTES[v.dtype] as number));
    data.set(bytes, at);
    at += bytes.byteLength;
  }
  return {
    modelTopology: model.toJSON(null, false) as tf.io.ModelArtifacts['modelTopology'],
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    weightSpecs,
    weightData: data.buffer,
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
