import { describe, expect, it } from 'vitest';
import { averageScoreMaps } from '../../core/average';
import { defaultClasses, detect, findPeaks, iou, matchDetections, mergeScaleBoxes, nms, scaleBoxes } from '../../core/detect';
import { cellBox, cellCount, type Box, type ScoreMap } from '../../core/scoremap';

function makeMap(imageSize: [number, number], scaledSize: [number, number], window: number, stride: number, classes: number, fill: (i: number, j: number, k: number) => number): ScoreMap {
  const rows = cellCount(scaledSize[0], window, stride);
  const cols = cellCount(scaledSize[1], window, stride);
  const scores = new Float32Array(rows * cols * classes);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < classes; k++) scores[(i * cols + j) * classes + k] = fill(i, j, k);
  return { scale: scaledSize[0] / imageSize[0], imageSize, scaledSize, rows, cols, classes, scores, geometry: { window: [window, window], stride: [stride, stride], offset: [0, 0] } };
}

/**
 * 256² photo at scale 1, window 48, stride 16 → 14 × 14 cells whose centres (24 + 16i) sit on the
 * centres of default grid rows i + 1 (8 + 16r). Class 1 ('cat') has the given peaks on a 0.1 floor;
 * class 0 ('background') is 1 − cat.
 */
function catMap(peaks: Record<string, number>): ScoreMap {
  return makeMap([256, 256], [256, 256], 48, 16, 2, (i, j, k) => {
    const cat = peaks[`${i},${j}`] ?? 0.1;
    return k === 1 ? cat : 1 - cat;
  });
}
const box = (i: number, j: number): Box => [16 * i, 16 * j, 16 * i + 48, 16 * j + 48];

describe('detect: single scale', () => {
  const twoCats = catMap({ '2,3': 0.9, '1,3': 0.5, '3,3': 0.5, '2,2': 0.5, '2,4': 0.5, '10,9': 0.7 });
  const labels = ['background', 'cat'];

  it('finds two separated peaks with their cells’ windows, skipping the background', () => {
    const dets = detect([twoCats], { threshold: 0.5, labels, logOdds: false });
    expect(dets).toEqual([
      { classIndex: 1, label: 'cat', score: Math.fround(0.9), box: box(2, 3), centre: [56, 72], mapIndex: 0, support: 1 },
      { classIndex: 1, label: 'cat', score: Math.fround(0.7), box: box(10, 9), centre: [184, 168], mapIndex: 0, support: 1 },
    ]);
    expect(box(2, 3)).toEqual(cellBox(twoCats, 2, 3));
  });

  it.each([
    { threshold: 0.05, scores: [0.9, 0.7] }, // the 0.1 floor is a plateau with higher neighbours: no peak
    { threshold: 0.65, scores: [0.9, 0.7] },
    { threshold: 0.75, scores: [0.9] },
    { threshold: 0.95, scores: [] },
  ])('threshold $threshold keeps $scores', ({ threshold, scores }) => {
    expect(detect([twoCats], { threshold, labels, logOdds: false }).map((d) => d.score)).toEqual(scores.map(Math.fround));
  });

  it('searches the background too when no labels say which class it is', () => {
    // background = 0.9 on one connected plateau (everything but the cats) → one peak; perClass keeps it apart from the cats.
    const dets = detect([twoCats], { threshold: 0.5, perClass: true });
    expect(dets.map((d) => d.classIndex).sort()).toEqual([0, 1, 1]);
    expect(dets.every((d) => d.label === undefined)).toBe(true);
    expect(detect([twoCats], { threshold: 0.5, classes: [1] })).toHaveLength(2);
  });

  it.each([
    { iouThreshold: 0.1, kept: [0.9] },
    { iouThreshold: 0.3, kept: [0.9, 0.8] },
  ])('NMS at $iouThreshold: neighbouring peaks whose boxes overlap by IoU 0.2', ({ iouThreshold, kept }) => {
    // boxes [80,80,128,128] and [80,112,128,160]: intersection 48·16 = 768, union 2·48² − 768 = 3840 → 0.2.
    const m = catMap({ '5,5': 0.9, '5,7': 0.8, '5,6': 0.3 });
    expect(iou(box(5, 5), box(5, 7))).toBeCloseTo(0.2, 12);
    const dets = detect([m], { threshold: 0.5, iou: iouThreshold, labels, logOdds: false });
    expect(dets.map((d) => d.score)).toEqual(kept.map(Math.fround));
    expect(dets[0].box).toEqual(box(5, 5));
  });

  it('a plateau gives one peak at the cell nearest its centroid', () => {
    const m = catMap({ '4,4': 0.6, '4,5': 0.6, '4,6': 0.6 });
    const dets = detect([m], { threshold: 0.5, labels, logOdds: false });
    expect(dets).toHaveLength(1);
    expect(dets[0].box).toEqual(box(4, 5));
  });

  it('rejects unknown classes', () => {
    expect(() => detect([twoCats], { threshold: 0.5, classes: [2] })).toThrow(/class 2/);
  });
});

