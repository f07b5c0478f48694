import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ModelError } from './errors';
import { normalizeTopology } from './topology';

/** A tfjs Layers classifier read from disk, with what the files say about its classes. */
export interface LoadedClassifier {
  model: tf.LayersModel;
  /** The model.json that was read. */
  file: string;
  /** Class names from labels.txt / classes.txt / metadata.json, or null when the folder has none. */
  labels: string[] | null;
  /** Hints from the files: Teachable Machine exports expect inputs in [−1, 1]. */
  teachableMachine: boolean;
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

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

async function readText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new ModelError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // Keras native files would otherwise fail as "not valid JSON" with binary garbage in the message.
  if (bytes.subarray(0, 8).equals(HDF5_SIGNATURE)) {
    throw new ModelError(
      file,
      'is a Keras HDF5 file: Keras HDF5 files are not supported yet; convert with tensorflowjs_converter ' +
        '--input_format=keras --output_format=tfjs_layers_model MODEL.h5 OUT_DIR and open OUT_DIR',
    );
  }
  if (bytes.subarray(0, 4).equals(ZIP_SIGNATURE)) {
    throw new ModelError(
      file,
      'is a zip archive (a Keras 3 .keras file?): Keras native files are not supported yet; convert with tensorflowjs_converter ' +
        '--input_format=keras --output_format=tfjs_layers_model and open the folder it writes',
    );
  }
  return bytes.toString('utf8');
}

/**
 * Finds the model.json a user meant: the file itself, or in a folder `model.json`, else the one
 * `*.json` holding a `modelTopology` (browser-saved models are named e.g. `my-model.json`).
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
    const text = await fs.readFile(path.join(target, name), 'utf8').catch(() => '');
    if (text.includes('"modelTopology"')) return path.join(target, name);
  }
  throw new ModelError(target, 'folder holds no model.json (a TensorFlow.js Layers model: model.json + weight shards)');
}

/** Reads a model.json and its weight shards into tfjs ModelArtifacts, topology normalised for tfjs. */
export async function readModelArtifacts(file: string): Promise<tf.io.ModelArtifacts> {
  const text = await readText(file);
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (e) {
    throw new ModelError(file, `is not valid JSON (${(e as Error).message})`);
  }
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
  const dir = path.dirname(file);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of manifest) {
    const parts = await Promise.all(
      group.paths.map(async (p) => {
        const shard = path.join(dir, decodeURIComponent(p));
        try {
          return await fs.readFile(shard);
        } catch {
          throw new ModelError(file, `weight file "${p}" is missing (expected at ${shard})`);
        }
      }),
    );
    const groupBytes = parts.reduce((n, b) => n + b.byteLength, 0);
    const expected = group.weights.reduce((n, w) => n + byteSize(w), 0);
    if (groupBytes < expected) {
      throw new ModelError(file, `weight files ${group.paths.join(', ')} hold ${groupBytes} bytes, the manifest needs ${expected} (truncated?)`);
    }
    weightSpecs.push(...group.weights);
    buffers.push(...parts);
  }
  const all = Buffer.concat(buffers);
  return {
    modelTopology: normalizeTopology(topology, file) as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
    format: 'layers-model',
  };
}

function byteSize(w: tf.io.WeightsManifestEntry): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (w.quantization) return n * (w.quantization.dtype === 'uint8' ? 1 : w.quantization.dtype === 'float16' ? 2 : 2);
  return n * (w.dtype === 'bool' ? 1 : 4);
}

async function readLabels(dir: string): Promise<{ labels: string[] | null; tm: boolean }> {
  const meta = await fs.readFile(path.join(dir, 'metadata.json'), 'utf8').catch(() => null);
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
    const text = await fs.readFile(path.join(dir, name), 'utf8').catch(() => null);
    if (text !== null) {
      const labels = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
      if (labels.length > 0) return { labels, tm: false };
    }
  }
  return { labels: null, tm: false };
}

/**
 * Loads a tfjs Layers classifier from a model.json or a folder holding one, without tfjs-node:
 * current and pre-1.0 files, shards without `.bin`, several weight groups, Keras 3 topologies,
 * nested models. Refuses graph models with a message that says what is accepted.
 */
export async function loadClassifier(target: string): Promise<LoadedClassifier> {
  const file = await resolveModelJson(target);
  const artifacts = await readModelArtifacts(file);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new ModelError(file, `TensorFlow.js could not build the model: ${(e as Error).message.split('\n')[0]}`);
  }
  const { labels, tm } = await readLabels(path.dirname(file));
  return { model, file, labels, teachableMachine: tm };
}
