/**
 * The views (issue 20 item 3): the class map against an independent argmax, the relative map against
 * pytorch-grad-cam's per-image min–max normalisation, and the legends that say what is drawn.
 */
import { describe, expect, it } from 'vitest';
import type { AveragedMap } from '../../core/average';
import { classColour, colormapLut } from '../../core/colormap';
import { DEFAULT_RECIPE } from '../../core/recipe';
import { renderClassMap } from '../../core/overlay';
import { ANY_CLASS, anyLabel, checkClassChoice, classLabel, defaultView, legendSpec, paintView, viewSource } from '../../core/pipeline';

/** A rows × cols grid of 4×4-px cells with the given per-cell scores and coverage. */
function grid(rows: number, cols: number, classes: number, scores: number[], coverage = Array<number>(rows * cols).fill(1)): AveragedMap {
  return {
    rows, cols, classes, scores: Float32Array.from(scores), imageSize: [rows * 4, cols * 4], cellSize: [4, 4], coverage: Uint8Array.from(coverage), mode: 'max',
  };
}

/** A deterministic pseudo-random sequence in [0, 1). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

const px = (img: Uint8ClampedArray, width: number, y: number, x: number): number[] => Array.from(img.subarray((y * width + x) * 4, (y * width + x) * 4 + 4));

describe('class map', () => {
  it('colours each cell by its argmax class; background, uncovered and below-threshold cells clear', () => {
    const rows = 6;
    const cols = 7;
    const K = 4;
    const rnd = lcg(7);
    const scores = Array.from({ length: rows * cols * K }, () => rnd());
    const coverage = Array.from({ length: rows * cols }, (_, i) => (i % 11 === 5 ? 0 : 1));
    const avg = grid(rows, cols, K, scores, coverage);
    const labels = ['background', 'cat', 'dog', 'bird'];
    const threshold = 0.5;
    const source = viewSource(avg, ANY_CLASS, labels, { view: 'classes', threshold });
    const img = paintView(source, { width: cols * 4, height: rows * 4, opacity: 0.5, colormap: 'viridis', smooth: true });
    const alpha = Math.round(0.5 * 255);
    let painted = 0;
    let clear = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const cell = r * cols + c;
        const row = scores.slice(cell * K, cell * K + K).map((v) => Math.fround(v));
        const best = row.indexOf(Math.max(...row));
        const want = coverage[cell] === 0 || best === 0 || row[best] < threshold ? [0, 0, 0, 0] : [...classColour(best), alpha];
        if (want[3] === 0) clear++;
        else painted++;
        // Every pixel of the cell, not only its centre: classes are not interpolated.
        for (const [dy, dx] of [[0, 0], [1, 2], [3, 3]]) expect(px(img, cols * 4, r * 4 + dy, c * 4 + dx)).toEqual(want);
      }
    }
    expect(painted).toBeGreaterThan(5);
    expect(clear).toBeGreaterThan(5);
  });

  it('rejected cells are clear whatever wins there, flagged or zeroed as seenMaps leaves them', () => {
    const avg = grid(1, 3, 2, [0.1, 0.9, 0.2, 0.8, 0, 0]);
    const img = renderClassMap(avg, { width: 12, height: 4, opacity: 1, threshold: 0, clear: Uint8Array.from([0, 0]), rejected: Uint8Array.from([0, 1, 0]) });
    expect(px(img, 12, 1, 1)).toEqual([...classColour(1), 255]);
    expect(px(img, 12, 1, 5)).toEqual([0, 0, 0, 0]);
    expect(px(img, 12, 1, 9)).toEqual([0, 0, 0, 0]);
  });

  it('its legend lists the winning classes by cells won, with their colours', () => {
    // Winners: cat, cat, dog, background (clear).
    const avg = grid(1, 4, 3, [0.1, 0.8, 0.1, 0.1, 0.7, 0.2, 0.1, 0.2, 0.7, 0.9, 0.05, 0.05]);
    const labels = ['background', 'cat', 'dog'];
    const source = viewSource(avg, ANY_CLASS, labels, { view: 'classes', threshold: 0.2 });
    const legend = legendSpec(source, labels, ANY_CLASS, { view: 'classes', colormap: 'viridis', threshold: 0.2 });
    expect(legend).toMatchObject({ kind: 'classes', more: 0 });
    expect(legend.kind === 'classes' && legend.entries.map((e) => [e.label, e.cells])).toEqual([['cat', 2], ['dog', 1]]);
    expect(legend.kind === 'classes' && legend.entries[0].colour).toMatch(/^#[0-9a-f]{6}$/);
  });
});

describe('relative map (per-photo min–max, as pytorch-grad-cam normalises a CAM)', () => {
  it('maps the photo\'s lowest score to the colormap\'s bottom and its highest to the top, the threshold in normalised units', () => {
    // One class, scores 0.90, 0.95, 0.99, 1.00 (a saturated softmax): absolute paints four near-equal colours.
    const scores = [0.9, 0.95, 0.99, 1.0];
    const avg = grid(1, 4, 1, scores);
    const f = scores.map((v) => Math.fround(v));
    const lo = Math.min(...f);
    const hi = Math.max(...f);
    const norm = f.map((v) => (v - lo) / (hi - lo));
    const lut = colormapLut('viridis');
    const source = viewSource(avg, 0, ['cat'], { view: 'relative', threshold: 0.3 });
    const img = paintView(source, { width: 16, height: 4, opacity: 1, colormap: 'viridis', smooth: false });
    norm.forEach((t, c) => {
      const want = t >= 0.3 ? [...Array.from(lut.subarray(Math.round(t * 255) * 3, Math.round(t * 255) * 3 + 3)), 255] : [0, 0, 0, 0];
      expect(px(img, 16, 2, c * 4 + 1)).toEqual(want);
    });
    const legend = legendSpec(source, ['cat'], 0, { view: 'relative', colormap: 'viridis', threshold: 0.3 });
    expect(legend).toMatchObject({ kind: 'scale', title: 'cat — relative to this photo' });
    expect(legend.kind === 'scale' && legend.range).toEqual([lo, hi]);
  });

  it('leaves rejected cells (every class 0, as seenMaps leaves them) out of the photo\'s range, and clear', () => {
    const avg = grid(1, 3, 2, [0.5, 0.5, 0.9, 0.1, 0, 0]);
    const source = viewSource(avg, 0, ['a', 'b'], { view: 'relative', threshold: 0.1 });
    expect(source.kind === 'scale' && source.range).toEqual([0.5, Math.fround(0.9)]);
    const img = paintView(source, { width: 12, height: 4, opacity: 1, colormap: 'viridis', smooth: false });
    expect(px(img, 12, 1, 9)).toEqual([0, 0, 0, 0]);
    expect(px(img, 12, 1, 5)[3]).toBe(255);
  });

  it('a flat map paints nothing above a positive threshold', () => {
    const img = paintView(viewSource(grid(1, 2, 1, [1, 1]), 0, ['x'], { view: 'relative', threshold: 0.2 }), { width: 8, height: 4, opacity: 1, colormap: 'viridis', smooth: true });
    expect(img.every((v) => v === 0)).toBe(true);
  });
});

describe('defaults and "any" (issue 20 items 3, 4)', () => {
  it('the default colormap is perceptually uniform', () => {
    expect(['viridis', 'inferno', 'cividis', 'magma', 'plasma']).toContain(DEFAULT_RECIPE.colormap);
  });

  it('the class map is the default for a closed-set classifier, the absolute map where there is a background class', () => {
    expect(defaultView(['cat', 'dog'])).toBe('classes');
    expect(defaultView(['background', 'cat'])).toBe('absolute');
  });

  it('"any" says what it is "not": background, or the cells where no class stands out', () => {
    expect(anyLabel(['background', 'cat'])).toBe('any (not background)');
    expect(anyLabel(['cat', 'dog'])).toBe('any (where a class stands out)');
    expect(classLabel(['cat', 'dog'], ANY_CLASS)).toBe('any (where a class stands out)');
    expect(() => checkClassChoice('any', ['cat', 'dog'])).not.toThrow();
    expect(() => checkClassChoice('top', ['cat'])).not.toThrow();
    expect(() => checkClassChoice('cow', ['cat'])).toThrow(/unknown class "cow"/);
  });
});