describe('detect: several scales (accumulate every scale\'s boxes, merge one object\'s, suppress)', () => {
  // A: scale 1, window 48, stride 16: cell (i, j) is [16i, 16j, 16i + 48, 16j + 48), centre 24 + 16i.
  // B: scale 0.5 of the same net: in original pixels window 96, stride 32: [32i, 32j, 32i + 96, 32j + 96), centre 48 + 32i.
  const A = (cells: Record<string, number>, classes = 1, k = 0) => makeMap([256, 256], [256, 256], 48, 16, classes, (i, j, c) => (c === k ? (cells[`${i},${j}`] ?? 0.1) : 0.1));
  const B = (cells: Record<string, number>, classes = 1, k = 0) => makeMap([256, 256], [128, 128], 48, 16, classes, (i, j, c) => (c === k ? (cells[`${i},${j}`] ?? 0.1) : 0.1));
  const f = Math.fround;
  /** A box of side `side` centred on (cy, cx). */
  const around = (cy: number, cx: number, side: number): Box => [cy - side / 2, cx - side / 2, cy + side / 2, cx + side / 2];
  const expectBox = (got: Box, want: Box) => got.forEach((v, q) => expect(v).toBeCloseTo(want[q], 9));

  it('accumulates each scale\'s peaks as that scale\'s windows in original pixels', () => {
    const a = A({ '3,3': 0.8 });
    const b = B({ '1,1': 0.6 });
    expect(cellBox(b, 1, 1)).toEqual([32, 32, 128, 128]);
    expect(scaleBoxes([a, b], [0], 0.3)).toEqual([
      { classIndex: 0, score: f(0.8), box: [48, 48, 96, 96], mapIndex: 0 },
      { classIndex: 0, score: f(0.6), box: [32, 32, 128, 128], mapIndex: 1 },
    ]);
  });

  it('one object at two scales (each centre inside the other\'s window) → one box: the stronger window\'s size, at the score-weighted centre', () => {
    // Centres (72, 72) and (80, 80): (0.8 · 72 + 0.6 · 80) / 1.4 = 75.43.
    const dets = detect([A({ '3,3': 0.8 }), B({ '1,1': 0.6 })], { threshold: 0.3 });
    expect(dets).toHaveLength(1);
    const c = (f(0.8) * 72 + f(0.6) * 80) / (f(0.8) + f(0.6));
    expect(c).toBeCloseTo(75.428571, 5);
    expectBox(dets[0].box, around(c, c, 48));
    expect(dets[0]).toMatchObject({ classIndex: 0, score: f(0.8), mapIndex: 0, support: 2 });
    expect(dets[0].centre[0]).toBeCloseTo(c, 9);
  });

  it('the stronger scale decides the size: B at 0.9 gives a 96-px box, pulled towards A\'s centre', () => {
    const dets = detect([A({ '3,3': 0.8 }), B({ '1,1': 0.9 })], { threshold: 0.3 });
    expect(dets).toHaveLength(1);
    const c = (f(0.9) * 80 + f(0.8) * 72) / (f(0.9) + f(0.8)); // 76.24
    expectBox(dets[0].box, around(c, c, 96));
    expect(dets[0]).toMatchObject({ score: f(0.9), mapIndex: 1, support: 2 });
  });

  it('two objects apart → two boxes; an object seen at one scale only keeps its own window and score', () => {
    const dets = detect([A({ '3,3': 0.8, '10,10': 0.7 }), B({ '1,1': 0.6 })], { threshold: 0.3 });
    expect(dets.map((d) => [d.score, d.support])).toEqual([[f(0.8), 2], [f(0.7), 1]]);
    expect(dets[1].box).toEqual([160, 160, 208, 208]);
    // Only the small scale sees it: the large one's 0.1 does not pull it down.
    const one = detect([A({}), B({ '1,1': 0.9 })], { threshold: 0.5 });
    expect(one).toEqual([{ classIndex: 0, score: f(0.9), box: [32, 32, 128, 128], centre: [80, 80], mapIndex: 1, support: 1 }]);
  });

  it('neighbouring windows of one scale whose centres lie outside each other stay two (IoU 0.2 < NMS 0.3)', () => {
    const dets = detect([A({ '3,3': 0.8, '3,5': 0.7, '3,4': 0.3 })], { threshold: 0.5 });
    expect(dets.map((d) => d.box)).toEqual([[48, 48, 96, 96], [48, 80, 96, 128]]);
  });

  it('never merges different classes: per class each keeps its own window; across classes NMS keeps the stronger, unmoved', () => {
    const maps = [A({ '3,3': 0.8 }, 2, 0), B({ '1,1': 0.6 }, 2, 1)];
    const perClass = detect(maps, { threshold: 0.3, perClass: true });
    expect(perClass.map((d) => [d.classIndex, d.box, d.support])).toEqual([[0, [48, 48, 96, 96], 1], [1, [32, 32, 128, 128], 1]]);
    // A's window lies inside B's (intersection over the smaller 1 > 0.6): the weaker class goes, the stronger is not shifted.
    const agnostic = detect(maps, { threshold: 0.3 });
    expect(agnostic.map((d) => [d.classIndex, d.box, d.support])).toEqual([[0, [48, 48, 96, 96], 1]]);
  });

  it('mergeScaleBoxes visits by score, so the strongest box of a group is its anchor whatever the input order', () => {
    const weak = { classIndex: 0, score: 0.5, box: [0, 0, 40, 40] as Box, mapIndex: 1 };
    const strong = { classIndex: 0, score: 1, box: [10, 10, 30, 30] as Box, mapIndex: 0 };
    for (const input of [[weak, strong], [strong, weak]]) {
      const [d, ...rest] = mergeScaleBoxes(input, ['blob']);
      expect(rest).toEqual([]);
      // Centres 20 and 20: the mean is 20; the strong box's 20-px size.
      expect(d).toEqual({ classIndex: 0, label: 'blob', score: 1, box: [10, 10, 30, 30], centre: [20, 20], mapIndex: 0, support: 2 });
    }
  });

  it('plateau representative: four equal cells of an averaged map give exactly one peak', () => {
    // B's cell (1, 1) = 1 (others 0), centre (80, 80), lies between grid centres 72 and 88, where B samples to
    // 0.75 · 0.75 = 0.5625 on all four cells: a plateau whose first cell (4, 4) is the peak.
    const b = makeMap([256, 256], [128, 128], 48, 16, 1, (i, j) => (i === 1 && j === 1 ? 1 : 0));
    const flat = makeMap([256, 256], [256, 256], 48, 16, 1, () => 0.1);
    const avg = averageScoreMaps([flat, b], { mode: 'max' });
    const v = (r: number, c: number) => avg.scores[r * avg.cols + c];
    expect([v(4, 4), v(4, 5), v(5, 4), v(5, 5)]).toEqual([0.5625, 0.5625, 0.5625, 0.5625]);
    expect(findPeaks(avg, 0, 0.3)).toEqual([[4, 4]]);
  });
});

