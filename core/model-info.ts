/** What the converter learned about a classifier, shared by the CLI, the engine and the window. */

/**
 * How photo pixels (RGB 0–255) become model inputs.
 * - raw: 0–255 as is
 * - unit: x / 255, in [0, 1]
 * - signed: x / 127.5 − 1, in [−1, 1] (Teachable Machine, MobileNet)
 * - inverted: 1 − x / 255 (white-on-black digit models applied to dark-on-light photos)
 * - imagenet: (x / 255 − mean) / std with ImageNet's per-channel mean and std
 * - caffe: channels in B, G, R order, 0–255 minus ImageNet's per-channel mean (Caffe, Keras applications' VGG/ResNet50)
 */
export type PreprocessMode = 'raw' | 'unit' | 'signed' | 'inverted' | 'imagenet' | 'caffe';
export const PREPROCESS_MODES: readonly PreprocessMode[] = ['raw', 'unit', 'signed', 'inverted', 'imagenet', 'caffe'];

export function isPreprocessMode(x: unknown): x is PreprocessMode {
  return typeof x === 'string' && (PREPROCESS_MODES as readonly string[]).includes(x);
}

/** Kind of spatial padding in the classifier's trunk. */
export type PaddingKind = 'valid' | 'same' | 'mixed';

/** Measured agreement between crops through the classifier and cells of the converted model. */
export interface EquivalenceReport {
  /** Largest |cell − crop| over all cells and classes. */
  maxAbsDiff: number;
  /** maxAbsDiff divided by the output's scale: the largest |crop output|, at least 1 for bounded outputs (sigmoid, softmax, tanh). */
  maxRelDiff: number;
  /** Number of cells (crops) compared. */
  cellsChecked: number;
  /** Size of the random test image [height, width]. */
  inputSize: [number, number];
  /** True when no layer pads with zeros that crops would see and maxRelDiff ≤ 1e-4. */
  exact: boolean;
  /** Why the difference is not zero, when it is not exact. */
  note?: string;
  /** Mean |cell − crop| over all cells and classes (absent in sidecars written before it existed). */
  meanAbsDiff?: number;
  /** meanAbsDiff divided by the largest |crop output|. */
  meanRelDiff?: number;
  /** Share of cells, in [0, 1], whose top class differs from the top class of their crop. */
  topClassMismatch?: number;
  /** Why the map is `not representative` (one sentence), when it is not. */
  notRepresentative?: string;
  /** One-word summary of the figures above, from gradeEquivalence. */
  grade?: EquivalenceGrade;
}

/**
 * How far the converted model is from its crops, in one word (the CLI and the window both show it).
 * Which measure decides each (on the check's 9–36 cells of a smooth random image):
 * - exact: no layer pads with zeros that crops would see, and every score of every cell equals its
 *   crop's within 1e-4 of the output's range (largest |crop score|, at least 1 for sigmoid/softmax/tanh outputs)
 * - close: cells differ from crops (zero padding near window borders) but the top class agrees on
 *   at least 95% of the cells and the mean |cell − crop| is within 10% of the output's scale
 * - approximate: the top class agrees on at least half of the cells; heatmaps are indicative only
 * - not representative: the network's stride exceeds its window (some pixels lie in no cell), or the
 *   top class differs from the crop's on more than half of the cells: the map does not show what
 *   the classifier sees; the conversion still succeeds, and says so
 */
export type EquivalenceGrade = 'exact' | 'close' | 'approximate' | 'not representative';
export const EQUIVALENCE_GRADES: readonly EquivalenceGrade[] = ['exact', 'close', 'approximate', 'not representative'];

/** Largest share of cells whose top class may differ from the crop's for grade `close`. */
export const CLOSE_MAX_TOP_CLASS_MISMATCH = 0.05;
/** Largest meanRelDiff for grade `close`. */
export const CLOSE_MAX_MEAN_REL_DIFF = 0.1;
/** Largest share of cells whose top class may differ from the crop's before the map is `not representative`. */
export const REPRESENTATIVE_MAX_TOP_CLASS_MISMATCH = 0.5;

/**
 * The grade of measured figures (pure; see EquivalenceGrade for the thresholds).
 * @param m exact: the equivalence check's verdict (no padding, max |diff| ≤ 1e-4 of the output's range);
 *   topClassMismatch: share in [0, 1]; meanRelDiff: mean |diff| / the output's scale;
 *   strideExceedsWindow: the network's stride is larger than its window on some axis
 */
