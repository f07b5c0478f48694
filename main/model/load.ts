import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { singleFileModels } from '../../core/formats';
import { isOnnxFile, loadOnnxClassifier, type OnnxImportSummary } from './onnx/load-onnx';
import { buildUntrusted } from './build';
import { ModelError } from './errors';
import { FOREIGN_HEAD_BYTES, foreignFileReason, foreignFolderReason } from './foreign';
import { readFileHead } from '../io/safe-read';
import { assertFiniteArtifacts, assertLayerNames, assertModelBudget, checkManifest, MAX_MODEL_JSON_BYTES, MAX_WEIGHT_BYTES, readJsonFile, readSideFile, readWeightShards } from './guards';
import { loadKerasModel, readKerasArtifacts, sniffKerasFile } from './keras';
import { isKerasArchitectureJson, weightsBeside } from './keras-pair';
import { checkClasses, knownLayerClasses, tfjsBuildReason } from './keras-config';
import { stripIndexPrefixes, TEACHABLE_MACHINE_KERAS_FILE } from './labels';
import { normalizeTopology } from './topology';
import { assignWeightsByName, quantizationOf, type QuantizationInfo } from './weights';

/** A tfjs Layers classifier read from disk, with what the files say about its classes. */
export interface LoadedClassifier {
  model: tf.LayersModel;
  /** The model.json that was read. */
  file: string;
  /** Class names from labels.txt / classes.txt / metadata.json, or null when the folder has none. */
  labels: string[] | null;
  /** Hints from the files: Teachable Machine exports expect inputs in [−1, 1]. */
  teachableMachine: boolean;
  /** Weights stored quantised in the manifest (dequantised on load), or null. */
  quantization: QuantizationInfo | null;
  /** Set for an ONNX file: what its import decided and how it was checked (main/model/onnx). */
  onnx?: OnnxImportSummary;
}

interface WeightsGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

interface ModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: WeightsGroup[];
}

/**
 * Finds the model file a user meant: the file itself, or in a folder `model.json`, else the one
 * `*.json` holding a `modelTopology` (browser-saved models are named e.g. `my-model.json`), else
 * the folder's only Keras or ONNX file (`*.keras`, `*.h5`, `*.hdf5`, `*.onnx`).
 */
export async function resolveModelJson(target: string): Promise<string> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch {
    throw new ModelError(target, 'no such file or folder');
  }
  if (!stat.isDirectory()) return target;
  const direct = path.join(target, 'model.json');
  if (await fs.stat(direct).then(() => true, () => false)) return direct;
  const jsons = (await fs.readdir(target)).filter((f) => f.endsWith('.json')).sort();
  for (const name of jsons) {
    const text = (await readSideFile(target, name, MAX_MODEL_JSON_BYTES)) ?? '';
    if (text.includes('"modelTopology"')) return path.join(target, name);
  }
  const entries = await fs.readdir(target);
  const keras = singleFileModels(entries);
  if (keras.length === 1) return path.join(target, keras[0]);
  // Keras 3's save_weights file: opened with the architecture JSON beside it, or refused saying so.
  const weightsOnly = entries.filter((e) => /\.weights\.h5$/i.test(e));
  if (keras.length === 0 && weightsOnly.length === 1) return path.join(target, weightsOnly[0]);
  const foreign = keras.length === 0 ? foreignFolderReason(entries) : undefined;
  if (foreign !== undefined) throw new ModelError(target, foreign);
  throw new ModelError(
    target,
    keras.length > 1
      ? `folder holds no model.json and several model files (${keras.join(', ')}): open one of them`
      : 'folder holds no model.json (a TensorFlow.js Layers model: model.json + weight shards) nor a Keras .keras/.h5 file nor an .onnx file',
  );
}

/**
 * Reads a model.json and its weight shards into tfjs ModelArtifacts, topology normalised for tfjs.
 * A Keras native file (.h5, .keras) is read through main/model/keras.ts into the same form.
 * @throws ModelError naming the file, whatever failed (an unforeseen failure too, on one line).
 */