describe('defaultClasses', () => {
  it.each([
    { labels: undefined, classes: [0, 1, 2] },
    { labels: ['background', 'a', 'b'], classes: [1, 2] },
    { labels: ['a', ' Background ', 'b'], classes: [0, 2] },
  ])('$labels → $classes', ({ labels, classes }) => {
    expect(defaultClasses(3, labels)).toEqual(classes);
  });
});

describe('iou', () => {
  it.each([
    { a: [0, 0, 10, 10], b: [5, 5, 15, 15], v: 25 / 175 },
    { a: [0, 0, 10, 10], b: [0, 0, 10, 10], v: 1 },
    { a: [0, 0, 10, 10], b: [0, 0, 5, 10], v: 0.5 },
    { a: [0, 0, 10, 10], b: [10, 0, 20, 10], v: 0 },
    { a: [0, 0, 10, 10], b: [30, 30, 40, 40], v: 0 },
    { a: [0, 0, 0, 0], b: [0, 0, 0, 0], v: 0 },
  ] as { a: Box; b: Box; v: number }[])('$a vs $b = $v', ({ a, b, v }) => {
    expect(iou(a, b)).toBeCloseTo(v, 12);
    expect(iou(b, a)).toBeCloseTo(v, 12);
  });
});

describe('nms', () => {
  // a–b overlap by IoU 81 / 119 ≈ 0.68; c is apart.
  const a = { score: 0.9, box: [0, 0, 10, 10] as Box, classIndex: 0 };
  const b = { score: 0.8, box: [1, 1, 11, 11] as Box, classIndex: 1 };
  const c = { score: 0.7, box: [20, 20, 30, 30] as Box, classIndex: 0 };
  it.each([
    { thr: 0.5, perClass: false, kept: [a, c] },
    { thr: 0.5, perClass: true, kept: [a, b, c] },
    { thr: 0.7, perClass: false, kept: [a, b, c] },
  ])('threshold $thr perClass $perClass', ({ thr, perClass, kept }) => {
    const input = [c, b, a];
    expect(nms(input, thr, perClass)).toEqual(kept);
    expect(input).toEqual([c, b, a]);
  });
});

