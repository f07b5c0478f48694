/**
 * A small file-system loader for tfjs Layers models (model.json + weight shards), so that the
 * digit model loads with plain @tensorflow/tfjs in Node without tfjs-node's file:// handler.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadDigitModelFiles } from './scene';

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

function parseModelJson(text: string, file: string): ModelJson {
  const parsed: unknown = JSON.parse(text);
  const j = parsed as Partial<ModelJson> | null;
  if (!j || typeof j !== 'object' || typeof j.modelTopology !== 'object' || !Array.isArray(j.weightsManifest)) {
    throw new Error(`${file}: not a tfjs layers model.json (modelTopology and weightsManifest expected)`);
  }
  return j as ModelJson;
}

/** Reads model.json and its weight files into in-memory artifacts for `tf.io.fromMemory`. */
export async function readLayersArtifacts(modelJsonPath: string): Promise<tf.io.ModelArtifacts> {
  const json = parseModelJson(await readFile(modelJsonPath, 'utf8'), modelJsonPath);
  const dir = path.dirname(modelJsonPath);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(await readFile(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return {
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
  };
}

/** Loads a tfjs Layers model from a model.json path on disk. */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(await readLayersArtifacts(modelJsonPath)));
}

/** Loads the committed built-in digit model (window 28×28×1, 11 softmax outputs). */
export async function loadDigitModel(): Promise<tf.LayersModel> {
  return loadLayersModelFromFile(loadDigitModelFiles().modelJson);
}
