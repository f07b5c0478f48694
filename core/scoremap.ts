/**
 * Score maps: the output of one fully convolutional pass at one scale, with the geometry that ties
 * each cell back to the photo.
 *
 * Coordinate frames used throughout Convmap:
 * - "original" pixels: the photo upright (EXIF orientation applied), origin top-left, y down.
 * - "scaled" pixels: the photo resized to `scaledSize` for one scale (scale s ≈ scaledSize / imageSize).
 * - cell (i, j): row i, column j of a score map.
 */

/** Where cells sit in the scaled image. All lengths in scaled pixels, pairs are [y, x]. */
export interface CellGeometry {
  /** Window of one cell: the classifier's input size [wy, wx]. */
  window: [number, number];
  /** Distance between neighbouring cells [sy, sx]: the network's total stride. */
  stride: [number, number];
  /** Top-left of cell (0, 0) [oy, ox]; 0 for networks whose crops are aligned at the origin. */
  offset: [number, number];
}

/**
 * Class scores of one scale.
 * Cell (i, j) covers rows [oy + i·sy, oy + i·sy + wy) and columns [ox + j·sx, ox + j·sx + wx) of the
 * scaled image; divide by the per-axis scale factor (scaledSize / imageSize) for original pixels.
 */
export interface ScoreMap {
  /** The requested scale factor (for display); exact per-axis factors come from scaledSize / imageSize. */
  scale: number;
  /** Original photo size [height, width] in pixels. */
  imageSize: [number, number];
  /** Size of the resized photo this map was computed on [height, width]. */
  scaledSize: [number, number];
  rows: number;
  cols: number;
  classes: number;
  /** Row-major scores, index (i · cols + j) · classes + k. Length rows · cols · classes. */
  scores: Float32Array;
  geometry: CellGeometry;
}

/** Per-axis factor from original to scaled pixels, [fy, fx]. */
export function scaleFactors(map: Pick<ScoreMap, 'imageSize' | 'scaledSize'>): [number, number] {
  return [map.scaledSize[0] / map.imageSize[0], map.scaledSize[1] / map.imageSize[1]];
}

/** An axis-aligned box in original pixels: [y0, x0, y1, x1), y1/x1 exclusive. */
export type Box = [number, number, number, number];

/**
 * The window that cell (i, j) stands for, in original-image pixels.
 * @returns [y0, x0, y1, x1) in original pixels (may extend past the photo by less than one pixel of rounding).
 */
export function cellBox(map: Pick<ScoreMap, 'imageSize' | 'scaledSize' | 'geometry'>, i: number, j: number): Box {
  const [fy, fx] = scaleFactors(map);
  const { window: [wy, wx], stride: [sy, sx], offset: [oy, ox] } = map.geometry;
  const y0 = oy + i * sy;
  const x0 = ox + j * sx;
  return [y0 / fy, x0 / fx, (y0 + wy) / fy, (x0 + wx) / fx];
}

/** Centre of cell (i, j) in original pixels, [y, x]. */
export function cellCentre(map: Pick<ScoreMap, 'imageSize' | 'scaledSize' | 'geometry'>, i: number, j: number): [number, number] {
  const [y0, x0, y1, x1] = cellBox(map, i, j);
  return [(y0 + y1) / 2, (x0 + x1) / 2];
}

/**
 * Number of cells along one axis for an input of n pixels, window w and stride s with valid
 * geometry: floor((n − w) / s) + 1, or 0 when the input is smaller than the window.
 */
export function cellCount(n: number, w: number, s: number): number {
  return n < w ? 0 : Math.floor((n - w) / s) + 1;
}
