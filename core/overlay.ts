/**
 * Overlay rasters: one class of an averaged map painted through a colormap at any output size, and
 * straight-alpha compositing over the photo. The renderer's canvas and the PNG export both draw these.
 */

import type { AveragedMap } from './average';
import { classColour, colormapLut, type ColormapName } from './colormap';

export interface OverlayOptions {
  /** Output raster size in pixels, normally the original photo size; it is stretched over the whole photo. */
  width: number;
  height: number;
  colormap: ColormapName;
  /** 0–1; alpha of painted pixels is round(opacity · 255). */
  opacity: number;
  /** Scores below this are transparent. */
  threshold: number;
  /**
   * true: bilinear between grid cell centres (over painted cells only: covered and ≥ threshold,
   * weights renormalised), and alpha fading to transparent over half a grid cell (half the finest
   * stride) beyond the painted cells;
   * false: each pixel takes its grid cell's score (blocky), hard edges.
   */
  smooth: boolean;
  /** Scores mapped to the colormap's ends [lo, hi], clamped outside; default [0, 1]. */
  range?: [number, number];
  /**
   * Only output rows [y0, y1) of the width × height raster (a band, to bound memory on big photos);
   * default all rows. Band pixels are exactly those of the whole raster.
   */
  rows?: [number, number];
}

const LUT_SIZE = 256;

/**
 * Per output pixel along one axis: nearest grid cell (or `n` when outside the grid), the bilinear
 * pair, and the distances from the sample point to its cell's lower and upper edges in half cells.
 */
function axisTable(outSize: number, imageSize: number, cell: number, n: number) {
  const nearest = new Int32Array(outSize);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const t = new Float64Array(outSize);
  const lo = new Float64Array(outSize);
  const hi = new Float64Array(outSize);
  for (let p = 0; p < outSize; p++) {
    const g = ((p + 0.5) * imageSize) / outSize / cell;
    const r = Math.floor(g);
    nearest[p] = r >= 0 && r < n ? r : n;
    lo[p] = 2 * (g - r);
    hi[p] = 2 * (r + 1 - g);
    const v = Math.min(Math.max(g - 0.5, 0), n - 1);
    const a = Math.min(Math.floor(v), n - 1);
    i0[p] = a;
    i1[p] = Math.min(a + 1, n - 1);
    t[p] = v - a;
  }
  return { nearest, i0, i1, t, lo, hi };
}

type AxisTable = ReturnType<typeof axisTable>;

/** Rows [y0, y1) of a width × height raster (default all of it), checked. */
function rasterBand(width: number, height: number, band: readonly [number, number] | undefined): [number, number] {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`overlay size must be positive whole numbers, got ${width}×${height}`);
  }
  const [y0, y1] = band ?? [0, height];
  if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y1 <= height && y0 < y1)) {
    throw new Error(`overlay rows must be whole numbers with 0 ≤ y0 < y1 ≤ ${height}, got [${y0}, ${y1})`);
  }
  return [y0, y1];
}

/**
 * Paints rows [y0, y1) of a `width`-wide raster (out32: packed RGBA, row 0 = y0) with each pixel's
 * nearest cell's colour, `cellColour(r · cols + c)` (0: nothing); a row of the same grid row as the
 * one above is copied.
 */
function paintNearest(out32: Uint32Array, width: number, [y0, y1]: [number, number], ys: AxisTable, xs: AxisTable, rows: number, cols: number, cellColour: (cell: number) => number): void {
  const rowColours = new Uint32Array(cols + 1);
  let prevRow = -1;
  for (let py = y0; py < y1; py++) {
    const r = ys.nearest[py];
    if (r === rows) continue;
    const o = (py - y0) * width;
    if (r === prevRow && py > y0) {
      out32.copyWithin(o, o - width, o);
      continue;
    }
    for (let c = 0; c < cols; c++) rowColours[c] = cellColour(r * cols + c);
    for (let px = 0; px < width; px++) out32[o + px] = rowColours[xs.nearest[px]];
    prevRow = r;
  }
}

/**
 * How opaque the smooth view is at a sample point of unpainted cell (r, c): 1 − d, d the distance
 * from the point to the nearest painted cell (mask 1) in half cells (Euclidean over the two axes, each in its
 * own half cell); 0 from half a cell away. Only the 8 neighbours can be that close.
 */
