/** What the converter learned about a classifier, shared by the CLI, the engine and the window. */

/**
 * How photo pixels (RGB 0–255) become model inputs.
 * - raw: 0–255 as is
 * - unit: x / 255, in [0, 1]
 * - signed: x / 127.5 − 1, in [−1, 1] (Teachable Machine, MobileNet)
 * - inverted: 1 − x / 255 (white-on-black digit models applied to dark-on-light photos)
 * - imagenet: (x / 255 − mean) / std with ImageNet's per-channel mean and std
 */
export type PreprocessMode = 'raw' | 'unit' | 'signed' | 'inverted' | 'imagenet';
export const PREPROCESS_MODES: readonly PreprocessMode[] = ['raw', 'unit', 'signed', 'inverted', 'imagenet'];

export function isPreprocessMode(x: unknown): x is PreprocessMode {
  return typeof x === 'string' && (PREPROCESS_MODES as readonly string[]).includes(x);
}

/** Kind of spatial padding in the classifier's trunk. */
export type PaddingKind = 'valid' | 'same' | 'mixed';

/** Measured agreement between crops through the classifier and cells of the converted model. */
export interface EquivalenceReport {
  /** Largest |cell − crop| over all cells and classes. */
  maxAbsDiff: number;
  /** maxAbsDiff divided by the largest |crop output| (relative to the output's scale). */
  maxRelDiff: number;
  /** Number of cells (crops) compared. */
  cellsChecked: number;
  /** Size of the random test image [height, width]. */
  inputSize: [number, number];
  /** True when no layer pads with zeros that crops would see and maxRelDiff ≤ 1e-4. */
  exact: boolean;
  /** Why the difference is not zero, when it is not exact. */
  note?: string;
}

/** Sidecar saved next to a converted model (convmap.json). */
export interface ConvertedModelInfo {
  format: 'convmap-fcn';
  version: 1;
  /** The file the classifier was read from. */
  source: string;
  /** Classifier input size [height, width]. */
  window: [number, number];
  /** Total stride [sy, sx]. */
  stride: [number, number];
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
  equivalence: EquivalenceReport;
}
