import { describe, expect, it } from 'vitest';
import { averageScoreMaps, classMaxima, defaultGrid, gridCellCentre, nearestCell, sampleScoreMap } from '../../core/average';
import { cellCentre, cellCount, type ScoreMap } from '../../core/scoremap';

interface MapSpec {
  imageSize: [number, number];
  scaledSize: [number, number];
  window: [number, number];
  stride: [number, number];
  offset?: [number, number];
  rows?: number;
  cols?: number;
  classes?: number;
  fill: (i: number, j: number, k: number) => number;
}

/** A synthetic map; rows/cols default to what valid geometry gives on scaledSize. */
function makeMap(s: MapSpec): ScoreMap {
  const rows = s.rows ?? cellCount(s.scaledSize[0] - (s.offset?.[0] ?? 0), s.window[0], s.stride[0]);
  const cols = s.cols ?? cellCount(s.scaledSize[1] - (s.offset?.[1] ?? 0), s.window[1], s.stride[1]);
  const classes = s.classes ?? 1;
  const scores = new Float32Array(rows * cols * classes);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < classes; k++) scores[(i * cols + j) * classes + k] = s.fill(i, j, k);
  return Object.freeze({
    scale: s.scaledSize[0] / s.imageSize[0],
    imageSize: s.imageSize,
    scaledSize: s.scaledSize,
    rows,
    cols,
    classes,
    scores,
    geometry: { window: s.window, stride: s.stride, offset: s.offset ?? [0, 0] },
  });
}

const at = (m: { cols: number; classes: number; scores: Float32Array }, r: number, c: number, k = 0): number => m.scores[(r * m.cols + c) * m.classes + k];

// Scale A: 64×64 photo at scale 1, 16 px windows at stride 16 → 4×4 cells, centres 8, 24, 40, 56 (= default grid's centres).
const A = makeMap({ imageSize: [64, 64], scaledSize: [64, 64], window: [16, 16], stride: [16, 16], fill: () => 0.2 });
// Scale B: the same photo at 0.5 → 2×2 cells, centres at scaled 8, 24 = original 16, 48; windows span the whole photo.
const Bvals = [
  [0, 0.4],
  [0.8, 1.0],
];
const B = makeMap({ imageSize: [64, 64], scaledSize: [32, 32], window: [16, 16], stride: [16, 16], fill: (i, j) => Bvals[i][j] });

describe('averageScoreMaps: two scales', () => {
  // B at grid centre 8 → scaled 4 → u = (4 − 8)/16 = −0.25, clamped to cell 0; 24 → u = 0.25; 40 → 0.75; 56 → 1.25 → cell 1.
  // B(24, 24) = .75·.75·0 + .75·.25·0.4 + .25·.75·0.8 + .25·.25·1 = 0.2875.
  const cases: { r: number; c: number; b: number }[] = [
    { r: 0, c: 0, b: 0 },
    { r: 0, c: 3, b: 0.4 },
    { r: 3, c: 0, b: 0.8 },
    { r: 3, c: 3, b: 1.0 },
    { r: 1, c: 1, b: 0.2875 },
    { r: 0, c: 1, b: 0.75 * 0 + 0.25 * 0.4 },
    { r: 2, c: 3, b: 0.25 * 0.4 + 0.75 * 1.0 },
  ];
  const mean = averageScoreMaps([A, B]);
  const max = averageScoreMaps([A, B], { mode: 'max' });

  it('uses the finest scale’s stride as the grid', () => {
    expect([mean.rows, mean.cols, mean.cellSize]).toEqual([4, 4, [16, 16]]);
    expect(Array.from(mean.coverage)).toEqual(new Array(16).fill(2));
  });
  it.each(cases)('mean and max at grid ($r, $c)', ({ r, c, b }) => {
    expect(sampleScoreMap(B, ...gridCellCentre(mean, r, c), 0)).toBeCloseTo(b, 6);
    expect(at(mean, r, c)).toBeCloseTo((0.2 + b) / 2, 6);
    expect(at(max, r, c)).toBeCloseTo(Math.max(0.2, b), 6);
  });
  it.each(cases)('gives the same hand-computed values when accumulated one grid row at a time ($r, $c)', ({ r, c, b }) => {
    // bandValues 4 = one grid row of 4 cells × 1 class: the bounded-memory path a 100 MP photo takes.
    const banded = averageScoreMaps([A, B], { bandValues: 4 });
    const bandedMax = averageScoreMaps([A, B], { mode: 'max', bandValues: 4 });
    expect(at(banded, r, c)).toBeCloseTo((0.2 + b) / 2, 6);
    expect(at(bandedMax, r, c)).toBeCloseTo(Math.max(0.2, b), 6);
    expect(Array.from(banded.coverage)).toEqual(new Array(16).fill(2));
  });
});