function edgeWeight(mask: Uint8Array, rows: number, cols: number, r: number, c: number, ys: AxisTable, py: number, xs: AxisTable, px: number): number {
  let best = 0;
  for (let dr = -1; dr <= 1; dr++) {
    const r2 = r + dr;
    const ny = dr < 0 ? ys.lo[py] : dr > 0 ? ys.hi[py] : 0;
    if (r2 < 0 || r2 >= rows || ny >= 1) continue;
    for (let dc = -1; dc <= 1; dc++) {
      const c2 = c + dc;
      const nx = dc < 0 ? xs.lo[px] : dc > 0 ? xs.hi[px] : 0;
      if (c2 < 0 || c2 >= cols || nx >= 1 || mask[r2 * cols + c2] === 0) continue;
      const w = 1 - Math.sqrt(ny * ny + nx * nx);
      if (w > best) best = w;
    }
  }
  return best;
}

/**
 * Paint one class of an averaged map as an RGBA raster.
 * Output pixel (py, px) is sampled at original point ((py + 0.5)·H / height, (px + 0.5)·W / width).
 * A grid cell is painted when it is covered and its score is ≥ threshold. Without smooth, a pixel
 * whose grid cell (the cell containing its point) is painted gets colour = LUT entry
 * round((score − lo) / (hi − lo) · 255) of a 256-entry LUT (clamped), alpha = round(opacity · 255);
 * every other pixel is [0, 0, 0, 0]. With smooth, the score is the bilinear interpolation between
 * the centres of the neighbouring painted cells only (edges clamped, weights renormalised), so the
 * colour never runs through the colormap towards the unpainted scores below the threshold; instead
 * the painted area ends in a fade of alpha: a point of an unpainted cell at distance d (in half grid
 * cells, see edgeWeight) from the nearest painted cell takes that interpolated colour with alpha
 * round(round(opacity · 255) · (1 − d)), transparent from d ≥ 1 (half a cell beyond).
 * @returns straight (not premultiplied) RGBA, row-major, length width · (y1 − y0) · 4 (the rows of
 *   `opts.rows`, default all: width · height · 4).
 */
export function renderOverlay(avg: AveragedMap, classIndex: number, opts: OverlayOptions): Uint8ClampedArray {
  const { width, height, threshold, smooth } = opts;
  const band = rasterBand(width, height, opts.rows);
  if (!(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < avg.classes)) {
    throw new Error(`class ${classIndex} is not one of the map's ${avg.classes} classes`);
  }
  const [lo, hi] = opts.range ?? [0, 1];
  if (!(hi > lo)) throw new Error(`overlay range must have hi > lo, got [${lo}, ${hi}]`);
  const { rows, cols, classes } = avg;
  const [y0, y1] = band;
  const alpha = Math.round(Math.min(Math.max(opts.opacity, 0), 1) * 255);

  const lut = colormapLut(opts.colormap, LUT_SIZE);
  const palette = new Uint32Array(LUT_SIZE);
  const palette8 = new Uint8Array(palette.buffer);
  for (let i = 0; i < LUT_SIZE; i++) palette8.set([lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2], alpha], i * 4);
  const scale = (LUT_SIZE - 1) / (hi - lo);
  const colour = (s: number): number => {
    if (!(s >= threshold) || alpha === 0) return 0;
    const v = (s - lo) * scale + 0.5; // round half up, as Math.round
    return palette[v <= 0 ? 0 : v >= LUT_SIZE - 1 ? LUT_SIZE - 1 : v | 0];
  };

  const score = new Float64Array(rows * cols);
  const mask = new Uint8Array(rows * cols);
  for (let cell = 0; cell < rows * cols; cell++) {
    const v = avg.coverage[cell] > 0 ? avg.scores[cell * classes + classIndex] : NaN;
    mask[cell] = v >= threshold ? 1 : 0;
    score[cell] = mask[cell] ? v : 0;
  }

  const out = new Uint8ClampedArray(width * (y1 - y0) * 4);
  const out32 = new Uint32Array(out.buffer);
  const ys = axisTable(height, avg.imageSize[0], avg.cellSize[0], rows);
  const xs = axisTable(width, avg.imageSize[1], avg.cellSize[1], cols);

  if (!smooth) {
    paintNearest(out32, width, band, ys, xs, rows, cols, (cell) => (mask[cell] ? colour(score[cell]) : 0));
    return out;
  }

  if (alpha === 0) return out;
  paintSmooth(out, width, band, ys, xs, rows, cols, mask, score, palette, lo, scale, alpha);
  return out;
}

/**
 * The smooth view's rows [y0, y1) (renderOverlay documents the rule). Walks each row cell by cell:
 * a run of pixels in an unpainted cell with no painted neighbour is skipped whole, so the per-pixel
 * work is only the bilinear score, its colour and, near painted cells, the fade.
 */
