import { describe, expect, it } from 'vitest';
import type { AveragedMap } from '../../core/average';
import { colormapLut } from '../../core/colormap';
import { blendOverRgb, renderOverlay } from '../../core/overlay';

function avgMap(imageSize: [number, number], rows: number, cols: number, scores: number[], coverage: number[]): AveragedMap {
  return {
    rows,
    cols,
    classes: 1,
    scores: Float32Array.from(scores),
    imageSize,
    cellSize: [imageSize[0] / rows, imageSize[1] / cols],
    coverage: Uint8Array.from(coverage),
    mode: 'mean',
  };
}

const pixel = (img: Uint8ClampedArray, width: number, y: number, x: number): number[] => Array.from(img.subarray((y * width + x) * 4, (y * width + x) * 4 + 4));
const lutAt = (lut: Uint8ClampedArray, i: number): number[] => Array.from(lut.subarray(i * 3, i * 3 + 3));

describe('renderOverlay: blocky', () => {
  // 4×4 photo, 2×2 grid of 2-px cells: hot (1.0), cold (0.2 < threshold), warm (0.6), and one uncovered cell
  // whose stored 0.9 must not show.
  const avg = avgMap([4, 4], 2, 2, [1.0, 0.2, 0.6, 0.9], [1, 1, 1, 0]);
  const viridis = colormapLut('viridis');
  const alpha = Math.round(0.5 * 255); // 128
  const expectedCell = [
    [...lutAt(viridis, 255), alpha], // top colour
    [0, 0, 0, 0],
    [...lutAt(viridis, Math.round(Math.fround(0.6) * 255)), alpha], // 153
    [0, 0, 0, 0],
  ];

  it.each([{ size: 4 }, { size: 8 }, { size: 2 }, { size: 3 }])('at $size×$size each pixel shows the cell under its centre', ({ size }) => {
    const img = renderOverlay(avg, 0, { width: size, height: size, colormap: 'viridis', opacity: 0.5, threshold: 0.5, smooth: false });
    expect(img).toHaveLength(size * size * 4);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        // pixel centre in photo pixels → grid cell of 2 px
        const r = Math.floor((((y + 0.5) * 4) / size) / 2);
        const c = Math.floor((((x + 0.5) * 4) / size) / 2);
        expect(pixel(img, size, y, x)).toEqual(expectedCell[r * 2 + c]);
      }
    }
  });

  it('non-square output stretches over the whole photo', () => {
    const img = renderOverlay(avg, 0, { width: 8, height: 2, colormap: 'viridis', opacity: 0.5, threshold: 0.5, smooth: false });
    expect(pixel(img, 8, 0, 3)).toEqual(expectedCell[0]);
    expect(pixel(img, 8, 0, 4)).toEqual(expectedCell[1]);
    expect(pixel(img, 8, 1, 3)).toEqual(expectedCell[2]);
    expect(pixel(img, 8, 1, 7)).toEqual(expectedCell[3]);
  });

  it.each([
    { name: 'score equal to the threshold is painted', score: 0.6, threshold: Math.fround(0.6), range: [0, 1], index: 153 },
    { name: 'range [0, 2]: 1 is mid-scale, round(127.5)', score: 1, threshold: 0, range: [0, 2], index: 128 },
    { name: 'above the range clamps to the top', score: 3, threshold: 0, range: [0, 2], index: 255 },
    { name: 'below the range clamps to the bottom', score: -1, threshold: -5, range: [0, 1], index: 0 },
  ] as { name: string; score: number; threshold: number; range: [number, number]; index: number }[])('$name', ({ score, threshold, range, index }) => {
    const img = renderOverlay(avgMap([2, 2], 1, 1, [score], [1]), 0, { width: 2, height: 2, colormap: 'magma', opacity: 1, threshold, smooth: false, range });
    expect(pixel(img, 2, 1, 1)).toEqual([...lutAt(colormapLut('magma'), index), 255]);
  });

  it('opacity 0 paints nothing; bad arguments throw', () => {
    expect(renderOverlay(avg, 0, { width: 4, height: 4, colormap: 'viridis', opacity: 0, threshold: 0, smooth: false }).every((v) => v === 0)).toBe(true);
    expect(() => renderOverlay(avg, 1, { width: 4, height: 4, colormap: 'viridis', opacity: 1, threshold: 0, smooth: false })).toThrow(/class 1/);
    expect(() => renderOverlay(avg, 0, { width: 0, height: 4, colormap: 'viridis', opacity: 1, threshold: 0, smooth: false })).toThrow(/size/);
    expect(() => renderOverlay(avg, 0, { width: 4, height: 4, colormap: 'viridis', opacity: 1, threshold: 0, smooth: false, range: [1, 1] })).toThrow(/range/);
  });
});

