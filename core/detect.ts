/**
 * Detections from multi-scale score maps, OverFeat-style (Sermanet et al. 2014, sec. 4.3 and 6):
 * reject, accumulate, then merge and suppress.
 * 0. Reject, for a classifier without a background class (which names some class on every window):
 *    a cell counts for its winning class only where that class stands out from this photo's typical
 *    window; see {@link SEEN_RULE}. A model with a background class says itself where nothing is: its
 *    boxes need their class {@link BOX_MARGIN} over the runner-up, background included ({@link BOX_RULE}).
 *    The picture paints a closed-set model's passing window at the finest scale whose windows inside
 *    it place its class ({@link SEEN_PAINT_RULE}); boxes come from the maps as they are.
 * 1. Accumulate: every scale's own map gives boxes, in original pixels: its peaks per class, each
 *    the window of its cell at that scale (a large window from a small scale, a small one from a
 *    large scale). Nothing is averaged away: an object found at one scale only keeps its box. Under
 *    SEEN_RULE a peak must also outrank the neighbouring scales' windows around it (scaleSpacePeak).
 * 2. Merge: boxes of one class whose centres lie inside each other (the same object seen at several
 *    scales, or at neighbouring positions) become one, in descending score order.
 * 3. Suppress: greedy NMS on the merged boxes (across classes unless perClass), then matching
 *    against ground truth for the tests and the demo.
 */

import { type AveragedMap } from './average';
import { isBackgroundLabel } from './defaults';
import { cellBox, cellCentre, scaleFactors, type Box, type ScoreMap } from './scoremap';

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
  /**
   * How far the strongest box's class stands out from the photo's typical window, nats of log-odds
   * ({@link cellEvidence}); absent when detect ran with `reject: false`. Boxes are ranked by it and
   * their window's area ({@link rankOf}).
   */
  evidence?: number;
  /**
   * ln p_class − ln p_runner-up at the strongest box's cell (for logits, z_class − z_runner-up), nats,
   * under {@link BOX_RULE} (a model with a background class); boxes are ranked by it. Absent otherwise.
   */
  logOdds?: number;
}

export interface DetectOptions {
  /** Classes to look for; default all, except background classes (isBackgroundLabel) when labels are given. */
  classes?: number[];
  /** Peaks whose score at their own scale is below this are dropped, 0–1. */
  threshold: number;
  /** NMS: a box overlapping a higher-ranked kept box with IoU above this is dropped. Default 0.3 (0.1 with `reject`). */
  iou?: number;
  labels?: readonly string[];
  /**
   * NMS also drops a box when the intersection with a higher-scoring kept box covers more than this
   * fraction of the smaller of the two (a small-scale window inside a large-scale one); default 0.6
   * (0.2 with `reject`), 1 turns it off.
   */
  contain?: number;
  /** Suppress only boxes of the same class; default false (class-agnostic). Boxes of different classes are never merged. */
  perClass?: boolean;
  /**
   * Apply {@link SEEN_RULE}: only cells whose winning class stands out from the photo's typical window
   * by {@link SEEN_MARGIN} give boxes, ranked by that evidence and their window's area ({@link rankOf}), and NMS defaults to iou 0.1, contain
   * 0.2 (such a model also names a class on parts of an object: overlapping windows are one object).
   * False: every class's peaks of probability at or above threshold, ranked by probability. Default:
   * true exactly when `labels` are given and none is a background label ({@link closedSet}).
   */
  reject?: boolean;
  /**
   * Apply {@link BOX_RULE} (ignored with `reject`): a peak also needs its class's log-odds over the
   * runner-up to reach {@link BOX_MARGIN}, and boxes are ranked by those log-odds instead of their
   * probability. Default: true exactly when `labels` are given and one is a background label.
   */
  logOdds?: boolean;
}

/** True for a classifier without a background class (no label isBackgroundLabel): {@link SEEN_RULE} applies to it. */
export function closedSet(labels: readonly string[]): boolean {
  return !labels.some((l) => isBackgroundLabel(l));
}

/**
 * The rule that tells "the model sees one of its classes here" from "it was forced to choose", in the
 * one sentence the window and the docs show.
 */