export async function readModelArtifacts(file: string): Promise<tf.io.ModelArtifacts> {
  try {
    return await readModelArtifactsUnguarded(file);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(file, `cannot be read as a model: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}

async function readModelArtifactsUnguarded(file: string): Promise<tf.io.ModelArtifacts> {
  if ((await sniffKerasFile(file)) !== null) return readKerasArtifacts(file);
  const head = await readFileHead(file, FOREIGN_HEAD_BYTES).catch(() => new Uint8Array(0));
  const foreign = foreignFileReason(path.basename(file), head);
  if (foreign !== undefined) throw new ModelError(file, foreign);
  const parsed = await readJsonFile(file);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ModelError(file, 'is JSON but not a model (not an object)');
  if (isKerasArchitectureJson(parsed)) {
    const weights = await weightsBeside(file);
    if (weights !== null) return readKerasArtifacts(weights, { architecture: file });
    throw new ModelError(
      file,
      "is a Keras architecture (model.to_json()) without its weights: put the one .h5 file save_weights wrote beside it, or save the whole model with model.save('model.keras') and open that",
    );
  }
  const json = parsed as ModelJson;
  const topology = json.modelTopology as Record<string, unknown> | undefined;
  if (json.format === 'graph-model' || (topology && 'node' in topology)) {
    throw new ModelError(
      file,
      'is a TensorFlow.js graph model (a frozen TensorFlow graph, format "graph-model"): it has no layers to convert. ' +
        'Convmap opens Layers models (format "layers-model", written by tfjs model.save() or tensorflowjs_converter --output_format=tfjs_layers_model).',
    );
  }
  if (!topology || typeof topology !== 'object') {
    throw new ModelError(file, 'has no "modelTopology": not a TensorFlow.js Layers model');
  }
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new ModelError(file, '"weightsManifest" must be a list of weight groups');
  checkManifest(file, manifest);
  assertLayerNames(topology, file);
  const budget = { left: MAX_WEIGHT_BYTES };
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const groupBytes = manifest.map((group) => (Array.isArray(group.weights) ? group.weights.reduce((n, w) => n + byteSize(w), 0) : 0));
  // Every shard is copied into one buffer as it is read, so the shards are never all held beside it
  // (VGG-sized weights are half a gigabyte); allocated once the first group has passed the size checks.
  // A total that is no size, or over the limit, is refused by readWeightShards at its group.
  const total = groupBytes.reduce((a, b) => a + b, 0);
  const fits = Number.isSafeInteger(total) && total <= MAX_WEIGHT_BYTES;
  let all: Uint8Array | undefined;
  let at = 0;
  const sink = (bytes: Buffer): void => {
    all ??= new Uint8Array(total);
    all.set(bytes, at);
    at += bytes.byteLength;
  };
  for (const [g, group] of manifest.entries()) {
    if (!Array.isArray(group.weights)) throw new ModelError(file, 'a weightsManifest group has no "weights" list');
    // Paths stay inside the model's folder; shards must hold exactly the manifest's bytes.
    await readWeightShards(file, group.paths, groupBytes[g], budget, fits ? sink : undefined);
    weightSpecs.push(...group.weights);
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: normalizeTopology(topology, file) as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs,
    weightData: (all ?? new Uint8Array(0)).buffer as ArrayBuffer,
    format: 'layers-model',
  };
  assertFiniteArtifacts(file, artifacts);
  return artifacts;
}

function byteSize(w: tf.io.WeightsManifestEntry): number {
  if (!Array.isArray(w?.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return NaN;
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (w.quantization) return n * (w.quantization.dtype === 'uint8' ? 1 : w.quantization.dtype === 'float16' ? 2 : 2);
  return n * (w.dtype === 'bool' ? 1 : 4);
}

async function readLabels(dir: string): Promise<{ labels: string[] | null; tm: boolean }> {
  const meta = await readSideFile(dir, 'metadata.json');
  if (meta) {
    try {
      const m = JSON.parse(meta) as { labels?: unknown; tmVersion?: unknown };
      if (Array.isArray(m.labels) && m.labels.every((l) => typeof l === 'string')) {
        return { labels: m.labels as string[], tm: m.tmVersion !== undefined };
      }
    } catch {
      /* not ours to judge: fall through to text label files */
    }
  }
  for (const name of ['labels.txt', 'classes.txt']) {
    const text = await readSideFile(dir, name);
    if (text !== null) {
      const { labels, indexed } = stripIndexPrefixes(text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0));
      // Teachable Machine's Keras export: keras_model.h5 and "0 name" lines; its inputs are in [-1, 1].
      const tm = indexed && (await fs.stat(path.join(dir, TEACHABLE_MACHINE_KERAS_FILE)).then(() => true, () => false));
      if (labels.length > 0) return { labels, tm };
    }
  }
  return { labels: null, tm: false };
}

/**
 * Loads a tfjs Layers classifier from a model.json or a folder holding one, without tfjs-node:
 * current and pre-1.0 files, shards without `.bin`, several weight groups, Keras 3 topologies,
 * nested models; or a Keras native file (.h5 from Keras 2 or 3, Keras 3 .keras), read directly; or an
 * ONNX classifier, rebuilt as tfjs layers and checked against ONNX Runtime (main/model/onnx).
 * Refuses graph models with a message that says what is accepted.
 */
export async function loadClassifier(target: string, opts: { output?: string; window?: number } = {}): Promise<LoadedClassifier> {
  const file = await resolveModelJson(target);
  if (isOnnxFile(file)) return loadOnnxClassifier(file, opts);
  if ((await sniffKerasFile(file)) !== null) {
    const model = await loadKerasModel(file);
    const { labels, tm } = await readLabels(path.dirname(file));
    return { model, file, labels, teachableMachine: tm, quantization: null };
  }
  const artifacts = await readModelArtifacts(file);
  const topology = artifacts.modelTopology as Record<string, unknown>;
  checkClasses((topology.model_config ?? topology) as Record<string, unknown>, file, knownLayerClasses());
  let model: tf.LayersModel;
  try {
    model = await buildUntrusted(artifacts.modelTopology);
  } catch (e) {
    throw new ModelError(file, `TensorFlow.js could not build the model: ${tfjsBuildReason(e)}`);
  }
  const specs = artifacts.weightSpecs ?? [];
  try {
    assertModelBudget(file, model);
    assignWeightsByName(model, specs, artifacts.weightData as ArrayBuffer, file);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const { labels, tm } = await readLabels(path.dirname(file));
  return { model, file, labels, teachableMachine: tm, quantization: quantizationOf(specs) };
}
