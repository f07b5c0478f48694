/**
 * SEEN_RULE (core/detect): for a classifier without a background class, a cell shows its winning class
 * only where that class's log-odds over the runner-up exceed the photo's baseline (the 0.9 quantile
 * over its windows) by ln 20. Synthetic maps built from logits, with answers worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { BASELINE_QUANTILE, classBaselines, closedSet, detect, SEEN_MARGIN, SEEN_RULE, seenMaps, WINDOW_AREA_PRIOR } from '../../core/detect';
import { cellBox, cellCount, type ScoreMap } from '../../core/scoremap';

/** Softmax of logits, as the engine's maps hold it. */
function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** A 256² photo at scale 1, window 48, stride 16: 14 × 14 cells; `logits(i, j)` gives each cell's logits. */
function logitMap(classes: number, logits: (i: number, j: number) => number[]): ScoreMap {
  const rows = cellCount(256, 48, 16);
  const cols = rows;
  const scores = new Float32Array(rows * cols * classes);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) scores.set(softmax(logits(i, j)), (i * cols + j) * classes);
  return { scale: 1, imageSize: [256, 256], scaledSize: [256, 256], rows, cols, classes, scores, geometry: { window: [48, 48], stride: [16, 16], offset: [0, 0] } };
}

const LABELS = ['zero', 'one', 'two', 'three'];

/**
 * The flood: every cell says class 0 by 8 nats (p ≈ 0.999), as a closed-set classifier does on empty
 * background. Objects: (3, 3) class 2 by 10 nats; (9, 9) class 0 by 14 nats (the flood's class, much
 * stronger); (5, 11) class 1 by 1 nat over class 0 (a weak one of a class named nowhere else); and
 * (12, 2) class 0 by 9 nats (the flood's class, hardly stronger).
 */
const OBJECTS: Record<string, number[]> = { '3,3': [0, 0, 10, 0], '9,9': [14, 0, 0, 0], '5,11': [8, 9, 0, 0], '12,2': [9, 0, 0, 0] };
const flood = (): ScoreMap => logitMap(4, (i, j) => OBJECTS[`${i},${j}`] ?? [8, 0, 0, 0]);

describe('SEEN_RULE on a flooded map', () => {
  it('has baselines worked by hand: the 0.9 quantile of each class\'s log-odds over the 196 cells', () => {
    // Class 0: 192 flood cells give 8, (9, 9) 14, (12, 2) 9, (3, 3) 0 − 10 = −10, (5, 11) 8 − 9 = −1.
    // Sorted, the 0.9 quantile sits at index 0.9 · 195 = 175.5, among the 8s. Classes 1–3: ln p − ln p_top
    // is −8 on the 192 flood cells, and only one cell each is higher ((5, 11) +1 for class 1, (3, 3) +10
    // for class 2): the 0.9 quantile is −8.
    expect(BASELINE_QUANTILE).toBe(0.9);
    const b = classBaselines([flood()]);
    expect(b[0]).toBeCloseTo(8, 4);
    expect(b[1]).toBeCloseTo(-8, 4);
    expect(b[2]).toBeCloseTo(-8, 4);
    expect(b[3]).toBeCloseTo(-8, 4);
  });

  it('detects the three objects that stand out and nothing of the flood', () => {
    // Evidence: (3, 3) 10 − (−8) = 18; (9, 9) 14 − 8 = 6; (5, 11) (9 − 8) − (−8) = 9; all ≥ ln 20 ≈ 3.0.
    // (12, 2): 9 − 8 = 1 < 3.0, and every flood cell 8 − 8 = 0: not seen.
    const m = flood();
    const dets = detect([m], { threshold: 0.5, labels: LABELS });
    expect(dets.map((d) => [d.label, d.box, Number(d.evidence?.toFixed(3))])).toEqual([
      ['two', cellBox(m, 3, 3), 18],
      ['one', cellBox(m, 5, 11), 9],
      ['zero', cellBox(m, 9, 9), 6],
    ]);
    // Without the rule, probability peaks: (12, 2), which hardly differs from the flood (p 0.9996 against
    // 0.9990), is a box of the flood's class too.
    const flooded = detect([m], { threshold: 0.5, labels: LABELS, reject: false });
    expect(flooded.filter((d) => d.classIndex === 0).map((d) => d.box)).toContainEqual(cellBox(m, 12, 2));
  });

  it('draws nothing on the cells that do not stand out, and keeps the seen cells\' scores', () => {
    const m = flood();
    const [seen] = seenMaps([m], LABELS);
    const drawn: string[] = [];
    for (let i = 0; i < m.rows; i++) {
      for (let j = 0; j < m.cols; j++) {
        const cell = seen.scores.subarray((i * m.cols + j) * 4, (i * m.cols + j + 1) * 4);
        if (cell.some((v) => v > 0)) {
          drawn.push(`${i},${j}`);
          expect([...cell]).toEqual([...m.scores.subarray((i * m.cols + j) * 4, (i * m.cols + j + 1) * 4)]);
        }
      }
    }
    expect(drawn.sort()).toEqual(['3,3', '5,11', '9,9']);
    expect(m.scores.every((v) => v > 0)).toBe(true); // the input is untouched
  });
});