export const SEEN_RULE = 'For a model without a background class, a cell shows a class only where that class wins and its evidence (its logit where the model gives logits, else its log-odds over the runner-up) exceeds, by at least ln 20, what 9 in 10 of this photo\'s windows (all scales) give that class, so a class the model names all over the photo, as it does on empty background, is drawn nowhere; boxes rank by that evidence plus the log of the window\'s area, and a box is kept only where it outranks the windows of the next larger and smaller scale centred within half a window of it and every box it overlaps, so a window holding a whole object beats a window on a part of it unless that one is far surer.';

/** The evidence a cell's winning class needs, nats of log-odds above the photo's baseline: ln 20 ≈ 3.0. */
export const SEEN_MARGIN = Math.log(20);

/**
 * How boxes of a model with a background class are told from chance, in the one sentence the window
 * and the docs show.
 */
export const BOX_RULE = 'For a model with a background class, a box needs its class at least 5 times as likely as the runner-up (background or another class), and overlapping boxes are ranked by that ratio\'s log, which keeps growing where probabilities crowd near 1.';

/** The log-odds over the runner-up a box of a model with a background class needs ({@link BOX_RULE}): ln 5 ≈ 1.6 nats. */
export const BOX_MARGIN = Math.log(5);

/** Probabilities are floored here before logs (float32 softmax underflows to 0 near e^-87). */
const P_FLOOR = 1e-38;

/** At most this many cells, evenly spread over all scales, make a photo's baselines. */
const BASELINE_SAMPLES = 4096;

/**
 * A class's baseline is this quantile of its log-odds over the photo's windows: a class the model
 * names on more than a tenth of the windows (a flood, also a two-class one on texture, where a median
 * would fall between the two) stands out nowhere, while an object's class, on a few windows, stands
 * out against the rest.
 */
export const BASELINE_QUANTILE = 0.9;

/**
 * True when every score of the map is in [0, 1] (probabilities, as a softmax or sigmoid gives); false
 * for logits (a graph without a final softmax).
 */
function isProbability(map: ScoreMap): boolean {
  const { scores } = map;
  for (let i = 0; i < scores.length; i++) if (!(scores[i] >= 0 && scores[i] <= 1)) return false;
  return true;
}

/** The strongest and the second strongest class of cell i, and their scores. */
function topTwo(scores: Float32Array, i: number, classes: number): { k: number; p1: number; p2: number } {
  let k = 0;
  let p1 = -Infinity;
  let p2 = -Infinity;
  for (let j = 0; j < classes; j++) {
    const v = scores[i * classes + j];
    if (v > p1) {
      p2 = p1;
      p1 = v;
      k = j;
    } else if (v > p2) {
      p2 = v;
    }
  }
  return { k, p1, p2: classes > 1 ? p2 : 0 };
}

/**
 * Per class k, the photo's baseline of k's evidence: for probabilities, the log-odds of k against
 * the strongest other class, ln p_k − ln max_{j≠k} p_j (a difference of logits, which a softmax
 * keeps and which does not saturate at 1 as probabilities do); for logits (a graph without a final
 * softmax), k's logit itself (the maximum logit, a better sign of "one of my classes" than any
 * ratio). The baseline is their {@link BASELINE_QUANTILE} quantile (linear between order statistics)
 * over the cells of every map (at most BASELINE_SAMPLES, spread evenly over the cells of all scales).
 * @returns one baseline a class, nats.
 */
export function classBaselines(maps: readonly ScoreMap[]): Float64Array {
  const classes = maps[0]?.classes ?? 0;
  const total = maps.reduce((n, m) => n + m.rows * m.cols, 0);
  const out = new Float64Array(classes);
  if (total === 0 || classes === 0) return out;
  const step = Math.max(1, total / BASELINE_SAMPLES);
  const picks: { map: ScoreMap; cell: number }[] = [];
  let next = 0;
  let seen = 0;
  for (const map of maps) {
    const n = map.rows * map.cols;
    while (next < seen + n) {
      picks.push({ map, cell: Math.floor(next) - seen });
      next += step;
    }
    seen += n;
  }
  const values = new Float64Array(classes * picks.length);
  const probabilities = new Map(maps.map((m) => [m, isProbability(m)]));
  picks.forEach(({ map, cell }, s) => {
    if (!probabilities.get(map)) {
      for (let j = 0; j < classes; j++) values[j * picks.length + s] = map.scores[cell * classes + j];
      return;
    }
    const { k, p1, p2 } = topTwo(map.scores, cell, classes);
    const l1 = Math.log(Math.max(p1, P_FLOOR));
    const l2 = Math.log(Math.max(p2, P_FLOOR));
    for (let j = 0; j < classes; j++) {
      values[j * picks.length + s] = j === k ? l1 - l2 : Math.log(Math.max(map.scores[cell * classes + j], P_FLOOR)) - l1;
    }
  });
  for (let j = 0; j < classes; j++) {
    const column = values.subarray(j * picks.length, (j + 1) * picks.length).sort();
    const q = BASELINE_QUANTILE * (column.length - 1);
    const lo = Math.floor(q);
    out[j] = column[lo] + (column[Math.min(lo + 1, column.length - 1)] - column[lo]) * (q - lo);
  }
  return out;
}

