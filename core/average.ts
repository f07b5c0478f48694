/**
 * Multi-scale averaging: resample every scale's score map onto one common grid in original-image
 * pixels and combine them (mean or max over the scales that cover each grid cell).
 *
 * Sampling rule for one scale at an original-pixel point p (per axis, [y, x] handled alike):
 * - the point is converted to scaled pixels q = p · f and to a continuous cell index
 *   u = (q − o − w/2) / s, so that u = i exactly at the centre of cell i;
 * - the scale covers p only when q lies inside the union of its cells' windows,
 *   o ≤ q < o + (n − 1)·s + w (half-open, like boxes);
 * - inside that span, u is clamped to [0, n − 1] (points between the outermost centre and the
 *   window edge take the edge cell's score) and scores are interpolated bilinearly between the
 *   neighbouring cells' centres.
 *
 * The common grid tiles the image from its top-left corner: grid cell (r, c) spans
 * [r·ch, (r+1)·ch) × [c·cw, (c+1)·cw) in original pixels and is sampled at its centre.
 */

import { scaleFactors, type ScoreMap } from './scoremap';

/** Float64 accumulators held at once by averageScoreMaps (one band of grid rows): 8 MB. */
const AVERAGE_BAND_VALUES = 1 << 20;

/** How scales are combined at a grid cell: mean or max over the scales that cover it. */
export type CombineMode = 'mean' | 'max';

/** Output grid: rows × cols cells of cellSize [h, w] original pixels, anchored at the image's top-left. */
export interface GridSpec {
  rows: number;
  cols: number;
  /** Cell size [h, w] in original pixels; default [imageHeight / rows, imageWidth / cols]. */
  cellSize?: [number, number];
}

export interface AverageOptions {
  /** Default 'mean'. */
  mode?: CombineMode;
  /** Default: {@link defaultGrid} of the maps. */
  grid?: GridSpec;
  /**
   * Float64 accumulator values held at once (one band of grid rows; default 2^20, 8 MB): bounds the
   * working memory beyond the float32 result, whatever the photo's size. The result does not depend on it.
   */
  bandValues?: number;
}

/** Scores of several scales combined on one grid in original-image pixels. */
export interface AveragedMap {
  rows: number;
  cols: number;
  classes: number;
  /** Row-major, index (r · cols + c) · classes + k; 0 where coverage is 0. Length rows · cols · classes. */
  scores: Float32Array;
  /** Original photo size [height, width] in pixels. */
  imageSize: [number, number];
  /** Size of one grid cell [h, w] in original pixels; cell (r, c) starts at [r·h, c·w]. */
  cellSize: [number, number];
  /** Number of scales covering each grid cell (centre inside the span of that scale's windows), index r · cols + c. */
  coverage: Uint8Array;
  mode: CombineMode;
}

/** Position of one original-pixel coordinate along one axis of one scale. */
interface AxisPos {
  covered: boolean;
  /** Lower and upper neighbouring cells and the weight of the upper one. */
  i0: number;
  i1: number;
  t: number;
  /** Cell whose centre is nearest (ties go to the upper cell). */
  nearest: number;
}

function axisPos(p: number, f: number, o: number, s: number, w: number, n: number): AxisPos {
  const q = p * f;
  if (n <= 0 || !(q >= o && q < o + (n - 1) * s + w)) return { covered: false, i0: 0, i1: 0, t: 0, nearest: 0 };
  const u = Math.min(Math.max((q - o - w / 2) / s, 0), n - 1);
  const i0 = Math.min(Math.floor(u), n - 1);
  const i1 = Math.min(i0 + 1, n - 1);
  const t = u - i0;
  return { covered: true, i0, i1, t, nearest: t >= 0.5 ? i1 : i0 };
}

function positions(map: ScoreMap, y: number, x: number): [AxisPos, AxisPos] {
  const [fy, fx] = scaleFactors(map);
  const { window: [wy, wx], stride: [sy, sx], offset: [oy, ox] } = map.geometry;
  return [axisPos(y, fy, oy, sy, wy, map.rows), axisPos(x, fx, ox, sx, wx, map.cols)];
}

function bilinear(map: ScoreMap, py: AxisPos, px: AxisPos, k: number): number {
  const { scores, cols, classes } = map;
  const a = scores[(py.i0 * cols + px.i0) * classes + k];
  const b = scores[(py.i0 * cols + px.i1) * classes + k];
  const c = scores[(py.i1 * cols + px.i0) * classes + k];
  const d = scores[(py.i1 * cols + px.i1) * classes + k];
  return (1 - py.t) * ((1 - px.t) * a + px.t * b) + py.t * ((1 - px.t) * c + px.t * d);
}

/**
 * Score of class k of one scale at a point, by the sampling rule in this module's header.
 * @param y, x point in original pixels.
 * @returns the bilinearly interpolated score, or undefined when the scale does not cover the point.
 */
