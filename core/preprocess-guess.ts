import type { PreprocessMode } from './model-info';

/** A guessed input preprocessing and the sentence saying why. */
export interface PreprocessGuess {
  mode: PreprocessMode;
  /** Why, for the report: "guessed from the nested keras.applications trunk 'mobilenet_0.25_224'". */
  why: string;
  /** True when the guess rests on a layer's name only (a warning is due), or the trunk's own preprocessing is not one of the modes. */
  uncertain: boolean;
}

/**
 * keras.applications models by the name `keras.applications.X()` gives the nested model, and the
 * preprocessing its `preprocess_input` does: 'tf' mode ([-1, 1]), 'torch' mode (ImageNet mean/std),
 * none (the model holds its own Rescaling/Normalization: raw 0–255) or 'caffe' (BGR, mean subtracted).
 */
const APPLICATIONS: readonly { pattern: RegExp; mode: PreprocessMode }[] = [
  { pattern: /^mobilenetv3(large|small)/i, mode: 'raw' },
  { pattern: /^mobilenet(v2)?_[\d.]+_\d+$/i, mode: 'signed' },
  { pattern: /^efficientnet(v2-)?[a-z]?\d/i, mode: 'raw' },
  { pattern: /^convnext_/i, mode: 'raw' },
  { pattern: /^regnet[xy]\d/i, mode: 'raw' },
  { pattern: /^resnet\d+v2$/i, mode: 'signed' },
  { pattern: /^resnet\d+$/i, mode: 'caffe' },
  { pattern: /^vgg1[69]$/i, mode: 'caffe' },
  { pattern: /^(inception_v3|inception_resnet_v2|xception|nasnet(mobile|large)?)$/i, mode: 'signed' },
  { pattern: /^densenet\d+$/i, mode: 'imagenet' },
];

/**
 * The preprocessing a keras.applications trunk nested in a classifier expects, from the names of
 * the classifier's nested models (outermost first); null when none is one of keras.applications'.
 * Caffe-style models (ResNet v1, VGG) get 'caffe': BGR with the ImageNet mean subtracted.
 */
export function guessFromTrunk(nestedModelNames: readonly string[]): PreprocessGuess | null {
  for (const name of nestedModelNames) {
    const hit = APPLICATIONS.find((a) => a.pattern.test(name));
    if (hit) return { mode: hit.mode, why: `guessed from the nested keras.applications trunk '${name}'`, uncertain: true };
  }
  return null;
}

/** A grey classifier's window of at most this many pixels a side is read as one of the small light-on-dark datasets'. */
export const INK_MAX_WINDOW = 32;

/**
 * `ink` for a grey classifier whose window is at most {@link INK_MAX_WINDOW} pixels a side, else null.
 * The small grey datasets such classifiers are trained on (MNIST, EMNIST, KMNIST, Fashion-MNIST, whose
 * product photos were negated, QuickDraw's bitmaps) all hold light strokes on black, so a photo of dark
 * ink on paper is read inverted; on a dark photo `ink` is `unit`. Larger grey inputs (faces,
 * X-rays, scans) are read as they are.
 * @param channels the model input's channels; @param window its [height, width] in pixels.
 */
export function guessSmallGrey(channels: number, window: readonly [number, number]): PreprocessGuess | null {
  if (channels !== 1 || Math.max(window[0], window[1]) > INK_MAX_WINDOW) return null;
  return {
    mode: 'ink',
    why: `guessed: a grey classifier of ${window[0]}×${window[1]} pixels, as MNIST-like datasets are light strokes on black: x / 255, inverted on a light photo`,
    uncertain: false,
  };
}

/**
 * The pixel range a model that scales its own input was trained on, from the scale (per channel, or
 * one) its first layer multiplies the pixels by: 'raw' (0–255) or 'unit' (0–1), whichever that scale
 * maps onto a span nearest a standardised input's, about 3 (ImageNet's mean/std sends [0, 1] to a
 * span of 4.4; x / 255 sends [0, 255] to 1; they tie at a scale of 3 / √255 ≈ 0.188).
 */
export function pixelRangeOfScale(scale: readonly number[]): 'raw' | 'unit' {
  const mean = scale.reduce((a, v) => a + Math.abs(v), 0) / Math.max(scale.length, 1);
  const distance = (span: number): number => Math.abs(Math.log(span / 3));
  return distance(255 * mean) < distance(mean) ? 'raw' : 'unit';
}
