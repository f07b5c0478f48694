/**
 * Detections from multi-scale score maps, OverFeat-style (Sermanet et al. 2014, sec. 4.3 and 6):
 * accumulate, then merge and suppress.
 * 1. Accumulate: every scale's own map gives boxes, in original pixels: its peaks per class, each
 *    the window of its cell at that scale (a large window from a small scale, a small one from a
 *    large scale). Nothing is averaged away: an object found at one scale only keeps its box.
 * 2. Merge: boxes of one class whose centres lie inside each other (the same object seen at several
 *    scales, or at neighbouring positions) become one, in descending score order.
 * 3. Suppress: greedy NMS on the merged boxes (across classes unless perClass), then matching
 *    against ground truth for the tests and the demo.
 */

import { type AveragedMap } from './average';
import { isBackgroundLabel } from './defaults';
import { cellBox, type Box, type ScoreMap } from './scoremap';

export interface Detection {
  classIndex: number;
  label?: string;
  /** The strongest merged box's score: its cell's score at its own scale, 0–1. */
  score: number;
  /**
   * [y0, x0, y1, x1) in original pixels: the strongest merged box's window (its scale's window
   * size), centred on the score-weighted mean of the merged boxes' centres.
   */
  box: Box;
  /** Centre of `box`, [y, x] in original pixels. */
  centre: [number, number];
  /** Index into the maps array of the scale of the strongest merged box. */
  mapIndex: number;
  /** How many per-scale peaks were merged into this detection (1: one cell at one scale). */
  support: number;
}