describe('SEEN_RULE on logits', () => {
  it('reads a graph without a final softmax (scores outside [0, 1]) by its logits: the maximum logit against the photo\'s, scores as probabilities', () => {
    const raw = flood();
    const logits = { ...raw, scores: new Float32Array(raw.rows * raw.cols * 4) };
    for (let i = 0; i < raw.rows; i++) for (let j = 0; j < raw.cols; j++) logits.scores.set(OBJECTS[`${i},${j}`] ?? [8, 0, 0, 0], (i * raw.cols + j) * 4);
    // Baselines, 0.9 quantile of each class's logit: class 0 is 8 on 193 cells ((5, 11) included), 0, 9
    // and 14 on the others → 8; classes 1–3 are 0 on all but one cell each → 0.
    expect([...classBaselines([logits])]).toEqual([8, 0, 0, 0]);
    // Evidence z_win − baseline: (3, 3) 10 − 0, (5, 11) 9 − 0, (9, 9) 14 − 8 = 6; (12, 2) 9 − 8 = 1 and the
    // flood 0 are under ln 20. The boxes are those of the softmax of the same logits, with the same
    // scores: the probability of the class (the detection threshold is a probability, not a logit).
    const fromLogits = detect([logits], { threshold: 0.5, labels: LABELS });
    expect(fromLogits.map((d) => [d.label, d.box, Number(d.evidence?.toFixed(3))])).toEqual([
      ['two', cellBox(raw, 3, 3), 10],
      ['one', cellBox(raw, 5, 11), 9],
      ['zero', cellBox(raw, 9, 9), 6],
    ]);
    const fromSoftmax = detect([raw], { threshold: 0.5, labels: LABELS });
    const where = (d: { label?: string; box: number[]; score: number }): unknown[] => [d.label, d.box, Number(d.score.toFixed(5))];
    expect(fromLogits.map(where)).toEqual(fromSoftmax.map(where));
    expect(fromLogits[0].score).toBeCloseTo(Math.exp(10) / (Math.exp(10) + 3), 5);
  });

  it('tells a weak window by its logit where the ratio alone would pass it', () => {
    // On a background of logits 0, one cell wins by 4 nats but with logit 1 (the others −3): its log-odds
    // would stand out, its logit 1 − 0 does not; another wins with logit 6: it does.
    const m = logitMap(4, () => [0, 0, 0, 0]);
    const logits = { ...m, scores: new Float32Array(m.rows * m.cols * 4) };
    logits.scores.set([1, -3, -3, -3], (2 * m.cols + 2) * 4);
    logits.scores.set([0, 0, 6, 0], (8 * m.cols + 8) * 4);
    expect(detect([logits], { threshold: 0.5, labels: LABELS }).map((d) => [d.label, d.box])).toEqual([['two', cellBox(m, 8, 8)]]);
  });
});

