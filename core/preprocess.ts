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

/** Median luma above which `ink` inverts a photo whose ink is not told by its tails: more than half its pixels are lighter than mid-grey. */
export const INK_LIGHT_MEDIAN = 127.5;

/** Share of a photo's pixels at each end of its luma histogram taken as where its ink may lie (0.5 %). */
export const INK_TAIL = 0.005;

/** Luma levels by which one tail must reach further from the median than the other to tell the ink. */
export const INK_TAIL_MARGIN = 32;

/** The most pixels {@link photoPreprocess} looks at (a regular subsample of larger photos). */
const INK_SAMPLES = 1 << 20;

/**
 * The preprocessing one photo gets: `ink` becomes `inverted` for dark ink and `unit` for light ink;
 * every other mode is returned as it is. The ink is the end of the luma histogram (Rec. 601, 0–255)
 * that reaches further from the median: from the median down to the {@link INK_TAIL} quantile
 * against from it up to the 1 − INK_TAIL quantile, by at least {@link INK_TAIL_MARGIN} levels (dark
 * strokes on grey paper, or chalk on a lighter board). Where neither does (no strokes, or texture
 * both ways), a median over {@link INK_LIGHT_MEDIAN} means a light ground and dark ink. Photos over
 * 2^20 pixels are judged on every k-th pixel.
 * @param photo RGB pixels [height, width, 3], row-major.
 */
export function photoPreprocess(mode: PreprocessMode, photo: { data: ArrayLike<number>; width: number; height: number }): PreprocessMode {
  if (mode !== 'ink') return mode;
  const n = photo.width * photo.height;
  if (n === 0) return 'unit';
  const step = Math.max(1, Math.floor(n / INK_SAMPLES));
  const histogram = new Uint32Array(256);
  let counted = 0;
  for (let i = 0; i < n; i += step, counted++) {
    const s = i * 3;
    histogram[Math.round(LUMA[0] * photo.data[s] + LUMA[1] * photo.data[s + 1] + LUMA[2] * photo.data[s + 2])]++;
  }
  // The first level at which the cumulative count reaches `share` of the samples.
  const quantile = (share: number): number => {
    let sum = 0;
    for (let v = 0; v < 256; v++) if ((sum += histogram[v]) >= share * counted) return v;
    return 255;
  };
  const median = quantile(0.5);
  const darkReach = median - quantile(INK_TAIL);
  const lightReach = quantile(1 - INK_TAIL) - median;
  if (darkReach - lightReach >= INK_TAIL_MARGIN) return 'inverted';
  if (lightReach - darkReach >= INK_TAIL_MARGIN) return 'unit';
  // The median is over 127.5 when fewer than half the samples are at 127 or below.
  let dark = 0;
  for (let v = 0; v <= Math.floor(INK_LIGHT_MEDIAN); v++) dark += histogram[v];
  return dark * 2 < counted ? 'inverted' : 'unit';
}

/**
 * Map one sample value v (0–255, an RGB channel or the luminance) to the model's input value
 * (`ink` as `unit`, the model's own convention; {@link photoPreprocess} says which a photo gets).
 * @param channel 0/1/2 for the model's input channel (R/G/B; B/G/R for 'caffe', whose v is that
 *   channel's pixel value); 'luma' for the grey input of 1-channel models, whose ImageNet
 *   mean and std are the luma-weighted averages of the three channels' (≈0.460 and ≈0.226), as are
 *   a `normalize:` mode's.
 */
export function preprocessValue(v: number, mode: PreprocessMode, channel: 0 | 1 | 2 | 'luma'): number {
  switch (mode) {
    case 'raw': return v;
    case 'unit':
    case 'ink': return v / 255;
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