export interface DetectOptions {
  /** Classes to look for; default all, except background classes (isBackgroundLabel) when labels are given. */
  classes?: number[];
  /** Peaks whose score at their own scale is below this are dropped, 0–1. */
  threshold: number;
  /** NMS: a box overlapping a higher-scoring kept box with IoU above this is dropped. Default 0.3. */
  iou?: number;
  labels?: readonly string[];
  /**
   * NMS also drops a box when the intersection with a higher-scoring kept box covers more than this
   * fraction of the smaller of the two (a small-scale window inside a large-scale one); default 0.6,
   * 1 turns it off.
   */
  contain?: number;
  /** Suppress only boxes of the same class; default false (class-agnostic). Boxes of different classes are never merged. */
  perClass?: boolean;
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
 * Peaks on a rows × cols grid: plateaus of equal value (8-connected) at or above threshold with no
 * strictly higher neighbour; cells valued -Infinity are outside. A plateau yields one peak, its cell
 * nearest to the plateau's centroid (first in row-major order on ties).
 */
function gridPeaks(rows: number, cols: number, value: (cell: number) => number, threshold: number): [number, number][] {
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

/**
 * Peaks of one class on an averaged map (covered cells only), as {@link gridPeaks} finds them.
 * @returns grid cells [r, c].
 */
export function findPeaks(avg: AveragedMap, classIndex: number, threshold: number): [number, number][] {
  const { rows, cols, classes, scores, coverage } = avg;
  return gridPeaks(rows, cols, (cell) => (coverage[cell] > 0 ? scores[cell * classes + classIndex] : -Infinity), threshold);
}

/**
 * Peaks of one class on one scale's own map, as {@link gridPeaks} finds them.
 * @returns the map's cells [i, j].
 */
export function findMapPeaks(map: ScoreMap, classIndex: number, threshold: number): [number, number][] {
  const { rows, cols, classes, scores } = map;
  return gridPeaks(rows, cols, (cell) => scores[cell * classes + classIndex], threshold);
}

/** The classes searched by default: all, minus those with a background label (core/defaults isBackgroundLabel: '__background__' too). */
export function defaultClasses(classes: number, labels?: readonly string[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < classes; k++) {
    if (isBackgroundLabel(labels?.[k])) continue;
    out.push(k);
  }
  return out;
}

const centreOf = (b: Box): [number, number] => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
const holds = (b: Box, p: readonly [number, number]): boolean => p[0] >= b[0] && p[0] < b[2] && p[1] >= b[1] && p[1] < b[3];

/** One box from one scale's peak, before merging. */
export interface ScaleBox {
  classIndex: number;
  /** The cell's score at its scale. */
  score: number;
  /** The cell's window, [y0, x0, y1, x1) in original pixels. */
  box: Box;
  mapIndex: number;
}

/**
 * Step 1, accumulate: the peaks of every class at every scale, each as its cell's window in original
 * pixels (cellBox), with its own score. Maps without cells give none.
 */
export function scaleBoxes(maps: readonly ScoreMap[], classes: readonly number[], threshold: number): ScaleBox[] {
  const out: ScaleBox[] = [];
  maps.forEach((m, mapIndex) => {
    if (m.rows === 0 || m.cols === 0) return;
    for (const k of classes) {
      for (const [i, j] of findMapPeaks(m, k, threshold)) out.push({ classIndex: k, score: m.scores[(i * m.cols + j) * m.classes + k], box: cellBox(m, i, j), mapIndex });
    }
  });
  return out;
}

/**
 * Step 2, merge: visit the boxes by descending score (stable on ties); a box joins the first group
 * of its class whose strongest box holds its centre and whose centre it holds (the same object: the
 * windows need not be of one size, as the scales' windows are not), else it starts a group. A group
 * becomes one detection: the strongest box's window size and score, centred on the score-weighted
 * mean of its boxes' centres. Windows are not regressed boxes: a window's size is a guess at the
 * object's size and the strongest scale's is the best one, so sizes are not averaged; positions are.
 * Boxes of different classes are never merged.
 * @returns one detection per group, by descending score.
 */
export function mergeScaleBoxes(boxes: readonly ScaleBox[], labels?: readonly string[]): Detection[] {
  const order = boxes.map((b, n) => ({ b, n })).sort((a, c) => c.b.score - a.b.score || a.n - c.n).map((x) => x.b);
  const groups: { top: ScaleBox; topCentre: [number, number]; members: ScaleBox[] }[] = [];
  for (const b of order) {
    const c = centreOf(b.box);
    const g = groups.find((q) => q.top.classIndex === b.classIndex && holds(q.top.box, c) && holds(b.box, q.topCentre));
    if (g) g.members.push(b);
    else groups.push({ top: b, topCentre: c, members: [b] });
  }
  return groups.map(({ top, members }) => {
    let w = 0;
    let cy = 0;
    let cx = 0;
    for (const m of members) {
      const [y, x] = centreOf(m.box);
      // A zero score still counts, so a group of zero-score boxes has a centre.
      const wm = Math.max(m.score, 1e-12);
      w += wm;
      cy += wm * y;
      cx += wm * x;
    }
    cy /= w;
    cx /= w;
    const hh = (top.box[2] - top.box[0]) / 2;
    const hw = (top.box[3] - top.box[1]) / 2;
    const det: Detection = { classIndex: top.classIndex, score: top.score, box: [cy - hh, cx - hw, cy + hh, cx + hw], centre: [cy, cx], mapIndex: top.mapIndex, support: members.length };
    if (labels?.[top.classIndex] !== undefined) det.label = labels[top.classIndex];
    return det;
  });
}

/**
 * Detect objects in one photo from its per-scale score maps: accumulate every scale's peaks as
 * boxes ({@link scaleBoxes}), merge those of one object ({@link mergeScaleBoxes}), then greedy NMS
 * across classes (per class with perClass). How the picture combines the scales (mean or max) does
 * not change the boxes: an object seen well at one scale is not averaged away by the others.
 * @param maps per-scale maps of the same photo.
 * @returns detections by descending score; boxes in original pixels.
 */
export function detect(maps: readonly ScoreMap[], opts: DetectOptions): Detection[] {
  const nClasses = maps[0]?.classes ?? 0;
  const classes = opts.classes ?? defaultClasses(nClasses, opts.labels);
  for (const k of classes) {
    if (!(Number.isInteger(k) && k >= 0 && k < nClasses)) throw new Error(`class ${k} is not one of the model's ${nClasses} classes`);
  }
  const merged = mergeScaleBoxes(scaleBoxes(maps, classes, opts.threshold), opts.labels);
  return nms(merged, opts.iou ?? 0.3, opts.perClass ?? false, opts.contain ?? 0.6);
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
