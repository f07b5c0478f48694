import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { isModelFolderListing } from '../../core/formats';
import type { ConvertedModelInfo, PreprocessMode } from '../../core/model-info';
import { guessFromTrunk, type PreprocessGuess } from '../../core/preprocess-guess';
import { refineSaved, refineStride, strideInfo, type FineConversion } from '../convert/atrous';
import { convertClassifier, type Conversion } from '../convert/convert';
import { checkEquivalence } from '../convert/equivalence';
import { isConvertedModel, loadConverted, modelToArtifacts, saveConverted } from '../convert/save';
import type { BackendName } from '../engine/backend';
import type { OnnxModelFile } from '../engine/engine';
import { activationBytesPerPixel } from '../engine/onnx-memory';
import { ModelError } from '../model/errors';
import { readJsonFile } from '../model/guards';
import { sniffKerasFile } from '../model/hdf5';
import { readLabelsFile } from '../model/labels';
import { loadClassifier, resolveModelJson } from '../model/load';
import { exportFcn, ONNX_FILE, saveOnnx } from '../onnx/convert';
import { conversionKey, findConversion, storeConversion } from './model-cache';

/** The built-in digit classifier (MNIST digits + background), trained by `npm run train:digits`. */
export const BUILTIN_MODEL_DIR = fileURLToPath(new URL('../digits/model/', import.meta.url));

/** A fully convolutional model ready for the engine: serialised weights plus what we know of it. */
export interface PreparedModel {
  info: ConvertedModelInfo;
  /** Topology + weights of the FCN, input [batch, null, null, channels]. */
  artifacts: tf.io.ModelArtifacts;
  /** Score-cache key (cache.ts modelHash), when computed off the calling thread (the conversion worker). */
  modelKey?: string;
  /** The tfjs backend the conversion ran on, where the caller chose it (the conversion worker). */
  backend?: BackendName;
  /**
   * The model's ONNX file (a converted folder's model.onnx, or the model cache's), for the ONNX
   * Runtime engine to open as is; absent where there is none to trust (an older sidecar, a stride
   * rewrite of a converted folder, no model cache).
   */
  onnx?: OnnxModelFile;
  /** The conversion came from the model cache: nothing was converted or checked again. */
  fromCache?: boolean;
}

/** The model cache of prepareModel (main/services/model-cache). */
export interface ModelCacheOptions {
  /** The cache folder (the score cache's). */
  dir: string;
  /** Bound of the model cache in bytes (default DEFAULT_MODEL_CACHE_BYTES). */
  maxBytes?: number;
}

/** The files of a converted folder that a cache entry must hold. */
const CONVERTED_FILES = ['model.json', 'weights.bin', 'convmap.json', ONNX_FILE];

/** A converted folder's model.onnx and its activations' size, when its sidecar records that size. */
async function onnxOf(dir: string, info: ConvertedModelInfo): Promise<OnnxModelFile | undefined> {
  const bytesPerPixel = info.activationBytesPerPixel;
  if (typeof bytesPerPixel !== 'number' || !Number.isFinite(bytesPerPixel) || bytesPerPixel <= 0) return undefined;
  const file = path.join(dir, ONNX_FILE);
  const st = await fs.stat(file).catch(() => null);
  return st?.isFile() ? { file, bytesPerPixel } : undefined;
}

/**
 * The files a model is read from: a Keras file, or a model.json and the weight shards its manifest
 * names. Undefined where a shard is missing or named outside the model's folder: such a model is not
 * cached (its loading refuses it, naming the file).
 */
async function modelFiles(file: string): Promise<string[] | undefined> {
  if ((await sniffKerasFile(file)) !== null) return [file];
  const json = await readJsonFile(file).catch(() => undefined);
  const manifest = (json as { weightsManifest?: unknown } | undefined)?.weightsManifest ?? [];
  if (!Array.isArray(manifest)) return undefined;
  const dir = path.dirname(file);
  const files = [file];
  for (const group of manifest as { paths?: unknown }[]) {
    if (!Array.isArray(group?.paths)) return undefined;
    for (const p of group.paths) {
      if (typeof p !== 'string' || path.isAbsolute(p) || path.normalize(p).split(/[\\/]/).includes('..')) return undefined;
      const shard = path.join(dir, p);
      const st = await fs.stat(shard).catch(() => null);
      if (!st?.isFile()) return undefined;
      files.push(shard);
    }
  }
  return files;
}


/**
 * True for a folder holding a model (a model.json or Convmap's convmap.json): the window opens such
 * a folder as a model, the CLI takes it as the MODEL argument. False for files and missing paths.
 */
