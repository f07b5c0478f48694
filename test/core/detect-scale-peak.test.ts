/**
 * SEEN_RULE's peak over scale (core/detect scaleBoxes): a closed-set model's box stands only where no
 * cell of the next smaller or larger scale, centred within half of the box's window of its centre,
 * ranks higher (evidence + ln window area). Synthetic flooded maps from logits; answers worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { scaleBoxes } from '../../core/detect';
import { cellBox, cellCount, type ScoreMap } from '../../core/scoremap';

function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/**
 * The 256² photo at `scale` (window 48, stride 16 of the scaled photo: windows of 48 / scale photo
 * pixels every 16 / scale), every cell class 0 by 8 nats (the flood) but those `objects` names.
 */
function scaleMap(scale: number, objects: Record<string, number[]>): ScoreMap {
  const side = 256 * scale;
  const rows = cellCount(side, 48, 16);
  const scores = new Float32Array(rows * rows * 4);
  for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) scores.set(softmax(objects[`${i},${j}`] ?? [8, 0, 0, 0]), (i * rows + j) * 4);
  return { scale, imageSize: [256, 256], scaledSize: [side, side], rows, cols: rows, classes: 4, scores, geometry: { window: [48, 48], stride: [16, 16], offset: [0, 0] } };
}

const where = (maps: ScoreMap[]) => (b: { classIndex: number; mapIndex: number; box: number[] }): unknown[] => [b.classIndex, maps[b.mapIndex].scale, b.box];

describe('SEEN_RULE: a box is a peak over scale as well as position', () => {
  // Baselines (0.9 quantile of log-odds over the cells of all maps) are 8 for class 0 and −8 for the
  // others, as in seen.test.ts, so a cell winning by n nats has evidence n + 8.
  // The whole object: scale 0.5's cell (2, 2), window [64, 160)², centre 112, class 2 by 10 nats: rank
  // 18 + ln 96² = 27.13. A part: scale 1's cell (5, 5), window [80, 128)², centre 104, class 1.

  it('drops the part when the next scale\'s whole window, centred within half the part\'s window, ranks higher', () => {
    // Part by 11 nats: rank 19 + ln 48² = 26.74 < 27.13, and |112 − 104| = 8 ≤ 24: dropped. The whole
    // is kept: the part's cell, |104 − 112| = 8 ≤ 48 from its centre, ranks lower.
    const maps = [scaleMap(1, { '5,5': [0, 11, 0, 0] }), scaleMap(0.5, { '2,2': [0, 0, 10, 0] })];
    expect(cellBox(maps[1], 2, 2)).toEqual([64, 64, 160, 160]);
    expect(scaleBoxes(maps, [0, 1, 2, 3], 0.5, 'seen').map(where(maps))).toEqual([[2, 0.5, [64, 64, 160, 160]]]);
  });

  it('drops the whole window when the part ranks higher (by more than ln 4 nats of evidence)', () => {
    // Part by 12 nats: rank 27.74 > 27.13.
    const maps = [scaleMap(1, { '5,5': [0, 12, 0, 0] }), scaleMap(0.5, { '2,2': [0, 0, 10, 0] })];
    expect(scaleBoxes(maps, [0, 1, 2, 3], 0.5, 'seen').map(where(maps))).toEqual([[1, 1, [80, 80, 128, 128]]]);
  });

  it('keeps both when the other scale\'s window is centred more than half a window away', () => {
    // The part at scale 1's cell (1, 1): window [16, 64)², centre 40; |112 − 40| = 72 > 48 and > 24.
    const maps = [scaleMap(1, { '1,1': [0, 11, 0, 0] }), scaleMap(0.5, { '2,2': [0, 0, 10, 0] })];
    expect(scaleBoxes(maps, [0, 1, 2, 3], 0.5, 'seen').map(where(maps))).toEqual([[1, 1, [16, 16, 64, 64]], [2, 0.5, [64, 64, 160, 160]]]);
  });

  it('compares only neighbouring scales: a scale in between decides nothing for scales two steps apart', () => {
    // Scales 1, 0.5 and 0.25 (given out of order). The whole at scale 0.25's cell (0, 0), window
    // [0, 192)², centre 96, class 2 by 10 nats (rank 18 + ln 192² = 28.52); the part at scale 1's cell
    // (4, 4), window [64, 112)², centre 88, class 1 by 11 (rank 26.74). Scale 0.5, between them, is all
    // flood (evidence 0 or −10 + 8 − 8): both are kept.
    const maps = [scaleMap(0.25, { '0,0': [0, 0, 10, 0] }), scaleMap(1, { '4,4': [0, 11, 0, 0] }), scaleMap(0.5, {})];
    expect(cellBox(maps[0], 0, 0)).toEqual([0, 0, 192, 192]);
    expect(scaleBoxes(maps, [0, 1, 2, 3], 0.5, 'seen').map(where(maps))).toEqual([[2, 0.25, [0, 0, 192, 192]], [1, 1, [64, 64, 112, 112]]]);
  });
});
