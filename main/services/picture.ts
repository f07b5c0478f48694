/**
 * The picture stage of the pipeline: the photo at full size with one class's averaged map painted
 * over it, detection boxes and the legend, encoded as an RGB PNG. The overlay is painted and blended
 * one band of rows at a time, so beyond the photo and the result only a band's RGBA is held.
 */
import sharp from 'sharp';
import { maxOverClasses, type AveragedMap } from '../../core/average';
import type { Detection } from '../../core/detect';
import { blendOverRgb, renderOverlay } from '../../core/overlay';
import { ANY_CLASS, classLabel, drawnClasses, type PictureSettings } from '../../core/pipeline';
import type { RgbImage } from '../engine/decode';
import { boxLayers, legendLayer } from './legend';

/** What the picture stage needs of a photo's analysis. */
export interface PictureInput {
  /** The upright photo. */
  image: RgbImage;
  averaged: AveragedMap;
  /** The class drawn; ANY_CLASS for "any". */
  classIndex: number;
  /** The boxes to draw (PhotoAnalysis.drawn). */
  drawn: readonly Detection[];
}

/** Style of the picture: the PictureSettings that are not about the maps. */
export type PictureStyle = Pick<PictureSettings, 'colormap' | 'opacity' | 'threshold' | 'boxes' | 'legend'>;

/** Output pixels painted per band (4 bytes of RGBA each): 4 MP, 16 MB of overlay at once. */
const BAND_PIXELS = 1 << 22;
/** At most this many boxes are drawn (the strongest). */
const MAX_BOXES = 200;

/**
 * The photo with the class's map drawn over it (smooth), as RGB [h·w·3], blended band by band.
 * The map painted is the class's averaged map, or for ANY_CLASS per cell the strongest class but background.
 */
export function overlayRgb(input: Omit<PictureInput, 'drawn'>, labels: readonly string[], style: Pick<PictureStyle, 'colormap' | 'opacity' | 'threshold'>): Uint8Array {
  const { width, height, data } = input.image;
  if (data.length !== width * height * 3) throw new Error(`photo has ${data.length} bytes, expected ${width}×${height}×3`);
  const any = input.classIndex === ANY_CLASS;
  const map = any ? maxOverClasses(input.averaged, drawnClasses(ANY_CLASS, input.averaged.classes, labels)) : input.averaged;
  const out = new Uint8Array(width * height * 3);
  const band = Math.max(1, Math.floor(BAND_PIXELS / width));
  for (let y0 = 0; y0 < height; y0 += band) {
    const y1 = Math.min(height, y0 + band);
    const rgba = renderOverlay(map, any ? 0 : input.classIndex, {
      width, height, colormap: style.colormap, opacity: style.opacity, threshold: style.threshold, smooth: true, rows: [y0, y1],
    });
    out.set(blendOverRgb(data.subarray(y0 * width * 3, y1 * width * 3), rgba, width, y1 - y0), y0 * width * 3);
  }
  return out;
}

/**
 * The picture as an RGB PNG (8-bit, no alpha): overlay, then boxes of `input.drawn` (the strongest
 * 200) with labels, then the legend, as PictureStyle asks.
 */
export async function renderPicture(input: PictureInput, labels: readonly string[], style: PictureStyle): Promise<Buffer> {
  const { width, height } = input.image;
  const rgb = overlayRgb(input, labels, style);
  const layers: { input: Buffer; left: number; top: number }[] = [];
  if (style.boxes) {
    const boxes = input.drawn.slice(0, MAX_BOXES).map((d) => ({ box: d.box, label: labels[d.classIndex] ?? String(d.classIndex), score: d.score }));
    for (const l of boxLayers(width, height, boxes)) layers.push({ input: Buffer.from(l.svg), left: l.left, top: l.top });
  }
  if (style.legend) {
    const l = legendLayer(width, height, { label: classLabel(labels, input.classIndex), colormap: style.colormap, threshold: style.threshold });
    if (l) layers.push({ input: Buffer.from(l.svg), left: l.left, top: l.top });
  }
  const img = sharp(rgb, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  if (layers.length === 0) return img.png().toBuffer();
  // Composite makes the output RGBA; a second pass drops the (opaque) alpha so every picture is RGB.
  const { data, info: raw } = await img.composite(layers).raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: raw.width, height: raw.height, channels: raw.channels }, limitInputPixels: false }).removeAlpha().png().toBuffer();
}
