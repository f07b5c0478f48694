/**
 * SEEN_PAINT_RULE (core/detect seenMaps, paintInsideObjects, paintAtFinest): a closed-set model's window
 * that shows a class is painted only inside a box of its class, and there where the windows of the next smaller scale centred inside it also name that class
 * (winning, with evidence above the photo's baseline), and so on down the scales; only where none do
 * is it painted itself. Synthetic flooded maps of three scales from logits; answers worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { averageScoreMaps } from '../../core/average';
import { SEEN_PAINT_RULE, SEEN_RULE, seenMaps } from '../../core/detect';
import { classMapWinners } from '../../core/overlay';
import { cellBox, cellCount, type ScoreMap } from '../../core/scoremap';

function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const LABELS = ['zero', 'one', 'two', 'three'];
const FLOOD = [8, 0, 0, 0];

/**
 * The 256² photo at `scale` (window 48, stride 16 of the scaled photo: windows of 48 / scale photo
 * pixels every 16 / scale), every cell class 0 by 8 nats (the flood) but those `objects` names.
 * Scale 0.1875: one window, the whole photo; 0.375: 4 × 4 windows of 128 px every 42.67 px (centres
 * 64, 106.67, 149.33, 192); 1: 14 × 14 windows of 48 px every 16 (centres 24 + 16 i).
 */
function scaleMap(scale: number, objects: Record<string, number[]> = {}): ScoreMap {
  const side = 256 * scale;
  const rows = cellCount(side, 48, 16);
  const scores = new Float32Array(rows * rows * 4);
  for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) scores.set(softmax(objects[`${i},${j}`] ?? FLOOD), (i * rows + j) * 4);
  return { scale, imageSize: [256, 256], scaledSize: [side, side], rows, cols: rows, classes: 4, scores, geometry: { window: [48, 48], stride: [16, 16], offset: [0, 0] } };
}

/** Every painted cell (some score above 0) of each map: `scale:i,j` → its scores. */
function painted(maps: readonly ScoreMap[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const m of maps) {
    for (let c = 0; c < m.rows * m.cols; c++) {
      const s = [...m.scores.subarray(c * 4, c * 4 + 4)];
      if (s.some((v) => v > 0)) out[`${m.scale}:${Math.floor(c / m.cols)},${c % m.cols}`] = s;
    }
  }
  return out;
}

/** The class map's drawn cells (threshold 0.2, no class clear) of the seen maps, max over scales: `r,c` → label. */
function classMap(maps: readonly ScoreMap[]): Record<string, string> {
  const avg = averageScoreMaps(seenMaps(maps, LABELS), { mode: 'max' });
  const winners = classMapWinners(avg, { threshold: 0.2, clear: new Uint8Array(4) });
  const out: Record<string, string> = {};
  winners.forEach((k, cell) => {
    if (k >= 0) out[`${Math.floor(cell / avg.cols)},${cell % avg.cols}`] = LABELS[k];
  });
  return out;
}

/** Element-wise maximum of score vectors. */
const max = (...v: number[][]): number[] => v[0].map((_, q) => Math.max(...v.map((s) => s[q])));