describe('renderOverlay: smooth', () => {
  const greys = colormapLut('greys');

  it.each([{ width: 4 }, { width: 8 }])('interpolates linearly between cell centres, clamped at the edges ($width px)', ({ width }) => {
    // 1×4 photo, two 2-px cells with scores 0 and 1, centres at x = 1 and 3.
    // Pixel centre x = (px + 0.5)·4 / width; score = clamp((x − 1) / 2, 0, 1).
    const img = renderOverlay(avgMap([1, 4], 1, 2, [0, 1], [1, 1]), 0, { width, height: 1, colormap: 'greys', opacity: 1, threshold: 0, smooth: true });
    for (let px = 0; px < width; px++) {
      const x = ((px + 0.5) * 4) / width;
      const s = Math.min(Math.max((x - 1) / 2, 0), 1);
      expect(pixel(img, width, 0, px)).toEqual([...lutAt(greys, Math.round(s * 255)), 255]);
    }
  });

  it('bilinear in 2-D', () => {
    // 4×4 photo, 2×2 grid [[0, 1], [1, 0]]; pixel (1, 1) centre (1.5, 1.5) is 0.25 of a cell past (0, 0)'s centre:
    // .75·.75·0 + .75·.25·1 + .25·.75·1 + .25·.25·0 = 0.375.
    const img = renderOverlay(avgMap([4, 4], 2, 2, [0, 1, 1, 0], [1, 1, 1, 1]), 0, { width: 4, height: 4, colormap: 'greys', opacity: 1, threshold: 0, smooth: true });
    expect(pixel(img, 4, 1, 1)).toEqual([...lutAt(greys, Math.round(0.375 * 255)), 255]);
    expect(pixel(img, 4, 0, 0)).toEqual([...lutAt(greys, 0), 255]);
  });

  it('uncovered cells neither show nor pull covered neighbours toward 0', () => {
    const img = renderOverlay(avgMap([1, 4], 1, 2, [0.8, 0], [1, 0]), 0, { width: 4, height: 1, colormap: 'greys', opacity: 1, threshold: 0.5, smooth: true });
    const grey = lutAt(greys, Math.round(Math.fround(0.8) * 255));
    // Pixel 2 (x = 2.5) lies 0.5 px past the covered cell's edge at x = 2, half of the 1-px half cell: alpha 255 · 0.5.
    expect([0, 1, 2, 3].map((x) => pixel(img, 4, 0, x))).toEqual([[...grey, 255], [...grey, 255], [...grey, 128], [0, 0, 0, 0]]);
  });

  it('fades to transparent over half a cell beyond the covered area (hand-worked, 1-D)', () => {
    // 10×20 photo, two 10-px cells, only the left one covered (score 0.5); opacity 0.8: alpha 204.
    // Pixel px samples x = px + 0.5; past the edge at x = 10 by d = px − 9.5 px, half a cell is 5 px:
    // alpha = round(204 · (1 − d / 5)): 10 → 183.6, 11 → 142.8, 12 → 102, 13 → 61.2, 14 → 20.4, 15 on → 0.
    const img = renderOverlay(avgMap([10, 20], 1, 2, [0.5, 0], [1, 0]), 0, { width: 20, height: 10, colormap: 'greys', opacity: 0.8, threshold: 0, smooth: true });
    const grey = lutAt(greys, Math.round(0.5 * 255));
    for (const y of [0, 4, 9]) {
      expect(Array.from({ length: 20 }, (_, px) => pixel(img, 20, y, px)[3])).toEqual([204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 184, 143, 102, 61, 20, 0, 0, 0, 0, 0]);
      // The faded pixels keep the edge's colour.
      for (let px = 0; px < 15; px++) expect(pixel(img, 20, y, px).slice(0, 3)).toEqual(grey);
    }
  });

  it('fades by the distance to the nearest covered cell, diagonally too (hand-worked, 2-D)', () => {
    // 20×20 photo, 2×2 cells of 10 px, only the top-left covered (score 1); opacity 0.8: alpha 204; half a cell = 5 px.
    const img = renderOverlay(avgMap([20, 20], 2, 2, [1, 0, 0, 0], [1, 0, 0, 0]), 0, { width: 20, height: 20, colormap: 'greys', opacity: 0.8, threshold: 0, smooth: true });
    const a = (y: number, x: number): number => pixel(img, 20, y, x)[3];
    // (12.5, 12.5): √(2.5² + 2.5²) = 3.536 px from the corner (10, 10): 204 · (1 − 0.7071) = 59.75.
    expect(a(12, 12)).toBe(60);
    // (10.5, 14.5): √(0.5² + 4.5²) = 4.528 px: 204 · 0.0945 = 19.27.
    expect(a(10, 14)).toBe(19);
    // (13.5, 13.5): 4.950 px: 204 · 0.0101 = 2.06.
    expect(a(13, 13)).toBe(2);
    // (14.5, 14.5): 6.36 px, past half a cell; and straight down 12.5 − 10 = 2.5 px: 204 · 0.5.
    expect(a(14, 14)).toBe(0);
    expect(a(12, 3)).toBe(102);
    expect(a(9, 9)).toBe(204);
    expect(a(19, 19)).toBe(0);
  });

  it('gives a band of rows exactly the rows of the whole raster, fade included', () => {
    const avg = avgMap([20, 20], 2, 2, [1, 0, 0.6, 0], [1, 0, 1, 0]);
    const opts = { width: 37, height: 23, colormap: 'greys' as const, opacity: 0.7, threshold: 0, smooth: true };
    const whole = renderOverlay(avg, 0, opts);
    const band = renderOverlay(avg, 0, { ...opts, rows: [9, 16] });
    expect(Array.from(band)).toEqual(Array.from(whole.subarray(9 * 37 * 4, 16 * 37 * 4)));
  });

  it('threshold decides the painted cells; colour interpolates among them only and the edge fades in alpha', () => {
    // 4 px over 2 cells [0, 1], threshold 0.5: only the right cell is painted. 8 output pixels sample
    // x = 0.25, 0.75, …, 3.75. In the right cell (x ≥ 2) the only painted neighbour gives score 1 at
    // full alpha; the left cell's pixels lie d = (2 − x) px past the painted edge, half a cell = 1 px:
    // alpha round(255 · (1 − d)): x = 1.75 → 191, 1.25 → 64, 0.75 and 0.25 → 0. No pixel takes a colour
    // between the two scores (the old bilinear ramp ran the colormap down to the threshold).
    const img = renderOverlay(avgMap([1, 4], 1, 2, [0, 1], [1, 1]), 0, { width: 8, height: 1, colormap: 'greys', opacity: 1, threshold: 0.5, smooth: true });
    expect(Array.from({ length: 8 }, (_, px) => pixel(img, 8, 0, px)[3])).toEqual([0, 0, 64, 191, 255, 255, 255, 255]);
    for (let px = 2; px < 8; px++) expect(pixel(img, 8, 0, px).slice(0, 3)).toEqual(lutAt(greys, 255));
  });
});

