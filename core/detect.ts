/**
 * Detections from multi-scale score maps: peaks of the averaged map, one window-sized box per peak,
 * greedy non-maximum suppression, and matching against ground truth.
 */

import { averageScoreMaps, gridCellCentre, nearestCell, sampleScoreMap, type AveragedMap, type CombineMode, type GridSpec } from './average';
import { cellBox, type Box, type ScoreMap } from './scoremap';

export interface Detection {
  classIndex: number;
  label?: string;
  /** Averaged score at the peak. */
  score: number;
  /** Window of the best scale's nearest cell, [y0, x0, y1, x1) in original pixels. */
  box: Box;
  /** The peak (grid cell centre) [y, x] in original pixels. */
  centre: [number, number];
  /** Index into the maps array of the scale the box was taken from. */
  mapIndex: number;
}

export interface DetectOptions {
  /** Classes to look for; default all, except classes labelled 'background' when labels are given. */
  classes?: number[];
  /** Peaks with an averaged score below this are dropped. */
  threshold: number;
  /** NMS: a box overlapping a higher-scoring kept box with IoU above this is dropped. Default 0.3. */
  iou?: number;
  /** How scales are combined; default 'max'. */
  mode?: CombineMode;
  labels?: readonly string[];
  /**
   * NMS also drops a box when the intersection with a higher-scoring kept box covers more than this
   * fraction of the smaller of the two (a small-scale window inside a large-scale one); default 0.6,
   * 1 turns it off.
   */
  contain?: number;
  /** Suppress only boxes of the same class; default false (class-agnostic). */
  perClass?: boolean;
  /** Output grid of the averaged map; default {@link defaultGrid}. */
  grid?: GridSpec;
}

/**
 * Intersection over union of two boxes [y0, x0, y1, x1) (any common unit).
 * @returns a number in [0, 1]; 0 when both are empty.
 */
export function iou(a: Box, b: Box): number {
  const ih = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const iw = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  const inter = ih > 0 && iw > 0 ? ih * iw : 0;
  const area = (x: Box): number => Math.max(0, x[2] - x[0]) * Math.max(0, x[3] - x[1]);
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Intersection over the smaller box's area: 1 when one box lies inside the other.
 * @returns a number in [0, 1]; 0 when either box is empty.
 */
export function overlapOfSmaller(a: Box, b: Box): number {
  const ih = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const iw = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  const inter = ih > 0 && iw > 0 ? ih * iw : 0;
  const area = (x: Box): number => Math.max(0, x[2] - x[0]) * Math.max(0, x[3] - x[1]);
  const smaller = Math.min(area(a), area(b));
  return smaller > 0 ? inter / smaller : 0;
}

/**
 * Greedy non-maximum suppression: visit by descending score (stable on ties), keep a detection
 * unless its IoU with an already kept one is above iouThreshold, or (multi-scale windows) one of the
 * two lies mostly inside the other: intersection over the smaller area above containThreshold.
 * @param perClass compare only detections of the same classIndex.
 * @param containThreshold default 1 (off).
 * @returns the kept detections, by descending score. The input array is not modified.
 */
export function nms<T extends { score: number; box: Box; classIndex: number }>(dets: readonly T[], iouThreshold: number, perClass = false, containThreshold = 1): T[] {
  const order = dets.map((d, n) => ({ d, n })).sort((a, b) => b.d.score - a.d.score || a.n - b.n);
  const kept: T[] = [];
  const clash = (k: T, d: T): boolean => iou(k.box, d.box) > iouThreshold || (containThreshold < 1 && overlapOfSmaller(k.box, d.box) > containThreshold);
  for (const { d } of order) {
    if (kept.every((k) => (perClass && k.classIndex !== d.classIndex) || !clash(k, d))) kept.push(d);
  }
  return kept;
}

/**
 * Peaks of one class on an averaged map: plateaus of equal score (8-connected, covered cells only)
 * at or above threshold with no strictly higher covered neighbour. A plateau yields one peak, its
 * cell nearest to the plateau's centroid (first in row-major order on ties).
 * @returns grid cells [r, c].
 */
export function findPeaks(avg: AveragedMap, classIndex: number, threshold: number): [number, number][] {
  const { rows, cols, classes, scores, coverage } = avg;
  const value = (cell: number): number => (coverage[cell] > 0 ? scores[cell * classes + classIndex] : -Infinity);
  const seen = new Uint8Array(rows * cols);
  const peaks: [number, number][] = [];
  for (let start = 0; start < rows * cols; start++) {
    if (seen[start]) continue;
    const v = value(start);
    if (!(v >= threshold)) continue;
    const plateau = [start];
    seen[start] = 1;
    let isMax = true;
    for (let q = 0; q < plateau.length; q++) {
      const r = Math.floor(plateau[q] / cols);
      const c = plateau[q] % cols;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if ((dr === 0 && dc === 0) || rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
          const n = rr * cols + cc;
          const nv = value(n);
          if (nv > v) isMax = false;
          else if (nv === v && !seen[n]) {
            seen[n] = 1;
            plateau.push(n);
          }
        }
      }
    }
    if (!isMax) continue;
    let my = 0;
    let mx = 0;
    for (const cell of plateau) {
      my += Math.floor(cell / cols);
      mx += cell % cols;
    }
    my /= plateau.length;
    mx /= plateau.length;
    let best = -1;
    let bestD = Infinity;
    for (const cell of [...plateau].sort((a, b) => a - b)) {
      const d = (Math.floor(cell / cols) - my) ** 2 + ((cell % cols) - mx) ** 2;
      if (d < bestD) {
        bestD = d;
        best = cell;
      }
    }
    peaks.push([Math.floor(best / cols), best % cols]);
  }
  return peaks;
}

