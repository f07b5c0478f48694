/** What the converter learned about a classifier, shared by the CLI, the engine and the window. */

/**
 * How photo pixels (RGB 0–255) become model inputs.
 * - raw: 0–255 as is
 * - unit: x / 255, in [0, 1]
 * - signed: x / 127.5 − 1, in [−1, 1] (Teachable Machine, MobileNet)
 * - inverted: 1 − x / 255 (white-on-black digit models applied to dark-on-light photos)
 * - ink: `unit` on a photo that is mostly dark, `inverted` on one that is mostly light (median luma
 *   over 127.5), chosen per photo by core/preprocess `photoPreprocess`: a model trained on
 *   light strokes on black (MNIST and its kind) reads dark ink on paper as it reads chalk on a board
 * - imagenet: (x / 255 − mean) / std with ImageNet's per-channel mean and std
 * - caffe: channels in B, G, R order, 0–255 minus ImageNet's per-channel mean (Caffe, Keras applications' VGG/ResNet50)
 * - `normalize:MEAN/STD`: (x / 255 − mean) / std with the model's own mean and std, as torchvision's
 *   `ToTensor()` then `Normalize(mean, std)`: one value each, or three (R,G,B), comma-separated
 *   (`normalize:0.1307/0.3081`, `normalize:0.4914,0.4822,0.4465/0.247,0.2435,0.2616`); see {@link parseNormalize}.
 */
export type PreprocessMode = PresetPreprocessMode | NormalizeMode;
/** The preprocessing presets (every {@link PreprocessMode} but a `normalize:` one). */
export type PresetPreprocessMode = 'raw' | 'unit' | 'signed' | 'inverted' | 'ink' | 'imagenet' | 'caffe';
/** A model's own mean and standard deviation of x / 255, in {@link parseNormalize}'s canonical form. */
export type NormalizeMode = `normalize:${string}`;
/** The presets, in the order menus list them. */
export const PREPROCESS_MODES: readonly PresetPreprocessMode[] = ['raw', 'unit', 'signed', 'inverted', 'ink', 'imagenet', 'caffe'];
/** How a `normalize:` mode is written, for help texts and refusals. */
export const NORMALIZE_SYNTAX = 'normalize:MEAN/STD (of x / 255, one value or three R,G,B values each)';

/** Per-channel mean and standard deviation of x / 255, [r, g, b] (one value given: the same three). */
export interface Normalization {
  mean: [number, number, number];
  std: [number, number, number];
}

const MAX_MODE_CHARS = 200;
/** Bounds of a stated mean and std: inputs of x / 255 beyond these are not a normalisation. */
const MAX_MEAN = 1000;
const MIN_STD = 1e-6;

/**
 * Reads a `normalize:MEAN/STD` mode: MEAN and STD are each one number or three comma-separated
 * numbers (R, G, B) of x / 255, each |mean| ≤ 1000 and 1e-6 ≤ std ≤ 1000.
 * @returns the normalisation and the mode's canonical text (numbers as JavaScript prints them, three
 *   equal values as one), or why the text is not one (one line).
 */
export function parseNormalize(text: string): { ok: true; normalization: Normalization; mode: NormalizeMode } | { ok: false; reason: string } {
  const no = (why: string): { ok: false; reason: string } => ({ ok: false, reason: `${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)}: ${why}; expected ${NORMALIZE_SYNTAX}` });
  if (text.length > MAX_MODE_CHARS) return no(`longer than ${MAX_MODE_CHARS} characters`);
  const m = /^normalize:([^/]*)\/([^/]*)$/.exec(text.trim());
  if (!m) return no('not normalize:MEAN/STD');
  const values = (part: string, what: string): [number, number, number] | string => {
    const items = part.split(',').map((x) => x.trim());
    if (items.length !== 1 && items.length !== 3) return `${what} has ${items.length} values, not 1 or 3`;
    const nums = items.map((x) => (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(x) ? Number(x) : NaN));
    if (nums.some((v) => !Number.isFinite(v))) return `${what} is not a list of numbers`;
    return nums.length === 1 ? [nums[0], nums[0], nums[0]] : [nums[0], nums[1], nums[2]];
  };
  const mean = values(m[1], 'the mean');
  if (typeof mean === 'string') return no(mean);
  const std = values(m[2], 'the std');
  if (typeof std === 'string') return no(std);
  if (mean.some((v) => Math.abs(v) > MAX_MEAN)) return no(`a mean beyond ±${MAX_MEAN}`);
  if (std.some((v) => !(v >= MIN_STD && v <= MAX_MEAN))) return no(`a std outside ${MIN_STD}–${MAX_MEAN}`);
  const show = (v: readonly number[]): string => (v[0] === v[1] && v[1] === v[2] ? String(v[0]) : v.map(String).join(','));
  return { ok: true, normalization: { mean, std }, mode: `normalize:${show(mean)}/${show(std)}` };
}

/** True for a preset, or a `normalize:` mode in its canonical form (what {@link parseNormalize} returns). */
export function isPreprocessMode(x: unknown): x is PreprocessMode {
  if (typeof x !== 'string') return false;
  if ((PREPROCESS_MODES as readonly string[]).includes(x)) return true;
  if (!x.startsWith('normalize:')) return false;
  const parsed = parseNormalize(x);
  return parsed.ok && parsed.mode === x;
}

/**
 * A mode as a user typed it (a preset, or a `normalize:` mode in any spacing or number form) in its
 * canonical form, or why it is none (one line listing what is accepted).
 */
export function readPreprocessMode(text: string): { ok: true; mode: PreprocessMode } | { ok: false; reason: string } {
  if ((PREPROCESS_MODES as readonly string[]).includes(text)) return { ok: true, mode: text as PresetPreprocessMode };
  if (text.trim().startsWith('normalize:')) {
    const parsed = parseNormalize(text);
    return parsed.ok ? { ok: true, mode: parsed.mode } : parsed;
  }
  return { ok: false, reason: `unknown preprocessing ${JSON.stringify(text.slice(0, 60))}: expected one of ${PREPROCESS_MODES.join(', ')} or ${NORMALIZE_SYNTAX}` };
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
