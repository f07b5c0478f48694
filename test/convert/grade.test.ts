import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equivalenceGrade, gradeEquivalence } from '../../core/model-info';
import { approximationWarning, formatReport } from '../../main/cli/report';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence, defaultCellsPerAxis, macsPerWindow, outputScale, smoothRandomImage, topClassMismatch } from '../../main/convert/equivalence';
import { randomizeWeights, useWasm } from '../helpers/models';

beforeAll(useWasm);

const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

describe('equivalence grade (core)', () => {
  it('grades hand-picked figures by the documented thresholds', () => {
    expect(gradeEquivalence({ exact: true, topClassMismatch: 0.5, meanRelDiff: 1 })).toBe('exact');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0, meanRelDiff: 0.001 })).toBe('close');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0.05, meanRelDiff: 0.1 })).toBe('close');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0.06, meanRelDiff: 0.001 })).toBe('approximate');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0, meanRelDiff: 0.11 })).toBe('approximate');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0.5, meanRelDiff: 0.3 })).toBe('approximate');
    // More than half the cells name another class than their crop: the map does not represent the classifier.
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0.51, meanRelDiff: 0.3 })).toBe('not representative');
    // A stride beyond the window leaves pixels in no cell, however well the cells match their crops.
    expect(gradeEquivalence({ exact: true, topClassMismatch: 0, meanRelDiff: 0, strideExceedsWindow: true })).toBe('not representative');
  });

  it('measures differences against 1 for a sigmoid output whose probabilities are all small, and against the largest output otherwise', () => {
    const head = (activation: 'sigmoid' | 'linear'): tf.LayersModel => {
      const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1, activation })] });
      made.push(m);
      return m;
    };
    expect(outputScale(head('sigmoid'), 0.01)).toBe(1);
    expect(outputScale(head('linear'), 0.01)).toBe(0.01);
    expect(outputScale(head('sigmoid'), 3)).toBe(3);
  });

  it('grades a sidecar written before the grade existed from what it holds', () => {
    const old = { maxAbsDiff: 0.1, maxRelDiff: 0.1, cellsChecked: 9, inputSize: [64, 64] as [number, number] };
    expect(equivalenceGrade({ ...old, exact: true })).toBe('exact');
    expect(equivalenceGrade({ ...old, exact: false })).toBe('approximate');
    expect(equivalenceGrade({ ...old, exact: false, topClassMismatch: 0, meanRelDiff: 0.01 })).toBe('close');
  });

  it('counts cells whose top class differs (hand-worked: 3 cells × 3 classes, one differs)', () => {
    const a = Float32Array.from([0.1, 0.8, 0.1, 0.5, 0.3, 0.2, 0.2, 0.2, 0.6]);
    const b = Float32Array.from([0.2, 0.7, 0.1, 0.3, 0.5, 0.2, 0.1, 0.1, 0.8]);
    expect(topClassMismatch(a, b, 3)).toBeCloseTo(1 / 3, 12);
    expect(topClassMismatch(a, a, 3)).toBe(0);
  });
});

