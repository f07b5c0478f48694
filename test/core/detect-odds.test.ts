/**
 * BOX_RULE (core/detect): boxes of a model WITH a background class need their class's log-odds over
 * the runner-up (background or another class) to reach ln 5, and overlapping boxes are ranked by those
 * log-odds rather than by probability. Synthetic maps from logits, answers worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { BOX_MARGIN, BOX_RULE, detect } from '../../core/detect';
import { cellBox, cellCount, type ScoreMap } from '../../core/scoremap';

function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** A 256² photo at scale 1, window 48, stride 16 (14 × 14 cells); `cell(i, j)` gives a cell's scores as they are stored. */
function map(classes: number, cell: (i: number, j: number) => number[]): ScoreMap {
  const rows = cellCount(256, 48, 16);
  const scores = new Float32Array(rows * rows * classes);
  for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) scores.set(cell(i, j), (i * rows + j) * classes);
  return { scale: 1, imageSize: [256, 256], scaledSize: [256, 256], rows, cols: rows, classes, scores, geometry: { window: [48, 48], stride: [16, 16], offset: [0, 0] } };
}

describe('BOX_RULE for a model with a background class', () => {
  it('needs the class 5 times as likely as the runner-up: p 0.9 over background 0.1 passes, 0.8 over 0.2 does not', () => {
    // ln(0.9 / 0.1) = 2.197 ≥ ln 5 = 1.609; ln(0.8 / 0.2) = 1.386 < 1.609. Both are over the 0.5 threshold.
    const labels = ['background', 'cat'];
    const m = map(2, (i, j) => (i === 3 && j === 3 ? [0.1, 0.9] : i === 10 && j === 10 ? [0.2, 0.8] : [0.95, 0.05]));
    const dets = detect([m], { threshold: 0.5, labels });
    expect(dets.map((d) => [d.label, d.box, Number(d.logOdds?.toFixed(3))])).toEqual([['cat', cellBox(m, 3, 3), Number(Math.log(9).toFixed(3))]]);
    expect(dets[0].evidence).toBeUndefined();
    // Without the rule both probability peaks are boxes.
    expect(detect([m], { threshold: 0.5, labels, logOdds: false }).map((d) => d.box)).toEqual([cellBox(m, 3, 3), cellBox(m, 10, 10)]);
  });

  it('ranks overlapping boxes by log-odds: the less probable but clearer class wins the place', () => {
    // Cell (5, 5): 'a' 0.97 over 'c' 0.03, log-odds ln(0.97 / 0.03) = 3.48. Cell (5, 6), overlapping it
    // (IoU 32·48 / (2·48² − 32·48) = 0.5): 'b' 0.96 over 0.04 / 3 each, log-odds ln 72 = 4.28. By probability
    // 'a' would be kept and 'b' suppressed; by log-odds it is the other way round.
    const labels = ['a', 'b', 'c', 'background'];
    const m = map(4, (i, j) => (i === 5 && j === 5 ? [0.97, 0, 0.03, 0] : i === 5 && j === 6 ? [0.04 / 3, 0.96, 0.04 / 3, 0.04 / 3] : [0, 0, 0, 1]));
    expect(detect([m], { threshold: 0.5, labels }).map((d) => [d.label, d.box, Number(d.logOdds?.toFixed(2))])).toEqual([['b', cellBox(m, 5, 6), 4.28]]);
    expect(detect([m], { threshold: 0.5, labels, logOdds: false }).map((d) => [d.label, d.box])).toEqual([['a', cellBox(m, 5, 5)]]);
  });

  it('reads logits (a graph without a final softmax) by the winning logit\'s margin over the runner-up', () => {
    // Logits [bg, one, two]: (2, 2) [0, 3, 1] → margin 2 ≥ ln 5, softmax 0.84 ≥ 0.5: a box; (9, 9) [0, 1.5, 0]
    // → margin 1.5 < ln 5 (softmax 0.69): none. The box's score is the softmax of its logits.
    const labels = ['background', 'one', 'two'];
    const m = map(3, (i, j) => (i === 2 && j === 2 ? [0, 3, 1] : i === 9 && j === 9 ? [0, 1.5, 0] : [4, 0, 0]));
    const dets = detect([m], { threshold: 0.5, labels });
    expect(dets.map((d) => [d.label, d.box, d.logOdds])).toEqual([['one', cellBox(m, 2, 2), 2]]);
    expect(dets[0].score).toBeCloseTo(softmax([0, 3, 1])[1], 6);
  });

  it('leaves closed-set models to SEEN_RULE and is said in one sentence with its margin', () => {
    const m = map(2, (i, j) => (i === 3 && j === 3 ? [0.1, 0.9] : [0.95, 0.05]));
    expect(detect([m], { threshold: 0.5, labels: ['zero', 'one'] }).every((d) => d.logOdds === undefined && d.evidence !== undefined)).toBe(true);
    expect(BOX_MARGIN).toBeCloseTo(Math.log(5), 12);
    expect(BOX_RULE.split('. ').length).toBe(1);
    expect(BOX_RULE).toMatch(/5 times as likely/);
  });
});
