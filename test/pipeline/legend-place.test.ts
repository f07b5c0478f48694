/**
 * Where the exported picture's legend goes (issue 25 item 7): not over the heat. A photo whose heat
 * fills one corner, rendered with and without the legend: the pixels that differ are the legend's,
 * and none of them lies in the hot corner, whichever corner it is; with no heat it stays bottom-left.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { AveragedMap } from '../../core/average';
import { renderPicture } from '../../main/services/picture';

const W = 320;
const H = 240;

/** A 4×4-cell map (80×60-px cells) where class 0 scores 0.95 in the 2×2 cells of one corner and 0 elsewhere. */
function hotCorner(top: boolean, left: boolean): AveragedMap {
  const scores = new Float32Array(4 * 4 * 2);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      const hot = (top ? r < 2 : r >= 2) && (left ? c < 2 : c >= 2);
      scores[(r * 4 + c) * 2] = hot ? 0.95 : 0;
      scores[(r * 4 + c) * 2 + 1] = hot ? 0.05 : 1;
    }
  }
  return { rows: 4, cols: 4, classes: 2, scores, imageSize: [H, W], cellSize: [60, 80], coverage: new Uint8Array(16).fill(1), mode: 'max' };
}

async function picture(averaged: AveragedMap, legend: boolean): Promise<Buffer> {
  const image = { width: W, height: H, channels: 3 as const, data: new Uint8Array(W * H * 3).fill(128) };
  const png = await renderPicture({ image, averaged, classIndex: 0, drawn: [] }, ['thing', 'other'], { view: 'absolute', colormap: 'viridis', opacity: 0.6, threshold: 0.2, smooth: true, boxes: false, legend });
  return sharp(png).raw().toBuffer();
}

/** Bounding box [y0, x0, y1, x1] (inclusive) of the pixels where a and b differ, and their count. */
function difference(a: Buffer, b: Buffer): { n: number; box: [number, number, number, number] } {
  let n = 0;
  const box: [number, number, number, number] = [H, W, -1, -1];
  for (let p = 0; p < W * H; p++) {
    if (a[p * 3] === b[p * 3] && a[p * 3 + 1] === b[p * 3 + 1] && a[p * 3 + 2] === b[p * 3 + 2]) continue;
    n++;
    const y = Math.floor(p / W);
    const x = p % W;
    box[0] = Math.min(box[0], y);
    box[1] = Math.min(box[1], x);
    box[2] = Math.max(box[2], y);
    box[3] = Math.max(box[3], x);
  }
  return { n, box };
}

describe('the legend in exported pictures', () => {
  for (const [top, left] of [[false, true], [false, false], [true, true], [true, false]] as const) {
    it(`is drawn clear of heat in the ${top ? 'top' : 'bottom'}-${left ? 'left' : 'right'} corner`, async () => {
      const map = hotCorner(top, left);
      const [withLegend, without] = await Promise.all([picture(map, true), picture(map, false)]);
      // The heat is painted where it was put (the overlay tints the grey photo there, not elsewhere).
      const at = (y: number, x: number): number[] => [...without.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)];
      const hotY = top ? 30 : 210;
      const hotX = left ? 40 : 280;
      expect(at(hotY, hotX)).not.toEqual([128, 128, 128]);
      expect(at(top ? 210 : 30, left ? 280 : 40)).toEqual([128, 128, 128]);
      const { n, box } = difference(withLegend, without);
      expect(n).toBeGreaterThan(500);
      // No legend pixel in the hot quadrant (rows/columns of the 2×2 hot cells).
      const [hy0, hy1] = top ? [0, 119] : [120, 239];
      const [hx0, hx1] = left ? [0, 159] : [160, 319];
      const overlaps = box[0] <= hy1 && box[2] >= hy0 && box[1] <= hx1 && box[3] >= hx0;
      expect(overlaps, `legend at ${JSON.stringify(box)}`).toBe(false);
    });
  }

  it('stays in the bottom-left corner when no corner has heat', async () => {
    const cold: AveragedMap = { ...hotCorner(true, true), scores: new Float32Array(32) };
    const { box } = difference(await picture(cold, true), await picture(cold, false));
    expect(box[0]).toBeGreaterThan(H / 2);
    expect(box[3]).toBeLessThan(W / 2);
  });
});