export function gradeEquivalence(m: { exact: boolean; topClassMismatch: number; meanRelDiff: number; strideExceedsWindow?: boolean }): EquivalenceGrade {
  if (m.strideExceedsWindow) return 'not representative';
  if (m.exact) return 'exact';
  if (m.topClassMismatch <= CLOSE_MAX_TOP_CLASS_MISMATCH && m.meanRelDiff <= CLOSE_MAX_MEAN_REL_DIFF) return 'close';
  if (m.topClassMismatch > REPRESENTATIVE_MAX_TOP_CLASS_MISMATCH) return 'not representative';
  return 'approximate';
}

/**
 * The grade of a report: its own, else graded from its figures. A report from before the grade
 * existed (no mismatch share or mean) that is not exact is `approximate`: nothing shows it is closer.
 */
export function equivalenceGrade(r: EquivalenceReport): EquivalenceGrade {
  if (r.grade !== undefined) return r.grade;
  if (r.exact) return 'exact';
  if (r.topClassMismatch === undefined || r.meanRelDiff === undefined) return 'approximate';
  return gradeEquivalence({ exact: false, topClassMismatch: r.topClassMismatch, meanRelDiff: r.meanRelDiff });
}

/**
 * What one output of the classifier gives per input window:
 * - classes: class scores over the whole window (Flatten/GlobalPooling → Dense), convertible
 * - regression: one number over the whole window (e.g. an age), convertible and shown as a heatmap
 * - spatial: a map [h, w, c] (a mask, a feature map): not a classifier, not convertible
 * - other: anything else (a vector not reached through Flatten/GlobalPooling → Dense)
 */
export type OutputKind = 'classes' | 'regression' | 'spatial' | 'other';

/** One output of the classifier, as listed in the report. */
export interface ModelOutput {
  /** The output's name (its Keras layer's name), as `--output NAME` takes it. */
  name: string;
  /** Shape at the window size, [batch, ...] (batch is null). */
  shape: (number | null)[];
  kind: OutputKind;
  /** Why it is not class scores, or what it is, when not plain `classes`. */
  note?: string;
}

/** Weights the model file stored quantised (tensorflowjs_converter --quantize_*), dequantised on load. */
export interface WeightQuantization {
  /** Storage types used, e.g. ['uint8']. */
  dtypes: ('uint8' | 'uint16' | 'float16')[];
  /** Weight entries stored quantised, of `total`. */
  weights: number;
  total: number;
}

/** Sidecar saved next to a converted model (convmap.json). */
export interface ConvertedModelInfo {
  format: 'convmap-fcn';
  version: 1;
  /** The file the classifier was read from. */
  source: string;
  /** Classifier input size [height, width]. */
  window: [number, number];
  /** Distance between neighbouring cells [sy, sx] in input pixels: the network's total stride, or a divisor of it after the à trous rewrite. */
  stride: [number, number];
  /** The network's own total stride [sy, sx] when `stride` is finer (main/convert/atrous.ts). */
  networkStride?: [number, number];
  /** What the stride rewrite changed, one line per layer. */
  strideRewrite?: string[];
  /** Top-left of cell (0, 0) in input pixels [oy, ox]. */
  offset: [number, number];
  /** Input channels the model expects (1 or 3). */
  channels: number;
  labels: string[];
  /** What the head was found as and what it became, one line per layer. */
  head: string[];
  /** Name of the tensor where the spatial trunk ends, and its shape [h, w, c] at the window size. */
  boundary: { layer: string; shape: number[] };
  padding: PaddingKind;
  preprocess: PreprocessMode;
  /** How `preprocess` was guessed when not given: why (a sentence), and whether it is only a guess worth a warning. */
  preprocessGuess?: { why: string; uncertain: boolean };
  equivalence: EquivalenceReport;
  /** Every output of the classifier (absent in sidecars from before multi-output support). */
  outputs?: ModelOutput[];
  /** Name of the output that was converted. */
  output?: string;
  /** Set when the weights were stored quantised: the scores carry the quantisation's error. */
  quantization?: WeightQuantization;
  /** Where the labels came from: a label file given by the user (--labels), else the model's folder. */
  labelsFile?: string;
  /**
   * Bytes of activations per input pixel at the peak of one forward pass (the engine sizes tiles
   * from it); with it, a converted folder's model.onnx is opened as is, without tfjs. Absent in
   * sidecars written before it was recorded.
   */
  activationBytesPerPixel?: number;
}

/**
 * The words of the refusal of a classifier saved without a fixed input size ([null, null, 3]) when no
 * size is given (main/model/input-size.ts); the window offers its "Trained at" size field on it.
 */
export const FREE_INPUT_SIZE = 'input size is not fixed';