function paintSmooth(out: Uint8ClampedArray, width: number, [y0, y1]: [number, number], ys: AxisTable, xs: AxisTable, rows: number, cols: number, mask: Uint8Array, score: Float64Array, palette: Uint32Array, lo: number, scale: number, alpha: number): void {
  const out32 = new Uint32Array(out.buffer, out.byteOffset, out.length >> 2);
  const top = LUT_SIZE - 1;
  // Painted cells and unpainted cells with a painted 8-neighbour (only those can fade in).
  const near = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (!mask[r * cols + c]) continue;
      for (let r2 = Math.max(0, r - 1); r2 <= Math.min(rows - 1, r + 1); r2++) {
        for (let c2 = Math.max(0, c - 1); c2 <= Math.min(cols - 1, c + 1); c2++) near[r2 * cols + c2] = 1;
      }
    }
  }
  // Each grid column's run of output columns [runStart[c], runStart[c + 1]) (nearest grows with px).
  const runStart = new Int32Array(cols + 1).fill(-1);
  let firstIn = -1;
  let lastIn = -1;
  for (let px = 0; px < width; px++) {
    const cn = xs.nearest[px];
    if (cn === cols) continue;
    if (firstIn < 0) firstIn = px;
    lastIn = px;
    if (runStart[cn] < 0) runStart[cn] = px;
  }
  if (firstIn < 0) return;
  runStart[cols] = lastIn + 1;
  for (let c = cols - 1; c >= 0; c--) if (runStart[c] < 0) runStart[c] = runStart[c + 1];
  const { i0: xc0, i1: xc1, t: xu } = xs;
  const xw = new Float64Array(width);
  for (let px = 0; px < width; px++) xw[px] = 1 - xu[px];
  const num = new Float64Array(cols);
  const den = new Float64Array(cols);
  for (let py = y0; py < y1; py++) {
    const rn = ys.nearest[py];
    if (rn === rows) continue;
    const m = rn * cols;
    const a = ys.i0[py] * cols;
    const b = ys.i1[py] * cols;
    const t = ys.t[py];
    for (let c = 0; c < cols; c++) {
      const wa = (1 - t) * mask[a + c];
      const wb = t * mask[b + c];
      num[c] = wa * score[a + c] + wb * score[b + c];
      den[c] = wa + wb;
    }
    const o = (py - y0) * width;
    for (let cn = 0; cn < cols; cn++) {
      const painted = mask[m + cn] === 1;
      if (!painted && near[m + cn] === 0) continue;
      for (let px = runStart[cn], end = runStart[cn + 1]; px < end; px++) {
        let fade = 1;
        if (!painted) {
          fade = edgeWeight(mask, rows, cols, rn, cn, ys, py, xs, px);
          if (fade <= 0) continue;
        }
        const c0 = xc0[px];
        const c1 = xc1[px];
        const u = xu[px];
        const w = xw[px];
        // Within half a cell of a painted cell, that cell is one of the bilinear pair with a positive weight: den > 0;
        // s is a weighted mean of painted scores, all ≥ threshold.
        const s = (w * num[c0] + u * num[c1]) / (w * den[c0] + u * den[c1]);
        const v = (s - lo) * scale + 0.5;
        out32[o + px] = palette[v <= 0 ? 0 : v >= top ? top : v | 0];
        if (fade < 1) out[(o + px) * 4 + 3] = Math.round(alpha * fade);
      }
    }
  }
}

/**
 * Composite a straight-alpha RGBA overlay over an RGB photo of the same size ("over"):
 * out = round(overlay · a + photo · (1 − a)) per channel, a = alpha / 255.
 * @param photoRgb w · h · 3 bytes, row-major. @param overlayRgba w · h · 4 bytes.
 * @param out where to write (w · h · 3 bytes; may be photoRgb itself, blended in place); default a new array.
 * @returns `out`: the w · h · 3 RGB picture.
 */
export function blendOverRgb(photoRgb: Uint8Array, overlayRgba: Uint8Array | Uint8ClampedArray, w: number, h: number, out: Uint8Array = new Uint8Array(w * h * 3)): Uint8Array {
  const n = w * h;
  if (photoRgb.length !== n * 3) throw new Error(`photo has ${photoRgb.length} bytes, expected ${w}×${h}×3`);
  if (overlayRgba.length !== n * 4) throw new Error(`overlay has ${overlayRgba.length} bytes, expected ${w}×${h}×4`);
  if (out.length !== n * 3) throw new Error(`blend output has ${out.length} bytes, expected ${w}×${h}×3`);
  const inPlace = out.buffer === photoRgb.buffer && out.byteOffset === photoRgb.byteOffset;
  // round(x / 255) for 0 ≤ x ≤ 255², exactly, in integers: y = x + 128; (y + (y >> 8)) >> 8.
  for (let p = 0, q = 0, o = 0; p < n; p++, q += 3, o += 4) {
    const a = overlayRgba[o + 3];
    if (a === 0) {
      if (inPlace) continue;
      out[q] = photoRgb[q];
      out[q + 1] = photoRgb[q + 1];
      out[q + 2] = photoRgb[q + 2];
      continue;
    }
    const ia = 255 - a;
    const r = overlayRgba[o] * a + photoRgb[q] * ia + 128;
    const g = overlayRgba[o + 1] * a + photoRgb[q + 1] * ia + 128;
    const b = overlayRgba[o + 2] * a + photoRgb[q + 2] * ia + 128;
    out[q] = (r + (r >> 8)) >> 8;
    out[q + 1] = (g + (g >> 8)) >> 8;
    out[q + 2] = (b + (b >> 8)) >> 8;
  }
  return out;
}