describe('blendOverRgb', () => {
  it('straight-alpha over, rounded per channel', () => {
    const photo = Uint8Array.from([100, 200, 50, 100, 200, 50, 100, 200, 50]);
    const overlay = Uint8Array.from([255, 0, 0, 128, 255, 0, 0, 0, 9, 8, 7, 255]);
    // a = 128/255: R = (255·128 + 100·127) / 255 = 177.8 → 178; G = 200·127/255 = 99.6 → 100; B = 50·127/255 = 24.9 → 25.
    expect(Array.from(blendOverRgb(photo, overlay, 3, 1))).toEqual([178, 100, 25, 100, 200, 50, 9, 8, 7]);
  });

  it('agrees with the floating-point formula on every alpha', () => {
    const n = 256;
    const photo = new Uint8Array(n * 3);
    const overlay = new Uint8Array(n * 4);
    for (let a = 0; a < n; a++) {
      photo.set([a, 255 - a, 37], a * 3);
      overlay.set([255 - a, (a * 7) % 256, 201, a], a * 4);
    }
    const out = blendOverRgb(photo, overlay, 16, 16);
    for (let a = 0; a < n; a++) {
      for (let ch = 0; ch < 3; ch++) {
        expect(out[a * 3 + ch]).toBe(Math.round(overlay[a * 4 + ch] * (a / 255) + photo[a * 3 + ch] * (1 - a / 255)));
      }
    }
  });

  it('blends into the photo\'s own bytes when asked, with the same result (the hand-worked case)', () => {
    const photo = Uint8Array.from([100, 200, 50, 100, 200, 50, 100, 200, 50]);
    const overlay = Uint8Array.from([255, 0, 0, 128, 255, 0, 0, 0, 9, 8, 7, 255]);
    expect(blendOverRgb(photo, overlay, 3, 1, photo)).toBe(photo);
    expect(Array.from(photo)).toEqual([178, 100, 25, 100, 200, 50, 9, 8, 7]);
  });

  it('rejects mismatched sizes', () => {
    expect(() => blendOverRgb(new Uint8Array(3), new Uint8Array(8), 1, 1)).toThrow(/overlay/);
  });

  it('rejects an output of another size', () => {
    expect(() => blendOverRgb(new Uint8Array(3), new Uint8Array(4), 1, 1, new Uint8Array(6))).toThrow(/blend output has 6 bytes, expected 1×1×3/);
  });
});
