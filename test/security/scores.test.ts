import { describe, expect, it } from 'vitest';
import { failOnBackendErrors, installBackendErrorCapture } from '../../main/engine/backend-errors';
import { assertFiniteScores, pasteTile, type Tile } from '../../main/engine/tiling';

// Cells rows 2–3, columns 4–6 of a map with 10 columns and 2 classes.
const tile: Tile = { r0: 2, r1: 4, c0: 4, c1: 7, y0: 0, y1: 1, x0: 0, x1: 1 };

describe('non-finite scores', () => {
  it('are refused naming the cell in whole-map coordinates, the class and the tile', () => {
    const scores = new Float32Array(2 * 3 * 2).fill(0.5);
    // Tile-local cell (1, 2) = map cell (3, 6), class 1: index (1·3 + 2)·2 + 1 = 11.
    scores[11] = NaN;
    expect(() => assertFiniteScores(scores, 2, tile)).toThrow(
      'the model gave NaN at cell (row 3, column 6), class 1 of tile rows 2–3, columns 4–6: non-finite scores are refused',
    );
    scores[11] = 0.5;
    scores[2] = -Infinity; // tile-local cell (0, 1) = map cell (2, 5), class 0
    expect(() => assertFiniteScores(scores, 2, tile)).toThrow('the model gave -Infinity at cell (row 2, column 5), class 0');
  });

  it('stop pasteTile before the map is touched', () => {
    const map = new Float32Array(5 * 10 * 2);
    const scores = new Float32Array(12).fill(1);
    scores[0] = Infinity;
    expect(() => pasteTile(map, 10, 2, tile, scores)).toThrow('the model gave Infinity at cell (row 2, column 4), class 0');
    expect(map.every((v) => v === 0)).toBe(true);
    scores[0] = 1;
    pasteTile(map, 10, 2, tile, scores);
    expect(map[(3 * 10 + 6) * 2 + 1]).toBe(1);
    expect(map.reduce((a, b) => a + b, 0)).toBe(12);
  });

  it('let finite extremes through', () => {
    expect(() => assertFiniteScores(Float32Array.of(0, -0, 3.4e38, -3.4e38, 1e-45), 1, { ...tile, r1: 3, c1: 9 })).not.toThrow();
  });
});

describe('backend faults that are only printed', () => {
  installBackendErrorCapture();

  it('fail the tile with the printed message (as tfjs-backend-wasm prints XNN failures through console.warn)', async () => {
    await expect(failOnBackendErrors(async () => {
      console.warn('XNN status for xnn_setup_convolution2d_nhwc_f32 is not successful. Got status 5. Use -c dbg to see more logs.');
      return 1;
    })).rejects.toThrow('the backend reported a fault while running this tile: XNN status for xnn_setup_convolution2d_nhwc_f32 is not successful. Got status 5.');
  });

  it('pass a tile through when nothing or only a notice was printed, and forget messages after the tile', async () => {
    await expect(failOnBackendErrors(async () => 7)).resolves.toBe(7);
    await expect(failOnBackendErrors(async () => {
      console.warn('Hi, looks like you are running TensorFlow.js in Node.js.');
      return 8;
    })).resolves.toBe(8);
    console.error('an error printed between tiles');
    await expect(failOnBackendErrors(async () => 9)).resolves.toBe(9);
  });
});