export function sampleScoreMap(map: ScoreMap, y: number, x: number, k: number): number | undefined {
  const [py, px] = positions(map, y, x);
  return py.covered && px.covered ? bilinear(map, py, px, k) : undefined;
}

/**
 * The cell of one scale whose centre is nearest to a point (clamped to the map).
 * @param y, x point in original pixels.
 * @returns [i, j] (row, column of the map), or undefined when the scale does not cover the point.
 */
export function nearestCell(map: ScoreMap, y: number, x: number): [number, number] | undefined {
  const [py, px] = positions(map, y, x);
  return py.covered && px.covered ? [py.nearest, px.nearest] : undefined;
}

function checkMaps(maps: readonly ScoreMap[]): void {
  if (maps.length === 0) throw new Error('averageScoreMaps: no score maps given');
  const [h, w] = maps[0].imageSize;
  const classes = maps[0].classes;
  maps.forEach((m, n) => {
    if (m.imageSize[0] !== h || m.imageSize[1] !== w) {
      throw new Error(`score map ${n} (scale ${m.scale}) is for a ${m.imageSize[0]}×${m.imageSize[1]} image, map 0 for ${h}×${w}`);
    }
    if (m.classes !== classes) throw new Error(`score map ${n} (scale ${m.scale}) has ${m.classes} classes, map 0 has ${classes}`);
    if (m.scores.length !== m.rows * m.cols * m.classes) {
      throw new Error(`score map ${n} (scale ${m.scale}): ${m.scores.length} scores for ${m.rows}×${m.cols}×${m.classes}`);
    }
    if (!(m.geometry.stride[0] > 0 && m.geometry.stride[1] > 0)) throw new Error(`score map ${n} (scale ${m.scale}) has a non-positive stride`);
    if (!(m.scaledSize[0] > 0 && m.scaledSize[1] > 0 && h > 0 && w > 0)) throw new Error(`score map ${n} (scale ${m.scale}) has an empty image size`);
  });
}

/**
 * The default output grid for a set of maps: the finest cell stride in original pixels over the
 * maps that have cells (all maps if none has), min(sy / fy) by min(sx / fx), rounded so that a
 * whole number of cells tiles the image exactly.
 * @returns rows = ceil(H / strideY), cols = ceil(W / strideX), cellSize = [H / rows, W / cols] (original px).
 */
export function defaultGrid(maps: readonly ScoreMap[]): Required<GridSpec> {
  checkMaps(maps);
  const withCells = maps.filter((m) => m.rows > 0 && m.cols > 0);
  const from = withCells.length > 0 ? withCells : maps;
  let strideY = Infinity;
  let strideX = Infinity;
  for (const m of from) {
    const [fy, fx] = scaleFactors(m);
    strideY = Math.min(strideY, m.geometry.stride[0] / fy);
    strideX = Math.min(strideX, m.geometry.stride[1] / fx);
  }
  const [h, w] = maps[0].imageSize;
  const rows = Math.max(1, Math.ceil(h / strideY - 1e-9));
  const cols = Math.max(1, Math.ceil(w / strideX - 1e-9));
  return { rows, cols, cellSize: [h / rows, w / cols] };
}

/** Centre of grid cell (r, c) of an averaged map, [y, x] in original pixels. */
export function gridCellCentre(avg: Pick<AveragedMap, 'cellSize'>, r: number, c: number): [number, number] {
  return [(r + 0.5) * avg.cellSize[0], (c + 0.5) * avg.cellSize[1]];
}

/**
 * Resample every scale onto one grid in original pixels and combine them.
 * - Each grid cell is sampled at its centre in each scale (see the module header for the rule).
 * - mean: average over the scales covering the cell only, so a scale that sees part of the photo
 *   does not pull the rest down; max: maximum over the covering scales.
 * - Cells covered by no scale get score 0 and coverage 0. Maps with no cells are ignored.
 * @param maps per-scale maps of the same photo (same imageSize and classes).
 * @returns the combined map; scores index (r · cols + c) · classes + k.
 */
