import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cellBox } from '../../core/scoremap';
import type { ConvertedModelInfo } from '../../core/model-info';
import { possibleStrides, refineSaved, refineStride, shiftedPasses, strideInfo, type FineConversion } from '../../main/convert/atrous';
import { convertClassifier, type Conversion } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { modelToArtifacts } from '../../main/model/artifacts';
import { resizeRgb } from '../../main/io/decode';
import { createEngine } from '../../main/engine/engine';
import { randomImage, useWasm } from '../helpers/models';
import { trackModels } from '../helpers/tracked';
import { testPhoto } from '../engine/fcn-fixture';

const FILE = 'atrous.json';

beforeAll(useWasm);

const { track, seq } = trackModels();

function conv(filters: number, kernelSize: number, extra: Record<string, unknown> = {}): tf.layers.Layer {
  return tf.layers.conv2d({ filters, kernelSize, activation: 'relu', ...extra });
}

function convert(model: tf.LayersModel): Conversion {
  const c = convertClassifier(model, FILE);
  track(c.fcn);
  return c;
}

function refine(c: Conversion, stride: number): FineConversion {
  const f = refineStride(c, stride, FILE);
  if (f.fcn !== c.fcn) track(f.fcn);
  return f;
}

/**
 * The oracle: the ORIGINAL classifier on every crop at (i·S, j·S) of `image`, against the rewritten
 * model's map on the whole image. Returns the largest |cell − crop| relative to the largest |crop|.
 */
function againstCrops(classifier: tf.LayersModel, fine: tf.LayersModel, image: tf.Tensor4D, window: number, stride: number): { rel: number; rows: number; cols: number } {
  const [, h, w, c] = image.shape;
  const rows = Math.floor((h - window) / stride) + 1;
  const cols = Math.floor((w - window) / stride) + 1;
  const out = tf.tidy(() => {
    const map = fine.predict(image) as tf.Tensor4D;
    const crops: tf.Tensor[] = [];
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) crops.push(image.slice([0, i * stride, j * stride, 0], [1, window, window, c]));
    const scores = classifier.predict(tf.concat(crops, 0)) as tf.Tensor2D;
    const k = scores.shape[1];
    const shape = map.shape;
    const flat = shape[1] === rows && shape[2] === cols ? map.reshape([rows * cols, k]) : null;
    return { shape, diff: flat ? tf.abs(tf.sub(flat, scores)).max() : tf.scalar(Infinity), scale: tf.abs(scores).max() };
  });
  expect([out.shape[1], out.shape[2]], 'cells of the rewritten map').toEqual([rows, cols]);
  const rel = out.diff.dataSync()[0] / out.scale.dataSync()[0];
  tf.dispose([out.diff, out.scale]);
  return { rel, rows, cols };
}

/** Each case: a valid-padding classifier, its window and its network stride. */
const CASES: { name: string; window: number; stride: number; build: (w: number) => tf.layers.Layer[] }[] = [
  {
    name: 'VGG-like (blocks of two 3×3 convs, 2×2 max pools)',
    window: 92, stride: 16,
    build: (w) => [
      conv(4, 3, { inputShape: [w, w, 3] }), conv(4, 3), tf.layers.maxPooling2d({ poolSize: 2 }), // 44
      conv(6, 3), conv(6, 3), tf.layers.maxPooling2d({ poolSize: 2 }), // 20
      conv(6, 3), conv(6, 3), tf.layers.maxPooling2d({ poolSize: 2 }), // 8
      conv(8, 3), conv(8, 3), tf.layers.maxPooling2d({ poolSize: 2 }), // 2
      tf.layers.flatten(), tf.layers.dense({ units: 12, activation: 'relu' }), tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({ units: 5, activation: 'softmax' }),
    ],
  },
  {
    name: 'AlexNet-like (5×5 stride-2 conv, overlapping 3×3/2 pools that drop a trailing row)',
    window: 88, stride: 16,
    build: (w) => [
      conv(4, 5, { strides: 2, inputShape: [w, w, 3] }), // 42, from 87 of the 88 rows
      tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }), // 20, from 41 of 42
      conv(6, 3), // 18
      tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }), // 8, from 17 of 18
      conv(6, 3), // 6
      tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }), // 2, from 5 of 6
      tf.layers.flatten(), tf.layers.dense({ units: 7, activation: 'softmax' }),
    ],
  },
  {
    name: 'strided convolutions instead of pooling, and a depthwise conv after them',
    window: 41, stride: 8,
    build: (w) => [
      conv(4, 3, { inputShape: [w, w, 3] }), // 39
      conv(6, 3, { strides: 2 }), // 19
      conv(6, 3, { strides: 2 }), // 9
      conv(8, 3, { strides: 2 }), // 4
      tf.layers.depthwiseConv2d({ kernelSize: 2, depthMultiplier: 2, activation: 'relu' }), // 3×3×16
      tf.layers.flatten(), tf.layers.dense({ units: 6, activation: 'softmax' }),
    ],
  },
  {
    name: 'average pooling in the trunk, last max pooling followed by Flatten → Dense → Dense',
    window: 30, stride: 4,
    build: (w) => [
      conv(4, 3, { inputShape: [w, w, 3] }), tf.layers.averagePooling2d({ poolSize: 2 }), // 14
      conv(6, 3), tf.layers.maxPooling2d({ poolSize: 2 }), // 6
      tf.layers.flatten(), tf.layers.dense({ units: 10, activation: 'relu' }), tf.layers.dense({ units: 4, activation: 'softmax' }),
    ],
  },
  {
    name: 'GAP head (GlobalAveragePooling2D → Dense)',
    window: 36, stride: 4,
    build: (w) => [
      conv(4, 3, { inputShape: [w, w, 3] }), tf.layers.maxPooling2d({ poolSize: 2 }), // 17
      conv(6, 3), tf.layers.maxPooling2d({ poolSize: 2 }), // 7
      conv(8, 3), // 5
      tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 5, activation: 'softmax' }),
    ],
  },
];