describe('matchDetections', () => {
  const truth = [
    { box: [0, 0, 10, 10] as Box, classIndex: 1 },
    { box: [20, 20, 30, 30] as Box, classIndex: 1 },
  ];
  it('greedy by score, each truth once, classes must agree', () => {
    const dets = [
      { score: 0.7, box: [20, 20, 30, 30] as Box, classIndex: 2 }, // right place, wrong class → fp
      { score: 0.8, box: [0, 0, 10, 10] as Box, classIndex: 1 }, // t1 already taken by the 0.9 → fp
      { score: 0.9, box: [0, 0, 10, 9] as Box, classIndex: 1 }, // IoU 0.9 with t1 → tp
    ];
    const r = matchDetections(dets, truth);
    expect(r).toMatchObject({ tp: 1, fp: 2, fn: 1 });
    expect(r.precision).toBeCloseTo(1 / 3, 12);
    expect(r.recall).toBeCloseTo(1 / 2, 12);
    expect(r.f1).toBeCloseTo((2 * (1 / 3) * (1 / 2)) / (1 / 3 + 1 / 2), 12); // 0.4
  });
  it.each([
    { thr: 0.5, tp: 0 },
    { thr: 0.4, tp: 1 },
  ])('IoU threshold $thr on an overlap of 0.45', ({ thr, tp }) => {
    const det = { score: 1, box: [0, 0, 10, 4.5] as Box, classIndex: 1 };
    expect(iou(det.box, truth[0].box)).toBeCloseTo(0.45, 12);
    expect(matchDetections([det], [truth[0]], thr).tp).toBe(tp);
  });
  it.each([
    { name: 'nothing at all', dets: 0, truths: 0, p: 1, r: 1, f1: 1 },
    { name: 'missed everything', dets: 0, truths: 2, p: 1, r: 0, f1: 0 },
  ])('$name', ({ dets, truths, p, r, f1 }) => {
    const res = matchDetections([{ score: 1, box: [50, 50, 60, 60] as Box, classIndex: 1 }].slice(0, dets), truth.slice(0, truths));
    expect([res.precision, res.recall, res.f1, res.fn]).toEqual([p, r, f1, truths]);
  });
});

