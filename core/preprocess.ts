/**
 * Preprocessing values: what one photo pixel value becomes at the model's input, per
 * {@link PreprocessMode} (the presets' means and standard deviations). Pure: the engine's image loops
 * (main/engine/preprocess.ts) and the conversion's equivalence check both use it.
 */
import { parseNormalize, type Normalization, type PreprocessMode } from './model-info';

/** ImageNet per-channel mean of x / 255, [r, g, b]. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet per-channel standard deviation of x / 255, [r, g, b]. */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];
/** Caffe's ImageNet mean of x (0–255) in the model's channel order [b, g, r]. */
export const CAFFE_BGR_MEAN: readonly [number, number, number] = [103.939, 116.779, 123.68];
/** Rec. 601 luma weights [r, g, b], used for 1-channel models. */
export const LUMA: readonly [number, number, number] = [0.299, 0.587, 0.114];

const lumaDot = (v: readonly [number, number, number]): number => LUMA[0] * v[0] + LUMA[1] * v[1] + LUMA[2] * v[2];

let lastNormalize: { mode: string; normalization: Normalization } | undefined;

/** The mean and std of a `normalize:` mode (the last one read is kept: a tile's loops ask for it per value). */
function normalizationOf(mode: string): Normalization {
  if (lastNormalize?.mode !== mode) {
    const parsed = parseNormalize(mode);
    if (!parsed.ok) throw new Error(`preprocessing ${parsed.reason}`);
    lastNormalize = { mode, normalization: parsed.normalization };
  }
  return lastNormalize.normalization;
}

/**
 * Map one sample value v (0–255, an RGB channel or the luminance) to the model's input value.
 * @param channel 0/1/2 for the model's input channel (R/G/B; B/G/R for 'caffe', whose v is that
 *   channel's pixel value); 'luma' for the grey input of 1-channel models, whose ImageNet
 *   mean and std are the luma-weighted averages of the three channels' (≈0.460 and ≈0.226), as are
 *   a `normalize:` mode's.
 */
export function preprocessValue(v: number, mode: PreprocessMode, channel: 0 | 1 | 2 | 'luma'): number {
  switch (mode) {
    case 'raw': return v;
    case 'unit': return v / 255;
    case 'signed': return v / 127.5 - 1;
    case 'inverted': return 1 - v / 255;
    case 'imagenet': {
      const mean = channel === 'luma' ? lumaDot(IMAGENET_MEAN) : IMAGENET_MEAN[channel];
      const std = channel === 'luma' ? lumaDot(IMAGENET_STD) : IMAGENET_STD[channel];
      return (v / 255 - mean) / std;
    }
    case 'caffe':
      return v - (channel === 'luma' ? lumaDot([CAFFE_BGR_MEAN[2], CAFFE_BGR_MEAN[1], CAFFE_BGR_MEAN[0]]) : CAFFE_BGR_MEAN[channel]);
    default: {
      const { mean, std } = normalizationOf(mode);
      return (v / 255 - (channel === 'luma' ? lumaDot(mean) : mean[channel])) / (channel === 'luma' ? lumaDot(std) : std[channel]);
    }
  }
}
