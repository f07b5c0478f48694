/**
 * The tfjs side of opening a model (prepareModel in ./models loads it only when it must run): a
 * classifier's conversion and crop check, and a converted folder re-read by tfjs for a stride rewrite.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ConvertedModelInfo, EquivalenceReport } from '../../core/model-info';
import { KerasNormalization } from '../model/keras-layers';
import { guessFromTrunk, guessSmallGrey, pixelRangeOfScale, type PreprocessGuess } from '../../core/preprocess-guess';
import { refineSaved, refineStride, strideInfo, type FineConversion } from '../convert/atrous';
import { convertClassifier, type Conversion } from '../convert/convert';
import { loadConverted, modelToArtifacts, saveConverted } from '../convert/save';
import { modelArtifactsWithoutWeights, writeModelWeights } from '../model/artifacts';
import type { OnnxModelFile } from '../engine/engine';
import { activationBytesPerPixel } from '../engine/onnx-memory';
import { openInOwnProcess } from '../engine/onnx-one-off';
import { ModelError } from '../model/errors';
import { readLabelsFile } from '../model/labels';
import { withFixedInputSize } from '../model/input-size';
import { loadClassifier } from '../model/load';
import { exportFcnFile, ONNX_FILE } from '../onnx/convert';
import { checkConverted, checkWithoutOnnx } from '../onnx/check-converted';
import type { OnnxCheck } from '../onnx/verify';
import { OnnxType } from '../model/onnx/read';
import { onnxOf, readConvertedFolder } from './converted-folder';
import { storeConversion } from '../io/model-cache';
import { isWriteFailure } from '../io/atomic';
import type { PrepareOptions, PreparedModel } from './prepared-model';

/** Where a conversion goes in the model cache: its key, and the model file the key was computed from. */
export interface CacheStore {
  dir: string;
  maxBytes?: number;
  key: string;
  /** The model file whose bytes the key covers: a conversion of another file is not stored under it. */
  file: string;
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

/** The scale a leading Rescaling or Normalization multiplies pixels by (one, or one per channel), else undefined. */
function leadingScale(layer: tf.layers.Layer, channels: number): number[] | undefined {
  if (layer instanceof KerasNormalization) return Array.from(layer.affine(channels).scale);
  if (layer.getClassName() !== 'Rescaling') return undefined;
  const { scale, offset } = layer.getConfig() as { scale?: unknown; offset?: unknown };
  const values = Array.isArray(scale) ? scale.map(Number) : [Number(scale ?? 1)];
  // An augmentation layer that does nothing at inference is read as Rescaling(1, 0): not a scaling.
  const identity = values.every((v) => v === 1) && (Array.isArray(offset) ? offset.every((v) => Number(v) === 0) : Number(offset ?? 0) === 0);
  return !identity && values.every(Number.isFinite) ? values : undefined;
}

/** Layers that pass the image on unchanged at inference (augmentation is read as Rescaling(1, 0), see leadingScale). */
const PASSING = new Set(['Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization']);

/**
 * The scale the model multiplies its pixels by before anything else (one, or one per channel): the
 * product of the Rescaling and Normalization layers from its input on, through augmentation layers
 * (identities) and into nested models, up to the first layer of another kind. Undefined when there
 * is none: the model does not scale its own input.
 */
function inputScale(model: tf.LayersModel, channels: number): { scale: number[]; what: 'rescales' | 'normalises' } | undefined {
  let scale: number[] | undefined;
  let what: 'rescales' | 'normalises' = 'rescales';
  const walk = (m: tf.LayersModel): boolean => {
    for (const layer of m.layers) {
      if (layer.getClassName() === 'InputLayer' || PASSING.has(layer.getClassName())) continue;
      if (layer.getClassName() === 'Activation' && (layer.getConfig() as { activation?: unknown }).activation === 'linear') continue;
      if (layer instanceof tf.LayersModel) {
        if (!walk(layer)) return false;
        continue;
      }
      const s = leadingScale(layer, channels);
      if (s === undefined) {
        // An identity Rescaling (an augmentation layer) passes; any other layer ends the walk.
        if (layer.getClassName() === 'Rescaling') continue;
        return false;
      }
      if (layer instanceof KerasNormalization) what = 'normalises';
      const before = scale ?? [1];
      scale = Array.from({ length: Math.max(before.length, s.length) }, (_, i) => (before.length === 1 ? before[0] : before[i]) * (s.length === 1 ? s[0] : s[i]));
    }
    return true;
  };
  walk(model);
  return scale === undefined ? undefined : { scale, what };
}

function guessPreprocess(teachableMachine: boolean, conv: Conversion, builtin: boolean, model: tf.LayersModel): PreprocessGuess {
  if (teachableMachine) return { mode: 'signed', why: 'guessed: a Teachable Machine model', uncertain: false };
  if (builtin) return { mode: 'ink', why: 'the built-in model\'s', uncertain: false };
  // A model that scales its own input (a transfer model calling its trunk's preprocess_input, as TensorFlow's
  // tutorial does) wants what it was fed, not the trunk's preprocessing a second time.
  const own = inputScale(conv.fcn, conv.channels);
  const trunk = own === undefined ? guessFromTrunk(nestedModelNames(model)) : null;
  if (trunk) return trunk;
  if (own) {
    const { scale, what } = own;
    const range = pixelRangeOfScale(scale);
    if (range === 'raw') return { mode: 'raw', why: `guessed: the model ${what} its input itself`, uncertain: false };
    const grey = guessSmallGrey(conv.channels, conv.window);
    return { mode: grey ? 'ink' : 'unit', why: `guessed: the model ${what} its input itself, from pixel values in 0–1${grey ? '; a small grey classifier: inverted on a light photo' : ''}`, uncertain: false };
  }
  const grey = guessSmallGrey(conv.channels, conv.window);
  if (grey) return grey;
  return { mode: 'unit', why: 'guessed: the default, nothing in the model says otherwise', uncertain: false };
}

/**
 * A converted folder read by tfjs (loadConverted), with `stride` a finer stride rewritten (refineSaved).
 * @throws ModelError naming the folder when it was converted from another output than `output`
 */
export async function readConvertedWithTfjs(source: string, output: string | undefined, stride: number | undefined): Promise<{ artifacts: tf.io.ModelArtifacts; info: ConvertedModelInfo; refined: boolean }> {
    const loaded = await loadConverted(source);
    if (output !== undefined && loaded.info.output !== undefined && output !== loaded.info.output) {
      throw new ModelError(source, `was converted from output "${loaded.info.output}"; convert the classifier again with --output ${output}`);
    }
    const refined = stride === undefined ? undefined : await refineSaved(loaded.artifacts, loaded.info, stride, source);
    return { ...(refined ?? loaded), refined: refined !== undefined };
}

/**
 * Converts a classifier and checks the conversion against crops (prepareModel's work on anything that
 * is not a converted folder); with `store`, the conversion is also put into the model cache.
 */
export async function convertModel(
  source: string, builtin: boolean, opts: PrepareOptions, store: CacheStore | undefined,
): Promise<PreparedModel & { conversion?: Omit<Conversion, 'fcn'> }> {
  opts.onStage?.('loading');
  const classifier = await loadClassifier(source, { output: opts.output, window: opts.window });
  try {
    classifier.model = await withFixedInputSize(classifier.model, classifier.file, opts.window);
  } catch (e) {
    classifier.model.dispose();
    throw e;
  }
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
      // An ONNX file's output goes by its graph name (the one `--output` takes), not the rebuild's layer name.
      const onnxOutput = classifier.onnx?.output;
      const outputs = onnxOutput === undefined ? conv.outputs : conv.outputs.map((o, i) => (i === conv.outputIndex ? { ...o, name: onnxOutput } : o));
      const chosen = outputs[conv.outputIndex];
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
        // Set by the check below, which needs the rest for the ONNX file's metadata; the key keeps its place in the sidecar.
        equivalence: undefined as unknown as EquivalenceReport,
        outputs,
        output: chosen.name,
        ...(classifier.quantization ? { quantization: classifier.quantization } : {}),
        ...(opts.labelsFile ? { labelsFile: path.resolve(opts.labelsFile) } : {}),
        activationBytesPerPixel: activationBytesPerPixel(conv.fcn, conv.window),
      };
      // The converted model is checked on its ONNX file, streamed to a temporary folder (see checkConverted);
      // one with a layer ONNX does not map is checked in tfjs (`convert` then refuses it naming the layer).
      const check = {
        classifier: classifier.model, conv, file: classifier.file, preprocess,
        integerInput: classifier.onnx?.original.input.elemType === OnnxType.UINT8, original: classifier.onnx?.original,
      };
      // A big model's ONNX Runtime sessions each run in a process that ends with them: in this one their memory
      // stayed beside tfjs's heap, and the next session stacked on it (VGG19: the conversion's peak).
      const ownProcess = { open: (f: string) => openInOwnProcess(f) };
      // A temporary folder the file system refuses (full, over a size limit, read-only) costs memory, not the
      // conversion: the check then runs in tfjs, as for a model ONNX cannot map.
      const orInTfjs = (e: unknown): undefined => {
        if (isWriteFailure(e)) return undefined;
        throw e;
      };
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'convmap-convert-')).catch(orInTfjs);
      let onnxCheck: OnnxCheck | undefined;
      let checkedOnnxFile: string | undefined;
      // The checked file kept only for the model cache's entry (see toCache), removed once it is stored.
      let cacheOnnxFile: string | undefined;
      try {
        const onnxFile = tmp === undefined ? undefined : path.join(tmp, ONNX_FILE);
        const exported = onnxFile !== undefined && (await exportFcnFile(conv.fcn, info, classifier.file, onnxFile).then(() => true, (e: unknown) => {
          if (e instanceof ModelError || isWriteFailure(e)) return false;
          throw e;
        }));
        const checked = exported && onnxFile !== undefined ? await checkConverted({ ...check, onnxFile, ownProcess }).catch(orInTfjs) : undefined;
        if (checked !== undefined && onnxFile !== undefined) {
          info.equivalence = checked.equivalence;
          // A file that fails the ONNX check is neither reported nor kept: `convert` checks it again and refuses it, naming the layer.
          if (!(checked.onnx instanceof ModelError)) {
            onnxCheck = checked.onnx;
            if (opts.keepOnnx) checkedOnnxFile = onnxFile;
            else if (store !== undefined) cacheOnnxFile = onnxFile;
          }
        } else {
          info.equivalence = await checkWithoutOnnx(check);
        }
      } finally {
        if (tmp !== undefined && checkedOnnxFile === undefined && cacheOnnxFile === undefined) await rm(tmp, { recursive: true, force: true });
      }
      try {
        // `convert` saves or reports only: the weights go to a file beside the checked ONNX file, or nowhere,
        // instead of into a copy beside tfjs's heap (VGG: half a gigabyte, the conversion's peak).
        let checkedWeightsFile = checkedOnnxFile !== undefined && store === undefined ? path.join(path.dirname(checkedOnnxFile), 'weights.bin') : undefined;
        const written = checkedWeightsFile === undefined ? undefined : await writeModelWeights(conv.fcn, checkedWeightsFile).catch(orInTfjs);
        if (written === undefined) checkedWeightsFile = undefined;
        const artifacts = written
          ?? (opts.reportOnly && onnxCheck !== undefined && store === undefined ? modelArtifactsWithoutWeights(conv.fcn) : await modelToArtifacts(conv.fcn));
        const { fcn: _fcn, ...conversion } = conv;
        const cached = store !== undefined && path.resolve(store.file) === path.resolve(classifier.file)
          ? await toCache(store, conv.fcn, artifacts, info, classifier.file, checkedOnnxFile ?? cacheOnnxFile)
          : undefined;
        return { artifacts: cached?.artifacts ?? artifacts, info, conversion, ...(onnxCheck ? { onnxCheck } : {}), ...(checkedOnnxFile ? { checkedOnnxFile } : {}), ...(checkedWeightsFile ? { checkedWeightsFile } : {}), ...(cached ? { onnx: cached.onnx } : {}) };
      } finally {
        if (cacheOnnxFile !== undefined) await rm(path.dirname(cacheOnnxFile), { recursive: true, force: true });
      }
    } finally {
      if (fine && fine.fcn !== coarse.fcn) fine.fcn.dispose();
      coarse.fcn.dispose();
    }
  } finally {
    classifier.model.dispose();
  }
}

