/**
 * Which model `convmap heatmap` runs and on which photos. The built-in digit model runs only when
 * asked for (`--model builtin`): photos without a model are refused in one line saying how to name
 * one, so a forgotten model never scores a cat as digits; a first argument that is neither a model
 * nor a photo or folder of photos is refused, naming it, so a misspelled model path is told apart.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { modelDisplayName } from '../../core/defaults';
import { hasModelExtension } from '../../core/formats';
import { readFileHead } from '../io/safe-read';
import { FOREIGN_HEAD_BYTES, foreignFileReason, foreignFolderReason } from '../model/foreign';
import { zippedModel } from '../model/zipped';
import { holdsModel } from '../services/models';
import { isScannedPhoto, scanInputs } from '../services/scan';
const MODEL_KINDS = 'a model.json, a model folder, a converted folder, a .h5, .keras or .onnx file';

/** The refusal of photos given without a model. */
export const NO_MODEL_MESSAGE = `no model given: name one first (convmap heatmap MODEL PHOTO... --out DIR, where MODEL is ${MODEL_KINDS}), or pass --model PATH, or --model builtin for the built-in digit model`;

/** The model and photo inputs of one heatmap run. */
export interface HeatmapInputs {
  /** Model file or folder; null for the built-in digit model. */
  modelPath: string | null;
  /** The model as summary lines name it. */
  modelName: string;
  /** Photo files and folders, as given. */
  targets: string[];
}

/** True when the path is a model: a model file by extension (core/formats), or a folder holding a model. */
async function isModel(p: string): Promise<boolean> {
  const stat = await fs.stat(p).catch(() => null);
  if (!stat) return false;
  if (stat.isFile()) return hasModelExtension(p) || (await zippedModel(p)) !== null;
  return holdsModel(p);
}

/** Why the first argument is neither a model nor photos, or null when it is an existing photo or folder of photos. */
async function notPhotos(p: string, recursive: boolean): Promise<string | null> {
  const stat = await fs.stat(p).catch(() => null);
  if (!stat) {
    return hasModelExtension(p)
      ? `${p}: no such model file`
      : `${p}: no such model, photo or folder (a model is ${MODEL_KINDS})`;
  }
  if (stat.isFile()) {
    if (isScannedPhoto(p)) return null;
    const foreign = foreignFileReason(path.basename(p), await readFileHead(p, FOREIGN_HEAD_BYTES).catch(() => new Uint8Array(0)));
    return foreign !== undefined ? `${p}: ${foreign}` : `${p}: neither a model (${MODEL_KINDS}) nor a photo`;
  }
  if (!stat.isDirectory()) return `${p}: neither a model nor a photo or folder`;
  const entries = await fs.readdir(p).catch(() => null);
  if (entries === null) return `${p}: cannot read this folder`;
  if (entries.length === 0) return `${p}: an empty folder, neither a model nor a folder of photos`;
  const scan = await scanInputs([p], { recursive });
  if (scan.photos.length === 0) {
    const foreign = foreignFolderReason(entries);
    if (foreign !== undefined) return `${p}: ${foreign}`;
    return `${p}: a folder with no model.json and no photos${recursive ? '' : ' (sub-folders need --recursive)'}`;
  }
  return null;
}

/**
 * Resolves the heatmap command's positional arguments and `--model`.
 * @param inputs `[MODEL] FOLDER_OR_IMAGE...` as given.
 * @param model `--model` as given: a path, 'builtin', or undefined.
 * @throws Error with one line naming the argument that is neither a model nor a photo or folder of
 *   photos, or {@link NO_MODEL_MESSAGE} when only photos are given.
 */
export async function resolveHeatmapInputs(inputs: readonly string[], model: string | undefined, recursive: boolean): Promise<HeatmapInputs> {
  if (model !== undefined) {
    const modelPath = model === 'builtin' ? null : model;
    if (modelPath !== null && !(await isModel(modelPath))) {
      const why = await notPhotos(modelPath, recursive);
      throw new Error(why !== null && why.includes('no such') ? `--model ${why}` : `--model ${modelPath}: not a model (expected ${MODEL_KINDS}, or "builtin")`);
    }
    return { modelPath, modelName: modelDisplayName(modelPath), targets: [...inputs] };
  }
  if (inputs.length === 0) throw new Error(NO_MODEL_MESSAGE);
  const [first, ...rest] = inputs;
  if (await isModel(first)) return { modelPath: first, modelName: modelDisplayName(first), targets: rest };
  const why = await notPhotos(first, recursive);
  if (why !== null) throw new Error(why);
  throw new Error(NO_MODEL_MESSAGE);
}
