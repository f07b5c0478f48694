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
import { isConvertedModel, loadConverted, modelToArtifacts } from '../convert/save';
import type { BackendName } from '../engine/backend';
import { ModelError } from '../model/errors';
import { readLabelsFile } from '../model/labels';
import { loadClassifier } from '../model/load';

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
  } = {},
): Promise<PreparedModel & { conversion?: Omit<Conversion, 'fcn'> }> {
  const builtin = target === undefined;
  const source = target ?? opts.builtinDir ?? BUILTIN_MODEL_DIR;
  if (!builtin && (await isConvertedModel(source))) {
    const loaded = await loadConverted(source);
    if (opts.output !== undefined && loaded.info.output !== undefined && opts.output !== loaded.info.output) {
      throw new ModelError(source, `was converted from output "${loaded.info.output}"; convert the classifier again with --output ${opts.output}`);
    }
    const { artifacts, info } = opts.stride === undefined ? loaded : await refineSaved(loaded.artifacts, loaded.info, opts.stride, source);
    const labels = opts.labelsFile ? await readLabelsFile(opts.labelsFile, info.labels.length) : null;
    const { preprocessGuess, ...rest } = info;
    return {
      artifacts,
      info: {
        ...rest,
        ...(opts.preprocess ? { preprocess: opts.preprocess } : preprocessGuess ? { preprocessGuess } : {}),
        ...(labels && opts.labelsFile ? { labels, labelsFile: path.resolve(opts.labelsFile) } : {}),
      },
    };
  }
  opts.onStage?.('loading');
  const classifier = await loadClassifier(source);
  try {
    opts.onStage?.('converting');
    const coarse = convertClassifier(classifier.model, classifier.file, { output: opts.output });
    let fine: FineConversion | undefined;
    try {
      if (opts.stride !== undefined) fine = refineStride(coarse, opts.stride, classifier.file);
      const conv: Conversion = fine ?? coarse;
      const given = opts.labelsFile ? await readLabelsFile(opts.labelsFile, conv.classes) : null;
      opts.onStage?.('verifying');
      const guess = guessPreprocess(classifier.teachableMachine, conv, builtin, classifier.model);
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
        head: conv.head,
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
      };
      const artifacts = await modelToArtifacts(conv.fcn);
      const { fcn: _fcn, ...conversion } = conv;
      return { artifacts, info, conversion };
    } finally {
      if (fine && fine.fcn !== coarse.fcn) fine.fcn.dispose();
      coarse.fcn.dispose();
    }
  } finally {
    classifier.model.dispose();
  }
}
