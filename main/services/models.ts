import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isModelFolderListing } from '../../core/formats';
import { RECIPE_CHECKS } from '../../core/recipe';
import type { Conversion } from '../convert/convert';
import { selectBackend, type BackendName } from '../engine/backend';
import { ModelError } from '../model/errors';
import { readJsonFile } from '../model/guards';
import { sniffKerasFile } from '../model/hdf5';
// keras-pair, not keras: a converted folder's run must not load tfjs.
import { architectureBeside, isKerasArchitectureJson, weightsBeside } from '../model/keras-pair';
import { unpackZippedModel, zippedModel } from '../model/zipped';
import { readLabelsFile } from '../model/labels';
import { convertedDir, isConvertedFolder, onnxOf, ONNX_MODEL_FILE, readConvertedFolder, SIDECAR_FILE } from './converted-folder';
import { conversionKey, fileDigest, findConversion } from '../io/model-cache';
import { onnxModelHash } from './storage/cache';
import type { PreparedModel, PrepareOptions } from './prepared-model';

export type { ModelCacheOptions, PreparedModel, PrepareOptions } from './prepared-model';

/** The built-in digit classifier (MNIST digits + background), trained by `npm run train:digits`. */
export const BUILTIN_MODEL_DIR = fileURLToPath(new URL('../digits/model/', import.meta.url));

/** The files of a converted folder that a cache entry must hold. */
const CONVERTED_FILES = ['model.json', 'weights.bin', SIDECAR_FILE, ONNX_MODEL_FILE];

/**
 * The files a model is read from: a Keras file, or a model.json and the weight shards its manifest
 * names. Undefined where a shard is missing or named outside the model's folder: such a model is not
 * cached (its loading refuses it, naming the file).
 */