export async function holdsModel(dir: string): Promise<boolean> {
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory()) return false;
  return isModelFolderListing(await fs.readdir(dir).catch(() => [] as string[]));
}

/** Names of the models nested in a Keras model, outermost first (keras.applications trunks among them). */
function nestedModelNames(model: tf.LayersModel): string[] {
  const names: string[] = [];
  const visit = (m: tf.LayersModel): void => {
    for (const layer of m.layers) {
      if (layer instanceof tf.LayersModel) {
        names.push(layer.name);
        visit(layer);
      }
    }
  };
  visit(model);
  return names;
}

function guessPreprocess(teachableMachine: boolean, conv: Conversion, builtin: boolean, model: tf.LayersModel): PreprocessGuess {
  if (teachableMachine) return { mode: 'signed', why: 'guessed: a Teachable Machine model', uncertain: false };
  if (builtin) return { mode: 'unit', why: 'the built-in model\'s', uncertain: false };
  const trunk = guessFromTrunk(nestedModelNames(model));
  if (trunk) return trunk;
  const first = conv.fcn.layers[1];
  if (first && first.getClassName() === 'Rescaling') return { mode: 'raw', why: 'guessed: the model rescales its input itself', uncertain: false };
  return { mode: 'unit', why: 'guessed: the default, nothing in the model says otherwise', uncertain: false };
}

/**
 * Opens a model for heatmaps: a Convmap-converted folder is read as is; a classifier (model.json or
 * folder) is converted and verified against crops. `target` undefined means the built-in model.
 */