describe('SEEN_PAINT_RULE: a window is painted at the finest scale that places its class', () => {
  // 213 cells; baselines (0.9 quantile of log-odds) 8 for class 0 and −8 for the others, as in
  // seen.test.ts: a cell winning class 2 by n nats has evidence n + 8 (it passes, and agrees), a cell
  // winning class 0 by n has n − 8 (it agrees above 8, passes from 8 + ln 20 ≈ 11.0).

  it('moves a photo-sized window\'s paint down to the finer windows inside it that name its class', () => {
    // The whole photo's window says two by 12; scale 0.375's cell (2, 1) (window [85.3, 213.3) ×
    // [42.7, 170.7)) by 10; scale 1's cell (6, 4) (window [96, 144) × [64, 112), centre (120, 88), inside
    // the other two) by 11. Each passes (evidence 20, 18, 19) and each finer one lies inside the coarser
    // one's window: the photo's window gives its scores to (2, 1), which gives both to (6, 4).
    const maps = [scaleMap(0.1875, { '0,0': [0, 0, 12, 0] }), scaleMap(0.375, { '2,1': [0, 0, 10, 0] }), scaleMap(1, { '6,4': [0, 0, 11, 0] })];
    expect(cellBox(maps[1], 2, 1).map((v) => +v.toFixed(1))).toEqual([85.3, 42.7, 213.3, 170.7]);
    const seen = painted(seenMaps(maps, LABELS));
    expect(Object.keys(seen)).toEqual(['1:6,4']);
    const expected = max(softmax([0, 0, 12, 0]), softmax([0, 0, 10, 0]), softmax([0, 0, 11, 0]));
    seen['1:6,4'].forEach((v, q) => expect(v).toBeCloseTo(expected[q], 6));
    // The class map: two only around (6, 4)'s centre, grid cell (7, 5) (16 px cells, centre (120, 88));
    // the grid cells 16 px away get (1 − 1) of it. Before the rule the photo's window painted all 256.
    expect(classMap(maps)).toEqual({ '7,5': 'two' });
  });

  it('skips a scale that does not name the class and paints at the next one that does', () => {
    // Scale 0.375 is all flood: nothing there names two; scale 1's (6, 4) does.
    const maps = [scaleMap(0.1875, { '0,0': [0, 0, 12, 0] }), scaleMap(0.375), scaleMap(1, { '6,4': [0, 0, 11, 0] })];
    const seen = painted(seenMaps(maps, LABELS));
    expect(Object.keys(seen)).toEqual(['1:6,4']);
    expect(classMap(maps)).toEqual({ '7,5': 'two' });
  });

  it('moves paint to a finer window that names the class above the photo\'s baseline but does not pass, never to the flood', () => {
    // The photo's window says zero (the flood's class) by 12: evidence 4, passes. Scale 0.375's (1, 2)
    // says zero by 10: evidence 2, above the baseline but not ln 20 (it is not drawn by itself); every
    // other cell is flood, evidence 0 (not above the baseline: does not agree). Scale 1's cells inside
    // (1, 2)'s window are flood too: (1, 2) keeps the photo's window's scores.
    const maps = [scaleMap(0.1875, { '0,0': [12, 0, 0, 0] }), scaleMap(0.375, { '1,2': [10, 0, 0, 0] }), scaleMap(1)];
    const seen = painted(seenMaps(maps, LABELS));
    expect(Object.keys(seen)).toEqual(['0.375:1,2']);
    softmax([12, 0, 0, 0]).forEach((v, q) => expect(seen['0.375:1,2'][q]).toBeCloseTo(v, 6));
    // Without (1, 2) the window finds no finer window naming zero above the baseline and keeps its paint.
    const alone = painted(seenMaps([scaleMap(0.1875, { '0,0': [12, 0, 0, 0] }), scaleMap(0.375), scaleMap(1)], LABELS));
    expect(Object.keys(alone)).toEqual(['0.1875:0,0']);
  });

  it('paints a window itself where no finer window inside it names its class: a photo filled by one object still shows it', () => {
    // Scale 0.375's (0, 0), window [0, 128)², says two by 10; scale 1 names two only at (10, 10), centred
    // at 184, outside that window. Both keep their own paint.
    const maps = [scaleMap(0.375, { '0,0': [0, 0, 10, 0] }), scaleMap(1, { '10,10': [0, 0, 11, 0] })];
    expect(Object.keys(painted(seenMaps(maps, LABELS))).sort()).toEqual(['0.375:0,0', '1:10,10']);
    // One window on the whole photo and nothing finer that names its class: the whole photo shows it.
    const whole = classMap([scaleMap(0.1875, { '0,0': [0, 0, 12, 0] }), scaleMap(1)]);
    expect(Object.keys(whole).length).toBe(256);
    expect(new Set(Object.values(whole))).toEqual(new Set(['two']));
  });

  it('paints a window on a part of an object that names another class only where it is surer than the whole by more than the area ratio\'s log', () => {
    // As above, and scale 1's (2, 2), window [32, 80)² inside the two window, names one. Ranks (evidence
    // over the baselines −8 of classes 1–3, plus ln of the window's area): the two window 10 + 8 + ln 128²
    // = 27.70; the one window by 11: 11 + 8 + ln 48² = 26.74, below the whole, so no box of one holds it
    // (it is no peak over scale, and the two box holds it): it is not painted, the two window is.
    const part = (by: number): ScoreMap[] => [scaleMap(0.375, { '0,0': [0, 0, 10, 0] }), scaleMap(1, { '10,10': [0, 0, 11, 0], '2,2': [0, by, 0, 0] })];
    expect(Object.keys(painted(seenMaps(part(11), LABELS))).sort()).toEqual(['0.375:0,0', '1:10,10']);
    // By 15 it ranks 30.74 above the whole's 27.70: the one box is kept and the two window, whose centre
    // (64, 64) then lies in no box of two, is not painted.
    expect(Object.keys(painted(seenMaps(part(15), LABELS))).sort()).toEqual(['1:10,10', '1:2,2']);
  });

  it('is one sentence, said beside SEEN_RULE', () => {
    expect(SEEN_PAINT_RULE.split('. ').length).toBe(1);
    expect(SEEN_PAINT_RULE).not.toBe(SEEN_RULE);
  });
});
