import path from 'node:path';
import sharp from 'sharp';
import { averageScoreMaps, classMaxima, maxOverClasses, type AveragedMap, type CombineMode } from '../../core/average';
import type { ColormapName } from '../../core/colormap';
import { defaultClasses, detect, type Detection } from '../../core/detect';
import type { ConvertedModelInfo } from '../../core/model-info';
import { blendOverRgb, renderOverlay } from '../../core/overlay';
import { scaleFactors, type ScoreMap } from '../../core/scoremap';
import { decodeImage, type RgbImage } from '../engine/decode';
import type { Engine, ModelHandle } from '../engine/engine';
import { writeFileAtomic } from './atomic';

export interface OverlayStyle {
  colormap: ColormapName;
  /** 0–1. */
  opacity: number;
  /** Scores below this are transparent. */
  threshold: number;
  mode: CombineMode;
}

/** Everything computed for one photo. */
export interface PhotoResult {
  image: RgbImage;
  maps: ScoreMap[];
  averaged: AveragedMap;
  /** The class drawn; {@link ANY_CLASS} for the maximum over all classes but background. */
  classIndex: number;
}

/** `--class any`: per location, the strongest class other than background. */
export const ANY_CLASS = -1;

export function classLabel(labels: readonly string[], classIndex: number): string {
  return classIndex === ANY_CLASS ? 'any (not background)' : labels[classIndex];
}

/**
 * Resolves `--class`: a label, a class index, 'any' (per location the strongest class but
 * background) or 'top' — the class with the strongest averaged score in this photo, ignoring a
 * class labelled "background".
 */
export function chooseClass(choice: string, labels: readonly string[], averaged: AveragedMap): number {
  if (choice === 'any') return ANY_CLASS;
  if (choice === 'top') {
    const maxima = classMaxima(averaged);
    let best = -1;
    for (const m of maxima) {
      if (labels[m.classIndex]?.toLowerCase() === 'background') continue;
      if (best < 0 || m.score > maxima[best].score) best = m.classIndex;
    }
    return Math.max(best, 0);
  }
  return namedClass(choice, labels);
}

/** A class given by label or index; throws a message listing the labels when there is none such. */
export function namedClass(choice: string, labels: readonly string[]): number {
  const byLabel = labels.indexOf(choice);
  if (byLabel >= 0) return byLabel;
  if (/^\d+$/.test(choice) && Number(choice) < labels.length) return Number(choice);
  throw new Error(`unknown class "${choice}" (labels: ${labels.slice(0, 12).join(', ')}${labels.length > 12 ? ', …' : ''})`);
}

/** Decodes a photo (upright) and computes its score maps at every scale, then averages them. */
export async function computePhoto(
  engine: Engine,
  handle: ModelHandle,
  info: ConvertedModelInfo,
  photo: string,
  scales: number[],
  opts: { mode: CombineMode; classChoice: string; signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
): Promise<PhotoResult> {
  const image = await decodeImage(photo);
  const maps = await engine.scoreMaps(handle, image, scales, info.preprocess, { signal: opts.signal, onProgress: opts.onProgress });
  const averaged = averageScoreMaps(maps, { mode: opts.mode });
  return { image, maps, averaged, classIndex: chooseClass(opts.classChoice, info.labels, averaged) };
}

/** The photo at full size with the class's averaged map drawn over it, as RGB [h·w·3]. */
export function overlayPhoto(result: PhotoResult, labels: readonly string[], style: OverlayStyle): Uint8Array {
  const { width, height, data } = result.image;
  const any = result.classIndex === ANY_CLASS;
  const map = any ? maxOverClasses(result.averaged, defaultClasses(result.averaged.classes, labels)) : result.averaged;
  const rgba = renderOverlay(map, any ? 0 : result.classIndex, {
    width, height, colormap: style.colormap, opacity: style.opacity, threshold: style.threshold, smooth: true,
  });
  return blendOverRgb(data, rgba, width, height);
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}

/** The analysis record written as <name>.scores.json. Pixel units are original photo pixels unless named "scaled". */
export function scoresRecord(photo: string, info: ConvertedModelInfo, result: PhotoResult, detections: Detection[]): object {
  const { averaged } = result;
  const maxima = classMaxima(averaged);
  return {
    image: path.resolve(photo),
    imageSize: { height: result.image.height, width: result.image.width },
    model: info.source,
    preprocess: info.preprocess,
    labels: info.labels,
    class: { index: result.classIndex, label: classLabel(info.labels, result.classIndex) },
    scales: result.maps.map((m) => {
      const [fy, fx] = scaleFactors(m);
      return {
        scale: m.scale,
        scaledSize: m.scaledSize,
        rows: m.rows,
        cols: m.cols,
        geometryScaled: m.geometry,
        windowPx: [round(m.geometry.window[0] / fy), round(m.geometry.window[1] / fx)],
        stridePx: [round(m.geometry.stride[0] / fy), round(m.geometry.stride[1] / fx)],
        offsetPx: [round(m.geometry.offset[0] / fy), round(m.geometry.offset[1] / fx)],
      };
    }),
    averaged: {
      mode: averaged.mode,
      rows: averaged.rows,
      cols: averaged.cols,
      classes: averaged.classes,
      cellSize: averaged.cellSize,
      layout: 'row-major [rows][cols][classes]',
      scores: Array.from(averaged.scores, round),
    },
    perClass: maxima.map((m) => ({ label: info.labels[m.classIndex], maxScore: round(m.score), y: round(m.y), x: round(m.x) })),
    detections: detections.map((d) => ({ label: info.labels[d.classIndex], score: round(d.score), box: d.box.map(round) })),
  };
}

/**
 * Writes <outDir>/<name>.heatmap.png (photo upright at full size with the overlay) and
 * <outDir>/<name>.scores.json, each atomically.
 */
export async function writePhotoOutputs(
  outDir: string,
  name: string,
  photo: string,
  info: ConvertedModelInfo,
  result: PhotoResult,
  style: OverlayStyle,
): Promise<{ png: string; json: string; detections: Detection[] }> {
  const rgb = overlayPhoto(result, info.labels, style);
  const png = await sharp(rgb, { raw: { width: result.image.width, height: result.image.height, channels: 3 } }).png().toBuffer();
  const detections = detect(result.maps, { threshold: 0.5, labels: info.labels, mode: 'max' });
  const pngPath = path.join(outDir, `${name}.heatmap.png`);
  const jsonPath = path.join(outDir, `${name}.scores.json`);
  await writeFileAtomic(pngPath, png);
  await writeFileAtomic(jsonPath, JSON.stringify(scoresRecord(photo, info, result, detections)) + '\n');
  return { png: pngPath, json: jsonPath, detections };
}