describe('averageScoreMaps: coverage', () => {
  // C sees only the top-left quadrant: one 32-px window at [0, 32)².
  const C = makeMap({ imageSize: [64, 64], scaledSize: [64, 64], window: [32, 32], stride: [32, 32], rows: 1, cols: 1, fill: () => 1 });

  it('a scale covering part of the photo does not pull the mean down elsewhere', () => {
    const avg = averageScoreMaps([A, C]);
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) {
        const inside = r < 2 && c < 2;
        expect(avg.coverage[r * 4 + c]).toBe(inside ? 2 : 1);
        expect(at(avg, r, c)).toBeCloseTo(inside ? (0.2 + 1) / 2 : 0.2, 6);
      }
    }
  });

  it('cells outside every scale’s windows get score 0 and coverage 0', () => {
    // Windows of 64 at stride 32 starting at y = 32: rows span [32, 128) of a 128-row photo.
    const D = makeMap({ imageSize: [128, 64], scaledSize: [128, 64], window: [64, 64], stride: [32, 32], offset: [32, 0], fill: () => 0.7 });
    expect([D.rows, D.cols]).toEqual([2, 1]);
    const avg = averageScoreMaps([D], { grid: { rows: 4, cols: 1 } });
    expect(Array.from(avg.coverage)).toEqual([0, 1, 1, 1]);
    expect(Array.from(avg.scores)).toEqual([0, 0.7, 0.7, 0.7].map(Math.fround));
  });

  it('maps with no cells are ignored, also for the grid choice', () => {
    const empty = makeMap({ imageSize: [64, 64], scaledSize: [8, 8], window: [16, 16], stride: [1, 1], fill: () => 9 });
    expect([empty.rows, empty.cols]).toEqual([0, 0]);
    const withEmpty = averageScoreMaps([empty, A, B, empty]);
    const without = averageScoreMaps([A, B]);
    expect(withEmpty).toEqual(without);
  });

  it('max mode takes the covering scales only (a score below 0 is not lifted to 0 by a missing scale)', () => {
    const neg = makeMap({ imageSize: [64, 64], scaledSize: [64, 64], window: [16, 16], stride: [16, 16], fill: () => -1 });
    const avg = averageScoreMaps([neg, makeMap({ imageSize: [64, 64], scaledSize: [64, 64], window: [32, 32], stride: [32, 32], rows: 1, cols: 1, fill: () => -3 })], { mode: 'max' });
    expect(at(avg, 0, 0)).toBe(-1);
    expect(at(avg, 3, 3)).toBe(-1);
    expect(avg.coverage[0]).toBe(2);
    expect(avg.coverage[15]).toBe(1);
  });

  it('rejects maps of different photos or class counts', () => {
    const other = makeMap({ imageSize: [32, 64], scaledSize: [32, 64], window: [16, 16], stride: [16, 16], fill: () => 0 });
    expect(() => averageScoreMaps([A, other])).toThrow(/image/);
    const two = makeMap({ imageSize: [64, 64], scaledSize: [64, 64], window: [16, 16], stride: [16, 16], classes: 2, fill: () => 0 });
    expect(() => averageScoreMaps([A, two])).toThrow(/classes/);
    expect(() => averageScoreMaps([])).toThrow(/no score maps/);
  });
});

describe('averageScoreMaps: single scale', () => {
  // A 224 window at stride 32 has its first centre at 112 = 3.5 · 32, i.e. on the centre of grid row 3:
  // each cell (i, j) lands on grid cell (i + 3, j + 3), also when the photo was halved first.
  const cases = [
    { name: 'scale 1', imageSize: [384, 416] as [number, number], scaledSize: [384, 416] as [number, number], grid: [12, 13], cell: 32 },
    { name: 'scale 0.5', imageSize: [768, 832] as [number, number], scaledSize: [384, 416] as [number, number], grid: [12, 13], cell: 64 },
  ];
  it.each(cases)('reproduces its own scores at its cell centres ($name)', ({ imageSize, scaledSize, grid, cell }) => {
    const m = makeMap({ imageSize, scaledSize, window: [224, 224], stride: [32, 32], classes: 3, fill: (i, j, k) => ((i * 7 + j * 3 + k * 5) % 11) / 10 });
    expect([m.rows, m.cols]).toEqual([6, 7]);
    const avg = averageScoreMaps([m]);
    expect([avg.rows, avg.cols, avg.cellSize]).toEqual([...grid, [cell, cell]]);
    for (let i = 0; i < m.rows; i++) {
      for (let j = 0; j < m.cols; j++) {
        expect(gridCellCentre(avg, i + 3, j + 3)).toEqual(cellCentre(m, i, j));
        for (let k = 0; k < 3; k++) expect(at(avg, i + 3, j + 3, k)).toBe(at(m, i, j, k));
      }
    }
  });

  it('bilinear: midway between two cell centres is their mean; beyond the outer centre, inside the window, the edge cell', () => {
    // Window 64 at stride 32 on 128 rows → centres 32, 64, 96; the grid (stride 32) samples 16, 48, 80, 112.
    const m = makeMap({ imageSize: [128, 64], scaledSize: [128, 64], window: [64, 64], stride: [32, 32], fill: (i) => [0.1, 0.5, 0.9][i] });
    const avg = averageScoreMaps([m]);
    expect([avg.rows, avg.cols]).toEqual([4, 2]);
    const expected = [0.1, (0.1 + 0.5) / 2, (0.5 + 0.9) / 2, 0.9];
    for (let r = 0; r < 4; r++) for (let c = 0; c < 2; c++) expect(at(avg, r, c)).toBeCloseTo(expected[r], 6);
  });

  it('an explicit grid is honoured, cellSize included', () => {
    const avg = averageScoreMaps([A], { grid: { rows: 2, cols: 8, cellSize: [8, 8] } });
    expect([avg.rows, avg.cols, avg.cellSize]).toEqual([2, 8, [8, 8]]);
    expect(gridCellCentre(avg, 1, 7)).toEqual([12, 60]);
    expect(() => averageScoreMaps([A], { grid: { rows: 0, cols: 2 } })).toThrow(/rows and cols/);
  });
});

