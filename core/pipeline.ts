/**
 * The pure stages of the one pipeline, after the score maps: averaged → class choice → detections.
 * Main (window service, batch, CLI, export) and the renderer call these with the same settings, so
 * the same maps give the same picture and the same boxes everywhere.
 */

import { averageScoreMaps, classMaxima, type AveragedMap, type CombineMode } from './average';
import type { ColormapName } from './colormap';
import { defaultClasses, detect, type Detection } from './detect';
import type { ScoreMap } from './scoremap';

/** The class index that stands for "any": per location, the strongest class other than background. */
export const ANY_CLASS = -1;

/** Everything that decides a photo's picture and boxes, once the maps are computed. */
export interface PictureSettings {
  /** How scales are combined. */
  mode: CombineMode;
  /** A label, a class index (as text), 'top' (the photo's strongest class but background) or 'any'. */
  classChoice: string;
  colormap: ColormapName;
  /** Overlay opacity, 0–1. */
  opacity: number;
  /** Scores below this are transparent. */
  threshold: number;
  /** Draw detection boxes (of the drawn class; of every class but background for 'any'). */
  boxes: boolean;
  /** Draw the legend (class name, colormap scale). */
  legend: boolean;
  /** Peaks whose score at their own scale is at or above this become detections (core/detect), 0–1. */
  detectThreshold: number;
}

/** The display name of a class index ({@link ANY_CLASS} included). */
export function classLabel(labels: readonly string[], classIndex: number): string {
  return classIndex === ANY_CLASS ? 'any (not background)' : (labels[classIndex] ?? `class ${classIndex}`);
}

/** A class given by label or index; throws a message listing the labels when there is none such. */
export function namedClass(choice: string, labels: readonly string[]): number {
  const byLabel = labels.indexOf(choice);
  if (byLabel >= 0) return byLabel;
  if (/^\d+$/.test(choice) && Number(choice) < labels.length) return Number(choice);
  throw new Error(`unknown class "${choice}" (labels: ${labels.slice(0, 12).join(', ')}${labels.length > 12 ? ', …' : ''})`);
}

/**
 * Resolves a class choice on one photo's averaged map: 'any' → {@link ANY_CLASS}; 'top' → the class
 * with the highest averaged score among the classes not labelled background (the lower index on
 * ties; class 0 when every class is background); otherwise {@link namedClass}.
 */
export function chooseClass(choice: string, labels: readonly string[], averaged: AveragedMap): number {
  if (choice === 'any') return ANY_CLASS;
  if (choice !== 'top') return namedClass(choice, labels);
  const candidates = new Set(defaultClasses(averaged.classes, labels));
  let best = -1;
  let bestScore = -Infinity;
  for (const m of classMaxima(averaged)) {
    if (!candidates.has(m.classIndex)) continue;
    if (m.score > bestScore) {
      best = m.classIndex;
      bestScore = m.score;
    }
  }
  return Math.max(best, 0);
}

/** The classes whose boxes are drawn for a class index: the class itself, or every class but background for {@link ANY_CLASS}. */
export function drawnClasses(classIndex: number, classes: number, labels: readonly string[]): number[] {
  return classIndex === ANY_CLASS ? defaultClasses(classes, labels) : [classIndex];
}

/** Boxes drawn per class at most (window and exported PNGs alike), so that a class's detections do not bury the photo. */
export const MAX_DRAWN_PER_CLASS = 8;

/**
 * The detections drawn: those of `dets` whose class is one of `classes`, the strongest
 * {@link MAX_DRAWN_PER_CLASS} a class, in the given order. `dets` are every class's detections after
 * NMS across classes, so where another class is stronger no box of a drawn class is left: that
 * object was detected as the other class (the heatmap still shows the drawn class's scores there).
 * @param dets by descending score (as detect returns them).
 */
export function drawnBoxes<T extends { classIndex: number }>(dets: readonly T[], classes: readonly number[], perClass = MAX_DRAWN_PER_CLASS): T[] {
  const drawn = new Set(classes);
  const seen = new Map<number, number>();
  return dets.filter((d) => {
    if (!drawn.has(d.classIndex)) return false;
    const n = seen.get(d.classIndex) ?? 0;
    seen.set(d.classIndex, n + 1);
    return n < perClass;
  });
}

/** One photo after the pure stages. */
export interface PhotoAnalysis {
  averaged: AveragedMap;
  /** The class drawn; {@link ANY_CLASS} for "any". */
  classIndex: number;
  /** Detections of every class but background (CSV, JSON, counts), by descending score; boxes in original pixels. */
  detections: Detection[];
  /** The boxes drawn on the picture: {@link drawnBoxes} of `detections` for the drawn classes, by descending score. */
  drawn: Detection[];
}

/**
 * Averages the maps (settings.mode) and chooses the class on that averaged map; the detections come
 * from every scale's own map, merged (core/detect: the same whatever the mode). Maps without cells
 * give an analysis without detections.
 * @param maps per-scale maps of one photo (same imageSize and classes).
 */
export function analyseMaps(maps: readonly ScoreMap[], labels: readonly string[], settings: Pick<PictureSettings, 'mode' | 'classChoice' | 'detectThreshold'>): PhotoAnalysis {
  const averaged = averageScoreMaps(maps, { mode: settings.mode });
  const classIndex = chooseClass(settings.classChoice, labels, averaged);
  const empty = maps.every((m) => m.rows === 0 || m.cols === 0);
  const opts = { threshold: settings.detectThreshold, labels };
  const detections = empty ? [] : detect(maps, opts);
  const drawn = drawnBoxes(detections, drawnClasses(classIndex, averaged.classes, labels));
  return { averaged, classIndex, detections, drawn };
}