/**
 * Stores a conversion in the model cache, as `convert -o` saves it. A cache that cannot be written
 * (read-only, full) only costs the next open a conversion.
 * @param checkedOnnx the ONNX file the conversion's check ran on, copied as the entry's (the same bytes
 *   exportFcnFile writes, not encoded again); without it (the check ran in tfjs) the model is exported
 * @returns the entry's ONNX file and the artifacts as read back from it (so the score-cache key,
 *   modelHash, is the one every later open of the entry computes), or undefined when not stored
 */
async function toCache(
  store: CacheStore, fcn: tf.LayersModel, artifacts: tf.io.ModelArtifacts, info: ConvertedModelInfo, file: string, checkedOnnx?: string,
): Promise<{ onnx: OnnxModelFile; artifacts: tf.io.ModelArtifacts } | undefined> {
  try {
    const dir = await storeConversion(store.dir, store.key, async (tmp) => {
      await saveConverted(tmp, artifacts, info);
      if (checkedOnnx !== undefined) await copyFile(checkedOnnx, path.join(tmp, ONNX_FILE));
      else await exportFcnFile(fcn, info, file, path.join(tmp, ONNX_FILE));
    }, store.maxBytes);
    const onnx = await onnxOf(dir, info);
    const read = await readConvertedFolder(dir);
    return onnx === undefined || read === undefined ? undefined : { onnx, artifacts: read.artifacts };
  } catch {
    return undefined;
  }
}