/** Each cell's winning class and how far it stands out from the photo's baseline for that class. */
export interface CellEvidence {
  /** Per cell (row-major), the class with the highest probability (the lower index on ties). */
  winner: Int32Array;
  /** Per cell, ln p_win − ln p_runner-up − baselines[win], nats; for logits, z_win − baselines[win] (z_win − z_runner-up − baselines[win] with `runnerUp`). */
  evidence: Float32Array;
  /** Per cell, the winning class's probability: its score, or for logits its softmax over the cell's classes (a single logit's sigmoid). */
  probability: Float32Array;
}

/**
 * The evidence of each cell of one map for its winning class, against `baselines` ({@link classBaselines}
 * of the photo's maps).
 * @param runnerUp for logits, the winning logit's margin over the runner-up's instead of the logit
 *   itself ({@link BOX_RULE}; probabilities always give the log-odds over the runner-up).
 */
export function cellEvidence(map: ScoreMap, baselines: Float64Array, runnerUp = false): CellEvidence {
  const n = map.rows * map.cols;
  const K = map.classes;
  const winner = new Int32Array(n);
  const evidence = new Float32Array(n);
  const probability = new Float32Array(n);
  const probabilities = isProbability(map);
  for (let i = 0; i < n; i++) {
    const { k, p1, p2 } = topTwo(map.scores, i, K);
    winner[i] = k;
    if (probabilities) {
      evidence[i] = Math.log(Math.max(p1, P_FLOOR)) - Math.log(Math.max(p2, P_FLOOR)) - baselines[k];
      probability[i] = p1;
    } else {
      evidence[i] = (runnerUp ? p1 - p2 : p1) - baselines[k];
      if (K === 1) {
        probability[i] = sigmoid(p1);
      } else {
        let sum = 0;
        for (let j = 0; j < K; j++) sum += Math.exp(map.scores[i * K + j] - p1);
        probability[i] = 1 / sum;
      }
    }
  }
  return { winner, evidence, probability };
}

/** The logistic function, 1 / (1 + e^−z), without overflow for large |z|. */
function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/**
 * A map of logits (a graph without a final softmax) as probabilities: each cell's softmax over its
 * classes, or for a single output (a binary classifier trained on its logit) its sigmoid. Every view
 * draws scores on 0–1 (the absolute view's fixed scale, the threshold, the class map's "stronger
 * than"): logits drawn as they are saturate wherever a class's logit passes 1, so a class's map lit
 * up every object. Maps of probabilities are returned as they are.
 */
export function asProbabilities(map: ScoreMap): ScoreMap {
  if (isProbability(map)) return map;
  const K = map.classes;
  const scores = new Float32Array(map.scores.length);
  if (K === 1) {
    for (let i = 0; i < scores.length; i++) scores[i] = sigmoid(map.scores[i]);
    return { ...map, scores };
  }
  for (let i = 0; i < map.rows * map.cols; i++) {
    let top = -Infinity;
    for (let j = 0; j < K; j++) top = Math.max(top, map.scores[i * K + j]);
    let sum = 0;
    for (let j = 0; j < K; j++) sum += (scores[i * K + j] = Math.exp(map.scores[i * K + j] - top));
    for (let j = 0; j < K; j++) scores[i * K + j] /= sum;
  }
  return { ...map, scores };
}