export async function prepareModel(
  target: string | undefined,
  opts: {
    preprocess?: PreprocessMode;
    /** Cells this many pixels apart (a divisor of the network's stride; default the network's own). */
    stride?: number;
    onStage?: (stage: string) => void;
    /** Folder of the built-in model when it is not next to this file (a packaged app's resources). */
    builtinDir?: string;
    /** Output of a multi-output classifier to convert (its layer name); default: the first with class scores. */
    output?: string;
    /** A label file (one label a line, or a JSON array) replacing the model's labels; saved in the sidecar. */
    labelsFile?: string;
    /**
     * Model cache: a classifier's conversion (crop check included) is taken from it when the same
     * files were converted with the same options before, and put there when not; none by default.
     */
    cache?: ModelCacheOptions;
  } = {},
): Promise<PreparedModel & { conversion?: Omit<Conversion, 'fcn'> }> {
  const builtin = target === undefined;
  const source = target ?? opts.builtinDir ?? BUILTIN_MODEL_DIR;
  if (!builtin && (await isConvertedModel(source))) {
    const loaded = await loadConverted(source);
    if (opts.output !== undefined && loaded.info.output !== undefined && opts.output !== loaded.info.output) {
      throw new ModelError(source, `was converted from output "${loaded.info.output}"; convert the classifier again with --output ${opts.output}`);
    }
    const refined = opts.stride === undefined ? undefined : await refineSaved(loaded.artifacts, loaded.info, opts.stride, source);
    const { artifacts, info } = refined ?? loaded;
    const labels = opts.labelsFile ? await readLabelsFile(opts.labelsFile, info.labels.length) : null;
    // A stride rewrite makes another network: the folder's ONNX file and its activations' size are not its.
    const { preprocessGuess, activationBytesPerPixel: bytesPerPixel, ...rest } = info;
    const onnx = refined === undefined ? await onnxOf(source.endsWith('.json') ? path.dirname(source) : source, info) : undefined;
    return {
      ...(onnx ? { onnx } : {}),
      artifacts,
      info: {
        ...rest,
        ...(refined === undefined && bytesPerPixel !== undefined ? { activationBytesPerPixel: bytesPerPixel } : {}),
        ...(opts.preprocess ? { preprocess: opts.preprocess } : preprocessGuess ? { preprocessGuess } : {}),
        ...(labels && opts.labelsFile ? { labels, labelsFile: path.resolve(opts.labelsFile) } : {}),
      },
    };
  }
  let key: string | undefined;
  if (opts.cache !== undefined) {
    const files = await modelFiles(await resolveModelJson(source));
    if (files !== undefined) {
      const options = { preprocess: opts.preprocess ?? null, stride: opts.stride ?? null, output: opts.output ?? null, builtin };
      key = await conversionKey(files, options, opts.labelsFile);
      const hit = await cachedConversion(opts.cache.dir, key, builtin ? 'built-in digits' : path.resolve(files[0]), opts.labelsFile);
      if (hit !== undefined) return hit;
    }
  }
  opts.onStage?.('loading');
  const classifier = await loadClassifier(source, { output: opts.output });
  try {
    opts.onStage?.('converting');
    // An ONNX import keeps only the chosen output (it took opts.output itself).
    const coarse = convertClassifier(classifier.model, classifier.file, { output: classifier.onnx ? undefined : opts.output });
    let fine: FineConversion | undefined;
    try {
      if (opts.stride !== undefined) fine = refineStride(coarse, opts.stride, classifier.file);
      const conv: Conversion = fine ?? coarse;
      const given = opts.labelsFile ? await readLabelsFile(opts.labelsFile, conv.classes) : null;
      opts.onStage?.('verifying');
      const guess = classifier.onnx?.preprocess ?? guessPreprocess(classifier.teachableMachine, conv, builtin, classifier.model);
      const preprocess = opts.preprocess ?? guess.mode;
      const equivalence = await checkEquivalence(classifier.model, conv, classifier.file, { preprocess });
      const chosen = conv.outputs[conv.outputIndex];
      const labels = given ?? (classifier.labels && classifier.labels.length === conv.classes
        ? classifier.labels
        : conv.classes === 1 && chosen.kind === 'regression'
          ? [chosen.name]
          : Array.from({ length: conv.classes }, (_, i) => `class ${i}`));
      const info: ConvertedModelInfo = {
        format: 'convmap-fcn',
        version: 1,
        source: builtin ? 'built-in digits' : path.resolve(classifier.file),
        window: conv.window,
        stride: conv.stride,
        offset: conv.offset,
        channels: conv.channels,
        labels,
        head: [...(classifier.onnx?.notes ?? []), ...conv.head],
        boundary: conv.boundary,
        ...(fine && fine.fcn !== coarse.fcn ? strideInfo(fine) : {}),
        padding: conv.padding,
        preprocess,
        ...(opts.preprocess ? {} : { preprocessGuess: { why: guess.why, uncertain: guess.uncertain } }),
        equivalence,
        outputs: conv.outputs,
        output: conv.output,
        ...(classifier.quantization ? { quantization: classifier.quantization } : {}),
        ...(opts.labelsFile ? { labelsFile: path.resolve(opts.labelsFile) } : {}),
        activationBytesPerPixel: activationBytesPerPixel(conv.fcn, conv.window),
      };
      const artifacts = await modelToArtifacts(conv.fcn);
      const { fcn: _fcn, ...conversion } = conv;
      const onnx = opts.cache !== undefined && key !== undefined ? await toCache(opts.cache, key, conv.fcn, artifacts, info, classifier.file) : undefined;
      return { artifacts, info, conversion, ...(onnx ? { onnx } : {}) };
    } finally {
      if (fine && fine.fcn !== coarse.fcn) fine.fcn.dispose();
      coarse.fcn.dispose();
    }
  } finally {
    classifier.model.dispose();
  }
}

/** A cached conversion of the model now at `source`, or undefined (none, or a damaged entry: converted again). */
async function cachedConversion(cacheDir: string, key: string, source: string, labelsFile: string | undefined): Promise<PreparedModel | undefined> {
  const dir = await findConversion(cacheDir, key, CONVERTED_FILES);
  if (dir === undefined) return undefined;
  try {
    const { artifacts, info } = await loadConverted(dir);
    const onnx = await onnxOf(dir, info);
    if (onnx === undefined) return undefined;
    // Where these bytes are now, not where they were when converted.
    return { artifacts, info: { ...info, source, ...(labelsFile ? { labelsFile: path.resolve(labelsFile) } : {}) }, onnx, fromCache: true };
  } catch {
    return undefined;
  }
}

/**
 * Stores a conversion in the model cache, as `convert -o` saves it. A cache that cannot be written
 * (read-only, full) only costs the next open a conversion.
 * @returns the entry's ONNX file, or undefined when it was not stored
 */
async function toCache(cache: ModelCacheOptions, key: string, fcn: tf.LayersModel, artifacts: tf.io.ModelArtifacts, info: ConvertedModelInfo, file: string): Promise<OnnxModelFile | undefined> {
  try {
    const bytes = exportFcn(fcn, info, file);
    const dir = await storeConversion(cache.dir, key, async (tmp) => {
      await saveConverted(tmp, artifacts, info);
      await saveOnnx(tmp, bytes);
    }, cache.maxBytes);
    return onnxOf(dir, info);
  } catch {
    return undefined;
  }
}
