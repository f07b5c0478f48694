import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier, type Conversion } from '../../main/convert/convert';
import { loadClassifier } from '../../main/model/load';
import { exportOnnx } from '../../main/onnx/export';
import { k3BatchNorm, k3Conv, k3Dense, k3Layer, k3MaxPool, k3Sequential, layerArrays, writeKerasArchive } from '../helpers/keras';
import { batchNormHead, randomImage, randomizeWeights, useWasm, vgg16Shaped } from '../helpers/models';
import { ortRun, relativeDiffs } from './helpers';

beforeAll(useWasm);

type Sym = tf.SymbolicTensor;
const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));
const track = <T extends tf.LayersModel>(m: T, seed?: number): T => {
  made.push(m);
  if (seed !== undefined) randomizeWeights(m, seed);
  return m;
};
const apply = (layer: tf.layers.Layer, x: Sym | Sym[]): Sym => layer.apply(x) as Sym;

function convert(model: tf.LayersModel): Conversion {
  const c = convertClassifier(model, 'test.json');
  made.push(c.fcn);
  return c;
}

/** Two sizes per model: window + 1 and window + 2 strides on one axis, + 3 on the other. */
function sizes(c: Conversion): [number, number][] {
  const [wy, wx] = c.window;
  const [sy, sx] = c.stride;
  return [[wy + sy, wx + 2 * sx], [wy + 3 * sy + 1, wx + sx + 1]];
}

async function expectOnnxEqualsFcn(c: Conversion): Promise<void> {
  const { bytes } = exportOnnx(c.fcn, 'test.json');
  const diffs = await relativeDiffs(c.fcn, bytes, sizes(c));
  for (const d of diffs) expect(d).toBeLessThanOrEqual(1e-4);
}

