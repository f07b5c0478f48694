import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equivalenceGrade, gradeEquivalence } from '../../core/model-info';
import { approximationWarning, formatReport } from '../../main/cli/report';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence, topClassMismatch } from '../../main/convert/equivalence';
import { randomizeWeights, useWasm } from '../helpers/models';

beforeAll(useWasm);

describe('equivalence grade (core)', () => {
  it('grades hand-picked figures by the documented thresholds', () => {
    expect(gradeEquivalence({ exact: true, topClassMismatch: 0.5, meanRelDiff: 1 })).toBe('exact');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0, meanRelDiff: 0.001 })).toBe('close');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0.05, meanRelDiff: 0.1 })).toBe('close');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0.06, meanRelDiff: 0.001 })).toBe('approximate');
    expect(gradeEquivalence({ exact: false, topClassMismatch: 0, meanRelDiff: 0.11 })).toBe('approximate');
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
  const made: tf.LayersModel[] = [];
  afterAll(() => made.forEach((m) => m.dispose()));

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

    // The same random image checkEquivalence draws (tfjs's seeded uniform), compared crop by crop here.
    const [ny, nx] = [16 + 3 * 4, 16 + 3 * 4];
    expect(report.inputSize).toEqual([ny, nx]);
    const image = tf.randomUniform([1, ny, nx, 3], 0, 1, 'float32', seed);
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
  });
});
