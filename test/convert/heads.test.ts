import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence, smoothRandomImage } from '../../main/convert/equivalence';
import { ModelError } from '../../main/model/errors';
import { allCells, compareCells, randomImage, randomizeWeights, useWasm } from '../helpers/models';

const FILE = 'heads.json';

beforeAll(useWasm);
const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));
const track = <T extends tf.LayersModel>(m: T): T => {
  made.push(m);
  return m;
};

/** Max |cell − crop| and max |crop| of output `index` of a multi-output classifier, every cell, computed here. */
function compareOutput(classifier: tf.LayersModel, index: number, fcn: tf.LayersModel, image: tf.Tensor4D, window: number, stride: number, rows: number, cols: number): { maxAbs: number; scale: number } {
  return tf.tidy(() => {
    const map = fcn.predict(image) as tf.Tensor4D;
    expect(map.shape.slice(1, 3)).toEqual([rows, cols]);
    let maxAbs = 0;
    let scale = 0;
    for (const [i, j] of allCells(rows, cols)) {
      const crop = image.slice([0, i * stride, j * stride, 0], [1, window, window, image.shape[3]]);
      const out = (classifier.predict(crop) as tf.Tensor[])[index];
      const cell = map.slice([0, i, j, 0], [1, 1, 1, map.shape[3]]).reshape(out.shape);
      maxAbs = Math.max(maxAbs, tf.abs(tf.sub(cell, out)).max().dataSync()[0]);
      scale = Math.max(scale, tf.abs(out).max().dataSync()[0]);
    }
    return { maxAbs, scale };
  });
}

describe('class 3: Functional models with several outputs', () => {
  function twoHeads(): tf.LayersModel {
    const input = tf.input({ shape: [12, 12, 3] });
    const trunk = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, activation: 'relu' }).apply(input) as tf.SymbolicTensor; // 5
    const mask = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid', name: 'mask' }).apply(trunk) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({}).apply(trunk) as tf.SymbolicTensor;
    const age = tf.layers.dense({ units: 1, name: 'age' }).apply(gap) as tf.SymbolicTensor;
    const flat = tf.layers.flatten().apply(trunk) as tf.SymbolicTensor;
    const kind = tf.layers.dense({ units: 4, activation: 'softmax', name: 'kind' }).apply(flat) as tf.SymbolicTensor;
    const model = track(tf.model({ inputs: input, outputs: [mask, age, kind] }));
    randomizeWeights(model, 300);
    return model;
  }

  it('converts the first class-score output by default, lists every output with its shape, and matches that output\'s crops', async () => {
    const model = twoHeads();
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.output).toBe('kind');
    expect(c.outputIndex).toBe(2);
    expect(c.outputs.map((o) => [o.name, o.shape, o.kind])).toEqual([
      ['mask', [null, 5, 5, 1], 'spatial'], ['age', [null, 1], 'regression'], ['kind', [null, 4], 'classes'],
    ]);
    expect(c.outputs[0].note).toMatch(/not a classifier output/);
    expect(c.classes).toBe(4);
    const report = await checkEquivalence(model, c, FILE, { seed: 301 });
    expect(report.exact).toBe(true);
    const image = randomImage(12 + 2 * 2, 12 + 3 * 2, 3, 302);
    const cmp = compareOutput(model, 2, c.fcn, image, 12, 2, 3, 4);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('converts another output when named (a one-number regression), and explains why a spatial output is not converted', async () => {
    const model = twoHeads();
    const c = convertClassifier(model, FILE, { output: 'age' });
    track(c.fcn);
    expect(c.output).toBe('age');
    expect(c.classes).toBe(1);
    const image = randomImage(16, 14, 3, 303);
    const cmp = compareOutput(model, 1, c.fcn, image, 12, 2, 3, 2);
    image.dispose();
    expect(cmp.maxAbs / Math.max(cmp.scale, 1e-6)).toBeLessThanOrEqual(1e-4);

    const before = tf.memory().numTensors;
    expect(() => convertClassifier(model, FILE, { output: 'mask' })).toThrow(
      `${FILE}: output "mask" is a 5×5×1 map (a mask or feature map), not scores over the whole window: not a classifier output; ` +
        'choose a class-score output with --output (outputs: "mask" [5, 5, 1] spatial, "age" [1] regression, "kind" [4] classes)',
    );
    expect(() => convertClassifier(model, FILE, { output: 'nope' })).toThrow(/has no output named "nope" \(outputs: "mask"/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('class 4: a pooling whose output is 1×1 at the window acts as the global pool', () => {
  it('AvgPool(7) → Flatten → Dense (MobileNetV2 transfer head): stride stays the trunk\'s, cells equal crops', async () => {
    const model = track(tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [28, 28, 3], filters: 6, kernelSize: 2, strides: 2, activation: 'relu' }), // 14
        tf.layers.conv2d({ filters: 8, kernelSize: 2, strides: 2, activation: 'relu' }), // 7
        tf.layers.averagePooling2d({ poolSize: 7 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5, activation: 'softmax' }),
      ],
    }));
    randomizeWeights(model, 310);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.stride).toEqual([4, 4]);
    expect(c.boundary.shape).toEqual([1, 1, 8]);
    expect(c.head[0]).toMatch(/gives 1×1 at the window: it is the global pool → AveragePooling2D 7×7, stride 1$/);
    const report = await checkEquivalence(model, c, FILE, { seed: 311 });
    expect(report.exact).toBe(true);
    // 28 + 4·4 wide: 5 cells per axis at stride 4, each its crop (not one cell at stride 28).
    const image = randomImage(44, 36, 3, 312);
    const cmp = compareCells(model, c, image, allCells(5, 3), [5, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it("AvgPool(8, 'same') over an 8×8 map (CIFAR ResNet head; 'same' pads nothing there) is the global pool too", async () => {
    const model = track(tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 4, kernelSize: 2, strides: 2, activation: 'relu' }), // 8
        tf.layers.averagePooling2d({ poolSize: 8, padding: 'same' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    }));
    randomizeWeights(model, 315);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.stride).toEqual([2, 2]);
    expect(c.paddedLayers).toEqual([]);
    const image = randomImage(20, 18, 3, 316);
    const cmp = compareCells(model, c, image, allCells(3, 2), [3, 2]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('MaxPool(3) over a 4×4 map (1×1 output reading the top-left 3×3): stride 1 and the last cells cropped', async () => {
    const model = track(tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 4, kernelSize: 3, strides: 2, activation: 'relu' }), // 4
        tf.layers.maxPooling2d({ poolSize: 3, strides: 3 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3 }),
      ],
    }));
    randomizeWeights(model, 320);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.stride).toEqual([2, 2]);
    expect(c.head[0]).toContain('last 1×1 cropped');
    const image = randomImage(9 + 2 * 3, 9 + 2 * 2, 2, 321);
    const cmp = compareCells(model, c, image, allCells(4, 3), [4, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });
});