describe('checkEquivalence figures against an independent crop comparison', () => {
  it('reports the mean |diff| and the top-class mismatch share of a same-padded net as the crops give them', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5 }),
      ],
    });
    made.push(model);
    randomizeWeights(model, 31);
    const c = convertClassifier(model, 'same.json');
    made.push(c.fcn);
    const seed = 9;
    const report = await checkEquivalence(model, c, 'same.json', { cellsPerAxis: 4, seed });

    // The same input image checkEquivalence draws, compared crop by crop here.
    const [ny, nx] = [16 + 3 * 4, 16 + 3 * 4];
    expect(report.inputSize).toEqual([ny, nx]);
    const image = smoothRandomImage(ny, nx, 3, seed);
    const map = (c.fcn.predict(image) as tf.Tensor).arraySync() as number[][][][];
    let sum = 0;
    let n = 0;
    let differ = 0;
    let scale = 0;
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const crop = image.slice([0, i * 4, j * 4, 0], [1, 16, 16, 3]);
        const want = ((model.predict(crop) as tf.Tensor).arraySync() as number[][])[0];
        const got = map[0][i][j];
        want.forEach((w, k) => {
          sum += Math.abs(got[k] - w);
          scale = Math.max(scale, Math.abs(w));
          n++;
        });
        const top = (v: number[]): number => v.indexOf(Math.max(...v));
        if (top(got) !== top(want)) differ++;
      }
    }
    image.dispose();
    expect(report.exact).toBe(false);
    expect(report.meanAbsDiff).toBeCloseTo(sum / n, 5);
    expect(report.meanRelDiff).toBeCloseTo(sum / n / scale, 5);
    expect(report.topClassMismatch).toBeCloseTo(differ / 16, 12);
    expect(report.grade).toBe(gradeEquivalence({ exact: false, topClassMismatch: differ / 16, meanRelDiff: sum / n / scale }));
  });

  it('grades a net whose stride (16) exceeds its window (8) not representative, and says why, though its cells equal their crops', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 1, strides: 16, activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    made.push(model);
    randomizeWeights(model, 41);
    const c = convertClassifier(model, 'gappy.json');
    made.push(c.fcn);
    expect({ window: c.window, stride: c.stride }).toEqual({ window: [8, 8], stride: [16, 16] });
    const report = await checkEquivalence(model, c, 'gappy.json', { cellsPerAxis: 3 });
    expect(report.exact).toBe(true);
    expect(report.grade).toBe('not representative');
    expect(report.notRepresentative).toBe("the network's stride (16×16 px) exceeds its window (8×8 px): cells do not overlap and some pixels lie in no cell");
  });

  it('prints the grade, the mean and the mismatch share in the report, and warns only when approximate', () => {
    const eq = { maxAbsDiff: 0.5, maxRelDiff: 0.5, cellsChecked: 9, inputSize: [20, 20] as [number, number], exact: false, meanAbsDiff: 0.1, meanRelDiff: 0.1, topClassMismatch: 2 / 9, grade: 'approximate' as const };
    const info = {
      format: 'convmap-fcn' as const, version: 1 as const, source: 'm.json', window: [16, 16] as [number, number], stride: [4, 4] as [number, number],
      offset: [0, 0] as [number, number], channels: 3, labels: ['a'], head: [], boundary: { layer: 'x', shape: [4, 4, 8] }, padding: 'same' as const,
      preprocess: 'unit' as const, equivalence: eq,
    };
    const text = formatReport(info, 'wasm');
    expect(text).toContain('equivalence approximate: 9 cells');
    expect(text).toContain("mean |diff| 1.00e-1, top class differs from the crop's in 22.2% of cells");
    expect(approximationWarning(eq)).toMatch(/^warning: the converted model only approximates the classifier \(the top class differs from the crop's in 22\.2% of cells\)/);
    expect(approximationWarning({ ...eq, grade: 'close' })).toBeNull();
    expect(approximationWarning({ ...eq, grade: 'not representative', notRepresentative: 'the network\'s stride (432×432 px) exceeds its window (160×160 px)' }))
      .toBe('warning: the converted map is NOT REPRESENTATIVE of the classifier: the network\'s stride (432×432 px) exceeds its window (160×160 px); do not read its heatmaps as what the classifier sees');
  });
});

describe('the check\'s input and size', () => {
  const made: tf.LayersModel[] = [];
  afterAll(() => made.forEach((m) => m.dispose()));

  it('counts multiply-adds per window by hand and gives 6 cells per axis to a small model, 3 to a costly one', () => {
    const small = tf.sequential({ layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 8, kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 5 }),
    ] });
    made.push(small);
    // conv: (3·3·3·8 + 8) weights at 14×14 outputs; dense: 14·14·8·5 + 5 weights once.
    expect(macsPerWindow(small)).toBe(224 * 14 * 14 + (1568 * 5 + 5));
    expect(defaultCellsPerAxis(small)).toBe(6);
    const costly = tf.sequential({ layers: [
      tf.layers.conv2d({ inputShape: [224, 224, 3], filters: 64, kernelSize: 3 }), tf.layers.conv2d({ filters: 64, kernelSize: 3 }),
      tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 3 }),
    ] });
    made.push(costly);
    // (3·3·64·64 + 64)·220² ≈ 1.8 G multiply-adds a window: 9 windows already pass the 12 G budget.
    expect(defaultCellsPerAxis(costly)).toBe(3);
  });

  it('draws a smooth, seeded image in the model\'s input range, unlike white noise', () => {
    const unit = smoothRandomImage(64, 80, 3, 7);
    const again = smoothRandomImage(64, 80, 3, 7);
    const signed = smoothRandomImage(64, 80, 3, 7, 'signed');
    const u = unit.dataSync();
    expect(Array.from(again.dataSync())).toEqual(Array.from(u));
    const sv = signed.dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThanOrEqual(1);
    // signed = pixel / 127.5 − 1 with pixel = unit · 255.
    for (let i = 0; i < u.length; i += 97) expect(sv[i]).toBeCloseTo(u[i] * 2 - 1, 5);
    // Correlation of horizontally neighbouring values: high for photos and for this image (0.84 here), near 0 for white noise.
    const corr = (v: Float32Array | Int32Array | Uint8Array): number => {
      const a: number[] = [];
      const b: number[] = [];
      for (let y = 0; y < 64; y++) for (let x = 0; x < 79; x++) { a.push(v[(y * 80 + x) * 3]); b.push(v[(y * 80 + x + 1) * 3]); }
      const mean = (z: number[]): number => z.reduce((p, q) => p + q, 0) / z.length;
      const ma = mean(a);
      const mb = mean(b);
      let num = 0;
      let da = 0;
      let db = 0;
      a.forEach((_, i) => { num += (a[i] - ma) * (b[i] - mb); da += (a[i] - ma) ** 2; db += (b[i] - mb) ** 2; });
      return num / Math.sqrt(da * db);
    };
    const noise = tf.randomUniform([1, 64, 80, 3], 0, 1, 'float32', 7);
    expect(corr(u)).toBeGreaterThan(0.7);
    expect(Math.abs(corr(noise.dataSync()))).toBeLessThan(0.1);
    tf.dispose([unit, again, signed, noise]);
  });
});
