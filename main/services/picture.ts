/**
 * The picture stage of the pipeline: the photo at full size with one class's averaged map painted
 * over it, detection boxes and the legend, encoded as an RGB PNG. The overlay is painted and blended
 * one band of rows at a time, so beyond the photo and the result only a band's RGBA is held.
 */
import sharp from '../io/sharp';
import type { AveragedMap } from '../../core/average';
import type { Detection } from '../../core/detect';
import type { PictureFormat } from '../../core/recipe';
import { blendOverRgb } from '../../core/overlay';
import { legendCorner, legendSpec, paintView, viewSource, type PictureSettings, type ViewSource } from '../../core/pipeline';
import type { RgbImage } from '../io/decode';
import { drawText } from './glyphs';
import { boxLayers, legendLayer, type SvgLayer } from './legend';

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

/**
 * Style of the picture: the PictureSettings that are not about the maps (a view absent or null: the
 * model's default), and the format it is encoded in (absent: PNG).
 */
export type PictureStyle = Partial<Pick<PictureSettings, 'view'>> & Pick<PictureSettings, 'colormap' | 'opacity' | 'threshold' | 'smooth' | 'boxes' | 'legend'> & { format?: PictureFormat };

/** Output pixels painted per band (4 bytes of RGBA each): 4 MP, 16 MB of overlay at once. */
const BAND_PIXELS = 1 << 22;
/**
 * zlib level 1, no adaptive filtering: on 1 MP photo overlays a fifth to a quarter of the default
 * level 6's time for 11–20 % more bytes (adaptive filtering saves a third of the bytes at 1–2.5× the
 * time, and is 15× slower on flat pictures); `npm run bench -- --case picture-1mp` measures them.
 */
const PNG_OPTIONS = { compressionLevel: 1, adaptiveFiltering: false } as const;
/** JPEG: quality 90, colour at full resolution (4:4:4) so class colours and legend text keep their edges. */
const JPEG_OPTIONS = { quality: 90, chromaSubsampling: '4:4:4' } as const;
/** WebP: quality 90 at effort 2, as small as effort 4 (sharp's default) on photo overlays, in half the time. */
const WEBP_OPTIONS = { quality: 90, effort: 2 } as const;
/** WebP's largest side in pixels. */
const WEBP_MAX_SIDE = 16383;
/** At most this many boxes are drawn (the strongest). */
const MAX_BOXES = 200;

/**
 * The photo with the view drawn over it (core/pipeline viewSource and paintView; smooth or flat cells), as RGB
 * [h·w·3], blended band by band. The map painted is the class's averaged map, for ANY_CLASS per cell
 * the strongest class but background, or the class map for view 'classes'.
 * @param source the view source when the caller has it already.
 * @param inPlace blend into input.image.data itself (returned) instead of a new raster: no second
 *   full-size copy, for a photo nobody reads afterwards (the batch's, or one moved to a worker).
 */
export function overlayRgb(input: Omit<PictureInput, 'drawn'>, labels: readonly string[], style: Pick<PictureStyle, 'view' | 'colormap' | 'opacity' | 'threshold' | 'smooth'>, inPlace = false, source: ViewSource = viewSource(input.averaged, input.classIndex, labels, style)): Uint8Array {
  const { width, height, data } = input.image;
  if (data.length !== width * height * 3) throw new Error(`photo has ${data.length} bytes, expected ${width}×${height}×3`);
  const out = inPlace ? data : new Uint8Array(width * height * 3);
  const band = Math.max(1, Math.floor(BAND_PIXELS / width));
  for (let y0 = 0; y0 < height; y0 += band) {
    const y1 = Math.min(height, y0 + band);
    const rgba = paintView(source, { width, height, colormap: style.colormap, opacity: style.opacity, smooth: style.smooth, rows: [y0, y1] });
    blendOverRgb(data.subarray(y0 * width * 3, y1 * width * 3), rgba, width, y1 - y0, out.subarray(y0 * width * 3, y1 * width * 3));
  }
  return out;
}

/**
 * The picture encoded as `style.format` asks (default PNG; 8-bit RGB, no alpha): overlay, then boxes of `input.drawn` (the strongest
 * 200) with labels, then the legend (in the corner where it covers least of the overlay), as PictureStyle asks. The overlay is blended into
 * input.image.data itself (so a 100 MP photo is not held twice): the caller's pixels are used up.
 */
export async function renderPicture(input: PictureInput, labels: readonly string[], style: PictureStyle): Promise<Buffer> {
  const { width, height } = input.image;
  const source = viewSource(input.averaged, input.classIndex, labels, style);
  const rgb = overlayRgb(input, labels, style, true, source);
  const textLayers = (): SvgLayer[] => {
    const layers: SvgLayer[] = [];
    if (style.boxes) {
      const boxes = input.drawn.slice(0, MAX_BOXES).map((d) => ({ box: d.box, label: labels[d.classIndex] ?? String(d.classIndex), score: d.score }));
      layers.push(...boxLayers(width, height, boxes));
    }
    if (style.legend) {
      const l = legendLayer(width, height, legendSpec(source, labels, input.classIndex, style), legendCorner(source, width, height));
      if (l) layers.push(l);
    }
    return layers;
  };
  // The fonts of the labels' scripts (Latin, digits and punctuation are always there), or the lines as shaped by an earlier run.
  const layers = style.boxes || style.legend ? await drawText(labels, textLayers) : [];
  // Each layer is rendered at its own size and blended into the picture where it goes: a full-size
  // RGBA composite of a 100 MP photo is never made.
  for (const l of layers) await blendLayer(rgb, width, height, l);
  return encodePicture(rgb, width, height, style.format ?? 'png');
}

/**
 * RGB pixels [h·w·3] as a file of `format`.
 * @throws for WebP over 16383 pixels a side (the format's limit), naming the size.
 */
export function encodePicture(rgb: Uint8Array, width: number, height: number, format: PictureFormat): Promise<Buffer> {
  if (format === 'webp' && Math.max(width, height) > WEBP_MAX_SIDE) {
    return Promise.reject(new Error(`a WebP picture is at most ${WEBP_MAX_SIDE} pixels a side, this one is ${width}×${height}: use png or jpeg`));
  }
  const img = sharp(rgb, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  return (format === 'jpeg' ? img.jpeg(JPEG_OPTIONS) : format === 'webp' ? img.webp(WEBP_OPTIONS) : img.png(PNG_OPTIONS)).toBuffer();
}

/** Renders an SVG layer (librsvg through sharp) and blends it "over" the RGB picture at its place, clipped to the picture. */
async function blendLayer(rgb: Uint8Array, width: number, height: number, layer: SvgLayer): Promise<void> {
  const { data, info } = await sharp(Buffer.from(layer.svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const w = Math.min(info.width, width - layer.left);
  const h = Math.min(info.height, height - layer.top);
  for (let y = 0; y < h; y++) {
    const band = (y + layer.top) * width + layer.left;
    const line = rgb.subarray(band * 3, (band + w) * 3);
    blendOverRgb(line, new Uint8Array(data.buffer, data.byteOffset + y * info.width * 4, w * 4), w, 1, line);
  }
}
