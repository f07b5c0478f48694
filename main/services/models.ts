import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { ConvertedModelInfo, PreprocessMode } from '../../core/model-info';
import { refineSaved, refineStride, strideInfo, type FineConversion } from '../convert/atrous';
import { convertClassifier, type Conversion } from '../convert/convert';
import { checkEquivalence } from '../convert/equivalence';
import { isConvertedModel, loadConverted, modelToArtifacts } from '../convert/save';
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
}

function guessPreprocess(teachableMachine: boolean, conv: Conversion, builtin: boolean): PreprocessMode {
  if (teachableMachine) return 'signed';
  if (builtin) return 'unit';
  const first = conv.fcn.layers[1];
  if (first && first.getClassName() === 'Rescaling') return 'raw';
  return 'unit';
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
  } = {},
): Promise<PreparedModel & { conversion?: Omit<Conversion, 'fcn'> }> {
  const builtin = target === undefined;
  const source = target ?? opts.builtinDir ?? BUILTIN_MODEL_DIR;
  if (!builtin && (await isConvertedModel(source))) {
    const loaded = await loadConverted(source);
    const { artifacts, info } = opts.stride === undefined ? loaded : await refineSaved(loaded.artifacts, loaded.info, opts.stride, source);
    return { artifacts, info: opts.preprocess ? { ...info, preprocess: opts.preprocess } : info };
  }
  opts.onStage?.('loading');
  const classifier = await loadClassifier(source);
  try {
    opts.onStage?.('converting');
    const coarse = convertClassifier(classifier.model, classifier.file);
    let fine: FineConversion | undefined;
    try {
      if (opts.stride !== undefined) fine = refineStride(coarse, opts.stride, classifier.file);
      const conv: Conversion = fine ?? coarse;
      opts.onStage?.('verifying');
      const equivalence = await checkEquivalence(classifier.model, conv, classifier.file);
      const labels = classifier.labels && classifier.labels.length === conv.classes
        ? classifier.labels
        : Array.from({ length: conv.classes }, (_, i) => `class ${i}`);
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
        preprocess: opts.preprocess ?? guessPreprocess(classifier.teachableMachine, conv, builtin),
        equivalence,
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
