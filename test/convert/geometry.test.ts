import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { allCells, compareCells, randomImage, useWasm } from '../helpers/models';
import { trackModels } from '../helpers/tracked';

const FILE = 'geometry.json';

beforeAll(useWasm);

const { track, seq } = trackModels();

describe('conversion geometry: window, stride and padding come from the layers', () => {
  it('multiplies strides along the trunk: conv stride 2 then pool 3 → stride 6', async () => {
    const model = seq([
      tf.layers.conv2d({ filters: 3, kernelSize: 2, strides: 2, inputShape: [20, 20, 1] }), // 10
      tf.layers.maxPooling2d({ poolSize: 3 }), // 3
      tf.layers.flatten(),
      tf.layers.dense({ units: 4, activation: 'softmax' }),
    ], 1);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([20, 20]);
    expect(c.stride).toEqual([6, 6]);
    expect(c.offset).toEqual([0, 0]);
    expect(c.padding).toBe('valid');
    expect(c.boundary.shape).toEqual([3, 3, 3]);
    const report = await checkEquivalence(model, c, FILE);
    expect(report.exact).toBe(true);
    // Window + 5 strides: 6 × 6 cells for a model this small.
    expect(report.inputSize).toEqual([50, 50]);
    expect(report.cellsChecked).toBe(36);
  });

  it('keeps anisotropic strides [2, 4] and a non-square window apart per axis', async () => {
    const model = seq([
      tf.layers.conv2d({ filters: 3, kernelSize: [2, 4], strides: [2, 4], inputShape: [12, 24, 2] }), // 6×6
      tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }), // 4×4
      tf.layers.flatten(),
      tf.layers.dense({ units: 5, activation: 'softmax' }),
    ], 2);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.window).toEqual([12, 24]);
    expect(c.stride).toEqual([2, 4]);
    expect(c.boundary.shape).toEqual([4, 4, 3]);
    const report = await checkEquivalence(model, c, FILE, { cellsPerAxis: 4 });
    expect(report.exact).toBe(true);
    expect(report.inputSize).toEqual([18, 36]);
    const image = randomImage(12 + 2 * 4, 24 + 4 * 2, 2, 3);
    const cmp = compareCells(model, c, image, allCells(5, 3), [5, 3]);
    image.dispose();
    expect(cmp.maxAbs / cmp.scale).toBeLessThanOrEqual(1e-4);
  });

  it('counts dilation in the kernel extent and pools with default strides', async () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, dilationRate: 2, inputShape: [13, 13, 1] }), // 9
      tf.layers.averagePooling2d({ poolSize: [3, 3] }), // 3, stride 3
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ], 4);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.stride).toEqual([3, 3]);
    expect(c.boundary.shape).toEqual([3, 3, 2]);
    expect((await checkEquivalence(model, c, FILE)).exact).toBe(true);
  });

  it("says 'same' when every spatial kernel pads, and lists each padded layer", () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', inputShape: [8, 8, 1], name: 'c1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }),
      tf.layers.conv2d({ filters: 2, kernelSize: 5, padding: 'same', name: 'c2' }),
      tf.layers.conv2d({ filters: 2, kernelSize: 1, padding: 'same', name: 'pointwise' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ], 5);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.padding).toBe('same');
    expect(c.paddedLayers).toEqual(["c1 ('same' 3×3)", "c2 ('same' 5×5)"]);
  });

  it("says 'mixed' for valid and same kernels together; ZeroPadding2D before a valid conv counts as padding", () => {
    const mixed = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [10, 10, 1] }),
      tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'padded' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ], 6);
    const c1 = convertClassifier(mixed, FILE);
    track(c1.fcn);
    expect(c1.padding).toBe('mixed');
    expect(c1.paddedLayers).toEqual(["padded ('same' 3×3)"]);

    const zp = seq([
      tf.layers.zeroPadding2d({ padding: 1, inputShape: [10, 10, 1], name: 'zp' }),
      tf.layers.conv2d({ filters: 2, kernelSize: 3, strides: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ], 7);
    const c2 = convertClassifier(zp, FILE);
    track(c2.fcn);
    expect(c2.paddedLayers).toEqual(['zp (ZeroPadding2D)']);
    expect(c2.padding).toBe('mixed');
    expect(c2.stride).toEqual([2, 2]);
  });

  it("does not count a 'same' pool that needs no padding (even size, kernel = stride)", () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [10, 10, 1] }), // 8
      tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }), // 4, no padding needed
      tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'pads' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ], 8);
    const c = convertClassifier(model, FILE);
    track(c.fcn);
    expect(c.paddedLayers).toEqual(["pads ('same' 3×3)"]);
    expect(c.padding).toBe('mixed');
  });
});

describe('tensor hygiene', () => {
  it('converting and checking equivalence leaves only the new model’s weights behind', async () => {
    const model = seq([
      tf.layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [10, 10, 2] }),
      tf.layers.batchNormalization({}),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 6, activation: 'relu' }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ], 9);
    model.predict(tf.zeros([1, 10, 10, 2])); // let tfjs make any lazily created state first
    const before = tf.memory().numTensors;
    const c = convertClassifier(model, FILE);
    await checkEquivalence(model, c, FILE, { cellsPerAxis: 3 });
    const after = tf.memory().numTensors;
    expect(after - before).toBe(c.fcn.weights.length);
    c.fcn.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a refused conversion and a failed equivalence check leak nothing', async () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ], 10);
    const before = tf.memory().numTensors;
    const c = convertClassifier(model, FILE);
    const lying = { ...c, stride: [2, 2] as [number, number] };
    await expect(checkEquivalence(model, lying, FILE)).rejects.toThrow(/stride or padding not understood/);
    c.fcn.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
