import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { modelToArtifacts } from '../../main/model/artifacts';
import { allCells, batchNormHead, compareCells, randomImage, randomizeWeights, useWasm, vgg16Shaped } from '../helpers/models';

const FILE = 'test.json';

beforeAll(useWasm);

type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];

function conv(filters: number, kernelSize: number | [number, number], extra: Partial<Conv2DArgs> = {}): tf.layers.Layer {
  return tf.layers.conv2d({ filters, kernelSize, padding: 'valid', activation: 'relu', ...extra });
}

describe('convertClassifier on classic architectures (random weights)', () => {
  const made: tf.LayersModel[] = [];
  const track = <T extends tf.LayersModel>(m: T): T => {
    made.push(m);
    return m;
  };
  afterAll(() => made.forEach((m) => m.dispose()));

  it('rewrites a valid-padded VGG16 (5 blocks, 244 window) exactly: stride 32, 2×2×8 Flatten → 2×2 conv', async () => {
    const model = track(vgg16Shaped(244, 'valid', 1));
    randomizeWeights(model, 1);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([244, 244]);
    expect(c.stride).toEqual([32, 32]);
    expect(c.padding).toBe('valid');
    expect(c.paddedLayers).toEqual([]);
    expect(c.boundary.shape).toEqual([2, 2, 8]);
    expect(c.classes).toBe(5);
    expect(c.head.some((l) => l.includes('Conv2D 2×2×8 → 16'))).toBe(true);
    expect(c.head.some((l) => l.includes('dropped'))).toBe(true);

    const report = await checkEquivalence(model, c, FILE, { cellsPerAxis: 2, seed: 3 });
    expect(report.exact).toBe(true);
    expect(report.maxRelDiff).toBeLessThanOrEqual(1e-4);
    expect(report.cellsChecked).toBe(4);

    const image = randomImage(244 + 32, 244 + 64, 3, 7);
    const cmp = compareCells(model, c, image, [[0, 0], [1, 2], [0, 1]], [2, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('reports a same-padded VGG16 (64 window) as not exact, naming the padded layers in the note', async () => {
    const model = track(vgg16Shaped(64, 'same', 1));
    randomizeWeights(model, 2);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([64, 64]);
    expect(c.stride).toEqual([32, 32]);
    expect(c.padding).toBe('same');
    expect(c.paddedLayers).toHaveLength(13);
    expect(c.boundary.shape).toEqual([2, 2, 8]);

    const report = await checkEquivalence(model, c, FILE, { seed: 4 });
    expect(report.exact).toBe(false);
    // A small model affords the check's most cells: 6 × 6.
    expect(report.cellsChecked).toBe(36);
    expect(report.inputSize).toEqual([64 + 5 * 32, 64 + 5 * 32]);
    expect(report.note).toMatch(/13 layer\(s\) pad with zeros/);
    expect(report.note).toContain("'same' 3×3");
    // Independently: the map has the crops' grid, and its cells really differ from the crops.
    const image = randomImage(128, 128, 3, 5);
    const cmp = compareCells(model, c, image, allCells(3, 3), [3, 3]);
    image.dispose();
    expect(cmp.maxAbs).toBeGreaterThan(0);
  });

  it('rewrites an AlexNet-like net (11×11 stride-4 conv, valid 3×3/2 pools) exactly', async () => {
    const model = track(tf.sequential({
      name: 'alexnet',
      layers: [
        conv(6, 11, { strides: 4, inputShape: [227, 227, 3] }),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        conv(8, 5),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        conv(8, 3),
        conv(8, 3),
        conv(8, 3),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 24, activation: 'relu' }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 24, activation: 'relu' }),
        tf.layers.dense({ units: 7, activation: 'softmax' }),
      ],
    }));
    randomizeWeights(model, 10);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([227, 227]);
    expect(c.stride).toEqual([32, 32]);
    expect(c.padding).toBe('valid');
    expect(c.boundary.shape).toEqual([2, 2, 8]);
    const report = await checkEquivalence(model, c, FILE, { seed: 11 });
    expect(report.exact).toBe(true);
    expect(report.maxRelDiff).toBeLessThanOrEqual(1e-4);
    expect(report.note).toBeUndefined();

    const image = randomImage(227 + 64, 227 + 32, 3, 12);
    const cmp = compareCells(model, c, image, allCells(3, 2), [3, 2]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('rewrites a ResNet-like net (Add skips with cropping, valid convs, GAP → Dense) exactly', async () => {
    const input = tf.input({ shape: [40, 40, 3] });
    const stem = conv(8, 3).apply(input) as tf.SymbolicTensor; // 38
    const b1 = conv(8, 3).apply(conv(8, 3).apply(stem)) as tf.SymbolicTensor; // 34
    const s1 = tf.layers.cropping2D({ cropping: [[2, 2], [2, 2]] }).apply(stem) as tf.SymbolicTensor;
    const a1 = tf.layers.activation({ activation: 'relu' }).apply(tf.layers.add().apply([b1, s1])) as tf.SymbolicTensor;
    const down = conv(12, 1, { strides: 2 }).apply(a1) as tf.SymbolicTensor; // 17
    const b2 = conv(12, 3).apply(down) as tf.SymbolicTensor; // 15
    const s2 = tf.layers.cropping2D({ cropping: 1 }).apply(conv(12, 1, { activation: 'linear' }).apply(down)) as tf.SymbolicTensor;
    const a2 = tf.layers.add().apply([b2, s2]) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({}).apply(a2) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 6, activation: 'softmax' }).apply(gap) as tf.SymbolicTensor;
    const model = track(tf.model({ inputs: input, outputs: out, name: 'resnetish' }));
    randomizeWeights(model, 20);

    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([40, 40]);
    expect(c.stride).toEqual([2, 2]);
    expect(c.padding).toBe('valid');
    expect(c.boundary.shape).toEqual([15, 15, 12]);
    expect(c.head[0]).toContain('AveragePooling2D 15×15, stride 1');
    const report = await checkEquivalence(model, c, FILE, { cellsPerAxis: 4, seed: 21 });
    expect(report.exact).toBe(true);
    expect(report.cellsChecked).toBe(16);

    const image = randomImage(50, 46, 3, 22);
    const cmp = compareCells(model, c, image, allCells(6, 4), [6, 4]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('reports a ResNet-like net with same-padded convs as not exact', async () => {
    const input = tf.input({ shape: [16, 16, 3] });
    const stem = conv(4, 3, { padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const branch = conv(4, 3, { padding: 'same' }).apply(stem) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([stem, branch]) as tf.SymbolicTensor;
    const pooled = tf.layers.maxPooling2d({ poolSize: 2 }).apply(sum) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(tf.layers.globalAveragePooling2d({}).apply(pooled)) as tf.SymbolicTensor;
    const model = track(tf.model({ inputs: input, outputs: out }));
    randomizeWeights(model, 25);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.padding).toBe('same');
    expect(c.stride).toEqual([2, 2]);
    const report = await checkEquivalence(model, c, FILE);
    expect(report.exact).toBe(false);
    expect(report.note).toMatch(/2 layer\(s\) pad with zeros/);
  });

  it('rewrites a Keras-MobileNet head (GAP → Reshape[1,1,C] → Dropout → Conv2D 1×1 → Reshape[classes] → softmax)', async () => {
    const model = track(tf.sequential({
      layers: [
        conv(8, 3, { strides: 2, inputShape: [33, 33, 3] }), // 16
        tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'valid', activation: 'relu' }), // 14
        conv(16, 1),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.reshape({ targetShape: [1, 1, 16] }),
        tf.layers.dropout({ rate: 0.001 }),
        tf.layers.conv2d({ filters: 9, kernelSize: 1, padding: 'same', name: 'conv_preds' }),
        tf.layers.reshape({ targetShape: [9] }),
        tf.layers.activation({ activation: 'softmax', name: 'act_softmax' }),
      ],
    }));
    randomizeWeights(model, 30);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.stride).toEqual([2, 2]);
    expect(c.classes).toBe(9);
    expect(c.padding).toBe('valid');
    expect(c.fcn.outputs[0].shape).toEqual([null, null, null, 9]);
    expect(c.head.map((l) => l.split(' ')[0])).toEqual([
      expect.stringMatching(/^global_average_pooling2d/), expect.stringMatching(/^reshape/), expect.stringMatching(/^dropout/),
      'conv_preds', expect.stringMatching(/^reshape/), 'act_softmax',
    ]);
    const report = await checkEquivalence(model, c, FILE, { seed: 31 });
    expect(report.exact).toBe(true);

    const image = randomImage(41, 37, 3, 32);
    const cmp = compareCells(model, c, image, allCells(5, 3), [5, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
    // Softmax runs per cell over the class axis.
    const sums = tf.tidy(() => (c.fcn.predict(randomImage(41, 37, 3, 33)) as tf.Tensor).sum(-1).dataSync());
    for (const s of sums) expect(s).toBeCloseTo(1, 5);
  });

  it('converts a nested Teachable-Machine-like model, also after save and reload', async () => {
    const trunkIn = tf.input({ shape: [32, 32, 3] });
    let t = conv(8, 3, { strides: 2 }).apply(trunkIn) as tf.SymbolicTensor; // 15
    t = tf.layers.batchNormalization({}).apply(t) as tf.SymbolicTensor;
    t = tf.layers.reLU({ maxValue: 6 }).apply(t) as tf.SymbolicTensor;
    t = conv(12, 3, { strides: 2 }).apply(t) as tf.SymbolicTensor; // 7
    const trunk = tf.model({ inputs: trunkIn, outputs: t, name: 'mobilenet_trunk' });
    const features = tf.sequential({ layers: [trunk, tf.layers.globalAveragePooling2d({})], name: 'sequential_features' });
    const head = tf.sequential({
      name: 'sequential_head',
      layers: [
        tf.layers.dense({ units: 10, activation: 'relu', inputShape: [12], useBias: false }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 4, activation: 'softmax' }),
      ],
    });
    const model = track(tf.sequential({ layers: [features, head] }));
    randomizeWeights(model, 40);

    const artifacts = await modelToArtifacts(model);
    const reloaded = track(await tf.loadLayersModel(tf.io.fromMemory(artifacts)));

    for (const m of [model, reloaded]) {
      const c = convertClassifier(m, FILE);
      track(c.fcn);
      expect(c.window).toEqual([32, 32]);
      expect(c.stride).toEqual([4, 4]);
      expect(c.boundary.shape).toEqual([7, 7, 12]);
      expect(c.classes).toBe(4);
      expect(c.padding).toBe('valid');
      const report = await checkEquivalence(m, c, FILE, { seed: 41 });
      expect(report.exact).toBe(true);
      const image = randomImage(40, 44, 3, 42);
      const cmp = compareCells(model, c, image, allCells(3, 4), [3, 4]);
      image.dispose();
      expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
    }
  });

  it('keeps BatchNormalization in the head (Dense → BN → Activation) with its moving statistics', async () => {
    const model = track(tf.sequential({
      layers: [
        conv(4, 3, { inputShape: [12, 12, 2] }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        ...batchNormHead(),
      ],
    }));
    randomizeWeights(model, 50);
    // Moving mean far from 0 and variance far from 1, so a dropped or misapplied BN shows.
    const bn = model.layers[4];
    const [gamma, beta] = bn.getWeights();
    bn.setWeights([gamma, beta, tf.linspace(-3, 3, 8), tf.linspace(0.2, 5, 8)]);
    expect(Array.from(bn.getWeights()[2].dataSync())[0]).toBeCloseTo(-3);

    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.head.filter((l) => l.includes('BatchNormalization) → kept'))).toHaveLength(2);
    const report = await checkEquivalence(model, c, FILE, { seed: 51 });
    expect(report.exact).toBe(true);
    const image = randomImage(16, 20, 2, 52);
    const cmp = compareCells(model, c, image, allCells(3, 5), [3, 5]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('converts an MLP on [28, 28] (no channel axis) into a 28×28 conv at stride 1', async () => {
    const model = track(tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [28, 28] }),
        tf.layers.dense({ units: 16, activation: 'relu' }),
        tf.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    }));
    randomizeWeights(model, 60);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([28, 28]);
    expect(c.stride).toEqual([1, 1]);
    expect(c.channels).toBe(1);
    expect(c.boundary).toEqual({ layer: 'input', shape: [28, 28, 1] });
    expect(c.fcn.inputs[0].shape).toEqual([null, null, null, 1]);
    expect(c.head[1]).toContain('Conv2D 28×28×1 → 16');
    const report = await checkEquivalence(model, c, FILE, { seed: 61 });
    expect(report.exact).toBe(true);
    const image = randomImage(32, 30, 1, 62);
    const cmp = compareCells(model, c, image, allCells(5, 3), [5, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it("gives the design doc's 6×6 map: 224 window, stride 32, 384 image = the 36 crops at stride 32", async () => {
    const model = track(tf.sequential({
      layers: [
        conv(4, 4, { strides: 4, inputShape: [224, 224, 3] }), // 56
        tf.layers.maxPooling2d({ poolSize: 2 }), // 28
        conv(4, 2, { strides: 2 }), // 14
        tf.layers.averagePooling2d({ poolSize: 2 }), // 7
        tf.layers.flatten(),
        tf.layers.dense({ units: 6, activation: 'relu' }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    }));
    randomizeWeights(model, 70);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([224, 224]);
    expect(c.stride).toEqual([32, 32]);
    expect(c.boundary.shape).toEqual([7, 7, 4]);
    const image = randomImage(384, 384, 3, 71);
    const cmp = compareCells(model, c, image, allCells(6, 6), [6, 6]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('rewrites a GlobalMaxPooling2D head as MaxPooling2D over the boundary map', async () => {
    const model = track(tf.sequential({
      layers: [
        conv(6, 3, { inputShape: [14, 14, 3] }),
        conv(6, 3, { strides: 2 }), // 5
        tf.layers.globalMaxPooling2d({}),
        tf.layers.dense({ units: 5, activation: 'softmax' }),
      ],
    }));
    randomizeWeights(model, 80);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.head[0]).toContain('over 5×5×6 → MaxPooling2D 5×5, stride 1');
    expect(c.stride).toEqual([2, 2]);
    const report = await checkEquivalence(model, c, FILE, { seed: 81 });
    expect(report.exact).toBe(true);
    const image = randomImage(20, 18, 3, 82);
    const cmp = compareCells(model, c, image, allCells(4, 3), [4, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });
});
