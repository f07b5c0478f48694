import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cellCount } from '../../core/scoremap';
import { preprocess, preprocessRegion } from '../../main/engine/preprocess';
import { pasteTile, planTiles } from '../../main/engine/tiling';
import { buildFcn, FIXTURE_GEOMETRY, maxAbsDiff, predictDirect, testPhoto } from './fcn-fixture';

const geometry = { window: [224, 224] as [number, number], stride: [32, 32] as [number, number], offset: [0, 0] as [number, number] };

describe('planTiles', () => {
  it('gives the whole map as one tile when it fits the budget', () => {
    const plan = planTiles(384, 384, geometry);
    expect(plan).toMatchObject({ rows: 6, cols: 6 });
    expect(plan.tiles).toEqual([{ r0: 0, r1: 6, c0: 0, c1: 6, y0: 0, y1: 384, x0: 0, x1: 384 }]);
  });

  it('covers every cell exactly once, within the pixel budget, reading the documented input rows', () => {
    const g = { window: [20, 16] as [number, number], stride: [4, 2] as [number, number], offset: [3, 1] as [number, number] };
    for (const [h, w, budget] of [[500, 700, 5000], [97, 61, 900], [1000, 23, 400], [40, 40, 1]]) {
      const plan = planTiles(h, w, g, { maxTilePixels: budget });
      expect(plan.rows).toBe(cellCount(h - 3, 20, 4));
      expect(plan.cols).toBe(cellCount(w - 1, 16, 2));
      const seen = new Uint8Array(plan.rows * plan.cols);
      for (const t of plan.tiles) {
        expect(t.y0).toBe(3 + t.r0 * 4);
        expect(t.y1).toBe(3 + (t.r1 - 1) * 4 + 20);
        expect(t.x0).toBe(1 + t.c0 * 2);
        expect(t.x1).toBe(1 + (t.c1 - 1) * 2 + 16);
        expect(t.y1).toBeLessThanOrEqual(h);
        expect(t.x1).toBeLessThanOrEqual(w);
        // One cell's window is always allowed, even over budget.
        if (t.r1 - t.r0 > 1 || t.c1 - t.c0 > 1) expect((t.y1 - t.y0) * (t.x1 - t.x0)).toBeLessThanOrEqual(budget);
        for (let r = t.r0; r < t.r1; r++) for (let c = t.c0; c < t.c1; c++) seen[r * plan.cols + c]++;
      }
      expect(seen.every((n) => n === 1)).toBe(true);
    }
  });

  it('returns no tiles and 0 cells when the photo is smaller than the window', () => {
    expect(planTiles(200, 1000, geometry)).toEqual({ rows: 0, cols: 25, tiles: [] });
    expect(planTiles(0, 0, geometry)).toEqual({ rows: 0, cols: 0, tiles: [] });
  });

  it('splits into at least minTiles tiles only while tiles stay over twice the window', () => {
    expect(planTiles(2000, 2000, geometry, { minTiles: 4 }).tiles.length).toBeGreaterThanOrEqual(4);
    // 256 px is under 2 × 224: splitting would nearly double the work, so it stays one tile.
    expect(planTiles(256, 256, geometry, { minTiles: 4 }).tiles).toHaveLength(1);
  });

  it('pasteTile refuses a tile of the wrong size', () => {
    const tile = { r0: 0, r1: 2, c0: 0, c1: 2, y0: 0, y1: 1, x0: 0, x1: 1 };
    expect(() => pasteTile(new Float32Array(12), 2, 3, tile, new Float32Array(11))).toThrow(/11 scores, expected 12/);
  });
});

describe('tiled inference', () => {
  let model: tf.LayersModel;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = buildFcn(3);
  });
  afterAll(() => model.dispose());

  it('pasted tiles equal one untiled pass of a valid-padding FCN to 1e-5', () => {
    const img = testPhoto(75, 101);
    const full = predictDirect(model, preprocess(img, 'signed', 3), 75, 101, 3);
    const plan = planTiles(75, 101, FIXTURE_GEOMETRY, { maxTilePixels: 700 });
    expect(plan.tiles.length).toBeGreaterThan(6);
    expect([plan.rows, plan.cols, 3]).toEqual(full.shape);
    const scores = new Float32Array(plan.rows * plan.cols * 3);
    const before = tf.memory().numTensors;
    for (const t of plan.tiles) {
      const out = predictDirect(model, preprocessRegion(img, t, 'signed', 3), t.y1 - t.y0, t.x1 - t.x0, 3);
      expect(out.shape).toEqual([t.r1 - t.r0, t.c1 - t.c0, 3]);
      pasteTile(scores, plan.cols, 3, t, out.scores);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(scores, full.scores)).toBeLessThan(1e-5);
  });
});
