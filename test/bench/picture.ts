/**
 * picture-1mp (issue 21): the picture stage of one 1 MP photo, stage by stage — painting the smooth
 * overlay (core/pipeline paintView), blending it over the photo (core/overlay blendOverRgb) and
 * encoding the result with each of sharp's PNG trade-offs, JPEG and WebP (milliseconds and bytes),
 * and the whole renderPicture (legend drawn) — on two corpus photos, every side interleaved (A B C …
 * per round) and reported as min and median.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp, { type JpegOptions, type PngOptions, type WebpOptions } from 'sharp';
import type { AveragedMap } from '../../core/average';
import { blendOverRgb } from '../../core/overlay';
import { paintView, viewSource } from '../../core/pipeline';
import { renderPicture } from '../../main/services/picture';
import { median } from './timing';

const here = path.dirname(fileURLToPath(import.meta.url));
const IMAGES = path.resolve(here, '../../../shared/corpus/images');
const PHOTOS = ['exif_Landscape_6.jpg', 'skimage_hubble_deep_field.jpg'];

/** What each encoding side writes. */
const ENCODINGS: Record<string, { png: PngOptions } | { jpeg: JpegOptions } | { webp: WebpOptions }> = {
  'png level 6 (sharp default)': { png: {} },
  'png level 1 (Convmap)': { png: { compressionLevel: 1 } },
  'png level 3': { png: { compressionLevel: 3 } },
  'png level 1 adaptive': { png: { compressionLevel: 1, adaptiveFiltering: true } },
  'png level 2 adaptive': { png: { compressionLevel: 2, adaptiveFiltering: true } },
  'png level 6 adaptive': { png: { compressionLevel: 6, adaptiveFiltering: true } },
  'jpeg q90 4:2:0': { jpeg: { quality: 90 } },
  'jpeg q90 4:4:4 (Convmap)': { jpeg: { quality: 90, chromaSubsampling: '4:4:4' } },
  'webp q90 effort 2 (Convmap)': { webp: { quality: 90, effort: 2 } },
  'webp q90 effort 4 (sharp default)': { webp: { quality: 90 } },
};

/** The photo at about 1 MP, upright, RGB. */
async function photoAt1mp(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const meta = await sharp(file).rotate().metadata();
  const w0 = meta.autoOrient?.width ?? meta.width ?? 1;
  const h0 = meta.autoOrient?.height ?? meta.height ?? 1;
  const f = Math.sqrt(1e6 / (w0 * h0));
  const width = Math.round(w0 * f);
  const height = Math.round(h0 * f);
  const data = await sharp(file).rotate().resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}

/** A 5-class map of 32-pixel cells (a MobileNet's stride), smooth waves, about half its cells above 0.5. */
function waveMap(width: number, height: number): AveragedMap {
  const cell = 32;
  const rows = Math.ceil(height / cell);
  const cols = Math.ceil(width / cell);
  const classes = 5;
  const scores = new Float32Array(rows * cols * classes);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      for (let k = 0; k < classes; k++) scores[(r * cols + c) * classes + k] = 0.5 + 0.5 * Math.sin(r * 0.3 + k) * Math.cos(c * 0.25 - k);
    }
  }
  return { rows, cols, classes, scores, imageSize: [height, width], cellSize: [cell, cell], coverage: new Uint8Array(rows * cols).fill(1), mode: 'max' };
}

function stats(ms: number[]): { minMs: number; medianMs: number } {
  return { minMs: +Math.min(...ms).toFixed(1), medianMs: +median(ms).toFixed(1) };
}

export async function picture1mp(runs: number): Promise<Record<string, unknown>> {
  if (!existsSync(IMAGES)) return { case: 'picture-1mp', skipped: 'the shared corpus (../shared/corpus) is not here' };
  const labels = ['노마스크', '마스크', '가위', '바위', '보'];
  const style = { view: 'absolute' as const, colormap: 'viridis' as const, opacity: 0.65, threshold: 0.5, smooth: true, boxes: false, legend: true };
  const photos: Record<string, unknown>[] = [];
  for (const name of PHOTOS) {
    const photo = await photoAt1mp(path.join(IMAGES, name));
    const { width, height } = photo;
    const averaged = waveMap(width, height);
    const source = viewSource(averaged, 1, labels, style);
    const paint = (): Uint8ClampedArray => paintView(source, { width, height, colormap: style.colormap, opacity: style.opacity, smooth: true });
    const overlay = paint();
    const blended = blendOverRgb(photo.data, overlay, width, height);
    const bytes: Record<string, number> = {};
    const sides: Record<string, () => Promise<unknown> | unknown> = {
      paint,
      blend: () => blendOverRgb(photo.data, overlay, width, height),
      renderPicture: () => renderPicture({ image: { ...photo, channels: 3, data: photo.data.slice() }, averaged, classIndex: 1, drawn: [] }, labels, style),
    };
    for (const [label, enc] of Object.entries(ENCODINGS)) {
      sides[label] = async () => {
        const img = sharp(blended, { raw: { width, height, channels: 3 } });
        const out = await ('png' in enc ? img.png(enc.png) : 'jpeg' in enc ? img.jpeg(enc.jpeg) : img.webp(enc.webp)).toBuffer();
        bytes[label] = out.length;
      };
    }
    const ms: Record<string, number[]> = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
    // One untimed round first (JIT, libvips' caches), then `runs` interleaved rounds.
    for (let r = -1; r < runs; r++) {
      for (const [k, f] of Object.entries(sides)) {
        const t0 = performance.now();
        await f();
        if (r >= 0) ms[k].push(performance.now() - t0);
      }
    }
    const base = median(ms['png level 6 (sharp default)']);
    photos.push({
      photo: `${name} at ${width}×${height}`,
      paint: stats(ms.paint), blend: stats(ms.blend), renderPicture: stats(ms.renderPicture),
      encode: Object.fromEntries(Object.keys(ENCODINGS).map((k) => [k, { ...stats(ms[k]), bytes: bytes[k], timeVsDefault: +(median(ms[k]) / base).toFixed(2) }])),
    });
  }
  return { case: 'picture-1mp', runs, photos };
}