/** What {@link renderClassMap} paints. */
export interface ClassMapOptions {
  /** Output raster size in pixels, stretched over the whole photo (as {@link OverlayOptions}). */
  width: number;
  height: number;
  /** 0–1; alpha of painted pixels is round(opacity · 255). */
  opacity: number;
  /** A cell whose winning score is below this is clear. */
  threshold: number;
  /** Per class, 1 when its cells are clear (background classes); length avg.classes. */
  clear: Uint8Array;
  /** Per grid cell, 1 when the cell is rejected (drawn clear whatever wins); default none. */
  rejected?: Uint8Array;
  /** Only output rows [y0, y1) (a band); default all. */
  rows?: [number, number];
}

/**
 * Each grid cell's winning class: the argmax over all classes of its averaged scores (the lower
 * index on ties), as FCN's per-pixel argmax; -1 for a cell that is uncovered, rejected (flagged in
 * `rejected`, or every score 0 as core/detect seenMaps leaves a rejected window), won by a class
 * marked clear (background), or whose winning score is below the threshold.
 * @returns Int32Array of rows · cols, index r · cols + c.
 */
export function classMapWinners(avg: AveragedMap, opts: Pick<ClassMapOptions, 'threshold' | 'clear' | 'rejected'>): Int32Array {
  const { rows, cols, classes, scores, coverage } = avg;
  if (opts.clear.length !== classes) throw new Error(`class map: clear flags for ${opts.clear.length} classes, the map has ${classes}`);
  const out = new Int32Array(rows * cols).fill(-1);
  for (let cell = 0; cell < rows * cols; cell++) {
    if (coverage[cell] === 0 || opts.rejected?.[cell]) continue;
    let best = 0;
    let bestScore = scores[cell * classes];
    for (let k = 1; k < classes; k++) {
      const v = scores[cell * classes + k];
      if (v > bestScore) {
        bestScore = v;
        best = k;
      }
    }
    if (!opts.clear[best] && bestScore >= opts.threshold && bestScore > 0) out[cell] = best;
  }
  return out;
}

/**
 * Paints the class map: each output pixel takes the colour of its grid cell's winning class
 * ({@link classMapWinners}; colours from core/colormap classColour) with alpha round(opacity · 255),
 * or [0, 0, 0, 0] where the cell has none. Classes are categories: nothing is interpolated, each
 * pixel shows the cell its sample point ((py + 0.5)·H / height, (px + 0.5)·W / width) falls in.
 * @returns straight RGBA, row-major, width · (y1 − y0) · 4 bytes.
 */
export function renderClassMap(avg: AveragedMap, opts: ClassMapOptions, winners: Int32Array = classMapWinners(avg, opts)): Uint8ClampedArray {
  const { width, height } = opts;
  const band = rasterBand(width, height, opts.rows);
  const [y0, y1] = band;
  const alpha = Math.round(Math.min(Math.max(opts.opacity, 0), 1) * 255);
  const out = new Uint8ClampedArray(width * (y1 - y0) * 4);
  if (alpha === 0) return out;
  const out32 = new Uint32Array(out.buffer);
  const { rows, cols } = avg;
  const colours = new Map<number, number>();
  const pack = new Uint8Array(4);
  const pack32 = new Uint32Array(pack.buffer);
  const colourOf = (k: number): number => {
    let c = colours.get(k);
    if (c === undefined) {
      pack.set([...classColour(k), alpha]);
      c = pack32[0];
      colours.set(k, c);
    }
    return c;
  };
  const ys = axisTable(height, avg.imageSize[0], avg.cellSize[0], rows);
  const xs = axisTable(width, avg.imageSize[1], avg.cellSize[1], cols);
  paintNearest(out32, width, band, ys, xs, rows, cols, (cell) => (winners[cell] < 0 ? 0 : colourOf(winners[cell])));
  return out;
}
