/**
 * A Convmap converted folder (what `convert -o` and the model cache write: model.json, weights.bin,
 * convmap.json, model.onnx) read without tfjs, so opening one for ONNX Runtime costs file reads only.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { ConvertedModelInfo } from '../../core/model-info';
import type { OnnxModelFile } from '../engine/engine';
import { ModelError } from '../model/errors';
import { assertFiniteArtifacts, checkManifest, MAX_WEIGHT_BYTES, readJsonFile, readSidecar, readWeightShards } from '../model/guards';

/** The sidecar of a converted folder. */
export const SIDECAR_FILE = 'convmap.json';
/** The ONNX file of a converted folder. */
export const ONNX_MODEL_FILE = 'model.onnx';

/** The folder of a converted model given as its folder or its model.json. */
export function convertedDir(target: string): string {
  return target.endsWith('.json') ? path.dirname(target) : target;
}

/** True when `target` (a folder, or a model.json) has a Convmap sidecar next to it. */
export async function isConvertedFolder(target: string): Promise<boolean> {
  return fs.stat(path.join(convertedDir(target), SIDECAR_FILE)).then(() => true, () => false);
}

/** A converted folder's model.onnx and its activations' size, when its sidecar records that size. */
export async function onnxOf(dir: string, info: ConvertedModelInfo): Promise<OnnxModelFile | undefined> {
  const bytesPerPixel = info.activationBytesPerPixel;
  if (typeof bytesPerPixel !== 'number' || !Number.isFinite(bytesPerPixel) || bytesPerPixel <= 0) return undefined;
  const file = path.join(dir, ONNX_MODEL_FILE);
  const st = await fs.stat(file).catch(() => null);
  return st?.isFile() ? { file, bytesPerPixel } : undefined;
}

/**
 * Reads a converted folder as Convmap writes it: the sidecar, the topology as saved and one
 * float32 weights.bin (read within the model's folder, finite values only).
 * @param opts.weights false: weights.bin is not read (the artifacts carry no weightData; where ONNX
 *   Runtime opens the folder's model.onnx nothing needs it): the layout is checked from model.json
 *   alone, and {@link readConvertedWeights} reads the weights if an engine asks for them
 * @returns undefined when the folder is laid out otherwise (several shards, quantised weights):
 *   loadConverted, through tfjs, reads those
 * @throws ModelError naming the file that is damaged
 */
export async function readConvertedFolder(target: string, opts: { weights?: boolean } = {}): Promise<{ artifacts: tf.io.ModelArtifacts; info: ConvertedModelInfo } | undefined> {
  const dir = convertedDir(target);
  const sidecar = path.join(dir, SIDECAR_FILE);
  const info = await readSidecar(sidecar);
  const file = path.join(dir, 'model.json');
  const json = (await readJsonFile(file)) as { modelTopology?: unknown; weightsManifest?: unknown } | null;
  const manifest = json?.weightsManifest;
  if (typeof json?.modelTopology !== 'object' || json.modelTopology === null || !Array.isArray(manifest) || manifest.length !== 1) return undefined;
  checkManifest(file, manifest);
  const group = manifest[0] as { paths?: unknown; weights?: tf.io.WeightsManifestEntry[] };
  const specs = group.weights ?? [];
  if (!specs.every((w) => w.dtype === 'float32' && w.quantization === undefined && Array.isArray(w.shape))) return undefined;
  const topology: tf.io.ModelArtifacts = { modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'], weightSpecs: specs, format: 'layers-model' };
  if (opts.weights === false) {
    if (!Array.isArray(group.paths) || group.paths.length !== 1) return undefined;
    return { artifacts: topology, info };
  }
  const bytes = specs.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  const [weights, ...more] = await readWeightShards(file, group.paths, bytes, { left: MAX_WEIGHT_BYTES });
  if (weights === undefined || more.length > 0) return undefined;
  const weightData = weights.byteOffset === 0 && weights.byteLength === weights.buffer.byteLength
    ? weights.buffer as ArrayBuffer
    : weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  const artifacts: tf.io.ModelArtifacts = { ...topology, weightData };
  assertFiniteArtifacts(file, artifacts);
  return { artifacts, info };
}

/**
 * The artifacts of a converted folder read without its weights ({@link readConvertedFolder} with
 * `weights: false`), now with them: weights.bin read and checked as readConvertedFolder does.
 * @throws ModelError naming the file that is missing or damaged (or model.json, where the folder is
 *   no longer laid out as it was when opened)
 */
export async function readConvertedWeights(target: string): Promise<tf.io.ModelArtifacts> {
  const read = await readConvertedFolder(target);
  if (read === undefined) throw new ModelError(path.join(convertedDir(target), 'model.json'), 'changed while the model was open: it no longer names one float32 weights.bin');
  return read.artifacts;
}
