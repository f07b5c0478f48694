// The converted model takes the classifier's weights without copying them (a VGG's 400 MB Dense as
// a convolution would otherwise be drawn as Glorot noise, then overwritten): its cells still equal
// the classifier's crops, computed before the conversion, also once the classifier is disposed.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { modelToArtifacts } from '../../main/model/artifacts';
import { allCells, batchNormHead, randomImage, randomizeWeights, useWasm, vgg16Shaped } from '../helpers/models';

beforeAll(useWasm);

/** The classifier's scores on the crop of every cell of `image`, [rows·cols, classes] row-major. */
function cropScores(classifier: tf.LayersModel, image: tf.Tensor4D, window: number, stride: number, rows: number, cols: number): Float32Array {
  return tf.tidy(() => {
    const crops = tf.concat(allCells(rows, cols).map(([i, j]) => image.slice([0, i * stride, j * stride, 0], [1, window, window, image.shape[3]])), 0);
    return (classifier.predict(crops) as tf.Tensor).dataSync() as Float32Array;
  });
}

function trunkWithBatchNormHead(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [20, 20, 3], filters: 6, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.batchNormalization({}));
  for (const l of batchNormHead()) m.add(l);
  return m;
}

describe('the converted model shares the classifier\'s weights', () => {
  it('converting allocates no weights: the WebAssembly heap does not grow for a 51 MB Dense head (it did by the head\'s size)', () => {
    const classifier = tf.sequential();
    classifier.add(tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 64, kernelSize: 3, activation: 'relu' }));
    classifier.add(tf.layers.flatten());
    classifier.add(tf.layers.dense({ units: 1024, activation: 'relu', kernelInitializer: 'zeros' }));
    classifier.add(tf.layers.dense({ units: 4, activation: 'softmax' }));
    const heap = (): number => (tf.backend() as BackendWasm).wasm.HEAPU8.byteLength;
    expect(tf.getBackend()).toBe('wasm');
    const before = heap();
    const conv = convertClassifier(classifier, 'big-head.json');
    try {
      expect(heap()).toBe(before);
      const image = randomImage(18, 18, 3, 4);
      const got = tf.tidy(() => (conv.fcn.predict(image) as tf.Tensor).dataSync());
      expect(got.length).toBe(3 * 3 * 4);
      image.dispose();
    } finally {
      conv.fcn.dispose();
      classifier.dispose();
    }
  });

  for (const [name, make, window, stride] of [
    ['a valid-padded VGG16 shape (Flatten → Dense → Dense → Dense softmax)', () => vgg16Shaped(244, 'valid', 1), 244, 32],
    ['a trunk with BatchNormalization and a BatchNormalization head (four weights of one shape per layer)', trunkWithBatchNormHead, 20, 2],
  ] as const) {
    it(`${name}: cells equal the crops, before and after the classifier is disposed; no weight is copied`, async () => {
      const classifier = make();
      randomizeWeights(classifier, 3);
      const image = randomImage(window + 2 * stride, window + 2 * stride, 3, 9);
      const want = cropScores(classifier, image, window, stride, 3, 3);
      const before = tf.memory().numDataBuffers;
      const conv = convertClassifier(classifier, 'shared.json');
      try {
        // Every weight of the converted model is one of the classifier's buffers (a Dense's kernel
        // reshaped to a convolution's shares its data too).
        expect(tf.memory().numDataBuffers).toBe(before);
        const sources = new Set(classifier.weights.map((w) => w.read().dataId));
        expect(conv.fcn.weights.length).toBeGreaterThan(0);
        for (const w of conv.fcn.weights) expect(sources.has(w.read().dataId)).toBe(true);
        // What is saved names the layers' own initializers, not the stand-ins that shared the data.
        const topology = JSON.stringify((await modelToArtifacts(conv.fcn)).modelTopology);
        expect(topology).toContain('"kernel_initializer":{"class_name":"VarianceScaling"');
        expect(topology).not.toContain('"kernel_initializer":{"class_name":"Zeros"');
        const cells = (): Float32Array => tf.tidy(() => (conv.fcn.predict(image) as tf.Tensor).dataSync() as Float32Array);
        const scale = Math.max(...want.map(Math.abs));
        const maxDiff = (got: Float32Array): number => Math.max(...got.map((v, i) => Math.abs(v - want[i])));
        const first = cells();
        expect(first.length).toBe(want.length);
        expect(maxDiff(first)).toBeLessThan(1e-5 * Math.max(scale, 1));
        classifier.dispose();
        expect(maxDiff(cells())).toBeLessThan(1e-5 * Math.max(scale, 1));
      } finally {
        conv.fcn.dispose();
        image.dispose();
      }
    });
  }
});