async function modelFiles(file: string): Promise<string[] | undefined> {
  // A weights-only file's architecture, or an architecture's weights, is read from beside it (main/model/keras): part of the model.
  if ((await sniffKerasFile(file)) !== null) return [file, ...[await architectureBeside(file)].filter((f) => f !== null)];
  const json = await readJsonFile(file).catch(() => undefined);
  if (isKerasArchitectureJson(json)) return [file, ...[await weightsBeside(file)].filter((f) => f !== null)];
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

/**
 * Opens a model for heatmaps: a Convmap-converted folder is read as is; a classifier (model.json or
 * folder) is converted and verified against crops, or its conversion taken from the model cache.
 * `target` undefined means the built-in model. tfjs loads only when a conversion runs.
 */
export async function prepareModel(
  target: string | undefined,
  opts: PrepareOptions = {},
): Promise<PreparedModel & { conversion?: Omit<Conversion, 'fcn'> }> {
  const zipped = target === undefined ? null : await zippedModel(target);
  if (target === undefined || zipped === null) return prepareUnzipped(target, opts);
  // A downloaded zip (Teachable Machine's): its files are unpacked for the conversion, which reads them all; the zip stays the source.
  const { dir, model } = await unpackZippedModel(target, zipped);
  try {
    const prepared = await prepareUnzipped(path.basename(model) === 'model.json' ? dir : model, opts);
    return { ...prepared, info: { ...prepared.info, source: path.resolve(target) } };
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    const inside = path.relative(dir, e.file);
    throw new ModelError(inside === '' || inside.startsWith('..') ? target : `${target}: ${inside}`, e.detail, e.layer);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function prepareUnzipped(
  target: string | undefined,
  opts: PrepareOptions,
): Promise<PreparedModel & { conversion?: Omit<Conversion, 'fcn'> }> {
  const builtin = target === undefined;
  const source = target ?? opts.builtinDir ?? BUILTIN_MODEL_DIR;
  // The recipe's one bound (core/recipe STRIDE_LIMITS), for callers that did not parse a recipe; refineStride then says which strides the network allows.
  const strideProblem = opts.stride === undefined ? undefined : RECIPE_CHECKS.stride(opts.stride);
  if (strideProblem) throw new ModelError(source, strideProblem);
  let backend: BackendName | undefined;
  const selectTfjs = async (): Promise<void> => {
    if (opts.backend !== undefined) backend = await selectBackend(opts.backend);
  };
  if (!builtin && (await isConvertedFolder(source))) {
    const dir = convertedDir(source);
    // Where ONNX Runtime opens the folder's model.onnx, weights.bin is not read here (VGG16: 0.55 s to
    // read and check 528 MB): openSession reads it only for an engine that needs it.
    let read = opts.stride === undefined ? await readConvertedFolder(source, { weights: opts.deferWeights !== true }).catch(() => undefined) : undefined;
    let onnx = read === undefined ? undefined : await onnxOf(dir, read.info);
    const weightsFrom = onnx === undefined ? undefined : dir;
    if (read !== undefined && onnx === undefined) read = await readConvertedFolder(source).catch(() => undefined);
    let refined = false;
    if (read === undefined) {
      // A stride rewrite, or a folder laid out otherwise (or damaged: tfjs's reading names the file).
      await selectTfjs();
      const { readConvertedWithTfjs } = await import('./convert-model');
      const viaTfjs = await readConvertedWithTfjs(source, opts.output, opts.stride);
      refined = viaTfjs.refined;
      read = viaTfjs;
      // A stride rewrite makes another network: the folder's ONNX file and its activations' size are not its.
      onnx = refined ? undefined : await onnxOf(dir, viaTfjs.info);
    } else if (opts.output !== undefined && read.info.output !== undefined && opts.output !== read.info.output) {
      throw new ModelError(source, `was converted from output "${read.info.output}"; convert the classifier again with --output ${opts.output}`);
    }
    const { artifacts, info } = read;
    const labels = opts.labelsFile ? await readLabelsFile(opts.labelsFile, info.labels.length) : null;
    const { preprocessGuess, activationBytesPerPixel: bytesPerPixel, ...rest } = info;
    const prepared: PreparedModel = {
      ...(onnx ? { onnx } : {}),
      ...(onnx && weightsFrom !== undefined && artifacts.weightData === undefined ? { weightsFrom } : {}),
      ...(backend ? { backend } : {}),
      artifacts,
      info: {
        ...rest,
        ...(!refined && bytesPerPixel !== undefined ? { activationBytesPerPixel: bytesPerPixel } : {}),
        ...(opts.preprocess ? { preprocess: opts.preprocess } : preprocessGuess ? { preprocessGuess } : {}),
        ...(labels && opts.labelsFile ? { labels, labelsFile: path.resolve(opts.labelsFile) } : {}),
      },
    };
    // Its scores are keyed by the file that computes them, whose digest the cache folder remembers,
    // instead of hashing weights.bin's bytes again (VGG16: 0.4 s of CPU every run).
    if (onnx) prepared.modelKey = onnxModelHash(await fileDigest(onnx.file, opts.cache?.dir), prepared.info);
    return prepared;
  }
  let store: { dir: string; maxBytes?: number; key: string; file: string } | undefined;
  if (opts.cache !== undefined) {
    const file = await modelFileOf(source);
    const files = file === undefined ? undefined : await modelFiles(file);
    if (files !== undefined) {
      const options = { preprocess: opts.preprocess ?? null, stride: opts.stride ?? null, output: opts.output ?? null, builtin, ...(opts.window !== undefined ? { window: opts.window } : {}) };
      const key = await conversionKey(files, options, opts.labelsFile, opts.cache.dir);
      const hit = await cachedConversion(opts.cache.dir, key, builtin ? 'built-in digits' : path.resolve(files[0]), opts.labelsFile);
      if (hit !== undefined) return hit;
      store = { ...opts.cache, key, file: files[0] };
    }
  }
  await selectTfjs();
  const { convertModel } = await import('./convert-model');
  return { ...(await convertModel(source, builtin, opts, store)), ...(backend ? { backend } : {}) };
}

/**
 * The model file of `target` where it is plain: the file itself, a folder's model.json, or a folder's
 * only Keras file when it holds no JSON. Undefined otherwise (a browser-saved name): such a folder is
 * converted each time. A conversion is cached only when it read this file (see convertModel).
 */
async function modelFileOf(target: string): Promise<string | undefined> {
  const st = await fs.stat(target).catch(() => null);
  if (st === null) return undefined;
  if (!st.isDirectory()) return target;
  const names = await fs.readdir(target).catch(() => [] as string[]);
  if (names.includes('model.json')) return path.join(target, 'model.json');
  const keras = names.filter((f) => /\.(keras|h5|hdf5)$/i.test(f) && !/\.weights\.h5$/i.test(f));
  return keras.length === 1 && !names.some((f) => f.endsWith('.json')) ? path.join(target, keras[0]) : undefined;
}

/** A cached conversion of the model now at `source`, or undefined (none, or a damaged entry: converted again). */
async function cachedConversion(cacheDir: string, key: string, source: string, labelsFile: string | undefined): Promise<PreparedModel | undefined> {
  const dir = await findConversion(cacheDir, key, CONVERTED_FILES);
  if (dir === undefined) return undefined;
  try {
    // Read with its weights (unlike a converted folder's, deferWeights or not): its score key hashes
    // them, as the conversion's did, so the maps of the first open serve the second.
    const read = await readConvertedFolder(dir);
    const onnx = read === undefined ? undefined : await onnxOf(dir, read.info);
    if (read === undefined || onnx === undefined) return undefined;
    const { artifacts, info } = read;
    // Where these bytes are now, not where they were when converted.
    return { artifacts, info: { ...info, source, ...(labelsFile ? { labelsFile: path.resolve(labelsFile) } : {}) }, onnx, fromCache: true };
  } catch {
    return undefined;
  }
}