/**
 * The maps as the picture shows them: logits as probabilities ({@link asProbabilities}); then, under
 * {@link SEEN_RULE}, for a model without a background class ({@link closedSet} of `labels`), a cell
 * whose winning class does not stand out by {@link SEEN_MARGIN} (judged on the model's own scores,
 * logits where it gives logits) has every class's score set to 0 (drawn as nothing), and so has one
 * whose centre lies in no box of its class ({@link detect} at threshold 0: paintInsideObjects); other
 * cells keep all their scores, and are then painted at the finest scale that places their class
 * ({@link paintAtFinest}, {@link SEEN_PAINT_RULE}). Maps of a model with a background class, and maps
 * without cells, are otherwise returned as they are.
 * @returns new maps (the same array's maps where nothing changes); the input is not changed.
 */
export function seenMaps(maps: readonly ScoreMap[], labels: readonly string[]): ScoreMap[] {
  const shown = maps.map(asProbabilities);
  if (!closedSet(labels)) return shown;
  const baselines = classBaselines(maps);
  const cells: Pick<CellEvidence, 'winner' | 'evidence'>[] = [];
  const seen = maps.map((m, at) => {
    const e = cellEvidence(m, baselines);
    cells.push(e);
    if (m.rows * m.cols === 0) return m;
    const { evidence } = e;
    const scores = new Float32Array(shown[at].scores);
    for (let i = 0; i < evidence.length; i++) if (!(evidence[i] >= SEEN_MARGIN)) scores.fill(0, i * m.classes, (i + 1) * m.classes);
    return { ...m, scores };
  });
  paintInsideObjects(seen, cells, detect(maps, { threshold: 0, labels }));
  paintAtFinest(seen, cells);
  return seen;
}

/**
 * {@link SEEN_PAINT_RULE}'s first half: a cell that passes SEEN_RULE keeps its scores only where its
 * window's centre lies inside one of `objects` (SEEN_RULE's boxes, at any confidence) of its own winning
 * class; others are cleared. A closed-set model names some class on each window on a part of an object
 * (a stroke of a digit read as 1 or 7), and each such window passed on its own: the class map of a scene
 * was a mosaic of classes over every object, most cells in a class other than the object's. In place,
 * on seenMaps' own copies.
 */
function paintInsideObjects(maps: readonly ScoreMap[], cells: readonly Pick<CellEvidence, 'winner' | 'evidence'>[], objects: readonly Detection[]): void {
  maps.forEach((m, n) => {
    if (m.rows * m.cols === 0) return;
    const { winner, evidence } = cells[n];
    // Cells centred inside a box of their own winning class, found box by box (a 100 MP photo has 10⁵ cells a scale).
    const inOwnBox = new Uint8Array(m.rows * m.cols);
    const rows = Array.from({ length: m.rows }, (_, r) => cellCentre(m, r, 0)[0]);
    const cols = Array.from({ length: m.cols }, (_, c) => cellCentre(m, 0, c)[1]);
    for (const d of objects) {
      const [r0, r1] = inside(rows, d.box[0], d.box[2]);
      const [c0, c1] = inside(cols, d.box[1], d.box[3]);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) if (winner[r * m.cols + c] === d.classIndex) inOwnBox[r * m.cols + c] = 1;
    }
    for (let cell = 0; cell < m.rows * m.cols; cell++) {
      if (evidence[cell] >= SEEN_MARGIN && !inOwnBox[cell]) m.scores.fill(0, cell * m.classes, (cell + 1) * m.classes);
    }
  });
}

/**
 * Where a closed-set model's window that passes {@link SEEN_RULE} is painted, in the one sentence the
 * window and the docs show beside SEEN_RULE.
 */
export const SEEN_PAINT_RULE = 'A window that shows a class is painted only if its centre lies inside a box of that class (SEEN_RULE\'s boxes at any confidence), so a window on a part of an object that names another class is not, and it hands its colour to the windows of the next smaller scale centred inside it that name that class above this photo\'s baseline (the next scale that has any, and so on down the scales), so a window as large as the photo colours only where smaller windows place its class, and itself only where none do.';