/** The 256² photo at scale 0.5 (128², window 48 → 96 px of the photo, stride 32 px): 6 × 6 cells. */
function halfScaleMap(classes: number, logits: (i: number, j: number) => number[]): ScoreMap {
  const rows = cellCount(128, 48, 16);
  const scores = new Float32Array(rows * rows * classes);
  for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) scores.set(softmax(logits(i, j)), (i * rows + j) * classes);
  return { scale: 0.5, imageSize: [256, 256], scaledSize: [128, 128], rows, cols: rows, classes, scores, geometry: { window: [48, 48], stride: [16, 16], offset: [0, 0] } };
}

describe('SEEN_RULE: a whole object against a part of it', () => {
  // The flood (class 0 by 8 nats) at scales 1 and 0.5. The whole object: class 2 by 10 nats in the 96 px
  // window of scale 0.5's cell (2, 2), photo pixels [64, 160)². A part of it: scale 1's cell (5, 5), the
  // 48 px window [80, 128)² inside it, read as class 1 by `part` nats. Baselines over the 232 cells: −8
  // for classes 1 and 2 (as above), so the evidence is 10 + 8 = 18 for the whole and part + 8 for the part.
  const scenes = (part: number): ScoreMap[] => [
    logitMap(4, (i, j) => (i === 5 && j === 5 ? [0, part, 0, 0] : [8, 0, 0, 0])),
    halfScaleMap(4, (i, j) => (i === 2 && j === 2 ? [0, 0, 10, 0] : [8, 0, 0, 0])),
  ];

  it('keeps the whole object\'s window when the part is surer by less than ln(96² / 48²) = ln 4 nats', () => {
    // Part by 11 nats: evidence 19 against 18; ranks 19 + ln 48² = 26.74 against 18 + ln 96² = 27.13.
    expect(WINDOW_AREA_PRIOR).toBe(1);
    const maps = scenes(11);
    const dets = detect(maps, { threshold: 0.5, labels: LABELS });
    expect(dets.map((d) => [d.label, d.box, Number(d.evidence?.toFixed(3))])).toEqual([['two', cellBox(maps[1], 2, 2), 18]]);
    expect(cellBox(maps[1], 2, 2)).toEqual([64, 64, 160, 160]);
  });

  it('keeps the part when it is surer by more than ln 4 nats', () => {
    // Part by 12 nats: evidence 20, rank 20 + ln 48² = 27.74 against 27.13.
    const maps = scenes(12);
    const dets = detect(maps, { threshold: 0.5, labels: LABELS });
    expect(dets.map((d) => [d.label, d.box, Number(d.evidence?.toFixed(3))])).toEqual([['one', cellBox(maps[0], 5, 5), 20]]);
  });
});

describe('SEEN_RULE is about the photo, not about black or digits', () => {
  it('rejects a two-class texture flood (a checkerboard of classes 0 and 1, 6 nats each) and finds an object on it', () => {
    // Per class the log-odds are +6 on its half of the cells and −6 on the other: a median (0) would let
    // every flood cell through by 6 nats; the 0.9 quantile is +6, so only the object (class 3 by 12
    // nats: evidence 12 − (−6) = 18) stands out.
    const m = logitMap(4, (i, j) => (i === 7 && j === 7 ? [0, 0, 0, 12] : (i + j) % 2 ? [6, 0, 0, 0] : [0, 6, 0, 0]));
    const b = classBaselines([m]);
    expect(b[0]).toBeCloseTo(6, 4);
    expect(b[1]).toBeCloseTo(6, 4);
    const dets = detect([m], { threshold: 0.5, labels: LABELS });
    expect(dets.map((d) => [d.label, d.box])).toEqual([['three', cellBox(m, 7, 7)]]);
  });

  it('leaves a model with a background class alone: it says itself where nothing is', () => {
    const labels = ['zero', 'one', 'two', 'background'];
    expect(closedSet(labels)).toBe(false);
    expect(closedSet(LABELS)).toBe(true);
    const m = flood();
    expect(seenMaps([m], labels)[0].scores).toEqual(m.scores);
    expect(detect([m], { threshold: 0.5, labels })).toEqual(detect([m], { threshold: 0.5, labels, reject: false }));
  });

  it('is said in one sentence, with its margin', () => {
    expect(SEEN_MARGIN).toBeCloseTo(Math.log(20), 12);
    expect(SEEN_RULE.split('. ').length).toBe(1);
    expect(SEEN_RULE).toMatch(/ln 20/);
  });
});