/** The classes searched by default: all, minus those labelled 'background' (case-insensitive). */
export function defaultClasses(classes: number, labels?: readonly string[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < classes; k++) {
    if (labels && labels[k] !== undefined && labels[k].trim().toLowerCase() === 'background') continue;
    out.push(k);
  }
  return out;
}

/**
 * Detect objects in one photo from its per-scale score maps.
 * 1. Average the maps on one grid (averageScoreMaps, mode default 'max').
 * 2.–4. {@link detectOnAveraged} on that averaged map.
 * @param maps per-scale maps of the same photo.
 * @returns detections by descending score; boxes in original pixels.
 */
export function detect(maps: readonly ScoreMap[], opts: DetectOptions): Detection[] {
  return detectOnAveraged(maps, averageScoreMaps(maps, { mode: opts.mode ?? 'max', grid: opts.grid }), opts);
}

/**
 * Detections on an averaged map already computed from `maps` (the one the picture shows), so the
 * maps are not averaged a second time.
 * 1. For each class, find peaks (findPeaks) at or above threshold.
 * 2. Box of a peak: among the scales covering the peak's centre, the one whose own sampled score
 *    there is highest (the earlier map on ties); its cell with the nearest centre; that cell's window (cellBox).
 * 3. Greedy NMS over all classes (or per class with perClass).
 * @param avg averageScoreMaps(maps, …) in any mode and grid; `opts.mode` and `opts.grid` are not used.
 * @returns detections by descending score; boxes in original pixels.
 */
export function detectOnAveraged(maps: readonly ScoreMap[], avg: AveragedMap, opts: Omit<DetectOptions, 'mode' | 'grid'>): Detection[] {
  const classes = opts.classes ?? defaultClasses(avg.classes, opts.labels);
  for (const k of classes) {
    if (!(Number.isInteger(k) && k >= 0 && k < avg.classes)) throw new Error(`class ${k} is not one of the model's ${avg.classes} classes`);
  }
  const found: Detection[] = [];
  for (const k of classes) {
    for (const [r, c] of findPeaks(avg, k, opts.threshold)) {
      const [y, x] = gridCellCentre(avg, r, c);
      let bestMap = -1;
      let bestScore = -Infinity;
      maps.forEach((m, n) => {
        if (m.rows === 0 || m.cols === 0) return;
        const s = sampleScoreMap(m, y, x, k);
        if (s !== undefined && s > bestScore) {
          bestScore = s;
          bestMap = n;
        }
      });
      if (bestMap < 0) continue;
      const cell = nearestCell(maps[bestMap], y, x);
      if (!cell) continue;
      const det: Detection = {
        classIndex: k,
        score: avg.scores[(r * avg.cols + c) * avg.classes + k],
        box: cellBox(maps[bestMap], cell[0], cell[1]),
        centre: [y, x],
        mapIndex: bestMap,
      };
      if (opts.labels?.[k] !== undefined) det.label = opts.labels[k];
      found.push(det);
    }
  }
  return nms(found, opts.iou ?? 0.3, opts.perClass ?? false, opts.contain ?? 0.6);
}

/** Counts and rates of a detection run against ground truth. */
export interface MatchResult {
  tp: number;
  fp: number;
  fn: number;
  /** tp / (tp + fp); 1 when there are no detections. */
  precision: number;
  /** tp / (tp + fn); 1 when there is no ground truth. */
  recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
}

/**
 * Match detections to ground truth greedily by descending detection score: each detection takes the
 * unmatched truth of the same class with the highest IoU, if that IoU ≥ iouThreshold (tp), else it is
 * a false positive; truths left unmatched are false negatives. Boxes in one common frame (original px).
 */
export function matchDetections(
  dets: readonly { box: Box; classIndex: number; score: number }[],
  truth: readonly { box: Box; classIndex: number }[],
  iouThreshold = 0.5,
): MatchResult {
  const used = new Uint8Array(truth.length);
  const order = dets.map((d, n) => ({ d, n })).sort((a, b) => b.d.score - a.d.score || a.n - b.n);
  let tp = 0;
  let fp = 0;
  for (const { d } of order) {
    let best = -1;
    let bestIou = -Infinity;
    truth.forEach((t, n) => {
      if (used[n] || t.classIndex !== d.classIndex) return;
      const v = iou(d.box, t.box);
      if (v >= iouThreshold && v > bestIou) {
        bestIou = v;
        best = n;
      }
    });
    if (best >= 0) {
      used[best] = 1;
      tp++;
    } else {
      fp++;
    }
  }
  const fn = truth.length - tp;
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { tp, fp, fn, precision, recall, f1 };
}