/**
 * {@link SEEN_PAINT_RULE}: moves each painted cell's scores down the scales to the cells of the next
 * finer scale that agree with it, so that under max-over-scales a coarse window (one holding the whole
 * photo) paints only where finer windows localise its class. From the coarsest scale to the finest:
 * a cell that carries paint (scores not all 0: its own, or moved to it) whose winning class is k gives
 * its scores to the cells that agree with it at the next finer scale that has any (maps with cells, by
 * ascending `scale`): cells whose centre lies inside its window (half-open, original pixels), whose
 * winning class is also k and whose evidence is above the photo's baseline (> 0); each takes the
 * element-wise max with what it carries, and the giving cell is cleared. A cell that no finer cell
 * agrees with, and every cell of the finest scale, keeps its paint. A finer cell that agrees need not
 * pass SEEN_RULE itself (evidence ≥ ln 20): it only places the coarser window's class.
 * Changes the maps' scores in place (seenMaps' own copies: no second copy of a photo's maps).
 * @param maps the seen maps (rejected cells all 0), one photo.
 * @param cells per map, each cell's winning class before rejection and its evidence (cellEvidence).
 */
function paintAtFinest(maps: readonly ScoreMap[], cells: readonly Pick<CellEvidence, 'winner' | 'evidence'>[]): void {
  const scores = maps.map((m) => m.scores);
  const order = maps.map((_, i) => i).filter((i) => maps[i].rows * maps[i].cols > 0).sort((a, b) => maps[a].scale - maps[b].scale);
  const centres = order.map((i) => ({
    rows: Array.from({ length: maps[i].rows }, (_, r) => cellCentre(maps[i], r, 0)[0]),
    cols: Array.from({ length: maps[i].cols }, (_, c) => cellCentre(maps[i], 0, c)[1]),
  }));
  /** Cells of order[m] centred inside `box` (half-open) that win k with evidence above the baseline. */
  const agreeing = (m: number, box: Box, k: number): number[] => {
    const { winner, evidence } = cells[order[m]];
    const { rows, cols } = centres[m];
    const out: number[] = [];
    const [r0, r1] = inside(rows, box[0], box[2]);
    const [c0, c1] = inside(cols, box[1], box[3]);
    for (let r = r0; r < r1; r++) {
      for (let c = c0; c < c1; c++) {
        const d = r * cols.length + c;
        if (winner[d] === k && evidence[d] > 0) out.push(d);
      }
    }
    return out;
  };
  for (let n = 0; n + 1 < order.length; n++) {
    const coarse = maps[order[n]];
    const from = scores[order[n]];
    const K = coarse.classes;
    for (let cell = 0; cell < coarse.rows * coarse.cols; cell++) {
      let carries = false;
      for (let q = 0; q < K && !carries; q++) carries = from[cell * K + q] > 0;
      if (!carries) continue;
      const box = cellBox(coarse, Math.floor(cell / coarse.cols), cell % coarse.cols);
      const k = cells[order[n]].winner[cell];
      for (let m = n + 1; m < order.length; m++) {
        if (!(maps[order[m]].scale > coarse.scale)) continue;
        const agree = agreeing(m, box, k);
        if (agree.length === 0) continue;
        const to = scores[order[m]];
        for (const d of agree) for (let q = 0; q < K; q++) to[d * K + q] = Math.max(to[d * K + q], from[cell * K + q]);
        from.fill(0, cell * K, (cell + 1) * K);
        break;
      }
    }
  }
}