describe('a model that gives logits (a graph without a final softmax)', () => {
  /** The same 14 × 14 map as logitMap, holding the logits themselves. */
  function rawLogitMap(classes: number, logits: (i: number, j: number) => number[]): ScoreMap {
    const m = logitMap(classes, () => new Array<number>(classes).fill(0));
    for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) m.scores.set(logits(i, j), (i * m.cols + j) * classes);
    return m;
  }
  const at = (m: ScoreMap, i: number, j: number): number[] => Array.from(m.scores.subarray((i * m.cols + j) * m.classes, (i * m.cols + j + 1) * m.classes));

  it('is drawn as probabilities: a class whose logit passes 1 where another class wins is not lit there', () => {
    // Flood: class 0 at logit 8 everywhere. A (3, 3): class 2 at 12 with class 0 at 3 beside it; B (9, 9): class 0 at 16.
    const objects: Record<string, number[]> = { '3,3': [3, 0, 12, 0], '9,9': [16, 0, 0, 0] };
    const m = rawLogitMap(4, (i, j) => objects[`${i},${j}`] ?? [8, 0, 0, 0]);
    const [seen] = seenMaps([m], LABELS);
    // Both objects stand out (class 2: 12 − 0 ≥ ln 20 over a baseline of 0; class 0: 16 − 8) and are drawn with their softmax.
    at(seen, 3, 3).forEach((v, k) => expect(v).toBeCloseTo(softmax(objects['3,3'])[k], 6));
    at(seen, 9, 9).forEach((v, k) => expect(v).toBeCloseTo(softmax(objects['9,9'])[k], 6));
    // Class 0's map at A: e^3 / (e^3 + e^12 + 2) ≈ 1.2e-4, not its logit 3 (which the 0–1 scale drew as 1).
    expect(at(seen, 3, 3)[0]).toBeLessThan(1e-3);
    // The flood is drawn as nothing, as for probabilities.
    expect(at(seen, 0, 0)).toEqual([0, 0, 0, 0]);
    // The input is not changed.
    expect(at(m, 3, 3)).toEqual(objects['3,3']);
  });

  it('is drawn as probabilities for a model with a background class too, which the rule leaves alone', () => {
    const labels = ['background', 'cat', 'dog'];
    const m = rawLogitMap(3, (i, j) => (i === 4 && j === 6 ? [-1, 5, 2] : [4, 0, 1]));
    const [seen] = seenMaps([m], labels);
    at(seen, 4, 6).forEach((v, k) => expect(v).toBeCloseTo(softmax([-1, 5, 2])[k], 6));
    at(seen, 0, 0).forEach((v, k) => expect(v).toBeCloseTo(softmax([4, 0, 1])[k], 6));
  });
});

describe('a binary classifier that gives one logit (no final sigmoid)', () => {
  it('is drawn as its sigmoid, not as a softmax over one class (which is 1 everywhere)', () => {
    // One class: the map is its logit, −3 everywhere but (6, 6) at +4.
    const m = logitMap(1, () => [0]);
    for (let c = 0; c < m.rows * m.cols; c++) m.scores[c] = c === 6 * m.cols + 6 ? 4 : -3;
    const [seen] = seenMaps([m], ['weapon']);
    expect(seen.scores[6 * m.cols + 6]).toBeCloseTo(1 / (1 + Math.exp(-4)), 6);
    // Elsewhere the logit is the photo's baseline: not seen, drawn as nothing (before SEEN_RULE, a softmax would have drawn 1).
    expect(seen.scores[0]).toBe(0);
    // Its one box has the sigmoid as its score.
    const dets = detect([m], { threshold: 0.5, labels: ['weapon'] });
    expect(dets.map((d) => [d.label, Number(d.score.toFixed(6))])).toEqual([['weapon', Number((1 / (1 + Math.exp(-4))).toFixed(6))]]);
  });
});
