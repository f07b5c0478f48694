import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ConvertedModelInfo } from '../../core/model-info';
import { readSidecar } from '../model/guards';
import { readModelArtifacts } from '../model/load';
import { checkOutputFolder, writeFileAtomic } from '../io/atomic';

export const SIDECAR = 'convmap.json';

export { modelToArtifacts } from '../model/artifacts';

/**
 * Writes the fully convolutional model as model.json + weights.bin (loadable by tfjs at any input
 * size) and the sidecar convmap.json, each written to a temporary name and renamed.
 * @throws OutputError naming the folder when it cannot be made or written (checkOutputFolder).
 */
export async function saveConverted(dir: string, artifacts: tf.io.ModelArtifacts, info: ConvertedModelInfo, weightsFile?: string): Promise<void> {
  await checkOutputFolder(dir);
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'Convmap',
    convertedBy: 'Convmap FC→conv converter',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
  };
  await writeFileAtomic(path.join(dir, 'weights.bin'), weightsFile !== undefined ? () => createReadStream(weightsFile) : new Uint8Array(artifacts.weightData as ArrayBuffer));
  await writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  await writeFileAtomic(path.join(dir, SIDECAR), JSON.stringify(info, null, 2) + '\n');
}

/** True when `dir` (or the folder of a model.json) holds a converted model with its sidecar. */
export async function isConvertedModel(target: string): Promise<boolean> {
  const dir = target.endsWith('.json') ? path.dirname(target) : target;
  return fs.stat(path.join(dir, SIDECAR)).then(() => true, () => false);
}

/** Reads a model written by saveConverted. */
export async function loadConverted(target: string): Promise<{ artifacts: tf.io.ModelArtifacts; info: ConvertedModelInfo }> {
  const dir = target.endsWith('.json') ? path.dirname(target) : target;
  const sidecar = path.join(dir, SIDECAR);
  // A regular file under the side-file cap; a parse error never quotes the content.
  const info = await readSidecar(sidecar);
  return { artifacts: await readModelArtifacts(path.join(dir, 'model.json')), info };
}