describe('defaultGrid', () => {
  it('takes the smallest stride in original pixels over scales, tiling the photo', () => {
    // strides in original px: 32/1 = 32 and 32/0.4 = 80 → 32; 100/32 → 4 rows of 25, 70/32 → 3 cols of 70/3.
    const s1 = makeMap({ imageSize: [100, 70], scaledSize: [100, 70], window: [32, 32], stride: [32, 32], fill: () => 0 });
    const s2 = makeMap({ imageSize: [100, 70], scaledSize: [40, 28], window: [16, 16], stride: [32, 32], fill: () => 0 });
    expect(defaultGrid([s2, s1])).toEqual({ rows: 4, cols: 3, cellSize: [25, 70 / 3] });
  });
});

describe('sampleScoreMap / nearestCell', () => {
  it('respects the span of the windows and picks the nearest centre', () => {
    // B windows span original [0, 64); centres at 16 and 48.
    expect(sampleScoreMap(B, 64, 10, 0)).toBeUndefined();
    expect(sampleScoreMap(B, 32, 32, 0)).toBeCloseTo((0 + 0.4 + 0.8 + 1) / 4, 6);
    expect(nearestCell(B, 31, 33)).toEqual([0, 1]);
    expect(nearestCell(B, 2, 63)).toEqual([0, 1]);
    expect(nearestCell(B, -1, 10)).toBeUndefined();
  });
});

describe('classMaxima', () => {
  it('gives the best covered cell per class at its centre in original pixels', () => {
    const m = makeMap({ imageSize: [64, 64], scaledSize: [64, 64], window: [16, 16], stride: [16, 16], classes: 2, fill: (i, j, k) => (k === 0 ? (i === 2 && j === 1 ? 0.9 : 0.1) : (i * 10 + j) / 100) });
    expect(classMaxima(averageScoreMaps([m]))).toEqual([
      { classIndex: 0, score: Math.fround(0.9), y: 40, x: 24 },
      { classIndex: 1, score: Math.fround(0.33), y: 56, x: 56 },
    ]);
  });
  it('looks at covered cells only and reports NaN position when nothing is covered', () => {
    const C = makeMap({ imageSize: [64, 64], scaledSize: [64, 64], window: [32, 32], stride: [32, 32], rows: 1, cols: 1, fill: () => -1 });
    // Grid centres at 20 and 60: only (0, 0) lies inside C's window [0, 32)²; the uncovered cells' 0 does not win.
    expect(classMaxima(averageScoreMaps([C], { grid: { rows: 2, cols: 2, cellSize: [40, 40] } }))).toEqual([{ classIndex: 0, score: -1, y: 20, x: 20 }]);
    expect(classMaxima(averageScoreMaps([C], { grid: { rows: 1, cols: 1, cellSize: [80, 80] } }))).toEqual([{ classIndex: 0, score: 0, y: NaN, x: NaN }]);
  });
});

describe('maxOverClasses', () => {
  it('keeps, per cell, the highest score among the chosen classes and nothing else', async () => {
    const { maxOverClasses } = await import('../../core/average');
    const avg = {
      rows: 1, cols: 2, classes: 3, imageSize: [10, 20] as [number, number], cellSize: [10, 10] as [number, number],
      coverage: new Uint8Array([1, 1]), mode: 'mean' as const,
      // cell 0: classes 0.1, 0.7, 0.9; cell 1: 0.6, 0.2, 0.95
      scores: new Float32Array([0.1, 0.7, 0.9, 0.6, 0.2, 0.95]),
    };
    const any = maxOverClasses(avg, [0, 1]);
    expect(any.classes).toBe(1);
    expect(Array.from(any.scores)).toEqual([Math.fround(0.7), Math.fround(0.6)]);
    expect(any.coverage).toBe(avg.coverage);
  });
});