describe('à trous rewrite: cells every S pixels equal the original classifier on the crops there', () => {
  for (const [n, c] of CASES.entries()) {
    for (const k of [2, 4]) {
      it(`${c.name}: stride ${c.stride} → ${c.stride / k}`, async () => {
        const model = seq(c.build(c.window), 10 + n);
        const conversion = convert(model);
        expect(conversion.stride).toEqual([c.stride, c.stride]);
        const S = c.stride / k;
        const fine = refine(conversion, S);
        expect(fine.stride).toEqual([S, S]);
        expect(fine.networkStride).toEqual([c.stride, c.stride]);
        expect(fine.rewrite.length).toBeGreaterThan(0);

        // 4 × 3 crops, the input extents the engine's tiles have: window + k·S (odd photo sizes: see the geometry test).
        const image = randomImage(c.window + 3 * S, c.window + 2 * S, 3, 100 + n);
        const { rel, rows, cols } = againstCrops(model, fine.fcn, image, c.window, S);
        image.dispose();
        expect([rows, cols]).toEqual([4, 3]);
        expect(rel).toBeLessThanOrEqual(1e-4);

        // The equivalence check of the conversion report takes its crops every S pixels too.
        const report = await checkEquivalence(model, fine, FILE, { cellsPerAxis: 3, seed: 5 });
        expect(report.inputSize).toEqual([c.window + 2 * S, c.window + 2 * S]);
        expect(report.cellsChecked).toBe(9);
        expect(report.exact).toBe(true);
      });
    }
  }

  it('agrees with the k² shifted passes of the coarse model (CS231n) on the same image', () => {
    const c = CASES[0];
    const model = seq(c.build(c.window), 30);
    const conversion = convert(model);
    const fine = refine(conversion, 4);
    const image = randomImage(c.window + 20, c.window + 13, 3, 31);
    const passes = shiftedPasses(conversion.fcn, image, conversion.window, conversion.stride, 4);
    const map = tf.tidy(() => fine.fcn.predict(image) as tf.Tensor4D);
    expect([passes.rows, passes.cols]).toEqual([map.shape[1], map.shape[2]]);
    const a = map.dataSync();
    map.dispose();
    image.dispose();
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i] - passes.scores[i]));
      scale = Math.max(scale, Math.abs(passes.scores[i]));
    }
    expect(worst / scale).toBeLessThanOrEqual(1e-4);
  });

  it('reports a same-padded net as not exact at the finer stride, with the crops\' grid', async () => {
    const model = seq([
      conv(4, 3, { padding: 'same', inputShape: [32, 32, 3] }), tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(4, 3, { padding: 'same' }), tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(4, 3, { padding: 'same' }), tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(), tf.layers.dense({ units: 3, activation: 'softmax' }),
    ], 40);
    const fine = refine(convert(model), 2);
    const report = await checkEquivalence(model, fine, FILE, { cellsPerAxis: 3 });
    expect(report.inputSize).toEqual([36, 36]);
    expect(report.exact).toBe(false);
    expect(report.maxAbsDiff).toBeGreaterThan(0);
    expect(report.note).toMatch(/3 layer\(s\) pad with zeros/);
  });

  it('leaves no tensor behind: the rewrite and its disposal free what they made', () => {
    const c = CASES[4];
    const model = seq(c.build(c.window), 50);
    const conversion = convert(model);
    const before = tf.memory().numTensors;
    const fine = refineStride(conversion, 1, FILE);
    fine.fcn.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('a saved model refined further (heatmap --stride on a converted folder)', () => {
  it('goes from stride 2 to 1 checked against shifted passes, equals the crops there, and refuses a coarser stride', async () => {
    const c = CASES[4];
    const model = seq(c.build(c.window), 80);
    const conversion = convert(model);
    const fine = refine(conversion, 2);
    const info = {
      format: 'convmap-fcn', version: 1, source: FILE, window: fine.window, offset: [0, 0], channels: 3, labels: ['a', 'b', 'c', 'd', 'e'],
      head: fine.head, boundary: fine.boundary, padding: fine.padding, preprocess: 'unit',
      equivalence: await checkEquivalence(model, fine, FILE), ...strideInfo(fine),
    } as ConvertedModelInfo;
    expect(info.equivalence.exact).toBe(true);
    const saved = await modelToArtifacts(fine.fcn);
    const finer = await refineSaved(saved, info, 1, FILE);
    expect(finer.info.stride).toEqual([1, 1]);
    expect(finer.info.networkStride).toEqual([4, 4]);
    expect(finer.info.equivalence.note).toMatch(/^measured against crops at stride 2×2 when converted; the stride-1 rewrite matches 9 cells of shifted passes of the saved model to /);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(finer.artifacts));
    track(loaded);
    const image = randomImage(c.window + 3, c.window + 2, 3, 81);
    const { rel } = againstCrops(model, loaded, image, c.window, 1);
    image.dispose();
    expect(rel).toBeLessThanOrEqual(1e-4);
    await expect(refineSaved(saved, info, 4, FILE)).rejects.toThrow(
      "atrous.json: stride 4 is not possible (it does not divide the network's stride 2); possible strides: 2, 1 (saved at stride 2×2 of a network of stride 4×4; convert the classifier again for a coarser one)",
    );
  });
});

describe('which strides are possible', () => {
  it('lists the divisors of the network stride that the layers can reach, and refuses others naming them', () => {
    const model = seq(CASES[2].build(CASES[2].window), 60);
    const conversion = convert(model);
    expect(possibleStrides(conversion.fcn)).toEqual([8, 4, 2, 1]);
    expect(() => refineStride(conversion, 3, FILE)).toThrow(
      "atrous.json: stride 3 is not possible (it does not divide the network's stride 8); possible strides: 8, 4, 2, 1",
    );
    expect(() => refineStride(conversion, 16, FILE)).toThrow(/stride 16 is not possible .*possible strides: 8, 4, 2, 1$/);
  });

  it('refuses a divisor that would split a stride-3 pool in half', () => {
    const model = seq([
      conv(4, 3, { inputShape: [26, 26, 3] }), // 24
      tf.layers.maxPooling2d({ poolSize: 3 }), // 8
      tf.layers.maxPooling2d({ poolSize: 2 }), // 4
      tf.layers.flatten(), tf.layers.dense({ units: 3, activation: 'softmax' }),
    ], 61);
    const conversion = convert(model);
    expect(conversion.stride).toEqual([6, 6]);
    expect(possibleStrides(conversion.fcn)).toEqual([6, 3, 1]);
    expect(() => refineStride(conversion, 2, FILE)).toThrow(
      "atrous.json: stride 2 is not possible (a layer's stride cannot be split there); possible strides: 6, 3, 1",
    );
  });
});

describe('geometry of a stride-S map through the engine', () => {
  it('cell boxes of an odd-sized photo at scale 0.75 are the crops\' boxes in original pixels, and score like the crops', async () => {
    const c = CASES[4]; // window 36, network stride 4
    const model = seq(c.build(c.window), 70);
    const fine = refine(convert(model), 2);
    const photo = testPhoto(101, 77);
    const engine = await createEngine({ workers: 1, maxTilePixels: 50 * 50 });
    try {
      const handle = await engine.loadModel(await modelToArtifacts(fine.fcn), {
        window: [36, 36], stride: [2, 2], offset: [0, 0], channels: 3, preprocess: 'unit', padding: 'valid',
      });
      const [map] = await engine.scoreMaps(handle, photo, [0.75]);
      // round(0.75 · 101) = 76, round(0.75 · 77) = 58; cells: floor((76 − 36) / 2) + 1 = 21, floor((58 − 36) / 2) + 1 = 12.
      expect(map.scaledSize).toEqual([76, 58]);
      expect([map.rows, map.cols]).toEqual([21, 12]);
      expect(map.geometry.stride).toEqual([2, 2]);
      // Cell (5, 7): the crop at scaled rows [10, 46), columns [14, 50); original = scaled · (101 / 76, 77 / 58).
      const box = cellBox(map, 5, 7);
      const expected = [10 * 101 / 76, 14 * 77 / 58, 46 * 101 / 76, 50 * 77 / 58];
      box.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 9));
      expect(cellBox(map, 20, 11)[2]).toBeCloseTo(101, 9); // the last crop ends at the bottom of the photo
      expect(cellBox(map, 20, 11)[3]).toBeCloseTo(77, 9);

      // The scores of every cell are the classifier on that crop of the scaled photo (x / 255).
      const scaled = await resizeRgb(photo, 76, 58);
      const input = tf.tidy(() => tf.tensor4d(Float32Array.from(scaled.data, (v) => v / 255), [1, 76, 58, 3]));
      const crops = tf.tidy(() => {
        const list: tf.Tensor[] = [];
        for (let i = 0; i < 21; i++) for (let j = 0; j < 12; j++) list.push(input.slice([0, 2 * i, 2 * j, 0], [1, 36, 36, 3]));
        return model.predict(tf.concat(list, 0)) as tf.Tensor;
      });
      const want = crops.dataSync();
      tf.dispose([input, crops]);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - map.scores[i]));
      expect(map.scores.length).toBe(want.length);
      expect(worst).toBeLessThan(1e-5);
    } finally {
      await engine.close();
    }
  });
});