export function averageScoreMaps(maps: readonly ScoreMap[], opts: AverageOptions = {}): AveragedMap {
  checkMaps(maps);
  const mode = opts.mode ?? 'mean';
  const [h, w] = maps[0].imageSize;
  const classes = maps[0].classes;
  let grid: Required<GridSpec>;
  if (opts.grid) {
    const { rows, cols } = opts.grid;
    if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0)) {
      throw new Error(`grid must have a positive whole number of rows and cols, got ${rows}×${cols}`);
    }
    const cellSize = opts.grid.cellSize ?? [h / rows, w / cols];
    if (!(cellSize[0] > 0 && cellSize[1] > 0)) throw new Error(`grid cellSize must be positive, got ${cellSize.join('×')}`);
    grid = { rows, cols, cellSize: [cellSize[0], cellSize[1]] };
  } else {
    grid = defaultGrid(maps);
  }
  const { rows, cols, cellSize } = grid;
  const cells = rows * cols;
  const scores = new Float32Array(cells * classes);
  const coverage = new Uint8Array(cells);
  const used = maps.filter((m) => m.rows > 0 && m.cols > 0).map((map) => {
    const [fy, fx] = scaleFactors(map);
    const { window: [wy, wx], stride: [sy, sx], offset: [oy, ox] } = map.geometry;
    const ys: AxisPos[] = [];
    const xs: AxisPos[] = [];
    for (let r = 0; r < rows; r++) ys.push(axisPos((r + 0.5) * cellSize[0], fy, oy, sy, wy, map.rows));
    for (let c = 0; c < cols; c++) xs.push(axisPos((c + 0.5) * cellSize[1], fx, ox, sx, wx, map.cols));
    return { map, ys, xs };
  });

  // Accumulated in float64 one band of grid rows at a time, so a 100 MP photo's grid never needs a
  // second full-size float64 copy next to the float32 result.
  const bandRows = Math.max(1, Math.min(rows, Math.floor((opts.bandValues ?? AVERAGE_BAND_VALUES) / Math.max(1, cols * classes))));
  const acc = new Float64Array(bandRows * cols * classes);
  const count = new Uint16Array(bandRows * cols);
  for (let r0 = 0; r0 < rows; r0 += bandRows) {
    const r1 = Math.min(rows, r0 + bandRows);
    acc.fill(mode === 'max' ? -Infinity : 0);
    count.fill(0);
    for (const { map, ys, xs } of used) {
      for (let r = r0; r < r1; r++) {
        const py = ys[r];
        if (!py.covered) continue;
        for (let c = 0; c < cols; c++) {
          const px = xs[c];
          if (!px.covered) continue;
          const cell = (r - r0) * cols + c;
          count[cell]++;
          const base = cell * classes;
          for (let k = 0; k < classes; k++) {
            const v = bilinear(map, py, px, k);
            if (mode === 'max') {
              if (v > acc[base + k]) acc[base + k] = v;
            } else {
              acc[base + k] += v;
            }
          }
        }
      }
    }
    for (let cell = 0; cell < (r1 - r0) * cols; cell++) {
      const n = count[cell];
      const out = r0 * cols + cell;
      coverage[out] = Math.min(n, 255);
      if (n === 0) continue;
      const base = cell * classes;
      const o = out * classes;
      for (let k = 0; k < classes; k++) scores[o + k] = mode === 'max' ? acc[base + k] : acc[base + k] / n;
    }
  }
  return { rows, cols, classes, scores, imageSize: [h, w], cellSize, coverage, mode };
}

/** Highest score of one class on the averaged map and where it is. */
export interface ClassMaximum {
  classIndex: number;
  /** The highest score over covered cells; 0 when no cell is covered. */
  score: number;
  /** Centre of that grid cell in original pixels (first in row-major order on ties); NaN when no cell is covered. */
  y: number;
  x: number;
}

/**
 * Per class, the best covered grid cell of an averaged map.
 * @returns one entry per class, index = class index; y, x in original pixels (cell centre).
 */
export function classMaxima(avg: AveragedMap): ClassMaximum[] {
  const out: ClassMaximum[] = [];
  for (let k = 0; k < avg.classes; k++) {
    let best = -Infinity;
    let bestCell = -1;
    for (let cell = 0; cell < avg.rows * avg.cols; cell++) {
      if (avg.coverage[cell] === 0) continue;
      const v = avg.scores[cell * avg.classes + k];
      if (v > best) {
        best = v;
        bestCell = cell;
      }
    }
    if (bestCell < 0) {
      out.push({ classIndex: k, score: 0, y: NaN, x: NaN });
    } else {
      const [y, x] = gridCellCentre(avg, Math.floor(bestCell / avg.cols), bestCell % avg.cols);
      out.push({ classIndex: k, score: best, y, x });
    }
  }
  return out;
}

/**
 * A one-class map holding, per grid cell, the highest score among `classes` — e.g. "any digit" as
 * the maximum over every class but background. Grid, coverage and mode are those of `avg`.
 */
export function maxOverClasses(avg: AveragedMap, classes: readonly number[]): AveragedMap {
  const cells = avg.rows * avg.cols;
  const scores = new Float32Array(cells);
  for (let cell = 0; cell < cells; cell++) {
    let best = classes.length > 0 ? -Infinity : 0;
    for (const k of classes) best = Math.max(best, avg.scores[cell * avg.classes + k]);
    scores[cell] = best;
  }
  return { ...avg, classes: 1, scores };
}