describe('containment in NMS (multi-scale windows)', () => {
  it('overlapOfSmaller is 1 for a box inside another and the plain ratio otherwise', async () => {
    const { overlapOfSmaller } = await import('../../core/detect');
    // 28-px box inside a 56-px box.
    expect(overlapOfSmaller([10, 10, 38, 38], [0, 0, 56, 56])).toBe(1);
    // 10×10 boxes sharing a 5×10 strip: 50 / 100.
    expect(overlapOfSmaller([0, 0, 10, 10], [5, 0, 15, 10])).toBe(0.5);
    expect(overlapOfSmaller([0, 0, 0, 10], [0, 0, 10, 10])).toBe(0);
  });

  it('drops a lower-scoring small window inside a kept large one, which IoU alone keeps (IoU 0.25)', async () => {
    const { nms, iou } = await import('../../core/detect');
    const big = { score: 0.9, box: [0, 0, 56, 56] as [number, number, number, number], classIndex: 3 };
    const small = { score: 0.8, box: [14, 14, 42, 42] as [number, number, number, number], classIndex: 1 };
    expect(iou(big.box, small.box)).toBeCloseTo(0.25, 10);
    expect(nms([big, small], 0.3)).toHaveLength(2);
    expect(nms([big, small], 0.3, false, 0.6)).toEqual([big]);
  });
});

describe('drawnBoxes (the boxes drawn for the drawn classes, window and exports alike)', () => {
  it('keeps the drawn classes\' first MAX_DRAWN_PER_CLASS each, in order', async () => {
    const { drawnBoxes, MAX_DRAWN_PER_CLASS } = await import('../../core/pipeline');
    expect(MAX_DRAWN_PER_CLASS).toBe(8);
    // Ten of class 0, three of class 1 and one of class 2, interleaved by descending score.
    const dets = Array.from({ length: 14 }, (_, n) => ({ classIndex: n === 13 ? 2 : n % 4 === 3 ? 1 : 0, score: 1 - n / 20, id: n }));
    expect(dets.filter((d) => d.classIndex === 1).map((d) => d.id)).toEqual([3, 7, 11]);
    expect(drawnBoxes(dets, [0, 1]).map((d) => d.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
    expect(drawnBoxes(dets, [0, 1], 2).map((d) => d.id)).toEqual([0, 1, 3, 7]);
    expect(drawnBoxes(dets, [2]).map((d) => d.id)).toEqual([13]);
  });

  it('draws no box of the chosen class where another class is stronger (analyseMaps: the object is the other class)', async () => {
    const { analyseMaps } = await import('../../core/pipeline');
    // Class 'a' wins cell (3, 3) at 0.9 over 'b' at 0.08; 'b' wins (10, 10) at 0.8 over 0.1 (log-odds ln 11
    // and ln 8, both over BOX_RULE's ln 5). A background class (0.8 elsewhere) says where nothing is, so
    // SEEN_RULE does not apply.
    const m = makeMap([256, 256], [256, 256], 48, 16, 3, (i, j, k) => {
      if (i === 3 && j === 3) return [0.9, 0.08, 0.02][k];
      if (i === 10 && j === 10) return [0.1, 0.8, 0.1][k];
      return [0.1, 0.1, 0.8][k];
    });
    const a = analyseMaps([m], ['a', 'b', 'background'], { mode: 'max', classChoice: 'b', detectThreshold: 0.5, view: 'absolute' });
    expect(a.classIndex).toBe(1);
    expect(a.detections.map((d) => [d.label, d.box])).toEqual([['a', box(3, 3)], ['b', box(10, 10)]]);
    expect(a.drawn.map((d) => [d.label, d.box])).toEqual([['b', box(10, 10)]]);
  });
});