describe('class 6: global pooling inside the trunk', () => {
  it('a GAP inside a nested trunk with Dense heads outside converts exactly (the pool starts the head)', async () => {
    const trunkIn = tf.input({ shape: [10, 10, 3] });
    const t = tf.layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu' }).apply(trunkIn) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(t) as tf.SymbolicTensor;
    const trunk = tf.model({ inputs: trunkIn, outputs: pooled, name: 'applications_trunk' });
    const input = tf.input({ shape: [10, 10, 3] });
    const features = trunk.apply(input) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'head' }).apply(features) as tf.SymbolicTensor;
    const model = track(tf.model({ inputs: input, outputs: out }));
    randomizeWeights(model, 330);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.stride).toEqual([1, 1]);
    expect(c.head[0]).toContain('AveragePooling2D 8×8, stride 1');
    const image = randomImage(13, 12, 3, 331);
    const cmp = compareCells(model, c, image, allCells(4, 3), [4, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  function seNet(): tf.LayersModel {
    const input = tf.input({ shape: [12, 12, 3] });
    const x = tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', name: 'stem' }).apply(input) as tf.SymbolicTensor; // 10
    const squeeze = tf.layers.globalAveragePooling2d({ name: 'se_squeeze' }).apply(x) as tf.SymbolicTensor;
    const r = tf.layers.reshape({ targetShape: [1, 1, 6], name: 'se_reshape' }).apply(squeeze) as tf.SymbolicTensor;
    const d1 = tf.layers.dense({ units: 3, activation: 'relu', name: 'se_reduce' }).apply(r) as tf.SymbolicTensor;
    const d2 = tf.layers.dense({ units: 6, activation: 'sigmoid', name: 'se_expand' }).apply(d1) as tf.SymbolicTensor;
    const scaled = tf.layers.multiply({ name: 'se_excite' }).apply([x, d2]) as tf.SymbolicTensor;
    const y = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, activation: 'relu' }).apply(scaled) as tf.SymbolicTensor; // 4
    const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(tf.layers.flatten().apply(y)) as tf.SymbolicTensor;
    const model = track(tf.model({ inputs: input, outputs: out }));
    randomizeWeights(model, 340);
    return model;
  }

  it('an SE block: its pool becomes a window-sized average at stride 1, named in the report, and the reported difference is the measured one', async () => {
    const model = seNet();
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.stride).toEqual([2, 2]);
    expect(c.paddedLayers).toEqual([
      'se_squeeze (Squeeze-and-Excitation GlobalAveragePooling2D → average over the 10×10 window around each location, stride 1: ' +
        'the channel scales come from the window around a location, not from the crop)',
    ]);
    const report = await checkEquivalence(model, c, FILE, { seed: 341, cellsPerAxis: 3 });
    expect(report.exact).toBe(false);
    expect(report.note).toContain('se_squeeze (Squeeze-and-Excitation');
    // The report's figure is what the crops give, computed here independently.
    const image = smoothRandomImage(12 + 2 * 2, 12 + 2 * 2, 3, 341);
    const cmp = compareCells(model, c, image, allCells(3, 3), [3, 3]);
    image.dispose();
    expect(report.maxAbsDiff).toBeCloseTo(cmp.maxAbs, 6);
    expect(cmp.maxAbs).toBeGreaterThan(0);
    expect(['close', 'approximate']).toContain(report.grade);
  });

  it('refuses a global pooling inside the trunk that is not an SE scale, saying why', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const x = tf.layers.conv2d({ filters: 4, kernelSize: 3 }).apply(input) as tf.SymbolicTensor;
    const g = tf.layers.globalAveragePooling2d({ name: 'context' }).apply(x) as tf.SymbolicTensor;
    const b = tf.layers.reshape({ targetShape: [1, 1, 4] }).apply(g) as tf.SymbolicTensor;
    const up = tf.layers.upSampling2d({ size: [6, 6] }).apply(b) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate().apply([x, up]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(cat)) as tf.SymbolicTensor;
    const model = track(tf.model({ inputs: input, outputs: out }));
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      convertClassifier(model, FILE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).message).toMatch(/^heads\.json: layer "context" \(GlobalAveragePooling2D\): pools globally inside the trunk and its result is not a channel scale/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
