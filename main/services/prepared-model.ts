/** What prepareModel (./models) is asked for and what it gives the engine; shared with the conversion (./convert-model). */
import type * as tf from '@tensorflow/tfjs';
import type { ConvertedModelInfo, PreprocessMode } from '../../core/model-info';
import type { BackendName, BackendRequest } from '../engine/backend';
import type { OnnxModelFile } from '../engine/engine';
import type { OnnxCheck } from '../onnx/verify';

/** A fully convolutional model ready for the engine: serialised weights plus what we know of it. */
export interface PreparedModel {
  info: ConvertedModelInfo;
  /**
   * Topology + weights of the FCN, input [batch, null, null, channels]; without weightData where the
   * weights are in checkedWeightsFile, or not wanted (PrepareOptions.reportOnly).
   */
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
  /**
   * A converted folder whose weights.bin was not read, because ONNX Runtime
   * opens `onnx` and needs no weights: `artifacts` carry no weightData, and openSession reads them
   * from here (converted-folder readConvertedWeights) for an engine that does need them (tfjs).
   */
  weightsFrom?: string;
  /** The conversion came from the model cache: nothing was converted or checked again. */
  fromCache?: boolean;
  /**
   * The conversion's ONNX check (its ONNX file in ONNX Runtime against the classifier in tfjs, on a
   * window-sized input), where this call converted the model.
   */
  onnxCheck?: OnnxCheck;
  /**
   * With `keepOnnx`: the ONNX file the conversion checked, in a temporary folder of its own; the caller
   * copies it where it belongs and removes the folder (convertedOnnx in main/onnx/convert does both).
   */
  checkedOnnxFile?: string;
  /**
   * With `keepOnnx`, beside checkedOnnxFile: the conversion's weights.bin, written straight from
   * tfjs's heap; `artifacts` then carry no weightData (saveConverted copies this file).
   */
  checkedWeightsFile?: string;
}

/** The model cache of prepareModel (main/io/model-cache). */
export interface ModelCacheOptions {
  /** The cache folder (the score cache's). */
  dir: string;
  /** Bound of the model cache in bytes (default DEFAULT_MODEL_CACHE_BYTES). */
  maxBytes?: number;
}

/** What prepareModel is asked for. */
export interface PrepareOptions {
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
   * The size (pixels, square) a classifier without a fixed input size (`[null, null, 3]`) was
   * trained at; refused for a model whose input size is fixed and differs.
   */
  window?: number;
  /**
   * Model cache: a classifier's conversion (crop check included) is taken from it when the same
   * files were converted with the same options before, and put there when not; none by default.
   */
  cache?: ModelCacheOptions;
  /**
   * tfjs backend selected before tfjs first runs (a conversion, a stride rewrite); none selected by
   * default (the caller's). A converted folder or a cached conversion needs no tfjs at all.
   */
  backend?: BackendRequest;
  /**
   * Keep the ONNX file a conversion checks (PreparedModel.checkedOnnxFile) instead of removing it:
   * `convert -o` saves it as model.onnx without writing the model again.
   */
  keepOnnx?: boolean;
  /**
   * The caller opens the model with openSession (services/session): a converted folder's weights.bin
   * is then not read here where ONNX Runtime will open its model.onnx, only by openSession for an
   * engine that needs the weights (PreparedModel.weightsFrom). Default false: `artifacts` carry the
   * weights. (A cached conversion's are read either way: its score key hashes them.)
   */
  deferWeights?: boolean;
  /**
   * Only the report is wanted (`convert` without -o): where the ONNX check ran, the conversion's
   * artifacts carry no weightData (no copy of the weights is made at the end).
   */
  reportOnly?: boolean;
}