describe('exportOnnx on converted architectures: ONNX Runtime equals the tfjs FCN at two sizes', () => {
  it('VGG16-shaped, valid and same padding', async () => {
    await expectOnnxEqualsFcn(convert(track(vgg16Shaped(244, 'valid'), 1)));
    await expectOnnxEqualsFcn(convert(track(vgg16Shaped(64, 'same'), 2)));
  });

  it('AlexNet-shaped (11×11 stride-4 conv, 3×3/2 pools)', async () => {
    const m = track(tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 6, kernelSize: 11, strides: 4, activation: 'relu', inputShape: [99, 99, 3] }),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        tf.layers.conv2d({ filters: 8, kernelSize: 5, padding: 'same', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 12, activation: 'relu' }),
        tf.layers.dense({ units: 7, activation: 'softmax' }),
      ],
    }), 3);
    await expectOnnxEqualsFcn(convert(m));
  });

  it('ResNet-shaped (Add skips with Cropping2D, strided 1×1 shortcut, GAP → Dense)', async () => {
    const input = tf.input({ shape: [40, 40, 3] });
    const stem = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }), input);
    const b1 = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3 }), apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }), stem));
    const a1 = apply(tf.layers.activation({ activation: 'relu' }), apply(tf.layers.add(), [b1, apply(tf.layers.cropping2D({ cropping: [[2, 2], [2, 2]] }), stem)]));
    const down = apply(tf.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }), a1);
    const short = apply(tf.layers.conv2d({ filters: 12, kernelSize: 1, strides: 2 }), a1);
    const a2 = apply(tf.layers.add(), [down, short]);
    const out = apply(tf.layers.dense({ units: 6, activation: 'softmax' }), apply(tf.layers.globalAveragePooling2d({}), a2));
    await expectOnnxEqualsFcn(convert(track(tf.model({ inputs: input, outputs: out }), 4)));
  });

  it('MobileNet-shaped (depthwise/pointwise, BN, ReLU6, GAP → Reshape → 1×1 conv → softmax)', async () => {
    const m = track(tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', inputShape: [32, 32, 3], useBias: false }),
        tf.layers.batchNormalization({}),
        tf.layers.reLU({ maxValue: 6 }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }),
        tf.layers.batchNormalization({}),
        tf.layers.reLU({ maxValue: 6 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }),
        tf.layers.conv2d({ filters: 16, kernelSize: 1, activation: 'relu6' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.reshape({ targetShape: [1, 1, 16] }),
        tf.layers.dropout({ rate: 0.001 }),
        tf.layers.conv2d({ filters: 9, kernelSize: 1, padding: 'same' }),
        tf.layers.reshape({ targetShape: [9] }),
        tf.layers.activation({ activation: 'softmax' }),
      ],
    }), 5);
    await expectOnnxEqualsFcn(convert(m));
  });

  it('nested Teachable Machine (Sequential trunk inside a Sequential, Sequential head)', async () => {
    const inner = tf.input({ shape: [24, 24, 3] });
    let t = apply(tf.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), inner);
    t = apply(tf.layers.reLU({ maxValue: 6 }), apply(tf.layers.batchNormalization({}), t));
    t = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }), t);
    const trunk = tf.model({ inputs: inner, outputs: t, name: 'mobilenet_trunk' });
    const features = tf.sequential({ layers: [trunk, tf.layers.globalAveragePooling2d({})], name: 'sequential_features' });
    const head = tf.sequential({ layers: [tf.layers.dense({ units: 10, activation: 'relu', inputShape: [12], useBias: false }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 4, activation: 'softmax' })] });
    const tm = track(tf.sequential({ layers: [features, head] }), 6);
    await expectOnnxEqualsFcn(convert(tm));
  });

  it('BatchNormalization head (Dense → BN → relu → Dense → BN without center → Softmax)', async () => {
    const m = track(tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 6, kernelSize: 3, inputShape: [16, 16, 3] }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        ...batchNormHead(),
      ],
    }), 7);
    await expectOnnxEqualsFcn(convert(m));
  });

  it('MLP on [28, 28] (no channel axis): a 28×28 conv', async () => {
    const m = track(tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28] }), tf.layers.dense({ units: 16, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })],
    }), 8);
    await expectOnnxEqualsFcn(convert(m));
  });

  it('a Keras 3 .keras file (Sequential: Conv2D, BatchNormalization, MaxPooling2D, Flatten → Dense)', async () => {
    const twin = track(tf.sequential({
      name: 'seq',
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [12, 12, 1], name: 'conv' }),
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 6, activation: 'relu', name: 'hidden' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
      ],
    }), 9);
    const config = k3Sequential('seq', [null, 12, 12, 1], [
      k3Layer('Conv2D', 'conv', k3Conv(4, 3, 'relu')),
      k3Layer('BatchNormalization', 'bn', k3BatchNorm()),
      k3Layer('MaxPooling2D', 'pool', k3MaxPool(2)),
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'hidden', k3Dense(6, 'relu')),
      k3Layer('Dense', 'out', k3Dense(3, 'softmax')),
    ]);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-keras-'));
    try {
      const file = path.join(dir, 'seq.keras');
      const [conv, bn, , , hidden, out] = twin.layers;
      await writeKerasArchive(file, config, {
        'layers/conv2d': layerArrays(conv), 'layers/batch_normalization': layerArrays(bn),
        'layers/dense': layerArrays(hidden), 'layers/dense_1': layerArrays(out),
      });
      const loaded = await loadClassifier(file);
      track(loaded.model);
      await expectOnnxEqualsFcn(convert(loaded.model));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  const h5 = '../shared/corpus/models/quickdraw100_aniketdogra.h5';
  it.skipIf(!existsSync(h5))('a Keras 2 .h5 file from the corpus (quickdraw100)', async () => {
    const loaded = await loadClassifier(h5);
    track(loaded.model);
    await expectOnnxEqualsFcn(convert(loaded.model));
  });
  if (!existsSync(h5)) console.log(`skipped the corpus .h5 case: ${h5} is absent`);

  it("the design doc's worked example: 224 window, stride 32, 384×384 → 6×6 cells equal to the 36 crops, through ONNX Runtime", async () => {
    const m = track(tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 4, strides: 4, activation: 'relu', inputShape: [224, 224, 3] }), // 56
        tf.layers.maxPooling2d({ poolSize: 2 }), // 28
        tf.layers.conv2d({ filters: 6, kernelSize: 2, strides: 2, activation: 'relu' }), // 14
        tf.layers.averagePooling2d({ poolSize: 2 }), // 7
        tf.layers.flatten(),
        tf.layers.dense({ units: 6, activation: 'relu' }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    }), 10);
    const c = convert(m);
    expect(c.stride).toEqual([32, 32]);
    const image = randomImage(384, 384, 3, 11);
    const { data, dims } = await ortRun(exportOnnx(c.fcn, 'worked.json').bytes, image);
    expect(dims).toEqual([1, 6, 6, 3]);
    // Oracle: the original classifier on each of the 36 crops at stride 32.
    const crops = tf.tidy(() => {
      const list: tf.Tensor[] = [];
      for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) list.push(image.slice([0, i * 32, j * 32, 0], [1, 224, 224, 3]));
      return (m.predict(tf.concat(list, 0)) as tf.Tensor).dataSync();
    });
    image.dispose();
    let maxAbs = 0;
    let scale = 0;
    for (let k = 0; k < crops.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(data[k] - crops[k]));
      scale = Math.max(scale, Math.abs(crops[k]));
    }
    expect(scale).toBeGreaterThan(0);
    expect(maxAbs / scale).toBeLessThanOrEqual(1e-4);
  });
});
