/**
 * Splitting one scaled photo into tiles of cells so that a fully convolutional pass never holds
 * more than a bounded number of input pixels, and pasting the tiles' scores back.
 *
 * A tile of cells [r0, r1) × [c0, c1) reads scaled-image rows [oy + r0·sy, oy + (r1 − 1)·sy + wy)
 * and columns [ox + c0·sx, ox + (c1 − 1)·sx + wx). Tiles start on multiples of the total stride, so
 * every layer of a valid-padding network sees the same pixels as in one untiled pass and the pasted
 * result equals it to float error. (Same-padding networks see zeros at tile borders that the untiled
 * pass would not; pick a budget large enough that such photos stay one tile if that matters.)
 */
import { cellCount, type CellGeometry } from '../../core/scoremap';
import type { PixelRegion } from './preprocess';

/** Default input-pixel budget of one tile (height · width of its input), about 1.5 megapixels. */
export const DEFAULT_MAX_TILE_PIXELS = 1_500_000;

/** One tile: a block of cells and the scaled-image pixels it needs. */
export interface Tile extends PixelRegion {
  /** First cell row (inclusive) and last (exclusive). */
  r0: number;
  r1: number;
  /** First cell column (inclusive) and last (exclusive). */
  c0: number;
  c1: number;
}

/** All tiles of one scaled photo; together they cover every cell exactly once, in row-major order. */
export interface TilePlan {
  /** Cell rows and columns of the whole map (0 when the photo is smaller than the window). */
  rows: number;
  cols: number;
  tiles: Tile[];
}

export interface TileOptions {
  /**
   * Largest input of one tile in pixels (default {@link DEFAULT_MAX_TILE_PIXELS}). A single cell's
   * window is always allowed, even when it is larger.
   */
  maxTilePixels?: number;
  /**
   * Split further until there are at least this many tiles (for parallel workers), but only tiles
   * whose input is at least twice the window along the split axis, so that overlap stays cheap.
   */
  minTiles?: number;
}

/** Input pixels along one axis for n cells: (n − 1)·s + w. */
function span(n: number, w: number, s: number): number {
  return (n - 1) * s + w;
}

/**
 * Plan tiles for a scaled photo.
 * @param height scaled photo height in pixels.
 * @param width scaled photo width in pixels.
 * @param geometry the model's window, stride and offset in scaled pixels, pairs [y, x].
 */
export function planTiles(height: number, width: number, geometry: CellGeometry, opts: TileOptions = {}): TilePlan {
  const { window: [wy, wx], stride: [sy, sx], offset: [oy, ox] } = geometry;
  const rows = cellCount(height - oy, wy, sy);
  const cols = cellCount(width - ox, wx, sx);
  if (rows === 0 || cols === 0) return { rows, cols, tiles: [] };
  const budget = opts.maxTilePixels ?? DEFAULT_MAX_TILE_PIXELS;
  const minTiles = opts.minTiles ?? 1;
  let nr = 1;
  let nc = 1;
  const tr = (): number => Math.ceil(rows / nr);
  const tc = (): number => Math.ceil(cols / nc);
  // Add one tile boundary at a time on the axis whose tiles are longer, keeping tiles balanced.
  const splitLonger = (minSpanFactor: number): boolean => {
    const hy = span(tr(), wy, sy);
    const hx = span(tc(), wx, sx);
    const canY = tr() > 1 && hy >= minSpanFactor * wy;
    const canX = tc() > 1 && hx >= minSpanFactor * wx;
    if (canY && (!canX || hy >= hx)) nr = Math.ceil(rows / (tr() - 1));
    else if (canX) nc = Math.ceil(cols / (tc() - 1));
    else return false;
    return true;
  };
  while (span(tr(), wy, sy) * span(tc(), wx, sx) > budget && splitLonger(0));
  while (Math.ceil(rows / tr()) * Math.ceil(cols / tc()) < minTiles && splitLonger(2));
  const tileRows = tr();
  const tileCols = tc();
  const tiles: Tile[] = [];
  for (let r0 = 0; r0 < rows; r0 += tileRows) {
    const r1 = Math.min(rows, r0 + tileRows);
    for (let c0 = 0; c0 < cols; c0 += tileCols) {
      const c1 = Math.min(cols, c0 + tileCols);
      tiles.push({
        r0, r1, c0, c1,
        y0: oy + r0 * sy, y1: oy + (r1 - 1) * sy + wy,
        x0: ox + c0 * sx, x1: ox + (c1 - 1) * sx + wx,
      });
    }
  }
  return { rows, cols, tiles };
}

/**
 * Refuses a tile whose scores hold NaN or ±Infinity (a backend fault, or weights that overflow):
 * the error names the first bad cell (row, column and class in the whole map) and the tile's
 * cell block, so the caller can add the photo and fail it instead of drawing a map of nulls.
 * @param tileScores the tile's scores, row-major [r1 − r0, c1 − c0, classes].
 * @throws Error `the model gave NaN at cell (row 3, column 7), class 2 of tile rows 0–8, columns 0–12: …`.
 */
export function assertFiniteScores(tileScores: Float32Array, classes: number, tile: Tile): void {
  for (let i = 0; i < tileScores.length; i++) {
    const v = tileScores[i];
    if (v - v === 0) continue;
    const tw = tile.c1 - tile.c0;
    const cell = Math.floor(i / classes);
    const row = tile.r0 + Math.floor(cell / tw);
    const col = tile.c0 + (cell % tw);
    throw new Error(
      `the model gave ${String(v)} at cell (row ${row}, column ${col}), class ${i % classes} of tile rows ${tile.r0}–${tile.r1 - 1}, ` +
        `columns ${tile.c0}–${tile.c1 - 1}: non-finite scores are refused (a backend fault, or weights that overflow float32)`,
    );
  }
}

/**
 * Copy one tile's scores into the whole map, after checking they are finite (assertFiniteScores).
 * @param scores the whole map, row-major [rows, cols, classes].
 * @param cols cell columns of the whole map.
 * @param tileScores the tile's scores, row-major [r1 − r0, c1 − c0, classes].
 */
export function pasteTile(scores: Float32Array, cols: number, classes: number, tile: Tile, tileScores: Float32Array): void {
  const tw = tile.c1 - tile.c0;
  const expected = (tile.r1 - tile.r0) * tw * classes;
  if (tileScores.length !== expected) {
    throw new RangeError(`pasteTile: tile has ${tileScores.length} scores, expected ${expected}`);
  }
  assertFiniteScores(tileScores, classes, tile);
  for (let i = 0; i < tile.r1 - tile.r0; i++) {
    const src = tileScores.subarray(i * tw * classes, (i + 1) * tw * classes);
    scores.set(src, ((tile.r0 + i) * cols + tile.c0) * classes);
  }
}