/** The index range [lo, hi) of the ascending `centres` inside [a, b) (binary search). */
function inside(centres: readonly number[], a: number, b: number): [number, number] {
  const first = (v: number): number => {
    let lo = 0;
    let hi = centres.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (centres[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return [first(a), Math.max(first(a), first(b))];
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
 * Nats a box's rank gains per e-fold of its window's area under {@link SEEN_RULE}: a window twice as
 * wide gains ln 4 ≈ 1.4 nats. A closed-set classifier is as sure of a part of an object (a stroke of a
 * digit, an ear of a cat) as of the whole, so of two confident overlapping windows the larger, which
 * holds the whole object the smaller sees a part of, ranks first unless the smaller is surer by more.
 */
export const WINDOW_AREA_PRIOR = 1;

/**
 * What boxes are ordered by: with evidence ({@link SEEN_RULE}), the evidence plus
 * {@link WINDOW_AREA_PRIOR} · ln(window area in px²); with log-odds ({@link BOX_RULE}), the log-odds;
 * else their score.
 */
export function rankOf(d: { score: number; evidence?: number; logOdds?: number; box: Box }): number {
  if (d.evidence === undefined) return d.logOdds ?? d.score;
  const area = Math.max(0, d.box[2] - d.box[0]) * Math.max(0, d.box[3] - d.box[1]);
  return d.evidence + WINDOW_AREA_PRIOR * Math.log(Math.max(area, 1));
}

/**
 * Greedy non-maximum suppression: visit by descending {@link rankOf} (stable on ties), keep a detection
 * unless its IoU with an already kept one is above iouThreshold, or (multi-scale windows) one of the
 * two lies mostly inside the other: intersection over the smaller area above containThreshold.
 * @param perClass compare only detections of the same classIndex.
 * @param containThreshold default 1 (off).
 * @returns the kept detections, by descending {@link rankOf}. The input array is not modified.
 */
export function nms<T extends { score: number; box: Box; classIndex: number; evidence?: number; logOdds?: number }>(dets: readonly T[], iouThreshold: number, perClass = false, containThreshold = 1): T[] {
  const order = dets.map((d, n) => ({ d, n })).sort((a, b) => rankOf(b.d) - rankOf(a.d) || a.n - b.n);
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
  /** The cell's evidence ({@link cellEvidence}) when the rule applies; boxes are ranked by it. */
  evidence?: number;
  /** The cell's log-odds over the runner-up under {@link BOX_RULE}; boxes are ranked by it. */
  logOdds?: number;
}

/**
 * Which rule picks a map's peaks in {@link scaleBoxes}: 'seen' {@link SEEN_RULE} (closed-set models),
 * 'odds' {@link BOX_RULE} (models with a background class), 'score' the class's probability alone.
 */
export type PeakRule = 'seen' | 'odds' | 'score';

/**
 * Step 1, accumulate: the peaks of every class at every scale, each as its cell's window in original
 * pixels (cellBox), with its own score. Maps without cells give none.
 * - 'score': peaks of the class's probability at or above `threshold`;
 * - 'seen' ({@link SEEN_RULE}; `true` says the same): peaks of the evidence of cells the class wins with
 *   probability ≥ threshold, at or above {@link SEEN_MARGIN}; boxes carry their evidence;
 * - 'odds' ({@link BOX_RULE}): the same with the log-odds over the runner-up and {@link BOX_MARGIN};
 *   boxes carry their log-odds.
 */
export function scaleBoxes(maps: readonly ScoreMap[], classes: readonly number[], threshold: number, rule: PeakRule | boolean = 'score'): ScaleBox[] {
  const peakRule: PeakRule = rule === true ? 'seen' : rule === false ? 'score' : rule;
  const out: ScaleBox[] = [];
  const baselines = peakRule === 'seen' ? classBaselines(maps) : peakRule === 'odds' ? new Float64Array(maps[0]?.classes ?? 0) : undefined;
  const margin = peakRule === 'seen' ? SEEN_MARGIN : BOX_MARGIN;
  const evidence = maps.map((m) => (baselines && m.rows > 0 && m.cols > 0 ? cellEvidence(m, baselines, peakRule === 'odds') : undefined));
  maps.forEach((m, mapIndex) => {
    const seen = evidence[mapIndex];
    if (m.rows === 0 || m.cols === 0) return;
    for (const k of classes) {
      const peaks = seen
        ? gridPeaks(m.rows, m.cols, (cell) => (seen.winner[cell] === k && seen.probability[cell] >= threshold ? seen.evidence[cell] : -Infinity), margin)
        : findMapPeaks(m, k, threshold);
      for (const [i, j] of peaks) {
        const cell = i * m.cols + j;
        const box: ScaleBox = { classIndex: k, score: seen ? seen.probability[cell] : m.scores[cell * m.classes + k], box: cellBox(m, i, j), mapIndex };
        if (seen && peakRule === 'seen') box.evidence = seen.evidence[cell];
        if (seen && peakRule === 'odds') box.logOdds = seen.evidence[cell];
        out.push(box);
      }
    }
  });
  return peakRule === 'seen' ? out.filter((b) => scaleSpacePeak(maps, evidence, b)) : out;
}

/**
 * Under {@link SEEN_RULE}, true when no cell of the next smaller or larger scale (neighbours in scale
 * order) whose window's centre lies within half of `box`'s window of its centre, along each axis,
 * ranks higher ({@link rankOf}: its evidence for its own winning class plus the log of its window's
 * area) than `box`, whether or not that cell gives a box itself: the box is a peak over position and scale
 * (the 3 × 3 × 3 extremum of scale-space detectors, Lindeberg 1998, SIFT), so a window on a part of an
 * object, or one around it with margin, gives way to the scale that sees the object most clearly.
 * @param evidence per map, its {@link cellEvidence} (undefined for a map without cells).
 */
function scaleSpacePeak(maps: readonly ScoreMap[], evidence: readonly (CellEvidence | undefined)[], box: ScaleBox): boolean {
  const order = maps.map((_, n) => n).sort((a, b) => maps[a].scale - maps[b].scale || a - b);
  const at = order.indexOf(box.mapIndex);
  const [y0, x0, y1, x1] = box.box;
  const cy = (y0 + y1) / 2;
  const cx = (x0 + x1) / 2;
  const own = rankOf(box);
  for (const n of [order[at - 1], order[at + 1]]) {
    const ev = n === undefined ? undefined : evidence[n];
    if (n === undefined || ev === undefined) continue;
    const m = maps[n];
    const [fy, fx] = scaleFactors(m);
    const { window: [wy, wx], stride: [sy, sx], offset: [oy, ox] } = m.geometry;
    // Cell i's window centre is (oy + i·sy + wy/2) / fy photo pixels; keep those within (y1 − y0)/2 of cy.
    const i0 = Math.max(0, Math.ceil(((cy - (y1 - y0) / 2) * fy - oy - wy / 2) / sy));
    const i1 = Math.min(m.rows - 1, Math.floor(((cy + (y1 - y0) / 2) * fy - oy - wy / 2) / sy));
    const j0 = Math.max(0, Math.ceil(((cx - (x1 - x0) / 2) * fx - ox - wx / 2) / sx));
    const j1 = Math.min(m.cols - 1, Math.floor(((cx + (x1 - x0) / 2) * fx - ox - wx / 2) / sx));
    const prior = WINDOW_AREA_PRIOR * Math.log(Math.max(1, (wy / fy) * (wx / fx)));
    for (let i = i0; i <= i1; i++) for (let j = j0; j <= j1; j++) if (ev.evidence[i * m.cols + j] + prior > own) return false;
  }
  return true;
}

/**
 * Step 2, merge: visit the boxes by descending {@link rankOf} (stable on ties); a box joins the first group
 * of its class whose strongest box holds its centre and whose centre it holds (the same object: the
 * windows need not be of one size, as the scales' windows are not), else it starts a group. A group
 * becomes one detection: the strongest box's window size and score, centred on the score-weighted
 * mean of its boxes' centres. Windows are not regressed boxes: a window's size is a guess at the
 * object's size and the strongest scale's is the best one, so sizes are not averaged; positions are.
 * Boxes of different classes are never merged.
 * @returns one detection per group, by descending score.
 */
export function mergeScaleBoxes(boxes: readonly ScaleBox[], labels?: readonly string[]): Detection[] {
  const order = boxes.map((b, n) => ({ b, n })).sort((a, c) => rankOf(c.b) - rankOf(a.b) || a.n - c.n).map((x) => x.b);
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
    if (top.evidence !== undefined) det.evidence = top.evidence;
    if (top.logOdds !== undefined) det.logOdds = top.logOdds;
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
 * @returns detections by descending {@link rankOf} (evidence with `reject`, log-odds with `logOdds`, else score); boxes in original pixels.
 */
export function detect(maps: readonly ScoreMap[], opts: DetectOptions): Detection[] {
  const nClasses = maps[0]?.classes ?? 0;
  const classes = opts.classes ?? defaultClasses(nClasses, opts.labels);
  for (const k of classes) {
    if (!(Number.isInteger(k) && k >= 0 && k < nClasses)) throw new Error(`class ${k} is not one of the model's ${nClasses} classes`);
  }
  const reject = opts.reject ?? (opts.labels !== undefined && closedSet(opts.labels));
  const odds = !reject && (opts.logOdds ?? (opts.labels !== undefined && !closedSet(opts.labels)));
  const merged = mergeScaleBoxes(scaleBoxes(maps, classes, opts.threshold, reject ? 'seen' : odds ? 'odds' : 'score'), opts.labels);
  return nms(merged, opts.iou ?? (reject ? 0.1 : 0.3), opts.perClass ?? false, opts.contain ?? (reject ? 0.2 : 0.6));
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
